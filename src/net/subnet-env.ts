// /run/flannel/subnet.env for flannel's CNI plugin, written as flanneld writes it
// (flannel pkg/subnet/subnet.go: WriteSubnetFile) and atomically: a reader sees the old file or
// the new one, never half of one.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatIpv4, formatIpv6 } from '../address/ip-text.js';
import type { Cidr } from '../subnets/cidr.js';

export interface SubnetEnv {
  /** Each family's cluster network and our pod subnet in it; a family we lack is left out, as flannel does. */
  network: Cidr | undefined;
  podCIDR: Cidr | undefined;
  networkV6: Cidr | undefined;
  podCIDRv6: Cidr | undefined;
  mtu: number;
  ipMasq: boolean;
}

/** The file's text: each SUBNET is the pod CIDR's first address (the bridge's), as flannel writes it. */
export function formatSubnetEnv(e: SubnetEnv): string {
  let text = '';
  if (e.network && e.podCIDR) text += `FLANNEL_NETWORK=${e.network.text}\nFLANNEL_SUBNET=${firstAddress(e.podCIDR)}\n`;
  if (e.networkV6 && e.podCIDRv6) text += `FLANNEL_IPV6_NETWORK=${e.networkV6.text}\nFLANNEL_IPV6_SUBNET=${firstAddress(e.podCIDRv6)}\n`;
  return `${text}FLANNEL_MTU=${e.mtu}\nFLANNEL_IPMASQ=${e.ipMasq}\n`;
}

function firstAddress(c: Cidr): string {
  const addr = Buffer.from(c.addr);
  for (let i = addr.length - 1; i >= 0 && ++addr[i] === 0x100; i--) addr[i] = 0; // Buffer bytes wrap at 256
  return `${c.family === 4 ? formatIpv4(addr.readUInt32BE(0)) : formatIpv6(addr, 0)}/${c.prefixLen}`;
}

export async function writeSubnetEnv(path: string, e: SubnetEnv): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, formatSubnetEnv(e), { mode: 0o644 });
  await rename(tmp, path);
}
