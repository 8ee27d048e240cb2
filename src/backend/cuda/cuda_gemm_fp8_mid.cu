/* cuda_gemm_fp8_mid.cu — one job: the FP8 linear layer (e4m3 W [n, k] with 128×128 block scales, w8a8:
 * x quantised per token × 128 channels, the CPU's arithmetic) at 1..64 rows, one kernel ("swap AB": W
 * rows are the MMA's M, the tokens its N). A block owns R = 16·NT·WARPS weight rows × every token × a K
 * range; its warps split the ROWS, so the x slice is staged (quantised) into shared memory once per block
 * and read by every warp. Each warp streams its rows' 128-wide K-groups through its own cp.async ring
 * (every lane copying exactly the 16-byte pieces it later reads back, no barrier), mma m16n8k32 e4m3,
 * group partial · sw · sx into fp32. K is split over a thread-block cluster (1, 1, S) whose ranks share
 * the sum through DSMEM in rank order: deterministic, no atomics, no split-K scratch. The x slice comes
 * either from bf16 x (quantised in the block) or, by default (measured faster), from lt_k_quant_rows'
 * output (cuda_gemm.cu) copied in.
 * docs/cuda-gemm.md ("The mid-size FP8 kernel"). lt_cuda_fp8_mid declines (*done = 0) outside what it
 * serves. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_gemv_common.cuh"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_fp8.cuh"
#include <stdint.h>

typedef __nv_bfloat16 bf16;

enum {
  LT_F8M_MAX_ROWS = 64,  /* 8 MMA column tiles of 8 tokens */
  LT_F8M_MAX_S = 8,      /* cluster size limit (portable) */
  LT_F8M_XPAD = 64,      /* bytes after each staged x row: tokens g, g+1 of a fragment load sit 64 bytes
                          * apart modulo 128, so a quarter warp's 16-byte loads hit 32 distinct banks */
  LT_F8M_XB = 8,         /* x staging: 16-byte loads per thread issued before any use */
  LT_F8M_TPAD = 4        /* floats after each token row of the partial tile (banks; float4 aligned) */
};

/* Knobs (bench_gemm, tests; 0 = automatic): the block shape (1: 4 warps × 16 rows, 2: 4 warps × 32,
 * 3: 8 warps × 16, 4: 8 warps × 32 rows), the K split S (1..8), where x is quantised (1: in the block
 * from bf16, 2: by lt_k_quant_rows first), the ring slots per warp (4 or 8). */
extern "C" int lt_fp8_mid_cfg, lt_fp8_mid_s, lt_fp8_mid_xq, lt_fp8_mid_st;
int lt_fp8_mid_cfg = 0, lt_fp8_mid_s = 0, lt_fp8_mid_xq = 0, lt_fp8_mid_st = 0;


/* One launch's arguments (by value). x: bf16 [M, K] (row stride xs) when xq is NULL; else xq [M, kq] e4m3
 * and xqs [kq/128][M] (lt_k_quant_rows). y [M, N] (row stride N), bf16 or f32; yvec: N % 4 == 0 and y
 * 16-byte aligned. */
typedef struct {
  const uint8_t *w;
  const float *wsc;
  const bf16 *x;
  int64_t xs;
  const uint8_t *xq;
  const float *xqs;
  int M, N, K, kq, kslice;
  void *y;
  int out_f32, yvec;
} lt_f8m_args;

/* Shared memory of one block: the warps' rings (reused for the partial tile), the x slice quantised
 * [C][kslice + XPAD] bytes, its scales [gs][C] and the weight scales [WARPS·NT][gs] (gs = kslice / 128). */
__host__ __device__ static size_t lt_f8m_ring_bytes(int MT, int NT, int WARPS, int ST) {
  const size_t ring = (size_t)WARPS * ST * NT * 4 * 32 * 16;
  const size_t tile = sizeof(float) * (size_t)MT * 8 * (NT * 16 * WARPS + LT_F8M_TPAD);
  return ring > tile ? ring : tile;
}
static size_t lt_f8m_smem_bytes(int MT, int NT, int WARPS, int ST, int kslice) {
  const int gs = kslice / 128, C = MT * 8;
  return lt_f8m_ring_bytes(MT, NT, WARPS, ST) + (size_t)C * (kslice + LT_F8M_XPAD) +
         sizeof(float) * ((size_t)gs * C + (size_t)WARPS * NT * gs);
}

/* The block's x slice, quantised: xs_s [C][xrow] e4m3 (token m, byte k − kb) and xsc_s [gs][C] scales, for
 * the ng groups of [kb, ke); tokens ≥ M and bytes ≥ ke are zeros (scale 0). From bf16 x: 8 lanes per
 * (token, group) (lt_quant16_bf16, the CPU's arithmetic), XB pairs per warp with their loads issued
 * together; from xq (already quantised): 16-byte copies, XB per thread in flight. Work items are
 * numbered group-major ((lg·C + m)·8 + piece), so every index comes from divisions by constants (by
 * ng at run time they cost ~40 instructions each, on the critical path of 1–2 warps per scheduler). */
template <int C, int WARPS>
__device__ __forceinline__ void lt_f8m_stage_x(const lt_f8m_args &a, int kb, int ke, int ng, int xrow, uint8_t *xs_s,
                                               float *xsc_s) {
  constexpr int TH = WARPS * 32;
  const int tid = threadIdx.x;
  if (a.xq) {
    const int total = ng * C * 8;  /* 16-byte pieces: 8 per (group, token) */
    for (int base = 0; base < total; base += TH * LT_F8M_XB) {
      uint4 v[LT_F8M_XB];
#pragma unroll
      for (int u = 0; u < LT_F8M_XB; u++) {
        const int i = base + u * TH + tid, q = i >> 3, m = q % C, off = (q / C) * 128 + (i & 7) * 16;
        v[u] = make_uint4(0, 0, 0, 0);
        if (i < total && m < a.M) v[u] = __ldg((const uint4 *)(a.xq + (int64_t)m * a.kq + kb + off));
      }
#pragma unroll
      for (int u = 0; u < LT_F8M_XB; u++) {
        const int i = base + u * TH + tid, q = i >> 3, m = q % C, off = (q / C) * 128 + (i & 7) * 16;
        if (i < total) *(uint4 *)(xs_s + (size_t)m * xrow + off) = v[u];
      }
    }
    for (int i = tid; i < C * ng; i += TH) {
      const int lg = i / C, m = i % C;
      xsc_s[i] = m < a.M ? a.xqs[(int64_t)(kb / 128 + lg) * a.M + m] : 0.0f;
    }
    return;
  }
  const int warp = tid >> 5, lane = tid & 31, sub = lane >> 3, l8 = lane & 7;
  const int pairs = C * ng;  /* (group, token) pairs lg·C + m, 4 per warp per pass */
  for (int base = 0; base < pairs; base += 4 * WARPS * LT_F8M_XB) {
    uint4 v[LT_F8M_XB][2];
#pragma unroll
    for (int u = 0; u < LT_F8M_XB; u++) {
      const int p = base + (u * WARPS + warp) * 4 + sub, m = p % C, k = kb + (p / C) * 128 + l8 * 16;
#pragma unroll
      for (int h = 0; h < 2; h++) {
        v[u][h] = make_uint4(0, 0, 0, 0);
        if (p < pairs && m < a.M && k + h * 8 < ke) v[u][h] = __ldg((const uint4 *)(a.x + (int64_t)m * a.xs + k + h * 8));
      }
    }
#pragma unroll
    for (int u = 0; u < LT_F8M_XB; u++) {
      const int p = base + (u * WARPS + warp) * 4 + sub, m = p % C, lg = p / C;
      float s;
      const uint4 q = lt_quant16_bf16(v[u], &s);  /* every lane: the amax shuffles */
      if (p < pairs) {
        *(uint4 *)(xs_s + (size_t)m * xrow + lg * 128 + l8 * 16) = q;
        if (l8 == 0) xsc_s[lg * C + m] = s;
      }
    }
  }
}

/* One 128-channel group of the block's MMAs for a warp: lt_fp8_group_mma's arithmetic (per 16-row tile nt
 * and 8-token tile mt, four m16n8k32 MMAs j = 0..3 on words (j & 1)·2, +1 of pieces h = j >> 1, then
 * acc += partial · sw · sx) in another issue order: j outermost, so the NT·MT chains of dependent MMAs
 * interleave (NT·MT independent MMAs between two dependent ones; measured no faster than chain order,
 * 17.7 vs 17.0 µs at 7168×2048 M = 64, H200 — the kernel is latency-bound elsewhere, docs/cuda-gemm.md;
 * kept, as it leaves ptxas the most freedom). xg: token g's piece 0 of the group in
 * the staged x ([C][xrow] bytes); sx: the group's token scales [C]. */
template <int NT, int MT>
__device__ __forceinline__ void lt_f8m_group(float (&acc)[NT][MT][4], const uint4 (&wa)[NT][2][2], const float (&ws)[NT],
                                             const uint8_t *xg, int xrow, const float *sx) {
  const int t = threadIdx.x & 3;
  float p[NT][MT][4];
  lt_gemv_zero(p);
#pragma unroll
  for (int h = 0; h < 2; h++) {
    uint4 xb[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) xb[mt] = *(const uint4 *)(xg + (size_t)mt * 8 * xrow + h * 64);
#pragma unroll
    for (int wi = 0; wi < 4; wi += 2)
#pragma unroll
      for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
          lt_mma_e4m3(p[nt][mt], lt_word(wa[nt][0][h], wi), lt_word(wa[nt][1][h], wi), lt_word(wa[nt][0][h], wi + 1),
                      lt_word(wa[nt][1][h], wi + 1), lt_word(xb[mt], wi), lt_word(xb[mt], wi + 1));
  }
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    const float2 s = *(const float2 *)(sx + mt * 8 + 2 * t);
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      acc[nt][mt][0] += p[nt][mt][0] * (ws[nt] * s.x);
      acc[nt][mt][1] += p[nt][mt][1] * (ws[nt] * s.y);
      acc[nt][mt][2] += p[nt][mt][2] * (ws[nt] * s.x);
      acc[nt][mt][3] += p[nt][mt][3] * (ws[nt] * s.y);
    }
  }
}

/* y [M, N] = Σ_g sx[m, g] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k]   (W [N, K] e4m3, M ≤ 8·MT)
 * Block (bx, ·, z): rows [bx·R, +R) (warp w: 16·NT of them, from bx·R + w·16·NT), K range [z·kslice,
 * min(K, (z+1)·kslice)). Order: weight copies of the first ST − 1 groups and the weight scales (weights
 * never change: before the PDL wait), the x slice (after it), then per group: wait for this lane's
 * pieces, refill the slot the previous group used, 4 MMAs per (16-row tile, 8-token tile), scale.
 * Within a group lane (g, t) holds bytes lt_fp8_piece(t, 0 / 1) of W rows g, g+8 and of token g: a k
 * permutation both operands share (lt_fp8_group_mma). yᵀ [R, C] → shared memory → the cluster's sum. */
template <int MT, int NT, int WARPS, int ST>
__global__ void __launch_bounds__(WARPS * 32) lt_k_fp8_mid(const lt_f8m_args a) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight prologue (cuda_common.h) */
  constexpr int C = MT * 8, WR = NT * 16, R = WR * WARPS, Q = NT * 4;  /* Q: 16-byte pieces per lane per group */
  extern __shared__ uint4 lt_f8m_smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int n0 = blockIdx.x * R;
  const int kb = blockIdx.z * a.kslice, ke = min(a.K, kb + a.kslice);
  const int gs = a.kslice / 128, Gw = (a.K + 127) / 128, xrow = a.kslice + LT_F8M_XPAD;
  const int ng = (ke - kb + 127) / 128;
  uint4 *ring = lt_f8m_smem + warp * (ST * Q * 32);
  uint8_t *xs_s = (uint8_t *)lt_f8m_smem + lt_f8m_ring_bytes(MT, NT, WARPS, ST);  /* [C][xrow] */
  float *xsc_s = (float *)(xs_s + (size_t)C * xrow);                                /* [gs][C] */
  float *wss = xsc_s + (size_t)gs * C;                                              /* [WARPS·NT][gs] */

  const uint8_t *wr[NT][2];
  bool rv[NT][2];
  lt_gemv_rows<NT>(wr, rv, a.w, a.N, a.K, n0 + warp * WR, g, kb, t * 16);
  const int klim = ke - kb - t * 16;
#pragma unroll
  for (int s = 0; s < ST - 1; s++) {  /* prologue: groups 0 .. ST-2 */
    if (s < ng) lt_fp8_issue<NT>(ring + s * Q * 32, wr, rv, a.w, s * 128, klim);
    lt_cp_commit();
  }
  for (int i = threadIdx.x; i < WARPS * NT * ng; i += WARPS * 32) {
    const int tile = i / ng, lg = i % ng, row = n0 + tile * 16;
    wss[tile * gs + lg] = row < a.N ? a.wsc[(int64_t)(row / 128) * Gw + kb / 128 + lg] : 0.0f;
  }
  LT_PDL_WAIT();  /* x (and y) belong to the previous kernels: only now */
  lt_f8m_stage_x<C, WARPS>(a, kb, ke, ng, xrow, xs_s, xsc_s);
  __syncthreads();  /* every warp reads every token's x and the scales */

  float acc[NT][MT][4];
  lt_gemv_zero(acc);
  const uint8_t *xg = xs_s + (size_t)g * xrow + t * 16;  /* token g, this lane's piece 0 */
  for (int i = 0; i < ng; i++) {
    lt_cp_wait<ST - 2>();  /* group i has landed (this lane's pieces) */
    /* refill the slot group i-1 used: its fragments went into the MMAs of the last iteration */
    if (i + ST - 1 < ng) lt_fp8_issue<NT>(ring + ((i + ST - 1) % ST) * Q * 32, wr, rv, a.w, (i + ST - 1) * 128, klim);
    lt_cp_commit();
    const uint4 *slot = ring + (i % ST) * Q * 32 + lane;
    float ws[NT];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) ws[nt] = wss[(warp * NT + nt) * gs + i];
    uint4 wa[NT][2][2];
    lt_gemv_slot_read<NT>(slot, wa);
    lt_f8m_group<NT, MT>(acc, wa, ws, xg + i * 128, xrow, xsc_s + i * C);
  }
  lt_cp_wait<0>();
  __syncthreads();  /* every warp is done with the ring: it becomes the partial tile [C][R + TPAD] */

  float *tile = (float *)lt_f8m_smem;
  constexpr int RP = R + LT_F8M_TPAD;
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int i = 0; i < 4; i++)
        tile[(mt * 8 + t * 2 + (i & 1)) * RP + warp * WR + nt * 16 + g + (i >> 1) * 8] = acc[nt][mt][i];
  lt_cluster_sum_store<R, C>(tile, RP, n0, a.N, a.M, a.y, a.out_f32, a.yvec);
}

static int64_t lt_f8m_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <int MT, int NT, int WARPS, int ST>
static latte_status lt_f8m_launch(lt_cuda_ctx *c, int tiles, int S, size_t smem, const lt_f8m_args &a) {
  static size_t opted = 0;  /* dynamic shared memory this variant is opted into */
  if (smem > opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_fp8_mid<MT, NT, WARPS, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem));
    opted = smem;
  }
  cudaLaunchAttribute at[2];
  const cudaLaunchConfig_t cfg = lt_cluster_z_cfg(at, (unsigned)tiles, S, WARPS * 32, smem, c->stream);
  cudaError_t e = cudaLaunchKernelEx(&cfg, lt_k_fp8_mid<MT, NT, WARPS, ST>, a);
  if (e != cudaSuccess)
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_fp8_mid (rows %d, n %d, k %d, grid %d×%d, smem %zu): %s",
                  __FILE__, __LINE__, a.M, a.N, a.K, tiles, S, smem, cudaGetErrorString(e));
  LT_LAUNCH_CHECK("lt_k_fp8_mid");
  return LATTE_OK;
}

/* one block shape's launch over MT (token tiles) and ST (ring slots) */
template <int NT, int WARPS>
static latte_status lt_f8m_launch_mt(lt_cuda_ctx *c, int MT, int ST, int tiles, int S, size_t smem,
                                     const lt_f8m_args &a) {
  switch (MT * 10 + (ST == 8)) {
  case 10: return lt_f8m_launch<1, NT, WARPS, 4>(c, tiles, S, smem, a);
  case 11: return lt_f8m_launch<1, NT, WARPS, 8>(c, tiles, S, smem, a);
  case 20: return lt_f8m_launch<2, NT, WARPS, 4>(c, tiles, S, smem, a);
  case 21: return lt_f8m_launch<2, NT, WARPS, 8>(c, tiles, S, smem, a);
  case 40: return lt_f8m_launch<4, NT, WARPS, 4>(c, tiles, S, smem, a);
  case 41: return lt_f8m_launch<4, NT, WARPS, 8>(c, tiles, S, smem, a);
  case 60: return lt_f8m_launch<6, NT, WARPS, 4>(c, tiles, S, smem, a);
  case 61: return lt_f8m_launch<6, NT, WARPS, 8>(c, tiles, S, smem, a);
  case 80: return lt_f8m_launch<8, NT, WARPS, 4>(c, tiles, S, smem, a);
  default: return lt_f8m_launch<8, NT, WARPS, 8>(c, tiles, S, smem, a);
  }
}

/* y [rows, n] (bf16, or f32 when out_f32; row stride n) = w8a8(x [rows, k] (bf16, row stride x_stride),
 * W) for W = w->data e4m3 [n, k] with w->scale [ceil(n/128)][ceil(k/128)]. *done = 1 when launched; 0
 * (LATTE_OK, nothing launched) when declined: W not e4m3 with 128×128 blocks, rows outside 1..64,
 * k % 16 != 0, x_stride % 8 != 0, W or x not 16-byte aligned, n or k beyond int range, or no K split
 * S ≤ 8 whose x slice and rings fit the block's shared memory.
 * Shape (automatic; the best or within ~10% of the best point of a knob sweep at the five DeepSeek-V3
 * shapes × rows 8..64, H200, docs/cuda-gemm.md): 8 warps × 16 rows (R = 128), 4 ring slots, x quantised
 * by lt_k_quant_rows first, S = the least K split giving about 3/4 of the SMs a block (snapped to the
 * measured cluster sizes 1, 2, 3, 4, 6, 8), raised until the block's shared memory fits. */
extern "C" latte_status lt_cuda_fp8_mid(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                        int rows, int out_f32, int *done) {
  *done = 0;
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (!lt_fp8_stream_serves(w, x, x_stride, rows, LT_F8M_MAX_ROWS)) return LATTE_OK;
  const int N = (int)w->n, K = (int)w->k, M = rows, G = (K + 127) / 128;
  const int MT = M <= 8 ? 1 : M <= 16 ? 2 : M <= 32 ? 4 : M <= 48 ? 6 : 8;
  static const int shapes[5][2] = {{8, 1}, {4, 1}, {4, 2}, {8, 1}, {8, 2}};  /* [cfg]: warps, 16-row tiles per warp */
  const int cfg = lt_fp8_mid_cfg >= 1 && lt_fp8_mid_cfg <= 4 ? lt_fp8_mid_cfg : 0;
  const int WARPS = shapes[cfg][0], NT = shapes[cfg][1], R = 16 * NT * WARPS;
  const int64_t tiles = lt_f8m_cdiv(N, R);
  if (tiles > INT32_MAX) return LATTE_OK;
  const size_t cap = (size_t)c->smem_optin;
  int S = lt_fp8_mid_s;
  if (S < 1) {
    S = (int)lt_f8m_cdiv(3 * (int64_t)c->sm_count, 4 * tiles);
    S = S >= 8 ? 8 : S >= 6 ? 6 : S == 5 ? 4 : S;
  }
  if (S > LT_F8M_MAX_S) S = LT_F8M_MAX_S;
  if (S > G) S = G;
  const int ST = lt_fp8_mid_st == 8 ? 8 : 4;
  int kslice = 0;
  size_t smem = 0;
  for (;; S++) {  /* the least S (from the choice above) whose block fits */
    if (S > LT_F8M_MAX_S || S > G) return LATTE_OK;
    kslice = (int)lt_f8m_cdiv(G, S) * 128;
    smem = lt_f8m_smem_bytes(MT, NT, WARPS, ST, kslice);
    if (smem <= cap) break;
  }
  S = (int)lt_f8m_cdiv(G, kslice / 128);  /* every rank keeps ≥ 1 group */
  const int preq = lt_fp8_mid_xq != 1;
  lt_f8m_args a = {};
  a.w = (const uint8_t *)w->data;
  a.wsc = w->scale;
  a.x = (const bf16 *)x;
  a.xs = x_stride;
  a.M = M;
  a.N = N;
  a.K = K;
  a.kq = G * 128;
  a.kslice = kslice;
  a.y = y;
  a.out_f32 = out_f32;
  a.yvec = N % 4 == 0 && ((uintptr_t)y & 15) == 0;
  if (preq) {
    uint8_t *xq;
    float *xqs;
    LT_TRY(lt_cuda_fp8_quant_x(c, x, x_stride, M, K, &xq, &xqs));
    a.xq = xq;
    a.xqs = xqs;
  }
  switch (cfg) {
  case 1: LT_TRY((lt_f8m_launch_mt<1, 4>(c, MT, ST, (int)tiles, S, smem, a))); break;
  case 4: LT_TRY((lt_f8m_launch_mt<2, 8>(c, MT, ST, (int)tiles, S, smem, a))); break;
  case 2: LT_TRY((lt_f8m_launch_mt<2, 4>(c, MT, ST, (int)tiles, S, smem, a))); break;
  default: LT_TRY((lt_f8m_launch_mt<1, 8>(c, MT, ST, (int)tiles, S, smem, a))); break;
  }
  *done = 1;
  return LATTE_OK;
}
