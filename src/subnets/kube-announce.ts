// Publishes our node the way flanneld does (flannel pkg/subnet/kube/kube.go: AcquireLease and
// CompleteLease), so that flannel's kernel nodes program their FDB and neighbour entries for us
// unchanged: the lease annotations by a strategic merge patch of nodes/<name>/status, then the
// NetworkUnavailable condition set to False.
import { Annotation, BACKEND_VXLAN, formatBackendData } from './flannel-annotations.js';
import { apiStrategicPatch, type KubeConnection } from './kube-api.js';
import type { NodeLease } from './subnet-table.js';

export async function announceNode(conn: KubeConnection, self: NodeLease, vni: number): Promise<void> {
  const path = `/api/v1/nodes/${encodeURIComponent(self.name)}/status`;
  await apiStrategicPatch(conn, path, {
    metadata: {
      annotations: {
        [Annotation.backendType]: BACKEND_VXLAN,
        // Each family's lease as flannel writes it (kube.go AcquireLease): IPv4 then IPv6.
        ...(self.podCIDR && self.publicIP ? { [Annotation.backendData]: formatBackendData(vni, self.vtepMAC), [Annotation.publicIP]: self.publicIP } : {}),
        ...(self.podCIDRv6 && self.publicIPv6 ? { [Annotation.backendV6Data]: formatBackendData(vni, self.vtepMACv6), [Annotation.publicIPv6]: self.publicIPv6 } : {}),
        [Annotation.kubeSubnetManager]: 'true',
      },
    },
  });
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await apiStrategicPatch(conn, path, {
    status: {
      conditions: [
        { type: 'NetworkUnavailable', status: 'False', reason: 'VxrouteIsUp', message: 'vxroute is running on this node', lastTransitionTime: now, lastHeartbeatTime: now },
      ],
    },
  });
}
