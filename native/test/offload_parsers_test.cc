// Unit tests of the offload parsers over crafted packets: every malformed kind is dropped under
// its own reason, and what checks out is cut, finished or coalesced correctly. Built and run by
// src/native/offload-parsers.test.ts; prints each failure and exits non-zero on any.
#include "../src/gso_coalesce.h"
#include "../src/internet_checksum.h"
#include "../src/partial_checksum.h"
#include "../src/tso_split.h"
#include "../src/udp_gro.h"

#include "expect.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

using namespace vxroute;
using vxroute_test::Expect;
using vxroute_test::failures;

namespace {

using Bytes = std::vector<uint8_t>;

void Put16(Bytes& b, size_t at, uint32_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
uint32_t Get16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

// An IPv4 (or IPv6) TCP packet 10.0.0.1 → 10.0.0.2 with `payload` bytes and a 20-byte TCP header
// (+ `options`), flags ACK; checksums left to the caller.
Bytes TcpPacket(bool v6, uint32_t payload, uint32_t options = 0) {
  const uint32_t iphl = v6 ? 40 : 20;
  const uint32_t tcphl = 20 + options;
  Bytes b(iphl + tcphl + payload);
  if (v6) {
    b[0] = 0x60;
    Put16(b, 4, tcphl + payload);
    b[6] = 6;
    b[7] = 64;
    b[8 + 15] = 1;
    b[24 + 15] = 2;
  } else {
    b[0] = 0x45;
    Put16(b, 2, static_cast<uint32_t>(b.size()));
    b[6] = 0x40;  // DF
    b[8] = 64;
    b[9] = 6;
    b[12] = 10, b[15] = 1, b[16] = 10, b[19] = 2;
  }
  uint8_t* t = b.data() + iphl;
  t[0] = 0x9c, t[1] = 0x40, t[2] = 0x14, t[3] = 0x51;  // ports 40000 → 5201
  t[4] = 0x10;  // sequence number 0x10000000
  t[12] = static_cast<uint8_t>((tcphl / 4) << 4);
  t[13] = 0x10;  // ACK
  for (uint32_t i = 0; i < payload; i++) t[tcphl + i] = static_cast<uint8_t>(i * 7 + 3);
  return b;
}

uint64_t Pseudo(const Bytes& b, uint32_t l2, uint8_t proto) {
  const uint8_t* ip = b.data() + l2;
  const bool v6 = ip[0] >> 4 == 6;
  const uint32_t iphl = v6 ? 40 : (ip[0] & 15) * 4;
  const uint32_t l4 = static_cast<uint32_t>(b.size()) - l2 - iphl;
  return (v6 ? SumBigEndian(ip + 8, 32, 0) : SumBigEndian(ip + 12, 8, 0)) + proto + l4;
}

// Fills the checksums: IPv4 header; TCP in full, or only the pseudo-header sum (`partial`).
void Checksum(Bytes& b, uint32_t l2, bool partial) {
  uint8_t* ip = b.data() + l2;
  const bool v6 = ip[0] >> 4 == 6;
  const uint32_t iphl = v6 ? 40 : (ip[0] & 15) * 4;
  if (!v6) {
    ip[10] = ip[11] = 0;
    Put16(b, l2 + 10, ~FoldSum(SumBigEndian(ip, iphl, 0)) & 0xffff);
  }
  const size_t at = l2 + iphl + 16;
  b[at] = b[at + 1] = 0;
  const uint64_t pseudo = Pseudo(b, l2, 6);
  if (partial) Put16(b, at, FoldSum(pseudo));
  else Put16(b, at, ~FoldSum(SumBigEndian(b.data() + l2 + iphl, b.size() - l2 - iphl, pseudo)) & 0xffff);
}

bool TcpChecksumValid(const uint8_t* p, uint32_t len, uint32_t l2) {
  Bytes b(p, p + len);
  const uint8_t* ip = b.data() + l2;
  const uint32_t iphl = ip[0] >> 4 == 6 ? 40 : (ip[0] & 15) * 4;
  return FoldSum(SumBigEndian(ip + iphl, len - l2 - iphl, Pseudo(b, l2, 6))) == 0xffff;
}

VirtioNetHdr TsoHdr(bool v6, uint32_t gso, uint32_t csumStart) {
  VirtioNetHdr h{};
  h.flags = kNeedsCsum;
  h.gso_type = v6 ? kGsoTcpV6 : kGsoTcpV4;
  h.hdr_len = static_cast<uint16_t>(csumStart + 20);
  h.gso_size = static_cast<uint16_t>(gso);
  h.csum_start = static_cast<uint16_t>(csumStart);
  h.csum_offset = 16;
  return h;
}

constexpr size_t kRoom = 2048 - 64;

// One malformed TSO read: a change to a good header or packet, and the reason it must give.
struct TsoCase {
  const char* name;
  ReadDrop expected;
  std::function<void(VirtioNetHdr&, Bytes&)> spoil;
};

void TsoCases(bool v6) {
  const uint32_t iphl = v6 ? 40 : 20;
  const std::vector<TsoCase> cases = {
      {"gso_size 0", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_size = 0; }},
      {"gso_size beyond a slot", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_size = 4000; }},
      {"GSO type UDP_L4", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_type = kGsoUdpL4; }},
      {"ECN bit", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_type |= 0x80; }},
      {"GSO type of the other family", kDropBadTsoHeaders, [v6](VirtioNetHdr& h, Bytes&) { h.gso_type = v6 ? kGsoTcpV4 : kGsoTcpV6; }},
      {"not TCP", kDropBadGso, [v6](VirtioNetHdr&, Bytes& b) { b[v6 ? 6 : 9] = 17; }},
      {"no payload", kDropBadGso, [iphl, v6](VirtioNetHdr&, Bytes& b) {
         b.resize(iphl + 20);
         Put16(b, v6 ? 4 : 2, v6 ? 20 : iphl + 20);
       }},
      {"NEEDS_CSUM clear", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.flags = 0; }},
      {"unknown flag", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.flags |= 4; }},
      {"csum_start before the TCP header", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.csum_start -= 4; }},
      {"csum_start past the end", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.csum_start = 60000; }},
      {"csum_offset not TCP's", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.csum_offset = 6; }},
      {"hdr_len past the end", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.hdr_len = 65535; }},
      {"TCP data offset 4", kDropBadTsoHeaders, [iphl](VirtioNetHdr&, Bytes& b) { b[iphl + 12] = 0x40; }},
      {"TCP data offset 0", kDropBadTsoHeaders, [iphl](VirtioNetHdr&, Bytes& b) { b[iphl + 12] = 0x00; }},
      {"TCP header past the end", kDropBadTsoHeaders, [iphl, v6](VirtioNetHdr&, Bytes& b) {
         b.resize(iphl + 40);  // data offset 15 (60 bytes) in 40
         b[iphl + 12] = 0xf0;
         Put16(b, v6 ? 4 : 2, v6 ? 40 : iphl + 40);
       }},
      {"truncated IP (total length beyond the read)", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b.resize(b.size() - 100); }},
      {"IP total length short of the read", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b.resize(b.size() + 100); }},
      {"IP version", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b[0] = static_cast<uint8_t>((b[0] & 0x0f) | 0x50); }},
      {"read shorter than an IP header", kDropBadTsoHeaders, [](VirtioNetHdr& h, Bytes& b) {
         b.resize(12);
         h.hdr_len = 0;
       }},
  };
  for (const TsoCase& c : cases) {
    Bytes b = TcpPacket(v6, 4000);
    VirtioNetHdr h = TsoHdr(v6, 1400, iphl);
    c.spoil(h, b);
    TsoPlan plan;
    char what[160];
    std::snprintf(what, sizeof what, "IPv%d TSO, %s: expected drop %d", v6 ? 6 : 4, c.name, c.expected);
    Expect(CheckTso(h, b.data(), b.size(), false, kRoom, &plan) == c.expected, what);
  }
  if (!v6) {
    const std::vector<TsoCase> v4 = {
        {"IHL 4", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b[0] = 0x44; }},
        {"IHL beyond the read", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) {
           b.resize(40);
           b[0] = 0x4f;
           Put16(b, 2, 40);
         }},
        {"MF set", kDropBadGso, [](VirtioNetHdr&, Bytes& b) { b[6] |= 0x20; }},
        {"fragment offset", kDropBadGso, [](VirtioNetHdr&, Bytes& b) { b[7] = 1; }},
    };
    for (const TsoCase& c : v4) {
      Bytes b = TcpPacket(false, 4000);
      VirtioNetHdr h = TsoHdr(false, 1400, 20);
      c.spoil(h, b);
      TsoPlan plan;
      char what[160];
      std::snprintf(what, sizeof what, "IPv4 TSO, %s: expected drop %d", c.name, c.expected);
      Expect(CheckTso(h, b.data(), b.size(), false, kRoom, &plan) == c.expected, what);
    }
  } else {
    Bytes b = TcpPacket(true, 4000);
    b[6] = 60;  // a destination options header first
    TsoPlan plan;
    Expect(CheckTso(TsoHdr(true, 1400, 40), b.data(), b.size(), false, kRoom, &plan) == kDropBadGso, "IPv6 TSO with an extension header: bad_gso");
  }
}

// A good TSO packet is cut into segments of gso_size with valid lengths and checksums, together its payload.
void TsoCutsGoodPackets() {
  for (bool v6 : {false, true}) {
    for (uint32_t options : {0u, 12u, 40u}) {
      const uint32_t iphl = v6 ? 40 : 20;
      Bytes b = TcpPacket(v6, 4000, options);
      b[iphl + 13] = 0x19;  // ACK PSH FIN: only on the last segment
      Checksum(b, 0, true);
      VirtioNetHdr h = TsoHdr(v6, 1400, iphl);
      TsoPlan plan;
      Expect(CheckTso(h, b.data(), b.size(), false, kRoom, &plan) == kReadOk, "good TSO packet checks out");
      Expect(plan.segments == 3 && plan.hdrLen == iphl + 20 + options, "good TSO packet: 3 segments, headers with options");
      Bytes joined;
      for (uint32_t i = 0; i < plan.segments; i++) {
        uint8_t out[kRoom];
        uint32_t len = CutSegment(b.data(), plan, i, out);
        Expect(len <= kRoom, "segment fits its slot");
        Expect((v6 ? Get16(out + 4) + 40 : Get16(out + 2)) == len, "segment's IP length is its size");
        if (!v6) Expect(FoldSum(SumBigEndian(out, 20, 0)) == 0xffff, "segment's IPv4 header checksum valid");
        Expect(TcpChecksumValid(out, len, 0), "segment's TCP checksum valid");
        Expect(((out[iphl + 13] & 0x09) != 0) == (i + 1 == plan.segments), "FIN and PSH only on the last segment");
        joined.insert(joined.end(), out + plan.hdrLen, out + len);
      }
      Expect(joined == Bytes(b.begin() + plan.hdrLen, b.end()), "segments carry the payload in order");
    }
  }
}

void TsoOnTap() {
  // 802.1Q tag: the IP header at 18, csum_start counts it.
  Bytes ip = TcpPacket(false, 3000);
  Bytes frame(18, 0);
  frame[12] = 0x81, frame[13] = 0x00, frame[16] = 0x08, frame[17] = 0x00;
  frame.insert(frame.end(), ip.begin(), ip.end());
  TsoPlan plan;
  Expect(CheckTso(TsoHdr(false, 1400, 38), frame.data(), frame.size(), true, kRoom, &plan) == kReadOk && plan.l2 == 18,
         "TSO frame with an 802.1Q tag checks out with l2 = 18");
  frame[16] = 0x86, frame[17] = 0xdd;
  Expect(CheckTso(TsoHdr(false, 1400, 38), frame.data(), frame.size(), true, kRoom, &plan) == kDropBadTsoHeaders,
         "TSO frame whose tagged type is not the GSO type's family: bad_tso_headers");
  Bytes runt(16, 0);
  runt[12] = 0x81;
  VirtioNetHdr h = TsoHdr(false, 1400, 38);
  h.hdr_len = 0;
  Expect(CheckTso(h, runt.data(), runt.size(), true, kRoom, &plan) == kDropBadTsoHeaders,
         "TSO frame cut inside its 802.1Q tag: bad_tso_headers");
}

void PlainReads() {
  Bytes b = TcpPacket(false, 500);
  Checksum(b, 0, true);
  VirtioNetHdr h{};
  h.flags = kNeedsCsum;
  h.csum_start = 20;
  h.csum_offset = 16;
  Bytes good = b;
  Expect(CheckPlainRead(h, good.data(), good.size(), false, kRoom) == kReadOk && TcpChecksumValid(good.data(), static_cast<uint32_t>(good.size()), 0),
         "plain read with NEEDS_CSUM: checksum finished");
  const std::vector<TsoCase> cases = {
      {"csum_start inside the IP header", kDropBadVnetHdr, [](VirtioNetHdr& v, Bytes&) { v.csum_start = 10; }},
      {"checksum field at an odd offset", kDropBadVnetHdr, [](VirtioNetHdr& v, Bytes&) { v.csum_offset = 7; }},
      {"checksum field past the end", kDropBadVnetHdr, [](VirtioNetHdr& v, Bytes&) { v.csum_offset = 600; }},
      {"csum_start past the end", kDropBadVnetHdr, [](VirtioNetHdr& v, Bytes&) { v.csum_start = 65535; }},
      {"unknown flag", kDropBadVnetHdr, [](VirtioNetHdr& v, Bytes&) { v.flags = 0x80; }},
      {"not IP", kDropBadVnetHdr, [](VirtioNetHdr&, Bytes& p) { p[0] = 0x00; }},
      {"IHL 3", kDropBadVnetHdr, [](VirtioNetHdr&, Bytes& p) { p[0] = 0x43; }},
      {"larger than a slot", kDropOversize, [](VirtioNetHdr&, Bytes& p) { p.resize(kRoom + 1); }},
  };
  for (const TsoCase& c : cases) {
    Bytes p = b;
    VirtioNetHdr v = h;
    c.spoil(v, p);
    char what[160];
    std::snprintf(what, sizeof what, "plain read, %s: expected drop %d", c.name, c.expected);
    Expect(CheckPlainRead(v, p.data(), p.size(), false, kRoom) == c.expected, what);
  }
  VirtioNetHdr none{};
  Bytes p = b;
  Expect(CheckPlainRead(none, p.data(), p.size(), false, kRoom) == kReadOk && p == b, "plain read without NEEDS_CSUM is left alone");
}

void PartialChecksums() {
  for (bool v6 : {false, true}) {
    Bytes b = TcpPacket(v6, 777);
    Checksum(b, 0, true);
    Expect(!TcpChecksumValid(b.data(), static_cast<uint32_t>(b.size()), 0), "partial checksum is invalid as it stands");
    Expect(FinishPartialChecksum(b.data(), static_cast<uint32_t>(b.size()), false), "partial checksum is finished");
    Expect(TcpChecksumValid(b.data(), static_cast<uint32_t>(b.size()), 0), "finished checksum is valid");
    Expect(!FinishPartialChecksum(b.data(), static_cast<uint32_t>(b.size()), false), "a valid checksum is left alone");
    Bytes bad = TcpPacket(v6, 777);
    Checksum(bad, 0, false);
    bad[bad.size() - 1] ^= 1;  // corrupted on the way: the field is no pseudo-header sum
    Bytes copy = bad;
    Expect(!FinishPartialChecksum(bad.data(), static_cast<uint32_t>(bad.size()), false) && bad == copy,
           "a corrupted packet with a full checksum is left alone (the kernel drops it)");
  }
  Bytes frame(14, 0);
  frame[12] = 0x08;
  Bytes ip = TcpPacket(false, 100);
  frame.insert(frame.end(), ip.begin(), ip.end());
  Checksum(frame, 14, true);
  Expect(FinishPartialChecksum(frame.data(), static_cast<uint32_t>(frame.size()), true) && TcpChecksumValid(frame.data(), static_cast<uint32_t>(frame.size()), 14),
         "partial checksum in an Ethernet frame is finished");
}

// A TCP segment of flow `port` (the destination port's low byte) at sequence 0x10000000 + `at`.
Bytes FlowSegment(uint8_t port, uint32_t at, uint32_t payload) {
  Bytes b = TcpPacket(false, payload);
  const uint32_t seq = 0x10000000 + at;
  b[24] = static_cast<uint8_t>(seq >> 24), b[25] = static_cast<uint8_t>(seq >> 16), b[26] = static_cast<uint8_t>(seq >> 8), b[27] = static_cast<uint8_t>(seq);
  b[23] = port;
  Checksum(b, 0, false);
  return b;
}

struct Batch {
  Bytes slab;
  int32_t offsets[kMaxBatchPackets];
  int32_t lengths[kMaxBatchPackets];
  int64_t count = 0;
  void Add(const Bytes& p) {
    offsets[count] = static_cast<int32_t>(slab.size());
    lengths[count] = static_cast<int32_t>(p.size());
    slab.insert(slab.end(), p.begin(), p.end());
    count++;
  }
};

// The packets of write w, in the order they are written.
std::vector<int32_t> Members(const BatchPlan& plan, uint32_t w) {
  std::vector<int32_t> out;
  for (int32_t j = plan.heads[w]; j >= 0; j = plan.next[j]) out.push_back(j);
  return out;
}

void Coalescing() {
  // Three segments of one flow (the third short), then one of another: a run of 3 and a single.
  Batch b;
  for (uint32_t i = 0; i < 3; i++) b.Add(FlowSegment(0x51, i * 1000, i == 2 ? 500 : 1000));
  b.Add(FlowSegment(0x99, 0, 1000));
  thread_local BatchPlan plan;
  PlanBatch(b.slab.data(), b.offsets, b.lengths, b.count, 0, true, nullptr, nullptr, &plan);
  Expect(plan.writes == 2 && plan.runs[0].packets == 3 && plan.runs[0].gsoSize == 1000 && plan.runs[0].payload == 2500,
         "coalescing: three segments of one flow form a run, the short one ends it");
  Expect(Members(plan, 0) == std::vector<int32_t>{0, 1, 2} && Members(plan, 1) == std::vector<int32_t>{3}, "coalescing: the run's packets in order");
  VirtioNetHdr h;
  MakeGsoHead(plan.runs[0], &h);
  Expect(h.gso_type == kGsoTcpV4 && h.gso_size == 1000 && h.csum_start == 20 && h.csum_offset == 16 && h.hdr_len == 40,
         "coalescing: the virtio_net_hdr of the run");
  Expect(Get16(b.slab.data() + 2) == 2540, "coalescing: the head's IP total length is the run's");

  // Two flows interleaved, A B A B A B A B: one write each.
  Batch two;
  for (uint32_t i = 0; i < 8; i++) two.Add(FlowSegment(i % 2 == 0 ? 0x51 : 0x52, (i / 2) * 1000, 1000));
  PlanBatch(two.slab.data(), two.offsets, two.lengths, two.count, 0, true, nullptr, nullptr, &plan);
  Expect(plan.writes == 2 && Members(plan, 0) == std::vector<int32_t>{0, 2, 4, 6} && Members(plan, 1) == std::vector<int32_t>{1, 3, 5, 7},
         "coalescing: interleaved flows leave as one run each");

  // A gap in flow A's sequence starts its next run; B between them joins its own; A's later
  // segment joins only A's latest run, never the older one.
  Batch gap;
  gap.Add(FlowSegment(0x51, 0, 1000));
  gap.Add(FlowSegment(0x51, 5000, 1000));
  gap.Add(FlowSegment(0x52, 0, 1000));
  gap.Add(FlowSegment(0x51, 1000, 1000));  // continues the first run, which is no longer A's latest
  gap.Add(FlowSegment(0x51, 2000, 1000));
  PlanBatch(gap.slab.data(), gap.offsets, gap.lengths, gap.count, 0, true, nullptr, nullptr, &plan);
  Expect(plan.writes == 4 && Members(plan, 0) == std::vector<int32_t>{0} && Members(plan, 1) == std::vector<int32_t>{1} &&
             Members(plan, 2) == std::vector<int32_t>{2} && Members(plan, 3) == std::vector<int32_t>{3, 4},
         "coalescing: a flow's packets join only its latest run, in order");

  // A packet of flow A that may not be coalesced (a pure ACK) closes A's run.
  Batch barrier;
  barrier.Add(FlowSegment(0x51, 0, 1000));
  barrier.Add(FlowSegment(0x51, 1000, 0));
  barrier.Add(FlowSegment(0x51, 1000, 1000));
  PlanBatch(barrier.slab.data(), barrier.offsets, barrier.lengths, barrier.count, 0, true, nullptr, nullptr, &plan);
  Expect(plan.writes == 3, "coalescing: a packet that is no segment closes its flow's run");

  Bytes bad = FlowSegment(0x51, 0, 1000);
  bad[32] = 0x40;  // TCP data offset 4
  Batch one;
  one.Add(bad);
  one.Add(FlowSegment(0x51, 1000, 1000));
  PlanBatch(one.slab.data(), one.offsets, one.lengths, one.count, 0, true, nullptr, nullptr, &plan);
  Expect(plan.writes == 2 && plan.runs[0].packets == 1, "coalescing: a TCP data offset below 5 is never a head");

  // A segment whose checksum is wrong goes alone (held packets: native/test/whole_runs_test.cc).
  Batch sums;
  for (uint32_t i = 0; i < 3; i++) sums.Add(FlowSegment(0x51, i * 1000, 1000));
  sums.slab[sums.offsets[1] + 36] ^= 0xff;  // the second segment's TCP checksum
  PlanBatch(sums.slab.data(), sums.offsets, sums.lengths, sums.count, 0, true, nullptr, nullptr, &plan);
  Expect(plan.writes == 3, "coalescing: a segment with a bad checksum is not coalesced");
}

// A VXLAN datagram (8-byte header, inner Ethernet) carrying `inner`.
Bytes Vxlan(const Bytes& inner, bool v6) {
  Bytes d(8 + 14);
  d[0] = 0x08;
  d[12 + 8] = v6 ? 0x86 : 0x08;
  d[13 + 8] = v6 ? 0xdd : 0x00;
  d.insert(d.end(), inner.begin(), inner.end());
  return d;
}

// What the underlay socket hands over whole: a UDP GRO buffer is cut at its gso_size, a kernel
// peer's unsegmented TSO packet into TCP segments behind the VXLAN header, and every length that
// does not check out drops the message as one.
void ReceivedWhole() {
  const size_t room = 2048 - 42;
  const uint32_t maxInner = 1450;
  // A GRO buffer of three 1000-byte datagrams and a 300-byte one.
  Bytes gro(3300);
  for (size_t i = 0; i < gro.size(); i++) gro[i] = static_cast<uint8_t>(i / 1000 + 1);
  ReceivedPlan plan = PlanReceived(gro.data(), static_cast<int64_t>(gro.size()), 1000, room, maxInner);
  Expect(plan.kind == Received::kDatagrams && plan.segments == 4 && plan.stride == 1000, "GRO buffer: 4 datagrams of 1000 bytes");
  uint8_t out[room];
  Expect(CutReceived(gro.data(), plan, 3, out) == 300 && out[0] == 4 && out[299] == 4, "GRO buffer: the last datagram is the short rest");
  Expect(CutReceived(gro.data(), plan, 1, out) == 1000 && out[0] == 2 && out[999] == 2, "GRO buffer: the second datagram in order");
  Expect(PlanReceived(gro.data(), 3300, 0, room, maxInner).kind == Received::kDrop, "no gso_size and larger than a slot, not TSO: dropped");
  Expect(PlanReceived(gro.data(), 3300, 3000, room, maxInner).kind == Received::kDrop, "gso_size beyond a slot: dropped");
  Expect(PlanReceived(gro.data(), 3300, 20, room, maxInner).kind == Received::kDrop, "gso_size shorter than a VXLAN datagram: dropped");
  Expect(PlanReceived(gro.data(), -1, 0, room, maxInner).kind == Received::kDrop, "truncated by the kernel: dropped");
  plan = PlanReceived(gro.data(), 900, 1000, room, maxInner);
  Expect(plan.kind == Received::kDatagrams && plan.segments == 1 && CutReceived(gro.data(), plan, 0, out) == 900, "one datagram, not longer than gso_size: itself");
  plan = PlanReceived(gro.data(), 0, 0, room, maxInner);
  Expect(plan.kind == Received::kDatagrams && plan.segments == 1 && CutReceived(gro.data(), plan, 0, out) == 0, "an empty datagram stays one (decap drops it)");

  for (bool v6 : {false, true}) {
    const uint32_t iphl = v6 ? 40 : 20;
    Bytes inner = TcpPacket(v6, 20000, 12);
    inner[iphl + 13] = 0x18;  // ACK PSH: PSH only on the last segment
    Checksum(inner, 0, true);  // partial, as the kernel peer leaves it
    Bytes d = Vxlan(inner, v6);
    d[4] = 0x12;  // the VNI, copied to every segment
    plan = PlanReceived(d.data(), static_cast<int64_t>(d.size()), 0, room, maxInner);
    const uint32_t mss = maxInner - iphl - 32;
    Expect(plan.kind == Received::kInnerTso && plan.inner.gsoSize == mss && plan.segments == (20000 + mss - 1) / mss,
           v6 ? "IPv6 inner TSO: cut at the underlay's inner MTU" : "IPv4 inner TSO: cut at the underlay's inner MTU");
    Bytes joined;
    uint32_t seq = 0x10000000;
    for (uint32_t i = 0; i < plan.segments; i++) {
      const uint32_t len = CutReceived(d.data(), plan, i, out);
      uint8_t* ip = out + 22;
      Expect(len <= room && len - 22 <= maxInner, "inner TSO: a segment fits a slot and the inner MTU");
      Expect(std::memcmp(out, d.data(), 22) == 0, "inner TSO: VXLAN and Ethernet headers copied");
      Expect((v6 ? Get16(ip + 4) + 40 : Get16(ip + 2)) == len - 22, "inner TSO: the segment's IP length");
      Expect(TcpChecksumValid(ip, len - 22, 0), "inner TSO: the segment's TCP checksum is finished");
      const uint8_t* t = ip + iphl;
      Expect(((uint32_t{t[4]} << 24) | (uint32_t{t[5]} << 16) | (uint32_t{t[6]} << 8) | t[7]) == seq, "inner TSO: consecutive sequence numbers");
      Expect(((t[13] & 0x08) != 0) == (i + 1 == plan.segments), "inner TSO: PSH only on the last");
      seq += len - 22 - iphl - 32;
      joined.insert(joined.end(), ip + iphl + 32, out + len);
    }
    Expect(joined == Bytes(inner.begin() + iphl + 32, inner.end()), "inner TSO: the segments carry the payload in order");

    Bytes udp = d;
    udp[22 + (v6 ? 6 : 9)] = 17;
    Expect(PlanReceived(udp.data(), static_cast<int64_t>(udp.size()), 0, room, maxInner).kind == Received::kDrop, "inner UDP larger than a slot: dropped");
    Bytes longer = d;
    longer.resize(d.size() + 10);
    Expect(PlanReceived(longer.data(), static_cast<int64_t>(longer.size()), 0, room, maxInner).kind == Received::kDrop, "inner IP length short of the datagram: dropped");
    Bytes wrongType = d;
    wrongType[21] ^= 0xff;
    Expect(PlanReceived(wrongType.data(), static_cast<int64_t>(wrongType.size()), 0, room, maxInner).kind == Received::kDrop, "inner EtherType not IP: dropped");
    Expect(PlanReceived(d.data(), static_cast<int64_t>(d.size()), 0, room, iphl + 32).kind == Received::kDrop, "inner MTU leaving no payload: dropped");
    Expect(PlanReceived(d.data(), static_cast<int64_t>(d.size()), 0, room, 70000).kind == Received::kDrop, "inner MTU beyond 64 KiB: dropped");
    Expect(PlanReceived(d.data(), static_cast<int64_t>(d.size()), 0, 1000, maxInner).kind == Received::kDrop, "a segment beyond a slot: dropped");

    // A TSO packet of two segments (a 50-byte tail) fits a slot but not the inner MTU: cut, or
    // left whole, as a larger one; handed on as one packet, the kernel would refuse to forward it.
    Bytes two = TcpPacket(v6, mss + 50, 12);
    Checksum(two, 0, true);
    const Bytes small = Vxlan(two, v6);
    plan = PlanReceived(small.data(), static_cast<int64_t>(small.size()), 0, room, maxInner);
    Expect(small.size() <= room && plan.kind == Received::kInnerTso && plan.segments == 2 && CutReceived(small.data(), plan, 0, out) == 22 + maxInner &&
               CutReceived(small.data(), plan, 1, out) == 22 + iphl + 32 + 50,
           "a TSO packet that fits a slot, longer than the inner MTU: cut at it");
    Expect(PlanReceived(small.data(), static_cast<int64_t>(small.size()), 0, room, maxInner, true).kind == Received::kWholeTso,
           "a TSO packet that fits a slot, longer than the inner MTU: left whole where the TUN takes GSO writes");
    Bytes udpSmall = small;
    udpSmall[22 + (v6 ? 6 : 9)] = 17;
    plan = PlanReceived(udpSmall.data(), static_cast<int64_t>(udpSmall.size()), 0, room, maxInner, true);
    Expect(plan.kind == Received::kDatagrams && plan.segments == 1 && plan.stride == small.size(), "inner UDP longer than the inner MTU that fits a slot: itself");
    Bytes one = TcpPacket(v6, mss, 12);
    Checksum(one, 0, false);
    const Bytes full = Vxlan(one, v6);
    plan = PlanReceived(full.data(), static_cast<int64_t>(full.size()), 0, room, maxInner, true);
    Expect(plan.kind == Received::kDatagrams && plan.segments == 1 && plan.stride == 22 + maxInner, "a TCP packet of the inner MTU: itself");
  }
  Bytes tiny(9, 0);
  Expect(PlanReceived(tiny.data(), 9, 0, 4, maxInner).kind == Received::kDrop, "a datagram shorter than VXLAN and Ethernet, beyond a slot: dropped");
}
}  // namespace

// An IPv4 (or IPv6) UDP datagram 10.0.0.1 → 10.0.0.2, ports 40000 → 5201, IPv4 id `id`, with
// `payload` bytes starting at pattern offset `at`; full checksums, or only the pseudo-header sum
// in the UDP field (`partial`, as udp_send_skb leaves a GSO packet).
Bytes UdpPacket(bool v6, uint32_t payload, bool partial, uint32_t id = 0x1234, uint32_t at = 0) {
  const uint32_t iphl = v6 ? 40 : 20;
  Bytes b(iphl + 8 + payload);
  if (v6) {
    b[0] = 0x60;
    Put16(b, 4, 8 + payload);
    b[6] = 17;
    b[7] = 64;
    b[8 + 15] = 1;
    b[24 + 15] = 2;
  } else {
    b[0] = 0x45;
    Put16(b, 2, static_cast<uint32_t>(b.size()));
    Put16(b, 4, id);
    b[8] = 64;
    b[9] = 17;
    b[12] = 10, b[15] = 1, b[16] = 10, b[19] = 2;
    Put16(b, 10, ~FoldSum(SumBigEndian(b.data(), 20, 0)) & 0xffff);
  }
  uint8_t* u = b.data() + iphl;
  u[0] = 0x9c, u[1] = 0x40, u[2] = 0x14, u[3] = 0x51;
  Put16(b, iphl + 4, 8 + payload);
  for (uint32_t i = 0; i < payload; i++) u[8 + i] = static_cast<uint8_t>((at + i) * 13 + 5);
  const uint64_t pseudo = Pseudo(b, 0, 17);
  if (partial) Put16(b, iphl + 6, FoldSum(pseudo));
  else Put16(b, iphl + 6, ~FoldSum(SumBigEndian(u, 8 + payload, pseudo)) & 0xffff);
  return b;
}

bool UdpChecksumValid(const uint8_t* p, uint32_t len) {
  Bytes b(p, p + len);
  const uint32_t iphl = p[0] >> 4 == 6 ? 40 : (p[0] & 15) * 4;
  return Get16(p + iphl + 6) != 0 && FoldSum(SumBigEndian(p + iphl, len - iphl, Pseudo(b, 0, 17))) == 0xffff;
}

VirtioNetHdr UsoHdr(uint32_t gso, uint32_t csumStart) {
  VirtioNetHdr h{};
  h.flags = kNeedsCsum;
  h.gso_type = kGsoUdpL4;
  h.hdr_len = static_cast<uint16_t>(csumStart + 8);
  h.gso_size = static_cast<uint16_t>(gso);
  h.csum_start = static_cast<uint16_t>(csumStart);
  h.csum_offset = 6;
  return h;
}

// Every malformed USO read is dropped under its reason.
void UsoCases(bool v6) {
  const uint32_t iphl = v6 ? 40 : 20;
  std::vector<TsoCase> cases = {
      {"gso_size 0", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_size = 0; }},
      {"gso_size beyond a slot", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_size = 4000; }},
      {"GSO type TCPV4", kDropBadGso, [](VirtioNetHdr& h, Bytes&) { h.gso_type = kGsoTcpV4; }},
      {"not UDP", kDropBadGso, [v6](VirtioNetHdr&, Bytes& b) { b[v6 ? 6 : 9] = 6; }},
      {"no payload", kDropBadGso, [iphl, v6](VirtioNetHdr&, Bytes& b) {
         b.resize(iphl + 8);
         Put16(b, v6 ? 4 : 2, v6 ? 8 : iphl + 8);
         Put16(b, iphl + 4, 8);
       }},
      {"NEEDS_CSUM clear", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.flags = 0; }},
      {"unknown flag", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.flags |= 4; }},
      {"csum_start before the UDP header", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.csum_start -= 4; }},
      {"csum_start past the end", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.csum_start = 60000; }},
      {"csum_offset TCP's", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.csum_offset = 16; }},
      {"hdr_len past the end", kDropBadVnetHdr, [](VirtioNetHdr& h, Bytes&) { h.hdr_len = 65535; }},
      {"UDP length short of the packet", kDropBadTsoHeaders, [iphl](VirtioNetHdr&, Bytes& b) { Put16(b, iphl + 4, 1408); }},
      {"UDP length beyond the packet", kDropBadTsoHeaders, [iphl](VirtioNetHdr&, Bytes& b) { Put16(b, iphl + 4, 65000); }},
      {"UDP header cut", kDropBadTsoHeaders, [iphl, v6](VirtioNetHdr& h, Bytes& b) {
         b.resize(iphl + 4);
         Put16(b, v6 ? 4 : 2, v6 ? 4 : iphl + 4);
         h.hdr_len = 0;
       }},
      {"truncated IP (total length beyond the read)", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b.resize(b.size() - 100); }},
      {"IP total length short of the read", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b.resize(b.size() + 100); }},
      {"IP version 5", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b[0] = static_cast<uint8_t>((b[0] & 0x0f) | 0x50); }},
      {"empty read", kDropBadTsoHeaders, [](VirtioNetHdr& h, Bytes& b) {
         b.clear();
         h.hdr_len = 0;
       }},
  };
  if (!v6) {
    cases.push_back({"MF set", kDropBadGso, [](VirtioNetHdr&, Bytes& b) { b[6] |= 0x20; }});
    cases.push_back({"IHL 4", kDropBadTsoHeaders, [](VirtioNetHdr&, Bytes& b) { b[0] = 0x44; }});
  } else {
    cases.push_back({"an extension header", kDropBadGso, [](VirtioNetHdr&, Bytes& b) { b[6] = 60; }});
  }
  for (const TsoCase& c : cases) {
    Bytes b = UdpPacket(v6, 4000, true);
    VirtioNetHdr h = UsoHdr(1400, iphl);
    c.spoil(h, b);
    TsoPlan plan;
    char what[160];
    std::snprintf(what, sizeof what, "IPv%d USO, %s: expected drop %d", v6 ? 6 : 4, c.name, c.expected);
    Expect(CheckUso(h, b.data(), b.size(), false, kRoom, &plan) == c.expected, what);
  }
}

// A good USO packet is cut into datagrams of gso_size (the last the rest), each with its own IP
// length, IPv4 id (+1 each) and header checksum, UDP length and full checksum.
void UsoCutsGoodPackets() {
  for (bool v6 : {false, true}) {
    const uint32_t iphl = v6 ? 40 : 20;
    Bytes b = UdpPacket(v6, 4000, true);
    TsoPlan plan;
    Expect(CheckUso(UsoHdr(1400, iphl), b.data(), b.size(), false, kRoom, &plan) == kReadOk, "good USO packet checks out");
    Expect(plan.segments == 3 && plan.hdrLen == iphl + 8 && plan.udp == 1, "good USO packet: 3 datagrams");
    Bytes joined;
    for (uint32_t i = 0; i < plan.segments; i++) {
      uint8_t out[kRoom];
      const uint32_t len = CutSegment(b.data(), plan, i, out);
      Expect(len == iphl + 8 + (i < 2 ? 1400 : 1200), "datagram: gso_size, the last the rest");
      Expect((v6 ? Get16(out + 4) + 40 : Get16(out + 2)) == len, "datagram's IP length is its size");
      Expect(Get16(out + iphl + 4) == len - iphl, "datagram's UDP length is its size");
      if (!v6) Expect(FoldSum(SumBigEndian(out, 20, 0)) == 0xffff && Get16(out + 4) == 0x1234 + i, "datagram's IPv4 id and header checksum");
      Expect(UdpChecksumValid(out, len), "datagram's UDP checksum valid");
      joined.insert(joined.end(), out + plan.hdrLen, out + len);
    }
    Expect(joined == Bytes(b.begin() + plan.hdrLen, b.end()), "datagrams carry the payload in order");
  }
  // On a TAP: the family comes from the IP header and must agree with the frame's type.
  Bytes ip = UdpPacket(false, 3000, true);
  Bytes frame(14, 0);
  frame[12] = 0x08;
  frame.insert(frame.end(), ip.begin(), ip.end());
  TsoPlan plan;
  Expect(CheckUso(UsoHdr(1400, 34), frame.data(), frame.size(), true, kRoom, &plan) == kReadOk && plan.l2 == 14 && plan.segments == 3,
         "USO frame on a TAP checks out with l2 = 14");
  frame[12] = 0x86, frame[13] = 0xdd;
  Expect(CheckUso(UsoHdr(1400, 34), frame.data(), frame.size(), true, kRoom, &plan) == kDropBadTsoHeaders,
         "USO frame whose type is not its IP version's: bad_tso_headers");
}

// Datagrams of one flow coalesced on write (GSO_UDP_L4) and read back as the kernel would hand
// that super-packet to a TUN with USO give back the very datagrams; without udpGso none join.
void UdpCoalescingRoundTrip() {
  for (bool v6 : {false, true}) {
    const uint32_t sizes[] = {1000, 1000, 1000, 600};
    std::vector<Bytes> datagrams;
    Batch b;
    uint32_t at = 0;
    for (uint32_t i = 0; i < 4; i++) {
      datagrams.push_back(UdpPacket(v6, sizes[i], false, 0x1234 + i, at));
      at += sizes[i];
      b.Add(datagrams.back());
    }
    thread_local BatchPlan plan;
    PlanBatch(b.slab.data(), b.offsets, b.lengths, b.count, 0, false, nullptr, nullptr, &plan);
    Expect(plan.writes == 4, "UDP coalescing off: every datagram alone");
    PlanBatch(b.slab.data(), b.offsets, b.lengths, b.count, 0, true, nullptr, nullptr, &plan);
    Expect(plan.writes == 1 && plan.runs[0].packets == 4 && plan.runs[0].gsoSize == 1000, "UDP coalescing: one run of 4, the short one last");
    VirtioNetHdr h;
    MakeGsoHead(plan.runs[0], &h);
    const uint32_t iphl = v6 ? 40 : 20;
    Expect(h.gso_type == kGsoUdpL4 && h.csum_offset == 6 && h.csum_start == iphl && h.gso_size == 1000, "UDP run's virtio_net_hdr");
    Bytes super(b.slab.begin(), b.slab.begin() + b.lengths[0]);
    for (int64_t j = 1; j < b.count; j++) {
      super.insert(super.end(), b.slab.begin() + b.offsets[j] + iphl + 8, b.slab.begin() + b.offsets[j] + b.lengths[j]);
    }
    TsoPlan read;
    Expect(CheckUso(h, super.data(), super.size(), false, kRoom, &read) == kReadOk && read.segments == 4, "the UDP run reads back as USO");
    for (uint32_t i = 0; i < read.segments && i < 4; i++) {
      uint8_t out[kRoom];
      const uint32_t len = CutSegment(super.data(), read, i, out);
      Expect(Bytes(out, out + len) == datagrams[i], "the USO cut gives back the datagram byte for byte");
    }
  }
}

int main() {
  TsoCases(false);
  TsoCases(true);
  TsoCutsGoodPackets();
  TsoOnTap();
  PlainReads();
  PartialChecksums();
  Coalescing();
  ReceivedWhole();
  UsoCases(false);
  UsoCases(true);
  UsoCutsGoodPackets();
  UdpCoalescingRoundTrip();
  std::printf("%s\n", failures == 0 ? "ok" : "failed");
  return failures == 0 ? 0 : 1;
}
