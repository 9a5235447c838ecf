// The input of the TUN read-path harnesses: one mode byte (bit 0: a TAP's Ethernet frame), a
// virtio_net_hdr, then the packet, copied into a buffer of its own size so that ASan sees any
// read past its end.
#pragma once

#include "virtio_net_hdr.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

/** A datapath slot less its headroom: the room a read or cut packet has. */
constexpr size_t kSlotRoom = 2048 - 64;

struct VirtioInput {
  bool ethernet;
  vxroute::VirtioNetHdr hdr;
  std::vector<uint8_t> pkt;
};

/** False when the input is too short to hold the mode byte and the header. */
inline bool SplitVirtioInput(const uint8_t* data, size_t size, VirtioInput* in) {
  if (size < 1 + sizeof in->hdr) return false;
  in->ethernet = data[0] & 1;
  std::memcpy(&in->hdr, data + 1, sizeof in->hdr);
  in->pkt.assign(data + 1 + sizeof in->hdr, data + size);
  return true;
}
