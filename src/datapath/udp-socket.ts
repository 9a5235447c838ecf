// A shard's UDP socket on one underlay family: batches in and out, and its UDP GSO state (probed
// at start, switched by the native send on what the route answers), which it mirrors into the
// counters and reports to the main thread when it changes. Datagrams leave from the family's
// sending sockets, one per inner flow (native/src/flow_hash.h), so that peers' RSS and
// SO_REUSEPORT spread our flows over their shards as they spread a kernel VXLAN's.
import { addon, RECV_SCRATCH_BYTES, RECV_STATE_WORDS, RecvState, TUNNEL_STATE_WORDS, TunnelState, UDP_STATE_WORDS, UdpState } from '../native/addon.js';
import { Direction, type ShardCounters } from './counters.js';
import type { PacketBatch } from './packet-batch.js';

/** Told when GSO goes on or off: the errno that turned it off, and when it is tried again (0: never). */
export type GsoReporter = (family: 4 | 6, on: boolean, errno: number, retryMs: number) => void;

/**
 * The tunnel-GSO send path as a shard gets it (either mode, src/net/tunnel-gso-tap.ts): its queue
 * of the egress TAP, the TAP's MAC, the words that say per family whether the path is on ([0]
 * IPv4, [1] IPv6; the main thread clears one when the forward hook drops the frames), and per
 * family our underlay address and the longest datagram one segment may be.
 */
export interface TunnelGsoShard {
  tapFd: number;
  mac: string;
  on: SharedArrayBuffer;
  v4: { local: string; maxDatagram: number } | undefined;
  v6: { local: string; maxDatagram: number } | undefined;
}

export class UdpSocket {
  private readonly state = new Int32Array(UDP_STATE_WORDS);
  private changes = 0;
  /** Whole messages as received (UDP GRO buffers, unsegmented tunnel GSO packets) before they are cut into slots. */
  private readonly scratch = Buffer.allocUnsafeSlow(RECV_SCRATCH_BYTES);
  private readonly recvState = new Int32Array(RECV_STATE_WORDS);

  /** The sockets datagrams leave from: the sending sockets, else the receiving one. */
  private readonly sendFds: Int32Array;
  /** The tunnel-GSO state words (undefined: the path is not set up for this family), and the shared word that turns it on. */
  private readonly tunnel: Int32Array | undefined;
  private readonly tunnelOn: Int32Array | undefined;

  /**
   * `maxInner`: the longest inner IP packet this underlay carries, the size an unsegmented TSO
   * packet is cut to. `sendFds`: the family's sending sockets, shared by every shard so that a
   * flow keeps its source port whichever shard reads it (none: send from `fd`).
   */
  constructor(
    readonly fd: number,
    readonly family: 4 | 6,
    private readonly port: number,
    private readonly maxInner: number,
    private readonly counters: ShardCounters,
    private readonly report: GsoReporter,
    sendFds: readonly number[] = [],
    tunnelGso?: TunnelGsoShard,
  ) {
    this.sendFds = sendFds.length > 0 ? Int32Array.from(sendFds) : Int32Array.of(fd);
    const outer = family === 4 ? tunnelGso?.v4 : tunnelGso?.v6;
    if (tunnelGso && outer) {
      this.tunnel = new Int32Array(TUNNEL_STATE_WORDS);
      const ports = this.sendFds.map((s) => addon.localPort(s));
      addon.tunnelGsoConfigure(this.tunnel, family, tunnelGso.tapFd, tunnelGso.mac, outer.local, ports, outer.maxDatagram);
      this.tunnelOn = new Int32Array(tunnelGso.on, (family === 4 ? 0 : 1) * Int32Array.BYTES_PER_ELEMENT, 1);
    }
    const err = addon.udpGsoProbe(this.sendFds[0], this.state);
    counters.udpGso(family, err === 0);
    if (err !== 0) report(family, false, err, 0);
    // Best effort: without UDP_GRO (Linux < 5.0) the kernel segments GRO buffers itself.
    addon.udpGro(fd);
  }

  /**
   * One recvmmsg at most, cut into the batch's slots at `offset`; returns how many (0: none
   * waiting). `whole`: the caller's TUN takes GSO writes, so a kernel peer's TSO packet stays whole
   * in the receive area (b.whole says which slots stand for one) until the next receive; the caller
   * writes it with `area`.
   */
  receive(b: PacketBatch, offset: number, whole = false): number {
    const n = addon.recvBatch(this.fd, b.slab, b.slotSize, offset, b.capacity, b.sizes, b.addrs, this.scratch, this.recvState, this.maxInner, whole ? b.whole : undefined);
    const s = this.recvState;
    if (s[RecvState.groBuffers] !== 0) {
      this.counters.groBuffers(this.family, s[RecvState.groBuffers]);
      s[RecvState.groBuffers] = 0;
    }
    if (s[RecvState.wholeTsos] !== 0) {
      this.counters.morePackets(Direction.udp, s[RecvState.wholePackets] - s[RecvState.wholeTsos]);
      s[RecvState.wholeTsos] = s[RecvState.wholePackets] = 0;
    }
    return n;
  }

  /** Where the whole TSO packets of the last receive wait, for the TUN write. */
  get area(): Buffer {
    return this.scratch;
  }

  /** Whether received datagrams wait to be cut into slots: receive again before polling. */
  get pending(): boolean {
    return this.recvState[RecvState.messages] > 0;
  }

  /** Whether the tunnel-GSO path of this family is on now (the main thread turns it off at run time). */
  get tunnelPathOn(): boolean {
    return this.tunnelOn !== undefined && Atomics.load(this.tunnelOn, 0) === 1;
  }

  /**
   * Sends slab spans to their address words; returns how many packets left (a span whose slot
   * stands for a whole TSO packet counts its segments). `from`, `area`: the batch the spans were
   * read into and the TUN read's area, when the read kept TSO packets whole (TunQueue.read).
   */
  send(slab: Buffer, offsets: Int32Array, lengths: Int32Array, addrs: Uint32Array, count: number, from?: PacketBatch, area?: Buffer): number {
    const s = this.state;
    const t = this.tunnel;
    if (t) t[TunnelState.on] = Atomics.load(this.tunnelOn!, 0);
    const sent = from && area
      ? addon.sendBatch(this.sendFds, this.family, slab, offsets, lengths, addrs, this.port, count, s, t, from.whole, area, from.slotSize)
      : addon.sendBatch(this.sendFds, this.family, slab, offsets, lengths, addrs, this.port, count, s, t);
    if (t && (t[TunnelState.frames] | t[TunnelState.fallbacks] | t[TunnelState.unfit] | t[TunnelState.wholeCut] | t[TunnelState.singles]) !== 0) {
      this.counters.tunnelGso(this.family, t[TunnelState.frames], t[TunnelState.segments], t[TunnelState.fallbacks], t[TunnelState.unfit], t[TunnelState.wholeFrames], t[TunnelState.wholeCut], t[TunnelState.singles]);
      t[TunnelState.frames] = t[TunnelState.segments] = t[TunnelState.fallbacks] = t[TunnelState.unfit] = 0;
      t[TunnelState.wholeFrames] = t[TunnelState.wholeCut] = t[TunnelState.singles] = 0;
    }
    if ((s[UdpState.gsoRuns] | s[UdpState.unsupportedRuns] | s[UdpState.tooLargeRuns]) !== 0) {
      this.counters.udpRuns(this.family, s[UdpState.gsoRuns], s[UdpState.unsupportedRuns], s[UdpState.tooLargeRuns]);
      s[UdpState.gsoRuns] = s[UdpState.unsupportedRuns] = s[UdpState.tooLargeRuns] = 0;
    }
    if (s[UdpState.changes] !== this.changes) {
      this.changes = s[UdpState.changes];
      const on = s[UdpState.gso] === 1;
      this.counters.udpGso(this.family, on);
      this.report(this.family, on, s[UdpState.offErrno], s[UdpState.backoffMs]);
    }
    return sent;
  }
}
