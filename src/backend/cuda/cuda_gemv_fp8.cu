/* cuda_gemv_fp8.cu — one job: the FP8 linear layer (e4m3 W [n, k] with 128×128 block scales, w8a8: x
 * quantised per token × 128 channels) at decode sizes, rows ≤ 16, in one launch. Each block first
 * quantises the x slice of its K range into shared memory (the arithmetic of lt_k_quant_rows, so the
 * result is the other FP8 paths' and the CPU's w8a8), while its weight stream is already in flight: the
 * warps stream their 128-wide K-groups of W through per-warp cp.async rings (ST − 1 groups ahead,
 * every lane copying exactly the 16-byte pieces it later reads back), multiply on the tensor cores
 * (mma m16n8k32 e4m3, W rows = MMA M, tokens = MMA N), scale per group, and sum over warps and over
 * the blocks of a thread-block cluster (1, 1, S) in fixed order: deterministic, no scratch. The design
 * of cuda_gemv_bf16.cu with e4m3 weights; docs/cuda-gemm.md. lt_cuda_gemv_fp8 declines (*done = 0)
 * outside what it serves. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_gemv_common.cuh"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_fp8.cuh"
#include <stdint.h>

typedef __nv_bfloat16 bf16;

enum {
  LT_G8_WARPS = 4,                 /* warps per block; they take the block's K-groups round robin */
  LT_G8_THREADS = LT_G8_WARPS * 32,
  LT_G8_MAX_ROWS = 16,             /* two 8-token MMA column tiles */
  LT_G8_MAX_S = 8,                 /* cluster size limit (portable) */
  LT_G8_XPAD = 16,                 /* bytes after each quantised x row in shared memory (bank spread) */
  LT_G8_XB = 8                     /* x quantisation: 16-pair passes whose loads are issued together */
};

/* Tuning knobs (bench_gemm; 0 = automatic): ring slots per warp, minimum blocks per SM the K split
 * aims for, the longest K range of a block. */
extern "C" int lt_gemv_fp8_st, lt_gemv_fp8_bps, lt_gemv_fp8_kmax;
int lt_gemv_fp8_st = 0, lt_gemv_fp8_bps = 0, lt_gemv_fp8_kmax = 0;

/* Shared memory of one block: the warps' rings (reused for the reduction), then x quantised
 * [M][kslice + XPAD] bytes, its scales [M][gs] and the weight scales [NT][gs] (gs = kslice / 128). */
__host__ __device__ static size_t lt_g8_ring_bytes(int NT, int ST) { return (size_t)LT_G8_WARPS * ST * NT * 4 * 32 * 16; }
static size_t lt_g8_smem_bytes(int MT, int NT, int ST, int M, int kslice) {
  const int gs = kslice / 128;
  size_t ring = lt_g8_ring_bytes(NT, ST);
  const size_t red = sizeof(float) * lt_gemv_red_floats(NT, MT, LT_G8_WARPS);
  if (red > ring) ring = red;
  return ring + (size_t)M * (kslice + LT_G8_XPAD) + sizeof(float) * ((size_t)M * gs + (size_t)NT * gs);
}

/* xq[m][lg·128 ..] and xsc[m][lg] for the block's pairs (token m < M, local group lg < ng): 8 lanes per
 * group (16 values each, two 16-byte loads), LT_G8_XB passes of 16 pairs with their loads issued
 * before any use. Values past ke read as 0. */
__device__ __forceinline__ void lt_g8_quant_x(const bf16 *__restrict__ x, int64_t xs, int M, int kb, int ke, int ng,
                                              int xrow, int gs, uint8_t *xq, float *xsc) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, sub = lane >> 3, l8 = lane & 7;
  const int npairs = M * ng;
  for (int base = 0; base < npairs; base += 16 * LT_G8_XB) {
    uint4 v[LT_G8_XB][2];
#pragma unroll
    for (int u = 0; u < LT_G8_XB; u++) {
      const int p = base + u * 16 + warp * 4 + sub, m = p / ng, lg = p % ng;
      const int k = kb + lg * 128 + l8 * 16;
#pragma unroll
      for (int h = 0; h < 2; h++) {
        v[u][h] = make_uint4(0, 0, 0, 0);
        if (p < npairs && k + h * 8 < ke) v[u][h] = __ldg((const uint4 *)(x + (int64_t)m * xs + k + h * 8));
      }
    }
#pragma unroll
    for (int u = 0; u < LT_G8_XB; u++) {
      const int p = base + u * 16 + warp * 4 + sub, m = p / ng, lg = p % ng;
      float sc;
      const uint4 q = lt_quant16_bf16(v[u], &sc);  /* every lane: the shuffles span the group's 8 lanes */
      if (p < npairs) {
        *(uint4 *)(xq + (size_t)m * xrow + lg * 128 + l8 * 16) = q;
        if (l8 == 0) xsc[m * gs + lg] = sc;
      }
    }
  }
}

/* y [M, N] (row stride N, bf16 or f32) = Σ_g sx[m, g] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k].
 * Block (bx, z) owns rows [bx·16·NT, +16·NT) and K range [z·kslice, min(K, (z+1)·kslice)) (kslice a
 * multiple of 128); warp w takes the range's K-groups w, w + 4, ... Within a group lane (g, t) holds
 * bytes [16t, 16t + 16) and [64 + 16t, 64 + 16t + 16) of W rows g, g+8 and of token g's quantised x: a
 * k permutation shared by both operands (lt_fp8_group_mma), so the group sums are unchanged. yᵀ tile [16·NT, 8·MT] per warp →
 * shared memory, summed over warps in warp order, then over the cluster's ranks in rank order. */
template <int MT, int NT, int ST>
__global__ void __launch_bounds__(LT_G8_THREADS) lt_k_gemv_fp8(const uint8_t *__restrict__ w, const float *__restrict__ wsc,
                                                                const bf16 *__restrict__ x, int64_t xs, int M, int N,
                                                                int K, int kslice, void *__restrict__ y, int out_f32) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight prologue (cuda_common.h) */
  constexpr int R = NT * 16, Q = NT * 4;  /* Q: 16-byte pieces per lane per group */
  extern __shared__ uint4 lt_g8_smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int n0 = blockIdx.x * R;
  const int kb = blockIdx.z * kslice, ke = min(K, kb + kslice);
  const int gs = kslice / 128, Gw = (K + 127) / 128, xrow = kslice + LT_G8_XPAD;
  const int ng = ke > kb ? (ke - kb + 127) / 128 : 0;
  const int mine = ng > warp ? (ng - warp + LT_G8_WARPS - 1) / LT_G8_WARPS : 0;  /* this warp's groups */
  size_t ring_b = lt_g8_ring_bytes(NT, ST);
  const size_t red_b = sizeof(float) * lt_gemv_red_floats(NT, MT, LT_G8_WARPS);
  if (red_b > ring_b) ring_b = red_b;
  uint4 *ring = lt_g8_smem + warp * (ST * Q * 32);
  uint8_t *xq = (uint8_t *)lt_g8_smem + ring_b;      /* [M][xrow] */
  float *xsc = (float *)(xq + (size_t)M * xrow);     /* [M][gs] */
  float *wss = xsc + (size_t)M * gs;                 /* [NT][gs] */

  const uint8_t *wr[NT][2];
  bool rv[NT][2];
  lt_gemv_rows<NT>(wr, rv, w, N, K, n0, g, kb, t * 16);
  const int klim = ke - kb - t * 16;  /* a lane's 16 bytes at group offset o + 64h exist iff o + 64h < klim */
  const int step = LT_G8_WARPS * 128;
  const int o0 = warp * 128;
#pragma unroll
  for (int s = 0; s < ST - 1; s++) {  /* prologue: groups 0 .. ST-2 of this warp */
    if (s < mine) lt_fp8_issue<NT>(ring + s * Q * 32, wr, rv, w, o0 + s * step, klim);
    lt_cp_commit();
  }
  float wsr[2];  /* weight block scales of the block's groups (NT·ng ≤ 256): loaded now, stored after x's loads */
#pragma unroll
  for (int j = 0; j < 2; j++) {
    const int i = threadIdx.x + j * LT_G8_THREADS, nt = i / ng, lg = i % ng, row = n0 + nt * 16;
    wsr[j] = i < NT * ng && row < N ? wsc[(int64_t)(row / 128) * Gw + kb / 128 + lg] : 0.0f;
  }
  LT_PDL_WAIT();  /* x (and y) belong to the previous kernels: only now */
  lt_g8_quant_x(x, xs, M, kb, ke, ng, xrow, gs, xq, xsc);
#pragma unroll
  for (int j = 0; j < 2; j++) {
    const int i = threadIdx.x + j * LT_G8_THREADS;
    if (i < NT * ng) wss[(i / ng) * gs + i % ng] = wsr[j];
  }
  __syncthreads();  /* every warp reads every token's x and the scales */

  float acc[NT][MT][4];
  lt_gemv_zero(acc);
  for (int i = 0; i < mine; i++) {
    const int o = o0 + i * step, lg = o / 128;
    lt_cp_wait<ST - 2>();  /* group i has landed (this lane's pieces) */
    /* refill the slot group i-1 used: its fragments went into the MMAs of the last iteration */
    if (i + ST - 1 < mine) lt_fp8_issue<NT>(ring + ((i + ST - 1) % ST) * Q * 32, wr, rv, w, o + (ST - 1) * step, klim);
    lt_cp_commit();
    const uint4 *slot = ring + (i % ST) * Q * 32 + lane;
    float ws[NT];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) ws[nt] = wss[nt * gs + lg];
    uint4 wa[NT][2][2];
    lt_gemv_slot_read<NT>(slot, wa);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      const int tok = mt * 8 + g, c0 = mt * 8 + 2 * t;
      uint4 xb[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
      if (tok < M) {
        const uint4 *px = (const uint4 *)(xq + (size_t)tok * xrow + o + t * 16);
        xb[0] = px[0];
        xb[1] = px[4];
      }
      const float s0 = c0 < M ? xsc[c0 * gs + lg] : 0.0f, s1 = c0 + 1 < M ? xsc[(c0 + 1) * gs + lg] : 0.0f;
      lt_fp8_group_mma<NT, MT>(acc, mt, wa, xb, ws, s0, s1);
    }
  }
  lt_cp_wait<0>();
  __syncthreads();  /* every warp is done with the ring: reuse it for the reduction */

  lt_gemv_reduce_store<NT, MT, LT_G8_WARPS>(acc, (float *)lt_g8_smem, n0, N, M, y, out_f32);
}

static int64_t lt_g8_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <int MT, int NT, int ST>
static latte_status lt_g8_launch(lt_cuda_ctx *c, int S, int kslice, const lt_weight *w, const bf16 *x, int64_t xs,
                                 int M, void *y, int out_f32) {
  static size_t opted = 0;  /* dynamic shared memory this variant is opted into */
  const int N = (int)w->n, K = (int)w->k;
  const size_t smem = lt_g8_smem_bytes(MT, NT, ST, M, kslice);
  if (smem > opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_gemv_fp8<MT, NT, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem));
    opted = smem;
  }
  const int64_t tiles = lt_g8_cdiv(N, 16 * NT);
  cudaLaunchAttribute at[2];
  const cudaLaunchConfig_t cfg = lt_cluster_z_cfg(at, (unsigned)tiles, S, LT_G8_THREADS, smem, c->stream);
  cudaError_t e = cudaLaunchKernelEx(&cfg, lt_k_gemv_fp8<MT, NT, ST>, (const uint8_t *)w->data,
                                     (const float *)w->scale, x, xs, M, N, K, kslice, y, out_f32);
  if (e != cudaSuccess)
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_gemv_fp8 (rows %d, n %d, k %d, grid %lld×%d): %s",
                  __FILE__, __LINE__, M, N, K, (long long)tiles, S, cudaGetErrorString(e));
  LT_LAUNCH_CHECK("lt_k_gemv_fp8");
  return LATTE_OK;
}

/* y [rows, n] (bf16, or f32 when out_f32; row stride n) = w8a8(x [rows, k] (bf16, row stride x_stride),
 * W) for W = w->data e4m3 [n, k] with w->scale [ceil(n/128)][ceil(k/128)]. *done = 1 when launched; 0
 * (LATTE_OK, nothing launched) when declined: W not e4m3 with 128×128 blocks, rows outside 1..16,
 * k % 16 != 0, x_stride % 8 != 0, W or x not 16-byte aligned, n or k beyond int range.
 * The K split: blocks of 16·NT rows; split K over a cluster of S ≤ 8 until about bps blocks per SM
 * (default 2), each warp keeping ≥ 1 group, no block's K range over kmax (default 4096), and the
 * quantised x slice within 64 KB of shared memory. */
extern "C" latte_status lt_cuda_gemv_fp8(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                         int rows, int out_f32, int *done) {
  *done = 0;
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (!lt_fp8_stream_serves(w, x, x_stride, rows, LT_G8_MAX_ROWS)) return LATTE_OK;
  const int N = (int)w->n, K = (int)w->k, M = rows, MT = M <= 8 ? 1 : 2, G = (K + 127) / 128;
  const int NT = lt_g8_cdiv(N, 32) >= 4 * (int64_t)c->sm_count ? 2 : 1;
  const int64_t tiles = lt_g8_cdiv(N, 16 * NT);
  /* 8 ring slots where the rows give fewer tiles than SMs (V3 kv_a 576×7168: 6.4 vs 7.1 µs, H200),
   * else 4 (8 measured slower on the larger shapes) */
  const int ST = lt_gemv_fp8_st ? (lt_gemv_fp8_st == 8 ? 8 : 4) : tiles < c->sm_count ? 8 : 4;
  const int bps = lt_gemv_fp8_bps > 0 ? lt_gemv_fp8_bps : 2, kmax = lt_gemv_fp8_kmax > 0 ? lt_gemv_fp8_kmax : 4096;
  int64_t s = lt_g8_cdiv((int64_t)bps * c->sm_count, tiles);
  if (lt_g8_cdiv(K, kmax) > s) s = lt_g8_cdiv(K, kmax);
  while (s < LT_G8_MAX_S && (int64_t)M * (lt_g8_cdiv(G, s) * 128 + LT_G8_XPAD) > (64 << 10)) s++;
  if (lt_g8_cdiv(G, s) * NT > 2 * LT_G8_THREADS) return LATTE_OK;  /* the weight scales: two per thread */
  if (s > G / LT_G8_WARPS) s = G / LT_G8_WARPS;
  if (s > LT_G8_MAX_S) s = LT_G8_MAX_S;
  if (s < 1) s = 1;
  const int kslice = (int)(lt_g8_cdiv(G, s) * 128);
  const int S = (int)lt_g8_cdiv(G, kslice / 128);
  const bf16 *xd = (const bf16 *)x;
  switch (MT * 100 + NT * 10 + ST) {
  case 114: LT_TRY((lt_g8_launch<1, 1, 4>(c, S, kslice, w, xd, x_stride, M, y, out_f32))); break;
  case 118: LT_TRY((lt_g8_launch<1, 1, 8>(c, S, kslice, w, xd, x_stride, M, y, out_f32))); break;
  case 124: case 128: LT_TRY((lt_g8_launch<1, 2, 4>(c, S, kslice, w, xd, x_stride, M, y, out_f32))); break;
  case 214: case 218: LT_TRY((lt_g8_launch<2, 1, 4>(c, S, kslice, w, xd, x_stride, M, y, out_f32))); break;
  default: LT_TRY((lt_g8_launch<2, 2, 4>(c, S, kslice, w, xd, x_stride, M, y, out_f32))); break;
  }
  *done = 1;
  return LATTE_OK;
}
