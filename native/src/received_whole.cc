// Whole inner TSO packets from the receive area to the TUN: the slot words and their checks.
#include "received_whole.h"

#include <cstring>

namespace vxroute {

namespace {

// Any segment fits: the write needs the receive's checks, not its slot size.
constexpr size_t kAnyRoom = size_t{1} << 20;

// Whether the packet at `slot` (its first segment, `length` bytes) is of the flow of the message's
// inner IP packet `ip`: version, addresses, protocol, ports.
bool SameFlow(const uint8_t* ip, uint32_t iphl, const uint8_t* slot, uint32_t length) {
  if (length < iphl + 20 || slot[0] >> 4 != ip[0] >> 4) return false;
  const bool v4 = ip[0] >> 4 == 4;
  if (v4 ? ((slot[0] & 0x0fu) * 4 != iphl || slot[9] != ip[9] || std::memcmp(slot + 12, ip + 12, 8) != 0)
         : (slot[6] != ip[6] || std::memcmp(slot + 8, ip + 8, 32) != 0)) {
    return false;
  }
  return std::memcmp(slot + iphl, ip + iphl, 4) == 0;
}

bool FindOne(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab, int64_t slotSize,
             int32_t offset, int32_t length, WholeTso* whole) {
  if (slotSize <= 0 || offset < 0 || length <= 0) return false;
  const auto slot = static_cast<uint64_t>(offset / slotSize);
  if ((slot + 1) * kWholeWords > wordsLength) return false;
  const int32_t* w = words + slot * kWholeWords;
  if (w[kWholeSegments] < 2 || w[kWholeIpAt] != offset || w[kWholeAreaAt] < 0 || w[kWholeLength] <= 0 || w[kWholeMaxInner] <= 0 ||
      static_cast<uint64_t>(w[kWholeAreaAt]) + static_cast<uint64_t>(w[kWholeLength]) > areaLength) {
    return false;
  }
  uint8_t* d = area + w[kWholeAreaAt];
  TsoPlan inner;
  if (!PlanInnerTso(d, static_cast<uint32_t>(w[kWholeLength]), kAnyRoom, static_cast<uint32_t>(w[kWholeMaxInner]), &inner) ||
      !WholeTsoEligible(d, inner) || inner.segments != static_cast<uint32_t>(w[kWholeSegments])) {
    return false;
  }
  uint8_t* ip = d + kVxlanHeaderLength + inner.l2;
  const uint32_t iphl = inner.csumStart - inner.l2;
  // Two or more segments: the first carries a whole gso_size of payload.
  if (static_cast<uint32_t>(length) != inner.hdrLen - inner.l2 + inner.gsoSize || !SameFlow(ip, iphl, slab + offset, static_cast<uint32_t>(length))) {
    return false;
  }
  *whole = WholeTso{ip, inner.length - inner.l2, iphl, inner.hdrLen - inner.csumStart, inner.gsoSize, inner.segments};
  return true;
}

}  // namespace

void NoteWholeTso(const ReceivedPlan& plan, uint32_t areaAt, uint32_t slotAt, uint32_t maxInner, int32_t* words) {
  const TsoPlan& inner = plan.inner;
  const uint32_t headers = inner.hdrLen - inner.l2;
  words[kWholeSegments] = static_cast<int32_t>(inner.segments);
  words[kWholeBytes] = static_cast<int32_t>(inner.length - inner.hdrLen + inner.segments * headers);
  words[kWholeIpAt] = static_cast<int32_t>(slotAt + kVxlanHeaderLength + inner.l2);
  words[kWholeAreaAt] = static_cast<int32_t>(areaAt);
  words[kWholeLength] = static_cast<int32_t>(plan.length);
  words[kWholeMaxInner] = static_cast<int32_t>(maxInner);
}

uint32_t FindWholeWrites(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                         int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out) {
  uint32_t found = 0;
  for (int64_t i = 0; i < count && i < kMaxBatchPackets; i++) {
    out->at[i] = FindOne(words, wordsLength, area, areaLength, slab, slotSize, offsets[i], lengths[i], &out->tso[i]) ? 1 : 0;
    found += out->at[i];
  }
  return found;
}

void MakeWholeTsoHead(const WholeTso& whole, VirtioNetHdr* hdr) {
  std::memset(hdr, 0, sizeof *hdr);
  hdr->flags = kNeedsCsum;
  hdr->gso_type = whole.ip[0] >> 4 == 4 ? kGsoTcpV4 : kGsoTcpV6;
  hdr->hdr_len = static_cast<uint16_t>(whole.iphl + whole.tcphl);
  hdr->gso_size = static_cast<uint16_t>(whole.gsoSize);
  hdr->csum_start = static_cast<uint16_t>(whole.iphl);
  hdr->csum_offset = kTcpCsumOffset;
}

}  // namespace vxroute
