/* cuda_gemv_common.cuh — what the decode GEMVs (cuda_gemv_bf16.cu, cuda_gemv_fp8.cu) and the mid-size
 * FP8 kernel (cuda_gemm_fp8_mid.cu) share: a lane's weight-row pointers, the weight ring's read-back, the
 * accumulators' reset, and the epilogues (the warps' yᵀ tiles summed in shared memory in warp order, then over
 * the thread-block cluster's ranks in rank order, and stored — deterministic, no atomics, no scratch). */
#ifndef LT_CUDA_GEMV_COMMON_CUH
#define LT_CUDA_GEMV_COMMON_CUH
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include "backend/cuda/cuda_common.h"

/* The read-back of a ring slot filled by lt_fp8_issue / lt_gb_issue: wa[nt][r][h] = this lane's piece h of row g
 * (+8 when r = 1) of tile nt; slot = the ring slot + lane. */
template <int NT>
__device__ __forceinline__ void lt_gemv_slot_read(const uint4 *slot, uint4 (&wa)[NT][2][2]) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int r = 0; r < 2; r++)
#pragma unroll
      for (int h = 0; h < 2; h++) wa[nt][r][h] = slot[((nt * 2 + r) * 2 + h) * 32];
}

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

/* tile: this block's partial yᵀ, [C][RP] floats in shared memory (token-major, row stride RP ≥ R, RP and
 * R multiples of 4, 16-byte aligned) for rows n0 .. n0 + R, written by the block before the call. The S
 * ranks of the thread-block cluster (1, 1, S) (gridDim.z = S, the K split) share the sum: rank z takes
 * its S-th of the tile's R·C/4 4-row pieces, adds the S ranks' pieces in rank order 0 .. S − 1 (DSMEM;
 * the same order whichever rank adds, so deterministic) and stores y [M, N] (row stride N, bf16 or f32;
 * vec: N % 4 == 0 and y 16-byte aligned, 4-element stores). Synchronises the block / cluster first and
 * (S > 1) last, so no rank leaves while another still reads its tile. NTH > 0: only the block's first NTH
 * threads read and store (the TMA kernel's producer warp never touches the tile). */
template <int R, int C, int NTH = 0>
__device__ __forceinline__ void lt_cluster_sum_store(const float *tile, int RP, int n0, int N, int M, void *y,
                                                     int out_f32, int vec) {
  const int S = (int)gridDim.z;
  cooperative_groups::cluster_group cl = cooperative_groups::this_cluster();
  if (S == 1) __syncthreads();
  else cl.sync();  /* every rank's tile is complete */
  constexpr int P = R / 4, E = C * P;  /* 4-row pieces per token, pieces in the tile */
  const int per = (E + S - 1) / S, e1 = min(E, ((int)blockIdx.z + 1) * per);
  /* NTH > 0: only threads 0 .. NTH − 1 read and store (the others only take part in the barriers) */
  const int e0 = NTH > 0 && (int)threadIdx.x >= NTH ? e1 : (int)blockIdx.z * per + (int)threadIdx.x;
  for (int e = e0; e < e1; e += NTH > 0 ? NTH : (int)blockDim.x) {
    const int ml = e / P, nl = (e % P) * 4, n = n0 + nl;
    if (ml >= M || n >= N) continue;
    const int off = ml * RP + nl;
    float4 v = *(const float4 *)((S == 1 ? tile : cl.map_shared_rank(tile, 0)) + off);
    for (int r = 1; r < S; r++) {
      const float4 u = *(const float4 *)(cl.map_shared_rank(tile, r) + off);
      v.x += u.x; v.y += u.y; v.z += u.z; v.w += u.w;
    }
    const int64_t o = (int64_t)ml * N + n;
    if (vec && n + 3 < N) {
      if (out_f32) *(float4 *)((float *)y + o) = v;
      else {
        __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
        uint2 p;
        p.x = *(uint32_t *)&lo;
        p.y = *(uint32_t *)&hi;
        *(uint2 *)((__nv_bfloat16 *)y + o) = p;
      }
    } else {
      const float f[4] = {v.x, v.y, v.z, v.w};
      for (int j = 0; j < 4 && n + j < N; j++) {
        if (out_f32) ((float *)y)[o + j] = f[j];
        else ((__nv_bfloat16 *)y)[o + j] = __float2bfloat16(f[j]);
      }
    }
  }
  if (S > 1) cl.sync();  /* ranks keep their shared memory until every rank has read it */
}

/* Host: whether an FP8 streaming kernel (cp.async weight rings, 16-byte x loads; cuda_gemv_fp8.cu,
 * cuda_gemm_fp8_mid.cu) can serve y = x · Wᵀ: W e4m3 with 128×128 block scales, 1 ≤ rows ≤ max_rows,
 * k % 16 == 0, n and k within int range, x row stride ≥ k and % 8 == 0, x and W 16-byte aligned. */
static inline int lt_fp8_stream_serves(const lt_weight *w, const void *x, int64_t x_stride, int rows, int max_rows) {
  if (w->dtype != LT_F8E4M3 || w->bn != 128 || w->bk != 128 || !w->scale) return 0;
  if (rows < 1 || rows > max_rows) return 0;
  if (w->n < 1 || w->k < 16 || w->n > INT32_MAX / 2 || w->k > INT32_MAX / 2 || w->k % 16 != 0) return 0;
  return x_stride >= w->k && x_stride % 8 == 0 && !((uintptr_t)x & 15) && !((uintptr_t)w->data & 15);
}

/* Host: the launch configuration of a K-split grid (tiles, 1, S) of `threads` threads — a thread-block
 * cluster (1, 1, S) along z, and programmatic stream serialisation unless lt_cuda_pdl is 0. at: the
 * caller's attribute storage, which must live until cudaLaunchKernelEx. */
static inline cudaLaunchConfig_t lt_cluster_z_cfg(cudaLaunchAttribute (&at)[2], unsigned tiles, int S, int threads,
                                                  size_t smem, cudaStream_t stream) {
  cudaLaunchConfig_t cfg = {};
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = 1;
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = (unsigned)S;
  at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  at[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.gridDim = dim3(tiles, 1, (unsigned)S);
  cfg.blockDim = dim3((unsigned)threads, 1, 1);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = at;
  cfg.numAttrs = lt_cuda_pdl ? 2 : 1;
  return cfg;
}

#endif
