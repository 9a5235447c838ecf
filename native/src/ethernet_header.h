// The Ethernet header in front of a TAP's frames: 14 bytes, or 18 with one IEEE 802.1Q tag.
#pragma once

#include "big_endian.h"

#include <cstddef>
#include <cstdint>

namespace vxroute {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;

// The length of a frame's Ethernet header and the type it carries; false when the frame is shorter.
inline bool EthernetHeader(const uint8_t* frame, size_t len, uint32_t* l2, uint16_t* type) {
  if (len < 14) return false;
  *l2 = 14;
  *type = Be16(frame + 12);
  if (*type == kEtherTypeVlan) {
    if (len < 18) return false;
    *l2 = 18;
    *type = Be16(frame + 16);
  }
  return true;
}

}  // namespace vxroute
