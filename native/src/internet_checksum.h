// RFC 1071 internet checksum over plain buffers: no Node-API, so the fuzz harnesses link it too.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vxroute {

// `sum` plus the sum of p[0 .. len) as big-endian 16-bit words, unfolded; and the fold of such
// a sum to 16 bits.
uint64_t SumBigEndian(const uint8_t* p, size_t len, uint64_t sum);
uint32_t FoldSum(uint64_t sum);

}  // namespace vxroute
