// The tunnel-GSO send of tunnel_gso_send.h, and the calls that set it up: the TAP's 24-byte vnet
// header, the state words, and the start-time probe write.
#include "tunnel_gso_send.h"

#include "addon.h"
#include "big_endian.h"
#include "tunnel_gso_frame.h"
#include "udp_batch.h"

#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace vxroute {

namespace {

// The outer IPv4 ID: each frame's segments take consecutive ones from it (inet_gso_segment).
thread_local uint16_t ipId = 0;

// The outer headers of a frame or datagram to the peer at `peerWords` (host-order words), from
// the socket `sourceSocket`'s port; `peer` is the storage the result points into.
TunnelOuter OuterFor(const int32_t* state, uint16_t port, uint8_t sourceSocket, const uint32_t* peerWords, uint8_t (&peer)[16]) {
  for (int w = 0; w < 4; w++) PutBe32(peer + 4 * w, peerWords[w]);
  return TunnelOuter{reinterpret_cast<const uint8_t*>(state + kTunnelMac), reinterpret_cast<const uint8_t*>(state + kTunnelLocal),
                     peer, state[kTunnelFamily] == 6, static_cast<uint16_t>(state[kTunnelPorts + sourceSocket]), port, ipId};
}

// Writes parts[0, n) to the TAP as one frame that stands for `packets` outer packets (the IPv4 IDs
// the kernel's segmentation gives them are taken); 0 or the errno (EIO: written short).
int WriteToTap(const int32_t* state, const TunnelOuter& outer, const iovec* parts, int n, uint32_t packets) {
  size_t total = 0;
  for (int k = 0; k < n; k++) total += parts[k].iov_len;
  ssize_t w;
  do {
    w = writev(state[kTunnelTapFd], parts, n);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return errno;
  if (static_cast<size_t>(w) != total) return EIO;
  if (!outer.ipv6) ipId = static_cast<uint16_t>(ipId + packets);
  return 0;
}

// Writes one frame for datagrams [first, first + n) of the send order; 0 or the write's errno.
int WriteFrame(const int32_t* state, const TunnelRun& run, uint16_t port, uint8_t sourceSocket, const uint32_t* peerWords,
               const iovec* iovs, uint32_t first, uint32_t n) {
  uint8_t peer[16];
  const TunnelOuter outer = OuterFor(state, port, sourceSocket, peerWords, peer);
  uint8_t block[kMaxTunnelHeaderBytes];
  iovec parts[kMaxGsoSegments + 1];
  parts[0] = {block, WriteTunnelHeaders(run, static_cast<const uint8_t*>(iovs[first].iov_base), outer, block)};
  for (uint32_t k = 0; k < n; k++) {
    parts[k + 1] = {static_cast<uint8_t*>(iovs[first + k].iov_base) + run.headers, iovs[first + k].iov_len - run.headers};
  }
  return WriteToTap(state, outer, parts, static_cast<int>(n + 1), n);
}

// Writes one datagram through the TAP as it is (WriteSingleHeaders); 0 or the errno.
int WriteSingle(const int32_t* state, uint16_t port, uint8_t sourceSocket, const uint32_t* peerWords, const iovec& datagram) {
  uint8_t peer[16];
  const TunnelOuter outer = OuterFor(state, port, sourceSocket, peerWords, peer);
  uint8_t block[kMaxTunnelHeaderBytes];
  const iovec parts[2] = {
      {block, WriteSingleHeaders(static_cast<const uint8_t*>(datagram.iov_base), static_cast<uint32_t>(datagram.iov_len), outer, block)},
      datagram};
  return WriteToTap(state, outer, parts, 2, 1);
}

// Writes the frame of the whole TSO packet whose first segment is `datagram`; 0 or the errno.
int WriteWholeFrame(const int32_t* state, const TunnelRun& run, const WholeSend& whole, uint16_t port, uint8_t sourceSocket,
                    const uint32_t* peerWords, const iovec& datagram) {
  uint8_t peer[16];
  const TunnelOuter outer = OuterFor(state, port, sourceSocket, peerWords, peer);
  uint8_t block[kMaxTunnelHeaderBytes];
  const iovec parts[2] = {{block, WriteTunnelHeaders(run, static_cast<const uint8_t*>(datagram.iov_base), outer, block)},
                          {const_cast<uint8_t*>(whole.ip) + whole.hdrLen, whole.length - whole.hdrLen}};
  return WriteToTap(state, outer, parts, 2, whole.segments);
}

}  // namespace

uint32_t SendTunnelRuns(int32_t* state, uint16_t port, iovec* iovs, int32_t* lengths, uint32_t* addrs, uint8_t* socketOf,
                        const WholeSend** wholeOf, uint32_t count, uint32_t* written) {
  *written = 0;
  const int family = state[kTunnelFamily];
  const auto maxDatagram = static_cast<uint32_t>(state[kTunnelMaxDatagram]);
  const auto ports = static_cast<uint32_t>(state[kTunnelPortCount]);
  SendRun runs[kMaxBatch];
  bool inFrame[kMaxBatch] = {};
  bool heldBack[256] = {};  // per socket: an earlier run of it was left to sendmmsg
  uint32_t lastWhole[256] = {};  // per socket: 1 + the send-order index of its last whole TSO packet
  for (uint32_t k = 0; k < count; k++) {
    if (wholeOf[k] != nullptr) lastWhole[socketOf[k]] = k + 1;
  }
  uint8_t* d[kMaxGsoSegments];
  uint32_t lens[kMaxGsoSegments];
  // A lone datagram, or one that cannot lead a frame, ahead of a whole TSO packet of its socket
  // goes through the TAP as it is, so that the whole packet need not be cut to stay behind it.
  // Others keep sendmmsg's batching (one syscall for many small datagrams).
  const auto aloneThroughTap = [&](uint32_t at) {
    const uint8_t socket = socketOf[at];
    if (at + 1 >= lastWhole[socket] || heldBack[socket] || socket >= ports) return false;
    const int err = WriteSingle(state, port, socket, addrs + static_cast<size_t>(at) * 4, iovs[at]);
    if (err != 0) {
      state[kTunnelFallbacks]++;
      state[kTunnelLastErrno] = err;
      return false;
    }
    state[kTunnelSingles]++;
    *written += 1;
    inFrame[at] = true;
    return true;
  };
  uint32_t from = 0;
  while (from < count) {
    // A whole TSO packet's first segment goes alone: one frame of the whole packet, or the cut.
    if (wholeOf[from] != nullptr) {
      const uint8_t socket = socketOf[from];
      const WholeSend& whole = *wholeOf[from];
      TunnelRun plan;
      int err = -1;
      if (!heldBack[socket] && socket < ports) {
        if (!PlanWholeFrame(whole, static_cast<uint8_t*>(iovs[from].iov_base), static_cast<uint32_t>(lengths[from]), maxDatagram, family == 6, &plan)) {
          state[kTunnelUnfit]++;
        } else {
          err = WriteWholeFrame(state, plan, whole, port, socket, addrs + static_cast<size_t>(from) * 4, iovs[from]);
          if (err != 0) {
            state[kTunnelFallbacks]++;
            state[kTunnelLastErrno] = err;
          }
        }
      }
      if (err == 0) {
        state[kTunnelFrames]++;
        state[kTunnelSegments] += static_cast<int32_t>(whole.segments);
        state[kTunnelWholeFrames]++;
        *written += whole.segments;
        inFrame[from] = true;
      } else {
        heldBack[socket] = true;
      }
      from++;
      continue;
    }
    uint32_t to = from + 1;
    while (to < count && wholeOf[to] == nullptr) to++;
    const uint32_t m = PlanRuns(lengths, addrs, socketOf, family, from, to, true, 0, runs);
    for (uint32_t r = 0; r < m; r++) {
      const SendRun& run = runs[r];
      const uint8_t socket = socketOf[run.first];
      uint32_t at = run.first;
      const uint32_t end = run.first + run.segments;
      // A run becomes frames of the longest prefixes that fit, until fewer than 2 datagrams are left.
      while (!heldBack[socket] && socket < ports && end - at >= 2) {
        for (uint32_t k = 0; k < end - at; k++) {
          d[k] = static_cast<uint8_t*>(iovs[at + k].iov_base);
          lens[k] = static_cast<uint32_t>(lengths[at + k]);
        }
        TunnelRun plan;
        const uint32_t taken = PlanTunnelRun(d, lens, end - at, maxDatagram, family == 6, &plan);
        if (taken == 0) {
          if (aloneThroughTap(at)) {
            at++;
            continue;
          }
          state[kTunnelUnfit]++;
          break;
        }
        const int err = WriteFrame(state, plan, port, socket, addrs + static_cast<size_t>(at) * 4, iovs, at, taken);
        if (err != 0) {
          state[kTunnelFallbacks]++;
          state[kTunnelLastErrno] = err;
          break;
        }
        state[kTunnelFrames]++;
        state[kTunnelSegments] += static_cast<int32_t>(taken);
        *written += taken;
        for (uint32_t k = at; k < at + taken; k++) inFrame[k] = true;
        at += taken;
      }
      if (end - at == 1 && aloneThroughTap(at)) at++;
      if (at < end) heldBack[socket] = true;  // what is left goes to sendmmsg, after the frames: so does the rest of its socket's
    }
    from = to;
  }
  if (*written == 0) return count;
  uint32_t left = 0;
  for (uint32_t k = 0; k < count; k++) {
    if (inFrame[k]) continue;
    iovs[left] = iovs[k];
    lengths[left] = lengths[k];
    std::memmove(addrs + static_cast<size_t>(left) * 4, addrs + static_cast<size_t>(k) * 4, 4 * sizeof *addrs);
    socketOf[left] = socketOf[k];
    wholeOf[left] = wholeOf[k];
    left++;
  }
  return left;
}

uint32_t CutWholeLeft(iovec* iovs, int32_t* lengths, uint32_t* addrs, uint8_t* socketOf, const WholeSend* const* wholeOf, uint32_t count,
                      uint32_t capacity, uint32_t* cut) {
  *cut = 0;
  uint32_t extra = 0;
  for (uint32_t k = 0; k < count; k++) {
    if (wholeOf[k] != nullptr) extra += wholeOf[k]->segments - 1;
  }
  if (extra == 0) return count;
  // Datagrams move toward the end, from the last: each lands at or after where it was read.
  thread_local uint8_t cutArea[kMaxWholeReads][kWholeCutBytes];
  uint32_t wholes = 0;
  for (uint32_t k = 0; k < count; k++) wholes += wholeOf[k] != nullptr ? 1 : 0;
  uint32_t out = count + extra;
  if (wholes > kMaxWholeReads || out > capacity) return 0;  // words no read could have written
  uint32_t w = wholes;
  for (uint32_t k = count; k-- > 0;) {
    if (wholeOf[k] == nullptr) {
      out--;
      iovs[out] = iovs[k];
      lengths[out] = lengths[k];
      std::memmove(addrs + static_cast<size_t>(out) * 4, addrs + static_cast<size_t>(k) * 4, 4 * sizeof *addrs);
      socketOf[out] = socketOf[k];
      continue;
    }
    const WholeSend& whole = *wholeOf[k];
    const uint8_t* datagram = static_cast<const uint8_t*>(iovs[k].iov_base);
    uint32_t a[4];
    std::memcpy(a, addrs + static_cast<size_t>(k) * 4, sizeof a);
    const uint8_t socket = socketOf[k];
    uint8_t* area = cutArea[--w];
    out -= whole.segments;
    size_t used = 0;
    for (uint32_t i = 0; i < whole.segments; i++) {
      const uint32_t len = CutWholeSend(whole, datagram, i, area + used);
      iovs[out + i] = {area + used, len};
      lengths[out + i] = static_cast<int32_t>(len);
      std::memcpy(addrs + static_cast<size_t>(out + i) * 4, a, sizeof a);
      socketOf[out + i] = socket;
      used += len;
    }
    ++*cut;
  }
  return count + extra;
}

namespace {

bool ArgTunnelState(const Napi::CallbackInfo& info, size_t i, int32_t** state) {
  size_t length;
  if (!ArgInt32Array(info, i, state, &length)) return false;
  if (length < kTunnelStateWords) {
    ThrowRange(info.Env(), "tunnel-GSO state needs TUNNEL_STATE_WORDS words");
    return false;
  }
  return true;
}

#ifndef TUNSETVNETHDRSZ
#define TUNSETVNETHDRSZ _IOW('T', 216, int)
#endif

// tapTunnelVnetHdr(fd): asks a TAP queue for the 24-byte vnet header, the size at which the kernel
// takes tunnel GSO on writes (tun_vnet_hdr_guest_features, Linux 6.16). Returns 0 or the errno.
// Older kernels accept the size too: the probe write tells them apart.
Napi::Value TapTunnelVnetHdr(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  int size = static_cast<int>(sizeof(VirtioNetHdrTunnel));
  const int err = ioctl(static_cast<int>(fd), TUNSETVNETHDRSZ, &size) < 0 ? errno : 0;
  return Napi::Number::New(info.Env(), err);
}

// tunnelGsoConfigure(state, family, tapFd, tapMac, localAddr, ports, maxDatagram): fills the state
// words, off (the caller turns it on once the probe passed).
Napi::Value TunnelGsoConfigure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t *state, *ports;
  size_t portsLength;
  int64_t family, tapFd, maxDatagram;
  if (!ArgTunnelState(info, 0, &state) || !ArgInt(info, 1, &family) || !ArgInt(info, 2, &tapFd) || info.Length() < 5 ||
      !info[3].IsString() || !info[4].IsString() || !ArgInt32Array(info, 5, &ports, &portsLength) || !ArgInt(info, 6, &maxDatagram)) {
    if (!env.IsExceptionPending()) ThrowType(env, "tunnelGsoConfigure(state, family, tapFd, tapMac, localAddr, ports, maxDatagram)");
    return env.Undefined();
  }
  if ((family != 4 && family != 6) || portsLength < 1 || portsLength > 64 || maxDatagram < 1 || maxDatagram > 65535) {
    ThrowRange(env, "tunnelGsoConfigure: family 4 or 6, 1..64 ports, maxDatagram 1..65535");
    return env.Undefined();
  }
  std::memset(state, 0, kTunnelStateWords * sizeof *state);
  uint8_t mac[8] = {};
  const std::string macText = info[3].As<Napi::String>().Utf8Value();
  if (std::sscanf(macText.c_str(), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
    ThrowType(env, "tunnelGsoConfigure: tapMac is not a MAC address");
    return env.Undefined();
  }
  const std::string local = info[4].As<Napi::String>().Utf8Value();
  uint8_t addr[16] = {};
  if (inet_pton(family == 4 ? AF_INET : AF_INET6, local.c_str(), addr) != 1) {
    ThrowType(env, "tunnelGsoConfigure: localAddr is not an address of that family");
    return env.Undefined();
  }
  for (size_t k = 0; k < portsLength; k++) {
    if (ports[k] < 1 || ports[k] > 65535) {
      ThrowRange(env, "tunnelGsoConfigure: ports 1..65535");
      return env.Undefined();
    }
    state[kTunnelPorts + k] = ports[k];
  }
  std::memcpy(state + kTunnelMac, mac, sizeof mac);
  std::memcpy(state + kTunnelLocal, addr, sizeof addr);
  state[kTunnelTapFd] = static_cast<int32_t>(tapFd);
  state[kTunnelFamily] = static_cast<int32_t>(family);
  state[kTunnelMaxDatagram] = static_cast<int32_t>(maxDatagram);
  state[kTunnelPortCount] = static_cast<int32_t>(portsLength);
  return env.Undefined();
}

// A VXLAN datagram of the probe: inner IPv4 TCP segment k of two, 64 bytes of payload each.
uint32_t ProbeDatagram(uint32_t k, uint8_t* d) {
  constexpr uint32_t kPayload = 64;
  const uint32_t len = kVxlanBytes + 14 + 20 + 20 + kPayload;
  std::memset(d, 0, len);
  d[0] = 0x08;  // RFC 7348 §5: the I flag
  uint8_t* eth = d + kVxlanBytes;
  eth[0] = 0x02;
  eth[6] = 0x02;
  PutBe16(eth + 12, 0x0800);
  uint8_t* ip = eth + 14;
  ip[0] = 0x45;
  PutBe16(ip + 2, 40 + kPayload);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  ip[12] = 10;   // 10.0.0.1 → 10.0.0.2: never routed; the frame is dropped before routing
  ip[15] = 1;
  ip[16] = 10;
  ip[19] = 2;
  uint8_t* tcp = ip + 20;
  PutBe16(tcp, 1);
  PutBe16(tcp + 2, 2);
  PutBe32(tcp + 4, k * kPayload);
  tcp[12] = 5 << 4;
  tcp[13] = 0x10;  // ACK
  PutBe16(tcp + 14, 1024);
  return len;
}

// tunnelGsoProbe(state): writes one tunnel-GSO frame of two segments, made by the send's own code,
// to the TAP (which must be up), addressed to a MAC that is not the TAP's so that the kernel drops
// it right after taking it (PACKET_OTHERHOST). Returns 0 when the write was taken, else its errno:
// EINVAL from a kernel without tunnel GSO on TAP writes (before 6.16).
Napi::Value TunnelGsoProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* state;
  if (!ArgTunnelState(info, 0, &state)) return env.Undefined();
  uint8_t a[128], b[128];
  uint8_t* d[2] = {a, b};
  uint32_t lens[2] = {ProbeDatagram(0, a), ProbeDatagram(1, b)};
  TunnelRun run;
  if (!PlanTunnelRun(d, lens, 2, 65535, state[kTunnelFamily] == 6, &run)) return Napi::Number::New(env, EINVAL);
  uint8_t mac[8];
  std::memcpy(mac, state + kTunnelMac, sizeof mac);
  mac[5] ^= 2;
  TunnelOuter outer{mac, reinterpret_cast<const uint8_t*>(state + kTunnelLocal), reinterpret_cast<const uint8_t*>(state + kTunnelLocal),
                    state[kTunnelFamily] == 6, 9, 9, 0};
  uint8_t block[kMaxTunnelHeaderBytes];
  iovec parts[3] = {{block, WriteTunnelHeaders(run, a, outer, block)}, {a + run.headers, lens[0] - run.headers}, {b + run.headers, lens[1] - run.headers}};
  const ssize_t w = writev(state[kTunnelTapFd], parts, 3);
  return Napi::Number::New(env, w < 0 ? errno : 0);
}

}  // namespace

void InitTunnelGso(Napi::Env env, Napi::Object exports) {
  exports.Set("tapTunnelVnetHdr", Napi::Function::New(env, TapTunnelVnetHdr, "tapTunnelVnetHdr"));
  exports.Set("tunnelGsoConfigure", Napi::Function::New(env, TunnelGsoConfigure, "tunnelGsoConfigure"));
  exports.Set("tunnelGsoProbe", Napi::Function::New(env, TunnelGsoProbe, "tunnelGsoProbe"));
}

}  // namespace vxroute
