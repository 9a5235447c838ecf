// API objects trimmed to what NetworkPolicy reads: a cluster-wide index keeps thousands of pods,
// and only these fields of each.
import type { V1Namespace, V1Node, V1Pod } from '@kubernetes/client-node';
import type { PodPort, PolicyNamespace, PolicyNode, PolicyPod, PolicyProtocol } from './world.js';

const PROTOCOLS: ReadonlySet<string> = new Set<PolicyProtocol>(['TCP', 'UDP', 'SCTP']);

export function podFromApi(pod: V1Pod): PolicyPod {
  const phase = pod.status?.phase;
  // A finished pod's IP may already belong to a new pod: it no longer identifies this one.
  const done = phase === 'Succeeded' || phase === 'Failed';
  const ips = done ? [] : (pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []));
  const ports: PodPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const protocol = p.protocol ?? 'TCP'; // the API's default (core/v1 ContainerPort)
      if (PROTOCOLS.has(protocol)) ports.push({ name: p.name, port: p.containerPort, protocol: protocol as PolicyProtocol });
    }
  }
  return {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    labels: { ...pod.metadata?.labels },
    ips,
    nodeName: pod.spec?.nodeName,
    hostNetwork: pod.spec?.hostNetwork === true,
    ports,
  };
}

export function namespaceFromApi(ns: V1Namespace): PolicyNamespace {
  const name = ns.metadata?.name ?? '';
  // The API server sets this label on every namespace (Kubernetes ≥ 1.21); older ones may not.
  return { name, labels: { 'kubernetes.io/metadata.name': name, ...ns.metadata?.labels } };
}

/** The node's own addresses as its status lists them; the datapath adds its TUN/VTEP addresses. */
export function nodeFromApi(node: V1Node): PolicyNode {
  return { name: node.metadata?.name ?? '', addresses: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address) };
}
