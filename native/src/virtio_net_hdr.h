// struct virtio_net_hdr of include/uapi/linux/virtio_net.h (whose C++-hostile `class` member keeps
// the header itself out of C++): 10 bytes in front of every packet on a TUN/TAP opened with
// IFF_VNET_HDR, fields in host order (a legacy, non-virtio-1.0 device).
#pragma once

#include <cstdint>

namespace vxroute {

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
constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID: the kernel checked the checksum
constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
constexpr uint8_t kGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
constexpr uint8_t kGsoTcpV6 = 4;   // VIRTIO_NET_HDR_GSO_TCPV6
constexpr uint8_t kGsoUdpL4 = 5;   // VIRTIO_NET_HDR_GSO_UDP_L4 (Linux 6.2)

// Offsets of the checksum field in the TCP (RFC 9293 §3.1) and UDP (RFC 768) headers.
constexpr uint16_t kTcpCsumOffset = 16;
constexpr uint16_t kUdpCsumOffset = 6;

}  // namespace vxroute
