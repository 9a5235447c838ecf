// What one message read from the underlay socket holds when it is larger than one VXLAN datagram,
// and how it is cut into one VXLAN datagram per receive slot. Pure functions over buffers (udp.cc
// makes the syscalls), so that native/fuzz/udp_gro_fuzz.cc can drive them with any bytes.
// Two kinds reach a socket whole: a UDP GRO buffer (udp(7) UDP_GRO: a peer's UDP GSO run, or
// datagrams the kernel coalesced, cut every gso_size bytes), and one VXLAN datagram whose inner
// TCP packet is a TSO packet (a kernel peer's UDP tunnel GSO, carried unsegmented across a veth
// with tx offload on; the socket gets no gso_size for it). Where the TUN takes GSO writes, such a
// TSO packet is not cut: one slot holds its first segment for the JavaScript stages to judge, and
// the write sends the packet whole from the receive area (received_whole.h); so is a UDP GRO
// buffer whose datagrams are consecutive TCP segments of one flow (a vxroute peer's run).
#pragma once

#include "gso_coalesce.h"
#include "tso_split.h"

#include <cstddef>
#include <cstdint>

namespace vxroute {

constexpr uint32_t kVxlanHeaderLength = 8;  // RFC 7348 §5
// The shortest datagram a UDP GRO buffer is cut into: VXLAN, Ethernet and an IPv4 header.
constexpr uint32_t kMinGroSegment = kVxlanHeaderLength + 14 + 20;

enum class Received : uint8_t {
  kDrop,       // a length or header that does not check out: dropped as one oversize datagram
  kDatagrams,  // `segments` datagrams of `stride` bytes each, the last possibly shorter
  kInnerTso,   // one VXLAN header in front of a TSO packet, cut as `inner` says
  kWholeTso,   // the same, left whole: one slot gets its first segment (WholeTsoEligible)
  kWholeRun,   // kDatagrams that are one TCP run (PlanDatagramRun), left whole: one slot gets the first
};

struct ReceivedPlan {
  Received kind;
  uint32_t length;    // of the message
  uint32_t segments;  // slots it fills
  uint32_t stride;    // kDatagrams, kWholeRun: bytes per datagram
  TsoPlan inner;      // kInnerTso, kWholeTso: lengths from the inner Ethernet frame, kVxlanHeaderLength bytes in
};

// Plans message `d` of `len` bytes (len < 0: truncated by the kernel), received with `gsoSize`
// from the UDP_GRO control message (0: none). Every segment must fit `room` bytes; an inner TSO
// packet is cut into segments of at most `maxInner` bytes of IP packet (the sender's MSS is not
// on the wire: the underlay's inner MTU gives what a sender on it would have used). `whole`: the
// TUN takes GSO writes, so an eligible inner TSO packet is planned kWholeTso and a GRO buffer that
// is one TCP run kWholeRun (one slot each).
ReceivedPlan PlanReceived(const uint8_t* d, int64_t len, uint32_t gsoSize, size_t room, uint32_t maxInner, bool whole = false);

// The inner TSO packet of message `d` (len > kVxlanHeaderLength bytes, a VXLAN header first) cut
// into segments of at most `maxInner` bytes of IP packet, each fitting `room` bytes behind the
// VXLAN header: false when a header or length does not check out.
bool PlanInnerTso(const uint8_t* d, uint32_t len, size_t room, uint32_t maxInner, TsoPlan* inner);

// Whether a checked inner TSO packet may go to the TUN whole: at least two segments; an untagged
// inner frame (a TAP's write carries it in front of the whole, as FindWholeFrames expects); TCP flags
// ACK or ACK|PSH only, so that the first segment the policy judges changes no connection state that
// a later one would (a FIN, RST or SYN is cut as before and each segment judged); and its checksum
// field the pseudo-header sum of the whole, as a sender's TCP leaves it for segmentation
// (CHECKSUM_PARTIAL, __tcp_v4_send_check): a packet that crossed a wire carries a full sum, and
// is cut and summed instead.
bool WholeTsoEligible(const uint8_t* d, const TsoPlan& inner);

// Bytes in front of a datagram's inner IP packet: VXLAN and an untagged inner Ethernet header.
constexpr uint32_t kDatagramInnerAt = kVxlanHeaderLength + 14;

// A UDP GRO buffer whose datagrams the kernel's TCP segmentation would cut back out of one GSO
// packet: the rules of gso_coalesce.h's ParseSegment and SameFlow (TCP with ACK or ACK|PSH, same
// addresses, ports, ack, options, TOS / traffic class, flow label, TTL, DF), plus the same VXLAN
// and inner Ethernet header, the same window (tcp_gro_receive flushes on a new one), contiguous
// sequence numbers, equal payloads but a shorter last, PSH only on the last, at most
// kMaxRunPackets datagrams and 65,535 bytes of IP packet for the whole.
struct DatagramRun {
  Segment head;        // the first datagram's inner packet (frame: its Ethernet header, l2 14)
  uint32_t datagrams;  // ≥ 2
  uint32_t payload;    // TCP payload of all of them
  bool psh;            // the last one's
};

// Checks message `d` of `len` bytes as datagrams of `stride` bytes (the last possibly shorter) and
// fills `run`; with `sum`, also every datagram's TCP checksum (each carries a full one; a bad one
// must reach the pod as it is, so such a buffer is cut as before). Reads only `d[0, len)`.
bool PlanDatagramRun(const uint8_t* d, uint32_t len, uint32_t stride, bool sum, DatagramRun* run);

// Writes segment i < plan.segments of the message to `out` (room bytes); returns its length. For
// kWholeTso, the first segment with its checksum left partial (the payload is not summed); for
// kWholeRun, the first datagram.
uint32_t CutReceived(const uint8_t* d, const ReceivedPlan& plan, uint32_t i, uint8_t* out);

}  // namespace vxroute
