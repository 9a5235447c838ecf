// Masquerade for traffic from our pods to the world beyond the cluster networks, in an nftables
// table of vxroute's own (`inet vxroute`), replaced in one transaction so that no packet ever sees
// half a rule set. Pod-to-pod traffic (any destination inside a cluster network) is never NATed.
import { execFile } from 'node:child_process';
import type { Cidr } from '../subnets/cidr.js';

export const NAT_TABLE = 'vxroute';

export interface MasqueradeSettings {
  /** Our pods, per family, and the cluster network they may reach without NAT. */
  podCIDR: Cidr | undefined;
  network: Cidr | undefined;
  podCIDRv6: Cidr | undefined;
  networkV6: Cidr | undefined;
}

/** The nft script: create-then-delete makes the replace work whether or not the table exists. */
export function masqueradeRules(s: MasqueradeSettings): string {
  const rules: string[] = [];
  if (s.podCIDR && s.network) rules.push(`ip saddr ${s.podCIDR.text} ip daddr != { ${s.network.text}, 224.0.0.0/4 } masquerade fully-random`);
  if (s.podCIDRv6 && s.networkV6) rules.push(`ip6 saddr ${s.podCIDRv6.text} ip6 daddr != { ${s.networkV6.text}, ff00::/8 } masquerade fully-random`);
  return [
    `table inet ${NAT_TABLE} {}`,
    `delete table inet ${NAT_TABLE}`,
    `table inet ${NAT_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

export function applyMasquerade(s: MasqueradeSettings): Promise<void> {
  return nft(['-f', '-'], masqueradeRules(s));
}

/** Removes our table; a table that is not there is no error. */
export async function removeMasquerade(): Promise<void> {
  await nft(['-f', '-'], `table inet ${NAT_TABLE} {}\ndelete table inet ${NAT_TABLE}\n`);
}

function nft(args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', args, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing ? 'nft is not installed: apt-get install -y nftables (or run with --ip-masq=false)' : `nft ${args.join(' ')}: ${stderr.trim() || err.message}`));
    });
    child.stdin!.end(input);
  });
}
