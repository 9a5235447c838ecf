// Host setup for the overlay device: MTU, address, link up, and the cluster route through it.
// Idempotent (replace, never add), so a restart after kill -9 converges without duplicates.
import { readFile, writeFile } from 'node:fs/promises';
import { ip, ipBatch, IpCommandError } from './ip-command.js';

export interface OverlaySetup {
  device: string;
  mtu: number;
  /** Our IPv4 address on the device, flannel's convention: the pod subnet's .0 as a /32; and the IPv4 cluster network routed through it. */
  address: string | undefined;
  network: string | undefined;
  /** The same for IPv6 (flannel-v6.<VNI>'s: the pod subnet's network address as a /128), with the route's MTU when below the device's. */
  addressV6: string | undefined;
  networkV6: string | undefined;
  mtuV6: number | undefined;
}

/** One `ip -batch` (one process; `addr` and `route` take the family from the address); the first line that fails stops it and is thrown. */
export async function applyOverlay(s: OverlaySetup): Promise<void> {
  const lines = [
    `link set dev ${s.device} mtu ${s.mtu}`,
    // No IPv6 link-local address: the kernel would send router solicitations and MLD into the overlay.
    `link set dev ${s.device} addrgenmode none`,
    ...(s.address ? [`addr replace ${s.address}/32 dev ${s.device}`] : []),
    ...(s.addressV6 ? [`addr replace ${s.addressV6}/128 dev ${s.device} nodad`] : []),
    `link set dev ${s.device} up`,
    ...(s.network ? [`route replace ${s.network} dev ${s.device}`] : []),
    ...(s.networkV6 ? [`route replace ${s.networkV6} dev ${s.device}${s.mtuV6 ? ` mtu ${s.mtuV6}` : ''}`] : []),
  ];
  const { ok, stderr } = await ipBatch([], lines);
  if (!ok) throw new IpCommandError(['-batch', '-', ...lines], stderr);
}

/** Removes the routes and the addresses; what is already gone is no error. */
export async function removeOverlay(s: OverlaySetup): Promise<void> {
  if (s.network) await ignoreMissing(ip(['route', 'del', s.network, 'dev', s.device]));
  if (s.address) await ignoreMissing(ip(['addr', 'del', `${s.address}/32`, 'dev', s.device]));
  if (s.networkV6) await ignoreMissing(ip(['-6', 'route', 'del', s.networkV6, 'dev', s.device]));
  if (s.addressV6) await ignoreMissing(ip(['-6', 'addr', 'del', `${s.addressV6}/128`, 'dev', s.device]));
}

/** Moves the addresses when our pod subnets changed on a table reload. */
export async function replaceAddress(s: OverlaySetup, previous: OverlaySetup): Promise<void> {
  if (previous.address !== s.address) {
    if (s.address) await ip(['addr', 'replace', `${s.address}/32`, 'dev', s.device]);
    if (previous.address) await ignoreMissing(ip(['addr', 'del', `${previous.address}/32`, 'dev', s.device]));
    if (s.network) await ip(['route', 'replace', s.network, 'dev', s.device]);
  }
  if (previous.addressV6 !== s.addressV6) {
    if (s.addressV6) await ip(['-6', 'addr', 'replace', `${s.addressV6}/128`, 'dev', s.device, 'nodad']);
    if (previous.addressV6) await ignoreMissing(ip(['-6', 'addr', 'del', `${previous.addressV6}/128`, 'dev', s.device]));
    if (s.networkV6) await ip(['-6', 'route', 'replace', s.networkV6, 'dev', s.device, ...(s.mtuV6 ? ['mtu', String(s.mtuV6)] : [])]);
  }
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (err instanceof IpCommandError && /No such (process|file|device)|Cannot find device|Cannot assign/i.test(err.stderr)) return;
    throw err;
  }
}

/**
 * Lets the kernel accept packets from the TUN whose source is one of its own addresses: the ICMP
 * errors the datapath sends from our VTEP address would otherwise be dropped as martians.
 * Returns the previous value, for restoreAcceptLocal.
 */
export async function enableAcceptLocal(device: string): Promise<string> {
  const path = `/proc/sys/net/ipv4/conf/${device}/accept_local`;
  const previous = (await readFile(path, 'utf8')).trim();
  await writeFile(path, '1');
  return previous;
}

export async function restoreAcceptLocal(device: string, previous: string): Promise<void> {
  try {
    await writeFile(`/proc/sys/net/ipv4/conf/${device}/accept_local`, previous);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // the device is gone with its settings
  }
}

/**
 * Turns IPv6 on or off on our device (off when the table has no IPv6 pods, so the host sends no
 * MLD reports into it). Returns the previous value, for restoreIpv6.
 */
export async function setIpv6(device: string, enabled: boolean): Promise<string> {
  const path = `/proc/sys/net/ipv6/conf/${device}/disable_ipv6`;
  const previous = (await readFile(path, 'utf8')).trim();
  await writeFile(path, enabled ? '0' : '1');
  return previous;
}

export async function restoreIpv6(device: string, previous: string): Promise<void> {
  try {
    await writeFile(`/proc/sys/net/ipv6/conf/${device}/disable_ipv6`, previous);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
