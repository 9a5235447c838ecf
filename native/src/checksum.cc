// RFC 1071 internet checksum for JavaScript (internet_checksum.cc sums): the sum the offload path relies
// on, exposed so that addon.test.ts can check it against the JavaScript reference at every length,
// offset and seed; the datapath never calls it from JS.
#include "addon.h"

namespace vxroute {

namespace {

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
  uint32_t total = FoldSum(SumBigEndian(data + offset, static_cast<size_t>(count), static_cast<uint64_t>(seed)));
  return Napi::Number::New(env, (~total) & 0xffff);
}

}  // namespace

void InitChecksum(Napi::Env env, Napi::Object exports) {
  exports.Set("checksum", Napi::Function::New(env, Checksum, "checksum"));
}

}  // namespace vxroute
