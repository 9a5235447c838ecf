// The write side of a TUN/TAP with IFF_VNET_HDR, as pure functions over buffers (tun_offload.cc
// makes the syscalls): which packets of a batch, flow by flow, go as one GSO packet, and the
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

// Fills `s` from a packet (an Ethernet frame when l2 = 14) that may be coalesced, as Segment says;
// false when it may not. Reads only its headers.
bool ParseSegment(uint8_t* frame, uint32_t len, uint32_t l2, Segment* s);

// Whether `s` belongs to the flow of `head` with the same headers but for the sequence number
// (and the PSH flag), as the kernel's tcp_gro_receive asks: addresses, ports, ack, options, and
// the IP fields a segmenter copies (TOS / traffic class and flow label, TTL / hop limit, DF).
bool SameFlow(const Segment& head, const Segment& s);

// Whether the segment's TCP or UDP checksum is right (an IPv4 UDP one of 0: none was sent).
bool ChecksumValid(const Segment& s);

// Most packets in one batch (the addon's kMaxBatch).
constexpr uint32_t kMaxBatchPackets = 256;

// A packet of a batch that stands for `segments` TCP segments of one flow written from elsewhere
// (received_whole.h: a kernel peer's TSO packet or a vxroute peer's run, in the receive area).
struct HeldRun {
  Segment head;       // the first segment's headers where the write takes them from (head.len: what lies behind them there)
  uint32_t segments;  // ≥ 2
  uint32_t gsoSize;   // payload of each segment but the last, which may be shorter
  uint32_t payload;   // of all the segments
  bool psh;           // the last one's
};

// One write: a run of packets of one flow (segments ≥ 2: one GSO packet), or one packet as it is.
struct GsoRun {
  Segment head;
  uint32_t packets;   // of the batch
  uint32_t segments;  // what the kernel cuts the write into: each held packet counts its own
  uint32_t gsoSize;  // the head's payload: every other is as long, but the last may be shorter
  uint32_t payload;  // of all the run's packets
  bool psh;
  bool open;          // a later packet of the flow may still join it
  int32_t last;       // its last packet
  uint32_t expected;  // TCP: the sequence number that continues it
  uint32_t flowHash;  // of its flow's key (0: the packet has no flow)
};

// The writes a batch becomes, in the order of their first packets: write w is packet heads[w],
// then next[heads[w]], next[next[...]] until -1. Across flows the order may change; within a flow,
// never: a packet joins only its flow's latest write, and only while that write is open.
struct BatchPlan {
  uint32_t writes;
  int32_t heads[kMaxBatchPackets];
  int32_t next[kMaxBatchPackets];
  GsoRun runs[kMaxBatchPackets];
};

// Plans the writes of packets slab[offsets[i] .. + lengths[i]], i < count ≤ kMaxBatchPackets, as
// wireguard-go's tcpGROTable and udpGROTable do: a table keyed by the flow (IP version, protocol,
// addresses, ports; the MACs too on a TAP) points at the flow's latest write; a packet that may be
// coalesced (see Segment) is appended to it when it continues it (same headers but for the
// sequence number, TCP sequence consecutive, not longer than the first, within 64 KiB and
// kMaxRunPackets; PSH or a shorter packet closes it), else starts the flow's next write. A packet
// that may not be coalesced goes alone and closes its flow's write. `l2`: 14 on a TAP. `udpGso`:
// whether UDP runs may be planned. `held` (or null, only on a TUN): packets i with held[i] ≠ 0
// stand for heldRuns[i], whose segments join or start their flow's write as a run of their own
// would (the same headers, the next sequence number, the same gso_size), within kMaxRunPackets
// segments and 64 KiB.
void PlanBatch(uint8_t* slab, const int32_t* offsets, const int32_t* lengths, int64_t count, uint32_t l2, bool udpGso,
               const uint8_t* held, const HeldRun* heldRuns, BatchPlan* plan);

// Turns the run's head (run.packets ≥ 2) into the super-packet's headers, in place, and fills
// the virtio_net_hdr that asks the kernel to segment it (NEEDS_CSUM, GSO_TCPV4/TCPV6 or UDP_L4).
void MakeGsoHead(const GsoRun& run, VirtioNetHdr* hdr);

}  // namespace vxroute
