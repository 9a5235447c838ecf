// Masquerade for traffic from our pods to the world beyond the cluster networks; pod-to-pod
// traffic (any destination inside a cluster network) is never NATed. With nftables, a table of
// vxroute's own (`inet vxroute`) replaced in one transaction; where the node has only iptables,
// a chain of our own (VXROUTE-MASQ) in the nat table, loaded with iptables-restore, jumped to
// from POSTROUTING.
import type { Cidr } from '../subnets/cidr.js';
import { runHostTool } from './host-tool.js';
import { NFT_INSTALL } from './nft.js';

export const NAT_TABLE = 'vxroute';
export const NAT_CHAIN = 'VXROUTE-MASQ';
export type NatBackend = 'nftables' | 'iptables';

export interface MasqueradeSettings {
  /** Our pods, per family, and the cluster network they may reach without NAT. */
  podCIDR: Cidr | undefined;
  network: Cidr | undefined;
  podCIDRv6: Cidr | undefined;
  networkV6: Cidr | undefined;
}

/** The nft script: create-then-delete makes the replace work whether or not the table exists. */
export function nftRules(s: MasqueradeSettings): string {
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

/** iptables-restore input for one family: declaring the chain under --noflush empties it first. */
export function iptablesRules(pods: Cidr | undefined, network: Cidr | undefined, multicast: string): string {
  const rules = pods && network ? [`-A ${NAT_CHAIN} -s ${pods.text} -d ${network.text} -j RETURN`, `-A ${NAT_CHAIN} -s ${pods.text} -d ${multicast} -j RETURN`, `-A ${NAT_CHAIN} -s ${pods.text} -j MASQUERADE --random-fully`] : [];
  return ['*nat', `:${NAT_CHAIN} - [0:0]`, ...rules, 'COMMIT', ''].join('\n');
}

/** nftables where `nft` exists, else iptables. */
export async function detectNatBackend(): Promise<NatBackend> {
  return (await run('nft', ['--version']).then(() => true, () => false)) ? 'nftables' : 'iptables';
}

export async function applyMasquerade(backend: NatBackend, s: MasqueradeSettings): Promise<void> {
  if (backend === 'nftables') return run('nft', ['-f', '-'], nftRules(s));
  for (const [tool, pods, network, multicast] of [['iptables', s.podCIDR, s.network, '224.0.0.0/4'], ['ip6tables', s.podCIDRv6, s.networkV6, 'ff00::/8']] as const) {
    if (!pods) continue;
    await run(`${tool}-restore`, ['--noflush', '-w'], iptablesRules(pods, network, multicast));
    // The jump goes in once: -C checks for it, -I adds it at the front.
    await run(tool, ['-t', 'nat', '-w', '-C', 'POSTROUTING', '-j', NAT_CHAIN]).catch(() => run(tool, ['-t', 'nat', '-w', '-I', 'POSTROUTING', '1', '-j', NAT_CHAIN]));
  }
}

/** Removes our table and our chains, whichever exist; what is not there is no error. */
export async function removeMasquerade(): Promise<string[]> {
  const removed: string[] = [];
  if (await run('nft', ['list', 'table', 'inet', NAT_TABLE]).then(() => true, () => false)) {
    await run('nft', ['delete', 'table', 'inet', NAT_TABLE]);
    removed.push(`nftables table inet ${NAT_TABLE}`);
  }
  for (const tool of ['iptables', 'ip6tables']) {
    if (!(await run(tool, ['-t', 'nat', '-w', '-S', NAT_CHAIN]).then(() => true, () => false))) continue;
    await run(tool, ['-t', 'nat', '-w', '-D', 'POSTROUTING', '-j', NAT_CHAIN]).catch(() => undefined);
    await run(tool, ['-t', 'nat', '-w', '-F', NAT_CHAIN]);
    await run(tool, ['-t', 'nat', '-w', '-X', NAT_CHAIN]);
    removed.push(`${tool} chain nat ${NAT_CHAIN}`);
  }
  return removed;
}

/** nft, iptables or ip6tables (and their -restore): one run each. */
async function run(cmd: string, args: string[], input = ''): Promise<void> {
  const install = cmd === 'nft' ? NFT_INSTALL : 'apt-get install -y iptables';
  await runHostTool(cmd, args, input, `${install} (or run with --no-ip-masq)`);
}
