// libFuzzer harness of the coalescing plan (gso_coalesce.h): a batch of packets as decapsulated
// from peers is planned into runs; each TCP run's super-packet (head + payloads, behind the
// virtio_net_hdr made for it) is cut again by tso_split.h, which must give back the payloads.
// Input: one mode byte (bit 0: a TAP's frames), then packets, each a 2-byte big-endian length
// and its bytes.
#include "invariant.h"

#include "big_endian.h"
#include "gso_coalesce.h"
#include "tso_split.h"

#include <netinet/in.h>

#include <cstring>
#include <vector>

namespace {

constexpr int64_t kMaxBatch = 256;

}  // namespace

using namespace vxroute;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool ethernet = data[0] & 1;
  const uint32_t l2 = ethernet ? 14 : 0;
  // The batch in a slab of exactly its size, so that ASan sees any read past the last packet.
  std::vector<uint8_t> slab;
  int32_t offsets[kMaxBatch], lengths[kMaxBatch];
  int64_t count = 0;
  for (size_t at = 1; at + 2 <= size && count < kMaxBatch;) {
    size_t len = Be16(data + at);
    at += 2;
    if (len > size - at) len = size - at;
    offsets[count] = static_cast<int32_t>(slab.size());
    lengths[count] = static_cast<int32_t>(len);
    slab.insert(slab.end(), data + at, data + at + len);
    at += len;
    count++;
  }
  slab.shrink_to_fit();
  const std::vector<uint8_t> original = slab;
  for (int64_t i = 0; i < count;) {
    GsoRun run;
    if (!PlanRun(slab.data(), offsets, lengths, i, count, l2, true, &run) || run.packets == 1) {
      i++;
      continue;
    }
    Require(run.packets <= kMaxRunPackets && i + run.packets <= count, "run inside the batch");
    const Segment& head = run.head;
    const uint32_t headers = l2 + head.iphl + head.l4hl;
    VirtioNetHdr hdr;
    MakeGsoHead(run, &hdr);
    // The super-packet as writev would gather it.
    std::vector<uint8_t> super(slab.data() + offsets[i], slab.data() + offsets[i] + lengths[i]);
    for (uint32_t k = 1; k < run.packets; k++) {
      const uint8_t* p = original.data() + offsets[i + k];
      Require(static_cast<uint32_t>(lengths[i + k]) > headers, "a member has payload");
      super.insert(super.end(), p + headers, p + lengths[i + k]);
    }
    const uint8_t* ip = super.data() + l2;
    Require((head.iphl == 20 ? Be16(ip + 2) : Be16(ip + 4) + 40u) == super.size() - l2, "super-packet's IP length is what is written");
    Require(super.size() - l2 <= 65535, "super-packet within 64 KiB");
    Require(hdr.hdr_len == headers && hdr.csum_start == l2 + head.iphl, "virtio_net_hdr points at the L4 header");
    if (head.proto == IPPROTO_TCP) {
      TsoPlan plan;
      Require(CheckTso(hdr, super.data(), super.size(), ethernet, headers + hdr.gso_size, &plan) == kReadOk, "our GSO packet checks out as TSO");
      Require(plan.segments == run.packets, "cut again into as many segments as were coalesced");
      std::vector<uint8_t> slot(headers + hdr.gso_size);
      for (uint32_t k = 0; k < run.packets; k++) {
        const uint32_t len = CutSegment(super.data(), plan, k, slot.data());
        Require(len == static_cast<uint32_t>(lengths[i + k]), "segment as long as the packet coalesced");
        Require(std::memcmp(slot.data() + headers, original.data() + offsets[i + k] + headers, len - headers) == 0, "segment's payload is the packet's");
      }
    }
    i += run.packets;
  }
  return 0;
}
