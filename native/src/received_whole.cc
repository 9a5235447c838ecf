// Whole inner TSO packets and TCP runs from the receive area to the TUN: the slot words, their
// checks and the gathered write.
#include "received_whole.h"

#include "big_endian.h"

#include <netinet/in.h>

#include <cstring>

namespace vxroute {

namespace {

constexpr uint8_t kTcpPshFlag = 0x08;

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

// Bytes of Ethernet header in front of a TAP's packets: an untagged frame's.
constexpr uint32_t kTapL2 = 14;

// The message a slot's words point at, inside the area, or null. `ipAt`: the slot's IP header.
uint8_t* WordsMessage(const int32_t* w, uint8_t* area, size_t areaLength, int64_t ipAt) {
  if (w[kWholeSegments] < 2 || w[kWholeIpAt] != ipAt || w[kWholeAreaAt] < 0 || w[kWholeLength] <= 0 || w[kWholeShape] <= 0 ||
      static_cast<uint64_t>(w[kWholeAreaAt]) + static_cast<uint64_t>(w[kWholeLength]) > areaLength) {
    return nullptr;
  }
  return area + w[kWholeAreaAt];
}

// `slot` and `length`: the slot's IP packet; `l2` bytes of Ethernet header in front of it (a TAP's).
bool FindTso(const int32_t* w, uint8_t* d, const uint8_t* slot, int32_t length, uint32_t l2, HeldRun* held, WholeSource* source) {
  TsoPlan inner;
  if (!PlanInnerTso(d, static_cast<uint32_t>(w[kWholeLength]), kAnyRoom, static_cast<uint32_t>(w[kWholeShape]), &inner) ||
      !WholeTsoEligible(d, inner) || inner.segments != static_cast<uint32_t>(w[kWholeSegments]) ||
      (l2 > 0 && std::memcmp(slot - l2, d + kVxlanHeaderLength, l2) != 0)) {
    return false;
  }
  uint8_t* ip = d + kVxlanHeaderLength + inner.l2;
  const uint32_t iphl = inner.csumStart - inner.l2;
  // Two or more segments: the first carries a whole gso_size of payload.
  if (static_cast<uint32_t>(length) != inner.hdrLen - inner.l2 + inner.gsoSize || !SameFlow(ip, iphl, slot, static_cast<uint32_t>(length))) {
    return false;
  }
  Segment& head = held->head;
  head = Segment{};
  head.frame = ip - l2;
  head.l2 = l2;
  head.p = ip;
  head.len = inner.length - inner.l2;
  head.proto = IPPROTO_TCP;
  head.iphl = iphl;
  head.l4hl = inner.hdrLen - inner.csumStart;
  head.payload = head.len - iphl - head.l4hl;
  head.seq = Be32(ip + iphl + 4);
  head.psh = (ip[iphl + 13] & kTcpPshFlag) != 0;
  held->segments = inner.segments;
  held->gsoSize = inner.gsoSize;
  held->payload = head.payload;
  held->psh = head.psh;
  *source = WholeSource{false, d, 0, 0};
  return true;
}

// The sums were checked at the receive; the headers are checked again, the bytes being the same.
bool FindRun(const int32_t* w, uint8_t* d, const uint8_t* slot, int32_t length, uint32_t l2, HeldRun* held, WholeSource* source) {
  const auto len = static_cast<uint32_t>(w[kWholeLength]);
  const auto stride = static_cast<uint32_t>(w[kWholeShape]);
  DatagramRun run;
  if (!PlanDatagramRun(d, len, stride, false, &run) || run.datagrams != static_cast<uint32_t>(w[kWholeSegments])) return false;
  Segment& head = run.head;
  if (static_cast<uint32_t>(length) != head.len || !SameFlow(head.p, head.iphl, slot, head.len) ||
      (l2 > 0 && std::memcmp(slot - l2, head.frame, l2) != 0)) {
    return false;
  }
  // Written from its IP header on a TUN, from its Ethernet header on a TAP.
  head.frame = head.p - l2;
  head.l2 = l2;
  *held = HeldRun{head, run.datagrams, head.payload, run.payload, run.psh};
  *source = WholeSource{true, d, len, stride};
  return true;
}

// Packet slab[offset .. + length] is `l2` bytes of Ethernet header (a TAP's frame, 0 on a TUN)
// and the IP packet the words name.
bool FindOne(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab, int64_t slotSize,
             int32_t offset, int32_t length, uint32_t l2, HeldRun* held, WholeSource* source) {
  if (slotSize <= 0 || offset < 0 || length <= static_cast<int32_t>(l2)) return false;
  const auto slot = static_cast<uint64_t>(offset / slotSize);
  if ((slot + 1) * kWholeWords > wordsLength) return false;
  const int32_t* w = words + slot * kWholeWords;
  uint8_t* d = WordsMessage(w, area, areaLength, int64_t{offset} + l2);
  if (d == nullptr) return false;
  const uint8_t* ip = slab + offset + l2;
  const int32_t ipLength = length - static_cast<int32_t>(l2);
  switch (w[kWholeKind]) {
    case kWholeKindTso:
      return FindTso(w, d, ip, ipLength, l2, held, source);
    case kWholeKindRun:
      return FindRun(w, d, ip, ipLength, l2, held, source);
    default:
      return false;
  }
}

}  // namespace

void NoteWhole(const ReceivedPlan& plan, uint32_t areaAt, uint32_t slotAt, uint32_t maxInner, int32_t* words) {
  words[kWholeAreaAt] = static_cast<int32_t>(areaAt);
  words[kWholeLength] = static_cast<int32_t>(plan.length);
  if (plan.kind == Received::kWholeRun) {
    const uint32_t datagrams = (plan.length + plan.stride - 1) / plan.stride;
    words[kWholeSegments] = static_cast<int32_t>(datagrams);
    words[kWholeBytes] = static_cast<int32_t>(plan.length - datagrams * kDatagramInnerAt);
    words[kWholeIpAt] = static_cast<int32_t>(slotAt + kDatagramInnerAt);
    words[kWholeShape] = static_cast<int32_t>(plan.stride);
    words[kWholeKind] = kWholeKindRun;
    return;
  }
  const TsoPlan& inner = plan.inner;
  const uint32_t headers = inner.hdrLen - inner.l2;
  words[kWholeSegments] = static_cast<int32_t>(inner.segments);
  words[kWholeBytes] = static_cast<int32_t>(inner.length - inner.hdrLen + inner.segments * headers);
  words[kWholeIpAt] = static_cast<int32_t>(slotAt + kVxlanHeaderLength + inner.l2);
  words[kWholeShape] = static_cast<int32_t>(maxInner);
  words[kWholeKind] = kWholeKindTso;
}

namespace {

uint32_t FindAll(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab, int64_t slotSize,
                 const int32_t* offsets, const int32_t* lengths, int64_t count, uint32_t l2, WholeWrites* out) {
  uint32_t found = 0;
  for (int64_t i = 0; i < count && i < kMaxBatchPackets; i++) {
    out->at[i] = FindOne(words, wordsLength, area, areaLength, slab, slotSize, offsets[i], lengths[i], l2, &out->held[i], &out->source[i]) ? 1 : 0;
    found += out->at[i];
  }
  return found;
}

}  // namespace

uint32_t FindWholeWrites(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                         int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out) {
  return FindAll(words, wordsLength, area, areaLength, slab, slotSize, offsets, lengths, count, 0, out);
}

uint32_t FindWholeFrames(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                         int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out) {
  return FindAll(words, wordsLength, area, areaLength, slab, slotSize, offsets, lengths, count, kTapL2, out);
}

void MakeWholeTsoHead(const HeldRun& tso, VirtioNetHdr* hdr) {
  const Segment& head = tso.head;
  std::memset(hdr, 0, sizeof *hdr);
  hdr->flags = kNeedsCsum;
  hdr->gso_type = head.p[0] >> 4 == 4 ? kGsoTcpV4 : kGsoTcpV6;
  hdr->hdr_len = static_cast<uint16_t>(head.l2 + head.iphl + head.l4hl);
  hdr->gso_size = static_cast<uint16_t>(tso.gsoSize);
  hdr->csum_start = static_cast<uint16_t>(head.l2 + head.iphl);
  hdr->csum_offset = kTcpCsumOffset;
}

uint32_t AppendWhole(const HeldRun& h, const WholeSource& source, bool head, iovec* iov) {
  const uint32_t headers = h.head.iphl + h.head.l4hl;
  uint32_t n = 0;
  if (head) {
    iov[n++] = {h.head.frame, h.head.l2 + h.head.len};
  } else {
    iov[n++] = {h.head.p + headers, h.head.len - headers};
  }
  if (!source.run) return n;
  const uint32_t at = kDatagramInnerAt + headers;
  for (uint32_t k = 1; k < h.segments; k++) {
    const uint32_t start = k * source.stride;
    const uint32_t datagram = source.length - start < source.stride ? source.length - start : source.stride;
    iov[n++] = {source.message + start + at, datagram - at};
  }
  return n;
}

}  // namespace vxroute
