// Longest-prefix match over a table snapshot, rebuilt when the table version changes.
// One hash map per distinct prefix length and family, probed from the longest: a cluster whose
// nodes all have /24s and /64s costs one probe per packet.
import { Int32Map } from './int32-map.js';
import { Ipv6Map } from './ipv6-map.js';
import type { TableSnapshot } from './shared-table.js';

export class RouteLookup {
  version = -1;
  /** Per route: underlay address words (host order), peer id, VTEP MAC as its own 6-byte view. */
  underlay: Uint32Array = new Uint32Array(0);
  peerId: Int32Array = new Int32Array(0);
  /** Per route: 4 or 6, the family of its underlay address. */
  underlayFamily: Int32Array = new Int32Array(0);
  macs: Uint8Array[] = [];

  private v4Masks: Int32Array = new Int32Array(0);
  private v4Maps: Int32Map[] = [];
  private v4Peers: Int32Map = new Int32Map(0);
  /** Per prefix length (longest first): the mask's four words, then its map. */
  private v6Masks: Int32Array = new Int32Array(0);
  private v6Maps: Ipv6Map[] = [];
  private v6Peers: Ipv6Map = new Ipv6Map(0);
  /** Per array of MACs a snapshot came in (the reader reuses two): a view of each route's MAC. */
  private readonly macViews = new WeakMap<ArrayBufferLike, Uint8Array[]>();

  /** Adopts a snapshot. Reuses its maps and views while the table fits them: a node's change allocates nothing per route. */
  rebuild(s: TableSnapshot): void {
    this.version = s.version;
    this.underlay = s.underlay;
    this.peerId = s.peerId;
    this.underlayFamily = s.underlayFamily;
    this.macs = this.macViewsOf(s);

    const lengths = new Set<number>();
    for (let i = 0; i < s.count; i++) if (s.family[i] === 4) lengths.add(s.prefixLen[i]);
    const sorted = [...lengths].sort((a, b) => b - a);
    this.v4Masks = Int32Array.from(sorted, (len) => (len === 0 ? 0 : (0xffffffff << (32 - len)) | 0));
    this.v4Maps = sorted.map((_, j) => reuse(this.v4Maps[j], s.count, () => new Int32Map(s.count)));
    this.v4Peers = reuse(this.v4Peers, s.count, () => new Int32Map(s.count));

    const lengths6 = new Set<number>();
    for (let i = 0; i < s.count; i++) if (s.family[i] === 6) lengths6.add(s.prefixLen[i]);
    const sorted6 = [...lengths6].sort((a, b) => b - a);
    this.v6Masks = new Int32Array(sorted6.length * 4);
    sorted6.forEach((len, j) => {
      for (let k = 0; k < 4; k++) {
        const bits = Math.max(0, Math.min(32, len - 32 * k));
        this.v6Masks[j * 4 + k] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
      }
    });
    this.v6Maps = sorted6.map((_, j) => reuse(this.v6Maps[j], s.count, () => new Ipv6Map(s.count)));
    this.v6Peers = reuse(this.v6Peers, s.count, () => new Ipv6Map(s.count));

    for (let i = 0; i < s.count; i++) {
      const p = i * 4;
      if (s.family[i] === 4) this.v4Maps[sorted.indexOf(s.prefixLen[i])].set(s.prefix[p], i);
      if (s.family[i] === 6) this.v6Maps[sorted6.indexOf(s.prefixLen[i])].set(s.prefix[p], s.prefix[p + 1], s.prefix[p + 2], s.prefix[p + 3], i);
      if (s.underlayFamily[i] === 4) this.v4Peers.set(s.underlay[p], s.peerId[i]);
      if (s.underlayFamily[i] === 6) this.v6Peers.set(s.underlay[p], s.underlay[p + 1], s.underlay[p + 2], s.underlay[p + 3], s.peerId[i]);
    }
  }

  /** Views of each route's 6 bytes in `s.mac`, made once per array and route index. */
  private macViewsOf(s: TableSnapshot): Uint8Array[] {
    let views = this.macViews.get(s.mac.buffer);
    if (!views) this.macViews.set(s.mac.buffer, (views = []));
    for (let i = views.length; i < s.count; i++) views.push(new Uint8Array(s.mac.buffer, s.mac.byteOffset + i * 6, 6));
    return views;
  }

  /** Route index for the IPv6 destination at buf[at .. at+16], or -1. */
  lookupV6(buf: Buffer, at: number): number {
    const d0 = buf.readInt32BE(at);
    const d1 = buf.readInt32BE(at + 4);
    const d2 = buf.readInt32BE(at + 8);
    const d3 = buf.readInt32BE(at + 12);
    const maps = this.v6Maps;
    const m = this.v6Masks;
    for (let i = 0; i < maps.length; i++) {
      const k = i * 4;
      const r = maps[i].get(d0 & m[k], d1 & m[k + 1], d2 & m[k + 2], d3 & m[k + 3]);
      if (r >= 0) return r;
    }
    return -1;
  }

  /** Peer id of an IPv6 underlay source address (four host-order words), or -1 for a stranger. */
  peerOfSourceV6(w0: number, w1: number, w2: number, w3: number): number {
    return this.v6Peers.get(w0, w1, w2, w3);
  }

  /** Route index for an IPv4 destination (host order), or -1. */
  lookupV4(dst: number): number {
    const maps = this.v4Maps;
    for (let i = 0; i < maps.length; i++) {
      const r = maps[i].get(dst & this.v4Masks[i]);
      if (r >= 0) return r;
    }
    return -1;
  }

  /** Peer id of an IPv4 underlay source address, or -1 for a stranger. */
  peerOfSourceV4(src: number): number {
    return this.v4Peers.get(src);
  }
}

/** `map` emptied when it holds `count` keys well, else a new one. */
function reuse<M extends Int32Map | Ipv6Map>(map: M | undefined, count: number, make: () => M): M {
  if (!map?.fits(count)) return make();
  map.clear();
  return map;
}
