// Entry point and argument checking. Every call validates its offsets against the buffers it
// is given, so a bug in JavaScript becomes an exception, never a write outside a buffer.
#include "addon.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace vxroute {

namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case EMSGSIZE: return "EMSGSIZE";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENOBUFS: return "ENOBUFS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EIO: return "EIO";
    default: return "EUNKNOWN";
  }
}

}  // namespace

void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* hint) {
  std::string message = std::string(syscall) + ": " + std::strerror(err);
  if (hint != nullptr) message += std::string(" (") + hint + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.ThrowAsJavaScriptException();
}

void ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void ThrowRange(Napi::Env env, const char* message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowType(info.Env(), "expected a number argument");
    return false;
  }
  *out = info[i].As<Napi::Number>().Int64Value();
  return true;
}

bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length) {
  if (i >= info.Length() || !info[i].IsBuffer()) {
    ThrowType(info.Env(), "expected a Buffer argument");
    return false;
  }
  auto buf = info[i].As<Napi::Buffer<uint8_t>>();
  *data = buf.Data();
  *length = buf.Length();
  return true;
}

template <typename T, napi_typedarray_type kType>
static bool ArgTypedArray(const Napi::CallbackInfo& info, size_t i, T** data, size_t* length, const char* name) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != kType) {
    ThrowType(info.Env(), name);
    return false;
  }
  auto array = info[i].As<Napi::TypedArrayOf<T>>();
  *data = array.Data();
  *length = array.ElementLength();
  return true;
}

bool ArgInt32Array(const Napi::CallbackInfo& info, size_t i, int32_t** data, size_t* length) {
  return ArgTypedArray<int32_t, napi_int32_array>(info, i, data, length, "expected an Int32Array argument");
}

bool ArgUint32Array(const Napi::CallbackInfo& info, size_t i, uint32_t** data, size_t* length) {
  return ArgTypedArray<uint32_t, napi_uint32_array>(info, i, data, length, "expected a Uint32Array argument");
}

bool ArgFloat64Array(const Napi::CallbackInfo& info, size_t i, double** data, size_t* length) {
  return ArgTypedArray<double, napi_float64_array>(info, i, data, length, "expected a Float64Array argument");
}

bool CheckSlots(Napi::Env env, size_t slabLength, int64_t slotSize, int64_t offset, int64_t count, size_t sizesLength) {
  if (slotSize <= 0 || offset < 0 || offset >= slotSize || count < 0 || count > kMaxBatch ||
      static_cast<size_t>(count) > sizesLength || static_cast<uint64_t>(count * slotSize) > slabLength) {
    ThrowRange(env, "batch layout outside its buffers (slotSize, offset, count, slab or sizes length)");
    return false;
  }
  return true;
}

bool CheckSpans(Napi::Env env, size_t slabLength, const int32_t* offsets, size_t offsetsLength,
                const int32_t* lengths, size_t lengthsLength, int64_t count) {
  if (count < 0 || count > kMaxBatch || static_cast<size_t>(count) > offsetsLength ||
      static_cast<size_t>(count) > lengthsLength) {
    ThrowRange(env, "batch count outside 0..256 or longer than its offsets/lengths");
    return false;
  }
  for (int64_t i = 0; i < count; i++) {
    if (offsets[i] < 0 || lengths[i] < 0 ||
        static_cast<uint64_t>(offsets[i]) + static_cast<uint64_t>(lengths[i]) > slabLength) {
      ThrowRange(env, "batch span outside the slab");
      return false;
    }
  }
  return true;
}

}  // namespace vxroute

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vxroute::InitChecksum(env, exports);
  vxroute::InitEvent(env, exports);
  vxroute::InitExec(env, exports);
  vxroute::InitKeepFromChildren(env, exports);
  vxroute::InitTun(env, exports);
  vxroute::InitUdp(env, exports);
  return exports;
}

NODE_API_MODULE(vxroute, Init)
