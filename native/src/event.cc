// The worker's wait: an epoll set of its fds plus an eventfd the main thread signals to wake it
// (shutdown, table published), so a blocked worker never misses a control message. The set is
// registered once: a wait does not walk and re-arm every fd's wait queue as poll() does on each
// call. With a spin budget (--busy-poll) it first tries without blocking, yielding the core between
// tries, and blocks only when the budget is spent. poll() over a list of fds stays for one-off waits.
#include "addon.h"

#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
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

// Waits with `wait(timeoutMs)` after spinning for up to `spinUs` on `wait(0)`. Each try that finds
// nothing yields the core: a thread the last packet woke (a pod's process, a peer daemon on the
// same core) runs at once instead of waiting for this one's time slice to end. A try that comes
// back more than kContendedNs after the one before means the core was taken for longer than a
// pod's reply takes: other work wants it, and spinning would only take from that work, so the
// thread sleeps.
template <typename Wait>
int SpinThenWait(Wait wait, int timeoutMs, int64_t spinUs) {
  if (spinUs > 0) {
    int64_t last = MonotonicNs();
    const int64_t until = last + spinUs * 1000;
    for (;;) {
      int n = wait(0);
      if (n != 0) return n;
      sched_yield();
      const int64_t now = MonotonicNs();
      if (now >= until || now - last > kContendedNs) break;
      last = now;
    }
  }
  return wait(timeoutMs);
}

bool ArgSpinUs(const Napi::CallbackInfo& info, size_t i, int64_t* spinUs) {
  *spinUs = 0;
  if (info.Length() > i && !ArgInt(info, i, spinUs)) return false;
  if (*spinUs < 0 || *spinUs > kMaxSpinUs) {
    ThrowRange(info.Env(), "spinUs must be 0..1000000");
    return false;
  }
  return true;
}

// poll(fds, count, timeoutMs, spinUs = 0)
Napi::Value Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* fds;
  size_t length;
  int64_t count, timeout, spinUs;
  if (!ArgInt32Array(info, 0, &fds, &length) || !ArgInt(info, 1, &count) || !ArgInt(info, 2, &timeout) || !ArgSpinUs(info, 3, &spinUs)) {
    return env.Undefined();
  }
  if (count < 1 || static_cast<size_t>(count) > length || static_cast<size_t>(count) > kMaxPollFds) {
    ThrowRange(env, "poll: count must be 1..16 and within fds");
    return env.Undefined();
  }
  pollfd pfds[kMaxPollFds];
  for (int64_t i = 0; i < count; i++) pfds[i] = pollfd{fds[i], POLLIN, 0};
  int n = SpinThenWait([&](int ms) { return poll(pfds, static_cast<nfds_t>(count), ms); }, static_cast<int>(timeout), spinUs);
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

// epollOpen(fds, count): an epoll set (close-on-exec) watching fds[0 .. count-1] for readability,
// each reported as bit i by epollWait; a negative fd is left out (as poll() skips it).
Napi::Value EpollOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* fds;
  size_t length;
  int64_t count;
  if (!ArgInt32Array(info, 0, &fds, &length) || !ArgInt(info, 1, &count)) return env.Undefined();
  if (count < 1 || static_cast<size_t>(count) > length || static_cast<size_t>(count) > kMaxPollFds) {
    ThrowRange(env, "epollOpen: count must be 1..16 and within fds");
    return env.Undefined();
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    ThrowErrno(env, "epoll_create1", errno);
    return env.Undefined();
  }
  for (int64_t i = 0; i < count; i++) {
    if (fds[i] < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = 1u << i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
      int err = errno;
      close(ep);
      ThrowErrno(env, "epoll_ctl", err);
      return env.Undefined();
    }
  }
  return Napi::Number::New(env, ep);
}

// Milliseconds of `clock` (fractional, as performance.now() and Date.now() count).
double ClockMs(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

// epollWait(ep, timeoutMs, spinUs = 0, clock?): the bits of the set's fds that are readable (or
// errored), 0 on timeout; spins first as poll() does. With `clock` (a Float64Array of 2 or more),
// the wake's time goes into it: [0] CLOCK_REALTIME ms (Date.now()'s clock), [1] CLOCK_MONOTONIC
// ms. A worker reads its batch's time there: every clock read in JS returns a new heap number.
Napi::Value EpollWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t ep, timeout, spinUs;
  if (!ArgInt(info, 0, &ep) || !ArgInt(info, 1, &timeout) || !ArgSpinUs(info, 2, &spinUs)) return env.Undefined();
  double* clock = nullptr;
  size_t clockLength = 0;
  if (info.Length() > 3 && !ArgFloat64Array(info, 3, &clock, &clockLength)) return env.Undefined();
  if (clock && clockLength < 2) {
    ThrowRange(env, "epollWait: clock must hold 2 values");
    return env.Undefined();
  }
  epoll_event events[kMaxPollFds];
  int n = SpinThenWait([&](int ms) { return epoll_wait(static_cast<int>(ep), events, kMaxPollFds, ms); }, static_cast<int>(timeout), spinUs);
  const int err = errno;
  if (clock) {
    clock[0] = ClockMs(CLOCK_REALTIME);
    clock[1] = ClockMs(CLOCK_MONOTONIC);
  }
  if (n < 0) {
    if (err == EINTR) return Napi::Number::New(env, 0);
    ThrowErrno(env, "epoll_wait", err);
    return env.Undefined();
  }
  uint32_t ready = 0;
  for (int i = 0; i < n; i++) ready |= events[i].data.u32;
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
  exports.Set("epollOpen", Napi::Function::New(env, EpollOpen, "epollOpen"));
  exports.Set("epollWait", Napi::Function::New(env, EpollWait, "epollWait"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
}

}  // namespace vxroute
