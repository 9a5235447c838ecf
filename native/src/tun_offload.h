// The virtio_net_hdr side of TUN queues opened with IFF_VNET_HDR: the syscalls around the pure
// checks and cuts of tso_split.h and the coalescing plan of gso_coalesce.h.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace vxroute {

class TunRing;
struct WholeWrites;

// State words of a GSO packet read but not yet cut into slots (kept by the caller between calls),
// and the counts of TSO packets kept whole for the caller to collect.
constexpr size_t kReadStateWords = 12;

// Most TSO packets one ReadSegmented call keeps whole (the send's fallback cuts at most as many),
// and what each may take of the scratch buffer: the spill of one read, 64 KiB.
constexpr uint32_t kMaxWholeReads = 8;
constexpr size_t kGsoSpill = 65536;

// Reads packets from a queue with TUNSETOFFLOAD (checksum, TSO4/6, USO4/6 where the kernel has
// it) into slots; a GSO packet lands in `scratch` (at least 64 KiB + a slot) and is cut into
// MSS-sized TCP segments or gso_size UDP datagrams, one slot each, resuming from `state` on the next call when the slots run out. A read that does not
// check out gets size -ReadDrop. Returns the slots filled, or -1 with errno (EAGAIN: nothing to
// read) when none were. `ethernet`: a TAP, whose packets are Ethernet frames (the segments keep
// the frame's header). `ring`: read through io_uring in batches (tun_ring.h), or null: readv.
// `whole` (or null; kWholeSendWords per slot, count of them; a TUN only): a TSO packet that
// WholeSendEligible passes is not cut: it stays in `scratch`, its slot gets its first segment
// (checksum left partial) and the slot's words say where it waits (tunnel_gso_frame.h
// NoteWholeSend), other slots' words are zeroed; up to kMaxWholeReads of them a call, each
// spilling at its own place (the scratch then holds room + kGsoSpill bytes per packet, rounded to 64).
int64_t ReadSegmented(TunRing* ring, int fd, uint8_t* slab, int64_t slotSize, int64_t offset, int64_t count, int32_t* sizes,
                      uint8_t* scratch, size_t scratchLength, int32_t* state, bool ethernet, int32_t* whole);

// For each packet slab[offsets[i] .. + lengths[i]], i < count ≤ kMaxBatchPackets, read from this
// TUN and written back to it (the same-node hairpin): whether it is the first segment of a TSO
// packet ReadSegmented kept whole, by its slot's `words` (kWholeSendWords per slot, offsets[i] /
// slotSize, wordsLength long), which FindWholeSendPacket checks against the packet in `area`; each
// such packet becomes a held run of WriteCoalesced, written from the area as the pod sent it.
// Returns how many are.
uint32_t FindReadWholeWrites(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                             int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out);

// What TUNSETOFFLOAD said to USO4/6: refused (EINVAL: a kernel before 6.2, which takes no
// GSO_UDP_L4 either) turns the coalescing of UDP runs off for the process.
void NoteTunUso(bool on);

// Writes packets slab[offsets[i] .. + lengths[i]], i < count, each behind a virtio_net_hdr; with
// `coalesce`, the TCP segments (or same-size UDP datagrams) of each flow go as one GSO packet per
// run, even with other flows' packets between them (gso_coalesce.h PlanBatch).
// `ethernet`: a TAP's frames, whose MACs must match too. `whole` (or null, and only with
// `coalesce`): packets that stand for whole TSO packets or TCP runs (received_whole.h), each
// written as one GSO packet from where it waits, added to *wholeWritten; one the kernel refuses adds the segments
// it stands for beyond its one packet to *wholeUnwritten. Returns the packets written and adds
// the writev calls made to *syscalls.
int64_t WriteCoalesced(int fd, uint8_t* slab, const int32_t* offsets, const int32_t* lengths, int64_t count, bool coalesce,
                       bool ethernet, const WholeWrites* whole, int64_t* syscalls, int64_t* wholeWritten, int64_t* wholeUnwritten);

}  // namespace vxroute
