// virtio_net_hdr on a TUN opened with IFF_VNET_HDR (include/uapi/linux/virtio_net.h): reads
// strip it, checking it and cutting TSO packets (tso_split.cc); plain writes prepend a zero one,
// and coalescing writes turn runs of one flow into one GSO super-packet (gso_coalesce.cc).
#include "tun_offload.h"

#include "gso_coalesce.h"
#include "received_whole.h"
#include "tso_split.h"
#include "tun_ring.h"
#include "tunnel_gso_frame.h"
#include "virtio_net_hdr.h"

#include <netinet/in.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vxroute {

namespace {

// Whether the kernel takes GSO_UDP_L4 from a TUN (Linux 6.2): off when TUNSETOFFLOAD refused
// USO (NoteTunUso) or on the first refusal of a write.
std::atomic<bool> udpGsoUsable{true};

ssize_t WriteFully(int fd, const iovec* iov, int n) {
  ssize_t r;
  do {
    r = writev(fd, iov, n);
  } while (r < 0 && errno == EINTR);
  return r;
}

const VirtioNetHdr kNoOffload{};

// Writes one packet as it is, behind a header that asks nothing of the kernel.
bool WritePlain(int fd, uint8_t* p, uint32_t len) {
  iovec iov[2] = {{const_cast<VirtioNetHdr*>(&kNoOffload), sizeof kNoOffload}, {p, len}};
  return WriteFully(fd, iov, 2) >= 0;
}

// The GSO packet waiting in the scratch buffer (its TsoPlan, where it starts) and the next segment
// to cut. kGsoPacketsRead counts the TSO packets taken in, kUsoPacketsRead the USO ones,
// kWholeMorePackets the segments those kept whole stand for beyond one each, for the caller to collect.
enum PendingWord {
  kPendingLength,
  kPendingNext,
  kPendingGsoSize,
  kPendingHdrLen,
  kPendingCsumStart,
  kGsoPacketsRead,
  kPendingL2,
  kPendingSegments,
  kPendingUdp,
  kUsoPacketsRead,
  kPendingAt,
  kWholeMorePackets
};
static_assert(kWholeMorePackets < kReadStateWords, "the state holds every word");

void SavePlan(const TsoPlan& plan, size_t at, int32_t* state) {
  state[kPendingAt] = static_cast<int32_t>(at);
  state[kPendingLength] = static_cast<int32_t>(plan.length);
  state[kPendingNext] = 0;
  state[kPendingGsoSize] = static_cast<int32_t>(plan.gsoSize);
  state[kPendingHdrLen] = static_cast<int32_t>(plan.hdrLen);
  state[kPendingCsumStart] = static_cast<int32_t>(plan.csumStart);
  state[kPendingL2] = static_cast<int32_t>(plan.l2);
  state[kPendingSegments] = static_cast<int32_t>(plan.segments);
  state[kPendingUdp] = static_cast<int32_t>(plan.udp);
}

// The plan kept in `state`, if the words (in a JavaScript array) still describe one CheckTso made.
bool LoadPlan(const int32_t* state, size_t scratchLength, size_t room, TsoPlan* plan) {
  *plan = {static_cast<uint32_t>(state[kPendingLength]), static_cast<uint32_t>(state[kPendingGsoSize]),
           static_cast<uint32_t>(state[kPendingHdrLen]), static_cast<uint32_t>(state[kPendingCsumStart]),
           static_cast<uint32_t>(state[kPendingL2]), static_cast<uint32_t>(state[kPendingSegments]),
           static_cast<uint32_t>(state[kPendingUdp])};
  const uint64_t payload = plan->length - uint64_t{plan->hdrLen};
  const int64_t at = state[kPendingAt];
  const bool l4Fits = plan->udp == 1 ? plan->csumStart + 8u == plan->hdrLen : plan->udp == 0 && plan->csumStart + 20u <= plan->hdrLen;
  return at >= 0 && at + uint64_t{plan->length} <= scratchLength && plan->gsoSize > 0 && plan->hdrLen + uint64_t{plan->gsoSize} <= room &&
         plan->hdrLen < plan->length && l4Fits && plan->l2 + 20u <= plan->csumStart &&
         plan->segments == (payload + plan->gsoSize - 1) / plan->gsoSize &&
         static_cast<uint32_t>(state[kPendingNext]) < plan->segments;
}

}  // namespace

int64_t ReadSegmented(TunRing* ring, int fd, uint8_t* slab, int64_t slotSize, int64_t offset, int64_t count, int32_t* sizes,
                      uint8_t* scratch, size_t scratchLength, int32_t* state, bool ethernet, int32_t* whole) {
  const size_t room = static_cast<size_t>(slotSize - offset);
  if (whole != nullptr) std::memset(whole, 0, static_cast<size_t>(count) * kWholeSendWords * sizeof *whole);
  // Where the next read spills: after the packets this call kept whole (a pending packet is cut
  // before any read, so its place is free again by then).
  size_t at = 0;
  uint32_t kept = 0;
  int64_t n = 0;
  while (n < count) {
    if (state[kPendingLength] > 0) {
      TsoPlan plan;
      if (!LoadPlan(state, scratchLength, room, &plan)) {
        state[kPendingLength] = 0;
        continue;
      }
      uint32_t i = static_cast<uint32_t>(state[kPendingNext]);
      // A GSO packet that would not fit the rest of the batch waits whole for the next one: cut
      // across two batches it would leave as two UDP GSO sends, and reach the peer's TUN as two writes.
      if (i == 0 && n > 0 && plan.segments > count - n) return n;
      const uint8_t* pending = scratch + state[kPendingAt];
      for (; i < plan.segments && n < count; i++, n++) {
        sizes[n] = static_cast<int32_t>(CutSegment(pending, plan, i, slab + n * slotSize + offset));
      }
      state[kPendingNext] = static_cast<int32_t>(i);
      if (i == plan.segments) state[kPendingLength] = 0;
      continue;
    }
    // A packet that fits goes straight to its slot; a GSO packet spills into the scratch buffer
    // behind a copy of its start, which makes it whole there.
    if (whole != nullptr && (kept == kMaxWholeReads || at + room + kGsoSpill > scratchLength)) {
      if (n > 0) return n;  // the rest waits for the next batch, whose packets spill from the start again
      at = 0;
    }
    uint8_t* p = slab + n * slotSize + offset;
    VirtioNetHdr hdr;
    iovec iov[3] = {{&hdr, sizeof hdr}, {p, room}, {scratch + at + room, scratchLength - at - room}};
    ssize_t r = TunReadv(ring, fd, iov, 3, count - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return n > 0 ? n : -1;  // EAGAIN included: the caller tells it apart
    }
    if (static_cast<size_t>(r) < sizeof hdr) {
      sizes[n++] = -kDropBadVnetHdr;
      continue;
    }
    const size_t len = static_cast<size_t>(r) - sizeof hdr;
    if (hdr.gso_type == kGsoNone) {
      ReadDrop drop = CheckPlainRead(hdr, p, len, ethernet, room);
      sizes[n++] = drop == kReadOk ? static_cast<int32_t>(len) : -drop;
      continue;
    }
    uint8_t* packet = scratch + at;
    std::memcpy(packet, p, len < room ? len : room);
    TsoPlan plan;
    ReadDrop drop = hdr.gso_type == kGsoUdpL4 ? CheckUso(hdr, packet, len, ethernet, room, &plan)
                                              : CheckTso(hdr, packet, len, ethernet, room, &plan);
    if (drop != kReadOk) {
      sizes[n++] = -drop;
      continue;
    }
    state[plan.udp ? kUsoPacketsRead : kGsoPacketsRead]++;
    if (whole != nullptr && WholeSendEligible(plan, packet)) {
      // Its first segment for the JavaScript stages, its checksum field the pseudo-header sum the
      // send sets again; the packet stays where it was read.
      sizes[n] = static_cast<int32_t>(CutSegment(packet, plan, 0, p, false));
      NoteWholeSend(plan, static_cast<uint32_t>(at), static_cast<uint32_t>(n * slotSize + offset), whole + n * kWholeSendWords);
      state[kWholeMorePackets] += static_cast<int32_t>(plan.segments - 1);
      n++;
      kept++;
      at = (at + len + 63) & ~size_t{63};
      continue;
    }
    SavePlan(plan, at, state);
  }
  return n;
}

namespace {

// The whole TSO packet slot `offset` of the read stands for, as a held run: its headers and all
// its bytes where they wait in the area.
bool FindReadWhole(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab, int64_t slotSize,
                   int32_t offset, int32_t length, HeldRun* held, WholeSource* source) {
  if (slotSize <= 0 || offset < 0 || length <= 0) return false;
  const auto slot = static_cast<uint64_t>(offset / slotSize);
  if ((slot + 1) * kWholeSendWords > wordsLength) return false;
  WholeSend whole;
  if (!FindWholeSendPacket(words + slot * kWholeSendWords, area, areaLength, slab + offset, static_cast<uint32_t>(length), offset, &whole)) {
    return false;
  }
  // In the read's area, which the caller owns: MakeGsoHead may set the headers up for a longer run.
  uint8_t* ip = area + (whole.ip - area);
  Segment head{};
  if (!ParseSegment(ip, whole.length, 0, &head) || head.proto != IPPROTO_TCP) return false;
  *held = HeldRun{head, whole.segments, whole.gsoSize, head.payload, whole.psh};
  *source = WholeSource{false, ip, 0, 0};
  return true;
}

}  // namespace

uint32_t FindReadWholeWrites(const int32_t* words, size_t wordsLength, uint8_t* area, size_t areaLength, const uint8_t* slab,
                             int64_t slotSize, const int32_t* offsets, const int32_t* lengths, int64_t count, WholeWrites* out) {
  uint32_t found = 0;
  for (int64_t i = 0; i < count && i < kMaxBatchPackets; i++) {
    out->at[i] = FindReadWhole(words, wordsLength, area, areaLength, slab, slotSize, offsets[i], lengths[i], &out->held[i], &out->source[i]) ? 1 : 0;
    found += out->at[i];
  }
  return found;
}

void NoteTunUso(bool on) {
  if (!on) udpGsoUsable.store(false, std::memory_order_relaxed);
}

int64_t WriteCoalesced(int fd, uint8_t* slab, const int32_t* offsets, const int32_t* lengths, int64_t count, bool coalesce,
                       bool ethernet, const WholeWrites* whole, int64_t* syscalls, int64_t* wholeWritten, int64_t* wholeUnwritten) {
  if (!coalesce) {
    int64_t written = 0;
    for (int64_t i = 0; i < count; i++) {
      ++*syscalls;
      if (WritePlain(fd, slab + offsets[i], static_cast<uint32_t>(lengths[i]))) written++;
    }
    return written;
  }
  const uint32_t l2 = ethernet ? 14 : 0;
  thread_local BatchPlan plan;  // 24 KiB: kept off the worker's stack
  PlanBatch(slab, offsets, lengths, count, l2, udpGsoUsable.load(std::memory_order_relaxed), whole != nullptr ? whole->at : nullptr,
            whole != nullptr ? whole->held : nullptr, &plan);
  int64_t written = 0;
  // The header and one iovec per segment: a run holds kMaxRunPackets segments at most.
  iovec iov[kMaxRunPackets + 1];
  VirtioNetHdr hdr;
  uint8_t saved[160];  // the head's headers, to write the run plainly if the kernel refuses it
  for (uint32_t w = 0; w < plan.writes; w++) {
    const GsoRun& run = plan.runs[w];
    const int32_t first = plan.heads[w];
    uint8_t* p = slab + offsets[first];
    const auto len = static_cast<uint32_t>(lengths[first]);
    ++*syscalls;
    if (run.segments == 1) {
      if (WritePlain(fd, p, len)) written++;
      continue;
    }
    const Segment& head = run.head;
    const uint32_t headers = head.iphl + head.l4hl;
    uint32_t k = 1;
    if (run.packets == 1 && whole != nullptr && whole->at[first] != 0 && !whole->source[first].run) {
      // A TSO packet alone: written as it came, its headers untouched.
      MakeWholeTsoHead(whole->held[first], &hdr);
      k += AppendWhole(whole->held[first], whole->source[first], true, iov + k);
    } else {
      const bool heldHead = whole != nullptr && whole->at[first] != 0;
      if (!heldHead) std::memcpy(saved, p, l2 + headers);
      MakeGsoHead(run, &hdr);
      for (int32_t j = first; j >= 0; j = plan.next[j]) {
        if (whole != nullptr && whole->at[j] != 0) {
          k += AppendWhole(whole->held[j], whole->source[j], j == first, iov + k);
        } else if (j == first) {
          iov[k++] = {p, len};
        } else {
          iov[k++] = {slab + offsets[j] + l2 + headers, static_cast<size_t>(lengths[j]) - l2 - headers};
        }
      }
    }
    iov[0] = {&hdr, sizeof hdr};
    const bool ok = WriteFully(fd, iov, static_cast<int>(k)) >= 0;
    const int err = errno;
    if (ok) written += run.packets;
    if (whole != nullptr) {
      for (int32_t j = first; j >= 0; j = plan.next[j]) {
        if (whole->at[j] == 0) continue;
        if (ok) {
          ++*wholeWritten;
        } else {
          *wholeUnwritten += whole->held[j].segments - 1;
        }
      }
    }
    if (!ok && err == EINVAL && head.proto == IPPROTO_UDP) {
      // An older kernel without UDP segmentation on the TUN: from now on, datagrams go one by one.
      udpGsoUsable.store(false, std::memory_order_relaxed);
      std::memcpy(p, saved, l2 + headers);
      for (int32_t j = first; j >= 0; j = plan.next[j]) {
        ++*syscalls;
        if (WritePlain(fd, slab + offsets[j], static_cast<uint32_t>(lengths[j]))) written++;
      }
    }
  }
  return written;
}

}  // namespace vxroute
