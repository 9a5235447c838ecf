// libFuzzer harness of what the underlay socket hands over whole (udp_gro.h): any bytes as a
// message, with any gso_size and inner MTU, planned and, when it checks out, cut into slots; and
// planned once more as a receive whose TUN takes GSO writes would, the first segment of a TSO
// packet left whole checked against the slot words the write trusts (received_whole.h), those
// words also taken from the input to play a hostile JavaScript array.
// Input: gso_size (2 bytes, big-endian), inner MTU (2 bytes), then the message. Seeds: a GRO
// buffer, TSO packets larger than a slot over each family, and one of two segments that fits a
// slot but not the inner MTU (small-tso-6).
#include "invariant.h"

#include "big_endian.h"
#include "internet_checksum.h"
#include "received_whole.h"
#include "udp_gro.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kRoom = 2048 - 42;  // a datapath slot less its receive offset

uint32_t Get16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

}  // namespace

using namespace vxroute;

namespace {

// The same message planned with `whole`: a TSO packet left whole fills one slot with its first
// segment, and the write finds it again from the words, within the message, with the header the
// TUN needs; words from the input never make the write read outside the area or the slab.
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
    NoteWholeTso(plan, 0, 0, maxInner, words.data());
    offset = static_cast<int32_t>(kVxlanHeaderLength + plan.inner.l2);
    length = static_cast<int32_t>(n) - offset;
    Require(FindWholeWrites(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, &offset, &length, 1, &found) == 1,
            "the write finds the packet the receive left whole");
    const WholeTso& tso = found.tso[0];
    Require(tso.ip >= d.data() && tso.ip + tso.ipLen == d.data() + len, "the whole packet is the rest of the message");
    VirtioNetHdr hdr;
    MakeWholeTsoHead(tso, &hdr);
    const uint32_t payload = tso.ipLen - hdr.hdr_len;
    Require(hdr.gso_size > 0 && payload > hdr.gso_size && (payload + hdr.gso_size - 1) / hdr.gso_size == static_cast<uint32_t>(words[kWholeSegments]),
            "the GSO header cuts it into the segments counted");
    Require(words[kWholeBytes] == static_cast<int32_t>(payload + words[kWholeSegments] * hdr.hdr_len), "the bytes counted are the segments'");
  } else {
    Require(plan.kind != Received::kInnerTso || plan.inner.segments < 2 || !WholeTsoEligible(d.data(), plan.inner), "an eligible TSO packet is left whole");
  }
  // Words as a hostile array holds them: the message's last bytes.
  if (len >= kWholeWords * 4) std::memcpy(words.data(), d.data() + len - kWholeWords * 4, kWholeWords * 4);
  const int32_t offsets[2] = {offset, static_cast<int32_t>(len % kRoom)};
  const int32_t lengths[2] = {length, static_cast<int32_t>(kRoom - len % kRoom)};
  const uint32_t n = FindWholeWrites(words.data(), words.size(), d.data(), d.size(), slab.data(), kRoom, offsets, lengths, 2, &found);
  for (uint32_t i = 0; i < 2 && n > 0; i++) {
    if (found.at[i] == 0) continue;
    const WholeTso& tso = found.tso[i];
    Require(tso.ip >= d.data() && tso.ip + tso.ipLen <= d.data() + len, "a found packet lies in the area");
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
