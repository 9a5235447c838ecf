// Pods must not reach any node's VXLAN port: a datagram a pod writes to a peer's port leaves this
// node masqueraded to our underlay address, so the peer takes it for ours and delivers whatever
// inner packet the pod made up (Calico drops workload VXLAN for the same reason). A table of
// vxroute's own (`inet vxroute_guard`), replaced in one transaction, drops UDP to the port from
// the pods' bridge or from our pod CIDRs, addressed to this node (input) or through it (forward),
// and counts what it drops in one named counter that /metrics reads at scrape time, through one
// long-lived nft started with the guard (a fork per scrape would cost the datapath, nft-session.ts).
import type { Cidr } from '../subnets/cidr.js';
import { nft as runNft } from './nft.js';
import { nftReader } from './nft-reader.js';
import type { NftSession } from './nft-session.js';

export const GUARD_TABLE = 'vxroute_guard';
export const GUARD_COUNTER = 'pod_vxlan';

export interface GuardSettings {
  /** The bridge our pods hang on (router mode: the CNI bridge; switch mode: the bridge our TAP joins). */
  bridge: string;
  /** Our pods' CIDRs, per family, where we have them (switch mode has none). */
  podCIDR: Cidr | undefined;
  podCIDRv6: Cidr | undefined;
  /** The VXLAN UDP port (--port). */
  port: number;
}

/** The nft script: create-then-delete makes the replace work whether or not the table exists. */
export function guardRules(s: GuardSettings): string {
  const drop = `udp dport ${s.port} counter name "${GUARD_COUNTER}" drop`;
  const rules = [`iifname "${s.bridge}" ${drop}`];
  if (s.podCIDR) rules.push(`ip saddr ${s.podCIDR.text} ${drop}`);
  if (s.podCIDRv6) rules.push(`ip6 saddr ${s.podCIDRv6.text} ${drop}`);
  // Before the filter hooks of iptables (priority 0) and of other tables: a drop here is final.
  const chain = (hook: string) => [`  chain ${hook} {`, `    type filter hook ${hook} priority filter - 10; policy accept;`, ...rules.map((r) => `    ${r}`), '  }'];
  return [
    `table inet ${GUARD_TABLE} {}`,
    `delete table inet ${GUARD_TABLE}`,
    `table inet ${GUARD_TABLE} {`,
    `  counter ${GUARD_COUNTER} {}`,
    ...chain('input'),
    ...chain('forward'),
    '}',
    '',
  ].join('\n');
}

const PURPOSE = 'vxroute drops pods\' UDP to the VXLAN port with it';
const nft = (args: string[], input?: string) => runNft(args, PURPOSE, input);

/** Applies the guard and starts the reader of its counter (once, while the daemon is still small). */
export async function applyGuard(s: GuardSettings): Promise<void> {
  await nft(['-f', '-'], guardRules(s));
  nftReader.start();
}

/** Removes our table; returns what was removed (nothing when it was not there). */
export async function removeGuard(): Promise<string[]> {
  if (!(await nft(['list', 'table', 'inet', GUARD_TABLE]).then(() => true, () => false))) return [];
  await nft(['delete', 'table', 'inet', GUARD_TABLE]);
  return [`nftables table inet ${GUARD_TABLE}`];
}

/** Packets the guard dropped since it was last applied, or undefined when it is not in place. */
export async function guardDrops(session: NftSession = nftReader): Promise<number | undefined> {
  const text = await session.command(`list counter inet ${GUARD_TABLE} ${GUARD_COUNTER}`).catch(() => undefined);
  if (text === undefined) return undefined;
  const items = (JSON.parse(text) as { nftables?: { counter?: { packets?: unknown } }[] }).nftables ?? [];
  const packets = items.find((i) => i.counter)?.counter?.packets;
  return typeof packets === 'number' ? packets : undefined;
}
