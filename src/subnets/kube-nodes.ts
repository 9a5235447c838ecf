// The Node list-watch both readers of nodes share (the subnet table and NetworkPolicy), each
// node trimmed on arrival to what they read: its name, flannel's annotations, its pod CIDRs and
// its InternalIP/ExternalIP addresses. A heartbeat, a label, kubelet's status and managed fields
// are dropped, so a change to them changes nothing kept and rebuilds nothing.
import type { V1Node } from '@kubernetes/client-node';
import { ListWatchSource } from '../policy/list-watch-source.js';
import { ANNOTATION_PREFIX } from './flannel-annotations.js';
import type { KubeConnection } from './kube-api.js';

/** The node's fields that node-lease.ts and the policy world read; nothing else. */
export function trimNode(node: V1Node): V1Node {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(node.metadata?.annotations ?? {})) if (k.startsWith(ANNOTATION_PREFIX)) annotations[k] = v;
  const spec = node.spec ?? {};
  return {
    metadata: { name: node.metadata?.name, annotations },
    spec: { podCIDR: spec.podCIDR, podCIDRs: spec.podCIDRs },
    status: { addresses: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => ({ type: a.type, address: a.address })) },
  };
}

export type NodeListWatch = ListWatchSource<V1Node, V1Node>;

export function nodeListWatch(conn: KubeConnection): NodeListWatch {
  return new ListWatchSource(conn, { resource: 'nodes', path: '/api/v1/nodes', trim: trimNode });
}
