// What the HTTP endpoint reads of a running datapath (the Datapath class provides it).
import type { FdbRow } from '../datapath/datapath.js';
import type { TraceReader } from '../datapath/trace-ring.js';
import type { SubnetTable } from '../subnets/subnet-table.js';
import type { CounterSnapshot, PeerCounters } from '../datapath/counter-snapshot.js';

export interface DatapathView {
  /** Every counter; without the per-peer rows when `peers` is false. */
  counters(peers?: boolean): CounterSnapshot;
  /** Each peer's counters in table order, through one record reused from peer to peer. */
  peerRows(): Iterable<PeerCounters>;
  /** One node's counters written into `into`, summed over the workers; false when the node has no peer id. */
  peerCounters(name: string, into: PeerCounters): boolean;
  /** The table the shards forward on, and its version. */
  readonly table: SubnetTable;
  readonly version: number;
  readonly trace: TraceReader;
  peerId(name: string): number | undefined;
  peerName(id: number): string | undefined;
  /** "namespace/name" of the NetworkPolicy a trace entry names by index. */
  policyName(index: number): string | undefined;
  /** Switch mode's forwarding database and the proxy's neighbours; undefined in router mode. */
  fdbRows(): FdbRow[] | undefined;
  neighbourRows(): { ip: string; mac: string; ageSeconds: number }[] | undefined;
  /** Whether the datapath switches Ethernet frames (a TAP) rather than routing IP packets. */
  readonly switching: boolean;
}

export interface DaemonView {
  readonly nodeName: string;
  /** undefined until the datapath runs. */
  datapath(): DatapathView | undefined;
  /** Why the daemon is not ready, or undefined when it is. */
  notReady(): string | undefined;
}
