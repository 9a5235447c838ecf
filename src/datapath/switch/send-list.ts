// Datagrams waiting for one sendmmsg over one socket: spans of a slab and where each goes. A
// flood puts one span in the list once per peer (head-end replication without a copy); a full
// list is sent at once and refilled, so a batch of floods costs a few crossings, not one a copy.
import type { UdpSocket } from '../udp-socket.js';

/** The native side's largest batch (kMaxBatch). */
const CAPACITY = 256;

export class SendList {
  readonly offsets = new Int32Array(CAPACITY);
  readonly lengths = new Int32Array(CAPACITY);
  readonly addrs = new Uint32Array(CAPACITY * 4);
  count = 0;
  /** Datagrams the socket refused since the last take. */
  failed = 0;

  constructor(
    private readonly socket: UdpSocket,
    private readonly slab: Buffer,
  ) {}

  /** Queues slab[off .. off+len] to the peer whose address words are addrs[a .. a+4]. */
  push(off: number, len: number, addrs: Uint32Array, a: number): void {
    if (this.count === CAPACITY) this.flush();
    const i = this.count++;
    this.offsets[i] = off;
    this.lengths[i] = len;
    const o = i * 4;
    this.addrs[o] = addrs[a];
    this.addrs[o + 1] = addrs[a + 1];
    this.addrs[o + 2] = addrs[a + 2];
    this.addrs[o + 3] = addrs[a + 3];
  }

  flush(): void {
    if (this.count === 0) return;
    const sent = this.socket.send(this.slab, this.offsets, this.lengths, this.addrs, this.count);
    this.failed += this.count - sent;
    this.count = 0;
  }
}
