// Unit tests of the inner flow hash (flow_hash.h) over crafted VXLAN datagrams: both directions of
// a flow hash alike, flows spread evenly over a pool of 32 sockets, and short or odd frames are
// read only within their length. Built and run by src/native/flow-hash.test.ts; prints each
// failure and exits non-zero on any.
#include "../src/flow_hash.h"

#include "expect.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

using namespace vxroute;
using vxroute_test::Expect;
using vxroute_test::failures;

namespace {

using Bytes = std::vector<uint8_t>;

struct Flow {
  bool v6;
  uint8_t protocol;
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  uint8_t smac[6], dmac[6];
  int vlanTags;
};

Flow Reversed(const Flow& f) {
  Flow r = f;
  std::memcpy(r.src, f.dst, 16);
  std::memcpy(r.dst, f.src, 16);
  std::memcpy(r.smac, f.dmac, 6);
  std::memcpy(r.dmac, f.smac, 6);
  r.sport = f.dport;
  r.dport = f.sport;
  return r;
}

// A VXLAN datagram (VXLAN header, inner Ethernet, `vlanTags` 802.1Q tags, IP, 8 bytes of transport).
Bytes Datagram(const Flow& f) {
  Bytes d(flow_hash::kVxlanHeader);
  d[0] = 0x08;
  d.insert(d.end(), f.dmac, f.dmac + 6);
  d.insert(d.end(), f.smac, f.smac + 6);
  for (int t = 0; t < f.vlanTags; t++) d.insert(d.end(), {0x81, 0x00, 0x00, static_cast<uint8_t>(t + 1)});
  if (f.v6) {
    d.insert(d.end(), {0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, f.protocol, 64});
    d.insert(d.end(), f.src, f.src + 16);
    d.insert(d.end(), f.dst, f.dst + 16);
  } else {
    d.insert(d.end(), {0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, f.protocol, 0, 0});
    d.insert(d.end(), f.src, f.src + 4);
    d.insert(d.end(), f.dst, f.dst + 4);
  }
  d.insert(d.end(), {static_cast<uint8_t>(f.sport >> 8), static_cast<uint8_t>(f.sport), static_cast<uint8_t>(f.dport >> 8),
                     static_cast<uint8_t>(f.dport), 0, 8, 0, 0});
  return d;
}

uint32_t Hash(const Bytes& d) { return InnerFlowHash(d.data(), d.size()); }

Flow RandomFlow(std::mt19937& rng) {
  Flow f{};
  f.v6 = rng() & 1;
  const uint8_t protocols[] = {6, 17, 132, 1, 47};
  f.protocol = protocols[rng() % 5];
  for (auto& b : f.src) b = static_cast<uint8_t>(rng());
  for (auto& b : f.dst) b = static_cast<uint8_t>(rng() % 4 == 0 ? f.src[&b - f.dst] : rng());  // shared prefixes too
  for (auto& b : f.smac) b = static_cast<uint8_t>(rng());
  for (auto& b : f.dmac) b = static_cast<uint8_t>(rng());
  f.sport = static_cast<uint16_t>(rng() % 3 == 0 ? f.dport : rng());
  f.dport = static_cast<uint16_t>(rng());
  f.vlanTags = static_cast<int>(rng() % 3);
  return f;
}

void BothDirectionsHashAlike() {
  std::mt19937 rng(7);
  int differ = 0;
  for (int i = 0; i < 100000; i++) {
    const Flow f = RandomFlow(rng);
    const Bytes there = Datagram(f), back = Datagram(Reversed(f));
    if (Hash(there) != Hash(back)) differ++;
  }
  Expect(differ == 0, "a flow and its reverse hash alike");
  // Non-IP frames (here ARP) by their MACs: both directions alike too.
  for (int i = 0; i < 1000; i++) {
    Flow f = RandomFlow(rng);
    f.vlanTags = 0;
    Bytes there = Datagram(f), back = Datagram(Reversed(f));
    there[flow_hash::kVxlanHeader + 12] = back[flow_hash::kVxlanHeader + 12] = 0x08;
    there[flow_hash::kVxlanHeader + 13] = back[flow_hash::kVxlanHeader + 13] = 0x06;
    if (Hash(there) != Hash(back)) differ++;
  }
  Expect(differ == 0, "a non-IP frame and its reverse hash alike");
}

void OtherFlowsHashApart() {
  std::mt19937 rng(11);
  int same = 0;
  for (int i = 0; i < 10000; i++) {
    Flow f = RandomFlow(rng);
    f.protocol = 6;
    Flow g = f;
    g.sport = static_cast<uint16_t>(f.sport + 1 + rng() % 100);  // another connection between the same hosts
    if (Hash(Datagram(f)) == Hash(Datagram(g))) same++;
  }
  Expect(same < 5, "connections that differ in a port hash apart");
}

// Every socket of 32 takes its share within 15 % (about 5 standard deviations at 1,000 a socket).
void SpreadEvenly(const char* what, const std::vector<Bytes>& datagrams) {
  const uint32_t sockets = 32;
  std::vector<int> count(sockets);
  for (const Bytes& d : datagrams) count[FlowSocket(Hash(d), sockets)]++;
  const double mean = static_cast<double>(datagrams.size()) / sockets;
  for (uint32_t s = 0; s < sockets; s++) {
    if (count[s] < 0.85 * mean || count[s] > 1.15 * mean) {
      std::printf("FAIL: %s: socket %u takes %d of %zu\n", what, s, count[s], datagrams.size());
      failures++;
      return;
    }
  }
}

void DistributionStaysEven() {
  std::mt19937 rng(13);
  std::vector<Bytes> random, iperf, reversed;
  for (int i = 0; i < 32000; i++) {
    const Flow f = RandomFlow(rng);
    random.push_back(Datagram(f));
    reversed.push_back(Datagram(Reversed(f)));
  }
  // Many connections of two pods, as iperf3 -P opens them: consecutive source ports.
  Flow f{};
  f.protocol = 6;
  const uint8_t a[] = {10, 244, 1, 2}, b[] = {10, 244, 2, 3};
  std::memcpy(f.src, a, 4);
  std::memcpy(f.dst, b, 4);
  f.dport = 5201;
  for (int i = 0; i < 32000; i++) {
    f.sport = static_cast<uint16_t>(32768 + i);
    iperf.push_back(Datagram(i % 2 ? f : Reversed(f)));
  }
  SpreadEvenly("random flows", random);
  SpreadEvenly("their reverses", reversed);
  SpreadEvenly("consecutive source ports between two pods, either direction", iperf);
}

void ShortFramesReadWithinLength() {
  std::mt19937 rng(17);
  for (int i = 0; i < 20000; i++) {
    const Bytes full = Datagram(RandomFlow(rng));
    const size_t len = rng() % (full.size() + 1);
    Bytes cut(full.begin(), full.begin() + static_cast<long>(len));  // exactly len bytes: ASan sees any overread
    cut.shrink_to_fit();
    const uint32_t socket = FlowSocket(InnerFlowHash(cut.data(), cut.size()), 32);
    Expect(socket < 32, "a cut frame hashes to a socket in range");
  }
}

}  // namespace

int main() {
  BothDirectionsHashAlike();
  OtherFlowsHashApart();
  DistributionStaysEven();
  ShortFramesReadWithinLength();
  if (failures == 0) std::printf("ok\n");
  return failures == 0 ? 0 : 1;
}
