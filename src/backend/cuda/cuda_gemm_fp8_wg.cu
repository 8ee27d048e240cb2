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
 * declines (*done = 0) outside what it serves. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_gemv_common.cuh"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_wgmma.cuh"
#include <stdint.h>

enum {
  LT_F8W_MAX_ROWS = 64,  /* wgmma N ≤ 64 here: 8 column chunks of 8 tokens */
  LT_F8W_MAX_S = 8,      /* cluster size limit (portable) */
  LT_F8W_TPAD = 4,       /* floats after each token row of the partial tile (banks; float4 aligned) */
  LT_F8W_ALIGN = 1024    /* the 128B swizzle's atoms (8 rows × 128 B) must be 1024-byte aligned */
};

/* Knobs (bench_gemm, tests; 0 = automatic): warpgroups per block (1 or 2: 64 or 128 weight rows), the K split
 * S (1..8), the ring stages (4, 6 or 8). */
extern "C" int lt_fp8_wg_cfg, lt_fp8_wg_s, lt_fp8_wg_st;
int lt_fp8_wg_cfg = 0, lt_fp8_wg_s = 0, lt_fp8_wg_st = 0;


/* One launch's arguments (by value). xq [M, K] e4m3 (row stride K), xqs [K/128][M] (lt_k_quant_rows); W [N, K]
 * e4m3, wsc [⌈N/128⌉][K/128]; y [M, N] (row stride N), bf16 or f32; yvec: N % 4 == 0 and y 16-byte aligned;
 * kslice: the K range of one cluster rank (a multiple of 128). K % 128 == 0. */
typedef struct {
  const uint8_t *w;
  const float *wsc;
  const uint8_t *xq;
  const float *xqs;
  int M, N, K, kslice;
  void *y;
  int out_f32, yvec;
} lt_f8w_args;

/* bytes of one ring stage: the W tile [64·WG rows][128 B] then the x tile [NN rows][128 B], both swizzled;
 * a multiple of 1024, so every stage and both tiles start 1024-aligned */
__host__ __device__ constexpr int lt_f8w_stage_bytes(int WG, int NN) { return (64 * WG + NN) * 128; }
/* dynamic shared memory of a block: alignment slack, the ring, the token scales [gs][NN] and the weight scales
 * [WG][gs] of its gs = kslice / 128 groups (the ring is reused for the partial tile at the end) */
static size_t lt_f8w_smem_bytes(int WG, int NN, int ST, int gs) {
  return LT_F8W_ALIGN + (size_t)ST * lt_f8w_stage_bytes(WG, NN) + sizeof(float) * ((size_t)WG * gs + (size_t)gs * NN);
}

/* y [M, N] = Σ_g sx[m, g] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k]   (W [N, K] e4m3, M ≤ NN = 8·N8)
 * Block (bx, ·, z): rows [bx·R, +R) (warpgroup wg: 64 of them from bx·R + 64·wg), K range [z·kslice,
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
 *    columns 8c + 2(lane%4) (+1)) → yᵀ tile [NN][R + TPAD] in the ring → lt_cluster_sum_store. */
template <int N8, int WG, int ST>
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
  float *sxs = (float *)(ring + (size_t)ST * STAGE);  /* [gs][NN] (first: 1024-aligned, read as float2) */
  float *sws = sxs + gs * NN;                         /* [WG][gs] */
  const int tid = threadIdx.x, n0 = blockIdx.x * R, kb = blockIdx.z * a.kslice;
  const int ng = (min(a.K, kb + a.kslice) - kb) / 128;

  /* this thread's copies (see above): sources at the K range's start, destinations inside a stage */
  const int c = tid & 7, r0 = tid >> 3;
  const int cs = (c ^ (r0 & 7)) << 4;  /* swizzled byte offset of chunk c in every row this thread copies */
  const uint8_t *wsrc[4];
  bool wok[4];
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const int row = n0 + r0 + j * RS;
    wok[j] = row < a.N;  /* rows past N: zero-filled (src-size 0; the address stays valid) */
    wsrc[j] = a.w + (int64_t)(wok[j] ? row : 0) * a.K + kb + c * 16;
  }
  const uint8_t *xsrc[XJ];
  bool xok[XJ], xhas[XJ];
#pragma unroll
  for (int j = 0; j < XJ; j++) {
    const int m = r0 + j * RS;
    xhas[j] = m < NN;   /* this thread copies a chunk of token row m */
    xok[j] = m < a.M;   /* tokens M .. NN−1: zeros */
    xsrc[j] = a.xq + (int64_t)(xok[j] ? m : 0) * a.K + kb + c * 16;
  }
  /* W rows r0 + j·RS at stage offset (r0 + j·RS)·128 + cs; x rows at R·128 + (r0 + j·RS)·128 + cs */
  const int dst0 = r0 * 128 + cs;

  /* prologue, weights: groups 0 .. ST−2, one committed cp.async group each (empty past ng) */
#pragma unroll
  for (int s = 0; s < ST - 1; s++) {
    if (s < ng) {
      uint8_t *d = ring + s * STAGE + dst0;
#pragma unroll
      for (int j = 0; j < 4; j++) lt_cp16(d + j * RS * 128, wsrc[j] + s * 128, wok[j]);
    }
    lt_cp_commit();
  }
  for (int i = tid; i < WG * ng; i += T) {
    const int q = i / ng, lg = i % ng, row = n0 + 64 * q;
    sws[q * gs + lg] = row < a.N ? a.wsc[(int64_t)(row / 128) * Gw + kb / 128 + lg] : 0.0f;
  }
  LT_PDL_WAIT();  /* xq and its scales come from lt_k_quant_rows (and y may be read by earlier kernels): only now */
  for (int i = tid; i < ng * NN; i += T) {
    const int lg = i / NN, m = i % NN;
    sxs[i] = m < a.M ? a.xqs[(int64_t)(kb / 128 + lg) * a.M + m] : 0.0f;
  }
  /* prologue, x tiles of groups 0 .. ST−2 (L2-resident, just written by lt_k_quant_rows): XB stages' loads
   * issued before their stores */
#pragma unroll
  for (int s0 = 0; s0 < ST - 1; s0 += XB) {
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
#pragma unroll
  for (int i = 0; i < N8; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[i][e] = p[i][e] = 0.0f;
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
    const uint64_t db = lt_wg_desc(sb + (uint32_t)(R * 128), 16, 1024);       /* the NN token rows */
    lt_wg_keep_all(p);
    lt_wg_fence();
#pragma unroll
    for (int j = 0; j < 4; j++)  /* k32 step j: bytes 32j .. 32j + 31 of every row (descriptor start + 32j) */
      lt_wg_m64k32_e4m3<NN>(&p[0][0], da + (uint64_t)(2 * j), db + (uint64_t)(2 * j), j);
    lt_wg_commit();
    lt_wg_wait<0>();
    lt_wg_keep_all(p);
    const float sw = sws[wg * gs + i];
    const float *sx = sxs + i * NN + 2 * t;
#pragma unroll
    for (int cc = 0; cc < N8; cc++) {
      const float2 s = *(const float2 *)(sx + cc * 8);
      acc[cc][0] += p[cc][0] * (sw * s.x);
      acc[cc][1] += p[cc][1] * (sw * s.y);
      acc[cc][2] += p[cc][2] * (sw * s.x);
      acc[cc][3] += p[cc][3] * (sw * s.y);
    }
  }
  lt_cp_wait<0>();  /* (only empty groups are left) */
  __syncthreads();  /* both warpgroups are done with the ring: it becomes the partial tile [NN][RP] */

  float *tile = (float *)ring;
  const int row = wg * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2);
#pragma unroll
  for (int cc = 0; cc < N8; cc++)
#pragma unroll
    for (int e = 0; e < 4; e++) tile[(cc * 8 + 2 * t + (e & 1)) * RP + row + (e >> 1) * 8] = acc[cc][e];
  lt_cluster_sum_store<R, NN>(tile, RP, n0, a.N, a.M, a.y, a.out_f32, a.yvec);
}

static int64_t lt_f8w_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <int N8, int WG, int ST>
static latte_status lt_f8w_launch(lt_cuda_ctx *c, int tiles, int S, size_t smem, const lt_f8w_args &a) {
  static size_t opted = 0;  /* dynamic shared memory this variant is opted into */
  if (smem > opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_fp8_wg<N8, WG, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    opted = smem;
  }
  cudaLaunchAttribute at[2];
  const cudaLaunchConfig_t cfg = lt_cluster_z_cfg(at, (unsigned)tiles, S, WG * 128, smem, c->stream);
  cudaError_t e = cudaLaunchKernelEx(&cfg, lt_k_fp8_wg<N8, WG, ST>, a);
  if (e != cudaSuccess)
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_fp8_wg (rows %d, n %d, k %d, grid %d×%d, smem %zu): %s",
                  __FILE__, __LINE__, a.M, a.N, a.K, tiles, S, smem, cudaGetErrorString(e));
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

/* The launch shape of one weight at `rows` tokens (lt_f8w_choose). */
typedef struct {
  int WG, S, ST, gs, N8;
  int64_t tiles;
  size_t smem;
} lt_f8w_plan;

/* Whether the kernel serves e4m3 W at `rows` tokens, and its launch shape: declined (0) when W is not e4m3
 * with 128×128 blocks, rows outside 1..64, k % 128 != 0 (the tiles are whole 128-byte swizzle rows), W not
 * 16-byte aligned, n or k beyond int range, or no K split S ≤ 8 whose block fits the opt-in shared memory.
 * Any n (rows past n are zero-filled in the tiles and not stored).
 * Shape (automatic; from the knob sweep of `bench_gemm wg`, H200, docs/cuda-gemm.md): 1 warpgroup (64 rows:
 * twice the blocks of 2, which measured faster or equal at every V3 shape but one point), a 4-stage ring (6 and 8
 * were no faster: the ring's shared memory then limits blocks per SM), and S = ⌈4·SMs / (3·tiles)⌉ clamped to
 * 1..8 (about 1⅓ blocks per SM: 2 at 7168×2048 and 7168×16384, 6 at 2048×7168, 1 at 24576×1536, 8 at
 * 576×7168, each the sweep's best or within 0.1 µs of it). S is raised while nothing fits (the token scales
 * grow with the K range). The knobs override each choice. */
static int lt_f8w_choose(const lt_cuda_ctx *c, const lt_weight *w, int rows, lt_f8w_plan *p) {
  if (w->dtype != LT_F8E4M3 || w->bn != 128 || w->bk != 128 || !w->scale) return 0;
  if (rows < 1 || rows > LT_F8W_MAX_ROWS) return 0;
  if (w->n < 1 || w->k < 128 || w->n > INT32_MAX / 2 || w->k > INT32_MAX / 2 || w->k % 128 != 0) return 0;
  if ((uintptr_t)w->data & 15) return 0;
  const int N = (int)w->n, G = (int)(w->k / 128), N8 = (rows + 7) / 8, NN = 8 * N8;
  const int WG = lt_fp8_wg_cfg == 2 ? 2 : 1, R = 64 * WG;
  const int64_t tiles = lt_f8w_cdiv(N, R);
  if (tiles > INT32_MAX) return 0;
  const size_t cap = (size_t)c->smem_optin;
  int S = lt_fp8_wg_s;
  if (S < 1) {
    const int64_t want = lt_f8w_cdiv(4 * (int64_t)c->sm_count, 3 * tiles);
    S = want > LT_F8W_MAX_S ? LT_F8W_MAX_S : (int)want;
  }
  if (S > LT_F8W_MAX_S) S = LT_F8W_MAX_S;
  if (S > G) S = G;
  const int ST = lt_fp8_wg_st == 6 || lt_fp8_wg_st == 8 ? lt_fp8_wg_st : 4;
  for (;; S++) {  /* the least S (from the choice above) whose block fits */
    if (S > LT_F8W_MAX_S || S > G) return 0;
    const int gs = (int)lt_f8w_cdiv(G, S);
    const size_t smem = lt_f8w_smem_bytes(WG, NN, ST, gs);
    if (smem <= cap) {
      p->WG = WG;
      p->S = (int)lt_f8w_cdiv(G, gs);  /* every rank keeps ≥ 1 group */
      p->ST = ST;
      p->gs = gs;
      p->N8 = N8;
      p->tiles = tiles;
      p->smem = smem;
      return 1;
    }
  }
}

/* one launch of plan p over quantised x (xq [rows, k] e4m3, row stride k; xqs [k/128][rows]) */
static latte_status lt_f8w_run(lt_cuda_ctx *c, const lt_f8w_plan &p, const lt_weight *w, const uint8_t *xq,
                               const float *xqs, void *y, int rows, int out_f32) {
  lt_f8w_args a = {};
  a.w = (const uint8_t *)w->data;
  a.wsc = w->scale;
  a.M = rows;
  a.N = (int)w->n;
  a.K = (int)w->k;
  a.kslice = p.gs * 128;
  a.y = y;
  a.out_f32 = out_f32;
  a.yvec = w->n % 4 == 0 && ((uintptr_t)y & 15) == 0;
  a.xq = xq;
  a.xqs = xqs;
  if (p.WG == 1) return lt_f8w_launch_st<1>(c, p.N8, p.ST, (int)p.tiles, p.S, p.smem, a);
  return lt_f8w_launch_st<2>(c, p.N8, p.ST, (int)p.tiles, p.S, p.smem, a);
}

/* y [rows, n] (bf16, or f32 when out_f32; row stride n) = w8a8(x [rows, k] (bf16, row stride x_stride), W) for
 * W = w->data e4m3 [n, k] with w->scale [⌈n/128⌉][k/128]. *done = 1 when launched (after lt_k_quant_rows);
 * 0 (LATTE_OK, nothing launched) where lt_f8w_choose declines or x_stride < k; any x alignment and stride ≥ k
 * (lt_k_quant_rows reads x). */
extern "C" latte_status lt_cuda_fp8_wg(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                       int rows, int out_f32, int *done) {
  *done = 0;
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_f8w_plan p;
  if (x_stride < w->k || !lt_f8w_choose(c, w, rows, &p)) return LATTE_OK;
  uint8_t *xq;
  float *xqs;
  LT_TRY(lt_cuda_fp8_quant_x(c, x, x_stride, rows, (int)w->k, &xq, &xqs));
  LT_TRY(lt_f8w_run(c, p, w, xq, xqs, y, rows, out_f32));
  *done = 1;
  return LATTE_OK;
}

/* 1 when lt_cuda_fp8_wg_q serves W at `rows` tokens (lt_f8w_choose) */
extern "C" int lt_cuda_fp8_wg_serves(lt_backend *b, const lt_weight *w, int rows) {
  lt_f8w_plan p;
  return lt_f8w_choose((const lt_cuda_ctx *)b->ctx, w, rows, &p);
}

/* y = W applied to x already quantised (xq [rows, k] e4m3, row stride k = w->k; xqs [k/128][rows]: what
 * lt_cuda_fp8_quant_x or a fused producer writes); an error where lt_cuda_fp8_wg_serves says no. */
extern "C" latte_status lt_cuda_fp8_wg_q(lt_backend *b, const uint8_t *xq, const float *xqs, const lt_weight *w,
                                         void *y, int rows, int out_f32) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_f8w_plan p;
  if (!lt_f8w_choose(c, w, rows, &p))
    return lt_err(LATTE_ERR_UNSUPPORTED, "cuda fp8 wgmma linear: declines rows %d, n %lld, k %lld", rows,
                  (long long)w->n, (long long)w->k);
  return lt_f8w_run(c, p, w, xq, xqs, y, rows, out_f32);
}
