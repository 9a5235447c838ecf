// What the main thread hands a shard: fds it opened, shared memory, and settings turned into
// numbers and bytes once, at startup. Structured-cloneable (it travels as workerData).
// In switch mode tunFd is a TAP queue and the router's MACs and addresses go unused.
import type { MessagePort } from 'node:worker_threads';
import type { OwnPods } from './same-node-hairpin.js';
import type { TunReads } from './tun-reads.js';
import type { TunnelGsoShard } from './udp-socket.js';

export interface ShardConfig {
  index: number;
  tunFd: number;
  /** UDP sockets on the IPv4 and the IPv6 underlay; -1 for a family we do not use. */
  udpFd: number;
  udp6Fd: number;
  /** The sending sockets of each family, shared by all shards (empty: shards send from udpFd / udp6Fd). */
  sendFds: number[];
  send6Fds: number[];
  /** Router mode's tunnel-GSO send path (--send-path); undefined when off. */
  tunnelGso: TunnelGsoShard | undefined;
  /** eventfd the main thread signals to wake the shard (stop, or a new table). */
  wakeFd: number;
  table: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  /** The packet trace's control words and this shard's ring (trace-ring.ts). */
  trace: SharedArrayBuffer;
  /** Int32 control words shared with the main thread, see ControlWord. */
  control: SharedArrayBuffer;
  workers: number;
  maxPeers: number;
  vni: number;
  port: number;
  /** Our VTEP MACs, for IPv4 and for IPv6 inner packets. */
  ownMac: Uint8Array;
  ownMacV6: Uint8Array;
  /** Our TUN addresses, the sources of ICMP errors we answer: IPv4 host order (0: none), IPv6 16 bytes (zeros: none). */
  tunAddressV4: number;
  tunAddressV6: Uint8Array;
  /** Largest inner packet the IPv4 / IPv6 underlay carries once encapsulated. */
  maxInnerV4: number;
  maxInnerV6: number;
  /** The TUN's (TAP's) MTU: a kernel peer's TSO packet is cut (or written whole) to segments no longer. */
  deviceMtu: number;
  batchSize: number;
  slotSize: number;
  /** The TUN/TAP queue has the offloads (virtio_net_hdr, TSO): reads cut TSO packets, writes coalesce runs. */
  tunOffload: boolean;
  /** After traffic, poll with timeout 0 for this many microseconds before a blocking poll (0: off). */
  busyPollUs: number;
  /** How the TUN/TAP queue is read (resolveTunReads decided, at start). */
  tunReads: TunReads;
  /** Switch mode's shared tables and settings; undefined in router mode. */
  switch: SwitchConfig | undefined;
  /** NetworkPolicy's shared connection table and compiled policy; undefined when the policy is off. */
  policy: PolicyConfig | undefined;
  /** Router mode: our pod CIDRs, whose packets the TUN hands us only when the policy steers them there; undefined in switch mode. */
  ownPods: OwnPods | undefined;
}

export interface PolicyConfig {
  conntrack: SharedArrayBuffer;
  /** The compiled policy in force when the shard starts. */
  compiled: SharedArrayBuffer;
  /** Later compiled policies arrive here (taken with receiveMessageOnPort), each announced by ControlWord.policy. */
  updates: MessagePort;
}

export interface SwitchConfig {
  fdb: SharedArrayBuffer;
  neighbours: SharedArrayBuffer;
  /** The neighbour table's cap (the FDB's is in its buffer). */
  neighboursMax: number;
  /** Answer ARP requests and neighbour solicitations for stations behind peers (--arp-proxy). */
  arpProxy: boolean;
  /** Largest frame written to the TAP: its MTU, the Ethernet header and one VLAN tag. */
  maxFrame: number;
}

/** stop: set once, to end the shards; policy: bumped after each compiled policy posted to them. */
export const ControlWord = Object.freeze({ stop: 0, policy: 1 });
export const CONTROL_WORDS = 4;
