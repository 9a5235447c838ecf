// The run check and header writer of tunnel_gso_frame.h. gso_coalesce.cc's ParseSegment and
// SameFlow are the rules the TUN side's coalescing already applies; the checks added here are what
// the kernel's segmentation copies from the head to every segment beyond those (window, urgent
// pointer, VXLAN header) and what it rewrites (IPv4 IDs).
#include "tunnel_gso_frame.h"

#include "big_endian.h"
#include "internet_checksum.h"
#include "udp_batch.h"

#include <netinet/in.h>

#include <cstring>

namespace vxroute {

namespace {

constexpr uint32_t kEthernet = 14;
constexpr uint32_t kUdp = 8;
constexpr uint32_t kMaxLength = 65535;

// The TCP header fields segmentation copies that SameFlow leaves out: window and urgent pointer.
bool SameWindow(const Segment& head, const Segment& s) {
  const uint8_t* a = head.p + head.iphl;
  const uint8_t* b = s.p + s.iphl;
  return std::memcmp(a + 14, b + 14, 2) == 0 && std::memcmp(a + 18, b + 18, 2) == 0;
}

// IPv4 without DF: inet_gso_segment gives segment k the head's ID + k, so the run must have them.
bool IdContinues(const Segment& head, const Segment& s, uint32_t k) {
  if (head.iphl != 20 || (head.p[6] & 0x40) != 0) return true;
  return Be16(s.p + 4) == ((Be16(head.p + 4) + k) & 0xffff);
}

}  // namespace

uint32_t PlanTunnelRun(uint8_t* const* d, const uint32_t* lengths, uint32_t n, uint32_t maxDatagram, bool outer6, TunnelRun* run) {
  Segment head{};
  uint32_t taken = 0;
  uint32_t payloads[kMaxGsoSegments];
  bool psh = false;
  for (uint32_t k = 0; k < n && k < kMaxGsoSegments; k++) {
    const uint32_t len = lengths[k];
    if (len <= kVxlanBytes || len > maxDatagram || (d[k][0] & 0x08) == 0) break;  // RFC 7348 §5: the I flag
    Segment s{};
    if (!ParseSegment(d[k] + kVxlanBytes, len - kVxlanBytes, kEthernet, &s) || s.proto != IPPROTO_TCP) break;
    if (k == 0) {
      head = s;
    } else if (std::memcmp(d[0], d[k], kVxlanBytes) != 0 || !SameFlow(head, s) || !SameWindow(head, s) || !IdContinues(head, s, k) ||
               s.seq != head.seq + k * head.payload || s.payload > head.payload) {
      break;
    }
    payloads[k] = s.payload;
    taken = k + 1;
    psh = s.psh;
    if (s.psh || s.payload < head.payload) break;  // the kernel puts PSH and a shorter payload only on the last
  }
  // The inner IP packet and the outer UDP datagram (IPv4 packet) of the whole within 65,535 bytes.
  const auto fits = [&](uint32_t payload) {
    const uint32_t inner = head.iphl + head.l4hl + payload;
    const uint32_t udp = kUdp + kVxlanBytes + kEthernet + inner;
    return inner <= kMaxLength && udp <= kMaxLength && (outer6 || 20 + udp <= kMaxLength);
  };
  uint32_t payload = 0;
  for (uint32_t k = 0; k < taken; k++) payload += payloads[k];
  for (; taken >= 2 && !fits(payload); taken--) {
    payload -= payloads[taken - 1];
    psh = false;  // the last taken is a full one now, sent without PSH as it was
  }
  if (taken < 2) return 0;
  GsoRun& g = run->gso;
  g = GsoRun{};
  g.head = head;
  g.packets = taken;
  g.gsoSize = head.payload;
  g.payload = payload;
  g.psh = psh;
  run->headers = kVxlanBytes + kEthernet + head.iphl + head.l4hl;
  return taken;
}

namespace {

// Writes the outer Ethernet header (to the TAP's MAC, from one that is not), IPv4 (TTL 65, no DF,
// as the kernel's VXLAN) or IPv6 (hop limit 65) and UDP of `udpLength` bytes at `frame`. The UDP
// checksum: 0 over IPv4 (RFC 7348 §5 allows it; the kernel's VXLAN default); over IPv6 (RFC 8200
// §8.1: required) the pseudo-header sum, which the caller finishes or leaves to segmentation.
// Returns the bytes written, up to the VXLAN header.
uint32_t WriteOuter(const TunnelOuter& outer, uint32_t udpLength, uint8_t* frame) {
  const uint32_t outerIp = outer.ipv6 ? 40 : 20;
  std::memcpy(frame, outer.tapMac, 6);
  std::memcpy(frame + 6, outer.tapMac, 6);
  frame[11] ^= 1;  // a source that is not the TAP itself
  uint8_t* ip = frame + kEthernet;
  uint8_t* udp = ip + outerIp;
  PutBe16(udp, outer.sourcePort);
  PutBe16(udp + 2, outer.destinationPort);
  PutBe16(udp + 4, udpLength);
  PutBe16(udp + 6, 0);
  if (outer.ipv6) {
    PutBe16(frame + 12, 0x86dd);
    std::memset(ip, 0, 8);
    ip[0] = 0x60;
    PutBe16(ip + 4, udpLength);
    ip[6] = IPPROTO_UDP;
    ip[7] = kTunnelTtl;
    std::memcpy(ip + 8, outer.local, 16);
    std::memcpy(ip + 24, outer.peer, 16);
    PutBe16(udp + 6, FoldSum(SumBigEndian(ip + 8, 32, IPPROTO_UDP + udpLength)));
  } else {
    PutBe16(frame + 12, 0x0800);
    ip[0] = 0x45;
    ip[1] = 0;
    PutBe16(ip + 2, outerIp + udpLength);
    PutBe16(ip + 4, outer.ipId);
    PutBe16(ip + 6, 0);
    ip[8] = kTunnelTtl;
    ip[9] = IPPROTO_UDP;
    PutBe16(ip + 10, 0);
    std::memcpy(ip + 12, outer.local, 4);
    std::memcpy(ip + 16, outer.peer, 4);
    PutBe16(ip + 10, ~FoldSum(SumBigEndian(ip, 20, 0)) & 0xffff);
  }
  return kEthernet + outerIp + kUdp;
}

}  // namespace

uint32_t WriteTunnelHeaders(const TunnelRun& run, const uint8_t* head, const TunnelOuter& outer, uint8_t* block) {
  const uint32_t outerIp = outer.ipv6 ? 40 : 20;
  const uint32_t front = kEthernet + outerIp + kUdp;  // from the outer MAC header to the VXLAN header
  uint8_t* frame = block + sizeof(VirtioNetHdrTunnel);
  uint8_t* vxlan = frame + front;
  std::memcpy(vxlan, head, run.headers);
  // The copy, parsed where it now lies, set up for the whole run by the TUN side's own code.
  GsoRun whole = run.gso;
  const uint32_t innerLen = run.gso.head.len;
  ParseSegment(vxlan + kVxlanBytes, kEthernet + innerLen, kEthernet, &whole.head);
  VirtioNetHdr inner;
  MakeGsoHead(whole, &inner);

  const uint32_t udpLength = kUdp + kVxlanBytes + kEthernet + run.gso.head.iphl + run.gso.head.l4hl + run.gso.payload;
  WriteOuter(outer, udpLength, frame);
  VirtioNetHdrTunnel v{};
  v.base = inner;  // the inner TCP's GSO fields, moved below to count from the outer MAC header
  v.base.flags = kNeedsCsum;
  if (outer.ipv6) {
    // With UDP_TUNNEL_CSUM the segmentation finishes each segment's UDP checksum from the whole's
    // pseudo-header sum in the field, adjusting it for the segment's length (udp6_set_csum for
    // GSO; what the spike sent and a kernel peer accepted).
    v.base.flags |= kUdpTunnelCsum;
    v.base.gso_type |= kGsoUdpTunnelIpv6;
  } else {
    v.base.gso_type |= kGsoUdpTunnelIpv4;
  }
  const uint32_t before = front + kVxlanBytes;  // the inner Ethernet header's place in the frame
  v.base.hdr_len = static_cast<uint16_t>(before + inner.hdr_len);
  v.base.csum_start = static_cast<uint16_t>(before + inner.csum_start);
  v.outer_th_offset = static_cast<uint16_t>(kEthernet + outerIp);
  v.inner_nh_offset = static_cast<uint16_t>(before + kEthernet);
  std::memcpy(block, &v, sizeof v);
  return static_cast<uint32_t>(sizeof v) + front + run.headers;
}

uint32_t WriteSingleHeaders(const uint8_t* datagram, uint32_t length, const TunnelOuter& outer, uint8_t* block) {
  uint8_t* frame = block + sizeof(VirtioNetHdrTunnel);
  const uint32_t udpLength = kUdp + length;
  const uint32_t front = WriteOuter(outer, udpLength, frame);
  if (outer.ipv6) {
    // RFC 768: the sum over the header (its field holding the pseudo-header sum) and the
    // datagram; 0 goes as all ones.
    uint8_t* udp = frame + front - kUdp;
    const uint32_t sum = ~FoldSum(SumBigEndian(datagram, length, SumBigEndian(udp, kUdp, 0))) & 0xffff;
    PutBe16(udp + 6, sum == 0 ? 0xffff : sum);
  }
  const VirtioNetHdrTunnel v{};  // nothing asked of the kernel: the datagram's checksums are complete
  std::memcpy(block, &v, sizeof v);
  return static_cast<uint32_t>(sizeof v) + front;
}

namespace {

constexpr uint32_t kEncap = kVxlanBytes + kEthernet;  // in front of the inner IP packet

// The whole's IP and TCP header lengths, if `ip` (len bytes) is an IPv4 packet without options or
// an IPv6 packet with TCP right after its header, whole (length fields = len), not a fragment.
bool WholeHeaders(const uint8_t* ip, uint32_t len, uint32_t* iphl, uint32_t* tcphl) {
  if (len < 40) return false;
  if (ip[0] == 0x45) {
    // RFC 791: no MF, no fragment offset (DF allowed)
    if (Be16(ip + 2) != len || (Be16(ip + 6) & 0x3fff) != 0 || ip[9] != IPPROTO_TCP) return false;
    *iphl = 20;
  } else if (ip[0] >> 4 == 6) {
    if (len < 60 || Be16(ip + 4) + 40u != len || ip[6] != IPPROTO_TCP) return false;
    *iphl = 40;
  } else {
    return false;
  }
  *tcphl = (ip[*iphl + 12] >> 4) * 4u;  // RFC 9293 §3.1: data offset 5..15 words
  return *tcphl >= 20 && *iphl + *tcphl < len;
}

}  // namespace

void NoteWholeSend(const TsoPlan& plan, uint32_t areaAt, uint32_t ipAt, int32_t* words) {
  const uint32_t payload = plan.length - plan.hdrLen;
  words[kSendSegments] = static_cast<int32_t>(plan.segments);
  words[kSendBytes] = static_cast<int32_t>(plan.segments * (plan.hdrLen - plan.l2) + payload);
  words[kSendAreaAt] = static_cast<int32_t>(areaAt);
  words[kSendLength] = static_cast<int32_t>(plan.length);
  words[kSendGsoSize] = static_cast<int32_t>(plan.gsoSize);
  words[kSendIpAt] = static_cast<int32_t>(ipAt);
}

bool FindWholeSend(const int32_t* words, const uint8_t* area, size_t areaLength, const uint8_t* datagram, uint32_t length, int64_t at,
                   WholeSend* out) {
  return length >= kEncap && FindWholeSendPacket(words, area, areaLength, datagram + kEncap, length - kEncap, at + kEncap, out);
}

bool FindWholeSendPacket(const int32_t* words, const uint8_t* area, size_t areaLength, const uint8_t* first, uint32_t length, int64_t ipAt,
                         WholeSend* out) {
  const int32_t segments = words[kSendSegments];
  if (segments < 2 || segments > static_cast<int32_t>(kMaxWholeSendSegments)) return false;
  const int64_t areaAt = words[kSendAreaAt], len = words[kSendLength], gso = words[kSendGsoSize];
  if (words[kSendIpAt] != ipAt || areaAt < 0 || len <= 0 || gso <= 0 || static_cast<uint64_t>(areaAt + len) > areaLength) return false;
  const uint8_t* ip = area + areaAt;
  uint32_t iphl, tcphl;
  if (!WholeHeaders(ip, static_cast<uint32_t>(len), &iphl, &tcphl)) return false;
  const uint32_t hdrLen = iphl + tcphl;
  const uint32_t payload = static_cast<uint32_t>(len) - hdrLen;
  const uint8_t flags = ip[iphl + 13];
  if ((flags != 0x10 && flags != 0x18) || static_cast<int64_t>((payload + gso - 1) / gso) != segments) return false;
  // The slot's packet: the first segment, a full one.
  if (length != hdrLen + gso) return false;
  uint32_t firstIphl, firstTcphl;
  if (!WholeHeaders(first, length, &firstIphl, &firstTcphl) || firstIphl != iphl || firstTcphl != tcphl) return false;
  const bool same = iphl == 20 ? std::memcmp(first + 12, ip + 12, 8) == 0 : std::memcmp(first + 8, ip + 8, 32) == 0;
  if (!same || std::memcmp(first + iphl, ip + iphl, 12) != 0) return false;  // ports, sequence, ack
  *out = {ip, static_cast<uint32_t>(len), hdrLen, static_cast<uint32_t>(gso), static_cast<uint32_t>(segments), (flags & 0x08) != 0};
  return true;
}

bool PlanWholeFrame(const WholeSend& whole, uint8_t* datagram, uint32_t length, uint32_t maxDatagram, bool outer6, TunnelRun* run) {
  if (length > maxDatagram) return false;
  const uint32_t udp = kUdp + kVxlanBytes + kEthernet + whole.length;
  if (udp > kMaxLength || (!outer6 && 20 + udp > kMaxLength)) return false;
  Segment head{};
  if (!ParseSegment(datagram + kVxlanBytes, length - kVxlanBytes, kEthernet, &head) || head.proto != IPPROTO_TCP ||
      head.iphl + head.l4hl != whole.hdrLen || head.payload != whole.gsoSize) {
    return false;
  }
  GsoRun& g = run->gso;
  g = GsoRun{};
  g.head = head;
  g.packets = whole.segments;
  g.gsoSize = whole.gsoSize;
  g.payload = whole.length - whole.hdrLen;
  g.psh = whole.psh;
  run->headers = kEncap + whole.hdrLen;
  return true;
}

uint32_t CutWholeSend(const WholeSend& whole, const uint8_t* datagram, uint32_t i, uint8_t* out) {
  const uint32_t iphl = whole.ip[0] >> 4 == 4 ? 20 : 40;
  const TsoPlan plan{whole.length, whole.gsoSize, whole.hdrLen, iphl, 0, whole.segments, 0};
  std::memcpy(out, datagram, kEncap);
  return kEncap + CutSegment(whole.ip, plan, i, out + kEncap);
}

}  // namespace vxroute
