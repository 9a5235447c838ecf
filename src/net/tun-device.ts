// The overlay's TUN device (a TAP in switch mode): one queue (fd) per shard, created on open
// unless it already exists.
import { addon, TUN_MULTI_QUEUE, TUN_TAP, TUN_TSO, TUN_VNET_HDR } from '../native/addon.js';
import { ConfigError } from '../config-error.js';
import { findLink } from './links.js';

export type TunKind = 'tun' | 'tap';

export interface TunDevice {
  name: string;
  kind: TunKind;
  fds: number[];
  /** True when the device existed before us: we leave it in place on exit. */
  adopted: boolean;
  /** The kernel hands over UDP packets a pod sent with UDP_SEGMENT whole (TUN_F_USO4/6, Linux 6.2). */
  uso: boolean;
}

/**
 * `offload`: every packet read or written carries a virtio_net_hdr (IFF_VNET_HDR), and the kernel
 * may hand over TCP packets of up to 64 KiB with partial checksums (TUNSETOFFLOAD), and UDP ones
 * where it has USO, for coalesced writes and segmented reads.
 */
export async function openTun(name: string, queues: number, kind: TunKind = 'tun', offload = false): Promise<TunDevice> {
  const existing = await findLink(name);
  const existingKind = existing?.linkinfo?.info_kind === 'tun' ? existing.linkinfo.info_data?.type ?? 'tun' : undefined;
  if (existing && existingKind !== kind) {
    const what = existingKind ?? existing.linkinfo?.info_kind ?? existing.link_type ?? 'other';
    throw new ConfigError('--iface', `${name} exists and is a ${what} device, not a ${kind.toUpperCase()}: pick another name or delete it (ip link del ${name})`);
  }
  const fds: number[] = [];
  let uso = false;
  try {
    for (let i = 0; i < queues; i++) {
      const queue = addon.tunOpen(name, TUN_MULTI_QUEUE | (kind === 'tap' ? TUN_TAP : 0) | (offload ? TUN_VNET_HDR | TUN_TSO : 0));
      fds.push(queue.fd);
      uso = queue.uso;
    }
  } catch (err) {
    for (const fd of fds) addon.close(fd);
    throw err;
  }
  return { name, kind, fds, adopted: existing !== undefined, uso };
}

/** Closing the last queue of a device we created removes it, with its addresses and routes. */
export function closeTun(tun: TunDevice): void {
  for (const fd of tun.fds) addon.close(fd);
  tun.fds = [];
}
