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
            [Annotation.backendData]: formatBackendData(vni, self.vtepMAC),
            [Annotation.publicIP]: self.publicIP,
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
