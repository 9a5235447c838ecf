// The underlay sockets: one receiving UDP socket per shard, all bound to the same port with
// SO_REUSEPORT so the kernel spreads peers' flows over shards, and a pool of sending sockets per
// family on ports of the local range, one picked per inner flow (flow_hash.h) so that peers spread
// ours. Batches move with recvmmsg/sendmmsg; each message is received whole and cut into slots
// (udp_gro.h).
#include "addon.h"
#include "flow_hash.h"
#include "received_whole.h"
#include "tunnel_gso_send.h"
#include "udp_batch.h"
#include "udp_gro.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace vxroute {

static_assert(static_cast<uint32_t>(kWholeSendWords) == static_cast<uint32_t>(kWholeWords), "a PacketBatch has one array of slot words for the read and the receive");

namespace {

constexpr int kSocketBuffer = 4 << 20;

void SetBuffer(int fd, int force, int plain) {
  // The FORCE variants pass rmem_max/wmem_max when we have CAP_NET_ADMIN; otherwise best effort.
  if (setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) < 0) {
    setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
  }
}

// Fills `ss` with family's bindAddr:port; false (and a thrown TypeError) when bindAddr is not one.
bool BindAddress(Napi::Env env, const char* call, int64_t family, const std::string& addr, int64_t port, sockaddr_storage* ss,
                 socklen_t* sslen) {
  std::memset(ss, 0, sizeof *ss);
  if (family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    *sslen = sizeof(sockaddr_in);
    if (inet_pton(AF_INET, addr.c_str(), &sin->sin_addr) == 1) return true;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    *sslen = sizeof(sockaddr_in6);
    if (inet_pton(AF_INET6, addr.c_str(), &sin6->sin6_addr) == 1) return true;
  }
  ThrowType(env, (std::string(call) + ": bindAddr is not an IPv" + std::to_string(family) + " address").c_str());
  return false;
}

// A UDP socket of `family` (IPv6 only for 6) bound to sockaddr `ss`, close-on-exec, with the big
// send buffer every underlay socket has and `options` applied before the bind; -1 (and a thrown
// error) on failure.
template <typename Options>
int BoundSocket(Napi::Env env, int64_t family, const sockaddr_storage& ss, socklen_t sslen, Options options) {
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", errno);
    return -1;
  }
  int on = 1;
  if ((family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) || !options(fd)) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "setsockopt", err);
    return -1;
  }
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), sslen) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "bind", err, err == EADDRINUSE ? "another process holds this UDP port without SO_REUSEPORT" : nullptr);
    return -1;
  }
  return fd;
}

Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t family, port;
  if (!ArgInt(info, 0, &family) || info.Length() < 2 || !info[1].IsString() || !ArgInt(info, 2, &port)) {
    if (!env.IsExceptionPending()) ThrowType(env, "udpOpen(family, bindAddr, port)");
    return env.Undefined();
  }
  if ((family != 4 && family != 6) || port < 0 || port > 65535) {
    ThrowRange(env, "udpOpen: family must be 4 or 6 and port 0..65535");
    return env.Undefined();
  }
  sockaddr_storage ss;
  socklen_t sslen;
  if (!BindAddress(env, "udpOpen", family, info[1].As<Napi::String>().Utf8Value(), port, &ss, &sslen)) return env.Undefined();
  const int fd = BoundSocket(env, family, ss, sslen, [](int s) {
    int on = 1;
    if (setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) return false;
    SetBuffer(s, SO_RCVBUFFORCE, SO_RCVBUF);
    return true;
  });
  return fd < 0 ? env.Undefined() : Napi::Number::New(env, fd);
}

// udpOpenSender(family, bindAddr): a socket that only sends, bound to a port the kernel picks in
// ip_local_port_range (its datagrams' source port). Nothing it receives is queued: a socket
// filter that accepts no byte drops every datagram before the receive queue (counted in the
// socket's drops), so a sender to that port cannot fill memory no one reads.
Napi::Value UdpOpenSender(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t family;
  if (!ArgInt(info, 0, &family) || info.Length() < 2 || !info[1].IsString()) {
    if (!env.IsExceptionPending()) ThrowType(env, "udpOpenSender(family, bindAddr)");
    return env.Undefined();
  }
  if (family != 4 && family != 6) {
    ThrowRange(env, "udpOpenSender: family must be 4 or 6");
    return env.Undefined();
  }
  sockaddr_storage ss;
  socklen_t sslen;
  if (!BindAddress(env, "udpOpenSender", family, info[1].As<Napi::String>().Utf8Value(), 0, &ss, &sslen)) {
    return env.Undefined();
  }
  const int fd = BoundSocket(env, family, ss, sslen, [](int s) {
    static sock_filter dropAll[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    static const sock_fprog program = {1, dropAll};
    return setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == 0;
  });
  return fd < 0 ? env.Undefined() : Napi::Number::New(env, fd);
}

Napi::Value LocalPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return env.Undefined();
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    ThrowErrno(env, "getsockname", errno);
    return env.Undefined();
  }
  uint16_t port = ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port;
  return Napi::Number::New(env, ntohs(port));
}

#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h, Linux 5.0
#endif

// recvBatch's receive area (`scratch`): kGroMessages messages of kGroRoom bytes each, every one
// able to take a UDP GRO buffer or an unsegmented tunnel GSO packet whole.
constexpr uint32_t kGroMessages = 64;
constexpr size_t kGroRoom = 65536;

// recvBatch's state words: the messages of the last recvmmsg not yet cut into slots.
enum RecvState : size_t {
  kMessages = 0,     // messages received (0: none pending)
  kCurrent = 1,      // the message being cut
  kNextSegment = 2,  // its next segment
  kGroBuffers = 3,   // messages that held more than one datagram (the caller takes and zeroes it)
  kWholeTsos = 4,    // messages left whole in one slot (TSO packets, TCP runs), and the segments they stand for
  kWholePackets = 5,  // (the caller takes and zeroes both)
  kLengths = 6,                           // per message: its length, -1 when truncated
  kGsoSizes = kLengths + kGroMessages,    // per message: the UDP_GRO gso_size, 0 when none
  kSources = kGsoSizes + kGroMessages,    // per message: 4 source address words
  kRecvStateWords = kSources + 4 * kGroMessages,
};

// udpGro(fd): asks the kernel to hand over UDP GRO buffers whole, with their gso_size (udp(7),
// Linux 5.0). Returns 0, or setsockopt's errno.
Napi::Value UdpGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return env.Undefined();
  int on = 1;
  const int err = setsockopt(static_cast<int>(fd), SOL_UDP, UDP_GRO, &on, sizeof on) < 0 ? errno : 0;
  return Napi::Number::New(env, err);
}

// The gso_size of a UDP_GRO control message, 0 when there is none or it is malformed.
uint32_t GroSize(msghdr* hdr) {
  for (cmsghdr* c = CMSG_FIRSTHDR(hdr); c != nullptr; c = CMSG_NXTHDR(hdr, c)) {
    if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO || c->cmsg_len < CMSG_LEN(sizeof(int))) continue;
    int size;
    std::memcpy(&size, CMSG_DATA(c), sizeof size);
    return size > 0 && size <= 65535 ? static_cast<uint32_t>(size) : 0;
  }
  return 0;
}

// The pending messages in `state` (a JavaScript array) if its words still describe a receive.
bool PendingValid(const int32_t* state) {
  const int32_t m = state[kMessages];
  if (m <= 0 || m > static_cast<int32_t>(kGroMessages) || state[kCurrent] < 0 || state[kCurrent] >= m ||
      state[kNextSegment] < 0) {
    return false;
  }
  const int32_t len = state[kLengths + state[kCurrent]];
  return len >= -1 && len <= static_cast<int32_t>(kGroRoom) && state[kGsoSizes + state[kCurrent]] >= 0;
}

// recvBatch: one recvmmsg of whole messages into scratch, cut into slots
// (one VXLAN datagram each) from the state the last call left. A message dropped whole fills one
// slot with size -1. With `whole` (kWholeWords per slot), an eligible inner TSO packet fills one
// slot with its first segment, and a GRO buffer of one TCP run one slot with its first datagram,
// the message staying in scratch for the TUN write (received_whole.h). Returns
// the slots filled.
int64_t RecvWhole(int fd, uint8_t* slab, int64_t slotSize, int64_t offset, int64_t count, int32_t* sizes,
                  uint32_t* addrs, uint8_t* scratch, int32_t* state, uint32_t maxInner, int32_t* whole) {
  const size_t room = static_cast<size_t>(slotSize - offset);
  int64_t n = 0;
  // Slots, a run's counting as its datagrams: a batch of runs holds as many bytes as a batch of
  // their datagrams would, so that what the receive summed is still in cache when the TUN write
  // reads it again (a whole TSO packet, not summed, counts as its one slot).
  int64_t datagrams = 0;
  bool received = false;
  // A slot of this batch stands for a message left in the area: no recvmmsg may overwrite it
  // before the batch's TUN write.
  bool held = false;
  while (n < count) {
    if (state[kMessages] > 0) {
      if (!PendingValid(state)) {
        state[kMessages] = 0;
        continue;
      }
      const int32_t k = state[kCurrent];
      const uint8_t* d = scratch + static_cast<size_t>(k) * kGroRoom;
      const ReceivedPlan plan = PlanReceived(d, state[kLengths + k], static_cast<uint32_t>(state[kGsoSizes + k]), room, maxInner,
                                             whole != nullptr);
      // A message that would not fit the rest of the batch waits whole for the next one, so that
      // its datagrams (one run of a flow, mostly) can leave as one coalesced TUN write.
      const uint32_t stands = plan.kind == Received::kWholeRun ? (plan.length + plan.stride - 1) / plan.stride : plan.segments;
      if (state[kNextSegment] == 0 && n > 0 && stands > count - datagrams) break;
      if (state[kNextSegment] == 0) datagrams += stands - plan.segments;
      const bool left = plan.kind == Received::kWholeTso || plan.kind == Received::kWholeRun;
      if (state[kNextSegment] == 0 && (plan.segments > 1 || left)) state[kGroBuffers]++;
      auto s = static_cast<uint32_t>(state[kNextSegment]);
      for (; s < plan.segments && n < count; s++, n++, datagrams++) {
        const auto slotAt = static_cast<uint32_t>(n * slotSize + offset);
        sizes[n] = plan.kind == Received::kDrop ? -1 : static_cast<int32_t>(CutReceived(d, plan, s, slab + slotAt));
        std::memcpy(addrs + n * 4, state + kSources + k * 4, 4 * sizeof *addrs);
        if (whole == nullptr) continue;
        int32_t* words = whole + n * kWholeWords;
        words[kWholeSegments] = 0;
        if (!left) continue;
        NoteWhole(plan, static_cast<uint32_t>(k) * kGroRoom, slotAt, maxInner, words);
        held = true;
        state[kWholeTsos]++;
        state[kWholePackets] += words[kWholeSegments];
      }
      state[kNextSegment] = static_cast<int32_t>(s);
      if (s >= plan.segments) {
        state[kNextSegment] = 0;
        state[kCurrent] = k + 1;
        if (k + 1 == state[kMessages]) state[kMessages] = 0;
      }
      continue;
    }
    if (received || held) break;  // one recvmmsg per call: what waits is taken by the next
    received = true;
    const auto want = static_cast<unsigned>(std::min<int64_t>(count - n, kGroMessages));
    mmsghdr msgs[kGroMessages];
    iovec iovs[kGroMessages];
    sockaddr_in6 names[kGroMessages];
    alignas(cmsghdr) char controls[kGroMessages][CMSG_SPACE(sizeof(int))];
    for (unsigned k = 0; k < want; k++) {
      iovs[k] = {scratch + k * kGroRoom, kGroRoom};
      std::memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iovs[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_name = &names[k];
      msgs[k].msg_hdr.msg_namelen = sizeof names[k];
      msgs[k].msg_hdr.msg_control = controls[k];
      msgs[k].msg_hdr.msg_controllen = sizeof controls[k];
    }
    int m;
    do {
      m = recvmmsg(fd, msgs, want, MSG_DONTWAIT, nullptr);
    } while (m < 0 && errno == EINTR);
    if (m < 0) return n > 0 || errno == EAGAIN ? n : -1;
    for (int k = 0; k < m && k < static_cast<int>(want); k++) {
      state[kLengths + k] = ReceivedLength(msgs[k].msg_len, msgs[k].msg_hdr.msg_flags, kGroRoom);
      state[kGsoSizes + k] = static_cast<int32_t>(GroSize(&msgs[k].msg_hdr));
      SourceWords(&names[k], msgs[k].msg_hdr.msg_namelen, sizeof names[k], reinterpret_cast<uint32_t*>(state + kSources + k * 4));
    }
    state[kMessages] = std::min(m, static_cast<int>(want));
    state[kCurrent] = 0;
    state[kNextSegment] = 0;
  }
  return n;
}

Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slotSize, offset, count, maxInner;
  uint8_t *slab, *scratch;
  size_t slabLength, sizesLength, addrsLength, scratchLength, stateLength;
  int32_t *sizes, *state, *whole = nullptr;
  size_t wholeLength = 0;
  uint32_t* addrs;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &slab, &slabLength) || !ArgInt(info, 2, &slotSize) ||
      !ArgInt(info, 3, &offset) || !ArgInt(info, 4, &count) || !ArgInt32Array(info, 5, &sizes, &sizesLength) ||
      !ArgUint32Array(info, 6, &addrs, &addrsLength) || !ArgBuffer(info, 7, &scratch, &scratchLength) ||
      !ArgInt32Array(info, 8, &state, &stateLength) || !ArgInt(info, 9, &maxInner) ||
      (info.Length() > 10 && !info[10].IsUndefined() && !ArgInt32Array(info, 10, &whole, &wholeLength)) ||
      !CheckSlots(env, slabLength, slotSize, offset, count, sizesLength)) {
    return env.Undefined();
  }
  if (whole != nullptr && wholeLength < static_cast<size_t>(count) * kWholeWords) {
    ThrowRange(env, "recvBatch: whole needs WHOLE_WORDS words per slot");
    return env.Undefined();
  }
  if (addrsLength < static_cast<size_t>(count) * 4) {
    ThrowRange(env, "recvBatch: addrs needs 4 words per datagram");
    return env.Undefined();
  }
  if (scratchLength < kGroMessages * kGroRoom || stateLength < kRecvStateWords || maxInner < 0 || maxInner > 65535) {
    ThrowRange(env, "recvBatch: scratch needs RECV_SCRATCH_BYTES, state RECV_STATE_WORDS, maxInner 0..65535");
    return env.Undefined();
  }
  const int64_t n = RecvWhole(static_cast<int>(fd), slab, slotSize, offset, count, sizes, addrs, scratch, state,
                              static_cast<uint32_t>(maxInner), whole);
  if (n < 0) {
    ThrowErrno(env, "recvmmsg", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h, Linux 4.18
#endif

// sendBatch's state words, one set per socket (addon.ts UdpState): whether it sends UDP GSO runs,
// and what the caller reports. Turned off only by what means "this route cannot segment".
enum UdpState : size_t {
  kGso = 0,              // 1: runs go as UDP GSO messages; 0: one datagram per message
  kOffErrno = 1,         // why off: the probe's errno (for good), or EIO (tried again after kBackoffMs)
  kBackoffMs = 2,        // wait before the next try after EIO: 1 s, doubled per refusal, at most 64 s
  kAt = 3,               // CLOCK_MONOTONIC ms (mod 2^32): while off, when to try again; while on, since when
  kChanges = 4,          // bumped at every switch on or off: the caller reports it
  kGsoRuns = 5,          // runs sent as one GSO message (the caller takes and zeroes these three)
  kUnsupportedRuns = 6,  // runs refused with EIO and resent one datagram at a time
  kTooLargeRuns = 7,     // runs refused as too large for their route and resent one at a time; GSO stays on
  kUdpStateWords = 8,
};
constexpr int32_t kFirstBackoffMs = 1000;
constexpr int32_t kMaxBackoffMs = 64000;

uint32_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000);
}

bool ArgState(const Napi::CallbackInfo& info, size_t i, int32_t** state) {
  size_t length;
  if (!ArgInt32Array(info, i, state, &length)) return false;
  if (length < kUdpStateWords) {
    ThrowRange(info.Env(), "UDP socket state needs UDP_STATE_WORDS words");
    return false;
  }
  return true;
}

// udpGsoProbe(fd, state): the kernel knows UDP_SEGMENT on this socket (Linux 4.18+), else GSO stays
// off for good. Whether a route's device can segment shows only when a run is sent.
Napi::Value UdpGsoProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  int32_t* state;
  if (!ArgInt(info, 0, &fd) || !ArgState(info, 1, &state)) return env.Undefined();
  int segment = 0;
  socklen_t len = sizeof segment;
  const int err = getsockopt(static_cast<int>(fd), SOL_UDP, UDP_SEGMENT, &segment, &len) < 0 ? errno : 0;
  std::memset(state, 0, kUdpStateWords * sizeof *state);
  state[kGso] = err == 0 ? 1 : 0;
  state[kOffErrno] = err;
  return Napi::Number::New(env, err);
}

int32_t Since(uint32_t now, int32_t at) {
  return static_cast<int32_t>(now - static_cast<uint32_t>(at));
}

// EIO on a run: the route's device cannot segment UDP (no transmit checksum offload before Linux
// 6.11; an xfrm (IPsec) policy on the route; UDP-Lite). Off until a try after the back-off succeeds.
// The back-off doubles while refusals go on, also right after a try succeeded (a route that flaps,
// e.g. one peer of several behind IPsec), and starts again at 1 s once GSO has held for 64 s.
void RefusedAsUnsupported(int32_t* state) {
  const uint32_t now = MonotonicMs();
  const bool held = state[kGso] == 1 && Since(now, state[kAt]) > kMaxBackoffMs;
  state[kBackoffMs] = state[kBackoffMs] == 0 || held ? kFirstBackoffMs : std::min(state[kBackoffMs] * 2, kMaxBackoffMs);
  state[kAt] = static_cast<int32_t>(now + static_cast<uint32_t>(state[kBackoffMs]));
  state[kOffErrno] = EIO;
  if (state[kGso] == 1) state[kChanges]++;
  state[kGso] = 0;
}

// EMSGSIZE (EINVAL before Linux 6.14 and its stable backports) on a run: one segment plus headers is
// above the route's MTU (udp_send_skb), or the run is above UDP_MAX_SEGMENTS. Its datagrams go alone.
bool TooLargeForRoute(int err) {
  return err == EMSGSIZE || err == EINVAL;
}

void FillMessage(const SendRun& run, int64_t family, int64_t port, const uint32_t* addrs, iovec* iovs, mmsghdr* msg,
                 sockaddr_in6* name, char (*control)[CMSG_SPACE(sizeof(uint16_t))]) {
  std::memset(msg, 0, sizeof *msg);
  std::memset(name, 0, sizeof *name);
  const uint32_t* a = addrs + static_cast<size_t>(run.first) * 4;
  if (family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(name);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    sin->sin_addr.s_addr = htonl(a[0]);
    msg->msg_hdr.msg_namelen = sizeof(sockaddr_in);
  } else {
    name->sin6_family = AF_INET6;
    name->sin6_port = htons(static_cast<uint16_t>(port));
    uint32_t words[4] = {htonl(a[0]), htonl(a[1]), htonl(a[2]), htonl(a[3])};
    std::memcpy(&name->sin6_addr, words, 16);
    msg->msg_hdr.msg_namelen = sizeof(sockaddr_in6);
  }
  msg->msg_hdr.msg_name = name;
  msg->msg_hdr.msg_iov = iovs + run.first;
  msg->msg_hdr.msg_iovlen = run.segments;
  if (run.segments > 1) {
    msg->msg_hdr.msg_control = *control;
    msg->msg_hdr.msg_controllen = sizeof *control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg->msg_hdr);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    const uint16_t segment = static_cast<uint16_t>(run.segmentSize);
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  }
}

// sendBatch's first argument: one socket (a number), or the sending sockets of a family (an
// Int32Array of 1..kMaxSendSockets fds) that inner flows are hashed over.
bool ArgSockets(const Napi::CallbackInfo& info, int32_t* one, const int32_t** fds, uint32_t* count) {
  if (info.Length() > 0 && info[0].IsNumber()) {
    int64_t fd;
    if (!ArgInt(info, 0, &fd)) return false;
    *one = static_cast<int32_t>(fd);
    *fds = one;
    *count = 1;
    return true;
  }
  int32_t* array;
  size_t length;
  if (!ArgInt32Array(info, 0, &array, &length)) return false;
  if (length < 1 || length > kMaxSendSockets) {
    ThrowRange(info.Env(), "sendBatch: 1 to 64 sending sockets");
    return false;
  }
  *fds = array;
  *count = static_cast<uint32_t>(length);
  return true;
}

Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t family, port, count;
  int32_t one;
  const int32_t* fds;
  uint32_t sockets;
  uint8_t* slab;
  size_t slabLength, offsetsLength, lengthsLength, addrsLength;
  int32_t *offsets, *lengths, *state, *tunnel = nullptr;
  size_t tunnelLength = 0;
  uint32_t* addrs;
  if (!ArgSockets(info, &one, &fds, &sockets) || !ArgInt(info, 1, &family) || !ArgBuffer(info, 2, &slab, &slabLength) ||
      !ArgInt32Array(info, 3, &offsets, &offsetsLength) || !ArgInt32Array(info, 4, &lengths, &lengthsLength) ||
      !ArgUint32Array(info, 5, &addrs, &addrsLength) || !ArgInt(info, 6, &port) || !ArgInt(info, 7, &count) ||
      !ArgState(info, 8, &state) ||
      (info.Length() > 9 && !info[9].IsUndefined() && !ArgInt32Array(info, 9, &tunnel, &tunnelLength)) ||
      !CheckSpans(env, slabLength, offsets, offsetsLength, lengths, lengthsLength, count)) {
    return env.Undefined();
  }
  if ((family != 4 && family != 6) || port < 1 || port > 65535 || addrsLength < static_cast<size_t>(count) * 4) {
    ThrowRange(env, "sendBatch: family 4 or 6, port 1..65535, 4 address words per datagram");
    return env.Undefined();
  }
  if (tunnel != nullptr && (tunnelLength < kTunnelStateWords || tunnel[kTunnelFamily] != family)) {
    ThrowRange(env, "sendBatch: tunnel state of TUNNEL_STATE_WORDS words, configured for this family");
    return env.Undefined();
  }
  // Arguments 10–12: the slots' whole-send words, the TUN read's area and the slots' size
  // (tunnel_gso_frame.h), when the read kept TSO packets whole.
  int32_t* wholeWords = nullptr;
  size_t wholeWordsLength = 0, areaLength = 0;
  uint8_t* area = nullptr;
  int64_t slotSize = 0;
  if (info.Length() > 10 && !info[10].IsUndefined()) {
    if (!ArgInt32Array(info, 10, &wholeWords, &wholeWordsLength) || !ArgBuffer(info, 11, &area, &areaLength) || !ArgInt(info, 12, &slotSize)) {
      return env.Undefined();
    }
    if (slotSize <= 0) {
      ThrowRange(env, "sendBatch: whole TSO sends need the slots' size");
      return env.Undefined();
    }
  }
  auto total = static_cast<uint32_t>(count);
  // Each datagram leaves from the socket its inner flow hashes to. The batch is regrouped by
  // socket, keeping the order within each (and so within each flow): below, datagram k is the
  // caller's order[k].
  uint8_t socketOf[kMaxBatch];
  uint32_t order[kMaxBatch];
  for (uint32_t i = 0; i < total; i++) {
    socketOf[i] = sockets == 1 ? 0 : static_cast<uint8_t>(FlowSocket(InnerFlowHash(slab + offsets[i], static_cast<size_t>(lengths[i])), sockets));
  }
  OrderBySocket(socketOf, total, order);
  // The datagrams as sent: the batch's, and the segments of whole TSO packets cut here (CutWholeLeft).
  constexpr uint32_t kMaxSend = kMaxBatch + kMaxWholeReads * (kMaxWholeSendSegments - 1);
  thread_local int32_t sendLengths[kMaxSend];
  thread_local uint32_t sendAddrs[kMaxSend * 4];
  thread_local uint8_t sendSocket[kMaxSend];
  thread_local mmsghdr msgs[kMaxSend];
  thread_local iovec iovs[kMaxSend];
  thread_local sockaddr_in6 names[kMaxSend];
  alignas(cmsghdr) thread_local char controls[kMaxSend][CMSG_SPACE(sizeof(uint16_t))];
  thread_local SendRun runs[kMaxSend];
  WholeSend wholes[kMaxWholeReads];
  const WholeSend* wholeOf[kMaxBatch] = {};
  uint32_t wholeCount = 0;
  for (uint32_t k = 0; k < total; k++) {
    const uint32_t i = order[k];
    iovs[k].iov_base = slab + offsets[i];
    iovs[k].iov_len = static_cast<size_t>(lengths[i]);
    sendLengths[k] = lengths[i];
    std::memcpy(sendAddrs + k * 4, addrs + static_cast<size_t>(i) * 4, 4 * sizeof *addrs);
    sendSocket[k] = socketOf[i];
    const size_t slot = static_cast<size_t>(offsets[i] / slotSize);
    if (wholeWords != nullptr && wholeCount < kMaxWholeReads && (slot + 1) * kWholeSendWords <= wholeWordsLength &&
        FindWholeSend(wholeWords + slot * kWholeSendWords, area, areaLength, slab + offsets[i], static_cast<uint32_t>(lengths[i]), offsets[i],
                      &wholes[wholeCount])) {
      wholeOf[k] = &wholes[wholeCount++];
    }
  }
  // Runs that fit a tunnel-GSO frame leave through the egress TAP, whole TSO packets as one frame
  // each; the rest go on below, whole TSO packets left over cut into their segments.
  uint32_t sent = 0;
  if (tunnel != nullptr && tunnel[kTunnelOn] == 1) {
    total = SendTunnelRuns(tunnel, static_cast<uint16_t>(port), iovs, sendLengths, sendAddrs, sendSocket, wholeOf, total, &sent);
  }
  if (wholeCount > 0) {
    uint32_t cut;
    total = CutWholeLeft(iovs, sendLengths, sendAddrs, sendSocket, wholeOf, total, kMaxSend, &cut);
    if (tunnel != nullptr) tunnel[kTunnelWholeCut] += static_cast<int32_t>(cut);
  }
  // Off after EIO: once the back-off has passed, this batch tries runs again.
  const bool trying = state[kGso] == 0 && state[kOffErrno] == EIO && Since(MonotonicMs(), state[kAt]) >= 0;
  bool gso = state[kGso] == 1 || trying;
  const auto plan = [&](uint32_t from, uint32_t singlesUntil) {
    const uint32_t m = PlanRuns(sendLengths, sendAddrs, sendSocket, static_cast<int>(family), from, total, gso, singlesUntil, runs);
    for (uint32_t k = 0; k < m; k++) FillMessage(runs[k], family, port, sendAddrs, iovs, &msgs[k], &names[k], &controls[k]);
    return m;
  };
  uint32_t messages = plan(0, 0);
  // One sendmmsg per socket's group of messages. sendmmsg stops at the first message that fails: a
  // refused run is planned again as single datagrams with the rest of the batch; any other failure
  // skips that one message.
  uint32_t next = 0;
  while (next < messages) {
    const uint8_t socket = sendSocket[runs[next].first];
    uint32_t end = next + 1;
    while (end < messages && sendSocket[runs[end].first] == socket) end++;
    const int n = sendmmsg(fds[socket], msgs + next, end - next, 0);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      const SendRun run = runs[next];
      if (run.segments > 1 && err == EIO) {
        RefusedAsUnsupported(state);
        state[kUnsupportedRuns]++;
        gso = false;
        messages = plan(run.first, 0);
        next = 0;
      } else if (run.segments > 1 && TooLargeForRoute(err)) {
        state[kTooLargeRuns]++;
        messages = plan(run.first, run.first + run.segments);
        next = 0;
      } else {
        next++;
      }
      continue;
    }
    for (uint32_t k = next; k < next + static_cast<uint32_t>(n); k++) {
      sent += runs[k].segments;
      if (runs[k].segments > 1) state[kGsoRuns]++;
    }
    if (trying && gso && state[kGso] == 0 && n > 0) {
      for (uint32_t k = next; k < next + static_cast<uint32_t>(n); k++) {
        if (runs[k].segments < 2) continue;
        state[kGso] = 1;  // a run went through: the route segments again
        state[kOffErrno] = 0;
        state[kAt] = static_cast<int32_t>(MonotonicMs());
        state[kChanges]++;
        break;
      }
    }
    next += static_cast<uint32_t>(n);
    if (next < messages && n == 0) next++;
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("udpOpenSender", Napi::Function::New(env, UdpOpenSender, "udpOpenSender"));
  exports.Set("localPort", Napi::Function::New(env, LocalPort, "localPort"));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatch, "recvBatch"));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch, "sendBatch"));
  exports.Set("udpGro", Napi::Function::New(env, UdpGro, "udpGro"));
  exports.Set("udpGsoProbe", Napi::Function::New(env, UdpGsoProbe, "udpGsoProbe"));
  InitTunnelGso(env, exports);
}

}  // namespace vxroute
