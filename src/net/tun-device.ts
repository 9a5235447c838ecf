// The overlay's TUN device: one queue (fd) per shard, created on open unless it already exists.
import { addon, TUN_MULTI_QUEUE } from '../native/addon.js';
import { ConfigError } from '../config-error.js';
import { findLink } from './links.js';

export interface TunDevice {
  name: string;
  fds: number[];
  /** True when the device existed before us: we leave it in place on exit. */
  adopted: boolean;
}

export async function openTun(name: string, queues: number): Promise<TunDevice> {
  const existing = await findLink(name);
  if (existing && existing.linkinfo?.info_kind !== 'tun') {
    throw new ConfigError('--iface', `${name} exists and is a ${existing.linkinfo?.info_kind ?? existing.link_type ?? 'non-TUN'} device, not a TUN: pick another name or delete it (ip link del ${name})`);
  }
  const fds: number[] = [];
  try {
    for (let i = 0; i < queues; i++) fds.push(addon.tunOpen(name, TUN_MULTI_QUEUE).fd);
  } catch (err) {
    for (const fd of fds) addon.close(fd);
    throw err;
  }
  return { name, fds, adopted: existing !== undefined };
}

/** Closing the last queue of a device we created removes it, with its addresses and routes. */
export function closeTun(tun: TunDevice): void {
  for (const fd of tun.fds) addon.close(fd);
  tun.fds = [];
}
