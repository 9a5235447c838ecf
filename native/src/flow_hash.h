// Which sending socket (and so which UDP source port) a VXLAN datagram leaves from: a hash of its
// inner flow. RFC 7348 §5 recommends a source port hashed from the inner packet so that the
// underlay's ECMP and the receiver's RSS / SO_REUSEPORT spread flows; the kernel's VXLAN does it
// with udp_flow_src_port (skb_get_hash of the inner frame scaled into the local port range). From
// userspace the source port is the sending socket's, so the hash picks one of a pool of sockets
// bound to ports the kernel chose in that range. Pure: native/fuzz/udp_batch_fuzz.cc drives it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "big_endian.h"

namespace vxroute {

// Most sending sockets per family: a socket index fits a byte.
constexpr uint32_t kMaxSendSockets = 64;

namespace flow_hash {

constexpr size_t kVxlanHeader = 8;  // RFC 7348 §5
constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;  // IEEE 802.1Q / 802.1ad
constexpr uint32_t kSeed = 0x9e3779b9;

inline uint32_t Rotl(uint32_t x, int r) {
  return (x << r) | (x >> (32 - r));
}

// One MurmurHash3 round over a 32-bit word.
inline uint32_t Mix(uint32_t h, uint32_t word) {
  word *= 0xcc9e2d51;
  word = Rotl(word, 15);
  word *= 0x1b873593;
  h ^= word;
  h = Rotl(h, 13);
  return h * 5 + 0xe6546b64;
}

// MurmurHash3's finalizer: every input bit reaches the high bits the scaling below keeps.
inline uint32_t Finish(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  return h ^ (h >> 16);
}

// Transports whose first 4 bytes are the source and destination ports.
inline bool HasPorts(uint8_t protocol) {
  return protocol == 6 || protocol == 17 || protocol == 33 || protocol == 132 || protocol == 136;  // TCP UDP DCCP SCTP UDP-Lite
}

// A transport's source and destination ports (the first 4 bytes at `l4`) as one word, the lower
// port first: both directions of a connection give the same word.
inline uint32_t OrderedPorts(const uint8_t* l4) {
  const uint16_t a = Be16(l4), b = Be16(l4 + 2);
  return a < b ? (static_cast<uint32_t>(a) << 16) | b : (static_cast<uint32_t>(b) << 16) | a;
}

// Mixes two `n`-byte addresses (n = 6 or 16) into h, `lo` then `hi`, as big-endian words.
inline uint32_t MixOrdered(uint32_t h, const uint8_t* lo, const uint8_t* hi, size_t n) {
  uint8_t both[32];
  std::memcpy(both, lo, n);
  std::memcpy(both + n, hi, n);
  for (size_t w = 0; w < 2 * n; w += 4) h = Mix(h, Be32(both + w));
  return h;
}

}  // namespace flow_hash

// The flow of the inner frame of a VXLAN datagram (`d`, `len` bytes from its VXLAN header): IPv4
// and IPv6 addresses, protocol and ports (no ports for a fragment, so that all fragments of a
// datagram stay together), behind at most two VLAN tags; any other frame by its MAC addresses and
// EtherType, as udp_flow_src_port falls back to. Every packet of one flow gets the same hash, and
// so do both directions of it: the lower address (port, MAC) is hashed first, as the kernel's
// __flow_hash_consistentify (net/core/flow_dissector.c) orders them before skb_get_hash.
inline uint32_t InnerFlowHash(const uint8_t* d, size_t len) {
  using namespace flow_hash;
  if (len < kVxlanHeader + kEthernetHeader) return 0;
  const uint8_t* frame = d + kVxlanHeader;
  const size_t frameLen = len - kVxlanHeader;
  size_t l3 = kEthernetHeader;
  uint16_t type = Be16(frame + 12);
  for (int tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8) && l3 + kVlanTag <= frameLen; tags++) {
    type = Be16(frame + l3 + 2);
    l3 += kVlanTag;
  }
  const uint8_t* ip = frame + l3;
  const size_t ipLen = frameLen - l3;
  uint32_t h = kSeed;
  if (type == 0x0800 && ipLen >= 20 && (ip[0] >> 4) == 4) {
    const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
    const uint8_t protocol = ip[9];
    const uint32_t src = Be32(ip + 12), dst = Be32(ip + 16);
    h = Mix(Mix(Mix(h, std::min(src, dst)), std::max(src, dst)), protocol);
    const bool fragment = (Be16(ip + 6) & 0x3fff) != 0;  // MF or an offset: RFC 791 §3.1
    if (!fragment && ihl >= 20 && HasPorts(protocol) && ihl + 4 <= ipLen) h = Mix(h, OrderedPorts(ip + ihl));
    return Finish(h);
  }
  if (type == 0x86dd && ipLen >= 40 && (ip[0] >> 4) == 6) {
    const uint8_t next = ip[6];
    const bool swap = std::memcmp(ip + 8, ip + 24, 16) > 0;
    h = MixOrdered(h, ip + (swap ? 24 : 8), ip + (swap ? 8 : 24), 16);
    h = Mix(h, next);
    if (HasPorts(next) && 44 <= ipLen) h = Mix(h, OrderedPorts(ip + 40));
    return Finish(h);
  }
  const bool swap = std::memcmp(frame, frame + 6, 6) > 0;  // destination MAC, then source
  h = MixOrdered(h, frame + (swap ? 6 : 0), frame + (swap ? 0 : 6), 6);
  return Finish(Mix(h, type));
}

// The socket of `sockets` a flow hash leaves from: the hash scaled, as reciprocal_scale does.
inline uint32_t FlowSocket(uint32_t hash, uint32_t sockets) {
  return static_cast<uint32_t>((static_cast<uint64_t>(hash) * sockets) >> 32);
}

}  // namespace vxroute
