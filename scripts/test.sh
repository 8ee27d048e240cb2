#!/usr/bin/env bash
# test.sh — installs dependencies, builds latte and runs the whole test suite with ctest.
#   scripts/test.sh              Release build in build/ (CUDA backend built when nvcc is found;
#                                GPU tests are reported as skipped on a machine without a GPU)
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-py-deps.sh   # the official openai client for the server tests
JOBS="$(nproc 2>/dev/null || echo 2)"
if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLATTE_SANITIZE=ON -DLATTE_CUDA=OFF
  cmake --build build-asan -j "$JOBS"
  cd build-asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$JOBS"
else
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${LATTE_CMAKE_FLAGS:-}
  cmake --build build -j "$JOBS"
  cd build
  ctest --output-on-failure -j "$JOBS"
fi
