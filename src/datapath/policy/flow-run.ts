// A run of one flow in a batch (a TCP stream's segments): a packet whose addresses, ports and
// protocol are, byte for byte, those of the previous packet the stage judged, and whose headers
// change no connection state, is that packet's flow in the same direction, so it takes that
// packet's verdict without readFlow and without building the connection's key. The comparison
// reads whole 32-bit words where the headers are (RFC 791 §3.1, RFC 8200 §3, RFC 793 §3.1,
// RFC 768). Only TCP and UDP packets start a run; anything the checks below do not recognise
// takes the full parse, which still matches it with the previous packet by its key.
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_HEADER_MIN, IPV6_HEADER_LEN } from '../../packet/constants.js';
import { TCP_FIN, TCP_RST, TCP_SYN, type FlowTuple } from '../../packet/flow-tuple.js';

const STATE_FLAGS = TCP_FIN | TCP_SYN | TCP_RST;
const TCP_FLAGS_AT = 13;
/** readFlow's minimum transport bytes of a packet's own (unquoted) TCP header: up to the flags byte; of UDP: the header. */
const TCP_NEED = TCP_FLAGS_AT + 1;
const UDP_NEED = 8;
/** The IPv4 flags and fragment offset word without DF: MF (0x2000) and the offset (0x1fff). */
const IPV4_FRAGMENT_BITS = 0x3fff;
const IPV4_SRC = 12;
const IPV6_SRC = 8;
const IPV6_NEXT_HEADER = 6;

/** One DataView per slab, made at a batch's first use of it: none per packet. */
const views = new WeakMap<Buffer, DataView>();

export class FlowRun {
  /** Whether the previous packet can be continued: a TCP or UDP packet of its own flow (remember()). */
  private open = false;
  private version = 0;
  private protocol = 0;
  private need = 0;
  /** The previous packet's source and destination address words as on the wire (IPv4: 2, IPv6: 8), then its ports word. */
  private readonly words = new Int32Array(9);
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  /** Before a batch: its slab, and no previous packet. */
  begin(slab: Buffer): void {
    let view = views.get(slab);
    if (!view) {
      view = new DataView(slab.buffer, slab.byteOffset, slab.length);
      views.set(slab, view);
    }
    this.view = view;
    this.open = false;
  }

  /** No packet continues the previous one (it changed the table in a way a run must not skip). */
  close(): void {
    this.open = false;
  }

  /**
   * The packet at buf[off] (this batch's slab), which readFlow has just read into `t` as a packet
   * of its own flow with every length checked, may start a run.
   */
  remember(buf: Buffer, off: number, t: FlowTuple): void {
    const protocol = t.protocol;
    this.open = protocol === IPPROTO_TCP || protocol === IPPROTO_UDP;
    if (!this.open) return;
    const v = this.view;
    const w = this.words;
    this.version = buf[off] >>> 4;
    this.protocol = protocol;
    this.need = protocol === IPPROTO_TCP ? TCP_NEED : UDP_NEED;
    if (this.version === 4) {
      w[0] = v.getInt32(off + IPV4_SRC);
      w[1] = v.getInt32(off + IPV4_SRC + 4);
    } else for (let k = 0; k < 8; k++) w[k] = v.getInt32(off + IPV6_SRC + 4 * k);
    // The ports as read from the transport header, big-endian (an IPv6 packet's may follow extension headers).
    w[8] = (t.srcPort << 16) | t.dstPort;
  }

  /**
   * Whether the IP packet at buf[off], `avail` bytes at most, continues the run: readFlow would read
   * it as FLOW_OWN with the previous packet's tuple, not a first fragment, no SYN, FIN or RST, so
   * the stage's key compare (sameAsPrevious) would find it the previous packet's flow and direction.
   * Each check below is the one of readFlow it stands for; false only sends it to readFlow.
   */
  continues(buf: Buffer, off: number, avail: number): boolean {
    // readFlow: `off + len > buf.length` is truncated; every read below is within off + avail.
    if (!this.open || avail < IPV4_HEADER_MIN || off + avail > buf.length) return false;
    const v = this.view;
    const w = this.words;
    const protocol = this.protocol;
    const first = buf[off];
    let at: number;
    if (this.version === 4) {
      if (first >>> 4 !== 4) return false;
      const ihl = (first & 0x0f) << 2;
      const total = (buf[off + 2] << 8) | buf[off + 3];
      // readIpv4: ihl ≥ 20, ihl ≤ total ≤ len; readTransport: total − ihl ≥ the transport's need.
      if (ihl < IPV4_HEADER_MIN || total > avail || total - ihl < this.need) return false;
      if (buf[off + 9] !== protocol) return false;
      // An offset makes a later fragment (no ports), MF a first fragment (the stage stores its datagram's entry).
      if ((((buf[off + 6] << 8) | buf[off + 7]) & IPV4_FRAGMENT_BITS) !== 0) return false;
      if (v.getInt32(off + IPV4_SRC) !== w[0] || v.getInt32(off + IPV4_SRC + 4) !== w[1]) return false;
      at = off + ihl;
    } else {
      if (first >>> 4 !== 6 || avail < IPV6_HEADER_LEN) return false;
      const payload = (buf[off + 4] << 8) | buf[off + 5];
      // readIpv6: 40 + payload ≤ len; readTransport: the payload holds the transport's need.
      if (IPV6_HEADER_LEN + payload > avail || payload < this.need) return false;
      // The transport right after the fixed header: no extension header, so no Fragment header either
      // (a chain takes the full parse, ipv6UpperLayer).
      if (buf[off + IPV6_NEXT_HEADER] !== protocol) return false;
      for (let k = 0; k < 8; k++) if (v.getInt32(off + IPV6_SRC + 4 * k) !== w[k]) return false;
      at = off + IPV6_HEADER_LEN;
    }
    if (v.getInt32(at) !== w[8]) return false;
    // readTransport reads the flags of TCP only; a state flag changes the connection (nextState).
    return protocol !== IPPROTO_TCP || (buf[at + TCP_FLAGS_AT] & STATE_FLAGS) === 0;
  }
}
