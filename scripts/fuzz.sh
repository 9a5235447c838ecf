#!/usr/bin/env bash
# Builds every libFuzzer harness native/fuzz/<name>_fuzz.cc with Debian's clang++ (ASan, UBSan,
# no recovery) against the addon's sources that need no Node-API, and runs each for a bounded
# number of executions from its seeds in native/fuzz/corpus/<name>/ (captured by
# scripts/fuzz-corpus.mjs). Prints the executions of each; exits non-zero on the first crash.
#   scripts/fuzz.sh [--runs N]     (default 300000 executions per harness: about 2–3 minutes for all here)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=300000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--runs N]" >&2; exit 2 ;;
  esac
done

cxx="${CXX_FUZZ:-clang++}"
if ! command -v "$cxx" >/dev/null; then
  echo "scripts/fuzz.sh needs clang++ with libFuzzer: apt-get install clang libclang-rt-14-dev" >&2
  exit 1
fi

# The addon's sources that include neither addon.h nor napi.h: the pure parsers and sums.
mapfile -t sources < <(grep -L -E '#include "addon.h"|#include <napi.h>' native/src/*.cc)
work="$(mktemp -d -t vxroute-fuzz-XXXXXX)"
trap 'rm -rf "$work"' EXIT

status=0
for harness in native/fuzz/*_fuzz.cc; do
  name="$(basename "$harness" _fuzz.cc)"
  seeds="native/fuzz/corpus/$name"
  mkdir -p "$work/$name"
  "$cxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Inative/src -o "$work/$name/fuzz" "$harness" "${sources[@]}"
  dirs=("$work/$name/new")
  mkdir -p "$work/$name/new"
  [ -d "$seeds" ] && dirs+=("$seeds")
  if "$work/$name/fuzz" -runs="$runs" -max_len=70000 -artifact_prefix="$work/$name/" "${dirs[@]}" >"$work/$name/log" 2>&1; then
    done_line="$(grep -E '^Done [0-9]+ runs' "$work/$name/log" | tail -1)"
    seeded="$( [ -d "$seeds" ] && find "$seeds" -type f | wc -l || echo 0)"
    echo "$name: ${done_line:-no summary} (seeds: $seeded)"
  else
    echo "$name: FAILED" >&2
    tail -40 "$work/$name/log" >&2
    crash="$(ls "$work/$name"/crash-* "$work/$name"/leak-* "$work/$name"/timeout-* 2>/dev/null | head -1 || true)"
    if [ -n "$crash" ]; then
      mkdir -p native/fuzz/crashes
      cp "$crash" "native/fuzz/crashes/$name-$(basename "$crash")"
      echo "input kept in native/fuzz/crashes/$name-$(basename "$crash")" >&2
    fi
    status=1
  fi
done
exit $status
