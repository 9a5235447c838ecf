// Batched TUN reads through io_uring: up to kRingDepth reads of one queue in one io_uring_enter.
// The queue's fd is O_NONBLOCK, so each read runs at submission and one that finds the queue
// empty completes with -EAGAIN (io_uring sets REQ_F_NOWAIT for O_NONBLOCK files): no read is
// left in flight after the call, and the kernel never writes into memory the caller reads.
// Packets land in the ring's own regions and are handed out one by one, with readv's semantics,
// so the per-packet code (tun_offload.cc ReadSegmented) stays as it was. Measured against one
// readv per packet in docs/decisions.md ("Batched TUN reads").
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace vxroute {

// Reads submitted in one io_uring_enter at most; the number grows from 1 (a plain readv, no
// copy) while every read of the last batch found a packet, shrinks to what the last one found,
// and falls back to 1 after a TSO packet (copying 64 KiB costs more than the syscall it saves).
constexpr uint32_t kRingDepth = 32;

class TunRing {
 public:
  // Sets up a ring whose reads take up to `regionSize` bytes each. On failure returns null with
  // errno (ENOSYS: no io_uring; EPERM: kernel.io_uring_disabled or a seccomp profile).
  static TunRing* Open(size_t regionSize);
  ~TunRing();
  TunRing(const TunRing&) = delete;
  TunRing& operator=(const TunRing&) = delete;

  // readv(fd, iov, iovcnt) as the caller sees it: the next packet of the queue (its full length,
  // which may exceed the iov as a TUN read's does), or -1 with errno (EAGAIN: none ready).
  // `slotsLeft`: how many more packets the caller can take now; reads beyond it are not asked for.
  ssize_t Readv(int fd, const iovec* iov, int iovcnt, int64_t slotsLeft);

  size_t regionSize() const { return regionSize_; }
  // Packets read from the queue and not yet handed out: the caller must not wait on the fd.
  uint32_t buffered() const { return filled_ - next_; }
  // io_uring_enter calls and reads submitted since the last EndCall; an empty queue seen in
  // this call says nothing about the next one.
  void EndCall(uint32_t* enters, uint32_t* reads);

 private:
  TunRing() = default;
  bool Setup();
  // Submits `reads` reads and collects their completions into results_; false with errno if
  // io_uring_enter failed before any completed. A packet longer than `slotBytes` (a TSO packet)
  // sends the next read back to a plain readv, which puts it in place without a copy.
  bool Submit(int fd, uint32_t reads, size_t slotBytes);

  int ringFd_ = -1;
  void* sqMap_ = nullptr;
  size_t sqMapSize_ = 0;
  void* cqMap_ = nullptr;
  size_t cqMapSize_ = 0;
  void* sqesMap_ = nullptr;
  size_t sqesMapSize_ = 0;
  uint8_t* regions_ = nullptr;
  size_t regionSize_ = 0;

  // Ring words shared with the kernel (include/uapi/linux/io_uring.h io_sqring_offsets / io_cqring_offsets).
  uint32_t* sqTail_ = nullptr;
  uint32_t* sqHead_ = nullptr;
  uint32_t sqMask_ = 0;
  uint32_t* sqArray_ = nullptr;
  void* sqes_ = nullptr;
  uint32_t* cqHead_ = nullptr;
  uint32_t* cqTail_ = nullptr;
  uint32_t cqMask_ = 0;
  void* cqes_ = nullptr;

  // The last batch: the result of read i (a length or -errno) in order; next_ is handed out next.
  int32_t results_[kRingDepth] = {};
  uint32_t regionOf_[kRingDepth] = {};
  uint32_t filled_ = 0;
  uint32_t next_ = 0;
  uint32_t want_ = 1;
  // The last batch ended at an empty queue: say EAGAIN once when it is handed out, without a syscall.
  bool drained_ = false;
  // A completion made no sense or io_uring_enter failed: plain readv from then on.
  bool broken_ = false;
  uint32_t enters_ = 0;
  uint32_t reads_ = 0;
};

// readv on a TUN queue: through `ring` when there is one, else the plain syscall.
ssize_t TunReadv(TunRing* ring, int fd, const iovec* iov, int iovcnt, int64_t slotsLeft);

}  // namespace vxroute
