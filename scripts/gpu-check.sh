#!/usr/bin/env bash
# gpu-check.sh — on the GPU machine: unpack the carried Debian packages (scripts/device-deps.sh), build
# latte with the CUDA backend, run the whole test suite (GPU tests included) and, with --bench, the
# kernel benchmarks and `latte bench` on a real-size random DeepSeek-V2-Lite. Logs go to $OUT (or /tmp).
#   scripts/gpu-check.sh [--build-only | [--bench] [--e2e-bench]]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/latte-out}"; mkdir -p "$OUT"
eval "$(scripts/device-deps.sh unpack | sed -n 's/^export /export /p')"
PREFIX="$PWD/.deps/root"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DLATTE_CUDA=ON -DLATTE_DEPS_PREFIX="$PREFIX" > "$OUT/cmake.log" 2>&1 \
  || { tail -30 "$OUT/cmake.log"; exit 1; }
cmake --build build-gpu -j 16 > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
grep -E "registers|spill" "$OUT/build.log" | sort | uniq > "$OUT/ptxas.txt"
[ "${1:-}" = "--build-only" ] && exit 0
(cd build-gpu && ctest --output-on-failure -j 4 > "$OUT/ctest.log" 2>&1); rc=$?
grep -E "tests passed|Passed|Failed|Skipped|\*\*\*" "$OUT/ctest.log" | tail -30
for a in "$@"; do
  if [ "$a" = "--bench" ]; then
    for b in build-gpu/bench/bench_*; do
      [ -x "$b" ] || continue
      echo "== $b" | tee -a "$OUT/bench.log"
      timeout 120 "$b" >> "$OUT/bench.log" 2>&1
    done
  fi
  if [ "$a" = "--e2e-bench" ]; then
    build-gpu/latte init-model --preset deepseek-v2-lite --out /tmp/v2lite > "$OUT/init.log" 2>&1
    build-gpu/latte bench --model /tmp/v2lite --backend cuda --batch 1,32,128 --input-len 512 --output-len 32 \
      2>&1 | tee "$OUT/e2e-bench.log"
  fi
done
exit $rc
