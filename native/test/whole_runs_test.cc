// Unit tests of a vxroute peer's run left whole (udp_gro.h kWholeRun, received_whole.h): which UDP
// GRO buffers are one TCP run, and how the write joins held runs of one flow into one GSO packet
// that the kernel's TCP segmentation cuts back into the datagrams' segments; the same on a TAP
// (switch mode), whose writes carry the inner Ethernet frame, for runs and TSO packets. Built and run by
// src/native/whole-runs.test.ts; prints each failure and exits non-zero on any.
#include "../src/gso_coalesce.h"
#include "../src/internet_checksum.h"
#include "../src/received_whole.h"
#include "../src/tso_split.h"
#include "../src/udp_gro.h"

#include "expect.h"

#include <sys/uio.h>

#include <cstdio>
#include <cstring>
#include <vector>

using namespace vxroute;
using vxroute_test::Expect;
using vxroute_test::failures;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kRoom = 2048 - 42;
constexpr uint32_t kMaxInner = 1450;
constexpr uint32_t kSeq = 0x10000000;
constexpr uint32_t kTcpHeader = 32;  // 12 bytes of options, as Linux sends timestamps

void Put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// A VXLAN datagram (VNI 1) of one TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (or fd00::1 → fd00::2),
// `payload` bytes from sequence kSeq + at, flags ACK (and PSH), `window`, full checksums.
Bytes Datagram(bool v6, uint32_t at, uint32_t payload, bool psh = false, uint8_t window = 1) {
  const uint32_t iphl = v6 ? 40 : 20;
  Bytes d(kDatagramInnerAt + iphl + kTcpHeader + payload);
  d[0] = 0x08;
  d[6] = 0x01;
  d[8 + 12] = v6 ? 0x86 : 0x08;
  d[8 + 13] = v6 ? 0xdd : 0x00;
  uint8_t* ip = d.data() + kDatagramInnerAt;
  if (v6) {
    ip[0] = 0x60;
    Put16(ip + 4, kTcpHeader + payload);
    ip[6] = 6, ip[7] = 64, ip[8] = 0xfd, ip[23] = 1, ip[24] = 0xfd, ip[39] = 2;
  } else {
    ip[0] = 0x45;
    Put16(ip + 2, iphl + kTcpHeader + payload);
    ip[6] = 0x40, ip[8] = 64, ip[9] = 6, ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
    Put16(ip + 10, ~FoldSum(SumBigEndian(ip, 20, 0)) & 0xffff);
  }
  uint8_t* t = ip + iphl;
  t[0] = 0x9c, t[1] = 0x40, t[2] = 0x14, t[3] = 0x51;
  const uint32_t seq = kSeq + at;
  t[4] = static_cast<uint8_t>(seq >> 24), t[5] = static_cast<uint8_t>(seq >> 16), t[6] = static_cast<uint8_t>(seq >> 8), t[7] = static_cast<uint8_t>(seq);
  t[12] = (kTcpHeader / 4) << 4;
  t[13] = psh ? 0x18 : 0x10;
  t[14] = window;
  for (uint32_t i = 0; i < payload; i++) t[kTcpHeader + i] = static_cast<uint8_t>((at + i) * 7 + 3);
  const uint32_t l4 = kTcpHeader + payload;
  const uint64_t pseudo = (v6 ? SumBigEndian(ip + 8, 32, 0) : SumBigEndian(ip + 12, 8, 0)) + 6 + l4;
  Put16(t + 16, ~FoldSum(SumBigEndian(t, l4, pseudo)) & 0xffff);
  return d;
}

// A GRO buffer: `count` datagrams of `size` payload bytes from sequence offset `at`, the last `last` bytes (and PSH).
Bytes Buffer(bool v6, uint32_t at, uint32_t count, uint32_t size, uint32_t last, bool psh) {
  Bytes m;
  for (uint32_t k = 0; k < count; k++) {
    const Bytes d = Datagram(v6, at + k * size, k + 1 == count ? last : size, psh && k + 1 == count);
    m.insert(m.end(), d.begin(), d.end());
  }
  return m;
}

Received Kind(const Bytes& m, uint32_t stride) {
  return PlanReceived(m.data(), static_cast<int64_t>(m.size()), stride, kRoom, kMaxInner, true).kind;
}

void Plans(bool v6) {
  const uint32_t stride = kDatagramInnerAt + (v6 ? 40 : 20) + kTcpHeader + 1000;
  const Bytes run = Buffer(v6, 0, 4, 1000, 300, true);
  const ReceivedPlan plan = PlanReceived(run.data(), static_cast<int64_t>(run.size()), stride, kRoom, kMaxInner, true);
  Expect(plan.kind == Received::kWholeRun && plan.segments == 1 && plan.stride == stride, "a GRO buffer of one TCP run: left whole in one slot");
  uint8_t slot[kRoom];
  Expect(CutReceived(run.data(), plan, 0, slot) == stride && std::memcmp(slot, run.data(), stride) == 0, "its slot holds the first datagram");
  const ReceivedPlan cut = PlanReceived(run.data(), static_cast<int64_t>(run.size()), stride, kRoom, kMaxInner, false);
  Expect(cut.kind == Received::kDatagrams && cut.segments == 4, "without GSO writes to the TUN: cut as before");

  // Each of these breaks the run: cut into datagrams as before.
  const uint32_t iphl = v6 ? 40 : 20;
  const size_t second = stride + kDatagramInnerAt;  // the second datagram's inner IP header
  Bytes gap = run;
  gap[second + iphl + 7] ^= 0x01;  // its sequence number
  Expect(Kind(gap, stride) == Received::kDatagrams, "a sequence gap: cut");
  Bytes sum = run;
  sum[second + iphl + kTcpHeader + 5] ^= 0x20;  // a payload byte: its checksum no longer holds
  Expect(Kind(sum, stride) == Received::kDatagrams, "a datagram with a bad TCP checksum: cut, and so reaches the pod as it came");
  Bytes vni = run;
  vni[stride + 6] = 0x02;
  Expect(Kind(vni, stride) == Received::kDatagrams, "another VNI in the buffer: cut");
  Bytes window = Buffer(v6, 0, 4, 1000, 300, true);
  const Bytes w2 = Datagram(v6, 1000, 1000, false, 2);
  std::memcpy(window.data() + stride, w2.data(), w2.size());
  Expect(Kind(window, stride) == Received::kDatagrams, "a new window in the middle: cut (tcp_gro_receive flushes on it)");
  Expect(Kind(Buffer(v6, 0, 4, 1000, 300, false), stride) == Received::kWholeRun, "no PSH at the end: whole too");
  Bytes pshFirst = Buffer(v6, 0, 3, 1000, 1000, false);
  const Bytes first = Datagram(v6, 0, 1000, true);
  std::memcpy(pshFirst.data(), first.data(), first.size());
  Expect(Kind(pshFirst, stride) == Received::kDatagrams, "PSH before the last: cut");
  Bytes udp = run;
  udp[kDatagramInnerAt + (v6 ? 6 : 9)] = 17;
  Expect(Kind(udp, stride) == Received::kDatagrams, "not TCP: cut");
  const Bytes many = Buffer(v6, 0, kMaxRunPackets + 1, 8, 8, false);
  Expect(Kind(many, kDatagramInnerAt + iphl + kTcpHeader + 8) == Received::kDatagrams, "more datagrams than a write takes: cut");
}

// A kernel peer's TSO packet of `payload` bytes: one VXLAN datagram, its TCP checksum field the
// pseudo-header sum as the sender's TCP leaves it for segmentation.
Bytes TsoMessage(bool v6, uint32_t payload) {
  Bytes d = Datagram(v6, 0, payload);
  const uint32_t iphl = v6 ? 40 : 20;
  const uint8_t* ip = d.data() + kDatagramInnerAt;
  const uint32_t l4 = kTcpHeader + payload;
  Put16(d.data() + kDatagramInnerAt + iphl + 16, FoldSum((v6 ? SumBigEndian(ip + 8, 32, 0) : SumBigEndian(ip + 12, 8, 0)) + 6 + l4));
  return d;
}

// The area a batch's held runs wait in, their slots and words, as recvBatch leaves them.
struct HeldBatch {
  Bytes area = Bytes(4 * 65536);
  Bytes slab = Bytes(8 * kRoom);
  std::vector<int32_t> words = std::vector<int32_t>(8 * kWholeWords, 0);
  int32_t offsets[8];
  int32_t lengths[8];
  int64_t count = 0;

  // Message `m` received into area message k, planned with `stride` (0: as one datagram, e.g. a TSO packet).
  void Receive(uint32_t k, const Bytes& m, uint32_t stride) {
    std::memcpy(area.data() + k * 65536, m.data(), m.size());
    const ReceivedPlan plan = PlanReceived(area.data() + k * 65536, static_cast<int64_t>(m.size()), stride, kRoom, kMaxInner, true);
    const auto slotAt = static_cast<uint32_t>(count * kRoom);
    const uint32_t n = CutReceived(area.data() + k * 65536, plan, 0, slab.data() + slotAt);
    NoteWhole(plan, k * 65536, slotAt, kMaxInner, words.data() + count * kWholeWords);
    offsets[count] = words[count * kWholeWords + kWholeIpAt] - static_cast<int32_t>(l2);
    lengths[count] = static_cast<int32_t>(slotAt + n) - offsets[count];
    count++;
  }

  // Bytes of Ethernet header in front of each packet the write gets: 14 on a TAP (switch mode).
  uint32_t l2 = 0;
};

// The bytes of write w, gathered as WriteCoalesced gathers held packets.
Bytes Gather(const BatchPlan& plan, uint32_t w, const WholeWrites& found, VirtioNetHdr* hdr) {
  iovec iov[kMaxRunPackets + 1];
  uint32_t k = 0;
  MakeGsoHead(plan.runs[w], hdr);
  for (int32_t j = plan.heads[w]; j >= 0; j = plan.next[j]) k += AppendWhole(found.held[j], found.source[j], j == plan.heads[w], iov + k);
  Bytes out;
  for (uint32_t i = 0; i < k; i++) {
    const auto* b = static_cast<const uint8_t*>(iov[i].iov_base);
    out.insert(out.end(), b, b + iov[i].iov_len);
  }
  return out;
}

void Writes(bool v6) {
  const uint32_t iphl = v6 ? 40 : 20;
  const uint32_t stride = kDatagramInnerAt + iphl + kTcpHeader + 1000;
  // Two GRO buffers of one flow, 20 and 10 datagrams, the second ending with PSH: one write of 30.
  HeldBatch r;
  r.Receive(0, Buffer(v6, 0, 20, 1000, 1000, false), stride);
  r.Receive(1, Buffer(v6, 20000, 10, 1000, 400, true), stride);
  Expect(r.words[kWholeSegments] == 20 && r.words[kWholeWords + kWholeSegments] == 10, "each slot stands for its datagrams");
  Expect(r.words[kWholeBytes] == static_cast<int32_t>(20 * (stride - kDatagramInnerAt)), "a slot's bytes: its datagrams' inner packets");
  thread_local WholeWrites found;
  Expect(FindWholeWrites(r.words.data(), r.words.size(), r.area.data(), r.area.size(), r.slab.data(), kRoom, r.offsets, r.lengths, 2, &found) == 2,
         "the write finds both runs from the words");
  thread_local BatchPlan plan;
  PlanBatch(r.slab.data(), r.offsets, r.lengths, 2, 0, true, found.at, found.held, &plan);
  Expect(plan.writes == 1 && plan.runs[0].packets == 2 && plan.runs[0].segments == 30, "two held runs of one flow: one write of 30 segments");
  VirtioNetHdr hdr;
  Bytes gso = Gather(plan, 0, found, &hdr);
  TsoPlan tso;
  Expect(CheckTso(hdr, gso.data(), gso.size(), false, kRoom, &tso) == kReadOk && tso.segments == 30 && tso.gsoSize == 1000,
         "the gathered packet checks out as TSO of 30 segments of 1000 bytes");
  uint8_t seg[kRoom];
  bool same = true;
  for (uint32_t k = 0; k < tso.segments; k++) {
    const uint32_t n = CutSegment(gso.data(), tso, k, seg);
    const Bytes want = Datagram(v6, k * 1000, k == 29 ? 400 : 1000, k == 29);
    same = same && n == want.size() - kDatagramInnerAt && std::memcmp(seg + iphl + kTcpHeader, want.data() + kDatagramInnerAt + iphl + kTcpHeader, n - iphl - kTcpHeader) == 0 &&
           std::memcmp(seg + iphl + 4, want.data() + kDatagramInnerAt + iphl + 4, 4) == 0 && ((seg[iphl + 13] & 0x08) != 0) == (k == 29);
  }
  Expect(same, "cut again: each datagram's segment, sequence number and payload, PSH only on the last");

  // A gap between the runs: two writes.
  HeldBatch gap;
  gap.Receive(0, Buffer(v6, 0, 4, 1000, 1000, false), stride);
  gap.Receive(1, Buffer(v6, 5000, 4, 1000, 1000, false), stride);
  FindWholeWrites(gap.words.data(), gap.words.size(), gap.area.data(), gap.area.size(), gap.slab.data(), kRoom, gap.offsets, gap.lengths, 2, &found);
  PlanBatch(gap.slab.data(), gap.offsets, gap.lengths, 2, 0, true, found.at, found.held, &plan);
  Expect(plan.writes == 2, "held runs with a sequence gap: two writes");

  // A run that ends short closes the write; so would 64 KiB.
  HeldBatch shortEnd;
  shortEnd.Receive(0, Buffer(v6, 0, 4, 1000, 600, false), stride);
  shortEnd.Receive(1, Buffer(v6, 3600, 4, 1000, 1000, false), stride);
  FindWholeWrites(shortEnd.words.data(), shortEnd.words.size(), shortEnd.area.data(), shortEnd.area.size(), shortEnd.slab.data(), kRoom, shortEnd.offsets,
                  shortEnd.lengths, 2, &found);
  PlanBatch(shortEnd.slab.data(), shortEnd.offsets, shortEnd.lengths, 2, 0, true, found.at, found.held, &plan);
  Expect(plan.writes == 2, "a run ending with a short datagram: the next starts a write of its own");

  // Hostile words: a stride that cuts the buffer elsewhere, a count that disagrees, another kind.
  HeldBatch h;
  h.Receive(0, Buffer(v6, 0, 4, 1000, 1000, false), stride);
  for (const auto& [word, value] : {std::pair{kWholeShape, 500}, std::pair{kWholeSegments, 3}, std::pair{kWholeKind, 1}, std::pair{kWholeLength, 1 << 20}}) {
    std::vector<int32_t> words = h.words;
    words[word] = value;
    Expect(FindWholeWrites(words.data(), words.size(), h.area.data(), h.area.size(), h.slab.data(), kRoom, h.offsets, h.lengths, 1, &found) == 0,
           "a word that disagrees with the area: not a whole run");
  }
}

// The bytes of write w of held packets on a TAP, gathered as WriteCoalesced gathers them: a TSO
// packet alone as it came, anything else behind MakeGsoHead's header.
Bytes GatherFrames(const BatchPlan& plan, uint32_t w, const WholeWrites& found, VirtioNetHdr* hdr) {
  const int32_t first = plan.heads[w];
  if (plan.runs[w].packets > 1 || found.source[first].run) return Gather(plan, w, found, hdr);
  MakeWholeTsoHead(found.held[first], hdr);
  iovec iov[1];
  AppendWhole(found.held[first], found.source[first], true, iov);
  const auto* b = static_cast<const uint8_t*>(iov[0].iov_base);
  return Bytes(b, b + iov[0].iov_len);
}

// A TAP's write (switch mode): the slot's frame must be the message's inner frame, and the write
// carries that frame's Ethernet header in front of the whole, offsets of the GSO header counted
// from it.
void Frames(bool v6) {
  const uint32_t iphl = v6 ? 40 : 20;
  const uint32_t stride = kDatagramInnerAt + iphl + kTcpHeader + 1000;
  HeldBatch r;
  r.l2 = 14;
  r.Receive(0, Buffer(v6, 0, 20, 1000, 1000, false), stride);
  r.Receive(1, Buffer(v6, 20000, 10, 1000, 400, true), stride);
  thread_local WholeWrites found;
  Expect(FindWholeWrites(r.words.data(), r.words.size(), r.area.data(), r.area.size(), r.slab.data(), kRoom, r.offsets, r.lengths, 2, &found) == 0,
         "a TUN's find does not take a TAP's frames");
  Expect(FindWholeFrames(r.words.data(), r.words.size(), r.area.data(), r.area.size(), r.slab.data(), kRoom, r.offsets, r.lengths, 2, &found) == 2,
         "a TAP's write finds both runs from the words");
  thread_local BatchPlan plan;
  PlanBatch(r.slab.data(), r.offsets, r.lengths, 2, 14, true, found.at, found.held, &plan);
  Expect(plan.writes == 1 && plan.runs[0].segments == 30, "two held runs of one flow on a TAP: one write of 30 segments");
  VirtioNetHdr hdr;
  Bytes gso = GatherFrames(plan, 0, found, &hdr);
  TsoPlan tso;
  Expect(hdr.csum_start == 14 + iphl && hdr.hdr_len == 14 + iphl + kTcpHeader, "the GSO header counts the Ethernet header");
  Expect(CheckTso(hdr, gso.data(), gso.size(), true, kRoom, &tso) == kReadOk && tso.segments == 30 && tso.l2 == 14,
         "the gathered frame checks out as a TAP's TSO frame of 30 segments");
  const Bytes firstDatagram = Datagram(v6, 0, 1000);
  Expect(std::memcmp(gso.data(), firstDatagram.data() + kVxlanHeaderLength, 14) == 0, "it carries the inner Ethernet header");
  uint8_t seg[kRoom];
  bool same = true;
  for (uint32_t k = 0; k < tso.segments; k++) {
    const uint32_t n = CutSegment(gso.data(), tso, k, seg);
    const Bytes want = Datagram(v6, k * 1000, k == 29 ? 400 : 1000, k == 29);
    same = same && n == want.size() - kVxlanHeaderLength && std::memcmp(seg + 14 + iphl + kTcpHeader, want.data() + kDatagramInnerAt + iphl + kTcpHeader, n - 14 - iphl - kTcpHeader) == 0;
  }
  Expect(same, "cut again: each datagram's frame and payload");

  // Another destination MAC in the slot than in the area: not found.
  HeldBatch mac = r;
  mac.slab[mac.offsets[0]] ^= 0x02;
  Expect(FindWholeFrames(mac.words.data(), mac.words.size(), mac.area.data(), mac.area.size(), mac.slab.data(), kRoom, mac.offsets, mac.lengths, 1, &found) == 0,
         "a slot whose frame is not the run's: not found");

  // A kernel peer's TSO packet: found, written alone as its frame.
  HeldBatch t;
  t.l2 = 14;
  const Bytes message = TsoMessage(v6, 5000);
  t.Receive(0, message, 0);
  Expect(t.words[kWholeSegments] == 4 && t.words[kWholeKind] == kWholeKindTso, "a TSO packet: left whole, standing for its segments");
  Expect(FindWholeFrames(t.words.data(), t.words.size(), t.area.data(), t.area.size(), t.slab.data(), kRoom, t.offsets, t.lengths, 1, &found) == 1,
         "a TAP's write finds the TSO packet");
  PlanBatch(t.slab.data(), t.offsets, t.lengths, 1, 14, true, found.at, found.held, &plan);
  gso = GatherFrames(plan, 0, found, &hdr);
  Expect(gso.size() == message.size() - kVxlanHeaderLength && std::memcmp(gso.data(), message.data() + kVxlanHeaderLength, gso.size()) == 0,
         "written as the frame it came as");
  Expect(CheckTso(hdr, gso.data(), gso.size(), true, kRoom, &tso) == kReadOk && tso.segments == 4 && hdr.csum_start == 14 + iphl,
         "its GSO header cuts the frame into the segments counted");

  // A tagged inner frame is cut: a TAP's write takes only the untagged frame in front of the whole.
  Bytes tagged(message.size() + 4);
  std::memcpy(tagged.data(), message.data(), kVxlanHeaderLength + 12);
  tagged[kVxlanHeaderLength + 12] = 0x81;
  tagged[kVxlanHeaderLength + 15] = 0x07;
  std::memcpy(tagged.data() + kVxlanHeaderLength + 16, message.data() + kVxlanHeaderLength + 12, message.size() - kVxlanHeaderLength - 12);
  Expect(PlanReceived(tagged.data(), static_cast<int64_t>(tagged.size()), 0, kRoom, kMaxInner, true).kind == Received::kInnerTso,
         "a TSO packet in a VLAN-tagged frame: cut, not left whole");
}

}  // namespace

int main() {
  Plans(false);
  Plans(true);
  Writes(false);
  Writes(true);
  Frames(false);
  Frames(true);
  if (failures > 0) return 1;
  std::printf("ok\n");
  return 0;
}
