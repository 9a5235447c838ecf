// libFuzzer harness of what the underlay socket hands over whole (udp_gro.h): any bytes as a
// message, with any gso_size and inner MTU, planned and, when it checks out, cut into slots; and
// planned once more as a receive whose TUN takes GSO writes would, the first segment of a TSO
// packet left whole checked against the slot words the write trusts (received_whole.h), those
// words also taken from the input to play a hostile JavaScript array.
// A GRO buffer of one TCP run is planned kWholeRun and gathered by the write into one GSO packet
// that cuts back into its datagrams, also when the buffer is split into two messages the write
// joins. Each is also found and gathered as a TAP's write would (switch mode: FindWholeFrames, the
// slot's frame in front), which must give the inner frame, cut back the same way.
// Input: gso_size (2 bytes, big-endian), inner MTU (2 bytes), then the message. Seeds: a
// GRO buffer, TSO packets larger than a slot over each family, one of two segments that fits a
// slot but not the inner MTU (small-tso-6), and GRO buffers of one TCP run (tcp-run-4, -6).
#include "invariant.h"

#include "big_endian.h"
#include "internet_checksum.h"
#include "received_whole.h"
#include "udp_gro.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kRoom = 2048 - 42;  // a datapath slot less its receive offset

uint32_t Get16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

}  // namespace

using namespace vxroute;

namespace {

// The bytes of write `w` of `plan` (held packets only, found as `found` says), gathered as
// WriteCoalesced gathers them, its header in `hdr`.
std::vector<uint8_t> Gather(const BatchPlan& plan, uint32_t w, const WholeWrites& found, VirtioNetHdr* hdr) {
  const GsoRun& run = plan.runs[w];
  iovec iov[kMaxRunPackets + 1];
  uint32_t k = 0;
  if (run.packets == 1 && !found.source[plan.heads[w]].run) {
    MakeWholeTsoHead(found.held[plan.heads[w]], hdr);
    k += AppendWhole(found.held[plan.heads[w]], found.source[plan.heads[w]], true, iov);
  } else {
    MakeGsoHead(run, hdr);
    for (int32_t j = plan.heads[w]; j >= 0; j = plan.next[j]) {
      Require(found.at[j] != 0, "only held packets in these writes");
      Require(k + found.held[j].segments <= kMaxRunPackets, "a write's iovecs fit the array");
      k += AppendWhole(found.held[j], found.source[j], j == plan.heads[w], iov + k);
    }
  }
  std::vector<uint8_t> out;
  for (uint32_t i = 0; i < k; i++) {
    const auto* b = static_cast<const uint8_t*>(iov[i].iov_base);
    out.insert(out.end(), b, b + iov[i].iov_len);
  }
  return out;
}

// A GSO packet the write gathered (a TAP's frame with `ethernet`), cut again as the kernel's TCP
// segmentation would: `segments` segments whose payloads, in order, are `payload`, the first
// sequence number `seq`.
void RequireCutsBack(const VirtioNetHdr& hdr, std::vector<uint8_t>& gso, uint32_t segments, const std::vector<uint8_t>& payload, uint32_t seq,
                     bool ethernet = false) {
  TsoPlan tso;
  Require(CheckTso(hdr, gso.data(), gso.size(), ethernet, hdr.hdr_len + hdr.gso_size, &tso) == kReadOk, "the gathered GSO packet checks out as TSO");
  Require(tso.segments == segments, "it is cut into the segments counted");
  std::vector<uint8_t> slot(hdr.hdr_len + hdr.gso_size), joined;
  for (uint32_t k = 0; k < tso.segments; k++) {
    const uint32_t n = CutSegment(gso.data(), tso, k, slot.data());
    Require(Be32(slot.data() + hdr.csum_start + 4) == seq + static_cast<uint32_t>(joined.size()), "each segment's sequence number follows");
    joined.insert(joined.end(), slot.begin() + hdr.hdr_len, slot.begin() + n);
  }
  Require(joined == payload, "the segments carry the payloads in order");
}

// The TCP payloads of a run's datagrams, in order.
std::vector<uint8_t> RunPayload(const std::vector<uint8_t>& d, uint32_t from, uint32_t to, uint32_t stride, uint32_t headers) {
  std::vector<uint8_t> out;
  for (uint32_t at = from; at < to; at += stride) {
    const uint32_t end = std::min(at + stride, to);
    out.insert(out.end(), d.begin() + at + headers, d.begin() + end);
  }
  return out;
}

// A GRO buffer of one TCP run, planned kWholeRun: its slot holds the first datagram, the write finds
// it from the words and gathers one GSO packet that the kernel would cut back into the datagrams;
// cut in two messages of the same area, the write joins them into that one packet again.
void CheckWholeRun(std::vector<uint8_t>& d, const ReceivedPlan& plan) {
  const auto len = static_cast<uint32_t>(d.size());
  const uint32_t stride = plan.stride;
  DatagramRun run;
  Require(PlanDatagramRun(d.data(), len, stride, true, &run), "a whole run checks out as one");
  const uint32_t datagrams = run.datagrams;
  Require(plan.segments == 1 && datagrams >= 2 && datagrams == (len + stride - 1) / stride, "a whole run fills one slot and stands for its datagrams");
  const std::vector<uint8_t> original = d;
  const uint32_t headers = kDatagramInnerAt + run.head.iphl + run.head.l4hl;
  const uint32_t seq = run.head.seq;
  const std::vector<uint8_t> payload = RunPayload(original, 0, len, stride, headers);
  // Two messages where there was one when the run has 4 datagrams or more: the first k, the rest.
  const uint32_t k = datagrams >= 4 ? datagrams / 2 : datagrams;
  const uint32_t parts = k < datagrams ? 2 : 1;
  const uint32_t starts[2] = {0, k * stride};
  const uint32_t lengths[2] = {parts == 2 ? k * stride : len, len - k * stride};
  std::vector<uint8_t> slab(2 * kRoom);
  std::vector<int32_t> words(2 * kWholeWords, 0);
  int32_t offsets[2], ipLengths[2];
  for (uint32_t m = 0; m < parts; m++) {
    const ReceivedPlan part = PlanReceived(d.data() + starts[m], lengths[m], stride, kRoom, 1500, true);
    Require(part.kind == Received::kWholeRun, "each part of a whole run is one");
    const uint32_t n = CutReceived(d.data() + starts[m], part, 0, slab.data() + m * kRoom);
    Require(n == stride && std::equal(slab.begin() + m * kRoom, slab.begin() + m * kRoom + n, d.begin() + starts[m]), "its slot holds the first datagram");
    NoteWhole(part, starts[m], m * kRoom, 1500, words.data() + m * kWholeWords);
    Require(words[m * kWholeWords + kWholeBytes] == static_cast<int32_t>(lengths[m] - words[m * kWholeWords + kWholeSegments] * kDatagramInnerAt),
            "the bytes counted are the datagrams' inner packets'");
    offsets[m] = static_cast<int32_t>(m * kRoom + kDatagramInnerAt);
    ipLengths[m] = static_cast<int32_t>(n - kDatagramInnerAt);
  }
  thread_local WholeWrites found;
  Require(FindWholeWrites(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, offsets, ipLengths, parts, &found) == parts,
          "the write finds every part the receive left whole");
  thread_local BatchPlan batch;
  PlanBatch(slab.data(), offsets, ipLengths, parts, 0, true, found.at, found.held, &batch);
  Require(batch.writes == 1 && batch.runs[0].segments == datagrams, "one GSO write for the whole run, however many parts");
  VirtioNetHdr hdr;
  std::vector<uint8_t> gso = Gather(batch, 0, found, &hdr);
  RequireCutsBack(hdr, gso, datagrams, payload, seq);
  d = original;  // the write set the head's headers up in place
  // A TAP's write of the same parts: each slot's frame, gathered behind the first one's Ethernet header.
  int32_t frameOffsets[2], frameLengths[2];
  for (uint32_t m = 0; m < parts; m++) {
    frameOffsets[m] = offsets[m] - 14;
    frameLengths[m] = ipLengths[m] + 14;
  }
  Require(FindWholeFrames(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, frameOffsets, frameLengths, parts, &found) == parts,
          "a TAP's write finds every part too");
  PlanBatch(slab.data(), frameOffsets, frameLengths, parts, 14, true, found.at, found.held, &batch);
  Require(batch.writes == 1 && batch.runs[0].segments == datagrams, "one GSO write on a TAP too");
  gso = Gather(batch, 0, found, &hdr);
  Require(std::equal(gso.begin(), gso.begin() + 14, original.begin() + kVxlanHeaderLength), "a TAP's write starts with the inner Ethernet header");
  RequireCutsBack(hdr, gso, datagrams, payload, seq, true);
  d = original;
}

// The same message planned with `whole`: a TSO packet or TCP run left whole fills one slot with its
// first segment, and the write finds it again from the words, within the message, with the header
// the TUN needs; words from the input never make the write read outside the area or the slab.
void CheckWhole(std::vector<uint8_t>& d, uint32_t gsoSize, uint32_t maxInner) {
  const auto len = static_cast<uint32_t>(d.size());
  const ReceivedPlan plan = PlanReceived(d.data(), len, gsoSize, kRoom, maxInner, true);
  std::vector<uint8_t> slab(kRoom);
  std::vector<int32_t> words(kWholeWords, 0);
  thread_local WholeWrites found;
  int32_t offset = 0, length = 0;
  if (plan.kind == Received::kWholeTso) {
    Require(plan.segments == 1 && plan.inner.segments >= 2, "a whole TSO packet fills one slot and stands for two segments or more");
    const uint32_t n = CutReceived(d.data(), plan, 0, slab.data());
    Require(n <= kRoom && n == kVxlanHeaderLength + plan.inner.hdrLen + plan.inner.gsoSize, "its slot holds the first segment");
    NoteWhole(plan, 0, 0, maxInner, words.data());
    offset = static_cast<int32_t>(kVxlanHeaderLength + plan.inner.l2);
    length = static_cast<int32_t>(n) - offset;
    Require(FindWholeWrites(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, &offset, &length, 1, &found) == 1,
            "the write finds the packet the receive left whole");
    const HeldRun& tso = found.held[0];
    Require(tso.head.p >= d.data() && tso.head.p + tso.head.len == d.data() + len, "the whole packet is the rest of the message");
    thread_local BatchPlan batch;
    PlanBatch(slab.data(), &offset, &length, 1, 0, true, found.at, found.held, &batch);
    Require(batch.writes == 1 && batch.runs[0].packets == 1, "a TSO packet alone is one write");
    VirtioNetHdr hdr;
    std::vector<uint8_t> gso = Gather(batch, 0, found, &hdr);
    Require(gso.size() == tso.head.len && std::equal(gso.begin(), gso.end(), tso.head.p), "a TSO packet alone is written as it came");
    const uint32_t payload = tso.head.len - hdr.hdr_len;
    Require(hdr.gso_size > 0 && payload > hdr.gso_size && (payload + hdr.gso_size - 1) / hdr.gso_size == static_cast<uint32_t>(words[kWholeSegments]),
            "the GSO header cuts it into the segments counted");
    Require(words[kWholeBytes] == static_cast<int32_t>(payload + words[kWholeSegments] * hdr.hdr_len), "the bytes counted are the segments'");
    // A TAP's write: the slot's frame found, the inner frame written as it came, offsets from it.
    int32_t frameOffset = offset - 14, frameLength = length + 14;
    Require(plan.inner.l2 == 14 && FindWholeFrames(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, &frameOffset, &frameLength, 1, &found) == 1,
            "a TAP's write finds the untagged frame the receive left whole");
    PlanBatch(slab.data(), &frameOffset, &frameLength, 1, 14, true, found.at, found.held, &batch);
    VirtioNetHdr frameHdr;
    std::vector<uint8_t> frame = Gather(batch, 0, found, &frameHdr);
    Require(frame.size() == len - kVxlanHeaderLength && std::equal(frame.begin(), frame.end(), d.begin() + kVxlanHeaderLength), "a TAP's write is the inner frame as it came");
    Require(frameHdr.csum_start == hdr.csum_start + 14 && frameHdr.hdr_len == hdr.hdr_len + 14 && frameHdr.gso_size == hdr.gso_size, "its header counts the Ethernet header");
  } else if (plan.kind == Received::kWholeRun) {
    CheckWholeRun(d, plan);
  } else {
    Require(plan.kind != Received::kInnerTso || plan.inner.segments < 2 || !WholeTsoEligible(d.data(), plan.inner), "an eligible TSO packet is left whole");
    DatagramRun run;
    Require(plan.kind != Received::kDatagrams || plan.segments < 2 || !PlanDatagramRun(d.data(), len, plan.stride, true, &run),
            "a GRO buffer of one TCP run is left whole");
  }
  // Words as a hostile array holds them: the message's last bytes.
  if (len >= kWholeWords * 4) std::memcpy(words.data(), d.data() + len - kWholeWords * 4, kWholeWords * 4);
  const int32_t offsets[2] = {offset, static_cast<int32_t>(len % kRoom)};
  const int32_t lengths[2] = {length, static_cast<int32_t>(kRoom - len % kRoom)};
  for (const auto find : {FindWholeWrites, FindWholeFrames}) {
    const uint32_t n = find(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, offsets, lengths, 2, &found);
    for (uint32_t i = 0; i < 2 && n > 0; i++) {
      if (found.at[i] == 0) continue;
      const HeldRun& h = found.held[i];
      Require(h.head.frame >= d.data() && h.head.p + h.head.len <= d.data() + len, "a found packet lies in the area");
      iovec iov[kMaxRunPackets + 1];
      const uint32_t k = AppendWhole(h, found.source[i], true, iov);
      Require(k <= kMaxRunPackets, "a found packet's iovecs fit a write");
      for (uint32_t j = 0; j < k; j++) {
        const auto* b = static_cast<const uint8_t*>(iov[j].iov_base);
        Require(b >= d.data() && b + iov[j].iov_len <= d.data() + len, "every iovec lies in the area");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t gsoSize = Get16(data);
  const uint32_t maxInner = Get16(data + 2);
  // The message in a buffer of its own size, so that ASan sees any read past its end.
  std::vector<uint8_t> d(data + 4, data + size);
  const auto len = static_cast<uint32_t>(d.size());
  CheckWhole(d, gsoSize, maxInner);
  const ReceivedPlan plan = PlanReceived(d.data(), len, gsoSize, kRoom, maxInner);
  Require(plan.segments >= 1, "a message fills at least one slot");
  if (plan.kind == Received::kDrop) return 0;
  Require(plan.length == len, "the plan covers the message");
  TsoPlan tso;
  if (plan.kind == Received::kDatagrams && plan.segments == 1) {
    // Handed on as one packet longer than the inner MTU, the kernel would refuse to forward it.
    Require(!PlanInnerTso(d.data(), len, kRoom, maxInner, &tso) || tso.segments < 2, "a TSO packet of several segments never goes on as one datagram");
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < plan.segments; i++) {
    std::vector<uint8_t> slot(kRoom);
    const uint32_t n = CutReceived(d.data(), plan, i, slot.data());
    Require(n <= kRoom, "a segment fits its slot");
    if (plan.kind == Received::kDatagrams) {
      Require(n > 0 || len == 0, "no empty datagram from a non-empty message");
      Require(std::equal(slot.begin(), slot.begin() + n, d.begin() + static_cast<size_t>(i) * plan.stride), "datagrams cut in place and in order");
      total += n;
      continue;
    }
    // An inner TSO packet: VXLAN header copied, the segment's IP length its size, within the inner MTU, checksum valid.
    Require(std::equal(slot.begin(), slot.begin() + kVxlanHeaderLength, d.begin()), "VXLAN header copied");
    const uint8_t* frame = slot.data() + kVxlanHeaderLength;
    const uint8_t* ip = frame + plan.inner.l2;
    const uint32_t ipLen = n - kVxlanHeaderLength - plan.inner.l2;
    const bool v4 = ip[0] >> 4 == 4;
    Require((v4 ? Get16(ip + 2) : Get16(ip + 4) + 40) == ipLen && ipLen <= maxInner, "IP length is the segment's, within the inner MTU");
    const uint32_t tcpLen = n - kVxlanHeaderLength - plan.inner.csumStart;
    const uint64_t pseudo = (v4 ? SumBigEndian(ip + 12, 8, 0) : SumBigEndian(ip + 8, 32, 0)) + 6 + tcpLen;
    Require(FoldSum(SumBigEndian(frame + plan.inner.csumStart, tcpLen, pseudo)) == 0xffff, "TCP checksum valid");
    total += n - kVxlanHeaderLength - plan.inner.hdrLen;
  }
  const uint64_t expected = plan.kind == Received::kDatagrams ? len : len - kVxlanHeaderLength - plan.inner.hdrLen;
  Require(total == expected, "the segments carry the whole message");
  return 0;
}
