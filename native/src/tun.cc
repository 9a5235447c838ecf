// TUN/TAP queues: open by name (one fd per queue with IFF_MULTI_QUEUE) and move batches of
// packets between a queue and a caller-owned slab. A TUN fd gives one packet per read/write;
// one opened with IFF_VNET_HDR puts a virtio_net_hdr in front of each (tun_offload.cc).
#include "addon.h"
#include "partial_checksum.h"
#include "gso_coalesce.h"
#include "received_whole.h"
#include "tun_offload.h"
#include "tunnel_gso_frame.h"
#include "tun_ring.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vxroute {

static_assert(kMaxBatch <= kMaxBatchPackets, "a coalescing plan holds a whole batch");

namespace {

constexpr int64_t kTap = 1;
constexpr int64_t kMultiQueue = 2;
constexpr int64_t kVnetHdr = 4;
constexpr int64_t kTso = 8;

// TUN_F_USO4/6 of include/uapi/linux/if_tun.h (Linux 6.2), which Debian 12's headers lack.
constexpr unsigned kTunFUso4 = 0x20;
constexpr unsigned kTunFUso6 = 0x40;

// readBatch / writeBatch flags: the queue carries a virtio_net_hdr; coalesce TCP runs on write.
// With kIoVnetHdr a read cuts TSO packets into segments (a scratch buffer and state are needed).
constexpr int64_t kIoVnetHdr = 1;
constexpr int64_t kIoCoalesce = 2;
constexpr int64_t kIoEthernet = 8;  // a TAP: packets are Ethernet frames
// writeBatch: finish inner checksums a kernel peer left unfinished (partial_checksum.h), counted in stats[1].
constexpr int64_t kIoFinishChecksums = 16;
// writeBatch: the whole words and area are this queue's own read's (tunnel_gso_frame.h WholeSendWord),
// not a receive's: packets read from the TUN and written back to it (the same-node hairpin).
constexpr int64_t kIoWholeRead = 32;

// An optional trailing flags argument (0 when absent).
bool OptionalFlags(const Napi::CallbackInfo& info, size_t i, int64_t* flags) {
  *flags = 0;
  return i >= info.Length() || info[i].IsUndefined() || ArgInt(info, i, flags);
}

Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t flags;
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "tunOpen: expected a device name");
    return env.Undefined();
  }
  if (!ArgInt(info, 1, &flags)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowRange(env, "tunOpen: device name must be 1..15 bytes");
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open /dev/net/tun", errno,
               errno == ENOENT ? "the tun module is not loaded: modprobe tun" : nullptr);
    return env.Undefined();
  }
  ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = static_cast<short>(((flags & kTap) ? IFF_TAP : IFF_TUN) | IFF_NO_PI |
                                     ((flags & kMultiQueue) ? IFF_MULTI_QUEUE : 0) |
                                     ((flags & kVnetHdr) ? IFF_VNET_HDR : 0));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    const char* hint = nullptr;
    if (err == EINVAL) hint = "a device of that name exists with other flags: delete it or pick another name";
    if (err == EPERM) hint = "needs CAP_NET_ADMIN";
    if (err == EBUSY) hint = "the device is in use by another process";
    ThrowErrno(env, "ioctl TUNSETIFF", err, hint);
    return env.Undefined();
  }
  // Let the kernel hand over TCP packets of up to 64 KiB with partial checksums, and UDP ones a
  // pod sent with UDP_SEGMENT where it can (USO, Linux 6.2; EINVAL before): fewer reads, and the
  // sender's stack works per super-packet; ReadSegmented cuts them.
  bool uso = false;
  if (flags & kTso) {
    const unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    uso = ioctl(fd, TUNSETOFFLOAD, offloads | kTunFUso4 | kTunFUso6) == 0;
    if (!uso && (errno != EINVAL || ioctl(fd, TUNSETOFFLOAD, offloads) < 0)) {
      int err = errno;
      close(fd);
      ThrowErrno(env, "ioctl TUNSETOFFLOAD", err);
      return env.Undefined();
    }
    NoteTunUso(uso);
  }
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("fd", Napi::Number::New(env, fd));
  handle.Set("name", Napi::String::New(env, ifr.ifr_name));
  handle.Set("uso", Napi::Boolean::New(env, uso));
  return handle;
}

// tunRingOpen(regionSize): a ring for batched reads of one queue (tun_ring.h), each read taking
// up to regionSize bytes (what readBatch's iovecs hold). Throws with the errno when io_uring is
// unavailable (ENOSYS, EPERM: kernel.io_uring_disabled or a seccomp profile): the caller reads with readv.
Napi::Value TunRingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t regionSize;
  if (!ArgInt(info, 0, &regionSize)) return env.Undefined();
  if (regionSize < 1 || regionSize > (1 << 20)) {
    ThrowRange(env, "tunRingOpen: regionSize must be 1..1048576");
    return env.Undefined();
  }
  TunRing* ring = TunRing::Open(static_cast<size_t>(regionSize));
  if (ring == nullptr) {
    ThrowErrno(env, "io_uring_setup", errno);
    return env.Undefined();
  }
  return Napi::External<TunRing>::New(env, ring, [](Napi::Env, TunRing* r) { delete r; });
}

// tunRingProbe(): 0 when a ring for batched reads can be set up here, else the errno that refused it.
Napi::Value TunRingProbe(const Napi::CallbackInfo& info) {
  TunRing* ring = TunRing::Open(1);
  const int err = ring == nullptr ? errno : 0;
  delete ring;
  return Napi::Number::New(info.Env(), err);
}

// readBatch's optional ring (argument 9) and its counters (argument 10, 3 words): packets read
// ahead and not yet handed out; io_uring_enter calls and reads submitted in this call.
constexpr size_t kRingStatsWords = 3;

bool OptionalRing(const Napi::CallbackInfo& info, TunRing** ring, int32_t** stats) {
  *ring = nullptr;
  if (info.Length() <= 9 || info[9].IsUndefined() || info[9].IsNull()) return true;
  if (!info[9].IsExternal()) {
    ThrowType(info.Env(), "readBatch: argument 9 must be a ring from tunRingOpen");
    return false;
  }
  size_t length;
  if (!ArgInt32Array(info, 10, stats, &length)) return false;
  if (length < kRingStatsWords) {
    ThrowRange(info.Env(), "readBatch: the ring's stats must hold 3 words");
    return false;
  }
  *ring = info[9].As<Napi::External<TunRing>>().Data();
  return true;
}

void CountRing(TunRing* ring, int32_t* stats) {
  if (ring == nullptr) return;
  uint32_t enters, reads;
  ring->EndCall(&enters, &reads);
  stats[0] = static_cast<int32_t>(ring->buffered());
  stats[1] = static_cast<int32_t>(enters);
  stats[2] = static_cast<int32_t>(reads);
}

Napi::Value ReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slotSize, offset, count;
  uint8_t* slab;
  size_t slabLength, sizesLength;
  int32_t* sizes;
  int64_t flags;
  TunRing* ring;
  int32_t* ringStats = nullptr;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &slab, &slabLength) || !ArgInt(info, 2, &slotSize) ||
      !ArgInt(info, 3, &offset) || !ArgInt(info, 4, &count) || !ArgInt32Array(info, 5, &sizes, &sizesLength) ||
      !OptionalFlags(info, 6, &flags) || !CheckSlots(env, slabLength, slotSize, offset, count, sizesLength) ||
      !OptionalRing(info, &ring, &ringStats)) {
    return env.Undefined();
  }
  if (flags & kIoVnetHdr) {
    uint8_t* scratch;
    size_t scratchLength, stateLength;
    int32_t* state;
    if (!ArgBuffer(info, 7, &scratch, &scratchLength) || !ArgInt32Array(info, 8, &state, &stateLength)) return env.Undefined();
    if (scratchLength < static_cast<size_t>(slotSize - offset) + kGsoSpill || stateLength < kReadStateWords) {
      ThrowRange(env, "readBatch: the scratch buffer must hold a slot and 64 KiB, the state SEGMENT_STATE_WORDS words");
      return env.Undefined();
    }
    // Argument 11: the slots' whole-send words (tunnel_gso_frame.h), or undefined: every TSO packet is cut.
    int32_t* whole = nullptr;
    size_t wholeLength = 0;
    if (info.Length() > 11 && !info[11].IsUndefined()) {
      if (!ArgInt32Array(info, 11, &whole, &wholeLength)) return env.Undefined();
      if (wholeLength < static_cast<size_t>(count) * kWholeSendWords || (flags & kIoEthernet) != 0) {
        ThrowRange(env, "readBatch: whole TSO reads need a TUN and WHOLE_WORDS words per slot");
        return env.Undefined();
      }
    }
    int64_t n = ReadSegmented(ring, static_cast<int>(fd), slab, slotSize, offset, count, sizes, scratch, scratchLength, state,
                              (flags & kIoEthernet) != 0, whole);
    const int err = errno;
    CountRing(ring, ringStats);
    if (n < 0 && err != EAGAIN) {
      ThrowErrno(env, "read", err);
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(n < 0 ? 0 : n));
  }
  int64_t n = 0;
  while (n < count) {
    uint8_t* p = slab + n * slotSize + offset;
    iovec iov = {p, static_cast<size_t>(slotSize - offset)};
    ssize_t r = TunReadv(ring, static_cast<int>(fd), &iov, 1, count - n);
    if (r < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) break;
      if (n > 0) break;  // report what was read; the error recurs on the next call
      CountRing(ring, ringStats);
      ThrowErrno(env, "read", err);
      return env.Undefined();
    }
    sizes[n++] = static_cast<int32_t>(r);
  }
  CountRing(ring, ringStats);
  return Napi::Number::New(env, static_cast<double>(n));
}

// writeBatch's optional whole TSO packets (arguments 7–9): the receive's slot words, its receive
// area and the slots' size (received_whole.h), or with kIoWholeRead the read's words and area
// (tun_offload.h FindReadWholeWrites). Null when absent or none of the batch is one.
const WholeWrites* ArgWholeWrites(const Napi::CallbackInfo& info, const uint8_t* slab, const int32_t* offsets,
                                  const int32_t* lengths, int64_t count, int64_t flags, bool* ok) {
  *ok = true;
  if (info.Length() <= 7 || info[7].IsUndefined()) return nullptr;
  int32_t* words;
  uint8_t* area;
  size_t wordsLength, areaLength;
  int64_t slotSize;
  *ok = ArgInt32Array(info, 7, &words, &wordsLength) && ArgBuffer(info, 8, &area, &areaLength) && ArgInt(info, 9, &slotSize);
  if (!*ok) return nullptr;
  if ((flags & (kIoVnetHdr | kIoCoalesce)) != (kIoVnetHdr | kIoCoalesce) || slotSize <= 0) {
    ThrowRange(info.Env(), "writeBatch: whole TSO packets need IO_VNET_HDR | IO_COALESCE and a slot size");
    *ok = false;
    return nullptr;
  }
  thread_local WholeWrites whole;  // 24 KiB: kept off the worker's stack
  // A read's whole packets go back as they were read (the same-node hairpin); a TAP's packets are
  // the frames of the segments (switch mode).
  const auto find = (flags & kIoWholeRead) != 0 ? FindReadWholeWrites : (flags & kIoEthernet) != 0 ? FindWholeFrames : FindWholeWrites;
  return find(words, wordsLength, area, areaLength, slab, slotSize, offsets, lengths, count, &whole) > 0 ? &whole : nullptr;
}

Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, count, flags;
  uint8_t* slab;
  size_t slabLength, offsetsLength, lengthsLength, statsLength = 0;
  int32_t *offsets, *lengths, *stats = nullptr;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &slab, &slabLength) ||
      !ArgInt32Array(info, 2, &offsets, &offsetsLength) || !ArgInt32Array(info, 3, &lengths, &lengthsLength) ||
      !ArgInt(info, 4, &count) || !OptionalFlags(info, 5, &flags) ||
      (info.Length() > 6 && !info[6].IsUndefined() && !ArgInt32Array(info, 6, &stats, &statsLength)) ||
      !CheckSpans(env, slabLength, offsets, offsetsLength, lengths, lengthsLength, count)) {
    return env.Undefined();
  }
  bool ok;
  const WholeWrites* whole = ArgWholeWrites(info, slab, offsets, lengths, count, flags, &ok);
  if (!ok) return env.Undefined();
  if (flags & kIoFinishChecksums) {
    int64_t finished = 0;
    for (int64_t i = 0; i < count; i++) {
      // A whole TSO packet's first segment is not what is written: its checksum stays partial.
      if (whole != nullptr && whole->at[i] != 0) continue;
      finished += FinishPartialChecksum(slab + offsets[i], static_cast<uint32_t>(lengths[i]), (flags & kIoEthernet) != 0);
    }
    if (statsLength > 1) stats[1] += static_cast<int32_t>(finished);
  }
  if (flags & kIoVnetHdr) {
    int64_t syscalls = 0, wholeWritten = 0, wholeUnwritten = 0;
    int64_t written = WriteCoalesced(static_cast<int>(fd), slab, offsets, lengths, count, (flags & kIoCoalesce) != 0,
                                     (flags & kIoEthernet) != 0, whole, &syscalls, &wholeWritten, &wholeUnwritten);
    if (statsLength > 0) stats[0] += static_cast<int32_t>(syscalls);
    if (statsLength > 2) stats[2] += static_cast<int32_t>(wholeWritten);
    if (statsLength > 3) stats[3] += static_cast<int32_t>(wholeUnwritten);
    return Napi::Number::New(env, static_cast<double>(written));
  }
  if (statsLength > 0) stats[0] += static_cast<int32_t>(count);
  int64_t written = 0;
  for (int64_t i = 0; i < count; i++) {
    ssize_t r;
    do {
      r = write(static_cast<int>(fd), slab + offsets[i], static_cast<size_t>(lengths[i]));
    } while (r < 0 && errno == EINTR);
    if (r >= 0) written++;  // a rejected packet (e.g. EINVAL for a malformed one) is skipped
  }
  return Napi::Number::New(env, static_cast<double>(written));
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunRingProbe", Napi::Function::New(env, TunRingProbe, "tunRingProbe"));
  exports.Set("tunRingOpen", Napi::Function::New(env, TunRingOpen, "tunRingOpen"));
  exports.Set("readBatch", Napi::Function::New(env, ReadBatch, "readBatch"));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch, "writeBatch"));
}

}  // namespace vxroute
