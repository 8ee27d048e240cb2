/* cuda_rownorm.cuh — the row-wise RMSNorm pieces shared by cuda_norm.cu (add_rmsnorm), cuda_moe.cu (the
 * MoE combine fused with the next layer's add + RMSNorm) and cuda_route.cu (add + RMSNorm fused into the
 * router): bf16 packing, the block size per row width, one row of add + RMSNorm whose delta comes from a
 * caller's functor (at V = 8 and the same block size the fused op computes bit for bit what
 * lt_k_add_rmsnorm does), and that row's sum of squares replayed by a block of another size. */
#ifndef LT_CUDA_ROWNORM_CUH
#define LT_CUDA_ROWNORM_CUH
#include "backend/cuda/cuda_reduce.cuh"
#include <cuda_bf16.h>

/* 8 bf16 packed in 16 bytes */
__device__ __forceinline__ void lt_unpack8(uint4 v, float *f) {
  const __nv_bfloat162 *h = (const __nv_bfloat162 *)&v;
  for (int i = 0; i < 4; i++) { float2 t = __bfloat1622float2(h[i]); f[2 * i] = t.x; f[2 * i + 1] = t.y; }
}
__device__ __forceinline__ uint4 lt_pack8(const float *f) {
  uint4 v;
  __nv_bfloat162 *h = (__nv_bfloat162 *)&v;
  for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return v;
}

/* threads per row of the norm kernels */
static inline int lt_norm_threads(int dim) { return dim <= 1024 ? 64 : dim <= 4096 ? 128 : 256; }

/* V bf16 in one load: V = 8 (16 bytes) or 2 (4 bytes) */
template <int V> struct lt_bfv;
template <> struct lt_bfv<8> {
  typedef uint4 T;
  static __device__ __forceinline__ void unpack(T v, float *f) { lt_unpack8(v, f); }
  static __device__ __forceinline__ T pack(const float *f) { return lt_pack8(f); }
};
template <> struct lt_bfv<2> {
  typedef __nv_bfloat162 T;
  static __device__ __forceinline__ void unpack(T v, float *f) { float2 t = __bfloat1622float2(v); f[0] = t.x; f[1] = t.y; }
  static __device__ __forceinline__ T pack(const float *f) { return __floats2bfloat162_rn(f[0], f[1]); }
};

/* One row, dim % V == 0, rows aligned to V bf16: s = resid + delta (fp32); resid = bf16(s);
 * y = w · s / rms(s). delta(i) returns the row's delta elements Vi .. Vi+V-1 (lt_bfv<V>::T); each group
 * is asked for once, by thread i mod blockDim.x. sx: dim floats of shared memory. The result depends on
 * V and blockDim (the order of the sum of squares). */
template <int V, class Delta>
__device__ __forceinline__ void lt_add_rmsnorm_row(__nv_bfloat16 *rr, Delta delta, const float *w, __nv_bfloat16 *yr,
                                                   int dim, float eps, float *sx) {
  typedef lt_bfv<V> B;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim / V; i += blockDim.x) {
    float a[V], d[V];
    B::unpack(((const typename B::T *)rr)[i], a);
    B::unpack(delta(i), d);
    for (int j = 0; j < V; j++) { a[j] += d[j]; ss += a[j] * a[j]; sx[V * i + j] = a[j]; }
    ((typename B::T *)rr)[i] = B::pack(a);
  }
  ss = lt_block_sum(ss);
  float inv = rsqrtf(ss / (float)dim + eps);
  for (int i = threadIdx.x; i < dim / V; i += blockDim.x) {
    float f[V];
    for (int j = 0; j < V; j++) f[j] = w[V * i + j] * (sx[V * i + j] * inv);
    ((typename B::T *)yr)[i] = B::pack(f);
  }
}

/* lt_add_rmsnorm_row<8>'s sums of squares of s = resid + delta as a block of nt threads forms them (nt a
 * multiple of 32, ≤ 1024), replayed for nr ≤ R rows of dim elements (dim % 8 == 0, rows 16-byte aligned) by
 * a block of any multiple of 32 threads: thread tid plays the norm block's threads tid, tid + blockDim.x, ...
 * with their per-thread order (8-wide groups i, i + nt, ...) and lt_block_sum's warp butterfly, so
 * red[r][w] = the warp sum of the norm block's warp w (w < nt/32) for row r; lt_rownorm_total finishes
 * the sum. keep(r, i, a) receives each 8-group's sums a[8] (group i of row r). */
template <int R, class Keep>
__device__ __forceinline__ void lt_rownorm_partials(const __nv_bfloat16 *resid, const __nv_bfloat16 *delta, int nr,
                                                    int dim, int nt, Keep keep, float (*red)[32]) {
  const int G = dim / 8, lane = threadIdx.x & 31;
  for (int v = threadIdx.x; v < nt; v += blockDim.x) {   /* v: a thread of the norm block */
    float ss[R];
#pragma unroll
    for (int r = 0; r < R; r++) ss[r] = 0.0f;
    for (int i = v; i < G; i += nt) {
#pragma unroll
      for (int r = 0; r < R; r++) {
        if (r < nr) {
          float a[8], d[8];
          lt_unpack8(((const uint4 *)(resid + (size_t)r * dim))[i], a);
          lt_unpack8(((const uint4 *)(delta + (size_t)r * dim))[i], d);
          for (int j = 0; j < 8; j++) { a[j] += d[j]; ss[r] += a[j] * a[j]; }
          keep(r, i, a);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
      if (r < nr) {
        float x = ss[r];
        for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
        if (lane == 0) red[r][v >> 5] = x;
      }
    }
  }
}

/* lt_block_sum's second stage over the nw = nt/32 warp sums red[0 .. nw): every lane of the calling warp
 * gets the row's sum of squares; then 1/rms as lt_add_rmsnorm_row forms it */
__device__ __forceinline__ float lt_rownorm_inv(const float *red, int nw, int dim, float eps) {
  const int l = threadIdx.x & 31;
  float v = l < nw ? red[l] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return rsqrtf(v / (float)dim + eps);
}

/* 8 floats from 16-byte aligned p */
__device__ __forceinline__ void lt_ld8f(const float *p, float *f) {
  const float4 a = ((const float4 *)p)[0], b = ((const float4 *)p)[1];
  f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w; f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
}

/* one 8-group of y = bf16(w · (s · inv)), lt_add_rmsnorm_row's arithmetic */
__device__ __forceinline__ uint4 lt_rownorm_y8(const float *s, const float *w, float inv) {
  float f[8];
  for (int j = 0; j < 8; j++) f[j] = w[j] * (s[j] * inv);
  return lt_pack8(f);
}

#endif
