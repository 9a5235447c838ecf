// GRO before the TUN, as wireguard-go's tun/offload_linux.go does it: the TCP segments (or
// same-size UDP datagrams) of each flow in a batch, interleaved with other flows or not, become one
// GSO super-packet, so that the kernel's receive path handles one packet where it would have
// handled up to 64.
#include "gso_coalesce.h"

#include "big_endian.h"
#include "ethernet_header.h"
#include "internet_checksum.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace vxroute {

namespace {

constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint32_t kMaxIpLength = 65535;

bool ParseIp(uint8_t* p, uint32_t len, Segment* s) {
  if (len < 28) return false;
  if (p[0] == 0x45) {
    if (Be16(p + 2) != len || (p[6] & 0x3f) != 0 || p[7] != 0) return false;  // MF, or a fragment offset
    s->proto = p[9];
    s->iphl = 20;
  } else if (p[0] >> 4 == 6) {
    if (len < 48 || Be16(p + 4) + 40u != len) return false;
    s->proto = p[6];
    s->iphl = 40;
  } else {
    return false;
  }
  const uint8_t* t = p + s->iphl;
  if (s->proto == IPPROTO_TCP) {
    if (s->iphl + 20 > len) return false;
    s->l4hl = (t[12] >> 4) * 4u;  // RFC 9293 §3.1: data offset 5..15 words, inside the packet
    if (s->l4hl < 20 || s->iphl + s->l4hl >= len) return false;
    if (t[13] != kTcpAck && t[13] != (kTcpAck | kTcpPsh)) return false;
    s->seq = Be32(t + 4);
    s->psh = (t[13] & kTcpPsh) != 0;
  } else if (s->proto == IPPROTO_UDP) {
    s->l4hl = 8;
    if (Be16(t + 4) != len - s->iphl || s->iphl + 8 >= len) return false;
    if (s->iphl == 40 && Be16(t + 6) == 0) return false;  // RFC 8200 §8.1: IPv6 UDP needs its checksum
    s->seq = 0;
    s->psh = false;
  } else {
    return false;
  }
  s->p = p;
  s->len = len;
  s->payload = len - s->iphl - s->l4hl;
  return true;
}

}  // namespace

// On a TAP (l2 = 14) the frame must carry IPv4 or IPv6 right after the Ethernet header, as its type says.
bool ParseSegment(uint8_t* frame, uint32_t len, uint32_t l2, Segment* s) {
  if (l2 > 0) {
    if (len <= l2) return false;
    const uint16_t type = Be16(frame + 12);
    if (type != (frame[l2] >> 4 == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6)) return false;
  }
  s->frame = frame;
  s->l2 = l2;
  return ParseIp(frame + l2, len - l2, s);
}

namespace {

// RFC 1071 sum of the pseudo-header (RFC 768 / RFC 9293 §3.1 / RFC 8200 §8.1) for `l4Length` bytes.
uint64_t PseudoSum(const Segment& s, uint32_t l4Length) {
  const uint8_t* p = s.p;
  uint64_t sum = s.iphl == 20 ? SumBigEndian(p + 12, 8, 0) : SumBigEndian(p + 8, 32, 0);
  return sum + s.proto + l4Length;
}

}  // namespace

bool ChecksumValid(const Segment& s) {
  uint32_t l4Length = s.len - s.iphl;
  if (s.proto == IPPROTO_UDP && Be16(s.p + s.iphl + 6) == 0) return true;  // IPv4 UDP sent without a checksum
  return FoldSum(SumBigEndian(s.p + s.iphl, l4Length, PseudoSum(s, l4Length))) == 0xffff;
}

bool SameFlow(const Segment& head, const Segment& s) {
  if (s.proto != head.proto || s.iphl != head.iphl || s.l4hl != head.l4hl) return false;
  if (head.l2 > 0 && std::memcmp(head.frame, s.frame, 12) != 0) return false;  // the MACs
  const uint8_t* a = head.p;
  const uint8_t* b = s.p;
  if (head.iphl == 20) {
    if (a[1] != b[1] || (a[6] & 0xc0) != (b[6] & 0xc0) || a[8] != b[8] || std::memcmp(a + 12, b + 12, 8) != 0) return false;
  } else {
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7] || std::memcmp(a + 8, b + 8, 32) != 0) return false;
  }
  const uint8_t* ta = a + head.iphl;
  const uint8_t* tb = b + s.iphl;
  if (head.proto == IPPROTO_UDP) return std::memcmp(ta, tb, 4) == 0;  // ports
  return std::memcmp(ta, tb, 4) == 0 && std::memcmp(ta + 8, tb + 8, 4) == 0 &&
         std::memcmp(ta + 20, tb + 20, head.l4hl - 20) == 0;
}

namespace {

constexpr uint32_t kTableSlots = 2 * kMaxBatchPackets;  // a power of two: the table stays at most half full
constexpr uint32_t kMaxKey = 12 + 2 + 32 + 4;

// The flow a packet belongs to, packed into `key`: the MACs on a TAP, IP version, protocol,
// addresses and ports. Returns its length, 0 when the packet has none: not TCP or UDP right after
// the IP header, a later fragment, or too short to say.
uint32_t FlowKey(const uint8_t* frame, uint32_t len, uint32_t l2, uint8_t* key) {
  if (len <= l2) return 0;
  const uint8_t* p = frame + l2;
  const uint32_t ipLen = len - l2;
  uint32_t n = 0;
  if (l2 > 0) {
    std::memcpy(key, frame, 12);
    n = 12;
  }
  uint32_t iphl, addresses, addressesAt;
  uint8_t proto;
  if (p[0] >> 4 == 4) {
    iphl = (p[0] & 0x0fu) * 4;
    if (iphl < 20 || ipLen < iphl + 4 || (Be16(p + 6) & 0x1fff) != 0) return 0;
    proto = p[9];
    addressesAt = 12;
    addresses = 8;
  } else if (p[0] >> 4 == 6) {
    iphl = 40;
    if (ipLen < iphl + 4) return 0;
    proto = p[6];
    addressesAt = 8;
    addresses = 32;
  } else {
    return 0;
  }
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return 0;
  key[n++] = p[0] >> 4;
  key[n++] = proto;
  std::memcpy(key + n, p + addressesAt, addresses);
  n += addresses;
  std::memcpy(key + n, p + iphl, 4);  // the ports
  return n + 4;
}

uint32_t Fnv1a(const uint8_t* key, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ key[i]) * 16777619u;
  return h;
}

// Whether `s` continues `run` (its flow's open write): what the kernel's tcp_gro_receive asks.
bool Continues(const GsoRun& run, const Segment& s) {
  const Segment& head = run.head;
  return run.segments < kMaxRunPackets && SameFlow(head, s) && (head.proto != IPPROTO_TCP || s.seq == run.expected) &&
         s.payload <= run.gsoSize && head.iphl + head.l4hl + run.payload + s.payload <= kMaxIpLength;
}

// Whether a held run's head has the headers MakeGsoHead sets up: IPv4 without options or IPv6
// (a kernel peer's TSO packet may carry IPv4 options; it is then written alone, as it is).
bool HeldJoinable(const HeldRun& h) {
  return h.head.p[0] == 0x45 || (h.head.p[0] >> 4 == 6 && h.head.iphl == 40);
}

// Whether held run `h` continues `run`: its segments as many packets of the same size would.
bool ContinuesHeld(const GsoRun& run, const HeldRun& h) {
  const Segment& head = run.head;
  return HeldJoinable(h) && run.segments + h.segments <= kMaxRunPackets && head.proto == IPPROTO_TCP && SameFlow(head, h.head) &&
         h.head.seq == run.expected && h.gsoSize == run.gsoSize && head.iphl + head.l4hl + run.payload + h.payload <= kMaxIpLength;
}

// Whether a write ending with held run `h` may take more: no PSH, a full last segment.
bool HeldLeavesOpen(const HeldRun& h) {
  return !h.psh && h.payload - (h.segments - 1) * h.gsoSize == h.gsoSize;
}

}  // namespace

void PlanBatch(uint8_t* slab, const int32_t* offsets, const int32_t* lengths, int64_t count, uint32_t l2, bool udpGso,
               const uint8_t* held, const HeldRun* heldRuns, BatchPlan* plan) {
  int32_t table[kTableSlots];
  std::fill(table, table + kTableSlots, -1);
  plan->writes = 0;
  for (int64_t i = 0; i < count && i < kMaxBatchPackets; i++) {
    uint8_t* frame = slab + offsets[i];
    const auto len = static_cast<uint32_t>(lengths[i]);
    plan->next[i] = -1;
    Segment s{};
    const HeldRun* h = held != nullptr && held[i] != 0 ? &heldRuns[i] : nullptr;
    const bool candidate = h != nullptr || (ParseSegment(frame, len, l2, &s) && (s.proto != IPPROTO_UDP || udpGso) && ChecksumValid(s));
    uint8_t key[kMaxKey];
    const uint32_t keyLen = FlowKey(frame, len, l2, key);
    const uint32_t hash = keyLen > 0 ? Fnv1a(key, keyLen) | 1 : 0;
    int32_t* slot = nullptr;
    for (uint32_t j = hash & (kTableSlots - 1); keyLen > 0; j = (j + 1) & (kTableSlots - 1)) {
      const int32_t w = table[j];
      slot = &table[j];
      if (w < 0) break;
      if (plan->runs[w].flowHash != hash) continue;
      const int32_t first = plan->heads[w];
      uint8_t other[kMaxKey];
      if (FlowKey(slab + offsets[first], static_cast<uint32_t>(lengths[first]), l2, other) == keyLen && std::memcmp(key, other, keyLen) == 0) break;
    }
    if (h != nullptr && slot != nullptr && *slot >= 0) {
      GsoRun& run = plan->runs[*slot];
      if (run.open && ContinuesHeld(run, *h)) {
        plan->next[run.last] = static_cast<int32_t>(i);
        run.last = static_cast<int32_t>(i);
        run.payload += h->payload;
        run.expected += h->payload;
        run.psh = run.psh || h->psh;
        run.packets++;
        run.segments += h->segments;
        run.open = HeldLeavesOpen(*h);
        continue;
      }
    } else if (candidate && slot != nullptr && *slot >= 0) {
      GsoRun& run = plan->runs[*slot];
      if (run.open && Continues(run, s)) {
        plan->next[run.last] = static_cast<int32_t>(i);
        run.last = static_cast<int32_t>(i);
        run.payload += s.payload;
        run.expected += s.payload;
        run.psh = run.psh || s.psh;
        run.packets++;
        run.segments++;
        run.open = !s.psh && s.payload == run.gsoSize;
        continue;
      }
    }
    const uint32_t w = plan->writes++;
    plan->heads[w] = static_cast<int32_t>(i);
    GsoRun& run = plan->runs[w];
    run.packets = 1;
    run.last = static_cast<int32_t>(i);
    run.flowHash = hash;
    if (slot != nullptr) *slot = static_cast<int32_t>(w);
    if (h != nullptr) {
      run.head = h->head;
      run.segments = h->segments;
      run.gsoSize = h->gsoSize;
      run.payload = h->payload;
      run.psh = h->psh;
      run.open = HeldJoinable(*h) && HeldLeavesOpen(*h);
      run.expected = h->head.seq + h->payload;
      continue;
    }
    run.head = s;
    run.segments = 1;
    run.gsoSize = candidate ? s.payload : 0;
    run.payload = run.gsoSize;
    run.psh = candidate && s.psh;
    run.open = candidate && !s.psh;
    run.expected = candidate ? s.seq + s.payload : 0;
  }
}

void MakeGsoHead(const GsoRun& run, VirtioNetHdr* hdr) {
  // Lengths for the whole, and in the checksum field the pseudo-header sum, which the kernel
  // completes over the data (CHECKSUM_PARTIAL).
  const Segment& head = run.head;
  const bool tcp = head.proto == IPPROTO_TCP;
  const uint32_t total = head.iphl + head.l4hl + run.payload;
  uint8_t* ip = head.p;
  if (head.iphl == 20) {
    PutBe16(ip + 2, total);
    ip[10] = ip[11] = 0;
    PutBe16(ip + 10, ~FoldSum(SumBigEndian(ip, 20, 0)) & 0xffff);
  } else {
    PutBe16(ip + 4, total - 40);
  }
  uint8_t* l4 = ip + head.iphl;
  if (tcp && run.psh) l4[13] |= kTcpPsh;
  if (!tcp) PutBe16(l4 + 4, total - head.iphl);
  const uint16_t csumOffset = tcp ? kTcpCsumOffset : kUdpCsumOffset;
  PutBe16(l4 + csumOffset, FoldSum(PseudoSum(head, total - head.iphl)));
  std::memset(hdr, 0, sizeof *hdr);
  hdr->flags = kNeedsCsum;
  hdr->gso_type = tcp ? (head.iphl == 20 ? kGsoTcpV4 : kGsoTcpV6) : kGsoUdpL4;
  hdr->hdr_len = static_cast<uint16_t>(head.l2 + head.iphl + head.l4hl);
  hdr->gso_size = static_cast<uint16_t>(run.gsoSize);
  hdr->csum_start = static_cast<uint16_t>(head.l2 + head.iphl);
  hdr->csum_offset = csumOffset;
}

}  // namespace vxroute
