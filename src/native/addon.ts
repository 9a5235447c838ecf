// The TypeScript face of native/: every syscall on the datapath goes through these calls.
// Each call moves a batch; buffers, size and address arrays are owned by the caller and reused.
import { createRequire } from 'node:module';

export { WHOLE_WORDS, WholeWord } from './whole-tso.js';

/** tunOpen flags. */
export const TUN_TAP = 1; // IFF_TAP instead of IFF_TUN
export const TUN_MULTI_QUEUE = 2; // IFF_MULTI_QUEUE: one fd per queue
export const TUN_VNET_HDR = 4; // IFF_VNET_HDR: virtio_net_hdr before each packet
export const TUN_TSO = 8; // TUNSETOFFLOAD checksum + TSO4/6 (+ USO4/6 where the kernel has it): reads may be TCP or UDP packets of up to 64 KiB

/** readBatch / writeBatch flags for a queue opened with TUN_VNET_HDR. */
export const IO_VNET_HDR = 1; // strip (read, cutting TSO packets into segments) or prepend (write) the virtio_net_hdr
export const IO_COALESCE = 2; // write runs of TCP segments (or same-size UDP datagrams) of one flow as one GSO packet
export const IO_ETHERNET = 8; // a TAP: the packets are Ethernet frames
/** What readBatch with IO_VNET_HDR needs beyond a slot: room for a 64 KiB packet; and its state words. */
export const SEGMENT_SCRATCH_EXTRA = 65_536;
export const SEGMENT_STATE_WORDS = 12;
/** pending: segments wait; tsoPackets, usoPackets: the TCP and the UDP GSO packets read. */
export const SegmentState = Object.freeze({ pending: 0, tsoPackets: 5, usoPackets: 9, wholeMorePackets: 11 });
/** writeBatch flag: finish inner TCP/UDP checksums a kernel peer left unfinished (only the pseudo-header sum), counted in stats[1]. */
export const IO_FINISH_CHECKSUMS = 16;
/** Why readBatch with IO_VNET_HDR dropped a read: its size is minus one of these (native/src/tso_split.h ReadDrop). */
export const ReadDrop = Object.freeze({ badVnetHdr: 1, badGso: 2, badTsoHeaders: 3, oversize: 4 });

/** A ring from tunRingOpen; closed when collected. */
export type TunRing = { readonly __brand: 'TunRing' };
/** readBatch's ring counters: packets read ahead and not handed out yet; io_uring_enter calls and reads submitted in the call. */
export const RING_STATS_WORDS = 3;
export const RingStats = Object.freeze({ buffered: 0, enters: 1, reads: 2 });
/** The bytes of a virtio_net_hdr in front of each packet of a queue with IFF_VNET_HDR (include/uapi/linux/virtio_net.h). */
export const VNET_HDR_BYTES = 10;

/**
 * sendBatch's state words, one set per socket (native/src/udp.cc UdpState). gso: 1 while runs of
 * datagrams leave as UDP GSO messages. offErrno: why it is off (the probe's errno: for good; EIO:
 * tried again after backoffMs, at `at`, CLOCK_MONOTONIC ms mod 2^32). changes: bumped at every switch. gsoRuns, unsupportedRuns (refused
 * with EIO) and tooLargeRuns (refused as too large for their route, GSO stays on): counts the caller
 * takes and zeroes; a refused run's datagrams are sent again one at a time.
 */
export const UDP_STATE_WORDS = 8;
export const UdpState = Object.freeze({ gso: 0, offErrno: 1, backoffMs: 2, at: 3, changes: 4, gsoRuns: 5, unsupportedRuns: 6, tooLargeRuns: 7 });

/**
 * sendBatch's tunnel-GSO state words (native/src/tunnel_gso_send.h TunnelState), one set per shard
 * and family, filled by tunnelGsoConfigure. on: 1 while runs go to the egress TAP (the caller sets
 * it). frames, segments (the datagrams those frames stand for), fallbacks (failed TAP writes, sent
 * with sendmmsg), unfit (runs that failed the check): counts the caller takes and zeroes;
 * lastErrno: the last failed write's. Of the frames, wholeFrames carried a TSO packet read whole
 * (src/native/send-whole.ts); wholeCut counts such packets cut at the send instead; singles the lone
 * datagrams written through the TAP as they are (taken and zeroed too).
 */
export const TUNNEL_STATE_WORDS = 83;
export const TunnelState = Object.freeze({ on: 0, frames: 4, segments: 5, fallbacks: 6, unfit: 7, lastErrno: 8, wholeFrames: 80, wholeCut: 81, singles: 82 });

/**
 * recvBatch with a receive area: each recvmmsg message has 64 KiB, so that a UDP GRO buffer or a
 * kernel peer's unsegmented tunnel GSO packet arrives whole and is cut into one VXLAN datagram per
 * slot (native/src/udp_gro.h). The state words keep what is not cut yet between calls:
 * state[messages] > 0 while some is; state[groBuffers] counts the messages that held more than
 * one datagram, state[wholeTsos] the inner TSO packets left whole in one slot and
 * state[wholePackets] the segments those stand for (the caller takes and zeroes these three).
 */
export const RECV_SCRATCH_BYTES = 64 * 65_536;
export const RECV_STATE_WORDS = 6 + 6 * 64;
export const RecvState = Object.freeze({ messages: 0, groBuffers: 3, wholeTsos: 4, wholePackets: 5 });

export interface TunHandle {
  fd: number;
  /** The device name the kernel gave (same as asked unless the name had a %d). */
  name: string;
  /** TUN_TSO asked, and the kernel took USO4/6 too (Linux 6.2): UDP_SEGMENT sends arrive whole. */
  uso: boolean;
}

export interface Addon {
  /** Opens (creating if absent) a TUN/TAP queue with IFF_NO_PI. fd is non-blocking, close-on-exec. */
  tunOpen(name: string, flags: number): TunHandle;
  /**
   * Reads up to `count` packets: packet i goes to slab[i * slotSize + offset], at most
   * slotSize - offset bytes, and its length to sizes[i] (negative: dropped, −ReadDrop).
   * Stops at EAGAIN. Returns how many were read. `flags`: IO_VNET_HDR, IO_ETHERNET. With IO_VNET_HDR
   * a TCP or UDP packet of up to 64 KiB is read into `scratch` (slotSize − offset + SEGMENT_SCRATCH_EXTRA
   * bytes) and cut into MSS-sized segments or gso_size datagrams; what does not fit waits there, noted in `state`
   * (SEGMENT_STATE_WORDS; state[0] > 0 while segments are pending), for the next call; state[5]
   * counts the TSO packets taken in, state[9] the USO (UDP) ones (the caller resets both).
   * `whole` (a TUN only; WHOLE_SEND_WORDS per slot): a TSO packet that may be sent whole is not
   * cut: its slot holds its first segment and the slot's words what it stands for, the packet
   * waiting in `scratch` (then wholeSendScratchBytes(slotSize) long) until the next call (src/native/send-whole.ts);
   * state[11] adds the segments such packets stand for beyond one each (the caller resets it).
   */
  readBatch(fd: number, slab: Buffer, slotSize: number, offset: number, count: number, sizes: Int32Array, flags?: number, scratch?: Buffer, state?: Int32Array, ring?: TunRing, ringStats?: Int32Array, whole?: Int32Array): number;
  /**
   * A ring for batched TUN reads (native/src/tun_ring.h): readBatch with it reads up to 32 packets
   * in one io_uring_enter, each of up to `regionSize` bytes (at least what the slot, and with
   * IO_VNET_HDR the header and scratch, take). Throws with the errno's code when io_uring is unavailable.
   */
  tunRingOpen(regionSize: number): TunRing;
  /** 0 when tunRingOpen can work here, else the errno that refuses io_uring (ENOSYS 38, EPERM 1). */
  tunRingProbe(): number;
  /**
   * Writes packets slab[offsets[i] .. + lengths[i]] for i < count; a failed packet is skipped.
   * Returns how many were written; adds the write syscalls made to stats[0] and, with
   * IO_FINISH_CHECKSUMS, the checksums finished to stats[1]. `flags`: IO_VNET_HDR, IO_COALESCE, IO_ETHERNET, IO_FINISH_CHECKSUMS.
   * `whole`, `area`, `slotSize` (with IO_VNET_HDR | IO_COALESCE on a TUN): the words recvBatch
   * wrote beside slab's slots of `slotSize` bytes and its receive area; a packet that is the first
   * segment of a TSO packet left whole (checked again here) goes as that whole packet, one GSO
   * write, counted in stats[2]; one the kernel refuses adds the segments it stands for beyond its
   * one packet to stats[3].
   */
  writeBatch(fd: number, slab: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, flags?: number, stats?: Int32Array, whole?: Int32Array, area?: Buffer, slotSize?: number): number;

  /** A blocking UDP socket bound to bindAddr:port with SO_REUSEPORT, close-on-exec. family 6 sets IPV6_V6ONLY. */
  udpOpen(family: 4 | 6, bindAddr: string, port: number): number;
  /**
   * A UDP socket that only sends, close-on-exec, bound to bindAddr and a port the kernel picks in
   * ip_local_port_range (IPV6_V6ONLY for 6). A socket filter drops whatever it receives before its
   * queue (counted as the socket's drops in /proc/net/udp), so unread datagrams take no memory.
   */
  udpOpenSender(family: 4 | 6, bindAddr: string): number;
  /** The local port a socket is bound to. Only tests call it: they bind port 0 so that runs never collide. */
  localPort(fd: number): number;
  /**
   * At most one recvmmsg(MSG_DONTWAIT) per call, of whole messages into `scratch`
   * (RECV_SCRATCH_BYTES), cut into up to `count` VXLAN datagrams laid out as readBatch does: a
   * UDP GRO buffer at its gso_size, a VXLAN datagram carrying a TSO packet into TCP segments of at
   * most `maxInner` bytes of inner IP packet. What does not fit the slots waits in `scratch`,
   * noted in `state` (RECV_STATE_WORDS), for the next call. The source address of datagram i goes
   * to addrs[4i .. 4i+3] as host-order 32-bit words (IPv4: word 0 only, the rest 0). A message
   * that does not check out (truncated, larger than a slot and not a TSO packet, lengths that
   * disagree) fills one slot with size -1. Returns how many slots were filled (0: none waiting).
   * `whole` (WHOLE_WORDS per slot; only when the caller's TUN takes GSO writes): a TSO packet of
   * only ACK / ACK|PSH segments is not cut; its slot gets its first segment, and the words say so
   * (see WholeWord) until the next call, when the receive area is reused.
   */
  recvBatch(fd: number, slab: Buffer, slotSize: number, offset: number, count: number, sizes: Int32Array, addrs: Uint32Array, scratch: Buffer, state: Int32Array, maxInner: number, whole?: Int32Array): number;
  /** Sets UDP_GRO on a socket: coalesced datagrams arrive as one buffer with their gso_size. Returns 0, or setsockopt's errno. */
  udpGro(fd: number): number;
  /** Fills a socket's state (UDP_STATE_WORDS): GSO on when the kernel knows UDP_SEGMENT. Returns 0, or getsockopt's errno. */
  udpGsoProbe(fd: number, state: Int32Array): number;
  /**
   * sendmmsg of datagram i = slab[offsets[i] .. + lengths[i]] to addrs[4i..] port `port`; runs to
   * one peer of one length leave as UDP GSO messages while state says so (see UdpState). A refused
   * run is resent one datagram at a time; other failures are skipped. Returns how many were sent.
   * `fds`: one socket, or up to 64 sending sockets: each VXLAN datagram then leaves from the one its
   * inner flow (addresses, protocol, ports behind the inner Ethernet header) hashes to, so one flow
   * keeps one source port and its order, and flows spread over the sockets' ports.
   * `whole`, `area`, `slotSize`: the words readBatch wrote beside the slots and its scratch: a
   * datagram whose slot stands for a whole TSO packet leaves as one tunnel-GSO frame of the whole
   * packet, or cut into its segments as the read would have cut it. Counts packets (segments).
   */
  sendBatch(fds: number | Int32Array, family: 4 | 6, slab: Buffer, offsets: Int32Array, lengths: Int32Array, addrs: Uint32Array, port: number, count: number, state: Int32Array, tunnel?: Int32Array, whole?: Int32Array, area?: Buffer, slotSize?: number): number;
  /**
   * `tunnel` of sendBatch (TUNNEL_STATE_WORDS, off until the caller sets `on`): this shard's queue
   * of the egress TAP (opened TUN_TAP | TUN_VNET_HDR, tapTunnelVnetHdr), the TAP's MAC, our underlay
   * address of `family`, the source port of each of sendBatch's fds in order, and the longest
   * datagram one segment may be (underlay MTU − outer IP − 8). While on, runs sendBatch would send
   * as one UDP GSO message leave as ONE tunnel-GSO frame each when the kernel's TCP segmentation
   * would cut them back out exactly (native/src/tunnel_gso_frame.h); a failed write sends the run
   * with sendmmsg.
   */
  tunnelGsoConfigure(state: Int32Array, family: 4 | 6, tapFd: number, tapMac: string, localAddr: string, ports: Int32Array, maxDatagram: number): void;
  /** Sets a TAP queue's vnet header to the 24 bytes of tunnel GSO (TUNSETVNETHDRSZ). Returns 0 or the errno. */
  tapTunnelVnetHdr(fd: number): number;
  /** Writes one tunnel-GSO frame, made by the send's own code, that the kernel takes and drops (not addressed to the TAP). Returns 0, or the write's errno (EINVAL: a kernel before 6.16). The TAP must be up. */
  tunnelGsoProbe(state: Int32Array): number;

  /** An eventfd (non-blocking, close-on-exec) used to wake a worker blocked in poll(). */
  eventfdOpen(): number;
  eventfdSignal(fd: number): void;
  eventfdDrain(fd: number): void;
  /**
   * poll() on fds[0 .. count-1] for readability. Returns a bitmask: bit i set when fds[i] is readable (or errored).
   * `spinUs` (0 … 1,000,000): first poll without blocking for that long, yielding the core between tries.
   */
  poll(fds: Int32Array, count: number, timeoutMs: number, spinUs?: number): number;
  /** An epoll set (close-on-exec) watching fds[0 .. count-1] (1 … 16) for readability; negative fds are left out. */
  epollOpen(fds: Int32Array, count: number): number;
  /**
   * As poll() over the set's fds (bit i: fds[i] of epollOpen), without re-arming each fd on every wait.
   * With `clock` (2 or more values), the wake's time goes into it: [0] wall-clock ms (Date.now()'s
   * clock), [1] monotonic ms (performance.now()'s clock, another origin).
   */
  epollWait(epfd: number, timeoutMs: number, spinUs?: number, clock?: Float64Array): number;
  close(fd: number): void;
  /** execv(2): becomes `path` run with `argv` (argv[0] included), same pid, environment and stdin/stdout/stderr; returns only by throwing. */
  exec(path: string, argv: string[]): never;
  /**
   * madvise(MADV_DONTFORK) over the whole pages of `words`' memory: children forked later (node's
   * child_process) do not get them, so fork does not write-protect them in this process. Returns
   * the bytes advised.
   */
  keepFromChildren(words: Int32Array): number;

  /**
   * RFC 1071: ones' complement of the ones' complement sum of buf[offset .. offset+length] plus seed
   * (a partial 32-bit sum). The datapath sums in C++ (tun_offload.cc); this entry point exists so
   * that tests can hold that word-at-a-time sum to the JavaScript reference.
   */
  checksum(buf: Buffer, offset: number, length: number, seed: number): number;
}

const require = createRequire(import.meta.url);

function load(): Addon {
  const path = new URL('../../../native/build/Release/vxroute.node', import.meta.url);
  try {
    return require(path.pathname) as Addon;
  } catch (err) {
    // Running from src/ under vitest: one level less.
    const fromSource = new URL('../../native/build/Release/vxroute.node', import.meta.url);
    try {
      return require(fromSource.pathname) as Addon;
    } catch {
      throw Object.assign(
        new Error('vxroute native addon is not built: run `npm ci` (needs g++, make and python3)', { cause: err }),
        { code: 'VXR_ADDON_MISSING' },
      );
    }
  }
}

export const addon: Addon = load();
