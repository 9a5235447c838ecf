// Node objects for runs at the Kubernetes scalability limit: peer k as flannel's kube subnet
// manager would have annotated it, each with a /29 pod CIDR of 10.244.0.0/16 and an underlay
// address of 192.0.2.0/24 that nothing is ever sent to.
import type { NodeObject } from './kube-api-server.js';
import { Annotation, formatBackendData } from '../subnets/flannel-annotations.js';

/** Peers a /29 each fit in 10.244.0.0/16 beside the lab node's own /24. */
export const MAX_PEERS = 8000;

/** Peer k's /29, skipping 10.244.1.0/24, which is the lab node's own. */
export function peerCidr(k: number): string {
  const offset = k * 8 < 256 ? k * 8 : k * 8 + 256;
  return `10.244.${offset >> 8}.${offset & 255}/29`;
}

/** Peer k; `macByte` changes its VTEP MAC, as a flanneld restart with a new device does. */
export function peerNode(k: number, macByte = 0): NodeObject {
  const name = `peer-${String(k).padStart(5, '0')}`;
  const mac = Buffer.from([0x0a, 0x58, macByte & 255, (k >> 16) & 255, (k >> 8) & 255, k & 255]);
  const publicIP = `192.0.2.${2 + (k % 240)}`;
  return {
    metadata: {
      name,
      annotations: {
        [Annotation.kubeSubnetManager]: 'true',
        [Annotation.backendType]: 'vxlan',
        [Annotation.backendData]: formatBackendData(1, mac),
        [Annotation.publicIP]: publicIP,
      },
    },
    spec: { podCIDR: peerCidr(k), podCIDRs: [peerCidr(k)] },
    status: { addresses: [{ type: 'InternalIP', address: publicIP }] },
  };
}
