// libFuzzer harness of the tunnel-GSO run check and header writer (tunnel_gso_frame.h): any
// datagrams are checked as one run; for the prefix the check takes, the frame (header block, then each
// datagram's payload) has consistent lengths and offsets, the head datagram is left unchanged, and
// the inner super-packet, cut again by tso_split.h as the kernel's segmentation would cut it,
// gives back every datagram: same length, same payload, sequence numbers in order.
// Input: one mode byte (bit 0: IPv6 outer headers), a 2-byte big-endian maxDatagram, then
// datagrams, each a 2-byte big-endian length and its bytes.
#include "invariant.h"

#include "big_endian.h"
#include "tso_split.h"
#include "tunnel_gso_frame.h"
#include "udp_batch.h"

#include <cstring>
#include <vector>

using namespace vxroute;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const bool outer6 = data[0] & 1;
  const uint32_t maxDatagram = Be16(data + 1);
  // Each datagram in a buffer of exactly its size, so that ASan sees any read past its end.
  std::vector<std::vector<uint8_t>> datagrams;
  for (size_t at = 3; at + 2 <= size && datagrams.size() < kMaxGsoSegments + 2;) {
    size_t len = Be16(data + at);
    at += 2;
    if (len > size - at) len = size - at;
    datagrams.emplace_back(data + at, data + at + len);
    at += len;
  }
  const auto n = static_cast<uint32_t>(datagrams.size());
  std::vector<uint8_t*> d(n + 1);
  std::vector<uint32_t> lengths(n + 1);
  for (uint32_t k = 0; k < n; k++) {
    d[k] = datagrams[k].data();
    lengths[k] = static_cast<uint32_t>(datagrams[k].size());
  }
  const std::vector<std::vector<uint8_t>> original = datagrams;
  TunnelRun run;
  const uint32_t taken = PlanTunnelRun(d.data(), lengths.data(), n, maxDatagram, outer6, &run);
  if (taken == 0) return 0;
  Require(taken >= 2 && taken <= n && taken <= kMaxGsoSegments, "a prefix of 2 to kMaxGsoSegments datagrams");
  for (uint32_t k = 0; k < taken; k++) Require(lengths[k] <= maxDatagram && lengths[k] > run.headers, "each datagram fits and has payload");

  const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};
  const uint8_t local[16] = {192, 0, 2, 1};
  const uint8_t peer[16] = {192, 0, 2, 2};
  TunnelOuter outer{mac, local, peer, outer6, 40000, 8472, 7};
  uint8_t block[kMaxTunnelHeaderBytes];
  const uint32_t blockLen = WriteTunnelHeaders(run, d[0], outer, block);
  Require(blockLen <= kMaxTunnelHeaderBytes && blockLen > sizeof(VirtioNetHdrTunnel), "the block fits its buffer");
  for (uint32_t k = 0; k < n; k++) Require(datagrams[k] == original[k], "the datagrams are left unchanged");

  // The frame as writev gathers it, after the vnet header.
  VirtioNetHdrTunnel v;
  std::memcpy(&v, block, sizeof v);
  std::vector<uint8_t> frame(block + sizeof v, block + blockLen);
  for (uint32_t k = 0; k < taken; k++) frame.insert(frame.end(), d[k] + run.headers, d[k] + lengths[k]);
  const uint32_t outerIp = outer6 ? 40 : 20;
  Require(v.outer_th_offset == 14 + outerIp, "outer_th_offset points at the outer UDP header");
  Require(Be16(frame.data() + v.outer_th_offset + 4) == frame.size() - v.outer_th_offset, "outer UDP length is the frame's");
  Require(outer6 ? Be16(frame.data() + 18) == frame.size() - 54 : Be16(frame.data() + 16) == frame.size() - 14, "outer IP length is the frame's");
  Require(v.inner_nh_offset == v.outer_th_offset + 8 + kVxlanBytes + 14, "inner_nh_offset points at the inner IP header");
  Require(v.base.hdr_len <= frame.size() && v.base.csum_start + v.base.csum_offset + 2u <= v.base.hdr_len, "the checksum field inside the headers");
  Require((v.base.gso_type & (outer6 ? kGsoUdpTunnelIpv6 : kGsoUdpTunnelIpv4)) != 0 && (v.base.flags & kNeedsCsum) != 0, "a tunnel GSO type with NEEDS_CSUM");

  // The inner Ethernet frame and its own virtio_net_hdr, as the kernel's inner segmentation sees them.
  const uint32_t innerAt = v.inner_nh_offset - 14;
  VirtioNetHdr inner{};
  inner.flags = kNeedsCsum;
  inner.gso_type = static_cast<uint8_t>(v.base.gso_type & ~(kGsoUdpTunnelIpv4 | kGsoUdpTunnelIpv6));
  inner.hdr_len = static_cast<uint16_t>(v.base.hdr_len - innerAt);
  inner.gso_size = v.base.gso_size;
  inner.csum_start = static_cast<uint16_t>(v.base.csum_start - innerAt);
  inner.csum_offset = v.base.csum_offset;
  const uint8_t* super = frame.data() + innerAt;
  const size_t superLen = frame.size() - innerAt;
  const uint32_t headers = run.headers - kVxlanBytes;
  TsoPlan tso;
  Require(CheckTso(inner, super, superLen, true, headers + inner.gso_size, &tso) == kReadOk, "the inner super-packet checks out as TSO");
  Require(tso.segments == taken, "cut again into as many segments as the prefix had");
  std::vector<uint8_t> slot(headers + inner.gso_size);
  for (uint32_t k = 0; k < taken; k++) {
    const uint32_t len = CutSegment(super, tso, k, slot.data());
    const uint8_t* want = d[k] + kVxlanBytes;
    Require(len == lengths[k] - kVxlanBytes, "a segment as long as the datagram's inner frame");
    Require(std::memcmp(slot.data() + headers, want + headers, len - headers) == 0, "a segment's payload is the datagram's");
    const uint32_t tcp = 14 + run.gso.head.iphl;
    Require(std::memcmp(slot.data() + tcp + 4, want + tcp + 4, 4) == 0, "a segment's sequence number is the datagram's");
  }
  return 0;
}
