// The write side of a TUN/TAP with IFF_VNET_HDR, as pure functions over buffers (tun_offload.cc
// makes the syscalls): which consecutive packets of a batch go as one GSO packet, and the
// headers and virtio_net_hdr that make the first of them the super-packet's head.
#pragma once

#include "virtio_net_hdr.h"

#include <cstdint>

namespace vxroute {

// Most packets in one GSO write: the iovec array on the stack holds one more.
constexpr uint32_t kMaxRunPackets = 64;

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

// A run of packets [first, first + packets) of one flow, to be written as one.
struct GsoRun {
  Segment head;
  uint32_t packets;
  uint32_t gsoSize;  // the head's payload: every other is as long, but the last may be shorter
  uint32_t payload;  // of all the run's packets
  bool psh;
};

// Plans the run that starts at packet `first` of slab[offsets[i] .. + lengths[i]], i < count.
// `l2`: 14 on a TAP. `udpGso`: whether UDP runs may be planned. Returns false when packet
// `first` is no GSO head (write it alone); else run->packets ≥ 1 (1: nothing follows it).
bool PlanRun(uint8_t* slab, const int32_t* offsets, const int32_t* lengths, int64_t first, int64_t count, uint32_t l2,
             bool udpGso, GsoRun* run);

// Turns the run's head (run.packets ≥ 2) into the super-packet's headers, in place, and fills
// the virtio_net_hdr that asks the kernel to segment it (NEEDS_CSUM, GSO_TCPV4/TCPV6 or UDP_L4).
void MakeGsoHead(const GsoRun& run, VirtioNetHdr* hdr);

}  // namespace vxroute
