// A packet dropped: counted under its reason (as the packets its slot stands for: a whole TSO
// packet's segments), and its verdict kept for the packet trace.
import type { ShardCounters } from './counters.js';
import type { PacketBatch } from './packet-batch.js';

export function dropped(b: PacketBatch, i: number, reason: number, counters: ShardCounters): void {
  b.verdicts[i] = reason;
  counters.dropMany(reason, b.packetsOf(i));
}
