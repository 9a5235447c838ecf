// Longest-prefix match over a table snapshot, rebuilt when the table version changes.
// One hash map per distinct prefix length, probed from the longest: a cluster whose nodes all
// have /24s costs one probe per packet.
import { Int32Map } from './int32-map.js';
import type { TableSnapshot } from './shared-table.js';

export class RouteLookup {
  version = -1;
  /** Per route: underlay address words (host order), peer id, VTEP MAC as its own 6-byte view. */
  underlay: Uint32Array = new Uint32Array(0);
  peerId: Int32Array = new Int32Array(0);
  macs: Uint8Array[] = [];

  private v4Masks: Int32Array = new Int32Array(0);
  private v4Maps: Int32Map[] = [];
  private v4Peers: Int32Map = new Int32Map(0);

  /** Adopts a snapshot. Allocates, but only on a table change. */
  rebuild(s: TableSnapshot): void {
    this.version = s.version;
    this.underlay = s.underlay;
    this.peerId = s.peerId;
    this.macs = [];
    for (let i = 0; i < s.count; i++) this.macs.push(s.mac.subarray(i * 6, i * 6 + 6));

    const lengths = new Set<number>();
    for (let i = 0; i < s.count; i++) if (s.family[i] === 4) lengths.add(s.prefixLen[i]);
    const sorted = [...lengths].sort((a, b) => b - a);
    this.v4Masks = Int32Array.from(sorted, (len) => (len === 0 ? 0 : (0xffffffff << (32 - len)) | 0));
    this.v4Maps = sorted.map(() => new Int32Map(s.count));
    this.v4Peers = new Int32Map(s.count);
    for (let i = 0; i < s.count; i++) {
      if (s.family[i] === 4) this.v4Maps[sorted.indexOf(s.prefixLen[i])].set(s.prefix[i * 4], i);
      if (s.underlayFamily[i] === 4) this.v4Peers.set(s.underlay[i * 4], s.peerId[i]);
    }
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
