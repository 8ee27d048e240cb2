/* cuda_sample.cu — sampling on the GPU, so that a decode step copies back only the chosen ids: the
 * argmax of each logit row (greedy; ties go to the lowest index, as on the CPU), and temperature /
 * top-k / top-p / min-p draws (sample_rows: block reductions for the threshold bisection, a block
 * scan for the draw), the same algorithm as the CPU twin cpu_sample.c. One block per row. */
#include "backend/cuda/cuda_ops.h"
#include <float.h>

/* (best, bi) ← the warp's largest value and its index; ties go to the lowest index. */
__device__ __forceinline__ void lt_warp_argmax(float *best, int *bi) {
  float b = *best;
  int i = *bi;
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, b, o);
    int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > b || (ov == b && oi < i)) { b = ov; i = oi; }
  }
  *best = b;
  *bi = i;
}

__global__ void lt_k_argmax_rows(const float *logits, int vocab, int32_t *ids) {
  LT_PDL_ENTER();
  const float *x = logits + (size_t)blockIdx.x * vocab;
  float best = -FLT_MAX;
  int bi = 0x7fffffff;
  /* 16-byte loads, 8 in flight per thread (one dependent load per element took ~49 µs for a
   * 102400-entry row on an H200); any visiting order gives the same answer (ties: lowest index) */
  const int n4 = (vocab % 4 == 0 && ((uintptr_t)x & 15) == 0) ? vocab / 4 : 0;
  const float4 *x4 = (const float4 *)x;
  for (int j0 = threadIdx.x; j0 < n4; j0 += 8 * blockDim.x) {
    float4 v[8];
#pragma unroll
    for (int u = 0; u < 8; u++) {
      const int j = j0 + u * blockDim.x;
      v[u] = j < n4 ? x4[j] : make_float4(-FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX);
    }
#pragma unroll
    for (int u = 0; u < 8; u++) {
      const int j = 4 * (j0 + u * blockDim.x);
      const float e[4] = {v[u].x, v[u].y, v[u].z, v[u].w};
#pragma unroll
      for (int q = 0; q < 4; q++)
        if (j + q < vocab && (e[q] > best || (e[q] == best && j + q < bi))) { best = e[q]; bi = j + q; }
    }
  }
  for (int j = 4 * n4 + threadIdx.x; j < vocab; j += blockDim.x) {
    float v = x[j];
    if (v > best || (v == best && j < bi)) { best = v; bi = j; }
  }
  lt_warp_argmax(&best, &bi);
  __shared__ float sv[32];
  __shared__ int si[32];
  int w = threadIdx.x / 32, l = threadIdx.x % 32;
  if (l == 0) { sv[w] = best; si[w] = bi; }
  __syncthreads();
  if (w == 0) {
    int nw = blockDim.x / 32;
    best = l < nw ? sv[l] : -FLT_MAX;
    bi = l < nw ? si[l] : 0x7fffffff;
    lt_warp_argmax(&best, &bi);
    if (l == 0) ids[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
  }
}

extern "C" latte_status lt_cuda_argmax_rows(lt_backend *b, const float *logits, int rows, int vocab, int32_t *ids) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (rows <= 0) return LATTE_OK;
  (void)lt_launch(lt_k_argmax_rows, rows, 1024, 0, c->stream, logits, vocab, ids);
  LT_LAUNCH_CHECK("argmax_rows");
  return LATTE_OK;
}

/* ---- temperature / top-k / top-p / min-p (the algorithm of lt_sample_params, backend.h) ---- */
#define LT_SMP_THREADS 1024

/* Block sum of (int, float); every thread gets the result. sh: 2 × 32 words of shared memory. */
__device__ static void block_sum2(int *c, float *s, int *shc, float *shs) {
  int w = threadIdx.x / 32, l = threadIdx.x % 32, nw = blockDim.x / 32;
  int cv = *c;
  float sv = *s;
  for (int o = 16; o > 0; o >>= 1) {
    cv += __shfl_xor_sync(0xffffffffu, cv, o);
    sv += __shfl_xor_sync(0xffffffffu, sv, o);
  }
  __syncthreads();   /* the shared words may still be read by a previous call */
  if (l == 0) { shc[w] = cv; shs[w] = sv; }
  __syncthreads();
  cv = l < nw ? shc[l] : 0;
  sv = l < nw ? shs[l] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) {
    cv += __shfl_xor_sync(0xffffffffu, cv, o);
    sv += __shfl_xor_sync(0xffffffffu, sv, o);
  }
  *c = cv;
  *s = sv;
}

/* One block per row; each thread owns a contiguous chunk of the vocabulary for the draw. */
__global__ void lt_k_sample_rows(const float *logits, int vocab, const lt_sample_params *prm, int32_t *ids) {
  LT_PDL_ENTER();
  __shared__ int shc[32];
  __shared__ float shs[32];
  __shared__ float shm[32];
  __shared__ int shi[32];
  __shared__ int ans, last;
  __shared__ float kept;
  const float *x = logits + (size_t)blockIdx.x * vocab;
  const lt_sample_params p = prm[blockIdx.x];
  const int w = threadIdx.x / 32, l = threadIdx.x % 32, nw = blockDim.x / 32;
  /* argmax (lowest index on ties) */
  float best = -FLT_MAX;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    float v = x[j];
    if (v > best || (v == best && j < bi)) { best = v; bi = j; }
  }
  lt_warp_argmax(&best, &bi);
  if (l == 0) { shm[w] = best; shi[w] = bi; }
  __syncthreads();
  best = l < nw ? shm[l] : -FLT_MAX;
  bi = l < nw ? shi[l] : 0x7fffffff;
  lt_warp_argmax(&best, &bi);
  if (bi == 0x7fffffff) bi = 0;
  if (!(p.temperature > 0) || p.top_k == 1 || vocab <= 1) {
    if (threadIdx.x == 0) ids[blockIdx.x] = bi;
    return;
  }
  const float m = best, it = 1.0f / p.temperature;
  int cnt = 0;
  float tot = 0;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) tot += expf((x[j] - m) * it);
  block_sum2(&cnt, &tot, shc, shs);
  const int k = p.top_k > 0 && p.top_k < vocab ? p.top_k : 0;
  const int use_p = p.top_p > 0 && p.top_p < 1;
  float t = 0.0f;
  if (k || use_p) {  /* the same bisection as lt_cpu_sample_row; uniform control flow */
    float lo = 0.0f, hi = 1.0f;
    for (int s = -1; s < LT_SAMPLE_BISECT; s++) {
      float mid = s < 0 ? 1.0f : 0.5f * (lo + hi);
      int c = 0;
      float sum = 0;
      for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        float q = expf((x[j] - m) * it);
        if (q >= mid) { c++; sum += q; }
      }
      block_sum2(&c, &sum, shc, shs);
      int ok = (!k || c >= k) && (!use_p || sum >= p.top_p * tot);
      if (s < 0) { if (ok) { lo = 1.0f; break; } continue; }
      if (ok) lo = mid; else hi = mid;
    }
    t = lo;
  }
  if (p.min_p > t) t = p.min_p > 1.0f ? 1.0f : p.min_p;
  /* draw: chunk sums, a block exclusive scan of them, then the owning thread walks its chunk */
  const int chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const int j0 = min(vocab, (int)threadIdx.x * chunk), j1 = min(vocab, j0 + chunk);
  float cs = 0;
  int lk = -1;
  for (int j = j0; j < j1; j++) {
    float q = expf((x[j] - m) * it);
    if (q >= t) { cs += q; lk = j; }
  }
  float inc = cs;   /* warp inclusive scan */
  for (int o = 1; o < 32; o <<= 1) {
    float v = __shfl_up_sync(0xffffffffu, inc, o);
    if (l >= o) inc += v;
  }
  int wl = lk;
  for (int o = 16; o > 0; o >>= 1) wl = max(wl, __shfl_xor_sync(0xffffffffu, wl, o));
  __syncthreads();
  if (l == 31) shs[w] = inc;
  if (l == 0) shi[w] = wl;
  if (threadIdx.x == 0) ans = 0x7fffffff;
  __syncthreads();
  if (w == 0) {
    float v = l < nw ? shs[l] : 0.0f, vi = v;
    int li = l < nw ? shi[l] : -1;
    for (int o = 1; o < 32; o <<= 1) {
      float u2 = __shfl_up_sync(0xffffffffu, vi, o);
      if (l >= o) vi += u2;
    }
    for (int o = 16; o > 0; o >>= 1) li = max(li, __shfl_xor_sync(0xffffffffu, li, o));
    if (l < nw) shm[l] = vi - v;   /* exclusive warp offsets */
    if (l == 31) kept = vi;        /* the kept mass */
    if (l == 0) last = li;
  }
  __syncthreads();
  const float ks = kept;
  const float target = lt_sample_uniform(p.seed, p.counter) * ks;
  const float ex = shm[w] + inc - cs;   /* mass before this thread's chunk */
  if (cs > 0 && ex <= target && target < ex + cs) {
    float acc = ex;
    int a = lk;   /* rounding inside the chunk: its last kept id */
    for (int j = j0; j < j1; j++) {
      float q = expf((x[j] - m) * it);
      if (q >= t) {
        acc += q;
        if (acc > target) { a = j; break; }
      }
    }
    atomicMin(&ans, a);
  }
  __syncthreads();
  if (threadIdx.x == 0) ids[blockIdx.x] = ans != 0x7fffffff ? ans : (last >= 0 ? last : bi);
}

extern "C" latte_status lt_cuda_sample_rows(lt_backend *b, const float *logits, int rows, int vocab,
                                            const lt_sample_params *p, int32_t *ids) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (rows <= 0) return LATTE_OK;
  if (vocab <= 0) return lt_err(LATTE_ERR_INVALID, "sample_rows: vocab %d", vocab);
  (void)lt_launch(lt_k_sample_rows, rows, LT_SMP_THREADS, 0, c->stream, logits, vocab, p, ids);
  LT_LAUNCH_CHECK("sample_rows");
  return LATTE_OK;
}
