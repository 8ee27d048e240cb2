/* bench_util.cuh — what the CUDA benchmarks share: checked CUDA / latte calls, deterministic bf16
 * fills, medians, and event timing of a launch callback (stream launches or replays of a captured
 * graph), so every bench times the same way. Header-only: each bench is one translation unit. */
#ifndef LT_BENCH_UTIL_CUH
#define LT_BENCH_UTIL_CUH
#include <stdio.h>
#include <stdlib.h>
#include <vector>
#include <algorithm>
#include "backend/cuda/cuda_ops.h"

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
  fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); exit(1); } } while (0)
#define LT(x) do { if ((x) != LATTE_OK) { fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, \
  latte_last_error()); exit(1); } } while (0)

/* deterministic pseudo-random bf16 in [-a, a] */
__global__ void lt_bench_k_fill(__nv_bfloat16 *x, size_t n, float a, unsigned seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ seed;
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    x[i] = __float2bfloat16(a * ((h & 0xffffff) / 8388608.0f - 1.0f));
  }
}
static inline void fill(void *x, size_t n, float a, unsigned seed) {
  lt_bench_k_fill<<<1024, 256>>>((__nv_bfloat16 *)x, n, a, seed);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
}

static inline float median(std::vector<float> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }

typedef void (*run_fn)(void *arg, int iter);

/* Median µs per call over `reps` event-timed groups of `group` calls fn(arg, i) on stream st (after a
 * warm-up group). graph != 0: the group is captured once into a CUDA graph and each timed group is
 * one replay (as decode runs: no host launch gaps). */
static inline double lt_bench_time(cudaStream_t st, run_fn fn, void *arg, int reps, int group, int graph) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  cudaGraph_t g = NULL;
  cudaGraphExec_t ge = NULL;
  if (graph) {
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int j = 0; j < group; j++) fn(arg, j);
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaGraphLaunch(ge, st));
  } else {
    for (int j = 0; j < group; j++) fn(arg, j);
  }
  CK(cudaStreamSynchronize(st));
  std::vector<float> t((size_t)reps);
  for (int i = 0; i < reps; i++) {
    CK(cudaEventRecord(a, st));
    if (graph) CK(cudaGraphLaunch(ge, st));
    else for (int j = 0; j < group; j++) fn(arg, i * group + j);
    CK(cudaEventRecord(b, st));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    t[(size_t)i] = 1e3f * ms / group;
  }
  CK(cudaGetLastError());
  if (graph) { CK(cudaGraphExecDestroy(ge)); CK(cudaGraphDestroy(g)); }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return median(t);
}

struct lt_bench_copy_arg { void *src, *dst; size_t n; cudaStream_t st; };
static inline void lt_bench_run_copy(void *p, int) {
  lt_bench_copy_arg *c = (lt_bench_copy_arg *)p;
  CK(cudaMemcpyAsync(c->dst, c->src, c->n, cudaMemcpyDeviceToDevice, c->st));
}

/* The copy ceiling every bench measures its kernels against: bytes read + written per second by a
 * device-to-device copy of `bytes`, the median of `reps` event-timed copies after one warm-up. */
static inline double lt_bench_copy_bw(cudaStream_t st, size_t bytes, int reps) {
  lt_bench_copy_arg a = {NULL, NULL, bytes, st};
  CK(cudaMalloc(&a.src, bytes));
  CK(cudaMalloc(&a.dst, bytes));
  CK(cudaMemsetAsync(a.src, 1, bytes, st));
  const double us = lt_bench_time(st, lt_bench_run_copy, &a, reps, 1, 0);
  CK(cudaFree(a.src));
  CK(cudaFree(a.dst));
  return 2.0 * bytes / (us * 1e-6);
}
#endif
