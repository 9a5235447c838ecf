// /run/flannel/subnet.env for flannel's CNI plugin, written as flanneld writes it
// (flannel pkg/subnet/subnet.go: WriteSubnetFile) and atomically: a reader sees the old file or
// the new one, never half of one.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Cidr } from '../subnets/cidr.js';
import { formatIpv4 } from '../packet/ipv4.js';

export interface SubnetEnv {
  network: Cidr;
  podCIDR: Cidr;
  mtu: number;
  ipMasq: boolean;
}

/** The file's text: FLANNEL_SUBNET is the pod CIDR's first address (the bridge's), as flannel writes it. */
export function formatSubnetEnv(e: SubnetEnv): string {
  const first = `${formatIpv4((e.podCIDR.addr.readUInt32BE(0) + 1) >>> 0)}/${e.podCIDR.prefixLen}`;
  return `FLANNEL_NETWORK=${e.network.text}\nFLANNEL_SUBNET=${first}\nFLANNEL_MTU=${e.mtu}\nFLANNEL_IPMASQ=${e.ipMasq}\n`;
}

export async function writeSubnetEnv(path: string, e: SubnetEnv): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, formatSubnetEnv(e), { mode: 0o644 });
  await rename(tmp, path);
}
