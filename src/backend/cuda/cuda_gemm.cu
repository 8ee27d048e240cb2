/* cuda_gemm.cu — linear layers y = x · Wᵀ: bf16 weights through cuBLASLt (fp32 compute); FP8 e4m3
 * weights (--w8a8) through per-token-group activation quantisation (1×128, s = amax/448) and either
 * cuBLASLt's block-scaled FP8 GEMM or our FP8 kernels: the wgmma one (cuda_gemm_fp8_wg.cu, 1..64 rows,
 * k % 128 == 0, tried first) and, where it declines or is off, the mma.sync ones — the decode GEMV
 * (cuda_gemv_fp8.cu, rows ≤ 4), the mid-size kernel (cuda_gemm_fp8_mid.cu, 5..64 rows where it measured
 * faster), a split-free one that quantises x itself (rows ≤ 16, one launch) and the older split-K one. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_fp8.cuh"
#include "backend/cuda/cuda_probe.cuh"
#include <cooperative_groups.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef __nv_bfloat16 bf16;

/* 0: automatic; 1: always our FP8 kernels (split-free kernel where it applies, else the split-K one);
 * 2: always cuBLASLt for FP8; 3: always the split-K kernel with the separate quantisation; 4: the FP8
 * decode GEMV, 5: the mid-size FP8 kernel, 6: the wgmma FP8 kernel, each an error where it declines
 * (bench / tests) */
extern "C" int lt_cuda_gemm_force;
int lt_cuda_gemm_force = 0;
/* 1: the automatic dispatch takes the FP8 decode GEMV where it serves (LATTE_GEMV_FP8, measuring) */
extern "C" int lt_cuda_gemv_fp8_on;
int lt_cuda_gemv_fp8_on = 1;
/* 1: the automatic dispatch takes the mid-size FP8 kernel where it measured faster; 0: never (LATTE_FP8_MID=0,
 * measuring) */
extern "C" int lt_cuda_fp8_mid_on;
int lt_cuda_fp8_mid_on = 1;
extern "C" int lt_cuda_fp8_prequant_on;  /* cuda_norm.cu */
/* 1 (default): the automatic dispatch tries the wgmma FP8 kernel first at 1..64 rows, where it measured
 * fastest (H200, bench_gemm; docs/cuda-gemm.md, "The wgmma FP8 kernel"); 0: never (LATTE_FP8_WG=0, measuring) */
extern "C" int lt_cuda_fp8_wg_on;
int lt_cuda_fp8_wg_on = 1;

enum { LT_GEMM_NPLAN = 12,     /* cached cuBLASLt plans per weight (distinct row counts / strides) */
       LT_FP8_SMALL_M = 8,     /* rows at or below: our kernel (cuBLASLt refuses M = 1 block-scaled) */
       LT_FP8_FUSE_M = 16,     /* rows at or below: the split-free kernel quantises x itself */
       LT_FP8_SF_M = 64,       /* rows at or below: the split-free kernel may run (see linear_any) */
       LT_FP8_WARPS = 4,       /* warps per block of our FP8 kernels */
       LT_FP8_GEMV_M = 4,      /* rows at or below: the FP8 decode GEMV (slower than the split-free kernel at 8) */
       LT_FP8_MID_M = 64,      /* rows at or below (above LT_FP8_GEMV_M): the mid-size FP8 kernel, where measured faster */
       LT_FP8_MID_ALL_M = 16 };/* rows at or below: the mid-size kernel at every shape (fp8_mid_auto) */
/* rows · n · k at or below which the mid-size kernel runs at 17..64 rows (fp8_mid_auto) */
static const int64_t LT_FP8_MID_WORK = (int64_t)1 << 29;
/* weight bytes (n·k) at or below which the fused split-free kernel is chosen: measured (H200) faster
 * than the split-K kernel and cuBLASLt up to 37.7 MB at rows ≤ 8 (slower at 117 MB), and up to 14.7 MB
 * at 9..16 rows (slower than cuBLASLt at 37.7 MB) */
static const int64_t LT_FP8_SF_BYTES8 = (int64_t)64 << 20, LT_FP8_SF_BYTES16 = (int64_t)24 << 20;

/* A cuBLASLt matmul prepared for one (rows, x stride, output type, alignments); the descriptors are
 * the opaque in-place kind, so the whole cache is one malloc'd block (freed with free(w->priv)). */
typedef struct {
  int valid, ok, status, rows, out_f32, align;
  int64_t xs;
  cublasLtMatmulDescOpaque_t op;
  cublasLtMatrixLayoutOpaque_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
} lt_gemm_plan;

/* w->priv of a linear weight. wscale: FP8 weight scales as cuBLASLt wants them, [ceil(n/128)][L4]
 * with L4 = ceil(k/128) rounded up to 4; a cudaMalloc of ours when wscale_own (see
 * lt_cuda_linear_release), else w->scale itself. */
typedef struct {
  float *wscale;
  int wscale_own;
  int next;
  lt_gemm_plan plan[LT_GEMM_NPLAN];
} lt_gemm_priv;

static lt_cuda_ctx *ctx_of(lt_backend *b) { return (lt_cuda_ctx *)b->ctx; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int ptr_align(const void *p) {
  uintptr_t u = (uintptr_t)p;
  int a = 256;
  while (a > 1 && (u & (uintptr_t)(a - 1))) a >>= 1;
  return a;
}

/* Frees what lt_gemm_priv holds on the device; weight_free should call it before free(w->priv). */
extern "C" void lt_cuda_linear_release(lt_weight *w) {
  lt_gemm_priv *p = (lt_gemm_priv *)w->priv;
  if (p && p->wscale_own) { cudaFree(p->wscale); p->wscale = NULL; p->wscale_own = 0; }
}

static latte_status gemm_priv(const lt_weight *w, lt_gemm_priv **out) {
  lt_weight *mw = (lt_weight *)w;  /* lazily prepared state lives in the weight */
  if (!mw->priv) {
    mw->priv = calloc(1, sizeof(lt_gemm_priv));
    if (!mw->priv) return lt_err(LATTE_ERR_NOMEM, "cuda linear: out of host memory");
  }
  *out = (lt_gemm_priv *)mw->priv;
  return LATTE_OK;
}

/* ================================ FP8 activation quantisation ================================ */

/* One warp per (row m, 128-group g): lt_quant_group4 (cuda_fp8.cuh), as the CPU's lt_cpu_quant_rows.
 * xq [M, kq] (kq = k rounded up to 128, zero padded); scales s = amax/448 stored group-major
 * sc[g * M + m] (cuBLASLt's VEC128 layout for the B operand). */
#ifdef LT_PROBE_ON
LT_PROBE_DECL(lt_probe_set_q)
extern "C" int lt_probe_seq_q, lt_probe_flags;
int lt_probe_seq_q = 0;
#endif
__global__ void lt_k_quant_rows(const bf16 *x, int64_t xs, int M, int K, int kq, uint8_t *xq, float *sc,
                                int early LT_PROBE_ARG) {
  if (threadIdx.x == 0) { LT_PROBE(1, blockIdx.x, 0); LT_PROBE(1, blockIdx.x, 7); }
  /* early: the next kernel reads nothing but weights before its own wait (the wide TMA plan), so it may launch
   * before this one's wait, and its weight prologue overlap this kernel's wait as well */
  if (early) LT_PDL_LAUNCH_NEXT();
  LT_PDL_ENTER();  /* x comes from the previous kernel; the next (the mid-size FP8 kernel) may start its weights */
  if (threadIdx.x == 0) LT_PROBE(1, blockIdx.x, 1);
  int64_t wid = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31, G = kq / 128;
  if (wid >= (int64_t)M * G) return;
  int m = (int)(wid / G), g = (int)(wid % G);
  const bf16 *xr = x + (int64_t)m * xs;
  int k0 = g * 128 + lane * 4;
  float v[4];
  for (int j = 0; j < 4; j++) v[j] = k0 + j < K ? __bfloat162float(xr[k0 + j]) : 0.0f;
  float s;
  *(uint32_t *)(xq + (int64_t)m * kq + k0) = lt_quant_group4(v, &s);
  if (lane == 0) sc[(int64_t)g * M + m] = s;
  if (threadIdx.x == 0) LT_PROBE(1, blockIdx.x, 2);
}

/* Measuring only (bench_gemm; never set by the library): 1 = lt_cuda_fp8_quant_x hands back the scratch as the
 * last call left it without launching the quantisation, so a bench times the GEMM alone, as it runs where
 * the op before it writes e4m3 x (the values are stale: timing only). */
extern "C" int lt_fp8_quant_skip;
int lt_fp8_quant_skip = 0;

/* The quantised x of rows × k in scratch slot LT_SCR_GEMM_A: [xq [rows, kq] | pad to 256 | scales [kq/128][rows]]
 * (kq = k rounded up to 128) */
extern "C" latte_status lt_cuda_fp8_xq_buf(lt_cuda_ctx *c, int rows, int k, uint8_t **xq, float **xsc) {
  const int kq = (int)cdiv(k, 128) * 128, G = kq / 128;
  const size_t qbytes = ((size_t)rows * kq + 255) / 256 * 256;
  uint8_t *buf;
  LT_TRY(lt_cuda_scratch(c, LT_SCR_GEMM_A, qbytes + sizeof(float) * (size_t)G * rows, (void **)&buf));
  *xq = buf;
  *xsc = (float *)(buf + qbytes);
  return LATTE_OK;
}

/* x [rows, k] (bf16, row stride xs) → xq [rows, kq] e4m3 and scales [kq/128][rows] (lt_cuda_fp8_xq_buf), one
 * launch of lt_k_quant_rows (early: it lets the next kernel launch at its entry — for a next kernel that reads only
 * weights before its PDL wait). */
extern "C" latte_status lt_cuda_fp8_quant_x_early(lt_cuda_ctx *c, const void *x, int64_t xs, int rows, int k,
                                                  uint8_t **xq, float **xsc, int early) {
  const int kq = (int)cdiv(k, 128) * 128, G = kq / 128;
  LT_TRY(lt_cuda_fp8_xq_buf(c, rows, k, xq, xsc));
  if (lt_fp8_quant_skip) return LATTE_OK;
  const int64_t warps = (int64_t)rows * G;
  LT_CUDA_TRY(lt_launch(lt_k_quant_rows, dim3((unsigned)cdiv(warps, 8)), dim3(256), 0, c->stream, (const bf16 *)x, xs,
                        rows, k, kq, *xq, *xsc,
                        early LT_PROBE_PASS((lt_probe_seq_q++ & 255) | (lt_probe_flags & 1) << 8)));
  LT_LAUNCH_CHECK("lt_k_quant_rows");
  return LATTE_OK;
}
extern "C" latte_status lt_cuda_fp8_quant_x(lt_cuda_ctx *c, const void *x, int64_t xs, int rows, int k, uint8_t **xq,
                                            float **xsc) {
  return lt_cuda_fp8_quant_x_early(c, x, xs, rows, k, xq, xsc, 0);
}

/* ============================ FP8 GEMM: our mma.sync kernel ============================ */

/* Weights are streamed once: bypass L1. */
__device__ __forceinline__ uint4 lt_ld_stream(const void *p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

/* 16 bytes of row r of W at column k (zero outside [0,N)×[0,K)). VEC: K % 16 == 0. */
template <bool VEC>
__device__ __forceinline__ uint4 lt_ld_w(const uint8_t *w, int N, int K, int r, int k) {
  uint4 z = make_uint4(0, 0, 0, 0);
  if (r >= N || k >= K) return z;
  const uint8_t *p = w + (int64_t)r * K + k;
  if (VEC) return lt_ld_stream(p);
  uint32_t u[4] = {0, 0, 0, 0};
  for (int i = 0; i < 16 && k + i < K; i++) u[i >> 2] |= (uint32_t)p[i] << (8 * (i & 3));
  return make_uint4(u[0], u[1], u[2], u[3]);
}

/* The quad lane's fragments of K-group g for NT 16-row tiles from row n0: [tile][row gq / gq+8][16-byte piece]
 * (bytes lt_fp8_piece(tq, 0 / 1) of the group in each of its two rows: one load instruction covers 64
 * contiguous bytes of 8 rows). */
template <bool VEC, int NT>
__device__ __forceinline__ void lt_ld_group(uint4 (&f)[NT][2][2], const uint8_t *w, int N, int K, int n0, int g,
                                            int gq, int tq) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int rr = 0; rr < 2; rr++)
#pragma unroll
      for (int hh = 0; hh < 2; hh++)
        f[nt][rr][hh] = lt_ld_w<VEC>(w, N, K, n0 + nt * 16 + rr * 8 + gq, g * 128 + lt_fp8_piece(tq, hh));
}

/* Block scales of K-group g for the NT row tiles from n0 (0 past N); Gw = K-groups per scale row */
template <int NT>
__device__ __forceinline__ void lt_ld_wscale(float (&ws)[NT], const float *wsc, int N, int n0, int Gw, int g) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++) ws[nt] = (n0 + nt * 16 < N) ? wsc[(int64_t)((n0 + nt * 16) / 128) * Gw + g] : 0.0f;
}

/* The quad lane's fragment of pre-quantised x (row m0 + gq, K-group g) and the scales of tokens
 * m0 + 2tq, m0 + 2tq + 1 (zero past M) */
__device__ __forceinline__ void lt_ld_xq(const uint8_t *xq, const float *xsc, int M, int kq, int m0, int g, int gq,
                                         int tq, uint4 (&xb)[2], float *s0, float *s1) {
  const int mrow = m0 + gq;
  if (mrow < M) {
    const uint8_t *p = xq + (int64_t)mrow * kq + g * 128;
    xb[0] = *(const uint4 *)(p + lt_fp8_piece(tq, 0));
    xb[1] = *(const uint4 *)(p + lt_fp8_piece(tq, 1));
  } else {
    xb[0] = xb[1] = make_uint4(0, 0, 0, 0);
  }
  const int mc = m0 + tq * 2;
  *s0 = mc < M ? xsc[(int64_t)g * M + mc] : 0.0f;
  *s1 = mc + 1 < M ? xsc[(int64_t)g * M + mc + 1] : 0.0f;
}

/* y[m, n] = Σ_g sa[g, m] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k]   (y [M, N], W [N, K] e4m3)
 * Computed as yᵀ = W · xqᵀ with mma m16n8k32: W rows are the MMA's M (16 per tile, NT tiles = 16·NT
 * rows per block), tokens its N (8 per tile, MT tiles per block). The warps of a block split the
 * block's 128-wide K-groups; blockIdx.z splits them further (partials [split, M, N] f32 when split).
 * Within a K-group the lane (g, t) of a quad loads bytes [t·32, t·32+32) of its rows for both
 * operands, a k permutation the block scale does not see (the sum over the group is the same). */
/* The prefetched fragments of the next group become the current ones. */
template <int NT>
__device__ __forceinline__ void lt_fp8_take(uint4 (&wa)[NT][2][2], const uint4 (&wn)[NT][2][2]) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int rr = 0; rr < 2; rr++)
#pragma unroll
      for (int hh = 0; hh < 2; hh++) wa[nt][rr][hh] = wn[nt][rr][hh];
}

template <int MT, int NT, bool VEC>
__global__ void __launch_bounds__(LT_FP8_WARPS * 32) lt_k_fp8_gemm(const uint8_t *__restrict__ w, const float *__restrict__ wsc,
                                                     const uint8_t *__restrict__ xq, const float *__restrict__ xsc,
                                                     int M, int N, int K, int kq, int kg_per_split, void *out,
                                                     int out_kind /* 0 bf16, 1 f32, 2 f32 partial */) {
  __shared__ float red[NT * 16][MT * 8 + 1];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gq = lane >> 2, tq = lane & 3;
  const int n0 = blockIdx.x * (NT * 16), m0 = blockIdx.y * (MT * 8);
  const int G = kq / 128, Gw = (int)((K + 127) / 128);
  const int gbeg = blockIdx.z * kg_per_split;
  const int gend = min(G, gbeg + kg_per_split);
  for (int i = threadIdx.x; i < NT * 16 * (MT * 8 + 1); i += blockDim.x) (&red[0][0])[i] = 0.0f;

  float acc[NT][MT][4];
#pragma unroll
  for (int a = 0; a < NT; a++)
#pragma unroll
    for (int b = 0; b < MT; b++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[a][b][c] = 0.0f;

  uint4 wa[NT][2][2], wn[NT][2][2];  /* [tile][row g / g+8][16-byte piece] */
  int g = gbeg + warp;
  if (g < gend) lt_ld_group<VEC, NT>(wa, w, N, K, n0, g, gq, tq);
  for (; g < gend; g += LT_FP8_WARPS) {
    const int gn = g + LT_FP8_WARPS;
    if (gn < gend) lt_ld_group<VEC, NT>(wn, w, N, K, n0, gn, gq, tq);  /* prefetch the next K-group's weights */
    float ws[NT];
    lt_ld_wscale<NT>(ws, wsc, N, n0, Gw, g);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      uint4 xb[2];
      float s0, s1;
      lt_ld_xq(xq, xsc, M, kq, m0 + mt * 8, g, gq, tq, xb, &s0, &s1);
      lt_fp8_group_mma<NT, MT>(acc, mt, wa, xb, ws, s0, s1);
    }
    if (gn < gend) lt_fp8_take<NT>(wa, wn);
  }
  __syncthreads();  /* red is zeroed */
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      atomicAdd(&red[nt * 16 + gq][mt * 8 + tq * 2], acc[nt][mt][0]);
      atomicAdd(&red[nt * 16 + gq][mt * 8 + tq * 2 + 1], acc[nt][mt][1]);
      atomicAdd(&red[nt * 16 + gq + 8][mt * 8 + tq * 2], acc[nt][mt][2]);
      atomicAdd(&red[nt * 16 + gq + 8][mt * 8 + tq * 2 + 1], acc[nt][mt][3]);
    }
  __syncthreads();
  for (int i = threadIdx.x; i < NT * 16 * MT * 8; i += blockDim.x) {
    const int nl = i % (NT * 16), ml = i / (NT * 16), n = n0 + nl, m = m0 + ml;
    if (n >= N || m >= M) continue;
    const float v = red[nl][ml];
    if (out_kind == 0) ((bf16 *)out)[(int64_t)m * N + n] = __float2bfloat16(v);
    else if (out_kind == 1) ((float *)out)[(int64_t)m * N + n] = v;
    else ((float *)out)[((int64_t)blockIdx.z * M + m) * N + n] = v;
  }
}

/* out[m, n] = Σ_s part[s, m, n] */
__global__ void lt_k_splitk_sum(const float *part, int splits, int64_t mn, void *out, int out_f32) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < mn; i += (int64_t)gridDim.x * blockDim.x) {
    float v = 0.0f;
    for (int s = 0; s < splits; s++) v += part[s * mn + i];
    if (out_f32) ((float *)out)[i] = v;
    else ((bf16 *)out)[i] = __float2bfloat16(v);
  }
}

template <int MT, int NT>
static void launch_fp8(dim3 grid, cudaStream_t st, bool vec, const uint8_t *w, const float *wsc, const uint8_t *xq,
                       const float *xsc, int M, int N, int K, int kq, int kgs, void *out, int kind) {
  if (vec) lt_k_fp8_gemm<MT, NT, true><<<grid, LT_FP8_WARPS * 32, 0, st>>>(w, wsc, xq, xsc, M, N, K, kq, kgs, out, kind);
  else lt_k_fp8_gemm<MT, NT, false><<<grid, LT_FP8_WARPS * 32, 0, st>>>(w, wsc, xq, xsc, M, N, K, kq, kgs, out, kind);
}

/* Our FP8 GEMM on already quantised activations. */
static latte_status fp8_own(lt_cuda_ctx *c, const lt_weight *w, const uint8_t *xq, const float *xsc, int M, int kq,
                            void *y, int out_f32) {
  const int N = (int)w->n, K = (int)w->k, G = kq / 128;
  int mt = M <= 8 ? 1 : M <= 16 ? 2 : M <= 32 ? 4 : 8;
  int nt = mt >= 4 ? 1 : 2;   /* keeps acc + operands within 255 registers */
  int64_t gx = cdiv(N, nt * 16), gy = cdiv(M, mt * 8);
  int64_t blocks = gx * gy;
  /* split the K-groups over blocks until the GPU has ~4 blocks per SM (each warp keeps ≥ 2 groups) */
  int splits = (int)cdiv(4 * c->sm_count, blocks);
  int max_split = G / (2 * LT_FP8_WARPS) > 1 ? G / (2 * LT_FP8_WARPS) : 1;
  if (splits > max_split) splits = max_split;
  if (splits < 1) splits = 1;
  int kgs = (int)cdiv(G, splits);
  splits = (int)cdiv(G, kgs);
  dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)splits);
  bool vec = K % 16 == 0 && ((uintptr_t)w->data & 15) == 0;
  void *out = y;
  int kind = out_f32 ? 1 : 0;
  float *part = NULL;
  if (splits > 1) {
    LT_TRY(lt_cuda_scratch(c, LT_SCR_GEMM_B, sizeof(float) * (size_t)splits * M * N, (void **)&part));
    out = part;
    kind = 2;
  }
  const uint8_t *wd = (const uint8_t *)w->data;
  switch (mt * 10 + nt) {
  case 12: launch_fp8<1, 2>(grid, c->stream, vec, wd, w->scale, xq, xsc, M, N, K, kq, kgs, out, kind); break;
  case 22: launch_fp8<2, 2>(grid, c->stream, vec, wd, w->scale, xq, xsc, M, N, K, kq, kgs, out, kind); break;
  case 41: launch_fp8<4, 1>(grid, c->stream, vec, wd, w->scale, xq, xsc, M, N, K, kq, kgs, out, kind); break;
  default: launch_fp8<8, 1>(grid, c->stream, vec, wd, w->scale, xq, xsc, M, N, K, kq, kgs, out, kind); break;
  }
  LT_LAUNCH_CHECK("lt_k_fp8_gemm");
  if (splits > 1) {
    int64_t mn = (int64_t)M * N, nb = cdiv(mn, 256), cap = (int64_t)c->sm_count * 8;
    lt_k_splitk_sum<<<(unsigned)(nb < cap ? nb : cap), 256, 0, c->stream>>>(part, splits, mn, y, out_f32);
    LT_LAUNCH_CHECK("lt_k_splitk_sum");
  }
  return LATTE_OK;
}

/* ============ FP8 GEMM, split-free: one kernel, whole K per output tile (decode sizes) ============ */

namespace cg = cooperative_groups;

/* Lane (gq, tq)'s B fragment (see lt_k_fp8_gemm) for token row m and K-group g, quantised here: the
 * 2 × 16 values of x[m, g·128 + lt_fp8_piece(tq, 0 / 1) ..] scaled by inv = 448/amax of the row's whole
 * group (the quad's four lanes hold its 128 values), q = e4m3 RNE saturating — lt_k_quant_rows's arithmetic. *s = amax/448; rows
 * m ≥ M and columns ≥ K read as 0. xvec: x rows 16-byte aligned and K % 8 == 0 (uint4 loads). */
__device__ __forceinline__ void lt_quant_frag(const bf16 *__restrict__ x, int64_t xs, int M, int K, int xvec, int m,
                                              int g, int tq, uint4 *xb, float *s) {
  float v[32];  /* v[16h + j] = x[m, k0 + lt_fp8_piece(tq, h) + j] */
  const int k0 = g * 128;
  if (m < M && xvec) {
    const bf16 *p = x + (int64_t)m * xs + k0;
#pragma unroll
    for (int c = 0; c < 4; c++) {
      const int kc = lt_fp8_piece(tq, c >> 1) + (c & 1) * 8;
      uint4 u = make_uint4(0, 0, 0, 0);
      if (k0 + kc < K) u = *(const uint4 *)(p + kc);
      const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const float2 f = __bfloat1622float2(h[j]);
        v[c * 8 + 2 * j] = f.x;
        v[c * 8 + 2 * j + 1] = f.y;
      }
    }
  } else {
#pragma unroll
    for (int j = 0; j < 32; j++) {
      const int k = k0 + lt_fp8_piece(tq, j >> 4) + (j & 15);
      v[j] = (m < M && k < K) ? __bfloat162float(x[(int64_t)m * xs + k]) : 0.0f;
    }
  }
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
  const float inv = amax > 0.0f ? __fdiv_rn(448.0f, amax) : 0.0f;  /* exact division even under fast-math */
  uint32_t q[8];
#pragma unroll
  for (int i = 0; i < 8; i++) {  /* byte j of word i = element 4i + j (the weights' byte order) */
    const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(__fmul_rn(v[4 * i], inv), __fmul_rn(v[4 * i + 1], inv)),
                                                 __NV_SATFINITE, __NV_E4M3);
    const uint32_t hi = __nv_cvt_float2_to_fp8x2(
        make_float2(__fmul_rn(v[4 * i + 2], inv), __fmul_rn(v[4 * i + 3], inv)), __NV_SATFINITE, __NV_E4M3);
    q[i] = (lo & 0xffffu) | (hi << 16);
  }
  xb[0] = make_uint4(q[0], q[1], q[2], q[3]);
  xb[1] = make_uint4(q[4], q[5], q[6], q[7]);
  *s = __fdiv_rn(amax, 448.0f);
}

/* y[m, n] = Σ_g sa[g, m] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k]   (y [M, N], W [N, K] e4m3, M ≤ 64)
 * Same mma m16n8k32 mapping as lt_k_fp8_gemm (W rows = MMA M, tokens = MMA N, quad lanes own 32
 * contiguous bytes of a group), but no split-K reduce kernel: a block owns R = WN·NT·16 weight rows
 * and all MT·8 tokens; its 4 warps are WN along the rows × WK = 4/WN along the K-groups. When the
 * grid alone is too small, blockIdx.z splits the K-groups over a thread-block cluster (1, 1, S) and
 * rank 0 sums the S partial tiles from the others' shared memory (fixed order: deterministic).
 * FUSE: x is bf16 [M, K] (row stride xs) and each warp quantises the rows of its groups itself;
 * else x is already quantised (xq [M, kq], scales xsc [G][M] from lt_k_quant_rows).
 * Needs K % 16 == 0 and 16-byte aligned W (uint4 weight loads). */
template <int MT, int NT, int WN, bool FUSE>
__global__ void __launch_bounds__(LT_FP8_WARPS * 32)
    lt_k_fp8_sf(const uint8_t *__restrict__ w, const float *__restrict__ wsc, const bf16 *__restrict__ x, int64_t xs,
                int xvec, const uint8_t *__restrict__ xq, const float *__restrict__ xsc, int M, int N, int K, int kq,
                int kg_per_split, void *out, int out_f32) {
  constexpr int WK = LT_FP8_WARPS / WN, R = WN * NT * 16, C = MT * 8;
  __shared__ float red[R * C];  /* [row][token] partial tile */
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gq = lane >> 2, tq = lane & 3;
  const int wn = warp % WN, wk = warp / WN;
  const int nb0 = blockIdx.x * R, n0 = nb0 + wn * NT * 16;
  const int G = (K + 127) / 128;
  const int gbeg = blockIdx.z * kg_per_split, gend = min(G, gbeg + kg_per_split);

  float acc[NT][MT][4];
#pragma unroll
  for (int a = 0; a < NT; a++)
#pragma unroll
    for (int b = 0; b < MT; b++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[a][b][c] = 0.0f;

  uint4 wa[NT][2][2], wn_[NT][2][2];  /* [tile][row g / g+8][16-byte piece] */
  int g = gbeg + wk;
  if (g < gend) lt_ld_group<true, NT>(wa, w, N, K, n0, g, gq, tq);
  for (; g < gend; g += WK) {
    const int gn = g + WK;
    if (gn < gend) lt_ld_group<true, NT>(wn_, w, N, K, n0, gn, gq, tq);  /* prefetch the next K-group's weights */
    float ws[NT];
    lt_ld_wscale<NT>(ws, wsc, N, n0, G, g);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      uint4 xb[2];
      float s0, s1;
      if (FUSE) {
        float sa;
        lt_quant_frag(x, xs, M, K, xvec, mt * 8 + gq, g, tq, xb, &sa);
        s0 = __shfl_sync(0xffffffffu, sa, tq * 8);      /* token tq·2 lives in quad tq·2 */
        s1 = __shfl_sync(0xffffffffu, sa, tq * 8 + 4);
      } else {
        lt_ld_xq(xq, xsc, M, kq, mt * 8, g, gq, tq, xb, &s0, &s1);
      }
      lt_fp8_group_mma<NT, MT>(acc, mt, wa, xb, ws, s0, s1);
    }
    if (gn < gend) lt_fp8_take<NT>(wa, wn_);
  }
  /* the WK warps of a row slice add their partials in warp order (deterministic) */
#pragma unroll 1
  for (int kw = 0; kw < WK; kw++) {
    if (wk == kw) {
#pragma unroll
      for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
          for (int c = 0; c < 4; c++) {
            const int r = wn * NT * 16 + nt * 16 + gq + (c >> 1) * 8, col = mt * 8 + tq * 2 + (c & 1);
            if (kw == 0) red[r * C + col] = acc[nt][mt][c];
            else red[r * C + col] += acc[nt][mt][c];
          }
    }
    __syncthreads();
  }
  const int S = (int)gridDim.z;
  cg::cluster_group cl = cg::this_cluster();
  if (S > 1) cl.sync();  /* every rank's partial tile is in its shared memory */
  if (S == 1 || cl.block_rank() == 0) {
    for (int i = threadIdx.x; i < R * C; i += blockDim.x) {
      const int nl = i % R, ml = i / R, n = nb0 + nl, m = ml;
      float v = red[nl * C + ml];
      for (int r = 1; r < S; r++) v += cl.map_shared_rank(red, r)[nl * C + ml];
      if (n >= N || m >= M) continue;
      if (out_f32) ((float *)out)[(int64_t)m * N + n] = v;
      else ((bf16 *)out)[(int64_t)m * N + n] = __float2bfloat16(v);
    }
  }
  if (S > 1) cl.sync();  /* the other ranks keep their shared memory until rank 0 has read it */
}

template <int MT, int NT, int WN, bool FUSE>
static cudaError_t launch_sf(dim3 grid, cudaStream_t st, const uint8_t *w, const float *wsc, const bf16 *x, int64_t xs,
                             int xvec, const uint8_t *xq, const float *xsc, int M, int N, int K, int kq, int kgs,
                             void *out, int out_f32) {
  cudaLaunchConfig_t cfg = {};
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = 1;
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = grid.z;
  cfg.gridDim = grid;
  cfg.blockDim = dim3(LT_FP8_WARPS * 32, 1, 1);
  cfg.dynamicSmemBytes = 0;
  cfg.stream = st;
  cfg.attrs = at;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, lt_k_fp8_sf<MT, NT, WN, FUSE>, w, wsc, x, xs, xvec, xq, xsc, M, N, K, kq, kgs, out,
                            out_f32);
}

/* The split-free kernel: fuse = 1 (M ≤ 16): x is the bf16 input (row stride xs), no quantisation
 * kernel; fuse = 0 (M ≤ 64): xq / xsc come from lt_k_quant_rows. Needs K % 16 == 0, 16-aligned W. */
static latte_status fp8_sf(lt_cuda_ctx *c, const lt_weight *w, const void *x, int64_t xs, const uint8_t *xq,
                           const float *xsc, int M, void *y, int out_f32, int fuse) {
  const int N = (int)w->n, K = (int)w->k, G = (int)cdiv(K, 128), kq = G * 128;
  const int mt = M <= 8 ? 1 : M <= 16 ? 2 : M <= 32 ? 4 : 8;
  if (M > LT_FP8_SF_M || (fuse && M > LT_FP8_FUSE_M))
    return lt_err(LATTE_ERR_INVALID, "cuda linear: split-free FP8 kernel given %d rows", M);
  const int wn = fuse ? 1 : 4, wk = LT_FP8_WARPS / wn;
  /* two 16-row tiles per warp (half the x re-quantisation per weight byte) while ≥ 4 blocks per SM */
  const int nt = (fuse && cdiv(N, 32) >= 4 * (int64_t)c->sm_count) ? 2 : 1;
  const int64_t gx = cdiv(N, wn * nt * 16);
  /* split the K-groups over a cluster until ~3 blocks per SM, each warp keeping ≥ 1 group */
  int S = 1;
  while (S < 8 && gx * S < 3 * (int64_t)c->sm_count && cdiv(G, 2 * S) >= wk) S *= 2;
  const int kgs = (int)cdiv(G, S);
  dim3 grid((unsigned)gx, 1, (unsigned)S);
  const int xvec = fuse && xs % 8 == 0 && K % 8 == 0 && ((uintptr_t)x & 15) == 0;
  const uint8_t *wd = (const uint8_t *)w->data;
  const bf16 *xb = (const bf16 *)x;
  cudaError_t e;
  switch (fuse * 1000 + mt * 10 + nt) {
  case 1011: e = launch_sf<1, 1, 1, true>(grid, c->stream, wd, w->scale, xb, xs, xvec, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  case 1012: e = launch_sf<1, 2, 1, true>(grid, c->stream, wd, w->scale, xb, xs, xvec, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  case 1021: e = launch_sf<2, 1, 1, true>(grid, c->stream, wd, w->scale, xb, xs, xvec, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  case 1022: e = launch_sf<2, 2, 1, true>(grid, c->stream, wd, w->scale, xb, xs, xvec, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  case 11: e = launch_sf<1, 1, 4, false>(grid, c->stream, wd, w->scale, xb, xs, 0, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  case 21: e = launch_sf<2, 1, 4, false>(grid, c->stream, wd, w->scale, xb, xs, 0, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  case 41: e = launch_sf<4, 1, 4, false>(grid, c->stream, wd, w->scale, xb, xs, 0, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  default: e = launch_sf<8, 1, 4, false>(grid, c->stream, wd, w->scale, xb, xs, 0, xq, xsc, M, N, K, kq, kgs, y, out_f32); break;
  }
  if (e != cudaSuccess)
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_fp8_sf (grid %lld×%d, rows %d): %s", __FILE__, __LINE__,
                  (long long)gx, S, M, cudaGetErrorString(e));
  LT_LAUNCH_CHECK("lt_k_fp8_sf");
  return LATTE_OK;
}

/* ================================ cuBLASLt paths ================================ */

/* Copies the weight scales [nb][G] into cuBLASLt's [nb][L4] (L4 = G rounded up to 4), zero padded. */
__global__ void lt_k_pad_scales(const float *src, float *dst, int nb, int G, int L4) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= nb * L4) return;
  int r = i / L4, g = i % L4;
  dst[i] = g < G ? src[r * G + g] : 0.0f;
}

static latte_status fp8_wscale(lt_cuda_ctx *c, const lt_weight *w, lt_gemm_priv *p) {
  if (p->wscale) return LATTE_OK;
  int nb = (int)cdiv(w->n, 128), G = (int)cdiv(w->k, 128), L4 = (G + 3) / 4 * 4;
  if (L4 == G) { p->wscale = w->scale; return LATTE_OK; }
  float *d;
  LT_CUDA_TRY(cudaMalloc(&d, sizeof(float) * (size_t)nb * L4));  /* once per weight, at first use */
  p->wscale = d;
  p->wscale_own = 1;
  lt_k_pad_scales<<<(unsigned)cdiv((int64_t)nb * L4, 256), 256, 0, c->stream>>>(w->scale, d, nb, G, L4);
  LT_LAUNCH_CHECK("lt_k_pad_scales");
  return LATTE_OK;
}

/* Finds or builds the plan for this call; ok = 0 when cuBLASLt has no algorithm for it. */
static latte_status get_plan(lt_cuda_ctx *c, const lt_weight *w, lt_gemm_priv *p, int rows, int64_t xs, int out_f32,
                             int align, const float *wsc, const float *xsc, lt_gemm_plan **out) {
  for (int i = 0; i < LT_GEMM_NPLAN; i++) {
    lt_gemm_plan *q = &p->plan[i];
    if (q->valid && q->rows == rows && q->xs == xs && q->out_f32 == out_f32 && q->align == align) {
      *out = q;
      return LATTE_OK;
    }
  }
  lt_gemm_plan *q = &p->plan[p->next];
  p->next = (p->next + 1) % LT_GEMM_NPLAN;
  memset(q, 0, sizeof *q);
  const int fp8 = w->dtype == LT_F8E4M3;
  const uint64_t N = (uint64_t)w->n, K = (uint64_t)w->k, M = (uint64_t)rows;
  const cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF, cd = out_f32 ? CUDA_R_32F : CUDA_R_16BF;
  /* column-major view: yᵀ [N, M] = W [N, K] · xᵀ [K, M]; W row-major [N, K] is col-major [K, N]
   * (op T), x row-major [M, K] with row stride xs is col-major [K, M] with ld xs (op N). */
  LT_CUBLAS_TRY(cublasLtMatmulDescInit(&q->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  if (fp8) {
    int32_t ma = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, mb = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &ma, sizeof ma));
    LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mb, sizeof mb));
  }
  LT_CUBLAS_TRY(cublasLtMatrixLayoutInit(&q->la, ab, K, N, (int64_t)K));
  LT_CUBLAS_TRY(cublasLtMatrixLayoutInit(&q->lb, ab, K, M, xs));
  LT_CUBLAS_TRY(cublasLtMatrixLayoutInit(&q->lc, cd, N, M, (int64_t)N));
  if (fp8) {  /* cuBLASLt checks the scale pointers when it picks an algorithm */
    LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &wsc, sizeof(void *)));
    LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xsc, sizeof(void *)));
  }
  cublasLtMatmulPreferenceOpaque_t pref;
  LT_CUBLAS_TRY(cublasLtMatmulPreferenceInit(&pref));
  uint64_t ws = c->lt_ws_size;
  uint32_t al = (uint32_t)align;
  LT_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  LT_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al));
  LT_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al));
  LT_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al));
  LT_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al));
  cublasLtMatmulHeuristicResult_t res;
  int nres = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(c->lt, &q->op, &q->la, &q->lb, &q->lc, &q->lc, &pref, 1, &res,
                                                     &nres);
  q->valid = 1;
  q->rows = rows;
  q->xs = xs;
  q->out_f32 = out_f32;
  q->align = align;
  if (st != CUBLAS_STATUS_SUCCESS || nres == 0) {  /* retry without the alignment hints */
    LT_CUBLAS_TRY(cublasLtMatmulPreferenceInit(&pref));
    LT_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    nres = 0;
    st = cublasLtMatmulAlgoGetHeuristic(c->lt, &q->op, &q->la, &q->lb, &q->lc, &q->lc, &pref, 1, &res, &nres);
  }
  q->status = (int)st;
  q->ok = st == CUBLAS_STATUS_SUCCESS && nres > 0;
  if (q->ok) q->algo = res.algo;
  *out = q;
  return LATTE_OK;
}

/* y = x · Wᵀ by cuBLASLt; *done = 1 when it ran, -(cuBLAS status)-1 when cuBLASLt has no algorithm
 * for the shape. For FP8, x is the quantised xq [rows, kq] and xsc its scales. */
static latte_status lt_gemm_cublas(lt_cuda_ctx *c, const lt_weight *w, const void *x, int64_t xs, const float *xsc,
                                   void *y, int rows, int out_f32, int *done) {
  lt_gemm_priv *p = NULL;
  *done = 0;
  LT_TRY(gemm_priv(w, &p));
  if (w->dtype == LT_F8E4M3) LT_TRY(fp8_wscale(c, w, p));
  int al = ptr_align(x);
  int a2 = ptr_align(w->data), a3 = ptr_align(y);
  if (a2 < al) al = a2;
  if (a3 < al) al = a3;
  int es = w->dtype == LT_F8E4M3 ? 1 : 2;  /* the row stride limits the alignment of later rows too */
  while (al > 1 && ((xs * es) % al)) al >>= 1;
  lt_gemm_plan *q = NULL;
  LT_TRY(get_plan(c, w, p, rows, xs, out_f32, al, p->wscale, xsc, &q));
  *done = q->ok ? 1 : -q->status - 1;  /* < 0: refused, with cuBLAS's status */
  if (!q->ok) return LATTE_OK;
  if (w->dtype == LT_F8E4M3) {
    LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &p->wscale,
                                                 sizeof(void *)));
    LT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(&q->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xsc, sizeof(void *)));
  }
  const float one = 1.0f, zero = 0.0f;
  /* yᵀ [N, M] = W [N, K] · xᵀ   (column-major view, see get_plan) */
  LT_CUBLAS_TRY(cublasLtMatmul(c->lt, &q->op, &one, w->data, &q->la, x, &q->lb, &zero, y, &q->lc, y, &q->lc, &q->algo,
                               c->lt_ws, c->lt_ws_size, c->stream));
  return LATTE_OK;
}

/* ================================ entry points ================================ */

/* Whether the automatic dispatch gives FP8 W at this many rows to the mid-size kernel: where it measured
 * faster than the split-free kernel, the split-K kernel and cuBLASLt (H200, bench_gemm mid; docs/cuda-gemm.md):
 * every V3 shape at 5..16 rows; above 16 rows its mma.sync work grows with rows · n · k: cuBLASLt is
 * faster at 7168×2048 × 64 rows (rows · n · k = 0.94 G) and 24576×1536 × 32 (1.2 G), the two tie at
 * 7168×2048 × 32 (0.47 G), the mid kernel is faster at 2048×7168 × 32 (0.47 G) and 576×7168 × 64
 * (0.26 G): so above 16 rows, rows · n · k ≤ 2^29. Never when
 * lt_cuda_fp8_mid_on is 0 (LATTE_FP8_MID=0, cuda_backend.cu). */
static int fp8_mid_auto(int rows, const lt_weight *w) {
  if (!lt_cuda_fp8_mid_on || rows <= LT_FP8_GEMV_M || rows > LT_FP8_MID_M) return 0;
  return rows <= LT_FP8_MID_ALL_M || (int64_t)rows * w->n * w->k <= LT_FP8_MID_WORK;
}

/* whether the automatic dispatch tries the wgmma FP8 kernel first at this many rows (it declines the rest) */
static int fp8_wg_auto(int rows) { return lt_cuda_fp8_wg_on && rows >= 1 && rows <= LT_FP8_MID_M; }

extern "C" int lt_cuda_fp8_wg_takes(lt_backend *b, const lt_weight *w, int rows) {
  const int force = lt_cuda_gemm_force;
  return (force == 6 || (force == 0 && fp8_wg_auto(rows))) && lt_cuda_fp8_wg_serves(b, w, rows);
}

/* the error for a forced FP8 kernel (lt_cuda_gemm_force 4, 5, 6) that declined the linear */
static latte_status fp8_forced_declined(const char *kernel, int rows, const lt_weight *w, int64_t xs) {
  return lt_err(LATTE_ERR_UNSUPPORTED, "cuda linear: %s declines rows %d, n %lld, k %lld, x stride %lld", kernel, rows,
                (long long)w->n, (long long)w->k, (long long)xs);
}

static latte_status linear_any(lt_backend *b, const void *x, int64_t xs, const lt_weight *w, void *y, int rows,
                               int out_f32) {
  lt_cuda_ctx *c = ctx_of(b);
  if (rows <= 0) return LATTE_OK;
  if (w->dtype == LT_BF16) {
    int done;
    /* decode shapes where the GEMV kernel measured faster (cuda_gemv_bf16.cu declines the rest) */
    LT_TRY(lt_cuda_gemv_bf16(b, x, xs, w, y, rows, out_f32, &done));
    if (done) return LATTE_OK;
    LT_TRY(lt_gemm_cublas(c, w, x, xs, NULL, y, rows, out_f32, &done));
    if (done <= 0)
      return lt_err(LATTE_ERR_BACKEND, "cuda linear: cuBLASLt has no bf16 algorithm for rows %d, n %lld, k %lld "
                    "(status %d)", rows, (long long)w->n, (long long)w->k, -done - 1);
    return LATTE_OK;
  }
  if (w->dtype != LT_F8E4M3)
    return lt_err(LATTE_ERR_UNSUPPORTED, "cuda linear: weight dtype %s", lt_dtype_name(w->dtype));
  const int K = (int)w->k, kq = (int)cdiv(K, 128) * 128, force = lt_cuda_gemm_force;
  /* the wgmma FP8 kernel (cuda_gemm_fp8_wg.cu): forced or automatic at 1..64 rows, ahead of the decode GEMV,
   * the mid-size kernel and cuBLASLt — it measured faster than each at every V3 shape there (H200, bench_gemm
   * mid); it declines k % 128 != 0: those fall through to them */
  if (force == 6 || (force == 0 && fp8_wg_auto(rows))) {
    int done = 0;
    LT_TRY(lt_cuda_fp8_wg(b, x, xs, w, y, rows, out_f32, &done));
    if (done) return LATTE_OK;
    if (force == 6) return fp8_forced_declined("the wgmma FP8 kernel", rows, w, xs);
  }
  if (force == 0 || force == 4) {  /* the FP8 decode GEMV (cuda_gemv_fp8.cu): forced up to 16 rows; automatic at
                                    * rows ≤ 4 where the wgmma kernel declines or is off (it measured faster than
                                    * the split-free kernel there, H200, bench_gemm) */
    int done = 0;
    if (force == 4 || (lt_cuda_gemv_fp8_on && rows <= LT_FP8_GEMV_M))
      LT_TRY(lt_cuda_gemv_fp8(b, x, xs, w, y, rows, out_f32, &done));
    if (done) return LATTE_OK;
    if (force == 4) return fp8_forced_declined("the FP8 GEMV", rows, w, xs);
  }
  if (force == 5 || (force == 0 && fp8_mid_auto(rows, w))) {  /* the mid-size FP8 kernel (cuda_gemm_fp8_mid.cu) */
    int done = 0;
    LT_TRY(lt_cuda_fp8_mid(b, x, xs, w, y, rows, out_f32, &done));
    if (done) return LATTE_OK;
    if (force == 5) return fp8_forced_declined("the mid-size FP8 kernel", rows, w, xs);
  }
  /* split-free kernel, quantising x itself (one launch): needs uint4 weight loads; automatic only
   * where it measured fastest (H200, bench_gemm) and the mid-size kernel declined or is off: rows ≤ 8
   * up to LT_FP8_SF_BYTES8 weight bytes, rows ≤ 16 up to LT_FP8_SF_BYTES16 (larger weights: split-K
   * kernel / cuBLASLt, as before) */
  const int sf_ok = K % 16 == 0 && ((uintptr_t)w->data & 15) == 0 && force != 2 && force != 3;
  const int64_t wbytes = w->n * w->k;
  const int sf_fused = sf_ok && rows <= LT_FP8_FUSE_M &&
                       (force == 1 || (rows <= LT_FP8_SMALL_M ? wbytes <= LT_FP8_SF_BYTES8
                                                              : wbytes <= LT_FP8_SF_BYTES16 || K % 128 != 0));
  if (sf_fused) return fp8_sf(c, w, x, xs, NULL, NULL, rows, y, out_f32, 1);
  uint8_t *xq;
  float *xsc;
  LT_TRY(lt_cuda_fp8_quant_x(c, x, xs, rows, K, &xq, &xsc));
  /* rows > 8: cuBLASLt's block-scaled GEMM; refusals and ragged k fall back to the split-K kernel.
   * The unfused split-free kernel (16 < rows ≤ 64) only runs forced: it measured slower than both. */
  int use_cublas = force == 2 || (force == 0 && rows > LT_FP8_SMALL_M && K % 128 == 0);
  if (use_cublas) {
    int done;
    LT_TRY(lt_gemm_cublas(c, w, xq, kq, xsc, y, rows, out_f32, &done));
    if (done > 0) return LATTE_OK;
    if (force == 2)
      return lt_err(LATTE_ERR_UNSUPPORTED, "cuda linear: cuBLASLt refuses FP8 rows %d, n %lld, k %lld (status %d)",
                    rows, (long long)w->n, (long long)w->k, -done - 1);
  }
  if (force == 1 && sf_ok && rows <= LT_FP8_SF_M) return fp8_sf(c, w, x, xs, xq, xsc, rows, y, out_f32, 0);
  return fp8_own(c, w, xq, xsc, rows, kq, y, out_f32);
}

extern "C" latte_status lt_cuda_linear(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                       int rows) {
  return linear_any(b, x, x_stride, w, y, rows, 0);
}

extern "C" latte_status lt_cuda_linear_f32out(lt_backend *b, const void *x, const lt_weight *w, float *y, int rows) {
  return linear_any(b, x, w->k, w, y, rows, 1);
}

/* linear_pair in one wgmma launch (1, default; LATTE_FP8_PAIR=0: x quantised once, then one launch per
 * weight — or, with lt_cuda_fp8_prequant_on = 0 too, two plain linears) */
extern "C" int lt_cuda_fp8_pair_one;
int lt_cuda_fp8_pair_one = 1;

/* y1 [rows, n1] = x · W1ᵀ, y2 [rows, n2] = x · W2ᵀ for two e4m3 weights over one x (linear_pair), where
 * lt_cuda_linear would give both to the wgmma kernel: both in one launch (lt_cuda_fp8_wg_pair), else x
 * quantised once for two launches. *done = 0 (nothing launched) elsewhere. */
extern "C" latte_status lt_cuda_fp8_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1,
                                         void *y1, const lt_weight *w2, void *y2, int rows, int *done) {
  *done = 0;
  if (w1->k != w2->k || x_stride < w1->k || !lt_cuda_fp8_wg_takes(b, w1, rows) || !lt_cuda_fp8_wg_takes(b, w2, rows))
    return LATTE_OK;
  if (lt_cuda_fp8_pair_one) {
    LT_TRY(lt_cuda_fp8_wg_pair(b, x, x_stride, w1, y1, w2, y2, rows, done));
    if (*done) return LATTE_OK;
  }
  if (!lt_cuda_fp8_prequant_on) return LATTE_OK;
  uint8_t *xq;
  float *xsc;
  LT_TRY(lt_cuda_fp8_quant_x(ctx_of(b), x, x_stride, rows, (int)w1->k, &xq, &xsc));
  LT_TRY(lt_cuda_fp8_wg_q(b, xq, xsc, w1, y1, rows, 0));  /* y1 [rows, n1] = xq · W1ᵀ */
  LT_TRY(lt_cuda_fp8_wg_q(b, xq, xsc, w2, y2, rows, 0));  /* y2 [rows, n2] = xq · W2ᵀ */
  *done = 1;
  return LATTE_OK;
}
