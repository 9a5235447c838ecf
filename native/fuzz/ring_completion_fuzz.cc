// libFuzzer harness of the completion checks of batched TUN reads (ring_completion.h): any words
// the kernel could leave in the completion queue for a batch of reads.
// Input: one byte, the reads submitted (1..32); then completions of 16 bytes each:
// user_data (8), res (4), flags (4), little-endian as the ring holds them.
#include "invariant.h"

#include "ring_completion.h"

#include <cstring>

using namespace vxroute;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint32_t kDepth = 32;
  if (size < 1) return 0;
  const uint32_t submitted = 1 + data[0] % kDepth;
  bool seen[kDepth] = {};
  int32_t results[kDepth] = {};
  uint32_t accepted = 0;
  for (size_t at = 1; at + 16 <= size; at += 16) {
    uint64_t userData;
    int32_t res;
    uint32_t flags;
    std::memcpy(&userData, data + at, 8);
    std::memcpy(&res, data + at + 8, 4);
    std::memcpy(&flags, data + at + 12, 4);
    const bool wasSeen = userData < submitted && seen[userData];
    if (AcceptCompletion(userData, res, flags, submitted, seen, results)) {
      Require(userData < submitted, "an accepted completion belongs to a submitted read");
      Require(!wasSeen, "a read completes once");
      Require(results[userData] == res, "its result is kept");
      Require((flags & 3) == 0, "no buffer id, no more-to-come flag");
      accepted++;
    }
  }
  Require(accepted <= submitted, "no more completions than reads");
  return 0;
}
