// Host setup for the overlay device: MTU, address, link up, and the cluster route through it.
// Idempotent (replace, never add), so a restart after kill -9 converges without duplicates.
import { readFile, writeFile } from 'node:fs/promises';
import { ip, IpCommandError } from './ip-command.js';

export interface OverlaySetup {
  device: string;
  mtu: number;
  /** Our address on the device, flannel's convention: the pod subnet's .0 as a /32. */
  address: string;
  /** The cluster network, routed through the device. */
  network: string;
}

export async function applyOverlay(s: OverlaySetup): Promise<void> {
  await ip(['link', 'set', 'dev', s.device, 'mtu', String(s.mtu)]);
  // No IPv6 link-local address: the kernel would send router solicitations and MLD into the overlay.
  await ip(['link', 'set', 'dev', s.device, 'addrgenmode', 'none']);
  await ip(['addr', 'replace', `${s.address}/32`, 'dev', s.device]);
  await ip(['link', 'set', 'dev', s.device, 'up']);
  await ip(['route', 'replace', s.network, 'dev', s.device]);
}

/** Removes the route and the address; what is already gone is no error. */
export async function removeOverlay(s: OverlaySetup): Promise<void> {
  await ignoreMissing(ip(['route', 'del', s.network, 'dev', s.device]));
  await ignoreMissing(ip(['addr', 'del', `${s.address}/32`, 'dev', s.device]));
}

/** Moves the address when our pod subnet changed on a table reload. */
export async function replaceAddress(s: OverlaySetup, previous: string): Promise<void> {
  if (previous === s.address) return;
  await ip(['addr', 'replace', `${s.address}/32`, 'dev', s.device]);
  await ignoreMissing(ip(['addr', 'del', `${previous}/32`, 'dev', s.device]));
  await ip(['route', 'replace', s.network, 'dev', s.device]);
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
