// The tunnel-GSO send (Linux 6.16+): sendBatch hands the runs it would send as UDP GSO messages
// here first; those that pass PlanTunnelRun leave as one frame each, written to this shard's queue
// of the egress TAP, and the rest of the batch goes on to sendmmsg. The state words (addon.ts
// TunnelState) hold the configuration JS set once and the counters it takes.
#pragma once

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
  kTunnelStateWords = kTunnelPorts + 64,
};

// Writes the tunnel-fit runs among datagrams [0, count) (sendBatch's send order: iovs, lengths,
// 4 host-order address words and socket index each) to the TAP, then compacts the four arrays to
// the datagrams left for sendmmsg and returns their count; `written` gets the datagrams that left
// in frames. A run leaves as frames of its longest prefixes that fit (tunnel_gso_frame.h); once a
// datagram of a socket is left to sendmmsg (a single one, a rest, a run whose write failed), the
// socket's later runs in the batch are too, so that within a flow (a socket) nothing is overtaken.
// `port`: the destination (VXLAN) port.
uint32_t SendTunnelRuns(int32_t* state, uint16_t port, iovec* iovs, int32_t* lengths, uint32_t* addrs, uint8_t* socketOf,
                        uint32_t count, uint32_t* written);

// tapTunnelVnetHdr, tunnelGsoConfigure, tunnelGsoProbe (registered with udp.cc's calls).
void InitTunnelGso(Napi::Env env, Napi::Object exports);

}  // namespace vxroute
