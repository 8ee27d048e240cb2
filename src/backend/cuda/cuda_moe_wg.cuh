/* cuda_moe_wg.cuh — included once by cuda_moe.cu (after lt_gg_params, lt_row_ok, cuda_async.cuh's cp.async): the
 * e4m3 grouped GEMM at decode sizes on Hopper warpgroup MMA. "Swap AB" as in the wgmma FP8 linear
 * (cuda_gemm_fp8_wg.cu): a block (one warpgroup, 128 threads) is 64 weight rows of one expert (the wgmma's
 * M = 64 A operand) × the NN = BM token rows of one tile of the sort (the wgmma's N, gathered through rowtok;
 * padding rows are zeros) × a K range (split-K: f32 partials in lt_k_gg's layout, summed by lt_k_gg_reduce or
 * by the combine). Both operands are K-major, 128-byte swizzled, streamed per 128-wide K-group (one scale block)
 * through an ST-stage cp.async ring; per group 4 × wgmma m64nNNk32, each k32 step into its own fresh partial
 * (lt_cuda_ggw_fine = 1: the e4m3 wgmma's accumulation across steps keeps fewer bits than f32, and the CPU twin
 * quantises h from exact sums; 0: one partial per group), then acc += (Σ partials) · sw · sx. gate_up (p.inter > 0): the 64 A rows of block y are gate and up rows of the 32 h
 * columns j0 = 32y .. 32y + 31, interleaved per 8 (row 16q + i: gate j0 + 8q + i; row 16q + 8 + i: up, the same
 * j) — lt_k_gg's B-tile order — so a thread's accumulator rows g and g + 8 are the gate and up of one h column
 * and it writes h = silu(g) · u. PDL: the weight prologue (tile list, weights, weight scales: never written by
 * the kernels since the previous launch passed its wait) comes before griddepcontrol.wait. docs/cuda-moe.md
 * ("The wgmma grouped GEMM"). */
#include "backend/cuda/cuda_wgmma.cuh"

enum { LT_GGW_ALIGN = 1024 };


/* bytes of one ring stage: W tile [64][128 B] then x tile [NN][128 B] (a multiple of 1024) */
__host__ __device__ constexpr int lt_ggw_stage(int NN) { return (64 + NN) * 128; }
static size_t lt_ggw_smem(int NN, int ST, int gs) {
  return LT_GGW_ALIGN + (size_t)ST * lt_ggw_stage(NN) + sizeof(float) * ((size_t)gs * NN + 2 * (size_t)gs);
}

/* Block (m, y, z): tile m of the tile list (or rows m·NN.. of a dense call), weight rows of block y, k-groups
 * [z·kt_split, +kt_split). K % 128 == 0 (e4m3: one k-group = 128 bytes = one scale block). Thread tid copies
 * 16-byte chunk c = tid % 8 of W rows tid/8 + 16j (j < 4) and of x rows tid/8 + 16j (< NN) of each group, to
 * chunk c ^ (row % 8) of its 128-byte row (the 128B swizzle). */
template <int NN, int ST, int FINE>
__global__ void __launch_bounds__(128) lt_k_gg_wg(const lt_gg_params p) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight prologue */
  constexpr int N8 = NN / 8, STAGE = lt_ggw_stage(NN);
  constexpr int XJ = (NN * 8 + 127) / 128;  /* x chunks per thread per stage */
  extern __shared__ __align__(128) uint8_t lt_ggw_smem_[];
  uint8_t *ring = lt_ggw_smem_ + ((LT_GGW_ALIGN - (lt_smem_u32(lt_ggw_smem_) & 1023u)) & 1023u);
  const uint32_t ring_sa = lt_smem_u32(ring);
  const int tid = threadIdx.x, KT = p.K / 128;
  const int kb = blockIdx.z * p.kt_split, ng = min(KT, kb + p.kt_split) - kb, gs = p.kt_split;
  float *sxs = (float *)(ring + (size_t)ST * STAGE);  /* [gs][NN] token scales */
  float *sws = sxs + gs * NN;                         /* [gs][2] weight scales: rows 16q + i, 16q + 8 + i */

  int e = 0, row0 = blockIdx.x * NN;
  if (p.tile_e) {
    /* written by lt_k_moe_align / the router, which finished before the previous kernel passed its wait */
    const int m = blockIdx.x;
    if (m >= __ldcg(p.num_tiles)) { LT_PDL_WAIT(); return; }
    e = __ldcg(p.tile_e + m);
    row0 = __ldcg(p.tile_row0 + m);
  }
  const uint8_t *wb = p.w + (size_t)e * (size_t)p.w_estride;
  const int c = tid & 7, r0 = tid >> 3;
  const int cs = (c ^ (r0 & 7)) << 4;
  const int ny = blockIdx.y;
  const uint8_t *wsrc[4];
  bool wok[4];
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const int wrow = lt_gg_wrow(p, 64, ny, r0 + 16 * j);
    wok[j] = wrow >= 0;
    wsrc[j] = wb + (size_t)(wok[j] ? wrow : 0) * (size_t)p.K + (size_t)kb * 128 + c * 16;
  }
  const int dst0 = r0 * 128 + cs;
  lt_cp_ring_w4<ST, 16>(ring, STAGE, dst0, wsrc, wok, ng);
  {
    int srow_lo, srow_hi;
    if (p.inter > 0) { srow_lo = ny * 32 / 128; srow_hi = p.up_srow + srow_lo; }
    else srow_lo = srow_hi = ny * 64 / 128;
    const float *ws = p.ws + (size_t)e * p.ws_estride;
    for (int i = tid; i < 2 * ng; i += 128)
      sws[i] = __ldg(ws + (size_t)((i & 1) ? srow_hi : srow_lo) * p.wsk + kb + (i >> 1));
  }
  LT_PDL_WAIT();  /* x, its scales and rowtok are the previous kernels' */

  const uint8_t *xsrc[XJ];
  bool xok[XJ], xhas[XJ];
#pragma unroll
  for (int j = 0; j < XJ; j++) {
    const int n = r0 + 16 * j, pos = row0 + n;
    xhas[j] = n < NN;
    xok[j] = xhas[j] && lt_row_ok(p, pos);
    const int arow = xok[j] ? (p.a_by_tok ? p.rowtok[pos] : pos) : 0;
    xsrc[j] = p.a + (size_t)arow * (size_t)p.lda + (size_t)kb * 128 + c * 16;
  }
  for (int i = tid; i < ng * NN; i += 128) {
    const int lg = i / NN, n = i % NN, pos = row0 + n;
    float s = 0.0f;
    if (lt_row_ok(p, pos)) s = p.as[(size_t)(p.a_by_tok ? p.rowtok[pos] : pos) * p.ask + kb + lg];
    sxs[i] = s;
  }
  /* x tiles of groups 0 .. ST−2 by plain loads and stores (the cp.async groups stay one per stage) */
#pragma unroll
  for (int s = 0; s < ST - 1; s++) {
    uint4 v[XJ];
#pragma unroll
    for (int j = 0; j < XJ; j++) {
      v[j] = make_uint4(0, 0, 0, 0);
      if (s < ng && xok[j]) v[j] = __ldg((const uint4 *)(xsrc[j] + s * 128));
    }
#pragma unroll
    for (int j = 0; j < XJ; j++)
      if (s < ng && xhas[j]) *(uint4 *)(ring + s * STAGE + 64 * 128 + dst0 + j * 16 * 128) = v[j];
  }

  const int lane = tid & 31, t = lane & 3;
  float acc[N8][4], pa[N8][4];
  lt_wg_zero(acc);
  lt_wg_zero(pa);
  for (int i = 0; i < ng; i++) {
    lt_cp_wait<ST - 2>();
    lt_fence_proxy_async();
    __syncthreads();
    {
      const int gi = i + ST - 1;
      if (gi < ng) {
        uint8_t *d = ring + (gi % ST) * STAGE + dst0;
#pragma unroll
        for (int j = 0; j < 4; j++) lt_cp16(d + j * 16 * 128, wsrc[j] + gi * 128, wok[j]);
#pragma unroll
        for (int j = 0; j < XJ; j++)
          if (xhas[j]) lt_cp16(d + 64 * 128 + j * 16 * 128, xsrc[j] + gi * 128, xok[j]);
      }
      lt_cp_commit();
    }
    const uint32_t sb = ring_sa + (uint32_t)((i % ST) * STAGE);
    const uint64_t da = lt_wg_desc(sb, 16, 1024), db = lt_wg_desc(sb + 64 * 128, 16, 1024);
    if (FINE) {
      /* each k32 step into its own fresh partial, summed in f32 (the e4m3 wgmma's own accumulation across
       * steps keeps fewer bits than f32) */
      float pk[4][N8][4];
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_keep_all(pk[j]);
      lt_wg_fence();
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&pk[j][0][0], da + (uint64_t)(2 * j), db + (uint64_t)(2 * j), 0);
      lt_wg_commit();
      lt_wg_wait<0>();
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_keep_all(pk[j]);
#pragma unroll
      for (int cc = 0; cc < N8; cc++)
#pragma unroll
        for (int q = 0; q < 4; q++) pa[cc][q] = (pk[0][cc][q] + pk[1][cc][q]) + (pk[2][cc][q] + pk[3][cc][q]);
    } else {
      lt_wg_fp8_group<NN>(pa, da, db);
    }
    lt_wg_fp8_scale_add<N8>(acc, pa, sws[2 * i], sws[2 * i + 1], sxs + i * NN + 2 * t);
  }
  lt_cp_wait<0>();

  /* warp q holds A rows 16q + lane/4 (lo) and + 8 (hi), tokens 8cc + 2t + {0, 1} */
  const int q = tid >> 5, gid = lane >> 2, lo = 16 * q + gid;
#pragma unroll
  for (int cc = 0; cc < N8; cc++)
#pragma unroll
    for (int u = 0; u < 2; u++) {
      const int pos = row0 + cc * 8 + 2 * t + u;
      if (!lt_row_ok(p, pos)) continue;
      const float vl = acc[cc][u], vh = acc[cc][u + 2];
      if (p.epi == LT_EPI_PART) {
        float *o = p.part + (size_t)blockIdx.z * p.part_zstride + (size_t)pos * p.part_ld + ny * 64;
        o[lo] = vl;
        o[lo + 8] = vh;
      } else if (p.epi == LT_EPI_SILU || p.epi == LT_EPI_SILU32) {
        const int j = ny * 32 + 8 * q + gid;
        if (j >= p.inter) continue;
        const float v = lt_silu_mul(vl, vh);
        if (p.epi == LT_EPI_SILU32) ((float *)p.out)[(size_t)pos * p.ldo + j] = v;
        else ((__nv_bfloat16 *)p.out)[(size_t)pos * p.ldo + j] = __float2bfloat16(v);
      } else {
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int n = ny * 64 + lo + 8 * h;
          if (n >= p.N) continue;
          const float v = h ? vh : vl;
          if (p.epi == LT_EPI_F32) ((float *)p.out)[(size_t)pos * p.ldo + n] = v;
          else ((__nv_bfloat16 *)p.out)[(size_t)pos * p.ldo + n] = __float2bfloat16(v);
        }
      }
    }
}

/* 0 off (LATTE_GG_WG=0), 1 automatic (the routed experts' e4m3 GEMMs at tiles of ≤ 64 rows), 2 forced (also the
 * dense MLP's): tests and bench_moe */
extern "C" int lt_cuda_gg_wg;
int lt_cuda_gg_wg = 1;
/* tuning knobs (bench_moe): the ring's stages (4 or 6), and the split-K target in % of SMs (0: LATTE_GG_WANT's) */
extern "C" int lt_cuda_ggw_st, lt_cuda_ggw_want, lt_cuda_ggw_fine;
int lt_cuda_ggw_st = 4, lt_cuda_ggw_want = 0;
/* 1: a fresh partial per k32 step, summed in f32 (FINE); 0: one partial per 128-wide group (wgmma accumulates) */
int lt_cuda_ggw_fine = 1;
static int lt_ggw_stages(void) { return lt_cuda_ggw_st == 6 ? 6 : 4; }

/* whether the wgmma kernel serves one e4m3 GEMM of reduction length K at tiles of bm rows */
static int lt_ggw_use(const lt_cuda_ctx *c, int fp8, int bm, int K, int tiled) {
  if (!fp8 || lt_cuda_gg_wg <= 0 || (!tiled && lt_cuda_gg_wg < 2)) return 0;
  if (bm != 16 && bm != 32 && bm != 64) return 0;
  if (K < 128 || K % 128) return 0;
  return lt_ggw_smem(bm, lt_ggw_stages(), K / 128) <= (size_t)c->smem_optin;
}
/* split-K count: lt_gg_splits' rule with the wgmma target */
static int lt_ggw_splits(const lt_cuda_ctx *c, int grid_m, int gn, int K) {
  const int want_pct = lt_cuda_ggw_want > 0 ? lt_cuda_ggw_want : lt_cuda_gg_want_pct;
  return lt_gg_split_count(grid_m * gn, want_pct * c->sm_count / 100, K / 128);
}
/* its grid along the weight rows: 32 h columns (gate_up) or 64 output columns per block */
static int lt_ggw_grid_n(int N, int inter) { return inter > 0 ? (inter + 31) / 32 : (N + 63) / 64; }

/* opts a variant into the device's shared memory limit (once) */
template <int NN, int ST, int FINE> static latte_status lt_ggw_optin(const lt_cuda_ctx *c) {
  static int opted = 0;
  if (!opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_gg_wg<NN, ST, FINE>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     c->smem_optin));
    opted = 1;
  }
  return LATTE_OK;
}
/* resident blocks per SM of a variant at smem bytes (0 on error); the last answer is kept */
template <int NN, int ST, int FINE> static int lt_ggw_occ_t(const lt_cuda_ctx *c, size_t smem) {
  static size_t last_smem = 0;
  static int last = 0;
  if (smem == last_smem) return last;
  int n = 0;
  if (lt_ggw_optin<NN, ST, FINE>(c) ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, lt_k_gg_wg<NN, ST, FINE>, 128, smem) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  last_smem = smem;
  last = n;
  return n;
}
template <int NN, int ST> static int lt_ggw_occ_f(const lt_cuda_ctx *c, size_t smem) {
  return lt_cuda_ggw_fine ? lt_ggw_occ_t<NN, ST, 1>(c, smem) : lt_ggw_occ_t<NN, ST, 0>(c, smem);
}
static int lt_ggw_occ(const lt_cuda_ctx *c, int bm, size_t smem) {
  const int ST = lt_ggw_stages();
  switch (bm * 10 + ST) {
  case 164: return lt_ggw_occ_f<16, 4>(c, smem);
  case 324: return lt_ggw_occ_f<32, 4>(c, smem);
  case 644: return lt_ggw_occ_f<64, 4>(c, smem);
  case 166: return lt_ggw_occ_f<16, 6>(c, smem);
  case 326: return lt_ggw_occ_f<32, 6>(c, smem);
  default: return lt_ggw_occ_f<64, 6>(c, smem);
  }
}

/* The K split of a wgmma GEMM over grid_m × gn blocks: lt_ggw_splits' count; then, where the blocks exceed one
 * wave of resident blocks, raised until the last wave is not mostly empty (blocks ≥ 70% of waves × resident):
 * e.g. the full-size V3 gate_up at one token, 9 × 64 blocks against 4 × 132 resident, took 131 µs unsplit and
 * 113 µs at split 2 (H200, bench_moe). grid_m is the tile bound (exact at one token, high above). */
static int lt_ggw_pick_splits(const lt_cuda_ctx *c, int bm, int grid_m, int gn, int K) {
  const int s0 = lt_ggw_splits(c, grid_m, gn, K), kt = K / 128, smax = kt / 4 < 16 ? kt / 4 : 16;
  const int64_t B = (int64_t)grid_m * gn;
  for (int s = s0; s <= (smax > s0 ? smax : s0); s++) {
    const int ks = (kt + s - 1) / s;
    const int64_t cap = (int64_t)lt_ggw_occ(c, bm, lt_ggw_smem(bm, lt_ggw_stages(), ks)) * c->sm_count;
    if (cap <= 0) return s0;
    const int64_t waves = (B * s + cap - 1) / cap;
    if (waves <= 1 && s == s0) return s0;  /* one wave: lt_ggw_splits' count */
    if (B * s * 10 >= waves * cap * 7) return s;
  }
  return s0;
}

template <int NN, int ST, int FINE>
static latte_status lt_ggw_launch_f(lt_cuda_ctx *c, const lt_gg_params &p, dim3 grid, size_t smem) {
  LT_TRY((lt_ggw_optin<NN, ST, FINE>(c)));
  (void)lt_launch(lt_k_gg_wg<NN, ST, FINE>, grid, 128, smem, c->stream, p);
  LT_LAUNCH_CHECK("lt_k_gg_wg");
  return LATTE_OK;
}
template <int NN, int ST>
static latte_status lt_ggw_launch(lt_cuda_ctx *c, const lt_gg_params &p, dim3 grid, size_t smem) {
  return lt_cuda_ggw_fine ? lt_ggw_launch_f<NN, ST, 1>(c, p, grid, smem) : lt_ggw_launch_f<NN, ST, 0>(c, p, grid, smem);
}

/* lt_gg_run for the wgmma kernel (lt_ggw_use said yes): the same outputs, split-K partials in lt_k_gg's layout
 * with bn = 64 (part: lt_ggw_part_floats), reduced by lt_k_gg_reduce or left to the caller (defer). */
static latte_status lt_ggw_run(lt_cuda_ctx *c, int bm, lt_gg_params p, int grid_m, int splits, float *part,
                               lt_gg_defer *defer) {
  const int gn = lt_ggw_grid_n(p.N, p.inter), KT = p.K / 128;
  if (grid_m <= 0 || gn <= 0) return LATTE_OK;
  if (((uintptr_t)p.a | (uintptr_t)p.w) & 15 || p.lda % 16)
    return lt_err(LATTE_ERR_INVALID, "grouped gemm (wgmma): operands not 16-byte aligned");
  const int epi = p.epi;
  splits = lt_gg_split_k(p, KT, splits, grid_m, bm, (int64_t)gn * 64, part);
  const dim3 grid((unsigned)grid_m, (unsigned)gn, (unsigned)splits);
  const int ST = lt_ggw_stages();
  const size_t smem = lt_ggw_smem(bm, ST, p.kt_split);
  latte_status s;
  switch (bm * 10 + ST) {
  case 164: s = lt_ggw_launch<16, 4>(c, p, grid, smem); break;
  case 324: s = lt_ggw_launch<32, 4>(c, p, grid, smem); break;
  case 644: s = lt_ggw_launch<64, 4>(c, p, grid, smem); break;
  case 166: s = lt_ggw_launch<16, 6>(c, p, grid, smem); break;
  case 326: s = lt_ggw_launch<32, 6>(c, p, grid, smem); break;
  default: s = lt_ggw_launch<64, 6>(c, p, grid, smem); break;
  }
  if (s) return s;
  return lt_gg_finish(c, p, epi, grid_m * bm, 64, splits, part, defer);
}

static size_t lt_ggw_part_floats(int bm, int grid_m, int gn, int splits) {
  return splits <= 1 ? 0 : (size_t)splits * grid_m * bm * (size_t)gn * 64;
}
