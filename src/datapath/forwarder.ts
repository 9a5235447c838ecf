// What a shard's loop drives: the stages of one mode (router on a TUN, switch on a TAP) with
// their batches. The loop owns waiting, the table version and the memory report.
import type { BatchClock } from './batch-clock.js';
import type { ShardCounters } from './counters.js';
import type { FlowDecider } from './policy/flow-decider.js';
import type { OwnPods } from './same-node-hairpin.js';
import type { ShardConfig } from './shard-config.js';
import type { TableSnapshot } from './shared-table.js';
import type { TraceWriter } from './trace-ring.js';
import type { UdpSocket } from './udp-socket.js';

export interface Forwarder {
  /** A new table version; allocates, on a change only. */
  adopt(table: TableSnapshot): void;
  /** A new compiled NetworkPolicy. */
  adoptPolicy?(decider: FlowDecider): void;
  /** Our pod CIDRs changed (router mode with NetworkPolicy: traffic between two of them is judged). */
  adoptOwnPods?(pods: OwnPods): void;
  /** Reads a batch from the TUN/TAP queue and sends what it can toward peers. */
  fromTun(): void;
  /** Receives a batch from the socket of one underlay family and writes what it accepts to the queue. */
  fromPeers(socket: UdpSocket): void;
}

/** What every forwarder gets from its shard. */
export interface ShardParts {
  cfg: ShardConfig;
  /** The wake's time, current for every batch the loop forwards (ClockSlot). */
  clock: BatchClock;
  counters: ShardCounters;
  trace: TraceWriter;
  /** The UDP sockets on the IPv4 and the IPv6 underlay; undefined for a family we do not use. */
  udp: UdpSocket | undefined;
  udp6: UdpSocket | undefined;
}
