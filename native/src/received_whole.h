// A receive slot that stands for a whole inner TSO packet (udp_gro.h kWholeTso) or a whole UDP GRO
// buffer of one TCP run (kWholeRun): the words the receive writes beside it, for the JavaScript
// stages (how many packets and bytes it stands for) and for the TUN write (where the message waits
// in the receive area); the write's check of those words, which live in a JavaScript array and so
// are trusted for nothing; and the iovecs the write gathers from the area.
#pragma once

#include "gso_coalesce.h"
#include "udp_gro.h"
#include "virtio_net_hdr.h"

#include <sys/uio.h>

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
  kWholeShape = 5,     // kWholeTso: the inner MTU it was planned with; kWholeRun: the datagrams' stride
  kWholeKind = 6,      // WholeKind
  kWholeWords = 7,
};

enum WholeKind : int32_t { kWholeKindTso = 1, kWholeKindRun = 2 };

// Fills a slot's words: `plan` (kWholeTso or kWholeRun) of the message at area offset areaAt, its
// first segment cut into the slot whose VXLAN header is at slab offset slotAt.
void NoteWhole(const ReceivedPlan& plan, uint32_t areaAt, uint32_t slotAt, uint32_t maxInner, int32_t* words);

// Where a held run's segments wait in the receive area, beside its HeldRun (gso_coalesce.h, whose
// head.p and head.len are a TSO packet's inner IP packet, or a run's first datagram's).
struct WholeSource {
  bool run;          // a kWholeRun; then the other datagrams are in:
  uint8_t* message;  // the UDP GRO buffer
  uint32_t length;   // its length
  uint32_t stride;   // bytes per datagram, the last possibly shorter
};

// Which packets of a write are the first segments of whole TSO packets or runs, and those.
struct WholeWrites {
  uint8_t at[kMaxBatchPackets];  // 1: packet i stands for held[i]
  HeldRun held[kMaxBatchPackets];
  WholeSource source[kMaxBatchPackets];
};

// For each packet slab[offsets[i] .. + lengths[i]], i < count ≤ kMaxBatchPackets: whether it is
// the first segment a kWholeTso or kWholeRun receive put in its slot (slot offsets[i] / slotSize of `words`,
// wordsLength long), the message still in `area` (areaLength bytes) passing the receive's checks
// again, of the same flow (addresses, ports) and as long as that plan says. Returns how many are.
uint32_t FindWholeWrites(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                         int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out);

// The same for a TAP's writes (switch mode): packet i is the first segment's Ethernet frame, the
// 14 bytes in front of the IP header the words name, equal to the inner Ethernet header of the
// message (MACs and EtherType); the held runs' heads are frames too (l2 14), so that the write
// carries that header in front of the whole.
uint32_t FindWholeFrames(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                         int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out);

// Fills the virtio_net_hdr that asks the TUN (or TAP: offsets counted from the frame) to segment a
// TSO packet written alone, as it is, and finish its checksums (NEEDS_CSUM: its TCP checksum field
// holds the pseudo-header sum, as WholeTsoEligible checked).
void MakeWholeTsoHead(const HeldRun& tso, VirtioNetHdr* hdr);

// The iovecs of held run `h`'s part of a GSO write (at most h.segments): as the write's head, its
// headers and everything behind them (a TSO packet) or the first datagram's inner packet and the
// others' TCP payloads (a run), behind its Ethernet header on a TAP; after another head, only the
// payloads.
uint32_t AppendWhole(const HeldRun& h, const WholeSource& source, bool head, iovec* iov);

}  // namespace vxroute
