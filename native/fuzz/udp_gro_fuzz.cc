// libFuzzer harness of what the underlay socket hands over whole (udp_gro.h): any bytes as a
// message, with any gso_size and inner MTU, planned and, when it checks out, cut into slots.
// Input: gso_size (2 bytes, big-endian), inner MTU (2 bytes), then the message.
#include "invariant.h"

#include "internet_checksum.h"
#include "udp_gro.h"

#include <algorithm>
#include <vector>

namespace {

constexpr size_t kRoom = 2048 - 42;  // a datapath slot less its receive offset

uint32_t Get16(const uint8_t* p) { return (p[0] << 8) | p[1]; }

}  // namespace

using namespace vxroute;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t gsoSize = Get16(data);
  const uint32_t maxInner = Get16(data + 2);
  // The message in a buffer of its own size, so that ASan sees any read past its end.
  std::vector<uint8_t> d(data + 4, data + size);
  const auto len = static_cast<uint32_t>(d.size());
  const ReceivedPlan plan = PlanReceived(d.data(), len, gsoSize, kRoom, maxInner);
  Require(plan.segments >= 1, "a message fills at least one slot");
  if (plan.kind == Received::kDrop) return 0;
  Require(plan.length == len, "the plan covers the message");
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
