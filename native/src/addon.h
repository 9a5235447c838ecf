// Shared declarations of the vxroute addon: each source file registers one group of calls.
#pragma once

#include <napi.h>

#include "internet_checksum.h"

#include <cstddef>
#include <cstdint>

namespace vxroute {

// Largest batch one call moves; arrays of this size live on the native stack, never the heap.
constexpr uint32_t kMaxBatch = 256;

// Throws an Error carrying code (e.g. "EPERM"), errno and syscall, like Node's own system errors.
void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* hint = nullptr);
void ThrowType(Napi::Env env, const char* message);
void ThrowRange(Napi::Env env, const char* message);

// Argument readers: on a wrong type they throw and return false.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, int64_t* out);
bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length);
bool ArgInt32Array(const Napi::CallbackInfo& info, size_t i, int32_t** data, size_t* length);
bool ArgUint32Array(const Napi::CallbackInfo& info, size_t i, uint32_t** data, size_t* length);
bool ArgFloat64Array(const Napi::CallbackInfo& info, size_t i, double** data, size_t* length);

// Checks a slotted batch layout (packet i at slab[i * slotSize + offset]) against its buffers.
bool CheckSlots(Napi::Env env, size_t slabLength, int64_t slotSize, int64_t offset, int64_t count, size_t sizesLength);
// Checks that every span slab[offsets[i] .. + lengths[i]], i < count, lies inside the slab.
bool CheckSpans(Napi::Env env, size_t slabLength, const int32_t* offsets, size_t offsetsLength,
                const int32_t* lengths, size_t lengthsLength, int64_t count);

void InitChecksum(Napi::Env env, Napi::Object exports);
void InitEvent(Napi::Env env, Napi::Object exports);
void InitExec(Napi::Env env, Napi::Object exports);
void InitKeepFromChildren(Napi::Env env, Napi::Object exports);
void InitTun(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);

}  // namespace vxroute
