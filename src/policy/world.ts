// What NetworkPolicy is decided on: the cluster's pods, namespaces, nodes and policies, as the
// control plane keeps them (trimmed from the API objects to the fields the semantics read).
import type { V1NetworkPolicy } from '@kubernetes/client-node';

export type PolicyProtocol = 'TCP' | 'UDP' | 'SCTP';

/** One entry of a container's `ports`: what a named port in a policy resolves to. */
export interface PodPort {
  name: string | undefined;
  port: number;
  protocol: PolicyProtocol;
}

export interface PolicyPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** status.podIPs, as text; empty until the pod has one. */
  ips: string[];
  nodeName: string | undefined;
  /** A hostNetwork pod has its node's addresses and counts as its node. */
  hostNetwork: boolean;
  /** Every container's `ports`. */
  ports: PodPort[];
}

export interface PolicyNamespace {
  name: string;
  /** As the API has them; `kubernetes.io/metadata.name` is set by the API server on every namespace. */
  labels: Record<string, string>;
}

export interface PolicyNode {
  name: string;
  /** Every address traffic from this node to its own pods may come from (underlay, TUN/VTEP). */
  addresses: string[];
}

export interface PolicyWorld {
  pods: PolicyPod[];
  namespaces: PolicyNamespace[];
  nodes: PolicyNode[];
  policies: V1NetworkPolicy[];
}
