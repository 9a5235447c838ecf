// The pure parts of the underlay socket's batches (udp.cc): how datagrams group into sendmmsg
// messages, and what one recvmmsg result says. No syscalls and no N-API here, so that
// native/fuzz/udp_batch_fuzz.cc can drive them with any lengths and addresses.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vxroute {

// UDP_MAX_SEGMENTS of older kernels (newer ones allow 128): a run never has more segments.
constexpr uint32_t kMaxGsoSegments = 64;
// A run's payload stays below the 64 KiB of one UDP datagram, headers included.
constexpr uint64_t kMaxGsoBytes = 65000;

// One sendmmsg message: datagrams [first, first + segments), all to the address of `first`.
// segments > 1 is a UDP GSO run (udp(7) UDP_SEGMENT) cut by the kernel every segmentSize bytes.
struct SendRun {
  uint32_t first;
  uint32_t segments;
  uint32_t segmentSize;
};

// Plans the messages for datagrams [from, count) into runs[0 ..), returning how many. Without
// gso, or for a datagram before singlesUntil, each datagram is its own message. With gso, a run
// takes consecutive datagrams from one socket (socketOf) to one address (addrs: 4 words each, IPv4
// in word 0) of one length, the last of which may be shorter but not empty, within
// kMaxGsoSegments and kMaxGsoBytes. runs must hold count - from entries.
inline uint32_t PlanRuns(const int32_t* lengths, const uint32_t* addrs, const uint8_t* socketOf, int family,
                         uint32_t from, uint32_t count, bool gso, uint32_t singlesUntil, SendRun* runs) {
  const size_t addrBytes = family == 4 ? 4 : 16;
  uint32_t m = 0;
  for (uint32_t i = from; i < count; m++) {
    uint32_t j = i + 1;
    if (gso && i >= singlesUntil && lengths[i] > 0) {
      uint64_t total = static_cast<uint64_t>(lengths[i]);
      while (j < count && j - i < kMaxGsoSegments && lengths[j - 1] == lengths[i] && lengths[j] > 0 &&
             lengths[j] <= lengths[i] && total + static_cast<uint64_t>(lengths[j]) <= kMaxGsoBytes && socketOf[j] == socketOf[i] &&
             std::memcmp(addrs + static_cast<size_t>(i) * 4, addrs + static_cast<size_t>(j) * 4, addrBytes) == 0) {
        total += static_cast<uint64_t>(lengths[j]);
        j++;
      }
    }
    runs[m] = SendRun{i, j - i, static_cast<uint32_t>(lengths[i] > 0 ? lengths[i] : 0)};
    i = j;
  }
  return m;
}

// The order datagrams [0, count) are sent in: grouped by their socket, in batch order within a
// socket, so that one sendmmsg per socket moves its group and the datagrams of one flow (one
// socket) keep their order. order must hold count entries.
inline void OrderBySocket(const uint8_t* socketOf, uint32_t count, uint32_t* order) {
  uint32_t start[257] = {};
  for (uint32_t i = 0; i < count; i++) start[socketOf[i] + 1]++;
  for (uint32_t s = 0; s < 256; s++) start[s + 1] += start[s];
  for (uint32_t i = 0; i < count; i++) order[start[socketOf[i]]++] = i;
}

// A received datagram's length as the batch records it: -1 when it did not fit its buffer of
// `room` bytes (MSG_TRUNC) or the kernel's length is beyond that buffer.
inline int32_t ReceivedLength(uint32_t msgLen, int msgFlags, size_t room) {
  if ((msgFlags & MSG_TRUNC) != 0 || msgLen > room || msgLen > INT32_MAX) return -1;
  return static_cast<int32_t>(msgLen);
}

// The source of a received datagram as four host-order words (IPv4 in word 0, the rest 0), read
// from the `nameLen` bytes the kernel wrote into `name` (a buffer of `capacity` bytes). A name too
// short for its family, or of another family, gives zeros: no peer has that address.
inline void SourceWords(const void* name, size_t nameLen, size_t capacity, uint32_t out[4]) {
  out[0] = out[1] = out[2] = out[3] = 0;
  const size_t len = nameLen < capacity ? nameLen : capacity;
  sa_family_t family;
  if (len < sizeof family) return;
  std::memcpy(&family, name, sizeof family);
  if (family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in sin;
    std::memcpy(&sin, name, sizeof sin);
    out[0] = ntohl(sin.sin_addr.s_addr);
  } else if (family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, name, sizeof sin6);
    uint32_t words[4];
    std::memcpy(words, &sin6.sin6_addr, sizeof words);
    for (int w = 0; w < 4; w++) out[w] = ntohl(words[w]);
  }
}

}  // namespace vxroute
