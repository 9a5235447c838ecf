// Inner TCP/UDP checksums a kernel peer left unfinished (CHECKSUM_PARTIAL carried across a veth
// with tx offload on, where a NIC would have filled them in): the checksum field holds only the
// folded pseudo-header sum. See docs/decisions.md, "Unfinished inner checksums".
#pragma once

#include <cstdint>

namespace vxroute {

// If the IP packet in `frame` (len bytes; an Ethernet frame on a TAP: `ethernet`) is TCP or UDP whose checksum field equals the
// folded pseudo-header sum while the full checksum is invalid, finishes the checksum in place and
// returns true; anything else is left as it is.
bool FinishPartialChecksum(uint8_t* frame, uint32_t len, bool ethernet);

}  // namespace vxroute
