// What the main thread hands a shard: fds it opened, shared memory, and settings turned into
// numbers and bytes once, at startup. Structured-cloneable (it travels as workerData).
export interface ShardConfig {
  index: number;
  tunFd: number;
  udpFd: number;
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
  ownMac: Uint8Array;
  /** Our TUN address (host order): the source of ICMP errors we answer. */
  tunAddressV4: number;
  /** Largest inner IPv4 packet the underlay carries once encapsulated. */
  maxInnerV4: number;
  batchSize: number;
  slotSize: number;
}

export const ControlWord = Object.freeze({ stop: 0 });
export const CONTROL_WORDS = 4;
