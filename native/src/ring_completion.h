// The checks on an io_uring completion of a TUN read (tun_ring.cc), kept apart so that a fuzzer
// can drive them with any words the kernel could write into the completion queue.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vxroute {

// Takes completion (userData, res, flags) of a batch of `submitted` reads whose regions hold
// `regionSize` bytes into results[userData]: a length 0..regionSize, or -errno. A completion
// for no read of the batch, a second one for a read, one carrying a buffer id (these reads
// select none) or a "more to come" flag (they are single-shot) is refused: returns false.
// A length beyond the region (a TUN read reports a packet's whole length when it did not fit)
// is kept as it is, for the caller to copy only the region.
bool AcceptCompletion(uint64_t userData, int32_t res, uint32_t flags, uint32_t submitted, bool* seen, int32_t* results);

}  // namespace vxroute
