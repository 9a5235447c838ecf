// Unit test of the RFC 1071 sum (internet_checksum.cc) against the RFC's own reading: big-endian
// 16-bit words added one at a time, carries folded, an odd last byte padded with zero. Every
// length up to 600 at every alignment up to 8, random and all-ones bytes (every add carries), and
// long random buffers. Built and run by src/native/internet-checksum.test.ts; prints each failure
// and exits non-zero on any.
#include "../src/internet_checksum.h"

#include <cstdio>
#include <random>
#include <vector>

using namespace vxroute;

namespace {

int failures = 0;

uint32_t Reference(const uint8_t* p, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len % 2 == 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

void Check(const std::vector<uint8_t>& buf, size_t at, size_t len, uint32_t initial) {
  const uint32_t want = Reference(buf.data() + at, len, initial);
  const uint32_t got = FoldSum(SumBigEndian(buf.data() + at, len, initial));
  if (got != want) {
    std::printf("FAIL: at %zu len %zu initial %u: %#x, want %#x\n", at, len, initial, got, want);
    failures++;
  }
}

}  // namespace

int main() {
  std::mt19937 random(16);
  std::vector<uint8_t> noise(70000), ones(70000, 0xff);
  for (uint8_t& b : noise) b = static_cast<uint8_t>(random());
  for (size_t at = 0; at <= 8; at++) {
    for (size_t len = 0; len <= 600; len++) {
      Check(noise, at, len, 0);
      Check(ones, at, len, 0);
      Check(noise, at, len, 0xfffe);
    }
  }
  for (int i = 0; i < 2000; i++) {
    const size_t at = random() % 64;
    Check(noise, at, random() % (noise.size() - at), random() % 0x30000);
  }
  Check(ones, 0, 65535, 0);
  if (failures == 0) std::printf("ok\n");
  return failures == 0 ? 0 : 1;
}
