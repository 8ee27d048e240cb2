/* cuda_rownorm.cuh — the row-wise RMSNorm pieces shared by cuda_norm.cu (add_rmsnorm) and cuda_moe.cu (the
 * MoE combine fused with the next layer's add + RMSNorm): bf16 packing, the block size per row width,
 * and one row of add + RMSNorm whose delta comes from a caller's functor (at V = 8 and the same block
 * size the fused op computes bit for bit what lt_k_add_rmsnorm does). */
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

#endif
