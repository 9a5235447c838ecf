// libFuzzer harness of the plain read path (tso_split.h CheckPlainRead): a packet without GSO
// whose virtio_net_hdr may ask for its checksum to be finished.
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
  const std::vector<uint8_t> before = pkt;
  const ReadDrop drop = CheckPlainRead(hdr, pkt.data(), pkt.size(), ethernet, kSlotRoom);
  if (drop != kReadOk || !(hdr.flags & kNeedsCsum)) {
    Require(pkt == before, "a dropped or plain packet is left as it was");
    return 0;
  }
  // The field held the pseudo-header sum; now the data from csum_start sums with it to 0xffff.
  const size_t at = size_t{hdr.csum_start} + hdr.csum_offset;
  Require(at + 2 <= pkt.size(), "checksum field inside the packet");
  Require(std::memcmp(pkt.data(), before.data(), at) == 0 && std::memcmp(pkt.data() + at + 2, before.data() + at + 2, pkt.size() - at - 2) == 0,
          "only the checksum field changed");
  const uint64_t sum = SumBigEndian(pkt.data() + hdr.csum_start, pkt.size() - hdr.csum_start, Be16(before.data() + at));
  Require(FoldSum(sum) == 0xffff || Be16(pkt.data() + at) == 0xffff, "finished checksum verifies");
  return 0;
}
