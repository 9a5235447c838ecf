// io_uring set up with raw syscalls (no liburing: the arm64 cross-build takes no new library).
// Ring protocol (io_uring(7), liburing's src/queue.c): the application writes SQEs, then
// publishes the SQ tail with a release store; it reads the CQ tail with an acquire load before it
// reads the CQEs, and hands them back with a release store of the CQ head. The kernel's side
// pairs with these, so the order holds on arm64 as on x86.
#include "tun_ring.h"

#include "ring_completion.h"

#include <linux/fs.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace vxroute {

namespace {

int IoUringSetup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}

int IoUringEnter(int fd, unsigned toSubmit, unsigned minComplete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, toSubmit, minComplete, flags, nullptr, 0));
}

void* MapRing(int fd, size_t size, off_t offset) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  return p == MAP_FAILED ? nullptr : p;
}

uint32_t* Word(void* base, uint32_t offset) {
  return reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(base) + offset);
}

// Copies a region's `length` bytes over an iovec list, as readv would have filled it.
void Scatter(const uint8_t* from, size_t length, const iovec* iov, int iovcnt) {
  for (int i = 0; i < iovcnt && length > 0; i++) {
    const size_t n = std::min(length, iov[i].iov_len);
    std::memcpy(iov[i].iov_base, from, n);
    from += n;
    length -= n;
  }
}

size_t Total(const iovec* iov, int iovcnt) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  return total;
}

// Whether a read of r bytes went past the slot into the scratch (the last of several iovecs).
bool Spilled(ssize_t r, const iovec* iov, int iovcnt) {
  return iovcnt > 1 && static_cast<size_t>(r) > Total(iov, iovcnt - 1);
}

ssize_t PlainReadv(int fd, const iovec* iov, int iovcnt) {
  ssize_t r;
  do {
    r = readv(fd, iov, iovcnt);
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace

TunRing* TunRing::Open(size_t regionSize) {
  if (regionSize == 0 || regionSize > (size_t{1} << 20)) {
    errno = EINVAL;
    return nullptr;
  }
  TunRing* ring = new (std::nothrow) TunRing();
  if (ring == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  ring->regionSize_ = regionSize;
  if (!ring->Setup()) {
    const int err = errno;
    delete ring;
    errno = err;
    return nullptr;
  }
  return ring;
}

bool TunRing::Setup() {
  io_uring_params p;
  std::memset(&p, 0, sizeof p);
  // One thread submits (6.0); completions need no task work interrupting it (5.19).
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  ringFd_ = IoUringSetup(kRingDepth, &p);
  if (ringFd_ < 0 && errno == EINVAL) {
    std::memset(&p, 0, sizeof p);
    ringFd_ = IoUringSetup(kRingDepth, &p);
  }
  if (ringFd_ < 0) return false;
  if (p.sq_entries < kRingDepth || p.cq_entries < kRingDepth) {
    errno = EINVAL;
    return false;
  }
  sqMapSize_ = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  cqMapSize_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) sqMapSize_ = cqMapSize_ = std::max(sqMapSize_, cqMapSize_);
  sqMap_ = MapRing(ringFd_, sqMapSize_, IORING_OFF_SQ_RING);
  if (sqMap_ == nullptr) return false;
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    cqMap_ = sqMap_;
  } else {
    cqMap_ = MapRing(ringFd_, cqMapSize_, IORING_OFF_CQ_RING);
    if (cqMap_ == nullptr) return false;
  }
  sqesMapSize_ = p.sq_entries * sizeof(io_uring_sqe);
  sqesMap_ = MapRing(ringFd_, sqesMapSize_, IORING_OFF_SQES);
  if (sqesMap_ == nullptr) return false;
  sqHead_ = Word(sqMap_, p.sq_off.head);
  sqTail_ = Word(sqMap_, p.sq_off.tail);
  sqMask_ = *Word(sqMap_, p.sq_off.ring_mask);
  sqArray_ = Word(sqMap_, p.sq_off.array);
  sqes_ = sqesMap_;
  cqHead_ = Word(cqMap_, p.cq_off.head);
  cqTail_ = Word(cqMap_, p.cq_off.tail);
  cqMask_ = *Word(cqMap_, p.cq_off.ring_mask);
  cqes_ = static_cast<uint8_t*>(cqMap_) + p.cq_off.cqes;
  // The regions take pages only where packets land: small packets touch one page each.
  void* regions = mmap(nullptr, regionSize_ * kRingDepth, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (regions == MAP_FAILED) return false;
  regions_ = static_cast<uint8_t*>(regions);
  return true;
}

TunRing::~TunRing() {
  if (regions_ != nullptr) munmap(regions_, regionSize_ * kRingDepth);
  if (sqesMap_ != nullptr) munmap(sqesMap_, sqesMapSize_);
  if (cqMap_ != nullptr && cqMap_ != sqMap_) munmap(cqMap_, cqMapSize_);
  if (sqMap_ != nullptr) munmap(sqMap_, sqMapSize_);
  if (ringFd_ >= 0) close(ringFd_);
}

void TunRing::EndCall(uint32_t* enters, uint32_t* reads) {
  drained_ = false;
  *enters = enters_;
  *reads = reads_;
  enters_ = reads_ = 0;
}

bool TunRing::Submit(int fd, uint32_t reads, size_t slotBytes) {
  uint32_t tail = __atomic_load_n(sqTail_, __ATOMIC_RELAXED);
  auto* sqes = static_cast<io_uring_sqe*>(sqes_);
  for (uint32_t i = 0; i < reads; i++, tail++) {
    const uint32_t index = tail & sqMask_;
    io_uring_sqe* sqe = &sqes[index];
    std::memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_READ;
    sqe->fd = fd;
    sqe->addr = reinterpret_cast<uint64_t>(regions_ + i * regionSize_);
    sqe->len = static_cast<uint32_t>(regionSize_);
    sqe->off = ~uint64_t{0};  // the file's own position: a TUN queue is a stream
    sqe->rw_flags = RWF_NOWAIT;  // an empty queue completes the read with -EAGAIN instead of arming a poll
    sqe->user_data = i;
    sqArray_[index] = index;
  }
  __atomic_store_n(sqTail_, tail, __ATOMIC_RELEASE);
  enters_++;
  reads_ += reads;

  bool seen[kRingDepth] = {};
  uint32_t completed = 0;
  bool refused = false;
  for (;;) {
    uint32_t head = __atomic_load_n(cqHead_, __ATOMIC_RELAXED);
    const uint32_t cqTail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
    for (; head != cqTail; head++) {
      const io_uring_cqe& cqe = static_cast<const io_uring_cqe*>(cqes_)[head & cqMask_];
      if (!AcceptCompletion(cqe.user_data, cqe.res, cqe.flags, reads, seen, results_)) refused = true;
      completed++;
    }
    __atomic_store_n(cqHead_, head, __ATOMIC_RELEASE);
    const uint32_t unsubmitted = tail - __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
    if (completed >= reads && unsubmitted == 0) break;
    // Reads of an O_NONBLOCK file finish inside the call; waiting for all of them is a formality
    // that also covers a kernel that runs them elsewhere.
    if (IoUringEnter(ringFd_, unsubmitted, reads > completed ? reads - completed : 0, IORING_ENTER_GETEVENTS) < 0 &&
        errno != EINTR && errno != EAGAIN && errno != EBUSY) {
      broken_ = true;
      return false;
    }
  }
  // Hand out the packets in the order of the reads; the reads that found the queue empty leave gaps.
  filled_ = next_ = 0;
  drained_ = false;
  for (uint32_t i = 0; i < reads; i++) {
    if (seen[i] && results_[i] == -EOPNOTSUPP) broken_ = true;  // a TUN without IOCB_NOWAIT reads (older kernels)
    if (!seen[i] || results_[i] == -EAGAIN || results_[i] == -EOPNOTSUPP) {
      drained_ = true;
      continue;
    }
    results_[filled_] = results_[i];
    regionOf_[filled_] = i;
    filled_++;
  }
  if (refused) broken_ = true;  // the kernel said something these reads cannot mean: readv from now on
  want_ = filled_ == reads ? std::min(2 * reads, kRingDepth) : filled_ + 1;
  for (uint32_t i = 0; i < filled_; i++) {
    if (results_[i] > 0 && static_cast<size_t>(results_[i]) > slotBytes) want_ = 1;  // TSO packets: readv, no copy
  }
  return true;
}

ssize_t TunRing::Readv(int fd, const iovec* iov, int iovcnt, int64_t slotsLeft) {
  if (next_ == filled_ && drained_) {
    drained_ = false;
    errno = EAGAIN;
    return -1;
  }
  if (next_ == filled_) {
    const uint32_t reads = static_cast<uint32_t>(std::min<int64_t>(std::min<int64_t>(want_, slotsLeft), kRingDepth));
    if (broken_ || reads <= 1 || Total(iov, iovcnt) > regionSize_) {
      const ssize_t r = PlainReadv(fd, iov, iovcnt);
      // A packet that spilled past the slot (a TSO packet) is read best where it lands: no copy.
      if (r >= 0) want_ = Spilled(r, iov, iovcnt) ? 1 : std::max(want_, 2u);
      return r;
    }
    if (!Submit(fd, reads, Total(iov, iovcnt > 1 ? iovcnt - 1 : iovcnt))) return PlainReadv(fd, iov, iovcnt);
    if (filled_ == 0) {
      drained_ = false;
      errno = EAGAIN;
      return -1;
    }
  }
  const uint32_t i = next_++;
  const int32_t res = results_[i];
  if (res < 0) {
    errno = -res;
    return -1;
  }
  Scatter(regions_ + regionOf_[i] * regionSize_, std::min(static_cast<size_t>(res), regionSize_), iov, iovcnt);
  return res;
}

ssize_t TunReadv(TunRing* ring, int fd, const iovec* iov, int iovcnt, int64_t slotsLeft) {
  return ring != nullptr ? ring->Readv(fd, iov, iovcnt, slotsLeft) : PlainReadv(fd, iov, iovcnt);
}

}  // namespace vxroute
