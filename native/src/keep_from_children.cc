// madvise(MADV_DONTFORK) over the whole pages of a shared table. A child that node forks (every
// `nft`, `ip` the daemon runs) otherwise shares the parent's private memory copy-on-write: fork
// write-protects every page, and the parent's next write to each takes a page fault, in the
// connection table a first packet's insert under the table's lock. A child that only execs needs
// none of the table, so it gets none of it, and the parent's pages stay writable.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "addon.h"

namespace vxroute {

namespace {

Napi::Value KeepFromChildren(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* data;
  size_t length;
  if (!ArgInt32Array(info, 0, &data, &length)) return env.Undefined();
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + length * sizeof(int32_t)) & ~(page - 1);
  // Only whole pages can be advised; the partial ones at either end stay as they were.
  if (end <= start) return Napi::Number::New(env, 0);
  if (madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTFORK) != 0) {
    ThrowErrno(env, "madvise", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(end - start));
}

}  // namespace

void InitKeepFromChildren(Napi::Env env, Napi::Object exports) {
  exports.Set("keepFromChildren", Napi::Function::New(env, KeepFromChildren, "keepFromChildren"));
}

}  // namespace vxroute
