// The tunnel-GSO send (Linux 6.16+): sendBatch hands the runs it would send as UDP GSO messages
// here first; those that pass PlanTunnelRun leave as one frame each, written to this shard's queue
// of the egress TAP, and the rest of the batch goes on to sendmmsg. The state words (addon.ts
// TunnelState) hold the configuration JS set once and the counters it takes.
#pragma once

#include "tunnel_gso_frame.h"
#include "tun_offload.h"
#include "udp_batch.h"

#include <napi.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace vxroute {

enum TunnelState : size_t {
  kTunnelOn = 0,           // 1: runs go to the TAP; the caller turns it off (a FORWARD drop, --send-path cut)
  kTunnelTapFd = 1,        // this shard's queue of the egress TAP
  kTunnelMaxDatagram = 2,  // longest datagram (UDP payload) one segment may be: underlay MTU − outer IP − UDP
  kTunnelFamily = 3,       // 4 or 6: the outer headers
  kTunnelFrames = 4,       // frames written (the caller takes and zeroes these four)
  kTunnelSegments = 5,     // the datagrams those frames stand for
  kTunnelFallbacks = 6,    // runs whose TAP write failed, sent with sendmmsg instead
  kTunnelUnfit = 7,        // runs of ≥ 2 datagrams that failed PlanTunnelRun's check, sent with sendmmsg
  kTunnelLastErrno = 8,    // the last failed write's errno
  kTunnelMac = 9,          // 2 words: the TAP's MAC
  kTunnelLocal = 11,       // 4 words: our underlay address, network order bytes
  kTunnelPortCount = 15,   // source ports: one per sending socket, in the order of sendBatch's fds
  kTunnelPorts = 16,
  kTunnelWholeFrames = kTunnelPorts + 64,  // of the frames, those that carried a TSO packet read whole (never cut)
  kTunnelWholeCut = kTunnelWholeFrames + 1,  // TSO packets read whole and cut at the send (path off, a failed write, unfit)
  kTunnelSingles = kTunnelWholeCut + 1,  // lone datagrams written through the TAP as they are
  kTunnelStateWords = kTunnelSingles + 1,
};

// Writes the tunnel-fit runs among datagrams [0, count) (sendBatch's send order: iovs, lengths,
// 4 host-order address words and socket index each) to the TAP, then compacts the four arrays to
// the datagrams left for sendmmsg and returns their count; `written` gets the datagrams that left
// in frames. A run leaves as frames of its longest prefixes that fit (tunnel_gso_frame.h); once a
// datagram of a socket is left to sendmmsg (a single one, a rest, a run whose write failed), the
// socket's later runs in the batch are too, so that within a flow (a socket) nothing is overtaken.
// A lone datagram (a run of one, what is left of a run, or a head no frame can start with) ahead of
// a whole TSO packet of its socket is written through the TAP as it is.
// `port`: the destination (VXLAN) port. `wholeOf[k]` (compacted with the rest): datagram k is the
// first segment of that whole TSO packet (FindWholeSend), which goes alone as one frame of the whole
// packet (PlanWholeFrame) or, when it cannot, is left for CutWholeLeft. `written` gets the packets
// (segments) that left in frames.
uint32_t SendTunnelRuns(int32_t* state, uint16_t port, iovec* iovs, int32_t* lengths, uint32_t* addrs, uint8_t* socketOf,
                        const WholeSend** wholeOf, uint32_t count, uint32_t* written);

// Room for one whole TSO packet cut into datagrams: every segment's VXLAN, inner Ethernet, IPv6
// and TCP headers with options, and 64 KiB of payload.
constexpr size_t kWholeCutBytes = kMaxGsoSegments * (8 + 14 + 40 + 60) + 65536;

// Cuts each datagram k < count with wholeOf[k] into the segments of its whole TSO packet, in its
// place in the four send-order arrays (which hold `capacity`), as the TUN read would have cut it,
// into a per-thread area of kMaxWholeReads packets. Returns the new count (0, nothing cut: more
// wholes than a read keeps, or than `capacity` holds) and sets *cut to the packets cut.
uint32_t CutWholeLeft(iovec* iovs, int32_t* lengths, uint32_t* addrs, uint8_t* socketOf, const WholeSend* const* wholeOf, uint32_t count,
                      uint32_t capacity, uint32_t* cut);

// tapTunnelVnetHdr, tunnelGsoConfigure, tunnelGsoProbe (registered with udp.cc's calls).
void InitTunnelGso(Napi::Env env, Napi::Object exports);

}  // namespace vxroute
