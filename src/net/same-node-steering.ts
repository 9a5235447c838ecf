// NetworkPolicy between two pods of this node: the CNI bridge would switch their frames to each
// other, so vxroute steers them through its TUN instead. A bridge-family table of its own
// (`bridge vxroute_same_node`) rewrites, in the bridge's prerouting hook, the destination MAC of
// every unicast frame addressed to another station whose IP destination is one of our pod CIDRs
// to the bridge's own MAC and marks it for the host, so the bridge passes it up to IP. There, an
// ip rule (both families) `iif cni0 to <pod CIDR>` looks up a table of ours that routes the pod
// CIDR into the TUN (and prohibits it when the TUN is gone: fail closed); the datapath judges the
// packet and writes it back, and the main table routes it out of cni0 to the pod. A new pod's
// first frame meets the rule: nothing is set per port. IPv6 neighbour discovery stays on the
// bridge (RFC 4861 §7.1.1: a routed NA, its hop limit no longer 255, would be discarded).
// The bridge's MAC is pinned (set explicitly, so the kernel no longer takes the lowest port's),
// or the rewritten frames would go astray when that port leaves.
import { readFile, writeFile } from 'node:fs/promises';
import type { Cidr } from '../subnets/cidr.js';
import { failedBatchLines, ip, ipBatch, IpCommandError, ipJson } from './ip-command.js';
import { nft as runNft } from './nft.js';

export const SAME_NODE_TABLE = 'vxroute_same_node';
/** Our routing table and the preference of our rules (`ip rule`), both families. */
export const SAME_NODE_ROUTE_TABLE = 7800;
export const SAME_NODE_RULE_PREF = 7800;
/** Rules of ours one removal batch deletes per family; it runs again while each one was there. */
const RULES_PER_BATCH = 4;
const nft = (args: string[], input?: string) => runNft(args, 'vxroute steers same-node pod traffic through its policy with it', input);

export interface SameNodeSettings {
  /** The bridge our pods hang on (the CNI bridge). */
  bridge: string;
  /** Our TUN. */
  tun: string;
  podCIDR: Cidr | undefined;
  podCIDRv6: Cidr | undefined;
}

/** What applySameNode changed that exit must put back. */
export interface SameNodeSetup {
  tun: string;
  /** The TUN's rp_filter before we loosened it ('' when untouched). */
  rpFilter: string;
}

/** The nft script: create-then-delete makes the replace work whether or not the table exists. */
export function sameNodeRules(bridgeMac: string, s: Pick<SameNodeSettings, 'podCIDR' | 'podCIDRv6'>): string {
  // `other` (PACKET_OTHERHOST): unicast to a MAC not the ingress port's, as eth_type_trans classified it.
  const steer = `meta pkttype other`;
  const to = `ether daddr set ${bridgeMac} meta pkttype set host`;
  const rules: string[] = [];
  if (s.podCIDR) rules.push(`${steer} ip daddr ${s.podCIDR.text} counter ${to}`);
  if (s.podCIDRv6) {
    rules.push(`${steer} ip6 daddr ${s.podCIDRv6.text} icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept`);
    rules.push(`${steer} ip6 daddr ${s.podCIDRv6.text} counter ${to}`);
  }
  return [
    `table bridge ${SAME_NODE_TABLE} {}`,
    `delete table bridge ${SAME_NODE_TABLE}`,
    `table bridge ${SAME_NODE_TABLE} {`,
    '  chain prerouting {',
    // Before any other bridge table's prerouting (dstnat is -300): ours decides where the frame goes.
    '    type filter hook prerouting priority -310; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Replaces everything of ours (an earlier run's too, after kill -9) with what `s` needs. The bridge
 * is created when no pod made it yet (the CNI bridge plugin takes an existing one), so the table
 * is in force before the first pod's. Few processes: per family one `ip -batch` takes the old
 * rules and routes away and puts the new ones in (both families at once; no pod's packet meets the
 * main table alone for longer than that batch), then one `nft -f` replaces the bridge table (a
 * frame it rewrites for the host must meet the rule).
 */
export async function applySameNode(s: SameNodeSettings): Promise<SameNodeSetup> {
  const [mac] = await Promise.all([pinnedBridgeMac(s.bridge), steerFamily('-4', s.podCIDR, s), steerFamily('-6', s.podCIDRv6, s)]);
  await nft(['-f', '-'], sameNodeRules(mac, s));
  return { tun: s.tun, rpFilter: s.podCIDR ? await loosenRpFilter(s.tun) : '' };
}

/** Our rules and routes of one family replaced by those for `cidr` (removed when there is none). */
async function steerFamily(family: '-4' | '-6', cidr: Cidr | undefined, s: Pick<SameNodeSettings, 'bridge' | 'tun'>): Promise<void> {
  if (!cidr) return void (await removeRules(family));
  const table = String(SAME_NODE_ROUTE_TABLE);
  const steer = [
    `route replace ${cidr.text} dev ${s.tun} table ${table}`,
    `route replace prohibit ${cidr.text} metric 4294967295 table ${table}`,
    `rule add pref ${SAME_NODE_RULE_PREF} iif ${s.bridge} to ${cidr.text} lookup ${table}`,
  ];
  for (;;) {
    const { deleted, failed, stderr } = await replaceRules(family, steer);
    if ([...failed].some((line) => line > RULES_PER_BATCH + 1)) throw new IpCommandError([family, '-force', '-batch', '-', ...steer], stderr);
    if (deleted < RULES_PER_BATCH) return; // else there may be more of an earlier run's: again (ours is deleted and added again)
  }
}

/** The bridge's MAC, set explicitly (the kernel keeps it from now on); the bridge is made and brought up when missing. */
async function pinnedBridgeMac(bridge: string): Promise<string> {
  let [link] = await ipJson<{ address: string }>(['link', 'show', 'dev', bridge]).catch((err: unknown) => {
    if (err instanceof IpCommandError && /does not exist|Cannot find device/i.test(err.stderr)) return [];
    throw err;
  });
  if (!link) {
    await ipLines([], [`link add ${bridge} type bridge`, `link set ${bridge} up`]);
    [link] = await ipJson<{ address: string }>(['link', 'show', 'dev', bridge]);
  }
  await ip(['link', 'set', bridge, 'address', link.address]);
  return link.address;
}

/** Every line in one `ip -batch`; the first that fails stops it and is thrown. */
async function ipLines(args: string[], lines: string[]): Promise<void> {
  const { ok, stderr } = await ipBatch(args, lines);
  if (!ok) throw new IpCommandError([...args, '-batch', '-', ...lines], stderr);
}

/**
 * One batch: up to RULES_PER_BATCH of our rules of `family` deleted, our route table flushed, then
 * `after`. -force: the deletes past our last rule fail, and so does the flush of a table the kernel
 * never made. Says how many rules it deleted and which lines failed.
 */
async function replaceRules(family: '-4' | '-6', after: string[] = []): Promise<{ deleted: number; flushed: boolean; failed: Set<number>; stderr: string }> {
  const del = `rule del pref ${SAME_NODE_RULE_PREF}`;
  const { stderr } = await ipBatch(['-force', family], [...Array<string>(RULES_PER_BATCH).fill(del), `route flush table ${SAME_NODE_ROUTE_TABLE}`, ...after]);
  const failed = failedBatchLines(stderr);
  const deleted = RULES_PER_BATCH - [...failed].filter((line) => line <= RULES_PER_BATCH).length;
  return { deleted, flushed: !failed.has(RULES_PER_BATCH + 1), failed, stderr };
}

/** Undoes applySameNode: the bridge stays (its pods need it), with its pinned MAC. */
export async function restoreSameNode(setup: SameNodeSetup): Promise<void> {
  await removeSameNode();
  if (setup.rpFilter === '') return;
  await writeFile(`/proc/sys/net/ipv4/conf/${setup.tun}/rp_filter`, setup.rpFilter).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err; // the device is gone with its settings
  });
}

/** Removes our table, rules and routes wherever they are; returns what was removed. */
export async function removeSameNode(): Promise<string[]> {
  // The table first: a frame it rewrites for the host must not miss the rule.
  const table = await nft(['delete', 'table', 'bridge', SAME_NODE_TABLE]).then(() => [`nftables table bridge ${SAME_NODE_TABLE}`], () => []);
  const families = await Promise.all([removeRules('-4'), removeRules('-6')]);
  return [...table, ...families.flat()];
}

/** Deletes our rules of one family and flushes our route table, a batch at a time; returns what was removed. */
async function removeRules(family: '-4' | '-6'): Promise<string[]> {
  let rules = 0;
  let flushed: boolean;
  for (;;) {
    const batch = await replaceRules(family);
    rules += batch.deleted;
    flushed = batch.flushed;
    if (batch.deleted < RULES_PER_BATCH) break;
  }
  if (rules === 0) return [];
  return [`${rules} ip ${family} rule(s) pref ${SAME_NODE_RULE_PREF}`, ...(flushed ? [`ip ${family} route table ${SAME_NODE_ROUTE_TABLE}`] : [])];
}

/**
 * Packets written back into the TUN come from our own pods, whose route is cni0: strict reverse
 * path filtering (1, in `all` or on the device; the kernel takes the larger) would drop them, so
 * the TUN gets loose (2). Returns the device's previous value.
 */
async function loosenRpFilter(tun: string): Promise<string> {
  const path = `/proc/sys/net/ipv4/conf/${tun}/rp_filter`;
  const previous = (await readFile(path, 'utf8')).trim();
  await writeFile(path, '2');
  return previous;
}
