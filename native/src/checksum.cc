// RFC 1071 internet checksum.
#include "addon.h"

#include <cstring>

namespace vxroute {

namespace {

// Sums 16-bit big-endian words; 64-bit accumulation defers the carry fold to the end (RFC 1071 §4.1).
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

uint32_t Fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

uint16_t Swap(uint32_t w) { return static_cast<uint16_t>(((w & 0xff) << 8) | (w >> 8)); }

}  // namespace

uint64_t SumBigEndian(const uint8_t* p, size_t len, uint64_t sum) {
  // The native-order sum is byte-swapped on little-endian hosts (RFC 1071 §2(B)).
  uint32_t native = Fold(Sum(p, len, 0));
  return sum + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? Swap(native) : native);
}

uint32_t FoldSum(uint64_t sum) { return Fold(sum); }

namespace {

// The sum the offload path relies on, exposed so that addon.test.ts can check it against the
// JavaScript reference at every length, offset and seed; the datapath never calls it from JS.
Napi::Value Checksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t length;
  int64_t offset, count, seed;
  if (!ArgBuffer(info, 0, &data, &length) || !ArgInt(info, 1, &offset) || !ArgInt(info, 2, &count) ||
      !ArgInt(info, 3, &seed)) {
    return env.Undefined();
  }
  if (offset < 0 || count < 0 || static_cast<uint64_t>(offset + count) > length || seed < 0 || seed > 0xffffffffLL) {
    ThrowRange(env, "checksum: range outside the buffer or seed outside 0..2^32-1");
    return env.Undefined();
  }
  // The seed is a big-endian sum.
  uint32_t total = Fold(SumBigEndian(data + offset, static_cast<size_t>(count), static_cast<uint64_t>(seed)));
  return Napi::Number::New(env, (~total) & 0xffff);
}

}  // namespace

void InitChecksum(Napi::Env env, Napi::Object exports) {
  exports.Set("checksum", Napi::Function::New(env, Checksum, "checksum"));
}

}  // namespace vxroute
