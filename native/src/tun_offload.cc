// virtio_net_hdr on a TUN opened with IFF_VNET_HDR (include/uapi/linux/virtio_net.h): reads
// strip it, plain writes prepend a zero one, and coalescing writes turn a run of consecutive TCP
// segments (or same-size UDP datagrams) of one flow into one GSO super-packet (GSO_TCPV4/TCPV6,
// GSO_UDP_L4, with NEEDS_CSUM), so that the kernel's receive path handles one packet where it
// would have handled up to 64 — GRO done before the TUN, as wireguard-go's tun/offload_linux.go does.
#include "tun_offload.h"

#include "addon.h"

#include <netinet/in.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vxroute {

namespace {

// struct virtio_net_hdr of include/uapi/linux/virtio_net.h (whose C++-hostile `class` member
// keeps the header itself out of C++): 10 bytes, fields in host order for a legacy TUN.
struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VirtioNetHdr) == 10, "VirtioNetHdr is 10 bytes");
constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
constexpr uint8_t kGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
constexpr uint8_t kGsoTcpV6 = 4;   // VIRTIO_NET_HDR_GSO_TCPV6
constexpr uint8_t kGsoUdpL4 = 5;   // VIRTIO_NET_HDR_GSO_UDP_L4 (Linux 6.2)

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpCwr = 0x80;
constexpr uint32_t kMaxSegments = 64;
constexpr uint32_t kMaxIpLength = 65535;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Be32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
void PutBe16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutBe32(uint8_t* p, uint32_t v) {
  PutBe16(p, v >> 16);
  PutBe16(p + 2, v);
}

// A TCP segment or UDP datagram that may be coalesced: IPv4 without options or IPv6 without
// extension headers, whole, not a fragment, some payload; TCP with flags ACK or ACK|PSH only.
struct Segment {
  uint8_t* frame;  // what is written: the IP packet, or the Ethernet frame on a TAP
  uint32_t l2;     // bytes before the IP header (0 on a TUN, 14 on a TAP)
  uint8_t* p;      // the IP header
  uint32_t len;    // of the IP packet
  uint8_t proto;
  uint32_t iphl;
  uint32_t l4hl;
  uint32_t payload;
  uint32_t seq;
  bool psh;
};

bool ParseIp(uint8_t* p, uint32_t len, Segment* s) {
  if (len < 28) return false;
  if (p[0] == 0x45) {
    if (Be16(p + 2) != len || (p[6] & 0x3f) != 0 || p[7] != 0) return false;  // MF, or a fragment offset
    s->proto = p[9];
    s->iphl = 20;
  } else if (p[0] >> 4 == 6) {
    if (len < 48 || Be16(p + 4) + 40u != len) return false;
    s->proto = p[6];
    s->iphl = 40;
  } else {
    return false;
  }
  const uint8_t* t = p + s->iphl;
  if (s->proto == IPPROTO_TCP) {
    if (s->iphl + 20 > len) return false;
    s->l4hl = (t[12] >> 4) * 4u;
    if (s->l4hl < 20 || s->iphl + s->l4hl >= len) return false;
    if (t[13] != kTcpAck && t[13] != (kTcpAck | kTcpPsh)) return false;
    s->seq = Be32(t + 4);
    s->psh = (t[13] & kTcpPsh) != 0;
  } else if (s->proto == IPPROTO_UDP) {
    s->l4hl = 8;
    if (Be16(t + 4) != len - s->iphl || s->iphl + 8 >= len) return false;
    if (s->iphl == 40 && Be16(t + 6) == 0) return false;  // RFC 8200 §8.1: IPv6 UDP needs its checksum
    s->seq = 0;
    s->psh = false;
  } else {
    return false;
  }
  s->p = p;
  s->len = len;
  s->payload = len - s->iphl - s->l4hl;
  return true;
}

// On a TAP (l2 = 14) the frame must carry IPv4 or IPv6 right after the Ethernet header.
bool Parse(uint8_t* frame, uint32_t len, uint32_t l2, Segment* s) {
  if (l2 > 0) {
    if (len <= l2) return false;
    uint16_t type = Be16(frame + 12);
    if (type != 0x0800 && type != 0x86dd) return false;
  }
  s->frame = frame;
  s->l2 = l2;
  return ParseIp(frame + l2, len - l2, s);
}

// RFC 1071 sum of the pseudo-header (RFC 768 / RFC 793 / RFC 8200 §8.1) for `l4Length` bytes.
uint64_t PseudoSum(const Segment& s, uint32_t l4Length) {
  const uint8_t* p = s.p;
  uint64_t sum = s.iphl == 20 ? SumBigEndian(p + 12, 8, 0) : SumBigEndian(p + 8, 32, 0);
  return sum + s.proto + l4Length;
}

bool ChecksumValid(const Segment& s) {
  uint32_t l4Length = s.len - s.iphl;
  if (s.proto == IPPROTO_UDP && Be16(s.p + s.iphl + 6) == 0) return true;  // IPv4 UDP sent without a checksum
  return FoldSum(SumBigEndian(s.p + s.iphl, l4Length, PseudoSum(s, l4Length))) == 0xffff;
}

// Whether `s` belongs to the flow of `head` with the same headers but for the sequence number
// (and the PSH flag), as the kernel's tcp_gro_receive asks: addresses, ports, ack, options, and
// the IP fields a segmenter copies (TOS / traffic class and flow label, TTL / hop limit, DF).
bool SameFlow(const Segment& head, const Segment& s) {
  if (s.proto != head.proto || s.iphl != head.iphl || s.l4hl != head.l4hl) return false;
  if (head.l2 > 0 && std::memcmp(head.frame, s.frame, 12) != 0) return false;  // the MACs
  const uint8_t* a = head.p;
  const uint8_t* b = s.p;
  if (head.iphl == 20) {
    if (a[1] != b[1] || (a[6] & 0xc0) != (b[6] & 0xc0) || a[8] != b[8] || std::memcmp(a + 12, b + 12, 8) != 0) return false;
  } else {
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7] || std::memcmp(a + 8, b + 8, 32) != 0) return false;
  }
  const uint8_t* ta = a + head.iphl;
  const uint8_t* tb = b + s.iphl;
  if (head.proto == IPPROTO_UDP) return std::memcmp(ta, tb, 4) == 0;  // ports
  return std::memcmp(ta, tb, 4) == 0 && std::memcmp(ta + 8, tb + 8, 4) == 0 &&
         std::memcmp(ta + 20, tb + 20, head.l4hl - 20) == 0;
}

// Whether the kernel takes GSO_UDP_L4 from a TUN (Linux 6.2); learned from the first refusal.
std::atomic<bool> udpGsoUsable{true};

ssize_t WriteFully(int fd, const iovec* iov, int n) {
  ssize_t r;
  do {
    r = writev(fd, iov, n);
  } while (r < 0 && errno == EINTR);
  return r;
}

const VirtioNetHdr kNoOffload{};

// A packet with NEEDS_CSUM holds the pseudo-header sum at csum_start + csum_offset: add the data's.
bool FinishChecksum(const VirtioNetHdr& hdr, uint8_t* p, size_t len) {
  if (!(hdr.flags & kNeedsCsum)) return true;
  size_t at = size_t{hdr.csum_start} + hdr.csum_offset;
  if (at + 2 > len) return false;
  uint32_t initial = Be16(p + at);
  p[at] = p[at + 1] = 0;
  PutBe16(p + at, ~FoldSum(SumBigEndian(p + hdr.csum_start, len - hdr.csum_start, initial)) & 0xffff);
  return true;
}

// Writes one packet as it is, behind a header that asks nothing of the kernel.
bool WritePlain(int fd, uint8_t* p, uint32_t len) {
  iovec iov[2] = {{const_cast<VirtioNetHdr*>(&kNoOffload), sizeof kNoOffload}, {p, len}};
  return WriteFully(fd, iov, 2) >= 0;
}

// The GSO packet waiting in the scratch buffer: its header fields and the next segment to cut.
// kGsoPacketsRead counts the GSO packets taken in, for the caller to collect.
enum PendingWord { kPendingLength, kPendingNext, kPendingGsoSize, kPendingHdrLen, kPendingCsumStart, kGsoPacketsRead, kPendingL2 };

// Cuts segments of the pending GSO packet into slots: each gets the packet's headers with its
// own lengths, IPv4 id, sequence number, flags (FIN and PSH only on the last, CWR only on the
// first, as tcp_gso_segment does) and checksums. Returns the slots filled.
int64_t CutSegments(const uint8_t* pkt, int32_t* state, uint8_t* slab, int64_t slotSize, int64_t offset, int64_t first,
                    int64_t count, int32_t* sizes) {
  // Lengths and offsets are from the start of what was read (the frame on a TAP); `ip` is the IP header.
  const uint32_t len = static_cast<uint32_t>(state[kPendingLength]);
  const uint32_t gso = static_cast<uint32_t>(state[kPendingGsoSize]);
  const uint32_t hdrLen = static_cast<uint32_t>(state[kPendingHdrLen]);
  const uint32_t l2 = static_cast<uint32_t>(state[kPendingL2]);
  const uint32_t csumStart = static_cast<uint32_t>(state[kPendingCsumStart]);
  const uint32_t iphl = csumStart - l2;
  const uint8_t* ip = pkt + l2;
  const bool v4 = (ip[0] >> 4) == 4;
  const uint32_t segments = (len - hdrLen + gso - 1) / gso;
  const uint32_t seq0 = Be32(pkt + csumStart + 4);
  const uint32_t id0 = Be16(ip + 4);
  uint64_t addresses = v4 ? SumBigEndian(ip + 12, 8, 0) : SumBigEndian(ip + 8, 32, 0);
  int64_t n = first;
  uint32_t i = static_cast<uint32_t>(state[kPendingNext]);
  for (; i < segments && n < count; i++, n++) {
    uint32_t at = hdrLen + i * gso;
    uint32_t chunk = len - at < gso ? len - at : gso;
    uint32_t segLen = hdrLen + chunk;
    uint8_t* frame = slab + n * slotSize + offset;
    std::memcpy(frame, pkt, hdrLen);
    std::memcpy(frame + hdrLen, pkt + at, chunk);
    uint8_t* out = frame + l2;
    if (v4) {
      PutBe16(out + 2, segLen - l2);
      PutBe16(out + 4, id0 + i);
      out[10] = out[11] = 0;
      PutBe16(out + 10, ~FoldSum(SumBigEndian(out, iphl, 0)) & 0xffff);
    } else {
      PutBe16(out + 4, segLen - l2 - 40);
    }
    uint8_t* tcp = out + iphl;
    PutBe32(tcp + 4, seq0 + i * gso);
    if (i + 1 < segments) tcp[13] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) tcp[13] &= static_cast<uint8_t>(~kTcpCwr);
    tcp[16] = tcp[17] = 0;
    uint32_t tcpLen = segLen - csumStart;
    PutBe16(tcp + 16, ~FoldSum(SumBigEndian(tcp, tcpLen, addresses + IPPROTO_TCP + tcpLen)) & 0xffff);
    sizes[n] = static_cast<int32_t>(segLen);
  }
  state[kPendingNext] = static_cast<int32_t>(i);
  if (i == segments) state[kPendingLength] = 0;
  return n - first;
}

}  // namespace

int64_t ReadSegmented(int fd, uint8_t* slab, int64_t slotSize, int64_t offset, int64_t count, int32_t* sizes,
                      uint8_t* scratch, size_t scratchLength, int32_t* state, bool ethernet) {
  const size_t room = static_cast<size_t>(slotSize - offset);
  int64_t n = 0;
  while (n < count) {
    if (state[kPendingLength] > 0) {
      n += CutSegments(scratch, state, slab, slotSize, offset, n, count, sizes);
      continue;
    }
    // A packet that fits goes straight to its slot; a GSO packet spills into the scratch buffer
    // behind a copy of its start, which makes it whole there.
    uint8_t* p = slab + n * slotSize + offset;
    VirtioNetHdr hdr;
    iovec iov[3] = {{&hdr, sizeof hdr}, {p, room}, {scratch + room, scratchLength - room}};
    ssize_t r = readv(fd, iov, 3);
    if (r < 0) {
      if (errno == EINTR) continue;
      return n > 0 ? n : -1;  // EAGAIN included: the caller tells it apart
    }
    if (static_cast<size_t>(r) < sizeof hdr) {
      sizes[n++] = -1;
      continue;
    }
    size_t len = static_cast<size_t>(r) - sizeof hdr;
    if (hdr.gso_type == kGsoNone) {
      if (len > room || !FinishChecksum(hdr, p, len)) sizes[n++] = -1;
      else sizes[n++] = static_cast<int32_t>(len);
      continue;
    }
    uint8_t* pkt = scratch;
    std::memcpy(pkt, p, len < room ? len : room);
    // hdr_len may cover more than the headers (it is the linear part's length): take the TCP header's own.
    uint32_t l2 = 0;
    if (ethernet) l2 = len >= 18 && Be16(pkt + 12) == 0x8100 ? 18 : 14;  // one 802.1Q tag at most
    uint32_t csumStart = hdr.csum_start;
    const uint8_t* ip = pkt + l2;
    uint32_t iphl = csumStart - l2;
    bool v4 = hdr.gso_type == kGsoTcpV4 && len >= l2 + 40 && csumStart > l2 && (ip[0] >> 4) == 4 && iphl == (ip[0] & 0x0fu) * 4;
    bool v6 = hdr.gso_type == kGsoTcpV6 && len >= l2 + 60 && csumStart > l2 && (ip[0] >> 4) == 6 && iphl == 40;
    uint32_t hdrLen = (v4 || v6) && csumStart + 20 <= len ? csumStart + (pkt[csumStart + 12] >> 4) * 4u : 0;
    if (hdrLen == 0 || hdrLen > len || hdr.gso_size == 0 || hdrLen + hdr.gso_size > room) {
      sizes[n++] = -1;  // a GSO kind we did not ask for, or inconsistent: counted as malformed
      continue;
    }
    state[kPendingLength] = static_cast<int32_t>(len);
    state[kPendingNext] = 0;
    state[kPendingGsoSize] = hdr.gso_size;
    state[kPendingHdrLen] = static_cast<int32_t>(hdrLen);
    state[kPendingCsumStart] = static_cast<int32_t>(csumStart);
    state[kPendingL2] = static_cast<int32_t>(l2);
    state[kGsoPacketsRead]++;
  }
  return n;
}

int64_t WriteCoalesced(int fd, uint8_t* slab, const int32_t* offsets, const int32_t* lengths, int64_t count, bool coalesce,
                       bool ethernet, int64_t* syscalls) {
  const uint32_t l2 = ethernet ? 14 : 0;
  int64_t written = 0;
  iovec iov[kMaxSegments + 1];
  VirtioNetHdr hdr;
  uint8_t saved[160];  // the head's headers, to write the run plainly if the kernel refuses it
  int64_t i = 0;
  while (i < count) {
    Segment head;
    uint8_t* p = slab + offsets[i];
    uint32_t len = static_cast<uint32_t>(lengths[i]);
    if (!coalesce || !Parse(p, len, l2, &head) || (head.proto == IPPROTO_UDP && !udpGsoUsable.load(std::memory_order_relaxed)) ||
        !ChecksumValid(head)) {
      ++*syscalls;
      if (WritePlain(fd, p, len)) written++;
      i++;
      continue;
    }
    // TCP: consecutive sequence numbers, PSH or a short segment only at the end. UDP: datagrams
    // of one size, a shorter one only at the end (RFC 8200-size runs as UDP_SEGMENT makes them).
    const bool tcp = head.proto == IPPROTO_TCP;
    const uint32_t headers = head.iphl + head.l4hl;
    std::memcpy(saved, p, l2 + headers);
    uint32_t gso = head.payload;
    uint32_t payload = head.payload;
    uint32_t expected = head.seq + head.payload;
    bool ended = head.psh;
    bool psh = head.psh;
    uint32_t n = 1;
    iov[0] = {&hdr, sizeof hdr};
    iov[1] = {p, len};
    int64_t j = i + 1;
    for (; j < count && n < kMaxSegments && !ended; j++) {
      Segment s;
      if (!Parse(slab + offsets[j], static_cast<uint32_t>(lengths[j]), l2, &s) || !SameFlow(head, s) || (tcp && s.seq != expected) ||
          s.payload > gso || headers + payload + s.payload > kMaxIpLength || !ChecksumValid(s)) {
        break;
      }
      iov[n + 1] = {s.p + headers, s.payload};
      payload += s.payload;
      expected += s.payload;
      ended = s.psh || s.payload < gso;
      psh = psh || s.psh;
      n++;
    }
    ++*syscalls;
    if (n == 1) {
      if (WritePlain(fd, p, len)) written++;
      i++;
      continue;
    }
    // The head becomes the super-packet's header: lengths for the whole, and in the checksum
    // field the pseudo-header sum, which the kernel completes over the data (CHECKSUM_PARTIAL).
    uint32_t total = headers + payload;
    uint8_t* ip = head.p;
    if (head.iphl == 20) {
      PutBe16(ip + 2, total);
      ip[10] = ip[11] = 0;
      PutBe16(ip + 10, ~FoldSum(SumBigEndian(ip, 20, 0)) & 0xffff);
    } else {
      PutBe16(ip + 4, total - 40);
    }
    uint8_t* l4 = ip + head.iphl;
    if (tcp && psh) l4[13] |= kTcpPsh;
    if (!tcp) PutBe16(l4 + 4, total - head.iphl);
    const uint32_t csumOffset = tcp ? 16 : 6;
    PutBe16(l4 + csumOffset, FoldSum(PseudoSum(head, total - head.iphl)));
    std::memset(&hdr, 0, sizeof hdr);
    hdr.flags = kNeedsCsum;
    hdr.gso_type = tcp ? (head.iphl == 20 ? kGsoTcpV4 : kGsoTcpV6) : kGsoUdpL4;
    hdr.hdr_len = static_cast<uint16_t>(l2 + headers);
    hdr.gso_size = static_cast<uint16_t>(gso);
    hdr.csum_start = static_cast<uint16_t>(l2 + head.iphl);
    hdr.csum_offset = static_cast<uint16_t>(csumOffset);
    if (WriteFully(fd, iov, static_cast<int>(n + 1)) >= 0) {
      written += n;
    } else if (errno == EINVAL && !tcp) {
      // An older kernel without UDP segmentation on the TUN: from now on, datagrams go one by one.
      udpGsoUsable.store(false, std::memory_order_relaxed);
      std::memcpy(p, saved, l2 + headers);
      for (int64_t k = i; k < j; k++) {
        ++*syscalls;
        if (WritePlain(fd, slab + offsets[k], static_cast<uint32_t>(lengths[k]))) written++;
      }
    }
    i = j;
  }
  return written;
}

}  // namespace vxroute
