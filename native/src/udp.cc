// The underlay socket: one UDP socket per shard, all bound to the same port with SO_REUSEPORT
// so the kernel spreads peers' flows over shards, moved in batches with recvmmsg/sendmmsg.
#include "addon.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace vxroute {

namespace {

constexpr int kSocketBuffer = 4 << 20;

void SetBuffer(int fd, int force, int plain) {
  // The FORCE variants pass rmem_max/wmem_max when we have CAP_NET_ADMIN; otherwise best effort.
  if (setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) < 0) {
    setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
  }
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
  std::string addr = info[1].As<Napi::String>().Utf8Value();
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof ss);
  socklen_t sslen;
  if (family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &sin->sin_addr) != 1) {
      ThrowType(env, "udpOpen: bindAddr is not an IPv4 address");
      return env.Undefined();
    }
    sslen = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, addr.c_str(), &sin6->sin6_addr) != 1) {
      ThrowType(env, "udpOpen: bindAddr is not an IPv6 address");
      return env.Undefined();
    }
    sslen = sizeof(sockaddr_in6);
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", errno);
    return env.Undefined();
  }
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0 ||
      (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0)) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "setsockopt", err);
    return env.Undefined();
  }
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sslen) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "bind", err, err == EADDRINUSE ? "another process holds this UDP port without SO_REUSEPORT" : nullptr);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
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

Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slotSize, offset, count;
  uint8_t* slab;
  size_t slabLength, sizesLength, addrsLength;
  int32_t* sizes;
  uint32_t* addrs;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &slab, &slabLength) || !ArgInt(info, 2, &slotSize) ||
      !ArgInt(info, 3, &offset) || !ArgInt(info, 4, &count) || !ArgInt32Array(info, 5, &sizes, &sizesLength) ||
      !ArgUint32Array(info, 6, &addrs, &addrsLength) ||
      !CheckSlots(env, slabLength, slotSize, offset, count, sizesLength)) {
    return env.Undefined();
  }
  if (addrsLength < static_cast<size_t>(count) * 4) {
    ThrowRange(env, "recvBatch: addrs needs 4 words per datagram");
    return env.Undefined();
  }
  if (count == 0) return Napi::Number::New(env, 0);
  mmsghdr msgs[kMaxBatch];
  iovec iovs[kMaxBatch];
  sockaddr_in6 names[kMaxBatch];
  for (int64_t i = 0; i < count; i++) {
    iovs[i].iov_base = slab + i * slotSize + offset;
    iovs[i].iov_len = static_cast<size_t>(slotSize - offset);
    std::memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &names[i];
    msgs[i].msg_hdr.msg_namelen = sizeof names[i];
  }
  int n;
  do {
    n = recvmmsg(static_cast<int>(fd), msgs, static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return Napi::Number::New(env, 0);
    ThrowErrno(env, "recvmmsg", errno);
    return env.Undefined();
  }
  for (int i = 0; i < n; i++) {
    sizes[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : static_cast<int32_t>(msgs[i].msg_len);
    uint32_t* a = addrs + i * 4;
    if (names[i].sin6_family == AF_INET6) {
      uint32_t words[4];
      std::memcpy(words, &names[i].sin6_addr, 16);
      for (int w = 0; w < 4; w++) a[w] = ntohl(words[w]);
    } else {
      a[0] = ntohl(reinterpret_cast<sockaddr_in*>(&names[i])->sin_addr.s_addr);
      a[1] = a[2] = a[3] = 0;
    }
  }
  return Napi::Number::New(env, n);
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h, Linux 4.18
#endif
constexpr int64_t kMaxGsoSegments = 64;   // UDP_MAX_SEGMENTS of older kernels
constexpr size_t kMaxGsoBytes = 65000;    // below the 64 KiB of a UDP datagram, headers included
std::atomic<bool> gsoUsable{true};        // until a route refuses UDP GSO once

Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, family, port, count;
  uint8_t* slab;
  size_t slabLength, offsetsLength, lengthsLength, addrsLength;
  int32_t *offsets, *lengths;
  uint32_t* addrs;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &family) || !ArgBuffer(info, 2, &slab, &slabLength) ||
      !ArgInt32Array(info, 3, &offsets, &offsetsLength) || !ArgInt32Array(info, 4, &lengths, &lengthsLength) ||
      !ArgUint32Array(info, 5, &addrs, &addrsLength) || !ArgInt(info, 6, &port) || !ArgInt(info, 7, &count) ||
      !CheckSpans(env, slabLength, offsets, offsetsLength, lengths, lengthsLength, count)) {
    return env.Undefined();
  }
  if ((family != 4 && family != 6) || port < 1 || port > 65535 || addrsLength < static_cast<size_t>(count) * 4) {
    ThrowRange(env, "sendBatch: family 4 or 6, port 1..65535, 4 address words per datagram");
    return env.Undefined();
  }
  mmsghdr msgs[kMaxBatch];
  iovec iovs[kMaxBatch];
  sockaddr_in6 names[kMaxBatch];
  alignas(cmsghdr) char controls[kMaxBatch][CMSG_SPACE(sizeof(uint16_t))];
  int64_t firstOf[kMaxBatch], sizeOf[kMaxBatch];  // each message's first datagram and how many it carries
  for (int64_t i = 0; i < count; i++) {
    iovs[i].iov_base = slab + offsets[i];
    iovs[i].iov_len = static_cast<size_t>(lengths[i]);
  }
  const auto sameDestination = [&](int64_t i, int64_t j) {
    return std::memcmp(addrs + i * 4, addrs + j * 4, family == 4 ? 4 : 16) == 0;
  };
  // One message per datagram, or, with UDP GSO, per run of datagrams to one peer of one length
  // (the last may be shorter): their iovecs are consecutive, the kernel cuts at the segment size.
  const auto plan = [&](int64_t from, bool gso) {
    int64_t m = 0;
    for (int64_t i = from; i < count; m++) {
      int64_t j = i + 1;
      if (gso) {
        size_t total = static_cast<size_t>(lengths[i]);
        while (j < count && j - i < kMaxGsoSegments && lengths[j - 1] == lengths[i] && lengths[j] > 0 && lengths[j] <= lengths[i] &&
               sameDestination(i, j) && total + static_cast<size_t>(lengths[j]) <= kMaxGsoBytes) {
          total += static_cast<size_t>(lengths[j]);
          j++;
        }
      }
      mmsghdr& msg = msgs[m];
      std::memset(&msg, 0, sizeof msg);
      std::memset(&names[m], 0, sizeof names[m]);
      const uint32_t* a = addrs + i * 4;
      if (family == 4) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&names[m]);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(static_cast<uint16_t>(port));
        sin->sin_addr.s_addr = htonl(a[0]);
        msg.msg_hdr.msg_namelen = sizeof(sockaddr_in);
      } else {
        names[m].sin6_family = AF_INET6;
        names[m].sin6_port = htons(static_cast<uint16_t>(port));
        uint32_t words[4] = {htonl(a[0]), htonl(a[1]), htonl(a[2]), htonl(a[3])};
        std::memcpy(&names[m].sin6_addr, words, 16);
        msg.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
      }
      msg.msg_hdr.msg_name = &names[m];
      msg.msg_hdr.msg_iov = &iovs[i];
      msg.msg_hdr.msg_iovlen = static_cast<size_t>(j - i);
      if (j - i > 1) {
        msg.msg_hdr.msg_control = controls[m];
        msg.msg_hdr.msg_controllen = sizeof controls[m];
        cmsghdr* c = CMSG_FIRSTHDR(&msg.msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        const uint16_t segment = static_cast<uint16_t>(lengths[i]);
        std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
      }
      firstOf[m] = i;
      sizeOf[m] = j - i;
      i = j;
    }
    return m;
  };
  int64_t messages = plan(0, gsoUsable.load(std::memory_order_relaxed));
  // sendmmsg stops at the first message that fails; skip that one and carry on with the rest.
  int64_t sent = 0, next = 0;
  while (next < messages) {
    int n = sendmmsg(static_cast<int>(fd), msgs + next, static_cast<unsigned>(messages - next), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (sizeOf[next] > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
        // No UDP GSO on this route (no checksum offload on its device, or an old kernel): plain sends from here on.
        gsoUsable.store(false, std::memory_order_relaxed);
        messages = plan(firstOf[next], false);
        next = 0;
        continue;
      }
      next++;
      continue;
    }
    for (int64_t k = next; k < next + n; k++) sent += sizeOf[k];
    next += n;
    if (next < messages && n == 0) next++;
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("localPort", Napi::Function::New(env, LocalPort, "localPort"));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatch, "recvBatch"));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch, "sendBatch"));
}

}  // namespace vxroute
