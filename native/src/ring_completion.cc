#include "ring_completion.h"

#include <linux/io_uring.h>

namespace vxroute {

bool AcceptCompletion(uint64_t userData, int32_t res, uint32_t flags, uint32_t submitted, bool* seen, int32_t* results) {
  if (userData >= submitted || seen[userData]) return false;
  if (flags & (IORING_CQE_F_BUFFER | IORING_CQE_F_MORE)) return false;
  seen[userData] = true;
  results[userData] = res;
  return true;
}

}  // namespace vxroute
