// RFC 1071 internet checksum: 64-bit accumulation of native-order words, one fold at the end.
#include "internet_checksum.h"

#include <cstring>

namespace vxroute {

namespace {

// Sums 16-bit words; 64-bit accumulation defers the carry fold to the end (RFC 1071 §4.1).
uint64_t Sum(const uint8_t* p, size_t len, uint64_t sum) {
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    // Add the four native-order 16-bit words; byte order is fixed once at the end (RFC 1071 §2(B)).
    sum += (w & 0xffff) + ((w >> 16) & 0xffff) + ((w >> 32) & 0xffff) + (w >> 48);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    uint16_t w = 0;
    std::memcpy(&w, p, 1);  // the odd byte is the high byte of a zero-padded word
    sum += w;
  }
  return sum;
}

uint16_t Swap(uint32_t w) { return static_cast<uint16_t>(((w & 0xff) << 8) | (w >> 8)); }

}  // namespace

uint32_t FoldSum(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

uint64_t SumBigEndian(const uint8_t* p, size_t len, uint64_t sum) {
  // The native-order sum is byte-swapped on little-endian hosts (RFC 1071 §2(B)).
  uint32_t native = FoldSum(Sum(p, len, 0));
  return sum + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? Swap(native) : native);
}

}  // namespace vxroute
