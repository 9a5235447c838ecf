// Cutting what the underlay socket hands over whole: UDP GRO buffers at their gso_size, inner TSO
// packets with the TUN read's TSO cutter (tso_split.cc) behind a copy of the VXLAN header, or,
// left whole, only their first segment.
#include "udp_gro.h"

#include "big_endian.h"
#include "ethernet_header.h"
#include "internet_checksum.h"
#include "virtio_net_hdr.h"

#include <netinet/in.h>

#include <cstring>

namespace vxroute {

namespace {

ReceivedPlan Drop(uint32_t len) { return ReceivedPlan{Received::kDrop, len, 1, 0, {}}; }

// An inner Ethernet header without a VLAN tag.
constexpr uint32_t kEthernetMinHeader = 14;

constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpPsh = 0x08;

// The RFC 9293 §3.1 pseudo-header sum of a TCP packet of `l4Len` bytes behind IP header `ip`.
uint64_t TcpPseudoSum(const uint8_t* ip, uint32_t l4Len) {
  const uint64_t addresses = ip[0] >> 4 == 4 ? SumBigEndian(ip + 12, 8, 0) : SumBigEndian(ip + 8, 32, 0);
  return addresses + IPPROTO_TCP + l4Len;
}

}  // namespace

// The checks of a TUN read with a virtio_net_hdr asking for TCPV4/TCPV6 segmentation (CheckTso),
// the header built here.
bool PlanInnerTso(const uint8_t* d, uint32_t len, size_t room, uint32_t maxInner, TsoPlan* inner) {
  if (len <= kVxlanHeaderLength) return false;
  const uint8_t* frame = d + kVxlanHeaderLength;
  const size_t frameLen = len - kVxlanHeaderLength;
  uint32_t l2;
  uint16_t type;
  if (!EthernetHeader(frame, frameLen, &l2, &type) || frameLen < l2 + 1) return false;
  const uint8_t* ip = frame + l2;
  uint32_t iphl;
  VirtioNetHdr hdr{};
  if (type == kEtherTypeIpv4 && ip[0] >> 4 == 4) {
    iphl = (ip[0] & 0x0fu) * 4;
    hdr.gso_type = kGsoTcpV4;
  } else if (type == kEtherTypeIpv6 && ip[0] >> 4 == 6) {
    iphl = 40;
    hdr.gso_type = kGsoTcpV6;
  } else {
    return false;
  }
  const size_t tcp = l2 + iphl;
  if (iphl < 20 || tcp + 20 > frameLen) return false;
  const uint32_t tcphl = (frame[tcp + 12] >> 4) * 4u;
  if (maxInner <= iphl + tcphl || maxInner > 65535) return false;
  hdr.flags = kNeedsCsum;
  hdr.csum_start = static_cast<uint16_t>(tcp);
  hdr.csum_offset = kTcpCsumOffset;
  hdr.gso_size = static_cast<uint16_t>(maxInner - iphl - tcphl);
  return room >= kVxlanHeaderLength && CheckTso(hdr, frame, frameLen, true, room - kVxlanHeaderLength, inner) == kReadOk;
}

bool WholeTsoEligible(const uint8_t* d, const TsoPlan& inner) {
  const uint8_t* frame = d + kVxlanHeaderLength;
  const uint8_t* tcp = frame + inner.csumStart;
  const uint8_t flags = tcp[13];
  const uint32_t l4Len = inner.length - inner.csumStart;
  return inner.segments >= 2 && inner.l2 == kEthernetMinHeader && (flags == kTcpAck || flags == (kTcpAck | kTcpPsh)) &&
         Be16(tcp + kTcpCsumOffset) == FoldSum(TcpPseudoSum(frame + inner.l2, l4Len));
}

bool PlanDatagramRun(const uint8_t* d, uint32_t len, uint32_t stride, bool sum, DatagramRun* run) {
  if (stride <= kDatagramInnerAt || len <= stride) return false;
  const uint32_t datagrams = (len + stride - 1) / stride;
  if (datagrams > kMaxRunPackets) return false;
  uint32_t expected = 0;
  for (uint32_t k = 0; k < datagrams; k++) {
    const uint32_t at = k * stride;
    const uint32_t n = len - at < stride ? len - at : stride;
    Segment s{};
    // ParseSegment only reads; it takes the frame as the TUN write does, writable.
    if (n <= kDatagramInnerAt || !ParseSegment(const_cast<uint8_t*>(d + at + kVxlanHeaderLength), n - kVxlanHeaderLength, 14, &s) ||
        s.proto != IPPROTO_TCP) {
      return false;
    }
    if (k == 0) {
      run->head = s;
      run->payload = 0;
      expected = s.seq;
    } else if (std::memcmp(d + at, d, kDatagramInnerAt) != 0 || !SameFlow(run->head, s) ||
               Be16(s.p + s.iphl + 14) != Be16(run->head.p + s.iphl + 14)) {  // VXLAN, Ethernet, flow, window
      return false;
    }
    const bool last = k + 1 == datagrams;
    // Every payload the head's, the last at most; PSH ends the run (tcp_gro_receive flushes on it).
    if (s.seq != expected || (last ? s.payload > run->head.payload : s.payload != run->head.payload || s.psh)) return false;
    expected += s.payload;
    run->payload += s.payload;
    run->psh = s.psh;
  }
  run->datagrams = datagrams;
  if (run->head.iphl + run->head.l4hl + uint64_t{run->payload} > 65535) return false;
  // The sums last, once the headers made it a run: a buffer that is none is summed by the write.
  for (uint32_t k = 0; sum && k < datagrams; k++) {
    Segment s = run->head;
    s.p = const_cast<uint8_t*>(d + k * stride + kDatagramInnerAt);
    s.len = (len - k * stride < stride ? len - k * stride : stride) - kDatagramInnerAt;
    if (!ChecksumValid(s)) return false;
  }
  return true;
}

ReceivedPlan PlanReceived(const uint8_t* d, int64_t len, uint32_t gsoSize, size_t room, uint32_t maxInner, bool whole) {
  if (len < 0 || len > 65535) return Drop(0);
  const auto length = static_cast<uint32_t>(len);
  if (gsoSize > 0 && length > gsoSize) {
    // UDP GRO: datagrams of one 4-tuple and one size, the last possibly shorter (udp_gro_receive).
    if (gsoSize > room || gsoSize < kMinGroSegment) return Drop(length);
    DatagramRun run;
    if (whole && PlanDatagramRun(d, length, gsoSize, true, &run)) return ReceivedPlan{Received::kWholeRun, length, 1, gsoSize, {}};
    return ReceivedPlan{Received::kDatagrams, length, (length + gsoSize - 1) / gsoSize, gsoSize, {}};
  }
  const ReceivedPlan datagram{Received::kDatagrams, length, 1, length, {}};
  // A kernel peer's TSO packet of a few segments fits a slot, but is longer than the inner MTU: as
  // it is, the kernel would not forward it (ip6_forward/ip_forward: ICMP "packet too big" back to
  // the sender, the packet lost), so it is planned as a larger one is.
  if (length <= room && length <= kVxlanHeaderLength + kEthernetMinHeader + maxInner) return datagram;
  ReceivedPlan plan{Received::kInnerTso, length, 0, 0, {}};
  if (!PlanInnerTso(d, length, room, maxInner, &plan.inner) || (length <= room && plan.inner.segments < 2)) {
    // What fits a slot and is no TSO packet of several segments goes on as it is (e.g. a UDP one).
    return length <= room ? datagram : Drop(length);
  }
  if (whole && WholeTsoEligible(d, plan.inner)) {
    plan.kind = Received::kWholeTso;
    plan.segments = 1;
  } else {
    plan.segments = plan.inner.segments;
  }
  return plan;
}

uint32_t CutReceived(const uint8_t* d, const ReceivedPlan& plan, uint32_t i, uint8_t* out) {
  if (plan.kind == Received::kWholeTso || plan.kind == Received::kInnerTso) {
    std::memcpy(out, d, kVxlanHeaderLength);
    const bool sum = plan.kind == Received::kInnerTso;
    return kVxlanHeaderLength + CutSegment(d + kVxlanHeaderLength, plan.inner, i, out + kVxlanHeaderLength, sum);
  }
  const uint32_t at = i * plan.stride;
  const uint32_t n = plan.length - at < plan.stride ? plan.length - at : plan.stride;
  if (n > 0) std::memcpy(out, d + at, n);
  return n;
}

}  // namespace vxroute
