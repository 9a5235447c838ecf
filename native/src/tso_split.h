// The read side of a TUN/TAP with IFF_VNET_HDR, as pure functions over buffers (tun_offload.cc
// makes the syscalls): check what the kernel handed over against its virtio_net_hdr, finish a
// partial checksum, and cut a TSO packet into TCP segments or a USO packet into UDP datagrams. Every length comes from the kernel, which
// forwards what a pod wrote with PACKET_VNET_HDR: nothing is used before it is checked.
#pragma once

#include "virtio_net_hdr.h"

#include <cstddef>
#include <cstdint>

namespace vxroute {

// Why a read is dropped: readBatch puts -code in its size (src/native/addon.ts, ReadDrop).
enum ReadDrop : int32_t {
  kReadOk = 0,
  kDropBadVnetHdr = 1,     // flags, csum_start/csum_offset or hdr_len disagree with the packet
  kDropBadGso = 2,         // a GSO packet we cannot cut as asked (type, gso_size, a fragment, not TCP / UDP)
  kDropBadTsoHeaders = 3,  // IP header or total length, TCP data offset or UDP length, disagree with the bytes read
  kDropOversize = 4,       // a packet without GSO larger than its slot
};

// A TSO or USO packet that checked out: lengths from the start of what was read (the frame on a TAP).
struct TsoPlan {
  uint32_t length;     // of what was read
  uint32_t gsoSize;    // payload bytes per segment (the MSS, or each datagram's UDP payload)
  uint32_t hdrLen;     // L2 + IP + TCP (or UDP) headers, copied in front of every segment
  uint32_t csumStart;  // the TCP (or UDP) header
  uint32_t l2;         // bytes before the IP header: 0 on a TUN, 14 or 18 (one 802.1Q tag) on a TAP
  uint32_t segments;
  uint32_t udp;        // 1: a USO packet (GSO_UDP_L4), cut into datagrams
};

// Checks a read of `len` bytes whose header asks for GSO; `room` is a slot's size. Returns
// kReadOk with `plan` filled, or why the packet must be dropped.
ReadDrop CheckTso(const VirtioNetHdr& hdr, const uint8_t* pkt, size_t len, bool ethernet, size_t room, TsoPlan* plan);

// Checks a read of `len` bytes whose header asks for GSO_UDP_L4 (a pod's UDP_SEGMENT send, handed
// over with TUN_F_USO4/6): IPv4 or IPv6 as the IP header says, UDP right after it, its length the
// whole, csum_start at it and csum_offset 6. Returns kReadOk with `plan` filled, or why not.
ReadDrop CheckUso(const VirtioNetHdr& hdr, const uint8_t* pkt, size_t len, bool ethernet, size_t room, TsoPlan* plan);

// Writes segment `i` of the planned packet to `out` (room for plan.hdrLen + plan.gsoSize bytes)
// with its own lengths, IPv4 id (+i, as inet_gso_segment does) and header checksum; for TCP its
// sequence number, flags (FIN and PSH only on the last, CWR only on the first, as tcp_gso_segment
// does) and checksum; for UDP its length and checksum (RFC 768, as __udp_gso_segment makes each
// datagram). Returns its length. `sum` false (TCP): the checksum field gets only the
// pseudo-header sum, as a sender leaves it for the device (CHECKSUM_PARTIAL), the data unsummed.
uint32_t CutSegment(const uint8_t* pkt, const TsoPlan& plan, uint32_t i, uint8_t* out, bool sum = true);

// Most segments a TSO packet kept whole for the tunnel-GSO send may stand for (udp_batch.h's
// kMaxGsoSegments: what one frame and its fallback cut may hold).
constexpr uint32_t kMaxWholeSendSegments = 64;

// Whether a TSO packet that checked out (`plan`, read from a TUN) may be sent whole as one
// tunnel-GSO frame: 2 to kMaxWholeSendSegments segments, IPv4 without options (IPv6: CheckTso put
// TCP right after the header) and TCP flags exactly ACK or ACK|PSH, so that the first segment the
// JavaScript stages judge changes no connection state a later one would (a FIN or SYN is cut).
bool WholeSendEligible(const TsoPlan& plan, const uint8_t* pkt);

// Checks a read of `len` bytes without GSO and, with NEEDS_CSUM, finishes its checksum in place.
ReadDrop CheckPlainRead(const VirtioNetHdr& hdr, uint8_t* p, size_t len, bool ethernet, size_t room);

}  // namespace vxroute
