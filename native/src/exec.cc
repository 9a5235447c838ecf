// execv(2): the process becomes a fresh program image with the same pid, environment, standard
// descriptors and other open descriptors that are not close-on-exec. `vxroute run` uses it once, at its very start, to
// restart node with the V8 flag and malloc setting that only a fresh process image reads (see src/cli/memory-restart.ts).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "addon.h"

namespace vxroute {

namespace {

Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) {
    ThrowType(env, "exec(path: string, argv: string[])");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value arg = list.Get(i);
    if (!arg.IsString()) {
      ThrowType(env, "exec: every argument must be a string");
      return env.Undefined();
    }
    args.push_back(arg.As<Napi::String>());
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Node marks the standard descriptors close-on-exec once it has used them: they must survive.
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execv(path.c_str(), argv.data());
  ThrowErrno(env, "execv", errno);  // only reached when the exec failed
  return env.Undefined();
}

}  // namespace

void InitExec(Napi::Env env, Napi::Object exports) {
  exports.Set("exec", Napi::Function::New(env, Exec, "exec"));
}

}  // namespace vxroute
