// A receive slot that stands for a whole inner TSO packet (udp_gro.h kWholeTso): the words the
// receive writes beside it, for the JavaScript stages (how many packets and bytes it stands for)
// and for the TUN write (where the packet waits in the receive area); and the write's check of
// those words, which live in a JavaScript array and so are trusted for nothing.
#pragma once

#include "gso_coalesce.h"
#include "udp_gro.h"
#include "virtio_net_hdr.h"

#include <cstddef>
#include <cstdint>

namespace vxroute {

// The words of one slot (src/native/addon.ts WholeWord). segments 0: an ordinary datagram.
enum WholeWord : uint32_t {
  kWholeSegments = 0,  // the TCP segments it stands for (≥ 2), what the cut would have made
  kWholeBytes = 1,     // their inner IP bytes, headers of each included
  kWholeIpAt = 2,      // slab offset of the slot's inner IP header (its first segment)
  kWholeAreaAt = 3,    // receive-area offset of the message (its VXLAN header)
  kWholeLength = 4,    // the message's length
  kWholeMaxInner = 5,  // the inner MTU it was planned with
  kWholeWords = 6,
};

// Fills a slot's words: `plan` (kWholeTso) of the message at area offset areaAt, its first
// segment cut into the slot whose VXLAN header is at slab offset slotAt.
void NoteWholeTso(const ReceivedPlan& plan, uint32_t areaAt, uint32_t slotAt, uint32_t maxInner, int32_t* words);

// A whole TSO packet to write: its inner IP packet in the receive area.
struct WholeTso {
  uint8_t* ip;
  uint32_t ipLen;
  uint32_t iphl;
  uint32_t tcphl;
  uint32_t gsoSize;
  uint32_t segments;  // what gsoSize cuts it into (≥ 2)
};

// Which packets of a write are the first segments of whole TSO packets, and those packets.
struct WholeWrites {
  uint8_t at[kMaxBatchPackets];  // 1: packet i stands for tso[i]
  WholeTso tso[kMaxBatchPackets];
};

// For each packet slab[offsets[i] .. + lengths[i]], i < count ≤ kMaxBatchPackets: whether it is
// the first segment a kWholeTso receive put in its slot (slot offsets[i] / slotSize of `words`,
// wordsLength long), the message still in `area` (areaLength bytes) passing the receive's checks
// again, of the same flow (addresses, ports) and as long as that plan says. Returns how many are.
uint32_t FindWholeWrites(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                         int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out);

// Fills the virtio_net_hdr that asks the TUN to segment the packet and finish its checksums
// (NEEDS_CSUM: its TCP checksum field holds the pseudo-header sum, as WholeTsoEligible checked).
void MakeWholeTsoHead(const WholeTso& whole, VirtioNetHdr* hdr);

}  // namespace vxroute
