/* cuda_rope.cuh — the RoPE arithmetic shared by lt_k_rope_cache (cuda_rope.cu) and the fused rope_absorb_q
 * kernel (cuda_mla_absorb.cu): the rotation of interleaved pairs, and the two parts of one token's row of the
 * paged latent cache (c' = the normalised c, and rope(k_pe)). Both kernels go through these helpers, so both
 * store the same bf16 bits. */
#ifndef LT_CUDA_ROPE_CUH
#define LT_CUDA_ROPE_CUH
#include "backend/cuda/cuda_reduce.cuh"
#include <cuda_bf16.h>
#include <stdint.h>

/* One rope cache write over T tokens: cache[slots[t]] = [c'[t, :r] | rope(kpe[t, :dr])] */
typedef struct {
  const int32_t *positions;   /* [T] token positions (rows of cos / sin) */
  const int32_t *slots;       /* [T] cache rows to write */
  const float *cos, *sin;     /* [max_pos, dr/2] */
  const __nv_bfloat16 *c;     /* [T, r] at row stride c_stride */
  int64_t c_stride;
  const float *cw;            /* [r] RMSNorm weights of c, or NULL: c' = c */
  float eps;
  const __nv_bfloat16 *kpe;   /* [T, dr] at row stride kpe_stride */
  int64_t kpe_stride;
  __nv_bfloat16 *cache;       /* [slots, r+dr] */
  int r, dr;
} lt_rope_cache_args;

/* The pair (a, b) rotated by (co, si), the cos / sin of its frequency at the token's position: (a·co − b·si,
 * b·co + a·si) in f32, each rounded to bf16 once. The fmas are spelled out (nothing left for the compiler to
 * contract differently in another kernel); they are the ones the compiler chose for the plain expressions. */
static __device__ __forceinline__ __nv_bfloat162 lt_rope_pair(float a, float b, float co, float si) {
  return __floats2bfloat162_rn(__fmaf_rn(a, co, -__fmul_rn(b, si)), __fmaf_rn(b, co, __fmul_rn(a, si)));
}

/* 8 bf16 = pairs p .. p+3 of a row (16 bytes) rotated; cs, sn = cos / sin + p (16-byte aligned) */
static __device__ __forceinline__ uint4 lt_rope_pairs4(uint4 x, const float *cs, const float *sn) {
  const float4 co = *(const float4 *)cs, si = *(const float4 *)sn;
  const float c4[4] = {co.x, co.y, co.z, co.w}, s4[4] = {si.x, si.y, si.z, si.w};
  __nv_bfloat162 *h = (__nv_bfloat162 *)&x;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const float2 f = __bfloat1622float2(h[i]);
    h[i] = lt_rope_pair(f.x, f.y, c4[i], s4[i]);
  }
  return x;
}

/* dst[:r] = c'[t, :r] (dst: token t's cache row) by the whole block (every thread calls it: a block-wide sum),
 * c' = c, or with cw the RMSNorm of c times cw (lt_k_rmsnorm's arithmetic: cw · (x · rsqrt(mean(x²) + eps))).
 * The sum of squares runs in blockDim.x strided partial sums: every caller uses 128 threads, for the same bits. */
static __device__ __forceinline__ void lt_rope_cache_c(const lt_rope_cache_args &a, int t, __nv_bfloat16 *dst) {
  const int r = a.r;
  const __nv_bfloat16 *ct = a.c + (int64_t)t * a.c_stride;
  if (a.cw) {
    float ss = 0.0f;
    for (int i = threadIdx.x; i < r; i += blockDim.x) { float v = __bfloat162float(ct[i]); ss += v * v; }
    ss = lt_block_sum(ss);
    const float inv = rsqrtf(ss / (float)r + a.eps);
    for (int i = threadIdx.x; i < r; i += blockDim.x) dst[i] = __float2bfloat16(a.cw[i] * (__bfloat162float(ct[i]) * inv));
  } else {
    for (int i = threadIdx.x; i < r; i += blockDim.x) dst[i] = ct[i];
  }
}

/* cw's 128-byte lines into this SM's L1 ahead of lt_rope_cache_c, so its loads after the block sum are short.
 * cw is a weight (no kernel writes it): this may come before the PDL wait. */
static __device__ __forceinline__ void lt_rope_cache_c_prefetch(const lt_rope_cache_args &a) {
  if (!a.cw) return;
  for (int i = threadIdx.x * 32; i < a.r; i += blockDim.x * 32) asm volatile("prefetch.global.L1 [%0];" ::"l"(a.cw + i));
}

/* dst[r:] = rope(kpe[t, :dr]) at position pos (dst: token t's cache row), pairs spread over the block's threads;
 * 2-byte accesses (any alignment of kpe) */
static __device__ __forceinline__ void lt_rope_cache_pe(const lt_rope_cache_args &a, int t, int64_t pos,
                                                        __nv_bfloat16 *dst) {
  const int half = a.dr / 2;
  const float *cs = a.cos + pos * half, *sn = a.sin + pos * half;
  const __nv_bfloat16 *kt = a.kpe + (int64_t)t * a.kpe_stride;
  dst += a.r;
  for (int p = threadIdx.x; p < half; p += blockDim.x) {
    const __nv_bfloat162 v = lt_rope_pair(__bfloat162float(kt[2 * p]), __bfloat162float(kt[2 * p + 1]), cs[p], sn[p]);
    dst[2 * p] = v.x;
    dst[2 * p + 1] = v.y;
  }
}

/* Token t's whole cache row, cache[slots[t]] = [c'[t, :r] | rope(kpe[t, :dr])], by the whole block; position
 * and slot read first, so their loads overlap c's */
static __device__ __forceinline__ void lt_rope_cache_row(const lt_rope_cache_args &a, int t) {
  const int64_t pos = a.positions[t];
  __nv_bfloat16 *dst = a.cache + (int64_t)a.slots[t] * (a.r + a.dr);
  lt_rope_cache_c(a, t, dst);
  lt_rope_cache_pe(a, t, pos, dst);
}

#endif
