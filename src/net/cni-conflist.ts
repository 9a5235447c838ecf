// The CNI configuration kubelet uses for our pods: the reference plugins `bridge` (cni0, the
// pods' gateway, hairpin, our MTU), `host-local` IPAM over the node's pod CIDRs (each family in
// its own range set) and `portmap` for hostPort (CNI spec 1.0.0, conflist format). Written
// atomically, and only when its content changes.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cidr } from '../subnets/cidr.js';

export const CONFLIST_NAME = '10-vxroute.conflist';
export const CNI_BRIDGE = 'cni0';

export interface CniSettings {
  podCIDR: Cidr | undefined;
  podCIDRv6: Cidr | undefined;
  mtu: number;
}

export function formatConflist(s: CniSettings): string {
  const cidrs = [s.podCIDR, s.podCIDRv6].filter((c): c is Cidr => c !== undefined);
  const conf = {
    cniVersion: '1.0.0',
    name: 'vxroute',
    plugins: [
      {
        type: 'bridge',
        bridge: CNI_BRIDGE,
        isGateway: true,
        hairpinMode: true,
        ipMasq: false, // vxroute masquerades, for every pod of the node at once (--ip-masq)
        mtu: s.mtu,
        ipam: {
          type: 'host-local',
          ranges: cidrs.map((c) => [{ subnet: c.text }]),
          routes: cidrs.map((c) => ({ dst: c.family === 4 ? '0.0.0.0/0' : '::/0' })),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/** Writes the conflist into `dir` unless it already says the same; returns whether it wrote. */
export async function writeConflist(dir: string, s: CniSettings): Promise<boolean> {
  const path = join(dir, CONFLIST_NAME);
  const text = formatConflist(s);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
  return true;
}
