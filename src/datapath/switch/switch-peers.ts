// The peers of switch mode, from the shared table: per peer node one underlay address to send
// to (IPv4 when both ends have it), listed for floods and indexed by peer id for unicast.
import type { TableSnapshot } from '../shared-table.js';

export class SwitchPeers {
  count = 0;
  /** Per listed peer: its id, its underlay family, its address words (4 per peer). */
  ids: Int32Array = new Int32Array(0);
  family: Int32Array = new Int32Array(0);
  addrs: Uint32Array = new Uint32Array(0);
  /** Peer id → index in the list, or -1. */
  private readonly index: Int32Array;

  constructor(maxPeers: number) {
    this.index = new Int32Array(maxPeers).fill(-1);
  }

  /** Adopts a table: the first underlay address of each peer (the table lists IPv4 first). Allocates, on a change only. */
  rebuild(s: TableSnapshot): void {
    for (let i = 0; i < this.count; i++) this.index[this.ids[i]] = -1;
    const ids: number[] = [];
    const family: number[] = [];
    const addrs: number[] = [];
    for (let r = 0; r < s.count; r++) {
      if (s.family[r] !== 0 || this.index[s.peerId[r]] >= 0) continue;
      this.index[s.peerId[r]] = ids.length;
      ids.push(s.peerId[r]);
      family.push(s.underlayFamily[r]);
      for (let k = 0; k < 4; k++) addrs.push(s.underlay[r * 4 + k]);
    }
    this.ids = Int32Array.from(ids);
    this.family = Int32Array.from(family);
    this.addrs = Uint32Array.from(addrs);
    this.count = ids.length;
  }

  /** Index of a peer id in the list, or -1 for one no longer in the table. */
  indexOf(peerId: number): number {
    return this.index[peerId];
  }
}
