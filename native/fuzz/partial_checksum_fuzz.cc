// libFuzzer harness of partial_checksum.h: a packet from a peer whose inner checksum may hold
// only the pseudo-header sum. Input: one mode byte (bit 0: an Ethernet frame), the packet.
#include "invariant.h"

#include "partial_checksum.h"

#include <cstring>
#include <vector>

using namespace vxroute;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool ethernet = data[0] & 1;
  std::vector<uint8_t> pkt(data + 1, data + size);
  const std::vector<uint8_t> before = pkt;
  const uint32_t len = static_cast<uint32_t>(pkt.size());
  if (!FinishPartialChecksum(pkt.data(), len, ethernet)) {
    Require(pkt == before, "a packet not finished is left as it was");
    return 0;
  }
  size_t changed = 0;
  for (size_t i = 0; i < pkt.size(); i++) changed += pkt[i] != before[i];
  Require(changed >= 1 && changed <= 2, "only the checksum field changed");
  // Finished once, the checksum is valid: a second pass leaves it alone.
  std::vector<uint8_t> again = pkt;
  Require(!FinishPartialChecksum(again.data(), len, ethernet) && again == pkt, "a finished checksum is not finished again");
  return 0;
}
