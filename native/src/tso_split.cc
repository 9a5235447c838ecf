// Checks and cuts of what a TUN/TAP with IFF_VNET_HDR and TUNSETOFFLOAD(CSUM, TSO4, TSO6, USO4,
// USO6) hands over; the checks follow the kernel's virtio_net_hdr_to_skb and wireguard-go's gsoSplit.
#include "tso_split.h"

#include "big_endian.h"
#include "ethernet_header.h"
#include "internet_checksum.h"

#include <netinet/in.h>

#include <cstring>

namespace vxroute {

namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
// Flags a TUN sets: anything else is a header we do not understand.
bool KnownFlags(const VirtioNetHdr& hdr) { return (hdr.flags & ~(kNeedsCsum | kDataValid)) == 0; }

// The IP header of a GSO packet of `version` carrying `proto` right after it: sets `l2` and
// `iphl`, or says why not. On a TAP the frame's type must be the version's.
ReadDrop GsoIpHeader(const uint8_t* pkt, size_t len, bool ethernet, uint8_t version, uint8_t proto, uint32_t* l2, uint32_t* iphl) {
  *l2 = 0;
  if (ethernet) {
    uint16_t type;
    if (!EthernetHeader(pkt, len, l2, &type) || type != (version == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6)) return kDropBadTsoHeaders;
  }
  const uint8_t* ip = pkt + *l2;
  const size_t ipLen = len - *l2;
  if (version == 4) {
    // RFC 791 §3.1: IHL ≥ 5 words, total length = what was read (the kernel trimmed the rest).
    if (ipLen < 20 || ip[0] >> 4 != 4) return kDropBadTsoHeaders;
    *iphl = (ip[0] & 0x0fu) * 4;
    if (*iphl < 20 || *iphl > ipLen || Be16(ip + 2) != ipLen) return kDropBadTsoHeaders;
    if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return kDropBadGso;  // MF or an offset: a fragment is never GSO
    if (ip[9] != proto) return kDropBadGso;
  } else {
    // RFC 8200 §3: payload length = what follows the 40-byte header; the L4 header right after it.
    if (ipLen < 40 || ip[0] >> 4 != 6 || Be16(ip + 4) + 40u != ipLen) return kDropBadTsoHeaders;
    if (ip[6] != proto) return kDropBadGso;  // extension headers: not cut here
    *iphl = 40;
  }
  return kReadOk;
}

}  // namespace

ReadDrop CheckTso(const VirtioNetHdr& hdr, const uint8_t* pkt, size_t len, bool ethernet, size_t room, TsoPlan* plan) {
  // TUNSETOFFLOAD asked for TSO4/6 without ECN: another type (or the ECN bit) is not ours to cut.
  if (hdr.gso_type != kGsoTcpV4 && hdr.gso_type != kGsoTcpV6) return kDropBadGso;
  // The kernel hands TSO packets over CHECKSUM_PARTIAL; hdr_len is only a hint, but never past the end.
  if (!KnownFlags(hdr) || !(hdr.flags & kNeedsCsum) || hdr.hdr_len > len) return kDropBadVnetHdr;
  uint32_t l2, iphl;
  const ReadDrop ip = GsoIpHeader(pkt, len, ethernet, hdr.gso_type == kGsoTcpV4 ? 4 : 6, IPPROTO_TCP, &l2, &iphl);
  if (ip != kReadOk) return ip;
  const uint32_t csumStart = l2 + iphl;
  if (hdr.csum_start != csumStart || hdr.csum_offset != kTcpCsumOffset) return kDropBadVnetHdr;
  // RFC 9293 §3.1: data offset 5..15 words, the whole TCP header inside the packet.
  if (csumStart + 20 > len) return kDropBadTsoHeaders;
  const uint32_t tcphl = (pkt[csumStart + 12] >> 4) * 4u;
  if (tcphl < 20 || csumStart + tcphl > len) return kDropBadTsoHeaders;
  const uint32_t hdrLen = csumStart + tcphl;
  const uint32_t payload = static_cast<uint32_t>(len) - hdrLen;
  // Each segment must fit a slot. The IP length check above caps the count of segments at what
  // 64 KiB holds (⌈(65535 − headers) / gso_size⌉), below the kernel's GSO_MAX_SEGS (65535).
  if (hdr.gso_size == 0 || payload == 0 || hdrLen + hdr.gso_size > room) return kDropBadGso;
  *plan = {static_cast<uint32_t>(len), hdr.gso_size, hdrLen, csumStart, l2, (payload + hdr.gso_size - 1) / hdr.gso_size, 0};
  return kReadOk;
}

ReadDrop CheckUso(const VirtioNetHdr& hdr, const uint8_t* pkt, size_t len, bool ethernet, size_t room, TsoPlan* plan) {
  if (hdr.gso_type != kGsoUdpL4) return kDropBadGso;
  // As for TSO: CHECKSUM_PARTIAL (udp_send_skb leaves it to the device), hdr_len never past the end.
  if (!KnownFlags(hdr) || !(hdr.flags & kNeedsCsum) || hdr.hdr_len > len) return kDropBadVnetHdr;
  // GSO_UDP_L4 names no family: the IP header's version does (on a TAP, checked against the type).
  uint32_t l2 = 0;
  if (ethernet) {
    uint16_t type;
    if (!EthernetHeader(pkt, len, &l2, &type)) return kDropBadTsoHeaders;
  }
  if (l2 >= len) return kDropBadTsoHeaders;
  const uint8_t version = pkt[l2] >> 4;
  if (version != 4 && version != 6) return kDropBadTsoHeaders;
  uint32_t iphl;
  const ReadDrop ip = GsoIpHeader(pkt, len, ethernet, version, IPPROTO_UDP, &l2, &iphl);
  if (ip != kReadOk) return ip;
  const uint32_t csumStart = l2 + iphl;
  if (hdr.csum_start != csumStart || hdr.csum_offset != kUdpCsumOffset) return kDropBadVnetHdr;
  // RFC 768: the 8-byte header inside the packet, its length the whole UDP packet (udp_send_skb
  // writes the super-packet's, ≤ 65535 since the IP length is).
  if (csumStart + 8 > len || Be16(pkt + csumStart + 4) != len - csumStart) return kDropBadTsoHeaders;
  const uint32_t hdrLen = csumStart + 8;
  const uint32_t payload = static_cast<uint32_t>(len) - hdrLen;
  if (hdr.gso_size == 0 || payload == 0 || hdrLen + hdr.gso_size > room) return kDropBadGso;
  *plan = {static_cast<uint32_t>(len), hdr.gso_size, hdrLen, csumStart, l2, (payload + hdr.gso_size - 1) / hdr.gso_size, 1};
  return kReadOk;
}

uint32_t CutSegment(const uint8_t* pkt, const TsoPlan& plan, uint32_t i, uint8_t* out, bool sum) {
  const uint32_t at = plan.hdrLen + i * plan.gsoSize;
  const uint32_t chunk = plan.length - at < plan.gsoSize ? plan.length - at : plan.gsoSize;
  const uint32_t segLen = plan.hdrLen + chunk;
  const uint32_t iphl = plan.csumStart - plan.l2;
  std::memcpy(out, pkt, plan.hdrLen);
  std::memcpy(out + plan.hdrLen, pkt + at, chunk);
  uint8_t* ip = out + plan.l2;
  uint64_t addresses;
  if (ip[0] >> 4 == 4) {
    PutBe16(ip + 2, segLen - plan.l2);
    PutBe16(ip + 4, Be16(pkt + plan.l2 + 4) + i);
    ip[10] = ip[11] = 0;
    PutBe16(ip + 10, ~FoldSum(SumBigEndian(ip, iphl, 0)) & 0xffff);
    addresses = SumBigEndian(ip + 12, 8, 0);
  } else {
    PutBe16(ip + 4, segLen - plan.l2 - 40);
    addresses = SumBigEndian(ip + 8, 32, 0);
  }
  const uint32_t l4Len = segLen - plan.csumStart;
  if (plan.udp) {
    uint8_t* udp = out + plan.csumStart;
    PutBe16(udp + 4, l4Len);
    udp[6] = udp[7] = 0;
    // RFC 768: a sum of 0 is sent as all ones; 0 means "no checksum".
    const uint32_t sum = ~FoldSum(SumBigEndian(udp, l4Len, addresses + IPPROTO_UDP + l4Len)) & 0xffff;
    PutBe16(udp + 6, sum == 0 ? 0xffff : sum);
    return segLen;
  }
  uint8_t* tcp = out + plan.csumStart;
  PutBe32(tcp + 4, Be32(pkt + plan.csumStart + 4) + i * plan.gsoSize);
  if (i + 1 < plan.segments) tcp[13] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
  if (i > 0) tcp[13] &= static_cast<uint8_t>(~kTcpCwr);
  tcp[16] = tcp[17] = 0;
  const uint64_t pseudo = addresses + IPPROTO_TCP + l4Len;
  PutBe16(tcp + 16, sum ? ~FoldSum(SumBigEndian(tcp, l4Len, pseudo)) & 0xffff : FoldSum(pseudo));
  return segLen;
}

bool WholeSendEligible(const TsoPlan& plan, const uint8_t* pkt) {
  if (plan.udp != 0 || plan.l2 != 0 || plan.segments < 2 || plan.segments > kMaxWholeSendSegments) return false;
  if (pkt[0] >> 4 == 4 && plan.csumStart != 20) return false;
  const uint8_t flags = pkt[plan.csumStart + 13];
  return flags == 0x10 || flags == (0x10 | kTcpPsh);
}

ReadDrop CheckPlainRead(const VirtioNetHdr& hdr, uint8_t* p, size_t len, bool ethernet, size_t room) {
  if (len > room) return kDropOversize;
  if (!KnownFlags(hdr)) return kDropBadVnetHdr;
  if (!(hdr.flags & kNeedsCsum)) return kReadOk;
  // The checksum starts at or after the IP header and its field, a 16-bit word of the summed data
  // (RFC 1071), lies inside the packet.
  uint32_t l2 = 0;
  uint16_t type = 0;
  if (ethernet && !EthernetHeader(p, len, &l2, &type)) return kDropBadVnetHdr;
  const uint8_t* ip = p + l2;
  const size_t ipLen = len - l2;
  const uint8_t version = ipLen > 0 ? ip[0] >> 4 : 0;
  uint32_t iphl;
  if (version == 4 && (!ethernet || type == kEtherTypeIpv4)) iphl = (ip[0] & 0x0fu) * 4;
  else if (version == 6 && (!ethernet || type == kEtherTypeIpv6)) iphl = 40;
  else return kDropBadVnetHdr;
  if (iphl < 20 || hdr.csum_start < l2 + iphl || (hdr.csum_offset & 1) != 0 || size_t{hdr.csum_start} + hdr.csum_offset + 2 > len) {
    return kDropBadVnetHdr;
  }
  // The field holds the pseudo-header sum: add the data's (RFC 1071); a sum of 0 goes as 0xffff,
  // as skb_checksum_help writes it (RFC 768: 0 would mean "no UDP checksum").
  const size_t at = size_t{hdr.csum_start} + hdr.csum_offset;
  const uint32_t initial = Be16(p + at);
  p[at] = p[at + 1] = 0;
  const uint32_t sum = ~FoldSum(SumBigEndian(p + hdr.csum_start, len - hdr.csum_start, initial)) & 0xffff;
  PutBe16(p + at, sum == 0 ? 0xffff : sum);
  return kReadOk;
}

}  // namespace vxroute
