// What the native unit tests share: a failed check is printed and counted; main returns 1 when any failed.
#pragma once

#include <cstdio>

namespace vxroute_test {

inline int failures = 0;

inline void Expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what);
    failures++;
  }
}

}  // namespace vxroute_test
