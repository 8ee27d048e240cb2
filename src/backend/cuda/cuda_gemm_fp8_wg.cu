/* cuda_gemm_fp8_wg.cu — one job: the FP8 linear layer (e4m3 W [n, k] with 128×128 block scales, w8a8: x
 * quantised per token × 128 channels by lt_k_quant_rows first, the CPU's arithmetic) at 1..64 rows on Hopper
 * warpgroup MMA: wgmma m64nNk32 e4m3 with W as the 64-row A operand and the tokens as N (N = 8·⌈rows/8⌉), both
 * K-major from shared memory in the 128-byte-swizzled layout. A block is WG warpgroups × 64 weight rows each
 * (R = 64·WG) × every token × a K range; its threads stream [R × 128 B] W tiles and [N × 128 B] x tiles (one
 * 128-wide K-group each) through an ST-stage cp.async ring, one block barrier per group; per group each
 * warpgroup issues 4 wgmma (a fresh fp32 partial), waits, and adds partial · sw · sx into fp32. K is split over
 * a thread-block cluster (1, 1, S) whose ranks share the sum through DSMEM in rank order (lt_cluster_sum_store):
 * deterministic, no atomics, no scratch beyond the quantised x. docs/cuda-gemm.md ("The wgmma FP8 kernel").
 * Layouts index-checked by scripts/fp8_wg_model.py; tested against the CPU in test_cuda_core. lt_cuda_fp8_wg
 * declines (*done = 0) outside what it serves. Above 32 rows, and at ≤ 8 rows with x quantised in its blocks, the
 * same plan runs with its tiles fed by the TMA (cuda_gemm_fp8_tma.cuh, included below: a producer warp and an
 * mbarrier ring; the same bits); at 57..64 rows over ≥ 16 tiles of 128 rows (one weight or linear_pair's two) the
 * TMA kernel takes a plan of its own (lt_f8t_choose_wide: 2 or 4 warpgroups, one block per SM). */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_gemv_common.cuh"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_wgmma.cuh"
#include "backend/cuda/cuda_fp8.cuh"
#include "backend/cuda/cuda_tma.cuh"
#include "backend/cuda/cuda_probe.cuh"
#include <stdint.h>
#include <string.h>

enum {
  LT_F8W_MAX_ROWS = 64,  /* wgmma N ≤ 64 here: 8 column chunks of 8 tokens */
  LT_F8W_MAX_S = 8,      /* cluster size limit (portable) */
  LT_F8W_TPAD = 4,       /* floats after each token row of the partial tile (banks; float4 aligned) */
  LT_F8W_ALIGN = 1024    /* the 128B swizzle's atoms (8 rows × 128 B) must be 1024-byte aligned */
};

/* Knobs (bench_gemm, tests; 0 = automatic): warpgroups per block (1, 2 or 4: 64, 128 or 256 weight rows; 4 only
 * with a 4-stage ring in the cp.async kernel), the K split S (1..8), the ring stages (4, 6 or 8). */
extern "C" int lt_fp8_wg_cfg, lt_fp8_wg_s, lt_fp8_wg_st;
int lt_fp8_wg_cfg = 0, lt_fp8_wg_s = 0, lt_fp8_wg_st = 0;
/* The automatic K split's floor (LATTE_FP8_MIN_GROUPS; 0 or 1: none): at least this many 128-wide K-groups per
 * cluster rank where ⌈4·SMs / (3·tiles)⌉ would leave fewer — V2-Lite's o_proj (2048×2048, 32 tiles: S 6 → 4) */
extern "C" int lt_fp8_wg_min_groups;
int lt_fp8_wg_min_groups = 4;
/* Where x is quantised for lt_cuda_fp8_wg (bench_gemm, tests): 0 = automatic (inside the GEMM's blocks where
 * that measured faster, else lt_k_quant_rows first), 1 = inside the blocks wherever the kernel can (≤ 8 rows,
 * ≤ 128 (token, group) pairs per block), 2 = always lt_k_quant_rows first */
extern "C" int lt_fp8_wg_xin;
int lt_fp8_wg_xin = 0;
/* Which kernel (bench_gemm, tests): 0 = automatic, 1 = the TMA kernel (cuda_gemm_fp8_tma.cuh) wherever it fits,
 * 2 = the cp.async kernel; and the TMA kernel's ring stages (0 = as many as fit, ≤ LT_F8T_MAX_ST) */
extern "C" int lt_fp8_wg_tma, lt_fp8_tma_st, lt_fp8_tma_launches;
int lt_fp8_wg_tma = 0, lt_fp8_tma_st = 0;
int lt_fp8_tma_launches = 0;  /* TMA kernel launches so far (tests: that a case ran it) */


/* One weight's part of a launch: W [N, K] e4m3, wsc [⌈N/128⌉][K/128]; y [M, N] (row stride N), bf16 or f32;
 * yvec: N % 4 == 0 and y 16-byte aligned */
typedef struct {
  const uint8_t *w;
  const float *wsc;
  void *y;
  int N, yvec;
} lt_f8w_out;

/* One launch's arguments (by value). xq [M, K] e4m3 (row stride K), xqs [K/128][M] (lt_k_quant_rows); or, for
 * the QX kernels, x [M, K] bf16 (row stride xs, rows 16-byte aligned) quantised by the blocks themselves;
 * o[0] for the first tiles1 row tiles of the grid, o[1] for the rest (linear_pair in one launch: two weights over
 * the same x; a single weight: tiles1 = the grid); kslice: the K range of one cluster rank (a multiple of 128).
 * K % 128 == 0. */
typedef struct {
  lt_f8w_out o[2];
  int tiles1;
  const uint8_t *xq;
  const float *xqs;
  const __nv_bfloat16 *x;
  int64_t xs;
  int M, K, kslice;
  int out_f32;
#ifdef LT_PROBE_ON
  int cut;  /* probe builds only (cuda_probe.cuh): parts of the TMA kernel's loop left out (lt_fp8_tma_cut) */
#endif
} lt_f8w_args;

/* bytes of one ring stage: the W tile [64·WG rows][128 B] then the x tile [NN rows][128 B], both swizzled;
 * a multiple of 1024, so every stage and both tiles start 1024-aligned */
__host__ __device__ constexpr int lt_f8w_stage_bytes(int WG, int NN) { return (64 * WG + NN) * 128; }
/* dynamic shared memory of a block: alignment slack, the ring, the token scales [gs][NN] and the weight scales
 * [WG][gs] of its gs = kslice / 128 groups (the ring is reused for the partial tile at the end) */
static size_t lt_f8w_smem_bytes(int WG, int NN, int ST, int gs) {
  return LT_F8W_ALIGN + (size_t)ST * lt_f8w_stage_bytes(WG, NN) + sizeof(float) * ((size_t)WG * gs + (size_t)gs * NN);
}
/* a QX block's x tiles of all its groups (after the ring): [gs][NN rows][128 B], swizzled like a stage's x tile */
static size_t lt_f8w_xall_bytes(int NN, int gs) { return (size_t)gs * NN * 128; }
enum { LT_F8W_QP = 8 };  /* a QX block quantises ≤ LT_F8W_QP · 4 · (warps) (token, group) pairs, all loads first */

/* The token side of a block's K range [kb, kb + 128·ng), by its T threads: QX: bf16 x quantised here (8 lanes per
 * (token, 128-group), lt_quant16_bf16: the bytes and scales lt_k_quant_rows would write; every pass's loads first)
 * into xall [ng][NN rows][128 B] (128B-swizzled) and the scales into sxs [ng][NN], tokens M .. NN−1 zero; else only
 * the scales lt_k_quant_rows wrote, into sxs. */
template <int NN, int T, bool QX>
__device__ __forceinline__ void lt_f8w_tokens(const lt_f8w_args &a, int kb, int ng, uint8_t *xall, float *sxs,
                                              int tid) {
  if (QX) {
    /* (token m, group lg) pairs q = lg·M + m, 4 per warp per pass (8 lanes each); every pass's loads first */
    const int items = a.M * ng, wid = tid >> 5, sub8 = (tid >> 3) & 3, j8 = tid & 7;
    uint4 v[LT_F8W_QP][2];
#pragma unroll
    for (int pp = 0; pp < LT_F8W_QP; pp++) {
      const int q = (pp * (T / 32) + wid) * 4 + sub8;
      v[pp][0] = v[pp][1] = make_uint4(0, 0, 0, 0);
      if (q < items) {
        const uint4 *src = (const uint4 *)(a.x + (int64_t)(q % a.M) * a.xs + kb + (q / a.M) * 128 + j8 * 16);
        v[pp][0] = src[0];
        v[pp][1] = src[1];
      }
    }
#pragma unroll
    for (int pp = 0; pp < LT_F8W_QP; pp++) {
      if ((pp * (T / 32) + wid) * 4 >= items) break;  /* warp-uniform: the shuffles need every lane */
      const int q = (pp * (T / 32) + wid) * 4 + sub8, m = q % a.M, lg = q / a.M;
      float sc;
      const uint4 b = lt_quant16_bf16(v[pp], &sc);
      if (q < items) {
        *(uint4 *)(xall + (lg * NN + m) * 128 + ((j8 ^ (m & 7)) << 4)) = b;
        if (j8 == 0) sxs[lg * NN + m] = sc;
      }
    }
    for (int i = tid; i < ng * (NN - a.M) * 8; i += T) {  /* tokens M .. NN−1: zero bytes, zero scales */
      const int lg = i / ((NN - a.M) * 8), m = a.M + (i / 8) % (NN - a.M);
      *(uint4 *)(xall + (lg * NN + m) * 128 + ((i & 7) << 4)) = make_uint4(0, 0, 0, 0);
      if ((i & 7) == 0) sxs[lg * NN + m] = 0.0f;
    }
  } else {
    for (int i = tid; i < ng * NN; i += T) {
      const int lg = i / NN, m = i % NN;
      sxs[i] = m < a.M ? a.xqs[(int64_t)(kb / 128 + lg) * a.M + m] : 0.0f;
    }
  }
}

/* consumer thread tid's accumulators (m16n8 fragment order: warp q of warpgroup wg holds rows wg·64 + 16q +
 * lane/4 (+8), chunk c columns 8c + 2(lane%4) (+1)) → the yᵀ tile [NN][RP] floats */
template <int N8, int RP, bool ADD = false>
__device__ __forceinline__ void lt_f8w_tile_put(float *tile, const float (&acc)[N8][4], int tid) {
  const int lane = tid & 31, t = lane & 3, row = (tid >> 7) * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2);
#pragma unroll
  for (int cc = 0; cc < N8; cc++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      float *d = tile + (cc * 8 + 2 * t + (e & 1)) * RP + row + (e >> 1) * 8;
      *d = ADD ? *d + acc[cc][e] : acc[cc][e];
    }
}

/* y [M, N] = Σ_g sx[m, g] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k]   (W [N, K] e4m3, M ≤ NN = 8·N8)
 * Block (bx, ·, z): W, y = a.o[0]'s for bx < tiles1, else a.o[1]'s with bx − tiles1 (a cluster shares bx, so
 * one weight); rows [bx·R, +R) (warpgroup wg: 64 of them from bx·R + 64·wg), K range [z·kslice,
 * min(K, (z+1)·kslice)) = ng groups. Every thread copies, every warpgroup multiplies (no producer warps):
 *  - thread tid copies 16-byte chunk c = tid % 8 of W rows tid/8 + j·T/8 (j < 4) and of x rows tid/8 + j·T
 *    /8 (while < NN) of each group; row r's chunk c lands at chunk c ^ (r % 8) of its 128-byte row (the 128B
 *    swizzle; T/8 is a multiple of 8, so r % 8 = (tid/8) % 8 for all of a thread's rows);
 *  - prologue: the W copies of groups 0 .. ST−2 (one cp.async group each) and the weight scales BEFORE the
 *    PDL wait (weights never change); after it the token scales and the x tiles of groups 0 .. ST−2 by plain
 *    loads and stores (so the cp.async groups stay one per stage and group i is the i-th committed);
 *  - group i: wait for this thread's copies of stage i (cp.async.wait_group ST−2), fence.proxy.async (its
 *    generic-proxy writes → the wgmma's async proxy), block barrier (everyone's copies landed, everyone is
 *    done with stage i−1), refill stage i−1's slot with group i+ST−1, then per warpgroup: wgmma.fence, 4 ×
 *    m64nNNk32 (descriptors +32 bytes per k32 step inside the 128-byte rows; scale-d 0 on the first: a fresh
 *    partial), commit, wait 0, acc += partial · (sw · sx) (mid kernel's / lt_fp8_group_mma's order);
 *  - the accumulators (m16n8 fragment order: warp q of a warpgroup holds rows 16q + lane/4 (+8), chunk c
 *    columns 8c + 2(lane%4) (+1)) → yᵀ tile [NN][R + TPAD] in the ring → lt_cluster_sum_store.
 * QX: no lt_k_quant_rows launch before it; after the PDL wait the block quantises its K range of bf16 x itself
 * (8 lanes per (token, 128-group), lt_quant16_bf16: the bytes and scales lt_k_quant_rows would write) into x
 * tiles of every group kept beside the ring (xall), so the ring carries W only. */
template <int N8, int WG, int ST, bool QX>
__global__ void __launch_bounds__(WG * 128, 1) lt_k_fp8_wg(const lt_f8w_args a) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight prologue (cuda_common.h) */
  constexpr int T = WG * 128, R = WG * 64, NN = N8 * 8, STAGE = lt_f8w_stage_bytes(WG, NN), RP = R + LT_F8W_TPAD;
  constexpr int RS = T / 8;                  /* rows between a thread's successive copies */
  constexpr int XJ = (NN * 8 + T - 1) / T;   /* x chunks per thread per stage (some threads: one fewer) */
  constexpr int XB = XJ >= 8 ? 1 : 8 / XJ;   /* prologue x: stages per batch of loads (≤ 8 uint4 in flight) */
  static_assert(ST >= 3 && RS % 8 == 0 && 4 * RS == R, "copy mapping");
  static_assert((size_t)NN * RP * sizeof(float) <= (size_t)ST * STAGE, "the partial tile fits the ring");
  extern __shared__ __align__(128) uint8_t lt_f8w_smem[];
  uint8_t *ring = lt_f8w_smem + ((LT_F8W_ALIGN - ((uint32_t)__cvta_generic_to_shared(lt_f8w_smem) & 1023u)) & 1023u);
  const uint32_t ring_sa = (uint32_t)__cvta_generic_to_shared(ring);
  const int gs = a.kslice / 128, Gw = a.K / 128;
  uint8_t *xall = ring + (size_t)ST * STAGE;          /* QX: [gs][NN][128 B] (1024-aligned) */
  float *sxs = (float *)(xall + (QX ? (size_t)gs * NN * 128 : 0));  /* [gs][NN] (1024-aligned, read as float2) */
  float *sws = sxs + gs * NN;                         /* [WG][gs] */
  const int sec = (int)blockIdx.x >= a.tiles1;  /* this block's weight: a.o[sec] */
  const lt_f8w_out o = sec ? a.o[1] : a.o[0];   /* a select, not a.o[sec]: no copy of a to local memory */
  const int tid = threadIdx.x, n0 = ((int)blockIdx.x - (sec ? a.tiles1 : 0)) * R, kb = blockIdx.z * a.kslice;
  const int ng = (min(a.K, kb + a.kslice) - kb) / 128;

  /* this thread's copies (see above): sources at the K range's start, destinations inside a stage */
  const int c = tid & 7, r0 = tid >> 3;
  const int cs = (c ^ (r0 & 7)) << 4;  /* swizzled byte offset of chunk c in every row this thread copies */
  const uint8_t *wsrc[4];
  bool wok[4];
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const int row = n0 + r0 + j * RS;
    wok[j] = row < o.N;  /* rows past N: zero-filled (src-size 0; the address stays valid) */
    wsrc[j] = o.w + (int64_t)(wok[j] ? row : 0) * a.K + kb + c * 16;
  }
  const uint8_t *xsrc[XJ];
  bool xok[XJ], xhas[XJ];
#pragma unroll
  for (int j = 0; j < XJ; j++) {
    const int m = r0 + j * RS;
    xhas[j] = !QX && m < NN;  /* this thread copies a chunk of token row m */
    xok[j] = m < a.M;         /* tokens M .. NN−1: zeros */
    xsrc[j] = QX ? NULL : a.xq + (int64_t)(xok[j] ? m : 0) * a.K + kb + c * 16;
  }
  /* W rows r0 + j·RS at stage offset (r0 + j·RS)·128 + cs; x rows at R·128 + (r0 + j·RS)·128 + cs */
  const int dst0 = r0 * 128 + cs;

  /* prologue, weights: groups 0 .. ST−2, one committed cp.async group each (empty past ng) */
  lt_cp_ring_w4<ST, RS>(ring, STAGE, dst0, wsrc, wok, ng);
  for (int i = tid; i < WG * ng; i += T) {
    const int q = i / ng, lg = i % ng, row = n0 + 64 * q;
    sws[q * gs + lg] = row < o.N ? o.wsc[(int64_t)(row / 128) * Gw + kb / 128 + lg] : 0.0f;
  }
  LT_PDL_WAIT();  /* xq and its scales come from lt_k_quant_rows (and y may be read by earlier kernels): only now */
  lt_f8w_tokens<NN, T, QX>(a, kb, ng, xall, sxs, tid);
  /* prologue, x tiles of groups 0 .. ST−2 (L2-resident, just written by lt_k_quant_rows): XB stages' loads
   * issued before their stores */
#pragma unroll
  for (int s0 = 0; s0 < (QX ? 0 : ST - 1); s0 += XB) {
    uint4 v[XB][XJ];
#pragma unroll
    for (int u = 0; u < XB; u++)
#pragma unroll
      for (int j = 0; j < XJ; j++) {
        const int s = s0 + u;
        v[u][j] = make_uint4(0, 0, 0, 0);
        if (s < ST - 1 && s < ng && xhas[j] && xok[j]) v[u][j] = __ldg((const uint4 *)(xsrc[j] + s * 128));
      }
#pragma unroll
    for (int u = 0; u < XB; u++)
#pragma unroll
      for (int j = 0; j < XJ; j++) {
        const int s = s0 + u;
        if (s < ST - 1 && s < ng && xhas[j]) *(uint4 *)(ring + s * STAGE + R * 128 + dst0 + j * RS * 128) = v[u][j];
      }
  }

  const int wg = tid >> 7, lane = tid & 31, t = lane & 3;
  float acc[N8][4], p[N8][4];
  lt_wg_zero(acc);
  lt_wg_zero(p);
  for (int i = 0; i < ng; i++) {
    lt_cp_wait<ST - 2>();     /* this thread's copies of group i have landed */
    lt_fence_proxy_async();   /* ... and with its prologue stores, are visible to the wgmma (async proxy) */
    __syncthreads();          /* everyone's have; everyone is done with group i−1's slot */
    {
      const int gi = i + ST - 1;  /* refill the slot group i−1 used */
      if (gi < ng) {
        uint8_t *d = ring + (gi % ST) * STAGE + dst0;
#pragma unroll
        for (int j = 0; j < 4; j++) lt_cp16(d + j * RS * 128, wsrc[j] + gi * 128, wok[j]);
#pragma unroll
        for (int j = 0; j < XJ; j++)
          if (xhas[j]) lt_cp16(d + R * 128 + j * RS * 128, xsrc[j] + gi * 128, xok[j]);
      }
      lt_cp_commit();  /* always: group i + ST − 1 is the (i + ST − 1)-th committed */
    }
    const uint32_t sb = ring_sa + (uint32_t)((i % ST) * STAGE);
    const uint64_t da = lt_wg_desc(sb + (uint32_t)(wg * 64 * 128), 16, 1024);  /* this warpgroup's 64 W rows */
    const uint32_t xb = QX ? ring_sa + (uint32_t)(ST * STAGE + i * NN * 128) : sb + (uint32_t)(R * 128);
    const uint64_t db = lt_wg_desc(xb, 16, 1024);                              /* the NN token rows */
    lt_wg_fp8_group<NN>(p, da, db);  /* p = this group's partial */
    const float sw = sws[wg * gs + i];
    lt_wg_fp8_scale_add<N8>(acc, p, sw, sw, sxs + i * NN + 2 * t);
  }
  lt_cp_wait<0>();  /* (only empty groups are left) */
  __syncthreads();  /* both warpgroups are done with the ring: it becomes the partial tile [NN][RP] */

  float *tile = (float *)ring;
  lt_f8w_tile_put<N8, RP>(tile, acc, tid);
  lt_cluster_sum_store<R, NN>(tile, RP, n0, o.N, a.M, o.y, a.out_f32, o.yvec);
}

static int64_t lt_f8w_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
/* row tiles of R weight rows over w (and w2 after it, when not NULL) */
static int64_t lt_f8w_tiles(const lt_weight *w, const lt_weight *w2, int R) {
  return lt_f8w_cdiv(w->n, R) + (w2 ? lt_f8w_cdiv(w2->n, R) : 0);
}

template <int N8, int WG, int ST, bool QX = false>
static latte_status lt_f8w_launch(lt_cuda_ctx *c, int tiles, int S, size_t smem, const lt_f8w_args &a) {
  static size_t opted = 0;  /* dynamic shared memory this variant is opted into */
  if (smem > opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_fp8_wg<N8, WG, ST, QX>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem));
    opted = smem;
  }
  cudaLaunchAttribute at[2];
  const cudaLaunchConfig_t cfg = lt_cluster_z_cfg(at, (unsigned)tiles, S, WG * 128, smem, c->stream);
  cudaError_t e = cudaLaunchKernelEx(&cfg, lt_k_fp8_wg<N8, WG, ST, QX>, a);
  if (e != cudaSuccess)
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_fp8_wg (rows %d, n %d%s, k %d, grid %d×%d, smem %zu): %s",
                  __FILE__, __LINE__, a.M, a.o[0].N, a.tiles1 < tiles ? " + a second weight" : "", a.K, tiles, S,
                  smem, cudaGetErrorString(e));
  LT_LAUNCH_CHECK("lt_k_fp8_wg");
  return LATTE_OK;
}

/* one block shape and ring depth: the launch over N8 = ⌈rows / 8⌉ */
template <int WG, int ST>
static latte_status lt_f8w_launch_n(lt_cuda_ctx *c, int N8, int tiles, int S, size_t smem, const lt_f8w_args &a) {
  switch (N8) {
  case 1: return lt_f8w_launch<1, WG, ST>(c, tiles, S, smem, a);
  case 2: return lt_f8w_launch<2, WG, ST>(c, tiles, S, smem, a);
  case 3: return lt_f8w_launch<3, WG, ST>(c, tiles, S, smem, a);
  case 4: return lt_f8w_launch<4, WG, ST>(c, tiles, S, smem, a);
  case 5: return lt_f8w_launch<5, WG, ST>(c, tiles, S, smem, a);
  case 6: return lt_f8w_launch<6, WG, ST>(c, tiles, S, smem, a);
  case 7: return lt_f8w_launch<7, WG, ST>(c, tiles, S, smem, a);
  default: return lt_f8w_launch<8, WG, ST>(c, tiles, S, smem, a);
  }
}

template <int WG>
static latte_status lt_f8w_launch_st(lt_cuda_ctx *c, int N8, int ST, int tiles, int S, size_t smem,
                                     const lt_f8w_args &a) {
  switch (ST) {
  case 4: return lt_f8w_launch_n<WG, 4>(c, N8, tiles, S, smem, a);
  case 6: return lt_f8w_launch_n<WG, 6>(c, N8, tiles, S, smem, a);
  default: return lt_f8w_launch_n<WG, 8>(c, N8, tiles, S, smem, a);
  }
}

#ifdef LT_PROBE_ON
LT_PROBE_DECL(lt_probe_set_f8t)
extern "C" int lt_probe_seq_f8t, lt_probe_flags, lt_fp8_tma_cut;
int lt_probe_seq_f8t = 0, lt_probe_flags = 0;
int lt_fp8_tma_cut = 0;  /* the TMA kernel's loop without its wgmma (2), x copies (4) or W copies (8): bench_gemm probe */
#endif
#include "backend/cuda/cuda_gemm_fp8_tma.cuh"

/* The launch shape of one weight (or two over the same x) at `rows` tokens (lt_f8w_choose, or lt_f8t_choose for
 * the TMA kernel: tma = 1). */
typedef struct {
  int WG, S, ST, gs, N8, tma, kw;  /* kw: the TMA kernel's consumer warpgroups per 64 rows (K groups dealt out) */
  int64_t tiles, tiles1;  /* row tiles in all; of the first weight */
  size_t smem;
} lt_f8w_plan;

/* Whether the kernel serves e4m3 W at `rows` tokens, and its launch shape: declined (0) when W is not e4m3
 * with 128×128 blocks, rows outside 1..64, k % 128 != 0 (the tiles are whole 128-byte swizzle rows), W not
 * 16-byte aligned, n or k beyond int range, or no K split S ≤ 8 whose block fits the opt-in shared memory.
 * Any n (rows past n are zero-filled in the tiles and not stored). w2 (or NULL): a second weight of the same
 * k in the same launch (its row tiles after W's; served under the same rules), the shape chosen for both.
 * Shape (automatic; from the knob sweep of `bench_gemm wg`, H200, docs/cuda-gemm.md): 1 warpgroup (64 rows:
 * twice the blocks of 2, which measured faster or equal at every V3 shape but one point), a 4-stage ring (6 and 8
 * were no faster: the ring's shared memory then limits blocks per SM), and S = ⌈4·SMs / (3·tiles)⌉ clamped to
 * 1..8 (about 1⅓ blocks per SM: 2 at 7168×2048 and 7168×16384, 6 at 2048×7168, 1 at 24576×1536, 8 at
 * 576×7168, each the sweep's best or within 0.1 µs of it), then lowered to ⌊G / 4⌋ where a rank would get fewer
 * than 4 of the G K-groups (lt_fp8_wg_min_groups: 2048×2048, S 6 → 4, 0.3–0.6 µs faster at 1..64 rows). S is
 * raised while nothing fits (the token scales grow with the K range). The knobs override each choice. */
static int lt_f8w_weight_ok(const lt_weight *w) {
  if (w->dtype != LT_F8E4M3 || w->bn != 128 || w->bk != 128 || !w->scale) return 0;
  if (w->n < 1 || w->k < 128 || w->n > INT32_MAX / 2 || w->k > INT32_MAX / 2 || w->k % 128 != 0) return 0;
  return ((uintptr_t)w->data & 15) == 0;
}
/* the plan at WG warpgroups, the least K split from S (0: the automatic rule) whose block fits, ST stages */
static int lt_f8w_choose_at(const lt_cuda_ctx *c, const lt_weight *w, const lt_weight *w2, int rows, int WG, int S,
                            int ST, lt_f8w_plan *p) {
  if (!lt_f8w_weight_ok(w) || (w2 && (!lt_f8w_weight_ok(w2) || w2->k != w->k))) return 0;
  if (rows < 1 || rows > LT_F8W_MAX_ROWS) return 0;
  const int G = (int)(w->k / 128), N8 = (rows + 7) / 8, NN = 8 * N8, R = 64 * WG;
  const int64_t tiles1 = lt_f8w_cdiv(w->n, R), tiles = lt_f8w_tiles(w, w2, R);
  if (tiles > INT32_MAX) return 0;
  const size_t cap = (size_t)c->smem_optin;
  if (S < 1) {
    const int64_t want = lt_f8w_cdiv(4 * (int64_t)c->sm_count, 3 * tiles);
    S = want > LT_F8W_MAX_S ? LT_F8W_MAX_S : (int)want;
    const int mg = lt_fp8_wg_min_groups;  /* ≥ mg K-groups per rank where the rule gives fewer */
    if (mg > 1 && S > 1 && G / S < mg) S = G / mg > 1 ? G / mg : 1;
  }
  if (S > LT_F8W_MAX_S) S = LT_F8W_MAX_S;
  if (S > G) S = G;
  for (;; S++) {  /* the least S (from the choice above) whose block fits */
    if (S > LT_F8W_MAX_S || S > G) return 0;
    const int gs = (int)lt_f8w_cdiv(G, S);
    const size_t smem = lt_f8w_smem_bytes(WG, NN, ST, gs);
    if (smem <= cap) {
      p->WG = WG;
      p->S = (int)lt_f8w_cdiv(G, gs);  /* every rank keeps ≥ 1 group */
      p->ST = ST;
      p->tma = 0;
      p->kw = 1;
      p->gs = gs;
      p->N8 = N8;
      p->tiles = tiles;
      p->tiles1 = tiles1;
      p->smem = smem;
      return 1;
    }
  }
}
static int lt_f8w_choose(const lt_cuda_ctx *c, const lt_weight *w, const lt_weight *w2, int rows, lt_f8w_plan *p) {
  const int WG = lt_fp8_wg_cfg == 2 || lt_fp8_wg_cfg == 4 ? lt_fp8_wg_cfg : 1;
  return lt_f8w_choose_at(c, w, w2, rows, WG, lt_fp8_wg_s, lt_fp8_wg_st == 6 || lt_fp8_wg_st == 8 ? lt_fp8_wg_st : 4, p);
}

/* The TMA kernel's launch shape from q, lt_f8w_choose's plan for the same weight(s) and rows (the same warpgroups,
 * tiles and K split — so every path over the same weight and rows sums in the same order and gives the same bits),
 * with the ring as deep as the shared memory of ⌈blocks / SMs⌉ (+ spare; + 1 at 2, lt_fp8_tma_spare) blocks per SM
 * allows, ≤ LT_F8T_MAX_ST and ≤ the groups per rank (lt_fp8_tma_st overrides), at least 2; qx: x quantised in the
 * blocks (≤ 8 rows, 1 warpgroup, ≤ 128 (token, group) pairs). 0 where that does not fit. */
enum { LT_F8T_MAX_ST = 16 };
/* lt_fp8_tma_spare (LATTE_FP8_TMA_SPARE=0 off): where the grid has 2 blocks per SM and no ring is asked for, the
 * automatic ring leaves an SM's shared memory room for a third block — the next call's, so its weight prologue can
 * start under PDL (H200, automatic dispatch, µs: 2048×7168 M = 1 8.40 → 7.25 with a 7-stage ring instead of 10; V3's
 * q_a + kv_a pair as one weight, 2112×7168, 8.41 → 7.19; 7168×2048 keeps its 8, which already left that room; at 3
 * blocks per SM (24576×1536) a 4th measured slower, 10.6 → 11.2). lt_fp8_tma_small (LATTE_FP8_TMA_SMALL=0 off): the
 * TMA kernel with a 4-stage ring also at ≤ 16 rows over x quantised first (else the cp.async kernel) where a block's
 * K range is 6..16 groups: 2048×7168 M = 4 / 8 / 16 8.36 / 8.64 / 9.50 → 7.89 / 8.02 / 8.91 µs, 2112×7168 M = 8 8.81
 * → 8.12, 7168×2048 M = 16 8.09 → 7.75, 576×7168 M = 16 7.28 → 7.01; not at V2-Lite's 4-group ranges (2048×2048 M = 12
 * 5.29 → 5.40) nor 7168×16384's 64 (M = 16 35.6 → 36.5). docs/cuda-gemm.md. */
extern "C" int lt_fp8_tma_spare, lt_fp8_tma_small;
int lt_fp8_tma_spare = 1, lt_fp8_tma_small = 1;
/* The TMA kernel's consumer warpgroups per 64 weight rows (KW): 2 = the block's K-groups dealt out between two
 * warpgroups (even groups to one, odd to the other), each with its own accumulators, added in that order at the
 * end — two groups' wgmma in flight where one warpgroup waits on each group's before the next. Its own sum order.
 * lt_fp8_tma_kw: 0 (default) the KW plan at 17..64 rows (lt_f8t_choose_kw, below), one warpgroup elsewhere; 1 one
 * warpgroup everywhere (the dispatch before the KW plan: the wide plan at 57..64 rows); 2 two wherever the kernel
 * can — 33..64 rows (N8 ≥ 5), ≤ 2 row warpgroups, x quantised first; 4 four (544 threads) where the plan has 1 row
 * warpgroup, else as 2 (tests, bench_gemm LT_BENCH_KW, LATTE_FP8_TMA_KW). On the eleventh session's wide plan (2
 * row warpgroups, K split 2) it shortened the MMA loop (7168×2048 M = 64: 4.6 → 3.7 µs) but not the call; the
 * twelfth session's sweep found the plan that pays: 64-row blocks, K split 1 (docs/cuda-gemm.md, "Two K parts"). */
extern "C" int lt_fp8_tma_kw, lt_fp8_tma_kw_runs;
int lt_fp8_tma_kw = 0;
int lt_fp8_tma_kw_runs = 0;  /* launches with KW ≥ 2 so far (tests: that a case ran it) */
static int lt_f8t_kw(const lt_f8w_plan &q, int qx) {
  if (qx || q.N8 < 5) return 1;
  if (lt_fp8_tma_kw == 4 && q.WG == 1) return 4;  /* (probe: four K parts, 544 threads) */
  return lt_fp8_tma_kw >= 2 && q.WG <= 2 ? 2 : 1;
}
static int lt_f8t_choose(const lt_cuda_ctx *c, const lt_f8w_plan &q, int rows, lt_f8w_plan *p, int qx = 0,
                         int spare = 0, int ring = 0, int kw_plan = 0) {
  if (qx && (q.N8 != 1 || q.WG != 1 || (int64_t)rows * q.gs > LT_F8W_QP * 4 * 4)) return 0;
  const int NN = 8 * q.N8, R = 64 * q.WG;
  const int64_t bps0 = lt_f8w_cdiv(q.tiles * q.S, c->sm_count);
  /* at 2 blocks per SM the automatic ring leaves room for a third (lt_fp8_tma_spare, above) */
  const int64_t bps = bps0 + spare + (ring == 0 && spare == 0 && bps0 == 2 && lt_fp8_tma_spare ? 1 : 0);
  const size_t stage = (size_t)lt_f8t_stage_bytes(q.WG, NN, qx), cap = (size_t)c->smem_optin;
  /* one block's share of an SM's shared memory (Hopper: the opt-in limit + the 1 KB reserved per block) */
  const size_t per = (cap + 1024) / (size_t)bps - 1024, room = per < cap ? per : cap;
  const size_t fixed = LT_F8W_ALIGN + lt_f8t_tail_bytes(q.WG, NN, LT_F8T_MAX_ST, q.gs, qx);
  int ST = lt_fp8_tma_st;
  if (ST < 1) {
    ST = room > fixed ? (int)((room - fixed) / stage) : 0;
    if (ST > q.gs) ST = q.gs;
    if (ring > 0 && ST > ring) ST = ring;
  }
  if (ST < 2) ST = 2;
  if (ST > LT_F8T_MAX_ST) ST = LT_F8T_MAX_ST;
  const int kw = kw_plan ? kw_plan : lt_f8t_kw(q, qx);
  if (ST % kw) ST = ST > kw ? ST - ST % kw : kw;  /* a multiple of kw: each stage is read by one K part only */
  const size_t smem = LT_F8W_ALIGN + (size_t)ST * stage + lt_f8t_tail_bytes(q.WG, NN, ST, q.gs, qx);
  if (smem > cap || (size_t)NN * (R + LT_F8W_TPAD) * sizeof(float) > (size_t)ST * stage) return 0;
  *p = q;
  p->ST = ST;
  p->tma = qx ? 2 : 1;
  p->kw = kw;
  p->smem = smem;
  return 1;
}

/* whether plan t (lt_f8t_choose) goes to the TMA kernel: lt_fp8_wg_tma 1 always, 2 never (LATTE_FP8_TMA=0);
 * automatic: above 32 rows (and, lt_fp8_tma_small, at ≤ 16 rows over 6..16 groups per block with a 4-stage ring)
 * where the grid is at most 2 blocks per SM — where it measured faster than the cp.async kernel (H200, `bench_gemm
 * tma`: M = 64 7168×2048 12.3 → 11.7 µs, 2048×7168 14.8 → 13.3, 7168×16384 46.4 → 44.9, 576×7168 11.6 → 8.5); at
 * ≤ 16 rows with its deep ring the quantisation launch before it cost more than the ring gained (the ring took an
 * SM's shared memory, so the next kernel's blocks could not start their prologue early) — a 4-stage ring is what
 * pays there; at 3 blocks per SM (24576×1536) its ring is shallow. */
/* whether lt_fp8_tma_small's rule takes `rows` over gs K-groups per block (4-stage ring, lt_f8w_run_q) */
static int lt_f8t_small(int rows, int gs) { return rows <= 16 && lt_fp8_tma_small && gs >= 6 && gs <= 16; }
static int lt_f8t_wanted(const lt_cuda_ctx *c, const lt_f8w_plan &t, int rows) {
  if (lt_fp8_wg_tma) return lt_fp8_wg_tma == 1;
  return (rows > 32 || lt_f8t_small(rows, t.gs)) && t.tiles * t.S <= 2 * (int64_t)c->sm_count;
}

/* The automatic TMA plan at 57..64 rows (x quantised first; N = 64 wgmma) over ≥ 16 tiles of 128 weight rows: 2
 * warpgroups (128 weight rows: each x tile serves twice the weight bytes; 4 with long K ranges, lt_fp8_tma_wide_wg
 * below), the largest K split S ≤ 6 with one block
 * per SM (tiles · S ≤ SMs: a second block on some SMs doubles their share; clusters of 8 did not all fit at once), and
 * a ring that leaves an SM room for one more block (the next kernel's weight prologue under PDL) — the knob sweep's
 * best (H200, `bench_gemm sweep`, µs at M = 64: 7168×2048 13.1 → 10.6 (S 2, 4 stages), 2048×7168 13.2 → 12.0 (S 6);
 * S 3 at 7168×2048 (168 blocks) 16.6, 8 stages 12.1). Automatic dispatch without → with it, same run: M = 64
 * 7168×2048 13.0 → 11.7, 2048×7168 14.8 → 13.6, 7168×16384 45.7 → 43.5; but 576×7168 (5 tiles) 8.6 → 10.7, and at M
 * = 40 slower on every shape (7168×16384 42.9 → 53.1), hence the bounds. linear_pair's two weights as one grid too
 * (V3's q_a + kv_a, 12 + 5 tiles, M = 64, `bench_gemm pair`, two runs: 13.6 / 13.4 → 12.4 / 12.3 µs). 0 when a knob
 * is set or nothing fits. */
/* 0: no wide plan (bench_gemm sweep's "before", LT_BENCH_TMA_WIDE=0); 1 one weight only; 2 (default) also a pair.
 * lt_fp8_tma_wide_wg: its warpgroups, 2, 4 (256 weight rows per block: half the x bytes per weight byte; K split ≤ 8)
 * or 0 (default): 4 where each block of that plan has ≥ 16 K-groups, else 2 — the 4-warpgroup form measured faster
 * only with long K ranges (H200, `bench_gemm sweep`, M = 64, µs 2 → 4 warpgroups: 7168×16384 (32 groups per block)
 * 45.97 → 43.56 and 43.37 → 42.32; slower at 7168×2048 (4 groups) 11.44 → 13.34, 2048×7168 (7) 12.33 → 14.39,
 * 24576×1536 (12) 16.86 → 18.75). bench LT_BENCH_WIDE_WG. */
extern "C" int lt_fp8_tma_wide, lt_fp8_tma_wide_wg, lt_fp8_tma_wide_runs;
int lt_fp8_tma_wide = 2, lt_fp8_tma_wide_wg = 0;
int lt_fp8_tma_wide_runs = 0;  /* launches of the wide plan so far (tests: that a case ran it) */
/* 1 (default): the x quantisation before the wide plan lets it launch at the quantisation's entry (safe: the wide
 * plan's blocks read only weights before their PDL wait; session 9 measured this early launch slower before the
 * narrower plans and linear_pair's two-launch form, hence only here); 0 off (bench_gemm LT_BENCH_QEARLY) */
extern "C" int lt_fp8_quant_early;
int lt_fp8_quant_early = 1;
/* whether a knob forces the wgmma kernel's shape (feed, warpgroups, K split, rings): then no plan of its own */
static int lt_f8t_shape_forced(void) {
  return lt_fp8_wg_tma || lt_fp8_wg_cfg || lt_fp8_wg_s > 0 || lt_fp8_wg_st || lt_fp8_tma_st > 0;
}
static int lt_f8t_choose_wide(const lt_cuda_ctx *c, const lt_weight *w, const lt_weight *w2, int rows,
                              lt_f8w_plan *t) {
  if (rows <= 56 || !lt_fp8_tma_wide || (w2 && lt_fp8_tma_wide < 2)) return 0;
  if (lt_f8t_shape_forced()) return 0;
  if (lt_f8w_tiles(w, w2, 128) < 16) return 0;
  /* the largest K split ≤ 8 (4 warpgroups) or ≤ 6 (2) with one block per SM */
  auto split = [&](int WG) {
    const int64_t S = c->sm_count / lt_f8w_tiles(w, w2, 64 * WG), most = WG == 4 ? 8 : 6;
    return S < 1 ? (int64_t)1 : S > most ? most : S;
  };
  int WG = lt_fp8_tma_wide_wg == 2 ? 2 : 4;
  int64_t S = split(WG);
  if (WG == 4 && lt_fp8_tma_wide_wg != 4 && lt_f8w_cdiv(w->k / 128, S) < 16) S = split(WG = 2);  /* automatic */
  lt_f8w_plan q;
  if (!lt_f8w_choose_at(c, w, w2, rows, WG, (int)S, 4, &q) || q.tiles * q.S > c->sm_count) return 0;
  return lt_f8t_choose(c, q, rows, t, 0, 1);
}

/* The automatic KW plan at 17..64 rows (x quantised first; lt_fp8_tma_kw 0) over 16..SMs tiles of 64 weight rows:
 * blocks of 64 weight rows whose K-groups are dealt out over two consumer warpgroups (KW 2: two groups' wgmma in
 * flight), K split 1 where the tiles are at least ¾ of the SMs (no cluster sum), else lt_f8w_choose_at's rule
 * (⌈4·SMs / (3·tiles)⌉, ≤ 8), and a ring of 8 stages where the grid is one block per SM, else 4 — the knob sweep's
 * best over x already quantised (H200, `LT_BENCH_KW=2 LT_BENCH_QSKIP=1 bench_gemm sweep`, M = 64: 7168×2048 6.91 µs
 * (K split 1, 8 stages), 2048×7168 9.03 (S 6, 4 stages; one K part: 10.25); M = 40 7168×2048 6.93–7.27, 2048×7168
 * 7.87). Automatic dispatch, same run, before (the wide plan or one K part) → after, µs at M = 64: 7168×2048 13.2 →
 * 9.3, 2048×7168 16.2 → 12.0, 7168×16384 38.5 → 38.4, linear_pair q_a + kv_a 14.9 → 11.1; M = 40 7168×16384 37.7 →
 * 35.1. Not below 16 tiles (576×7168, 9 tiles: 8.3 → 9.5) nor above SMs (24576×1536, 384: 15.3 → 17.6). At 17..32
 * rows (the cp.async kernel before; same run, µs): 7168×2048 M = 32 10.5–10.8 → 9.6, M = 24 9.3–9.8 → 8.2–8.3, 2048×7168
 * M = 32 11.0 → 9.6, M = 17 10.0 → 8.5, 7168×18432 M = 32 42.1 → 38.0–38.4, linear_pair M = 32 10.9 → 9.5 — but not at
 * ≤ 24 rows over > 64 K-groups per block (7168×16384 M = 24 37.6 → 38.9). lt_fp8_tma_kw_min: above how many rows.
 * After the wide plan's 4-warpgroup form, before its 2-warpgroup form (lt_f8t_choose_big); 0 when a knob is set or
 * nothing fits. */
extern "C" int lt_fp8_tma_kwplan_runs, lt_fp8_tma_kw_ring, lt_fp8_tma_kw_min;
int lt_fp8_tma_kwplan_runs = 0;  /* launches of the KW plan so far (tests: that a case ran it) */
int lt_fp8_tma_kw_ring = 0;      /* the KW plan's ring stages: 0 automatic (measuring: bench LT_BENCH_KW_RING) */
int lt_fp8_tma_kw_min = 16;      /* the KW plan above this many rows (≥ 16; measuring: bench LT_BENCH_KW_MIN) */
static int lt_f8t_choose_kw(const lt_cuda_ctx *c, const lt_weight *w, const lt_weight *w2, int rows, lt_f8w_plan *t) {
  if (rows <= (lt_fp8_tma_kw_min > 16 ? lt_fp8_tma_kw_min : 16) || lt_fp8_tma_kw != 0 || (w2 && lt_fp8_tma_wide < 2))
    return 0;
  if (lt_f8t_shape_forced() || lt_fp8_tma_wide_wg) return 0;
  const int64_t tiles = lt_f8w_tiles(w, w2, 64);
  if (tiles < 16 || tiles > c->sm_count) return 0;
  lt_f8w_plan q;
  if (!lt_f8w_choose_at(c, w, w2, rows, 1, 4 * tiles >= 3 * (int64_t)c->sm_count ? 1 : 0, 4, &q)) return 0;
  if (rows <= 24 && q.gs > 64) return 0;  /* (7168×16384 at 24 rows: 37.6 → 38.9 µs with it) */
  const int ring = lt_fp8_tma_kw_ring > 0 ? lt_fp8_tma_kw_ring : q.tiles * q.S <= c->sm_count ? 8 : 4;
  return lt_f8t_choose(c, q, rows, t, 0, 0, ring, 2);
}

/* the TMA plan that replaces lt_f8w_choose's at 17..64 rows over quantised x: 2 the KW plan, 1 the wide plan, 0
 * none (p's, or the TMA form of p's where lt_f8t_wanted says). The wide plan's 4-warpgroup form (long K ranges) goes
 * first: at M = 64 it measured as fast or faster than the KW plan there (H200, same run, KW → wide: 7168×16384 38.3
 * → 38.4 µs, 7168×18432 47.7 → 45.5), at M = 40 (no wide plan) the KW plan is faster (7168×18432 42.1 → 38.9). */
static int lt_f8t_choose_big(const lt_cuda_ctx *c, const lt_weight *w, const lt_weight *w2, int rows, lt_f8w_plan *t) {
  lt_f8w_plan wd;
  const int wide = lt_f8t_choose_wide(c, w, w2, rows, &wd);
  if (!(wide && wd.WG == 4) && lt_f8t_choose_kw(c, w, w2, rows, t)) return 2;
  if (wide) *t = wd;
  return wide;
}

/* whether x at `rows` tokens is quantised inside the TMA kernel's blocks, gs groups per block (its plan allows ≤ 8
 * rows and ≤ 128 (token, group) pairs): lt_fp8_wg_tma 2 never; lt_fp8_wg_xin 1 wherever it can (with lt_fp8_wg_tma
 * 1), 2 never (checked by the caller); automatic: rows · gs ≤ 32, or ≤ 64 with gs ≤ 8 — where it measured faster
 * than the cp.async kernel's dispatch (H200, `bench_gemm tma`, µs: 7168×2048 M = 1 / 2 / 4 / 8 8.1 / 7.7 / 8.2 / 8.4
 * → 7.2 / 6.9 / 7.3 / 8.1; 24576×1536 M = 1 / 2 13.7 → 12.7 / 12.6; 576×7168 M = 8 8.0 → 6.2; slower at 2048×7168
 * M = 4 / 8 (40 / 80 pairs of 10 groups: 9.1 / 9.4 → 9.3 / 10.3) and 7168×16384 M = 2 (128 pairs: 36.6 → 38.2):
 * the whole K range is quantised before the first MMA) */
static int lt_f8t_qx_wanted(int rows, int gs) {
  if (lt_fp8_wg_tma == 2) return 0;
  if (lt_fp8_wg_tma == 1) return lt_fp8_wg_xin == 1;
  const int64_t pairs = (int64_t)rows * gs;
  return pairs <= 32 || (pairs <= 64 && gs <= 8);
}

static lt_f8w_out lt_f8w_out_of(const lt_weight *w, void *y) {
  lt_f8w_out o;
  o.w = (const uint8_t *)w->data;
  o.wsc = w->scale;
  o.y = y;
  o.N = (int)w->n;
  o.yvec = w->n % 4 == 0 && ((uintptr_t)y & 15) == 0;
  return o;
}

/* the arguments of plan p's launch for W → y (and w2 → y2 when w2) */
static lt_f8w_args lt_f8w_args_of(const lt_f8w_plan &p, const lt_weight *w, void *y, const lt_weight *w2, void *y2,
                                  int rows, int out_f32) {
  lt_f8w_args a = {};
  a.o[0] = lt_f8w_out_of(w, y);
  a.o[1] = w2 ? lt_f8w_out_of(w2, y2) : a.o[0];
  a.tiles1 = (int)p.tiles1;
  a.M = rows;
  a.K = (int)w->k;
  a.kslice = p.gs * 128;
  a.out_f32 = out_f32;
  return a;
}

/* one launch of plan p over quantised x (xq [rows, k] e4m3, row stride k; xqs [k/128][rows]) */
static latte_status lt_f8w_run(lt_cuda_ctx *c, const lt_f8w_plan &p, lt_f8w_args a, const uint8_t *xq,
                               const float *xqs) {
  a.xq = xq;
  a.xqs = xqs;
#ifdef LT_PROBE_ON
  a.cut = lt_fp8_tma_cut;
#endif
  if (p.tma) {
    lt_f8t_maps m;
    const int NN = 8 * p.N8, R = 64 * p.WG;
    for (int j = 0; j < (p.tiles1 == p.tiles ? 1 : 2); j++)
      LT_TRY(lt_cuda_tmap_2d(&m.w[j], a.o[j].w, CU_TENSOR_MAP_DATA_TYPE_UINT8, (uint64_t)a.o[j].N, (uint64_t)a.K,
                             (uint64_t)a.K, (uint32_t)R, 128, CU_TENSOR_MAP_SWIZZLE_128B));
    if (p.tiles1 == p.tiles) m.w[1] = m.w[0];  /* one weight: a.o[1] is a.o[0] */
    lt_fp8_tma_launches++;
    if (p.tma == 2) {  /* x quantised in the blocks: no x map */
      memset(&m.x, 0, sizeof m.x);
      return lt_f8t_launch<1, 1, true>(c, (int)p.tiles, p.S, p.ST, p.smem, a, m);
    }
    LT_TRY(lt_cuda_tmap_2d(&m.x, xq, CU_TENSOR_MAP_DATA_TYPE_UINT8, (uint64_t)a.M, (uint64_t)a.K, (uint64_t)a.K,
                           (uint32_t)NN, 128, CU_TENSOR_MAP_SWIZZLE_128B));
    lt_fp8_tma_kw_runs += p.kw > 1;
    if (p.WG == 1) return lt_f8t_launch_n<1>(c, p.N8, (int)p.tiles, p.S, p.ST, p.smem, a, m, p.kw);
    if (p.WG == 4) return lt_f8t_launch_n<4>(c, p.N8, (int)p.tiles, p.S, p.ST, p.smem, a, m);
    return lt_f8t_launch_n<2>(c, p.N8, (int)p.tiles, p.S, p.ST, p.smem, a, m, p.kw);
  }
  if (p.WG == 1) return lt_f8w_launch_st<1>(c, p.N8, p.ST, (int)p.tiles, p.S, p.smem, a);
  if (p.WG == 4) {
    if (p.ST != 4)
      return lt_err(LATTE_ERR_UNSUPPORTED, "cuda fp8 wgmma linear: 4 warpgroups run with a 4-stage cp.async ring only "
                    "(asked for %d)", p.ST);
    return lt_f8w_launch_n<4, 4>(c, p.N8, (int)p.tiles, p.S, p.smem, a);
  }
  return lt_f8w_launch_st<2>(c, p.N8, p.ST, (int)p.tiles, p.S, p.smem, a);
}

/* plan p's launch over quantised x (lt_f8w_run), or the TMA kernel's: plan `big` where the caller's
 * lt_f8t_choose_big gave one (kind 2 the KW plan, 1 the wide plan; its own tiles and K split; kind 0: none, big
 * unused), else p's where lt_f8t_wanted says */
static latte_status lt_f8w_run_q(lt_cuda_ctx *c, const lt_f8w_plan &p, int kind, const lt_f8w_plan &big,
                                 lt_f8w_args a, const uint8_t *xq, const float *xqs, int rows) {
  if (kind) {
    if (kind == 2) lt_fp8_tma_kwplan_runs++;
    else lt_fp8_tma_wide_runs++;
    a.tiles1 = (int)big.tiles1;
    a.kslice = big.gs * 128;
    return lt_f8w_run(c, big, a, xq, xqs);
  }
  lt_f8w_plan t;
  const int small_ring = !lt_fp8_wg_tma && lt_f8t_small(rows, p.gs) ? 4 : 0;
  if (lt_f8t_choose(c, p, rows, &t, 0, 0, small_ring) && lt_f8t_wanted(c, t, rows)) return lt_f8w_run(c, t, a, xq, xqs);
  return lt_f8w_run(c, p, a, xq, xqs);
}

/* plan p's launch over bf16 x [rows, k] (row stride x_stride ≥ k, any alignment): x quantised inside the blocks
 * (QX) where that measured faster, else by lt_k_quant_rows first. QX: the automatic block shape, short K ranges
 * (gs ≤ 10 groups) and rows · gs ≤ 32 (token, group) pairs per block — where it measured faster than the
 * quantisation launch (H200, bench_gemm mid's decode rows: 7168×2048 M = 1 7.2 → 6.4 µs, 576×7168 5.4 → 4.8;
 * with 64 groups per block (7168×16384) or 48 pairs it was slower: the whole K range is quantised before the
 * first MMA) — 16-byte aligned x rows, and the x tiles fit beside the ring; lt_fp8_wg_xin = 1 drops the shape
 * rule (tests), 2 never */
static latte_status lt_f8w_go(lt_cuda_ctx *c, const lt_f8w_plan &p, lt_f8w_args a, const void *x, int64_t x_stride,
                              int rows, const lt_weight *w, const lt_weight *w2) {
  const int x_ok = x_stride % 8 == 0 && ((uintptr_t)x & 15) == 0;  /* the in-block quantisation's loads */
  lt_f8w_plan t;
  if (lt_fp8_wg_xin != 2 && x_ok && lt_f8t_choose(c, p, rows, &t, 1) && lt_f8t_qx_wanted(rows, t.gs)) {
    a.x = (const __nv_bfloat16 *)x;
    a.xs = x_stride;
    return lt_f8w_run(c, t, a, NULL, NULL);
  }
  const size_t smem_qx = p.smem + lt_f8w_xall_bytes(8 * p.N8, p.gs);
  const int qx_shape = lt_fp8_wg_xin == 1 ? (int64_t)rows * p.gs <= LT_F8W_QP * 4 * 4
                                          : p.gs <= 10 && (int64_t)rows * p.gs <= 32;
  if (lt_fp8_wg_xin != 2 && qx_shape && p.N8 == 1 && p.WG == 1 && p.ST == 4 && x_stride % 8 == 0 &&
      ((uintptr_t)x & 15) == 0 && smem_qx <= (size_t)c->smem_optin) {
    a.x = (const __nv_bfloat16 *)x;
    a.xs = x_stride;
    return lt_f8w_launch<1, 1, 4, true>(c, (int)p.tiles, p.S, smem_qx, a);
  }
  uint8_t *xq;
  float *xqs;
  /* before the KW or the wide plan (their blocks read only W and weight scales before their wait) the
   * quantisation lets the GEMM launch at its entry (lt_fp8_quant_early) */
  const int big = lt_f8t_choose_big(c, w, w2, rows, &t);
  LT_TRY(lt_cuda_fp8_quant_x_early(c, x, x_stride, rows, a.K, &xq, &xqs, lt_fp8_quant_early && big));
  return lt_f8w_run_q(c, p, big, t, a, xq, xqs, rows);
}

/* y [rows, n] (bf16, or f32 when out_f32; row stride n) = w8a8(x [rows, k] (bf16, row stride x_stride), W) for
 * W = w->data e4m3 [n, k] with w->scale [⌈n/128⌉][k/128]. *done = 1 when launched; 0 (LATTE_OK, nothing
 * launched) where lt_f8w_choose declines or x_stride < k; any x alignment and stride ≥ k. */
extern "C" latte_status lt_cuda_fp8_wg(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                       int rows, int out_f32, int *done) {
  *done = 0;
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_f8w_plan p;
  if (x_stride < w->k || !lt_f8w_choose(c, w, NULL, rows, &p)) return LATTE_OK;
  LT_TRY(lt_f8w_go(c, p, lt_f8w_args_of(p, w, y, NULL, NULL, rows, out_f32), x, x_stride, rows, w, NULL));
  *done = 1;
  return LATTE_OK;
}

/* y1 [rows, n1] = w8a8(x, W1) and y2 [rows, n2] = w8a8(x, W2) (bf16, row strides n1, n2) in ONE launch: W1's row
 * tiles then W2's in one grid, one K split for both, x quantised once (inside the blocks or by lt_k_quant_rows).
 * *done = 0 (nothing launched) where lt_f8w_choose declines the pair or x_stride < k. Each output equals,
 * bit for bit, that weight's own launch at the same K split (lt_fp8_wg_s). */
extern "C" latte_status lt_cuda_fp8_wg_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1,
                                            void *y1, const lt_weight *w2, void *y2, int rows, int *done) {
  *done = 0;
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_f8w_plan p;
  if (x_stride < w1->k || !lt_f8w_choose(c, w1, w2, rows, &p)) return LATTE_OK;
  LT_TRY(lt_f8w_go(c, p, lt_f8w_args_of(p, w1, y1, w2, y2, rows, 0), x, x_stride, rows, w1, w2));
  *done = 1;
  return LATTE_OK;
}

/* 1 when lt_cuda_fp8_wg_q serves W at `rows` tokens (lt_f8w_choose) */
extern "C" int lt_cuda_fp8_wg_serves(lt_backend *b, const lt_weight *w, int rows) {
  lt_f8w_plan p;
  return lt_f8w_choose((const lt_cuda_ctx *)b->ctx, w, NULL, rows, &p);
}

/* y = W applied to x already quantised (xq [rows, k] e4m3, row stride k = w->k; xqs [k/128][rows]: what
 * lt_cuda_fp8_quant_x or a fused producer writes); an error where lt_cuda_fp8_wg_serves says no. */
extern "C" latte_status lt_cuda_fp8_wg_q(lt_backend *b, const uint8_t *xq, const float *xqs, const lt_weight *w,
                                         void *y, int rows, int out_f32) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_f8w_plan p;
  if (!lt_f8w_choose(c, w, NULL, rows, &p))
    return lt_err(LATTE_ERR_UNSUPPORTED, "cuda fp8 wgmma linear: declines rows %d, n %lld, k %lld", rows,
                  (long long)w->n, (long long)w->k);
  lt_f8w_plan t;
  const int big = lt_f8t_choose_big(c, w, NULL, rows, &t);
  return lt_f8w_run_q(c, p, big, t, lt_f8w_args_of(p, w, y, NULL, NULL, rows, out_f32), xq, xqs, rows);
}
