// libFuzzer harness of the coalescing plan (gso_coalesce.h): a batch of packets as decapsulated
// from peers is planned into writes; every packet is written once, a run never mixes flows, each
// flow's packets are written in their batch order, and each TCP run's super-packet (head +
// payloads, behind the virtio_net_hdr made for it) is cut again by tso_split.h, which must give
// back the payloads.
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

// The harness's own idea of a packet's flow: protocol, addresses and ports (the MACs on a TAP),
// read straight from the bytes; empty when the packet is too short, a later fragment, or no TCP or UDP.
std::vector<uint8_t> Flow(const uint8_t* frame, uint32_t len, uint32_t l2) {
  if (len < l2 + 1) return {};
  const uint8_t* p = frame + l2;
  const uint32_t v = p[0] >> 4;
  const uint32_t iphl = v == 4 ? (p[0] & 15u) * 4 : 40;
  if ((v != 4 && v != 6) || len < l2 + iphl + 4 || iphl < 20) return {};
  if (v == 4 && (vxroute::Be16(p + 6) & 0x1fff) != 0) return {};  // a later fragment carries no ports
  const uint8_t proto = v == 4 ? p[9] : p[6];
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return {};
  std::vector<uint8_t> key(frame, frame + l2);
  key.push_back(static_cast<uint8_t>(v));
  key.push_back(proto);
  if (v == 4) key.insert(key.end(), p + 12, p + 20);
  else key.insert(key.end(), p + 8, p + 40);
  key.insert(key.end(), p + iphl, p + iphl + 4);
  return key;
}

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
  std::vector<std::vector<uint8_t>> flows;
  for (int64_t i = 0; i < count; i++) {
    flows.push_back(Flow(original.data() + offsets[i], static_cast<uint32_t>(lengths[i]), l2));
  }
  thread_local BatchPlan plan;
  PlanBatch(slab.data(), offsets, lengths, count, l2, true, nullptr, nullptr, &plan);
  std::vector<int> seen(count, 0);
  std::vector<int64_t> lastOfFlow;  // per packet: the index of the packet of its flow written last before it
  std::vector<int64_t> written;     // packets in the order they are written
  for (uint32_t w = 0; w < plan.writes; w++) {
    const GsoRun& run = plan.runs[w];
    const int64_t i = plan.heads[w];
    Require(i >= 0 && i < count, "a write starts inside the batch");
    Require(w == 0 || plan.heads[w - 1] < i, "writes in the order of their first packets");
    std::vector<int64_t> members;
    for (int64_t j = i; j >= 0; j = plan.next[j]) {
      Require(j < count && members.size() < kMaxRunPackets, "a run inside the batch and within kMaxRunPackets");
      members.push_back(j);
      written.push_back(j);
      seen[j]++;
    }
    Require(members.size() == run.packets, "a run has as many packets as its chain");
    for (size_t k = 1; k < members.size(); k++) {
      Require(members[k] > members[k - 1], "a run's packets in batch order");
      Require(!flows[members[k]].empty() && flows[members[k]] == flows[i], "a run never mixes flows");
    }
    if (run.packets == 1) continue;
    const Segment& head = run.head;
    const uint32_t headers = l2 + head.iphl + head.l4hl;
    VirtioNetHdr hdr;
    MakeGsoHead(run, &hdr);
    // The super-packet as writev would gather it.
    std::vector<uint8_t> super(slab.data() + offsets[i], slab.data() + offsets[i] + lengths[i]);
    for (size_t k = 1; k < members.size(); k++) {
      const uint8_t* p = original.data() + offsets[members[k]];
      Require(static_cast<uint32_t>(lengths[members[k]]) > headers, "a member has payload");
      super.insert(super.end(), p + headers, p + lengths[members[k]]);
    }
    const uint8_t* ip = super.data() + l2;
    Require((head.iphl == 20 ? Be16(ip + 2) : Be16(ip + 4) + 40u) == super.size() - l2, "super-packet's IP length is what is written");
    Require(super.size() - l2 <= 65535, "super-packet within 64 KiB");
    Require(hdr.hdr_len == headers && hdr.csum_start == l2 + head.iphl, "virtio_net_hdr points at the L4 header");
    if (head.proto == IPPROTO_TCP) {
      TsoPlan tso;
      Require(CheckTso(hdr, super.data(), super.size(), ethernet, headers + hdr.gso_size, &tso) == kReadOk, "our GSO packet checks out as TSO");
      Require(tso.segments == run.packets, "cut again into as many segments as were coalesced");
      std::vector<uint8_t> slot(headers + hdr.gso_size);
      for (uint32_t k = 0; k < run.packets; k++) {
        const int64_t m = members[k];
        const uint32_t len = CutSegment(super.data(), tso, k, slot.data());
        Require(len == static_cast<uint32_t>(lengths[m]), "segment as long as the packet coalesced");
        Require(std::memcmp(slot.data() + headers, original.data() + offsets[m] + headers, len - headers) == 0, "segment's payload is the packet's");
      }
    }
  }
  for (int64_t i = 0; i < count; i++) Require(seen[i] == 1, "every packet written exactly once");
  // Within a flow, the write order is the batch order.
  for (size_t a = 0; a < written.size(); a++) {
    if (flows[written[a]].empty()) continue;
    for (size_t b = a + 1; b < written.size(); b++) {
      if (flows[written[b]] == flows[written[a]]) {
        Require(written[b] > written[a], "a flow's packets keep their order");
        break;
      }
    }
  }
  return 0;
}
