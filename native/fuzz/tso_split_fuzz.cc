// libFuzzer harness of the TSO read path (tso_split.h): a virtio_net_hdr and a packet as the
// kernel would hand them over, checked and, when they check out, cut into slots.
// Input: one mode byte (bit 0: a TAP's Ethernet frame), 10 bytes of virtio_net_hdr, the packet.
#include "invariant.h"
#include "virtio_input.h"

#include "big_endian.h"
#include "internet_checksum.h"
#include "tso_split.h"

#include <cstring>
#include <vector>

using namespace vxroute;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  VirtioInput in;
  if (!SplitVirtioInput(data, size, &in)) return 0;
  auto& [ethernet, hdr, pkt] = in;
  const size_t len = pkt.size();
  TsoPlan plan;
  if (CheckTso(hdr, pkt.data(), len, ethernet, kSlotRoom, &plan) != kReadOk) return 0;
  Require(plan.length == len && plan.hdrLen < len && plan.hdrLen + plan.gsoSize <= kSlotRoom, "plan inside the read and a slot");
  Require(plan.segments <= (65535 - (plan.hdrLen - plan.l2) + plan.gsoSize - 1) / plan.gsoSize + 1, "segments within what 64 KiB holds");
  uint64_t payload = 0;
  for (uint32_t i = 0; i < plan.segments; i++) {
    std::vector<uint8_t> slot(plan.hdrLen + plan.gsoSize);
    const uint32_t segLen = CutSegment(pkt.data(), plan, i, slot.data());
    Require(segLen > plan.hdrLen && segLen <= slot.size(), "segment fits its slot");
    const uint8_t* ip = slot.data() + plan.l2;
    const uint32_t iphl = plan.csumStart - plan.l2;
    const bool v4 = ip[0] >> 4 == 4;
    Require((v4 ? Be16(ip + 2) : Be16(ip + 4) + 40) == segLen - plan.l2, "IP length equals the slot's size");
    if (v4) Require(FoldSum(SumBigEndian(ip, iphl, 0)) == 0xffff, "IPv4 header checksum valid");
    const uint32_t tcpLen = segLen - plan.csumStart;
    const uint64_t pseudo = (v4 ? SumBigEndian(ip + 12, 8, 0) : SumBigEndian(ip + 8, 32, 0)) + 6 + tcpLen;
    Require(FoldSum(SumBigEndian(slot.data() + plan.csumStart, tcpLen, pseudo)) == 0xffff, "TCP checksum valid");
    Require(std::memcmp(slot.data() + plan.hdrLen, pkt.data() + plan.hdrLen + i * plan.gsoSize, segLen - plan.hdrLen) == 0,
            "segment carries its part of the payload");
    payload += segLen - plan.hdrLen;
  }
  Require(payload == len - plan.hdrLen, "segments carry the whole payload");
  return 0;
}
