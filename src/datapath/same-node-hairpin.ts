// Router mode with NetworkPolicy: packets between two pods of this node come up the TUN (see
// src/net/same-node-steering.ts). encapsulate hands each packet for our own pod CIDRs to take*:
// it stays where it was read, in an output list of its own; once the policy stage has judged the
// batch, the allowed ones are written back into the TUN (runs coalesced into GSO packets, as
// they were read), and the kernel routes them to cni0.
// Our pod CIDRs can change while we run (the node's podCIDR): the main thread then posts an
// OwnPodsUpdate on each shard's policy port, and the shard adopts it between two batches.
import { FORWARDED, type PacketBatch } from './packet-batch.js';

/** Our pod CIDRs as the shards get them: prefix and length per family (length -1: none). */
export interface OwnPods {
  /** IPv4 network, host order. */
  v4: number;
  v4Len: number;
  /** IPv6 network, 16 bytes. */
  v6: Uint8Array;
  v6Len: number;
}

/** A CIDR as the shards need it (a Cidr of src/subnets, without loading the address-text code it uses). */
interface Prefix {
  addr: Buffer;
  prefixLen: number;
}

export function ownPodsOf(v4: Prefix | undefined, v6: Prefix | undefined): OwnPods {
  return {
    v4: v4 ? v4.addr.readUInt32BE(0) : 0,
    v4Len: v4 ? v4.prefixLen : -1,
    v6: v6 ? Uint8Array.from(v6.addr) : new Uint8Array(16),
    v6Len: v6 ? v6.prefixLen : -1,
  };
}

export function sameOwnPods(a: OwnPods, b: OwnPods): boolean {
  return a.v4 === b.v4 && a.v4Len === b.v4Len && a.v6Len === b.v6Len && Buffer.from(a.v6).equals(Buffer.from(b.v6));
}

/** Posted on a shard's policy port when our pod CIDRs changed. */
export interface OwnPodsUpdate {
  type: 'own-pods';
  pods: OwnPods;
}

export function isOwnPodsUpdate(message: unknown): message is OwnPodsUpdate {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'own-pods';
}

export class SameNodeHairpin {
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  count = 0;
  private v4 = 1;
  private v4Mask = 0;
  /** Words of the IPv6 network and of its mask. */
  private readonly v6 = new Int32Array(4);
  private readonly v6Mask = new Int32Array(4);
  private hasV6 = false;

  constructor(capacity: number, pods: OwnPods) {
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.adopt(pods);
  }

  /** Our pod CIDRs from now on (between batches: the packets taken so far are the caller's). */
  adopt(pods: OwnPods): void {
    this.v4Mask = pods.v4Len < 0 ? 0 : pods.v4Len === 0 ? 0 : (0xffffffff << (32 - pods.v4Len)) | 0;
    this.v4 = pods.v4Len < 0 ? 1 : pods.v4 & this.v4Mask; // 1 under mask 0: nothing matches
    this.hasV6 = pods.v6Len >= 0;
    const v6 = Buffer.from(pods.v6.buffer, pods.v6.byteOffset, 16);
    for (let k = 0; k < 4; k++) {
      const bits = Math.max(0, Math.min(32, pods.v6Len - 32 * k));
      this.v6Mask[k] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
      this.v6[k] = v6.readInt32BE(k * 4) & this.v6Mask[k];
    }
  }

  /** Takes packet i (IPv4, at `off`, `len` bytes) when `dst` (host order) is one of our pods. */
  takeV4(b: PacketBatch, i: number, dst: number, off: number, len: number): boolean {
    if ((dst & this.v4Mask) !== this.v4) return false;
    this.take(b, i, off, len);
    return true;
  }

  /** Takes packet i (IPv6, at `off`, `len` bytes) when its destination, at buf[at], is one of our pods. */
  takeV6(b: PacketBatch, i: number, at: number, off: number, len: number): boolean {
    if (!this.hasV6) return false;
    const buf = b.slab;
    const m = this.v6Mask;
    const p = this.v6;
    for (let k = 0; k < 4; k++) if ((buf.readInt32BE(at + k * 4) & m[k]) !== p[k]) return false;
    this.take(b, i, off, len);
    return true;
  }

  /** After the policy stage: keeps the packets still FORWARDED. */
  keepForwarded(b: PacketBatch): void {
    let kept = 0;
    for (let j = 0; j < this.count; j++) {
      if (b.verdicts[(this.offsets[j] / b.slotSize) | 0] !== FORWARDED) continue;
      this.offsets[kept] = this.offsets[j];
      this.lengths[kept] = this.lengths[j];
      kept++;
    }
    this.count = kept;
  }

  private take(b: PacketBatch, i: number, off: number, len: number): void {
    this.offsets[this.count] = off;
    this.lengths[this.count] = len;
    this.count++;
    b.verdicts[i] = FORWARDED;
  }
}
