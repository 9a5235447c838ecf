// RFC 1071 internet checksum: 64-bit words added with end-around carry, one fold at the end.
#include "internet_checksum.h"

#include <cstring>

namespace vxroute {

namespace {

// a + b in ones' complement over 64 bits: the carry out of bit 63 comes back in at bit 0, so the
// 64-bit sum folds to the same 16-bit sum as adding the four 16-bit words of each (RFC 1071 §2(C)).
inline uint64_t AddCarry(uint64_t a, uint64_t b) {
  uint64_t s;
  return s = a + b, s + (s < b);
}

// The ones' complement sum of p[0 .. len) as native-order words: four independent accumulators
// over 32 bytes a round (what the kernel's csum_partial does with adc), then the tail.
uint64_t Sum(const uint8_t* p, size_t len) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  while (len >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, 32);
    a = AddCarry(a, w[0]);
    b = AddCarry(b, w[1]);
    c = AddCarry(c, w[2]);
    d = AddCarry(d, w[3]);
    p += 32;
    len -= 32;
  }
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    a = AddCarry(a, w);
    p += 8;
    len -= 8;
  }
  // The last 0–7 bytes, zero-padded to a word: in native order the padding lands where the bytes
  // that follow would have been, which is RFC 1071's zero pad of an odd last byte too.
  if (len > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, len);
    b = AddCarry(b, w);
  }
  return AddCarry(AddCarry(a, b), AddCarry(c, d));
}

uint16_t Swap(uint32_t w) { return static_cast<uint16_t>(((w & 0xff) << 8) | (w >> 8)); }

}  // namespace

uint32_t FoldSum(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

uint64_t SumBigEndian(const uint8_t* p, size_t len, uint64_t sum) {
  // The native-order sum is byte-swapped on little-endian hosts (RFC 1071 §2(B)).
  uint32_t native = FoldSum(Sum(p, len));
  return sum + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? Swap(native) : native);
}

}  // namespace vxroute
