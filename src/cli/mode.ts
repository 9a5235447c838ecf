// What differs between router and switch mode around the one datapath: the device and its
// host setup, the datapath's settings for it, and what a new table changes on the host.
// run.ts starts both through this shape, in the same order.
import type { DatapathConfig } from '../datapath/datapath.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';

export type Undo = () => Promise<void> | void;

/** Our underlay addresses, their links, and the room each leaves for an inner packet (0: none). */
export interface Underlay {
  publicIP: string | undefined;
  publicIPv6: string | undefined;
  link4: { ifname: string; mtu: number } | undefined;
  link6: { ifname: string; mtu: number } | undefined;
  maxInnerV4: number;
  maxInnerV6: number;
}

/** The datapath settings a mode decides; the rest (sockets, VNI, port, …) are common. */
export type ModeDatapathConfig = Pick<DatapathConfig, 'tunFds' | 'ownMac' | 'ownMacV6' | 'tunAddressV4' | 'tunAddressV6' | 'maxPacket' | 'deviceMtu' | 'switch' | 'ownPods' | 'tunnelGso'>;

export interface Mode {
  /** Opens the device and sets up the host around it; each step's undo goes on `undo` as it is done. */
  open(undo: Undo[]): Promise<ModeDatapathConfig>;
  /** Brings the host in line with a new table (`self`: our node in it) before the shards get it. */
  apply(table: SubnetTable, self: NodeLease): Promise<void>;
  /** Once the shards forward on `table`: what the node's pods need from it. */
  applied(table: SubnetTable, self: NodeLease): Promise<void>;
  /** Pod CIDRs the kernel routes to their nodes without us (DirectRouting): the datapath leaves them out. */
  direct?(): ReadonlySet<string>;
  /** What the "ready" log line tells of this mode. */
  describe(): Record<string, unknown>;
}
