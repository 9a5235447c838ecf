// libFuzzer harness of the whole TSO send (tunnel_gso_frame.h): a TSO packet as the TUN hands it
// over that WholeSendEligible keeps whole, its first segment encapsulated in a slot and its words
// noted as the read notes them (some word then spoiled, when the input asks). FindWholeSend must
// accept the true words and may only refuse spoiled ones; for any bytes, the frame's inner
// super-packet, cut again by tso_split.h as the kernel's segmentation would, and the send's own
// fallback cut (CutWholeSend) each give exactly the datagrams the read's cut would have sent.
// The same-node hairpin's side too: FindReadWholeWrites must accept the true words for the slot's
// unencapsulated first segment and may only refuse spoiled ones, and the GSO write it makes of an
// accepted whole (MakeWholeTsoHead, the packet from the area) is one the kernel checks as TSO and
// cuts into exactly the read's segments.
// Input: one mode byte (bit 0: IPv6 outer headers; bit 1: an underlay MTU one byte short of the
// first segment; bits 2-4: 1 + the word to spoil, 0 and 7 none; bits 5-7: what to add to it), 10
// bytes of virtio_net_hdr, the packet.
#include "invariant.h"
#include "virtio_input.h"

#include "big_endian.h"
#include "gso_coalesce.h"
#include "received_whole.h"
#include "tso_split.h"
#include "tun_offload.h"
#include "tunnel_gso_frame.h"

#include <cstring>
#include <vector>

using namespace vxroute;

namespace {

constexpr uint32_t kEncap = kVxlanBytes + 14;
constexpr uint32_t kHeadroom = 64;

// What the read's cut and encapsulation send for segment i: VXLAN and inner Ethernet from the
// slot's datagram, then the segment with its checksums.
std::vector<uint8_t> CutPath(const uint8_t* pkt, const TsoPlan& plan, uint32_t i, const uint8_t* datagram) {
  std::vector<uint8_t> out(kEncap + plan.hdrLen + plan.gsoSize);
  std::memcpy(out.data(), datagram, kEncap);
  out.resize(kEncap + CutSegment(pkt, plan, i, out.data() + kEncap));
  return out;
}

// The slot's first segment written back to the TUN (the same-node hairpin), checked by its words.
void CheckHairpin(const int32_t* words, bool spoiled, std::vector<uint8_t>& area, std::vector<uint8_t>& slot, uint32_t firstLen,
                  const std::vector<uint8_t>& pkt, const TsoPlan& plan) {
  static WholeWrites found;
  static BatchPlan batch;
  const int32_t offsets[1] = {static_cast<int32_t>(kHeadroom)};
  const int32_t lengths[1] = {static_cast<int32_t>(firstLen)};
  if (FindReadWholeWrites(words, kWholeSendWords, area.data(), area.size(), slot.data(), static_cast<int64_t>(slot.size()), offsets, lengths, 1,
                          &found) == 0) {
    Require(spoiled, "the hairpin accepts the true words");
    return;
  }
  const HeldRun& held = found.held[0];
  Require(held.segments == plan.segments && held.gsoSize == plan.gsoSize && held.head.p == area.data() + kHeadroom && held.head.len == plan.length &&
              !found.source[0].run,
          "an accepted hairpin whole is the packet read, where it waits");
  PlanBatch(slot.data(), offsets, lengths, 1, 0, true, found.at, found.held, &batch);
  Require(batch.writes == 1 && batch.runs[0].packets == 1 && batch.runs[0].segments == plan.segments, "one write of the whole");
  VirtioNetHdr hdr;
  MakeWholeTsoHead(held, &hdr);
  TsoPlan again;
  Require(CheckTso(hdr, held.head.p, held.head.len, false, kSlotRoom, &again) == kReadOk && again.segments == plan.segments,
          "the hairpin's write checks out as the TSO packet read");
  std::vector<uint8_t> want(kSlotRoom), got(kSlotRoom);
  for (uint32_t i = 0; i < plan.segments; i++) {
    const uint32_t wantLen = CutSegment(pkt.data(), plan, i, want.data());
    const uint32_t gotLen = CutSegment(held.head.p, again, i, got.data());
    Require(wantLen == gotLen && std::memcmp(want.data(), got.data(), wantLen) == 0, "the kernel's cut of the hairpin's write is the read's");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  VirtioInput in;
  if (!SplitVirtioInput(data, size, &in)) return 0;
  const bool outer6 = data[0] & 1;
  const bool shortMtu = data[0] & 2;
  const uint32_t spoil = ((data[0] >> 2) & 7) - 1;  // kWholeSendWords or more (0 - 1 wraps): none
  const int32_t by = (data[0] >> 5) + 1;
  const std::vector<uint8_t>& pkt = in.pkt;
  TsoPlan plan;
  if (CheckTso(in.hdr, pkt.data(), pkt.size(), false, kSlotRoom, &plan) != kReadOk || !WholeSendEligible(plan, pkt.data())) return 0;
  Require(plan.segments >= 2 && plan.segments <= kMaxWholeSendSegments, "2 to kMaxWholeSendSegments segments");

  // The read: the packet stays in the area, its first segment goes to a slot behind VXLAN and
  // inner Ethernet headers, as encapsulate writes them.
  std::vector<uint8_t> area(kHeadroom + pkt.size());
  std::memcpy(area.data() + kHeadroom, pkt.data(), pkt.size());
  std::vector<uint8_t> slot(kHeadroom + kSlotRoom);
  const uint32_t firstLen = CutSegment(area.data() + kHeadroom, plan, 0, slot.data() + kHeadroom, false);
  uint8_t* datagram = slot.data() + kHeadroom - kEncap;
  std::memset(datagram, 0, kEncap);
  datagram[0] = 0x08;  // RFC 7348 §5: the I flag
  datagram[7 + 1] = 0x02;
  datagram[7 + 7] = 0x02;
  PutBe16(datagram + kVxlanBytes + 12, pkt[0] >> 4 == 4 ? 0x0800 : 0x86dd);
  const uint32_t length = kEncap + firstLen;
  int32_t words[kWholeSendWords];
  NoteWholeSend(plan, kHeadroom, kHeadroom, words);
  Require(words[kSendBytes] > 0 && static_cast<uint32_t>(words[kSendSegments]) == plan.segments, "the words say what the cut makes");
  if (spoil < kWholeSendWords) words[spoil] += by;
  CheckHairpin(words, spoil < kWholeSendWords, area, slot, firstLen, pkt, plan);

  WholeSend whole;
  const bool found = FindWholeSend(words, area.data(), area.size(), datagram, length, kHeadroom - kEncap, &whole);
  if (!found) {
    Require(spoil < kWholeSendWords, "the true words are accepted");
    return 0;
  }
  // Spoiled words it still accepts must describe the same packet's cut (e.g. bytes, which only JS reads).
  Require(whole.segments == plan.segments && whole.length == plan.length && whole.gsoSize == plan.gsoSize && whole.hdrLen == plan.hdrLen,
          "an accepted whole is the packet read");

  // The fallback: cut at the send, datagram by datagram.
  std::vector<uint8_t> out(kEncap + kSlotRoom);
  for (uint32_t i = 0; i < plan.segments; i++) {
    const std::vector<uint8_t> want = CutPath(pkt.data(), plan, i, datagram);
    const uint32_t len = CutWholeSend(whole, datagram, i, out.data());
    Require(len == want.size() && std::memcmp(out.data(), want.data(), len) == 0, "the send's cut is the read's");
  }

  // The frame.
  const uint32_t maxDatagram = shortMtu ? length - 1 : length;
  TunnelRun run;
  if (!PlanWholeFrame(whole, datagram, length, maxDatagram, outer6, &run)) {
    Require(shortMtu || kEncap + 8 + pkt.size() + (outer6 ? 0 : 20) > 65535, "a frame is refused only above the MTU or 65,535 bytes");
    return 0;
  }
  Require(!shortMtu, "no frame whose first segment is above the MTU");
  const std::vector<uint8_t> before(slot);
  const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};
  const uint8_t local[16] = {192, 0, 2, 1};
  const uint8_t peer[16] = {192, 0, 2, 2};
  TunnelOuter outer{mac, local, peer, outer6, 40000, 8472, 7};
  uint8_t block[kMaxTunnelHeaderBytes];
  const uint32_t blockLen = WriteTunnelHeaders(run, datagram, outer, block);
  Require(slot == before, "the slot is left unchanged");
  VirtioNetHdrTunnel v;
  std::memcpy(&v, block, sizeof v);
  std::vector<uint8_t> frame(block + sizeof v, block + blockLen);
  frame.insert(frame.end(), whole.ip + whole.hdrLen, whole.ip + whole.length);
  Require(Be16(frame.data() + v.outer_th_offset + 4) == frame.size() - v.outer_th_offset, "outer UDP length is the frame's");

  // The inner Ethernet frame and its own virtio_net_hdr, as the kernel's inner segmentation sees them.
  const uint32_t innerAt = v.inner_nh_offset - 14;
  VirtioNetHdr inner{};
  inner.flags = kNeedsCsum;
  inner.gso_type = static_cast<uint8_t>(v.base.gso_type & ~(kGsoUdpTunnelIpv4 | kGsoUdpTunnelIpv6));
  inner.hdr_len = static_cast<uint16_t>(v.base.hdr_len - innerAt);
  inner.gso_size = v.base.gso_size;
  inner.csum_start = static_cast<uint16_t>(v.base.csum_start - innerAt);
  inner.csum_offset = v.base.csum_offset;
  const uint8_t* super = frame.data() + innerAt;
  TsoPlan tso;
  Require(CheckTso(inner, super, frame.size() - innerAt, true, 14 + kSlotRoom, &tso) == kReadOk, "the inner super-packet checks out as TSO");
  Require(tso.segments == plan.segments, "cut again into as many segments as the read's cut");
  std::vector<uint8_t> seg(14 + kSlotRoom);
  for (uint32_t i = 0; i < plan.segments; i++) {
    const std::vector<uint8_t> want = CutPath(pkt.data(), plan, i, datagram);
    const uint32_t len = CutSegment(super, tso, i, seg.data());
    Require(len == want.size() - kVxlanBytes && std::memcmp(seg.data(), want.data() + kVxlanBytes, len) == 0,
            "the kernel's segment is the read's cut, byte for byte");
  }
  return 0;
}
