// One tunnel-GSO frame for an egress TAP (Linux 6.16+): a run of VXLAN datagrams of one inner TCP
// flow, as sendBatch would send them, becomes outer Ethernet + IP + UDP + the head datagram's
// VXLAN, inner Ethernet, IP and TCP headers for the whole run, with a 24-byte vnet header that
// asks the kernel to segment it as its own VXLAN device's output is segmented
// (include/linux/virtio_net.h virtio_net_hdr_tnl_to_skb). Pure functions over buffers: udp.cc's
// send makes the write, native/fuzz/tunnel_gso_fuzz.cc drives them with any bytes.
#pragma once

#include "gso_coalesce.h"
#include "tso_split.h"
#include "virtio_net_hdr.h"

#include <cstdint>

namespace vxroute {

// struct virtio_net_hdr_v1_hash_tunnel (include/uapi/linux/virtio_net.h, Linux 6.16): the v1
// header, the hash fields, then two offsets counted from the outer MAC header. Host order, as
// the TAP's other vnet fields (a legacy device on a little-endian host).
struct VirtioNetHdrTunnel {
  VirtioNetHdr base;  // flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
  uint16_t num_buffers;
  uint32_t hash_value;
  uint16_t hash_report;
  uint16_t padding;
  uint16_t outer_th_offset;
  uint16_t inner_nh_offset;
};
static_assert(sizeof(VirtioNetHdrTunnel) == 24, "virtio_net_hdr_v1_hash_tunnel is 24 bytes");

constexpr uint8_t kGsoUdpTunnelIpv4 = 0x20;  // VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4
constexpr uint8_t kGsoUdpTunnelIpv6 = 0x40;  // VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV6
constexpr uint8_t kUdpTunnelCsum = 8;        // VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM: outer UDP checksum per segment

constexpr uint32_t kVxlanBytes = 8;  // RFC 7348 §5
// The header block in front of the payloads: vnet header, outer Ethernet, IPv6 at most, UDP,
// VXLAN, inner Ethernet, inner IPv6, TCP with 40 bytes of options.
constexpr uint32_t kMaxTunnelHeaderBytes = 24 + 14 + 40 + 8 + kVxlanBytes + 14 + 40 + 60;
// Forwarding takes one from the TTL / hop limit: 64 on the wire, as the kernel's VXLAN sends.
constexpr uint8_t kTunnelTtl = 65;

// A run of datagrams that passed the check: the head's inner headers parsed, and the run's sums.
struct TunnelRun {
  GsoRun gso;        // head (in the head datagram, l2 = inner Ethernet), packets, gsoSize, payload, psh
  uint32_t headers;  // VXLAN + inner Ethernet + IP + TCP bytes at the front of every datagram
};

// The longest prefix of datagrams d[0 .. n) (VXLAN header first), of at least 2, that the
// kernel's TCP segmentation (tcp_gso_segment, inet_gso_segment / ipv6_gso_segment) would cut
// back out of one packet: one VXLAN header; inner IPv4 without options or IPv6 without extension
// headers behind an untagged Ethernet header; TCP with ACK or ACK|PSH only (no SYN, FIN, RST,
// URG); the same headers but for the sequence number (addresses, ports, ack, window, options,
// TOS / traffic class and flow label, TTL, DF); IPv4 without DF with consecutive IDs; contiguous
// sequence numbers; equal payloads but a shorter, non-empty last; PSH only on the last. Every
// datagram at most `maxDatagram` bytes (a segment that fits the underlay's MTU), at most
// kMaxGsoSegments, the inner IP packet and the outer UDP datagram (IPv4 packet) of the whole
// within 65,535 bytes. Returns how many datagrams it takes (0: fewer than 2 fit) and fills `run`.
uint32_t PlanTunnelRun(uint8_t* const* d, const uint32_t* lengths, uint32_t n, uint32_t maxDatagram, bool outer6, TunnelRun* run);

// The outer side of a frame: the TAP's MAC (the outer Ethernet destination, so that the kernel
// routes the frame), our underlay address and the peer's (4 or 16 bytes, network order), ports.
struct TunnelOuter {
  const uint8_t* tapMac;
  const uint8_t* local;
  const uint8_t* peer;
  bool ipv6;
  uint16_t sourcePort;
  uint16_t destinationPort;
  uint16_t ipId;
};

// Writes the header block for `run` into `block` (kMaxTunnelHeaderBytes): the vnet header, outer
// Ethernet, IPv4 (TTL 65, no DF, UDP checksum 0, as the kernel's VXLAN) or IPv6 (hop limit 65, the
// UDP checksum's pseudo-header sum for the per-segment sums), UDP, then a copy of the head
// datagram's headers set up for the whole run (inner IP length, TCP checksum back to the
// pseudo-header sum, PSH when the run's last has it). The head datagram is not changed. Returns
// the block's length; the frame is the block, then each datagram's bytes after `run.headers`.
uint32_t WriteTunnelHeaders(const TunnelRun& run, const uint8_t* head, const TunnelOuter& outer, uint8_t* block);

// Writes the header block that sends one datagram (VXLAN header first, `length` bytes, its inner
// checksums complete) through the TAP as it is: a vnet header that asks nothing of the kernel and
// the outer headers of WriteTunnelHeaders, the IPv6 UDP checksum summed over the datagram. Returns
// the block's length; the frame is the block, then the datagram.
uint32_t WriteSingleHeaders(const uint8_t* datagram, uint32_t length, const TunnelOuter& outer, uint8_t* block);

// A pod's TSO packet kept whole by the TUN read (tun_offload.h ReadSegmented with `whole`): its
// slot holds the first segment, which the JavaScript stages judge and encapsulate; these words
// beside the slot (src/native/send-whole.ts) say what it stands for and where the packet waits in
// the read area. They live in a JavaScript array: the send trusts none of them (FindWholeSend).
enum WholeSendWord : uint32_t {
  kSendSegments = 0,  // the TCP segments it stands for (≥ 2), what the cut would have made; 0: an ordinary slot
  kSendBytes = 1,     // their IP bytes, headers of each counted
  kSendAreaAt = 2,    // read-area offset of the whole IP packet
  kSendLength = 3,    // its length
  kSendGsoSize = 4,   // the MSS it is cut at
  kSendIpAt = 5,      // slab offset of the slot's IP header (its first segment)
  kWholeSendWords = 7,  // the stride: the receive's (received_whole.h kWholeWords), as one PacketBatch array holds either
};

// Fills a slot's words for `plan` (WholeSendEligible, read from a TUN) at area offset areaAt, its
// first segment cut into the slot at slab offset ipAt.
void NoteWholeSend(const TsoPlan& plan, uint32_t areaAt, uint32_t ipAt, int32_t* words);

// A whole TSO packet to send, checked: the IP packet in the read area and how it is cut.
struct WholeSend {
  const uint8_t* ip;
  uint32_t length;
  uint32_t hdrLen;  // IP + TCP headers
  uint32_t gsoSize;
  uint32_t segments;
  bool psh;         // the whole's PSH: its last segment carries it
};

// Whether the VXLAN datagram at slab offset `at` (`length` bytes, VXLAN + inner Ethernet + its IP
// packet) stands for a whole TSO packet by its slot's `words`: the words name a packet inside the
// area (areaLength bytes) that is an IPv4 (no options) or IPv6 TCP packet of the lengths they say,
// eligible (flags ACK or ACK|PSH, 2 to kMaxWholeSendSegments segments), and the datagram's inner
// packet is its first segment (as long, same addresses, ports, sequence and ack, header lengths).
bool FindWholeSend(const int32_t* words, const uint8_t* area, size_t areaLength, const uint8_t* datagram, uint32_t length, int64_t at,
                   WholeSend* out);

// The same check for the slot's IP packet itself (`ip`, `length` bytes, at slab offset ipAt): a
// slot whose first segment is written back to the TUN unencapsulated (the same-node hairpin).
bool FindWholeSendPacket(const int32_t* words, const uint8_t* area, size_t areaLength, const uint8_t* ip, uint32_t length, int64_t ipAt,
                         WholeSend* out);

// The frame of a whole TSO packet whose first segment's datagram is `datagram`: `run` as
// WriteTunnelHeaders takes it (head from the datagram, the whole's payload and PSH); the frame's
// payload is whole.ip + whole.hdrLen. Returns false when it does not fit: the datagram (the longest
// segment) above maxDatagram, the outer UDP datagram or IPv4 packet above 65,535 bytes.
bool PlanWholeFrame(const WholeSend& whole, uint8_t* datagram, uint32_t length, uint32_t maxDatagram, bool outer6, TunnelRun* run);

// Writes segment i of the whole, as the read's cut would have made it (tso_split.h CutSegment,
// checksums summed), behind the datagram's VXLAN and inner Ethernet headers, to `out` (room for
// 22 + hdrLen + gsoSize bytes). Returns the datagram's length.
uint32_t CutWholeSend(const WholeSend& whole, const uint8_t* datagram, uint32_t i, uint8_t* out);

}  // namespace vxroute
