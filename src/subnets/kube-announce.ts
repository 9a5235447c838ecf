// Publishes our node the way flanneld does (flannel pkg/subnet/kube/kube.go: AcquireLease and
// CompleteLease), so that flannel's kernel nodes program their FDB and neighbour entries for us
// unchanged: the lease annotations by a strategic merge patch of nodes/<name>/status, then the
// NetworkUnavailable condition set to False.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { Annotation, BACKEND_VXLAN, formatBackendData } from './flannel-annotations.js';
import type { NodeLease } from './subnet-table.js';

export async function announceNode(kc: KubeConfig, self: NodeLease, vni: number): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  await api.patchNodeStatus(
    {
      name: self.name,
      body: {
        metadata: {
          annotations: {
            [Annotation.backendType]: BACKEND_VXLAN,
            // Each family's lease as flannel writes it (kube.go AcquireLease): IPv4 then IPv6.
            ...(self.podCIDR && self.publicIP ? { [Annotation.backendData]: formatBackendData(vni, self.vtepMAC), [Annotation.publicIP]: self.publicIP } : {}),
            ...(self.podCIDRv6 && self.publicIPv6 ? { [Annotation.backendV6Data]: formatBackendData(vni, self.vtepMACv6), [Annotation.publicIPv6]: self.publicIPv6 } : {}),
            [Annotation.kubeSubnetManager]: 'true',
          },
        },
      },
    },
    strategic,
  );
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await api.patchNodeStatus(
    {
      name: self.name,
      body: {
        status: {
          conditions: [
            { type: 'NetworkUnavailable', status: 'False', reason: 'VxrouteIsUp', message: 'vxroute is running on this node', lastTransitionTime: now, lastHeartbeatTime: now },
          ],
        },
      },
    },
    strategic,
  );
}
