// libFuzzer harness for the pure parts of udp.cc (native/src/udp_batch.h, flow_hash.h): the order
// and plan of sendmmsg messages and UDP GSO runs over any lengths, addresses and sockets, the
// socket an inner flow picks, and the reading of recvmmsg results
// (lengths, flags and source names as the kernel might write them). Build by hand:
//   clang++ -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     native/fuzz/udp_batch_fuzz.cc -o udp_batch_fuzz && ./udp_batch_fuzz native/fuzz/corpus/udp_batch
// Input: byte 0 family (bit 0: IPv6) and gso (bit 1); byte 1 `from`; byte 2 `singlesUntil`;
// byte 3 count (up to 255); then per datagram 3 bytes: a big-endian 16-bit length (above 0x8000: negative),
// one of four addresses (bits 0-1) and one of four sockets (bits 2-3); what is left is recvmmsg results, 8 bytes each: msg_len (4), flags (1),
// name length (1), name family (1), a byte spread over the address.
#include <cstdlib>

#include "../src/flow_hash.h"
#include "../src/udp_batch.h"

namespace vxroute {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzPlan(const uint8_t*& p, const uint8_t* end) {
  if (end - p < 4) return;
  const int family = (p[0] & 1) ? 6 : 4;
  const bool gso = (p[0] & 2) != 0;
  const uint32_t count = p[3];
  const uint32_t from = count == 0 ? 0 : p[1] % (count + 1);
  const uint32_t singlesUntil = p[2];
  p += 4;
  int32_t lengths[256];
  uint32_t addrs[256 * 4];
  uint8_t socketOf[256];
  for (uint32_t i = 0; i < count; i++) {
    int32_t length = 0, which = 0, socket = 0;
    if (end - p >= 3) {
      const int raw = (p[0] << 8) | p[1];
      length = raw > 0x8000 ? 0x8000 - raw : raw;
      which = p[2] & 3;
      socket = (p[2] >> 2) & 3;
      p += 3;
    }
    lengths[i] = length;
    socketOf[i] = static_cast<uint8_t>(socket);
    const uint32_t words[4][4] = {{0xc0000201, 0, 0, 0}, {0xc0000202, 0, 0, 0}, {0xc0000201, 0, 0, 1}, {0x20010db8, 0, 0, 2}};
    std::memcpy(addrs + i * 4, words[which], sizeof words[which]);
  }
  // The send order groups datagrams by socket and keeps batch order within each.
  uint32_t order[256];
  OrderBySocket(socketOf, count, order);
  bool seen[256] = {};
  for (uint32_t k = 0; k < count; k++) {
    Check(order[k] < count && !seen[order[k]]);
    seen[order[k]] = true;
    if (k > 0) Check(socketOf[order[k - 1]] < socketOf[order[k]] || (socketOf[order[k - 1]] == socketOf[order[k]] && order[k - 1] < order[k]));
  }
  SendRun runs[256];
  const uint32_t m = PlanRuns(lengths, addrs, socketOf, family, from, count, gso, singlesUntil, runs);
  Check(m <= count - from);
  uint32_t next = from;
  for (uint32_t k = 0; k < m; k++) {
    const SendRun& r = runs[k];
    Check(r.first == next && r.segments >= 1 && r.segments <= kMaxGsoSegments && r.first + r.segments <= count);
    next = r.first + r.segments;
    if (r.segments == 1) continue;
    // A GSO run: asked for, past the singles, one address, full-size segments and a last one not longer.
    Check(gso && r.first >= singlesUntil && lengths[r.first] > 0 && r.segmentSize == static_cast<uint32_t>(lengths[r.first]));
    uint64_t total = 0;
    for (uint32_t i = r.first; i < next; i++) {
      Check(std::memcmp(addrs + i * 4, addrs + r.first * 4, family == 4 ? 4 : 16) == 0 && socketOf[i] == socketOf[r.first]);
      Check(lengths[i] > 0 && static_cast<uint32_t>(lengths[i]) <= r.segmentSize);
      if (i + 1 < next) Check(static_cast<uint32_t>(lengths[i]) == r.segmentSize);
      total += static_cast<uint64_t>(lengths[i]);
    }
    Check(total <= kMaxGsoBytes);
  }
  Check(next == count);
}

void FuzzReceived(const uint8_t* p, const uint8_t* end) {
  constexpr size_t kRoom = 1500;
  for (; end - p >= 8; p += 8) {
    uint32_t msgLen;
    std::memcpy(&msgLen, p, sizeof msgLen);
    const int flags = (p[4] & 1) ? MSG_TRUNC : 0;
    const int32_t length = ReceivedLength(msgLen, flags, kRoom);
    Check(length == -1 || (static_cast<uint32_t>(length) == msgLen && msgLen <= kRoom && flags == 0));
    // The name buffer as recvmmsg fills it: sockaddr_in6-sized, the kernel's length may claim more.
    sockaddr_in6 name;
    std::memset(&name, p[7], sizeof name);
    name.sin6_family = (p[6] & 1) ? AF_INET6 : (p[6] & 2) ? AF_INET : p[6];
    uint32_t words[4];
    SourceWords(&name, p[5], sizeof name, words);
    const size_t len = p[5] < sizeof name ? p[5] : sizeof name;
    const bool known = (name.sin6_family == AF_INET && len >= sizeof(sockaddr_in)) ||
                       (name.sin6_family == AF_INET6 && len >= sizeof(sockaddr_in6));
    if (!known) Check(words[0] == 0 && words[1] == 0 && words[2] == 0 && words[3] == 0);
    if (name.sin6_family == AF_INET && known) Check(words[1] == 0 && words[2] == 0 && words[3] == 0);
  }
}

}  // namespace
}  // namespace vxroute

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  // Any bytes as a VXLAN datagram: a hash, and a socket in range for every pool size.
  const uint32_t hash = vxroute::InnerFlowHash(data, size);
  for (uint32_t sockets = 1; sockets <= vxroute::kMaxSendSockets; sockets++) vxroute::Check(vxroute::FlowSocket(hash, sockets) < sockets);
  vxroute::FuzzPlan(p, end);
  vxroute::FuzzReceived(p, end);
  return 0;
}
