// libFuzzer harness of the USO read path (tso_split.h CheckUso, CutSegment): a virtio_net_hdr with
// GSO_UDP_L4 and a packet as the kernel would hand them over, checked and, when they check out,
// cut into datagrams. Input: one mode byte (bit 0: a TAP's Ethernet frame), 10 bytes of
// virtio_net_hdr, the packet.
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
  if (CheckUso(hdr, pkt.data(), len, ethernet, kSlotRoom, &plan) != kReadOk) return 0;
  Require(plan.udp == 1 && plan.hdrLen == plan.csumStart + 8, "a UDP plan: 8 bytes of UDP header");
  Require(plan.length == len && plan.hdrLen < len && plan.hdrLen + plan.gsoSize <= kSlotRoom, "plan inside the read and a slot");
  uint64_t payload = 0;
  for (uint32_t i = 0; i < plan.segments; i++) {
    std::vector<uint8_t> slot(plan.hdrLen + plan.gsoSize);
    const uint32_t segLen = CutSegment(pkt.data(), plan, i, slot.data());
    Require(segLen > plan.hdrLen && segLen <= slot.size(), "datagram fits its slot");
    Require(i + 1 == plan.segments || segLen == plan.hdrLen + plan.gsoSize, "every datagram but the last is gso_size long");
    const uint8_t* ip = slot.data() + plan.l2;
    const uint32_t iphl = plan.csumStart - plan.l2;
    const bool v4 = ip[0] >> 4 == 4;
    Require((v4 ? Be16(ip + 2) : Be16(ip + 4) + 40) == segLen - plan.l2, "IP length equals the datagram's size");
    if (v4) Require(FoldSum(SumBigEndian(ip, iphl, 0)) == 0xffff, "IPv4 header checksum valid");
    const uint8_t* udp = slot.data() + plan.csumStart;
    const uint32_t udpLen = segLen - plan.csumStart;
    Require(Be16(udp + 4) == udpLen, "UDP length equals the datagram's");
    const uint64_t pseudo = (v4 ? SumBigEndian(ip + 12, 8, 0) : SumBigEndian(ip + 8, 32, 0)) + 17 + udpLen;
    Require(Be16(udp + 6) != 0 && FoldSum(SumBigEndian(udp, udpLen, pseudo)) == 0xffff, "UDP checksum present and valid");
    payload += segLen - plan.hdrLen;
  }
  Require(payload == len - plan.hdrLen, "datagrams carry the whole payload");
  return 0;
}
