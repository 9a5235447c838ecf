// The egress TAP of the tunnel-GSO send path (Linux 6.16+; decisions.md "Sending a TSO packet as
// ONE tunnel-GSO packet through an egress TAP"): a multi-queue TAP of our own, one queue per
// shard, with the 24-byte vnet header; the shards write frames whose outer Ethernet destination is
// the TAP's MAC, and the kernel routes and forwards them to the underlay as one skb each. What
// that forwarding needs is set on the TAP alone (accept_local, rp_filter, IPv4 forwarding, IPv6
// force_forwarding), so it goes with the device; nothing global is changed. A FORWARD chain that
// drops (Docker's iptables policy) shows only at run time: two counters around the filter hook in
// a table of our own, read every few seconds, turn the path off when frames pass the first and
// not the second.
import { readFile, writeFile } from 'node:fs/promises';
import { addon, TUN_MULTI_QUEUE, TUN_TAP, TUN_VNET_HDR, TUNNEL_STATE_WORDS } from '../native/addon.js';
import { findLink } from './links.js';
import { ip } from './ip-command.js';
import { nft } from './nft.js';
import { nftReader } from './nft-reader.js';
import type { NftSession } from './nft-session.js';

type Undo = () => Promise<void> | void;

/** The underlay of one family as the send path needs it: our address, and the longest datagram one segment may be (MTU − outer IP − UDP). */
export interface TunnelFamily {
  local: string;
  maxDatagram: number;
}

export interface TunnelGsoTap {
  name: string;
  /** One queue per shard. */
  fds: number[];
  mac: string;
  /** Int32 words the shards read before each send: [0] IPv4, [1] IPv6; 1 while that family takes the path. */
  on: SharedArrayBuffer;
}

/** What opening found: the TAP when some family takes the path, and per family why not when it does not. */
export interface TunnelGsoOpened {
  tap: TunnelGsoTap | undefined;
  off4: string | undefined;
  off6: string | undefined;
}

export const TUNNEL_TABLE = 'vxroute_tunnel_gso';
/** A link-local address for the TAP when all.rp_filter is loose (2): loose drops a frame arriving on a device without an IPv4 address. */
const TAP_ADDRESS = '169.254.255.8/32';

/** The TAP's name: the TUN's with `-out`, within the kernel's 15 bytes. */
export function tunnelTapName(tun: string): string {
  return `${tun.slice(0, 11)}-out`;
}

async function sysctl(path: string, value?: string): Promise<string> {
  const file = `/proc/sys/net/${path}`;
  if (value !== undefined) await writeFile(file, value);
  return (await readFile(file, 'utf8')).trim();
}

/**
 * Opens the TAP for the families given and checks each: the 24-byte vnet header, a probe write the
 * kernel takes, rp_filter. Every step's undo goes on `undo` as it is done. A family that cannot
 * take the path gets its reason and the TAP is closed when none can.
 */
export async function openTunnelGsoTap(tun: string, queues: number, v4: TunnelFamily | undefined, v6: TunnelFamily | undefined, undo: Undo[]): Promise<TunnelGsoOpened> {
  const name = tunnelTapName(tun);
  let off4 = v4 ? undefined : 'no IPv4 underlay';
  let off6 = v6 ? undefined : 'no IPv6 underlay';
  const rpAll = v4 ? await sysctl('ipv4/conf/all/rp_filter') : '0';
  if (v4 && rpAll === '1') off4 = 'net.ipv4.conf.all.rp_filter is 1 (strict): the forwarded frames, from our own address, would be dropped';
  if (off4 && off6) return { tap: undefined, off4, off6 };
  if (await findLink(name)) {
    const why = `${name} exists and is not ours`;
    return { tap: undefined, off4: off4 ?? why, off6: off6 ?? why };
  }
  const fds: number[] = [];
  const tap = { name, fds, mac: '', on: new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT) };
  // Closing the last queue removes the TAP, with its addresses and per-device settings.
  undo.push(() => {
    for (const fd of fds) addon.close(fd);
    fds.length = 0;
  });
  for (let i = 0; i < queues; i++) {
    fds.push(addon.tunOpen(name, TUN_TAP | TUN_MULTI_QUEUE | TUN_VNET_HDR).fd);
    const err = addon.tapTunnelVnetHdr(fds[i]!);
    if (err !== 0) return closed(tap, off4, off6, `TUNSETVNETHDRSZ 24 refused (errno ${err})`);
  }
  if (v4) {
    await sysctl(`ipv4/conf/${name}/accept_local`, '1');
    await sysctl(`ipv4/conf/${name}/rp_filter`, '0');
    await sysctl(`ipv4/conf/${name}/forwarding`, '1');
    if (rpAll === '2') await ip(['addr', 'add', TAP_ADDRESS, 'dev', name]);
  }
  // Nothing is routed to the TAP: no IPv6 on it (no link-local address, no MLD) unless frames of that family arrive.
  await sysctl(`ipv6/conf/${name}/disable_ipv6`, v6 ? '0' : '1');
  if (v6) {
    await sysctl(`ipv6/conf/${name}/addr_gen_mode`, '1');
    off6 ??= await forwardIpv6(name);
  }
  await ip(['link', 'set', name, 'arp', 'off', 'up']);
  tap.mac = (await readFile(`/sys/class/net/${name}/address`, 'utf8')).trim();
  // The probe, per family, by the send's own header writer (writes while the TAP is down fail with EIO).
  const probe = (family: 4 | 6, f: TunnelFamily): string | undefined => {
    const state = new Int32Array(TUNNEL_STATE_WORDS);
    addon.tunnelGsoConfigure(state, family, fds[0]!, tap.mac, f.local, Int32Array.of(9), 65_535);
    const err = addon.tunnelGsoProbe(state);
    return err === 0 ? undefined : `the kernel refused a tunnel-GSO write (errno ${err}${err === 22 ? ': Linux before 6.16' : ''})`;
  };
  if (v4 && !off4) off4 = probe(4, v4);
  const off6Probed = v6 && !off6 ? probe(6, v6) : off6;
  if (off4 && off6Probed) return closed(tap, off4, off6Probed, undefined);
  const on = new Int32Array(tap.on);
  on[0] = off4 ? 0 : 1;
  on[1] = off6Probed ? 0 : 1;
  undo.push(async () => void (await nft(['delete', 'table', 'inet', TUNNEL_TABLE], 'the tunnel-GSO forward check').catch(() => undefined)));
  await nft(['-f', '-'], 'the tunnel-GSO forward check', forwardCheckTable(name));
  return { tap, off4, off6: off6Probed };
}

/**
 * IPv6 forwards a frame that arrives on the TAP when forwarding is on for the host, or for the TAP
 * alone (force_forwarding, Linux 6.17); the reason it cannot otherwise. The host's setting is left alone.
 */
async function forwardIpv6(tap: string): Promise<string | undefined> {
  try {
    await sysctl(`ipv6/conf/${tap}/force_forwarding`, '1');
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return (await sysctl('ipv6/conf/all/forwarding')) === '1' ? undefined : 'net.ipv6.conf.all.forwarding is 0 and this kernel has no per-device force_forwarding (Linux 6.17)';
}

function closed(tap: TunnelGsoTap, off4: string | undefined, off6: string | undefined, why: string | undefined): TunnelGsoOpened {
  for (const fd of tap.fds) addon.close(fd);
  tap.fds.length = 0;
  return { tap: undefined, off4: off4 ?? why, off6: off6 ?? why };
}

/**
 * Two counters of the TAP's frames in the forward hook: before every filter chain (priority −500)
 * and after them (+500); iptables-nft and iptables-legacy both filter at priority 0.
 */
export function forwardCheckTable(tap: string): string {
  return [
    `table inet ${TUNNEL_TABLE}`,
    `delete table inet ${TUNNEL_TABLE}`,
    `table inet ${TUNNEL_TABLE} {`,
    `  chain before { type filter hook forward priority -500; policy accept; iifname "${tap}" counter; }`,
    `  chain after { type filter hook forward priority 500; policy accept; iifname "${tap}" counter; }`,
    '}',
    '',
  ].join('\n');
}

/** Removes the forward check's table (left by a daemon killed with -9); what it removed. */
export async function removeForwardCheck(): Promise<string[]> {
  if (!(await nft(['list', 'table', 'inet', TUNNEL_TABLE], 'the tunnel-GSO forward check').then(() => true, () => false))) return [];
  await nft(['delete', 'table', 'inet', TUNNEL_TABLE], 'the tunnel-GSO forward check');
  return [`nftables table inet ${TUNNEL_TABLE}`];
}

/** The two counters' packets from `nft -j list table inet vxroute_tunnel_gso`. */
export function forwardCounts(json: string): { before: number; after: number } {
  const counts = { before: 0, after: 0 };
  const items = (JSON.parse(json) as { nftables?: { rule?: { chain: string; expr?: { counter?: { packets: number } }[] } }[] }).nftables ?? [];
  for (const item of items) {
    const rule = item.rule;
    if (!rule || (rule.chain !== 'before' && rule.chain !== 'after')) continue;
    for (const e of rule.expr ?? []) if (e.counter) counts[rule.chain] += e.counter.packets;
  }
  return counts;
}

/**
 * Every `everyMs`, reads the counter pair; when frames passed the first and none the second since
 * the last read, something in the forward hook drops them: `off()` is called once and the watch ends.
 * Returns the stop function.
 */
export function watchForwardDrop(off: (passed: number) => void, everyMs = 2000, session: NftSession = nftReader): () => void {
  let last: { before: number; after: number } | undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    session
      .command(`list table inet ${TUNNEL_TABLE}`)
      .then((line) => {
        const now = forwardCounts(line);
        if (last && now.before - last.before >= 2 && now.after === last.after) {
          stop();
          off(now.before - last.before);
        }
        last = now;
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, everyMs).unref();
  const stop = (): void => clearInterval(timer);
  return stop;
}
