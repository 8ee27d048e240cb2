/* cuda_gemv_bf16.cu — one job: the bf16 linear layer at decode sizes (rows ≤ 16), y = x · Wᵀ with
 * W bf16 [n, k] row-major, streamed once from device memory through per-warp cp.async shared-memory
 * rings, multiplied on the tensor cores by mma.sync m16n8k16 (W rows = MMA M, tokens = MMA N), f32
 * accumulation; K split over the warps of a block and, for small n, over the blocks of a thread-block
 * cluster (1, 1, S), reduced in fixed order through shared / distributed shared memory: bitwise
 * deterministic, one launch, no scratch, launch shape a function of (rows, n, k, SM count). One launch
 * covers the row tiles of one weight, or of two over the same x (linear_pair: q_proj / q_a_proj beside
 * kv_a_proj_with_mqa). lt_cuda_gemv_bf16 / lt_cuda_gemv_bf16_pair decline (*done = 0, nothing
 * launched) outside what they serve; the caller then takes cuBLASLt or two linears (docs/cuda-gemv.md). */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_gemv_common.cuh"
#include <stdint.h>
#include <stdio.h>

typedef __nv_bfloat16 bf16;

enum {
  LT_GB_WARPS = 4,                 /* warps per block; they split the block's K range chunk by chunk */
  LT_GB_THREADS = LT_GB_WARPS * 32,
  LT_GB_CHUNK = 64,                /* K elements per warp step: lane (g, t) loads 2 × 8 of each row */
  LT_GB_MAX_ROWS = 16,             /* two 8-token MMA column tiles */
  LT_GB_MAX_S = 8                  /* cluster size limit (portable) */
};

/* Tuning knobs (bench_gemv sweeps them; 0 = automatic): 16-row tiles per warp (1, 2), ring slots
 * per warp (4, 8), the grid the K split aims for in quarters of the resident capacity, and the
 * longest K range of a block when the grid is under 4 waves (-1: no limit). */
extern "C" int lt_gemv_bf16_nt, lt_gemv_bf16_st, lt_gemv_bf16_fill4, lt_gemv_bf16_kmax, lt_gemv_bf16_force,
    lt_gemv_bf16_off;
int lt_gemv_bf16_nt = 0, lt_gemv_bf16_st = 0, lt_gemv_bf16_fill4 = 0, lt_gemv_bf16_kmax = 0;
/* 1: serve every shape it can (tests, bench), skipping the declines where cuBLASLt measured faster */
int lt_gemv_bf16_force = 0;
/* 1: decline every call (bench_gemv's cuBLASLt baseline: lt_cuda_linear tries the GEMV first) */
int lt_gemv_bf16_off = 0;

/* Activations are re-read by every block of the same K range: read-only path, L1 cached; zeros when !ok. */
__device__ __forceinline__ uint4 lt_gb_ld_x(const bf16 *p, bool ok) {
  uint4 v = make_uint4(0, 0, 0, 0);
  if (ok) v = __ldg((const uint4 *)p);
  return v;
}
__device__ __forceinline__ uint32_t lt_gb_word(const uint4 &v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}
/* D (16×8, f32) += A (16×16 bf16, row) · B (16×8 bf16, col) */
__device__ __forceinline__ void lt_gb_mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* The warp's ring slot of chunk c: lane (g, t) copies W[row g (+8) of tile nt][k0 + 32h + 8t .. +8]
 * (h = 0, 1) to slot[(nt·2 + r)·2 + h][lane] — the fragments it will read back itself; pieces outside
 * W are zero-filled from the never-read address safe. */
template <int NT>
__device__ __forceinline__ void lt_gb_issue(uint4 *slot, const bf16 *const (&wr)[NT][2], const bool (&rv)[NT][2],
                                            const bf16 *safe, int o, int klim, int lane) {
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const bool kv = o + h * 32 < klim;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const bool ok = kv && rv[nt][r];
        lt_cp16(slot + ((nt * 2 + r) * 2 + h) * 32 + lane, ok ? wr[nt][r] + o + h * 32 : safe, ok);
      }
  }
}

/* One weight of a launch: W [n, K] bf16, y [M, n] (row stride n, bf16 or f32). */
struct lt_gb_seg {
  const bf16 *w;
  void *y;
  int n;
};
/* The kernel's parameters, by value: one or two weights over the same x [M, K] (row stride xs).
 * Blocks with blockIdx.x < tiles0 take seg[0]'s row tiles, the others seg[1]'s (rows rebased by
 * tiles0); a one-weight launch has seg[1] = seg[0] and tiles0 = its whole grid. */
struct lt_gb_params {
  lt_gb_seg seg[2];
  const bf16 *x;
  int64_t xs;
  int M, K, kslice, tiles0, out_f32;
};

/* y [M, N] (row stride N, bf16 or f32) = x [M, K] (row stride xs) · Wᵀ, W [N, K] bf16, for the
 * segment (weight) of this block: blockIdx.x < tiles0 → seg[0], else seg[1] at tile blockIdx.x − tiles0.
 * Block (bx, z) owns rows [bx·16·NT, +16·NT) and K range [z·kslice, min(K, (z+1)·kslice)); its warps
 * take the range's 64-wide chunks round robin (warp w: chunks w, w + 4, ...). Each warp streams its
 * chunks through its own ST-slot shared-memory ring by cp.async (ST − 1 chunks in flight, zero-filled
 * outside W), every lane copying exactly the 16-byte pieces it later reads back (no barrier needed).
 * In a chunk at k0 lane (g, t) holds W[row g (+8)][k0 + 32h + 8t .. +8] and x[token g][same k] for
 * h = 0, 1: MMA (h, j) takes words 2j, 2j+1 of those 8 elements as its logical k slots {2t, 2t+1}
 * and {2t+8, 2t+9} on both operands, a permutation of k that depends on t only, so the dot products
 * are unchanged. yᵀ tile [16·NT, 8·MT] per warp → shared memory; summed over warps in warp order, then
 * over the cluster's ranks in rank order by rank 0 (distributed shared memory). */
template <int MT, int NT, int ST>
__global__ void __launch_bounds__(LT_GB_THREADS) lt_k_gemv_bf16(const lt_gb_params p) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight prologue (cuda_common.h) */
  constexpr int R = NT * 16, Q = NT * 4;  /* Q: 16-byte pieces per lane per chunk */
  extern __shared__ uint4 lt_gb_smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const bool s1 = (int)blockIdx.x >= p.tiles0;  /* block-uniform: which weight this block streams */
  const bf16 *__restrict__ w = s1 ? p.seg[1].w : p.seg[0].w;
  void *__restrict__ y = s1 ? p.seg[1].y : p.seg[0].y;
  const int N = s1 ? p.seg[1].n : p.seg[0].n;
  const bf16 *__restrict__ x = p.x;
  const int64_t xs = p.xs;
  const int M = p.M, K = p.K, kslice = p.kslice, out_f32 = p.out_f32;
  const int n0 = ((int)blockIdx.x - (s1 ? p.tiles0 : 0)) * R;
  const int kb = blockIdx.z * kslice, ke = min(K, kb + kslice);
  const int nch = ke > kb ? (ke - kb + LT_GB_CHUNK - 1) / LT_GB_CHUNK : 0;
  const int mine = nch > warp ? (nch - warp + LT_GB_WARPS - 1) / LT_GB_WARPS : 0;  /* this warp's chunks */
  uint4 *ring = lt_gb_smem + warp * (ST * Q * 32);

  const bf16 *wr[NT][2];
  bool rv[NT][2];
  lt_gemv_rows<NT>(wr, rv, w, N, K, n0, g, kb, t * 8);
  const bf16 *xr[MT];
  bool xv[MT];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    const int tok = mt * 8 + g;
    xv[mt] = tok < M;
    xr[mt] = x + (int64_t)(tok < M ? tok : 0) * xs + kb + t * 8;
  }
  float acc[NT][MT][4];
  lt_gemv_zero(acc);

  const int klim = ke - kb - t * 8;  /* a lane's 8 elements at offset o (multiple of 8) exist iff o < klim */
  const int step = LT_GB_WARPS * LT_GB_CHUNK;
  const int o0 = warp * LT_GB_CHUNK;
#pragma unroll
  for (int s = 0; s < ST - 1; s++) {  /* prologue: chunks 0 .. ST-2 of this warp */
    if (s < mine) lt_gb_issue<NT>(ring + s * Q * 32, wr, rv, w, o0 + s * step, klim, lane);
    lt_cp_commit();
  }
  LT_PDL_WAIT();  /* x (and y) belong to the previous kernels: only now */
  for (int i = 0; i < mine; i++) {
    const int o = o0 + i * step;
    uint4 xb[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++) xb[mt][h] = lt_gb_ld_x(xr[mt] + o + h * 32, xv[mt] && o + h * 32 < klim);
    lt_cp_wait<ST - 2>();  /* chunk i has landed (this lane's pieces) */
    /* refill the slot chunk i-1 used: its fragments were consumed by the MMAs of the last iteration */
    if (i + ST - 1 < mine) lt_gb_issue<NT>(ring + ((i + ST - 1) % ST) * Q * 32, wr, rv, w, o + (ST - 1) * step, klim, lane);
    lt_cp_commit();
    const uint4 *slot = ring + (i % ST) * Q * 32 + lane;
    uint4 wa[NT][2][2];
    lt_gemv_slot_read<NT>(slot, wa);
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
      for (int j = 0; j < 2; j++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
          for (int mt = 0; mt < MT; mt++)
            lt_gb_mma(acc[nt][mt], lt_gb_word(wa[nt][0][h], 2 * j), lt_gb_word(wa[nt][1][h], 2 * j),
                      lt_gb_word(wa[nt][0][h], 2 * j + 1), lt_gb_word(wa[nt][1][h], 2 * j + 1),
                      lt_gb_word(xb[mt][h], 2 * j), lt_gb_word(xb[mt][h], 2 * j + 1));
  }
  lt_cp_wait<0>();
  __syncthreads();  /* every warp is done with the ring: reuse it for the reduction */

  lt_gemv_reduce_store<NT, MT, LT_GB_WARPS>(acc, (float *)lt_gb_smem, n0, N, M, y, out_f32);
}

static int64_t lt_gb_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* dynamic shared memory of a variant: the rings, or the reduction buffers if larger */
static size_t lt_gb_smem_bytes(int MT, int NT, int ST) {
  const size_t ring = (size_t)LT_GB_WARPS * ST * NT * 4 * 32 * 16;
  const size_t red = sizeof(float) * lt_gemv_red_floats(NT, MT, LT_GB_WARPS);
  return ring > red ? ring : red;
}

/* Resident blocks per SM of a variant (its shared-memory limit raised once, on first use). */
template <int MT, int NT, int ST>
static latte_status lt_gb_prepare(int *per_sm) {
  static int bps = 0;  /* 0: not yet measured */
  if (!bps) {
    const size_t sm = lt_gb_smem_bytes(MT, NT, ST);
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_gemv_bf16<MT, NT, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    int n = 0;
    LT_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, lt_k_gemv_bf16<MT, NT, ST>, LT_GB_THREADS, sm));
    bps = n > 0 ? n : 1;
  }
  *per_sm = bps;
  return LATTE_OK;
}

template <int MT, int NT, int ST>
static cudaError_t lt_gb_launch(lt_cuda_ctx *c, unsigned tiles, int S, const lt_gb_params &p) {
  cudaLaunchAttribute at[2];
  const cudaLaunchConfig_t cfg =
      lt_cluster_z_cfg(at, tiles, S, LT_GB_THREADS, lt_gb_smem_bytes(MT, NT, ST), c->stream);
  return cudaLaunchKernelEx(&cfg, lt_k_gemv_bf16<MT, NT, ST>, p);
}

/* One variant over nseg (1, 2) weights of p: the grid is the row tiles of seg[0] then of seg[1]; K
 * split S over a cluster so that the grid fills fill4/4 of the GPU's resident capacity (default 1/4:
 * H200, bench_gemv graph replays, faster than 2/4 and 4/4 at every V2-Lite / V3 shape with n ≤ 3072:
 * less splitting, fewer cluster reductions) where the rows alone do not, and, under 4 waves, so that
 * no block's K range exceeds kmax (default 4096: the V3 o_proj, K = 16384, ran 25% faster split 4
 * than 2); every warp keeps ≥ 1 chunk, S ≤ 8. A pair shares one S, chosen from both weights' tiles. */
template <int MT, int NT, int ST>
static latte_status lt_gb_run(lt_cuda_ctx *c, lt_gb_params p, int nseg) {
  int bps = 1;
  LT_TRY((lt_gb_prepare<MT, NT, ST>(&bps)));
  if (nseg < 2) p.seg[1] = p.seg[0];
  const int64_t tiles0 = lt_gb_cdiv(p.seg[0].n, 16 * NT);
  const int64_t tiles = tiles0 + (nseg < 2 ? 0 : lt_gb_cdiv(p.seg[1].n, 16 * NT));
  const int K = p.K;
  const int fill4 = lt_gemv_bf16_fill4 > 0 ? lt_gemv_bf16_fill4 : 1;
  const int kmax = lt_gemv_bf16_kmax ? lt_gemv_bf16_kmax : 4096;
  const int64_t cap = (int64_t)c->sm_count * bps;
  int64_t s = cap * fill4 / 4 / tiles;
  if (kmax > 0 && tiles < 4 * cap && lt_gb_cdiv(K, kmax) > s) s = lt_gb_cdiv(K, kmax);
  const int64_t smax = K / (LT_GB_CHUNK * LT_GB_WARPS);
  if (s > smax) s = smax;
  if (s > LT_GB_MAX_S) s = LT_GB_MAX_S;
  if (s < 1) s = 1;
  p.kslice = (int)(lt_gb_cdiv(lt_gb_cdiv(K, s), LT_GB_CHUNK) * LT_GB_CHUNK);
  p.tiles0 = (int)tiles0;
  const int S = (int)lt_gb_cdiv(K, p.kslice);
  cudaError_t e = lt_gb_launch<MT, NT, ST>(c, (unsigned)tiles, S, p);
  if (e != cudaSuccess) {
    char ns[32];
    if (nseg < 2) snprintf(ns, sizeof ns, "%d", p.seg[0].n);
    else snprintf(ns, sizeof ns, "%d + %d", p.seg[0].n, p.seg[1].n);
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_gemv_bf16 (rows %d, n %s, k %d, grid %lld×%d): %s",
                  __FILE__, __LINE__, p.M, ns, K, (long long)tiles, S, cudaGetErrorString(e));
  }
  LT_LAUNCH_CHECK("lt_k_gemv_bf16");
  return LATTE_OK;
}

/* The variant for p (nseg weights): MT from the rows; NT = 2 (half the x traffic per weight byte)
 * where the rows of all its weights alone fill the GPU; ring depth 4; knobs override. */
static latte_status lt_gb_dispatch(lt_cuda_ctx *c, const lt_gb_params &p, int nseg) {
  const int MT = p.M <= 8 ? 1 : 2;
  const int64_t t32 = lt_gb_cdiv(p.seg[0].n, 32) + (nseg < 2 ? 0 : lt_gb_cdiv(p.seg[1].n, 32));
  const int NT = lt_gemv_bf16_nt ? lt_gemv_bf16_nt : (t32 >= 4 * (int64_t)c->sm_count ? 2 : 1);
  const int ST = lt_gemv_bf16_st ? lt_gemv_bf16_st : 4;
  switch (MT * 100 + (NT == 2 ? 20 : 10) + (ST >= 8 ? 8 : 4)) {
  case 114: return lt_gb_run<1, 1, 4>(c, p, nseg);
  case 118: return lt_gb_run<1, 1, 8>(c, p, nseg);
  case 124: case 128: return lt_gb_run<1, 2, 4>(c, p, nseg);
  case 214: return lt_gb_run<2, 1, 4>(c, p, nseg);
  case 218: return lt_gb_run<2, 1, 8>(c, p, nseg);
  default: return lt_gb_run<2, 2, 4>(c, p, nseg);
  }
}

/* 1 when x [rows, w->k] (row stride x_stride) · Wᵀ can go through the kernel: W bf16, rows 1..16,
 * k % 8 == 0, x_stride % 8 == 0, W and x 16-byte aligned, n and k within int range; and (unless
 * lt_gemv_bf16_force) outside where cuBLASLt measured as fast or faster (H200, bench_gemv graph
 * replays, docs/cuda-gemv.md): rows 9..16 except small n (kv_a), weights over 32 MB (V3 q_b, o_proj)
 * except the lm_heads (n ≥ 65536), and the lm_heads above 4 rows. */
static int lt_gb_serves(const void *x, int64_t x_stride, const lt_weight *w, int rows) {
  if (lt_gemv_bf16_off) return 0;
  if (w->dtype != LT_BF16 || rows < 1 || rows > LT_GB_MAX_ROWS) return 0;
  if (w->n < 1 || w->k < 8 || w->n > INT32_MAX / 2 || w->k > INT32_MAX / 2 || w->k % 8 != 0) return 0;
  if (x_stride < w->k || x_stride % 8 != 0 || ((uintptr_t)x & 15) || ((uintptr_t)w->data & 15)) return 0;
  if (!lt_gemv_bf16_force) {
    const int64_t wbytes = w->n * w->k * 2;
    if (rows > 8 && w->n > 1024) return 0;
    if (w->n >= 65536 ? rows > 4 : wbytes > ((int64_t)32 << 20)) return 0;
  }
  return 1;
}

/* One launch over nseg (1, 2) weights of the same k: ys[i] [rows, ws[i]->n] = x · Wsᵀ */
static latte_status lt_gb_launch_segs(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *const *ws,
                                      void *const *ys, int nseg, int rows, int out_f32) {
  lt_gb_params p = {};
  for (int i = 0; i < nseg; i++) {
    p.seg[i].w = (const bf16 *)ws[i]->data;
    p.seg[i].y = ys[i];
    p.seg[i].n = (int)ws[i]->n;
  }
  p.x = (const bf16 *)x;
  p.xs = x_stride;
  p.M = rows;
  p.K = (int)ws[0]->k;
  p.out_f32 = out_f32;
  return lt_gb_dispatch((lt_cuda_ctx *)b->ctx, p, nseg);
}

/* y [rows, n] (bf16, or f32 when out_f32; row stride n) = x [rows, k] (bf16, row stride x_stride) · Wᵀ,
 * W = w->data bf16 [n, k]. *done = 1 when launched; 0 (LATTE_OK, nothing launched) when declined
 * (lt_gb_serves). */
extern "C" latte_status lt_cuda_gemv_bf16(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                          int rows, int out_f32, int *done) {
  *done = 0;
  if (!lt_gb_serves(x, x_stride, w, rows)) return LATTE_OK;
  const lt_weight *ws[1] = {w};
  void *ys[1] = {y};
  LT_TRY(lt_gb_launch_segs(b, x, x_stride, ws, ys, 1, rows, out_f32));
  *done = 1;
  return LATTE_OK;
}

/* The pair in one launch up to this many rows (unless lt_gemv_bf16_force): rows 9..16 of a pair are
 * unmeasured, and every DeepSeek pair's first weight (n ≥ 1536) declines there alone anyway. */
enum { LT_GB_PAIR_MAX_ROWS = 8 };

/* y1 [rows, n1] = x · W1ᵀ and y2 [rows, n2] = x · W2ᵀ (bf16, row strides n1, n2) in ONE launch: the
 * row tiles of W1 then of W2 in one grid, one K split for both. Error when w1->k != w2->k. *done = 1
 * when launched; 0 (LATTE_OK, nothing launched) unless rows ≤ LT_GB_PAIR_MAX_ROWS (any rows ≤ 16
 * under lt_gemv_bf16_force) and lt_cuda_gemv_bf16 would serve each weight alone. Results are bitwise
 * deterministic but need not equal the two separate launches' bits (the K split S may differ). */
extern "C" latte_status lt_cuda_gemv_bf16_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1,
                                               void *y1, const lt_weight *w2, void *y2, int rows, int *done) {
  *done = 0;
  if (w1->k != w2->k)
    return lt_err(LATTE_ERR_INVALID, "linear_pair: weights of k %lld and %lld", (long long)w1->k, (long long)w2->k);
  if (!lt_gemv_bf16_force && rows > LT_GB_PAIR_MAX_ROWS) return LATTE_OK;
  if (!lt_gb_serves(x, x_stride, w1, rows) || !lt_gb_serves(x, x_stride, w2, rows)) return LATTE_OK;
  const lt_weight *ws[2] = {w1, w2};
  void *ys[2] = {y1, y2};
  LT_TRY(lt_gb_launch_segs(b, x, x_stride, ws, ys, 2, rows, 0));
  *done = 1;
  return LATTE_OK;
}

/* linear_pair: one GEMV launch where it serves both weights; for two e4m3 weights the wgmma kernel takes,
 * one quantisation of x for both (cuda_gemm.cu); else the two linears in sequence (each then takes the GEMV,
 * an FP8 kernel or cuBLASLt on its own) */
extern "C" latte_status lt_cuda_linear_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1,
                                            void *y1, const lt_weight *w2, void *y2, int rows) {
  int done = 0;
  LT_TRY(lt_cuda_gemv_bf16_pair(b, x, x_stride, w1, y1, w2, y2, rows, &done));
  if (done) return LATTE_OK;
  LT_TRY(lt_cuda_fp8_pair(b, x, x_stride, w1, y1, w2, y2, rows, &done));
  if (done) return LATTE_OK;
  return lt_linear_pair_seq(b, x, x_stride, w1, y1, w2, y2, rows);
}
