// The worker's wait: poll() over its fds plus an eventfd the main thread signals to wake it
// (shutdown, table published), so a blocked worker never misses a control message. With a spin
// budget (--busy-poll) it first polls without blocking, yielding the core between tries, and
// blocks only when the budget is spent.
#include "addon.h"

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace vxroute {

namespace {

constexpr size_t kMaxPollFds = 16;
constexpr int64_t kMaxSpinUs = 1000000;
constexpr int64_t kContendedNs = 50000;

Napi::Value EventfdOpen(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(info.Env(), "eventfd", errno);
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value EventfdSignal(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: the worker is already due to wake.
  if (write(static_cast<int>(fd), &one, sizeof one) < 0 && errno != EAGAIN) {
    ThrowErrno(info.Env(), "write", errno);
  }
  return info.Env().Undefined();
}

Napi::Value EventfdDrain(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  uint64_t value;
  if (read(static_cast<int>(fd), &value, sizeof value) < 0 && errno != EAGAIN) {
    ThrowErrno(info.Env(), "read", errno);
  }
  return info.Env().Undefined();
}

int64_t MonotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

// poll() that spins for up to `spinUs` before it blocks. Each try that finds nothing yields the
// core: a thread the last packet woke (a pod's process, a peer daemon on the same core) runs at
// once instead of waiting for this one's time slice to end. A try that comes back more than
// kContendedNs after the one before means the core was taken for longer than a pod's reply takes:
// other work wants it, and spinning would only take from that work, so the thread sleeps.
int SpinThenPoll(pollfd* pfds, nfds_t count, int timeoutMs, int64_t spinUs) {
  if (spinUs > 0) {
    int64_t last = MonotonicNs();
    const int64_t until = last + spinUs * 1000;
    for (;;) {
      int n = poll(pfds, count, 0);
      if (n != 0) return n;
      sched_yield();
      const int64_t now = MonotonicNs();
      if (now >= until || now - last > kContendedNs) break;
      last = now;
    }
  }
  return poll(pfds, count, timeoutMs);
}

// poll(fds, count, timeoutMs, spinUs = 0)
Napi::Value Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* fds;
  size_t length;
  int64_t count, timeout, spinUs = 0;
  if (!ArgInt32Array(info, 0, &fds, &length) || !ArgInt(info, 1, &count) || !ArgInt(info, 2, &timeout) ||
      (info.Length() > 3 && !ArgInt(info, 3, &spinUs))) {
    return env.Undefined();
  }
  if (count < 1 || static_cast<size_t>(count) > length || static_cast<size_t>(count) > kMaxPollFds) {
    ThrowRange(env, "poll: count must be 1..16 and within fds");
    return env.Undefined();
  }
  if (spinUs < 0 || spinUs > kMaxSpinUs) {
    ThrowRange(env, "poll: spinUs must be 0..1000000");
    return env.Undefined();
  }
  pollfd pfds[kMaxPollFds];
  for (int64_t i = 0; i < count; i++) pfds[i] = pollfd{fds[i], POLLIN, 0};
  int n = SpinThenPoll(pfds, static_cast<nfds_t>(count), static_cast<int>(timeout), spinUs);
  if (n < 0) {
    if (errno == EINTR) return Napi::Number::New(env, 0);
    ThrowErrno(env, "poll", errno);
    return env.Undefined();
  }
  uint32_t ready = 0;
  for (int64_t i = 0; i < count; i++) {
    if (pfds[i].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) ready |= 1u << i;
  }
  return Napi::Number::New(env, ready);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  if (close(static_cast<int>(fd)) < 0 && errno != EINTR) ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

}  // namespace

void InitEvent(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfdOpen", Napi::Function::New(env, EventfdOpen, "eventfdOpen"));
  exports.Set("eventfdSignal", Napi::Function::New(env, EventfdSignal, "eventfdSignal"));
  exports.Set("eventfdDrain", Napi::Function::New(env, EventfdDrain, "eventfdDrain"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
}

}  // namespace vxroute
