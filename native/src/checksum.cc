// RFC 1071 internet checksum and RFC 1624 incremental update for JavaScript (internet_checksum.cc sums).
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

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
Napi::Value ChecksumUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t hc, m, m2;
  if (!ArgInt(info, 0, &hc) || !ArgInt(info, 1, &m) || !ArgInt(info, 2, &m2)) return env.Undefined();
  uint64_t sum = (~static_cast<uint64_t>(hc) & 0xffff) + (~static_cast<uint64_t>(m) & 0xffff) +
                 (static_cast<uint64_t>(m2) & 0xffff);
  return Napi::Number::New(env, (~FoldSum(sum)) & 0xffff);
}

}  // namespace

void InitChecksum(Napi::Env env, Napi::Object exports) {
  exports.Set("checksum", Napi::Function::New(env, Checksum, "checksum"));
  exports.Set("checksumUpdate", Napi::Function::New(env, ChecksumUpdate, "checksumUpdate"));
}

}  // namespace vxroute
