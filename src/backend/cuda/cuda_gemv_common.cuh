/* cuda_gemv_common.cuh — what the decode GEMVs (cuda_gemv_bf16.cu, cuda_gemv_fp8.cu) share: a lane's
 * weight-row pointers, the accumulators' reset, and the epilogue (the warps' yᵀ tiles summed in shared
 * memory in warp order, then over the thread-block cluster's ranks in rank order, and stored —
 * deterministic, no atomics, no scratch). */
#ifndef LT_CUDA_GEMV_COMMON_CUH
#define LT_CUDA_GEMV_COMMON_CUH
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <stdint.h>

/* Lane (g, ·)'s rows of NT 16-row weight tiles from row n0: wr[nt][r] = W row n0 + 16nt + 8r + g at
 * element kb + lo (row 0 when past N, rv false); W [N, K] row-major. */
template <int NT, class T>
__device__ __forceinline__ void lt_gemv_rows(const T *(&wr)[NT][2], bool (&rv)[NT][2], const T *w, int N, int K,
                                             int n0, int g, int kb, int lo) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const int row = n0 + nt * 16 + r * 8 + g;
      rv[nt][r] = row < N;
      wr[nt][r] = w + (int64_t)(row < N ? row : 0) * K + kb + lo;
    }
}

template <int NT, int MT>
__device__ __forceinline__ void lt_gemv_zero(float (&acc)[NT][MT][4]) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int i = 0; i < 4; i++) acc[nt][mt][i] = 0.0f;
}

/* floats of shared memory lt_gemv_reduce_store needs */
__host__ __device__ constexpr size_t lt_gemv_red_floats(int NT, int MT, int WARPS) {
  return (size_t)WARPS * NT * 16 * (MT * 8 + 1) + (size_t)NT * 16 * MT * 8;
}

/* acc: each warp's yᵀ tile [16·NT rows, 8·MT tokens] as m16n8 fragments (lane (g, t): rows g / g+8,
 * tokens 2t / 2t+1). The warps' tiles → red [WARPS][R][C + 1], summed in warp order into bsum [R·C] of
 * this block; the cluster's ranks (gridDim.z, along K) synchronise and rank 0 adds the others' bsum in
 * rank order and stores y [M, N] (row stride N, bf16 or f32) rows n0 .. n0 + R. smem: free shared
 * memory of lt_gemv_red_floats floats (the caller synchronised the block after its last use). */
template <int NT, int MT, int WARPS>
__device__ __forceinline__ void lt_gemv_reduce_store(const float (&acc)[NT][MT][4], float *smem, int n0, int N, int M,
                                                     void *y, int out_f32) {
  constexpr int R = NT * 16, C = MT * 8;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  float *red = smem;                      /* [WARPS][R][C + 1] */
  float *bsum = red + WARPS * R * (C + 1);  /* [R·C], token-major */
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int i = 0; i < 4; i++)
        red[(warp * R + nt * 16 + g + (i >> 1) * 8) * (C + 1) + mt * 8 + t * 2 + (i & 1)] = acc[nt][mt][i];
  __syncthreads();
  for (int e = threadIdx.x; e < R * C; e += WARPS * 32) {
    const int nl = e % R, ml = e / R;
    float v = red[nl * (C + 1) + ml];
#pragma unroll
    for (int ww = 1; ww < WARPS; ww++) v += red[(ww * R + nl) * (C + 1) + ml];
    bsum[e] = v;
  }
  const int S = (int)gridDim.z;
  if (S == 1) __syncthreads();
  else cooperative_groups::this_cluster().sync();  /* every rank's block sum is in its shared memory */
  if (blockIdx.z == 0) {
    cooperative_groups::cluster_group cl = cooperative_groups::this_cluster();
    for (int e = threadIdx.x; e < R * C; e += WARPS * 32) {
      const int nl = e % R, ml = e / R, n = n0 + nl;
      float v = bsum[e];
      for (int r = 1; r < S; r++) v += cl.map_shared_rank(bsum, r)[e];
      if (n >= N || ml >= M) continue;
      if (out_f32) ((float *)y)[(int64_t)ml * N + n] = v;
      else ((__nv_bfloat16 *)y)[(int64_t)ml * N + n] = __float2bfloat16(v);
    }
  }
  if (S > 1) cooperative_groups::this_cluster().sync();  /* ranks keep their shared memory until rank 0 has read it */
}

#endif
