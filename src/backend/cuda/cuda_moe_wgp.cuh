/* cuda_moe_wgp.cuh — included once by cuda_moe.cu (after cuda_moe_wg.cuh): the grouped GEMM at prefill sizes (sort
 * tiles of 64 or 128 rows, dense calls of > 32 rows) on Hopper warpgroup MMA, bf16 or e4m3 (w8a8: 128×128 weight
 * and 1×128 token scales). "Swap AB" as in cuda_moe_wg.cuh: a block is two warpgroups (256 threads) × MW m64
 * tiles each = R = 128·MW weight rows of one expert (the wgmma's A) × the NN token rows of one tile of the sort
 * (the wgmma's N, gathered through rowtok; padding rows are zeros) × a K range. Both operands K-major, 128-byte
 * swizzled, streamed per 128-byte k-group (64 bf16 / 128 e4m3 of K) through an ST-stage cp.async ring, one block
 * barrier per group; per group each warpgroup issues 4·MW × wgmma (bf16 m64nNNk16 into its fp32 accumulators;
 * e4m3 m64nNNk32 into a fresh partial per m64 tile, then acc += partial · sw · sx with the group's weight and
 * token scales, which ride in the ring beside the tiles) and waits for them (keeping one group's products in
 * flight through the next barrier, the ring then loaded ST − 2 groups ahead, measured slower at every size: with
 * two blocks per SM, one block's barrier is the other's MMA time). gate_up (p.inter > 0): A rows interleaved per
 * 8 (row 16q + i: gate of h column j0 + 8q + i; row 16q + 8 + i: its up) — lt_k_gg's order — so a thread holds g
 * and u of one h column; the block's output tile (h [NN][R/2] = silu(g)·u, bf16 or f32 for e4m3's requantisation,
 * or y [NN][R] bf16) is staged in shared memory and stored in 16-byte pieces; split K: f32 partials in lt_k_gg's
 * layout with bn = R (lt_gg_finish reduces them or leaves them to the combine). Grid (column blocks, tiles,
 * splits): the column blocks of one tile run side by side and share its tokens in L2. docs/cuda-moe.md ("The
 * prefill grouped GEMM"). */

enum { LT_GGP_NT = 256 };

/* bytes of one ring stage: the W tile [R][128 B], the token tile [NN][128 B], (e4m3) the tokens' scales [NN] f32,
 * rounded up to 1024 (every stage's tiles 1024-aligned for the swizzle) */
__host__ __device__ constexpr int lt_ggp_stage(int MW, int NN, int FP8) {
  return ((128 * MW + NN) * 128 + (FP8 ? NN * 4 : 0) + 1023) / 1024 * 1024;
}
/* dynamic shared memory: alignment slack, the ring, (e4m3) the weight scales [2·MW tiles][2][groups] */
static size_t lt_ggp_smem(int MW, int NN, int ST, int FP8, int groups) {
  return LT_GGW_ALIGN + (size_t)ST * lt_ggp_stage(MW, NN, FP8) + (FP8 ? sizeof(float) * 4 * MW * (size_t)groups : 0);
}

/* d [64, NN] += A [64, 16] · B [NN, 16]ᵀ (bf16, both K-major in shared memory) */
template <int NN>
static __device__ __forceinline__ void lt_ggp_mma(float (&d)[NN / 8][4], uint64_t da, uint64_t db) {
  if constexpr (NN == 128) lt_wg_m64n128k16(&d[0][0], da, db, 1);
  else lt_wg_m64n64k16(&d[0][0], da, db, 1);
}

/* Block (ny, m, z): column block ny (R weight rows: R/2 h columns of gate_up, or R output columns), tile m of the
 * tile list (or rows m·NN.. of a dense call), k-groups [z·kt_split, +kt_split) of 128 bytes (K·size % 128 == 0).
 * Thread tid copies 16-byte chunk c = tid % 8 of W rows tid/8 + 32j (j < R/32) and of token rows tid/8 + 32j
 * (j < NN/32) of each group, to chunk c ^ (row % 8) of its 128-byte row (the 128B swizzle); e4m3: threads
 * tid < NN also copy token tid's scale of the group. */
template <int MW, int NN, int ST, int FP8>
__global__ void __launch_bounds__(LT_GGP_NT, 1) lt_k_gg_wgp(const lt_gg_params p) {
  LT_PDL_ENTER();  /* the tile list, rowtok and A come from the kernels just before (the sort precedes gate_up) */
  constexpr int R = 128 * MW, N8 = NN / 8, STAGE = lt_ggp_stage(MW, NN, FP8), WJ = R / 32, XJ = NN / 32;
  constexpr int ES = FP8 ? 1 : 2, AHEAD = ST - 1;  /* element bytes; groups loaded ahead of the one multiplied */
  static_assert(NN == 64 || NN == 128, "token tile");
  static_assert(ST >= 2, "ring stages");
  static_assert((size_t)NN * (R + 16) * 2 <= (size_t)ST * STAGE, "the staged output tile fits the ring");
  extern __shared__ __align__(128) uint8_t lt_ggp_smem_[];
  uint8_t *ring = lt_ggp_smem_ + ((LT_GGW_ALIGN - (lt_smem_u32(lt_ggp_smem_) & 1023u)) & 1023u);
  const uint32_t ring_sa = lt_smem_u32(ring);
  const int tid = threadIdx.x, KT = p.K * ES / 128;
  const int kb = blockIdx.z * p.kt_split, ng = min(KT, kb + p.kt_split) - kb, ny = blockIdx.x;
  int e = 0, row0 = blockIdx.y * NN;
  if (p.tile_e) {
    const int m = blockIdx.y;
    if (m >= p.num_tiles[0]) return;
    e = p.tile_e[m];
    row0 = p.tile_row0[m];
  }
  const uint8_t *wb = p.w + (size_t)e * (size_t)p.w_estride * ES;
  const int c = tid & 7, r0 = tid >> 3;
  const int dst0 = r0 * 128 + ((c ^ (r0 & 7)) << 4);
  const uint8_t *wsrc[WJ], *xsrc[XJ];
  bool wok[WJ], xok[XJ];
#pragma unroll
  for (int j = 0; j < WJ; j++) {
    const int wrow = lt_gg_wrow(p, R, ny, r0 + 32 * j);
    wok[j] = wrow >= 0;
    wsrc[j] = wb + (size_t)(wok[j] ? wrow : 0) * (size_t)p.K * ES + (size_t)kb * 128 + c * 16;
  }
#pragma unroll
  for (int j = 0; j < XJ; j++) {
    const int pos = row0 + r0 + 32 * j;
    xok[j] = lt_row_ok(p, pos);
    const int arow = xok[j] ? (p.a_by_tok ? p.rowtok[pos] : pos) : 0;
    xsrc[j] = p.a + (size_t)arow * (size_t)p.lda * ES + (size_t)kb * 128 + c * 16;
  }
  /* e4m3: token tid's scales (thread tid < NN), and the weight scales of every group of the K range:
   * sws[(tile · 2 + lo/hi) · ng + group], tile = wg·MW + mw (its rows lo: 16w + lane/4, hi: + 8) */
  const float *ssrc = NULL;
  bool sok = false;
  float *sws = (float *)(ring + (size_t)ST * STAGE);
  if (FP8) {
    if (tid < NN) {
      const int pos = row0 + tid;
      sok = lt_row_ok(p, pos);
      ssrc = p.as + (size_t)(sok ? (p.a_by_tok ? p.rowtok[pos] : pos) : 0) * p.ask + kb;
    }
    const float *ws = p.ws + (size_t)e * p.ws_estride;
    for (int i = tid; i < 4 * MW * ng; i += LT_GGP_NT) {
      const int tile = i / (2 * ng), hi = (i / ng) & 1, g = i % ng;
      int srow;
      if (p.inter > 0) srow = (ny * (R / 2) + tile * 32) / 128 + (hi ? p.up_srow : 0);
      else srow = (ny * R + tile * 64) / 128;
      const bool in = p.inter > 0 ? ny * (R / 2) + tile * 32 < p.inter : ny * R + tile * 64 < p.N;
      sws[i] = in ? ws[(size_t)srow * p.wsk + kb + g] : 0.0f;
    }
  }
  /* group g's W and token rows (and token scales) into ring slot s (rows without data: zero-filled) */
  auto load = [&](int s, int g) {
    uint8_t *d = ring + s * STAGE + dst0;
#pragma unroll
    for (int j = 0; j < WJ; j++) lt_cp16(d + j * 32 * 128, wsrc[j] + g * 128, wok[j]);
#pragma unroll
    for (int j = 0; j < XJ; j++) lt_cp16(d + R * 128 + j * 32 * 128, xsrc[j] + g * 128, xok[j]);
    if (FP8 && tid < NN) lt_cp4(ring + s * STAGE + (R + NN) * 128 + tid * 4, sok ? ssrc + g : p.as, sok);
  };
#pragma unroll
  for (int s = 0; s < AHEAD; s++) {
    if (s < ng) load(s, s);
    lt_cp_commit();  /* always: group i is the i-th committed */
  }

  const int wg = tid >> 7, lane = tid & 31, t = lane & 3, gid = lane >> 2, w4 = (tid >> 5) & 3;
  float acc[MW][N8][4], pa[FP8 ? MW : 1][N8][4];
#pragma unroll
  for (int mw = 0; mw < MW; mw++) lt_wg_zero(acc[mw]);
  for (int i = 0; i < ng; i++) {
    lt_cp_wait<AHEAD - 1>();  /* this thread's copies of group i have landed */
    lt_fence_proxy_async();   /* ... and are visible to the wgmma (async proxy) */
    __syncthreads();          /* everyone's have; both warpgroups are done with group i − 1's slot, refilled next */
    if (i + AHEAD < ng) load((i + AHEAD) % ST, i + AHEAD);
    lt_cp_commit();
    const uint32_t sb = ring_sa + (uint32_t)((i % ST) * STAGE);
    const uint64_t db = lt_wg_desc(sb + R * 128, 16, 1024);
    if (FP8) {
#pragma unroll
      for (int mw = 0; mw < MW; mw++) lt_wg_keep_all(pa[mw]);
    }
    lt_wg_fence();
#pragma unroll
    for (int mw = 0; mw < MW; mw++) {
      const uint64_t da = lt_wg_desc(sb + (uint32_t)((wg * MW + mw) * 64 * 128), 16, 1024);
#pragma unroll
      for (int k = 0; k < 4; k++) {
        if constexpr (FP8) lt_wg_m64k32_e4m3<NN>(&pa[mw][0][0], da + (uint64_t)(2 * k), db + (uint64_t)(2 * k), k);
        else lt_ggp_mma<NN>(acc[mw], da + (uint64_t)(2 * k), db + (uint64_t)(2 * k));
      }
    }
    lt_wg_commit();
    lt_wg_wait<0>();
#pragma unroll
    for (int mw = 0; mw < MW; mw++) {
      if constexpr (FP8) {
        lt_wg_keep_all(pa[mw]);
        const int tile = wg * MW + mw;
        const float *sx = (const float *)(ring + (i % ST) * STAGE + (R + NN) * 128);
        lt_wg_fp8_scale_add<N8>(acc[mw], pa[mw], sws[(2 * tile) * ng + i], sws[(2 * tile + 1) * ng + i], sx + 2 * t);
      } else {
        lt_wg_keep_all(acc[mw]);
      }
    }
  }
  lt_cp_wait<0>();

  /* warp w4 of warpgroup wg holds, of its m64 tile mw, A rows 16·w4 + gid (lo) and + 8 (hi), tokens 8cc + 2t + u */
  if (p.epi == LT_EPI_PART) {
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
      for (int cc = 0; cc < N8; cc++)
#pragma unroll
        for (int u = 0; u < 2; u++) {
          const int pos = row0 + cc * 8 + 2 * t + u;
          if (!lt_row_ok(p, pos)) continue;
          float *o = p.part + (size_t)blockIdx.z * p.part_zstride + (size_t)pos * p.part_ld + ny * R +
                     (wg * MW + mw) * 64 + 16 * w4 + gid;
          o[0] = acc[mw][cc][u];
          o[8] = acc[mw][cc][u + 2];
        }
    return;
  }
  /* output tile [NN][OC] (bf16, or f32 for LT_EPI_SILU32; row pitch OP elements) staged in the ring, then 16-byte
   * stores of whole rows */
  const bool silu = p.epi == LT_EPI_SILU || p.epi == LT_EPI_SILU32, f32 = p.epi == LT_EPI_SILU32;
  const int OC = silu ? R / 2 : R, OP = OC + 8;
  __nv_bfloat16 *st = (__nv_bfloat16 *)ring;
  float *stf = (float *)ring;
  __syncthreads();  /* both warpgroups are done with the ring */
#pragma unroll
  for (int mw = 0; mw < MW; mw++)
#pragma unroll
    for (int cc = 0; cc < N8; cc++)
#pragma unroll
      for (int u = 0; u < 2; u++) {
        const int n = cc * 8 + 2 * t + u;
        const float vl = acc[mw][cc][u], vh = acc[mw][cc][u + 2];
        if (silu) {
          const float v = lt_silu_mul(vl, vh);
          const int jl = (wg * MW + mw) * 32 + 8 * w4 + gid;
          if (f32) stf[n * OP + jl] = v;
          else st[n * OP + jl] = __float2bfloat16(v);
        } else {
          const int rl = (wg * MW + mw) * 64 + 16 * w4 + gid;
          st[n * OP + rl] = __float2bfloat16(vl);
          st[n * OP + rl + 8] = __float2bfloat16(vh);
        }
      }
  __syncthreads();
  const int col0 = ny * OC, ncols = silu ? p.inter : p.N, EPC = f32 ? 4 : 8, CH = OC / EPC;
  for (int i = tid; i < NN * CH; i += LT_GGP_NT) {
    const int n = i / CH, col = col0 + (i % CH) * EPC, pos = row0 + n;
    if (col >= ncols || !lt_row_ok(p, pos)) continue;
    if (f32) *(float4 *)((float *)p.out + (size_t)pos * p.ldo + col) = *(const float4 *)(stf + n * OP + (i % CH) * 4);
    else *(uint4 *)((__nv_bfloat16 *)p.out + (size_t)pos * p.ldo + col) = *(const uint4 *)(st + n * OP + (i % CH) * 8);
  }
}

/* 0 off (LATTE_GG_WGP=0: lt_k_gg / the e4m3 decode-size kernel), 1 automatic: the bf16 GEMMs of the experts and of
 * the dense MLP at tiles of 64 or 128 rows, the e4m3 ones at tiles of lt_cuda_ggp_fp8_bm rows and more (K % 128
 * == 0). Knobs (bench_moe): m64 tiles per warpgroup (1 or 2), ring stages (3 or 4), the rows per touched expert
 * (or dense rows) above which the sort's tiles are 128 rows (else 64), and the least tile the e4m3 GEMMs take
 * this kernel at (64 or 128; smaller tiles keep the decode-size kernel). Defaults: 1 m64 tile and 3 stages (96 KB:
 * two blocks per SM), the sweep's best (H200, bench_moe v2-lite 4096, bf16: 342–346 TFLOP/s in the experts,
 * against 274–317 with 2 tiles and 4 stages at one block per SM); 128-row tiles above 96 rows (at 1024 tokens,
 * ~124 rows per expert: 425 µs, against 509 with 64-row tiles); e4m3 from 64-row tiles (V2-Lite fp8 at 512 tokens:
 * 259 µs, against 385 on the decode-size kernel; at 4096: 1673 µs against 2566). */
extern "C" int lt_cuda_gg_wgp, lt_cuda_ggp_mw, lt_cuda_ggp_st, lt_cuda_ggp_bm128, lt_cuda_ggp_fp8_bm, lt_cuda_ggp_fp8_128;
int lt_cuda_gg_wgp = 1, lt_cuda_ggp_mw = 1, lt_cuda_ggp_st = 3, lt_cuda_ggp_bm128 = 96, lt_cuda_ggp_fp8_bm = 64;
/* the routed experts' e4m3 GEMMs at 128-row tiles (above lt_cuda_ggp_bm128 rows per touched expert, as bf16) when 1
 * (env LATTE_GGP_FP8_128); 0 (default): they keep 64-row tiles. NN = 128 holds 174 registers in e4m3 (acc + partial:
 * one block per SM, whose two warpgroups scale their partials in step while the tensor cores idle); NN = 64, 105 (two
 * blocks per SM, each one's scaling the other's MMA time). H200, bench_moe, experts µs, 128- → 64-row tiles: V2-Lite
 * fp8 4096 tokens 1668 → 1423, 1024 492 → 441; V3-TP8 fp8 4096 2276 → 1786, 1024 734 → 736 (bf16 the other way:
 * V2-Lite 4096 1242 → 1547). The dense MLP's e4m3 GEMMs keep 128-row tiles above lt_cuda_ggp_bm128 rows: with them at
 * 64 too, the 4-layer V3 (three dense layers of I 18432) prefilled 8 × 512 tokens at 115–117k tok/s against 122–123k
 * (docs/cuda-moe.md). */
int lt_cuda_ggp_fp8_128 = 0;
static int lt_ggp_mw(void) { return lt_cuda_ggp_mw == 2 ? 2 : 1; }
static int lt_ggp_st(void) { return lt_cuda_ggp_st == 4 ? 4 : 3; }

/* whether the prefill kernel serves one GEMM (bf16, or e4m3 when fp8) of reduction length K at tiles of bm rows,
 * writing out (row stride ldo elements; f32 for the e4m3 gate_up's h) */
static int lt_ggp_use(const lt_cuda_ctx *c, int fp8, int bm, int K, const void *out, int64_t ldo) {
  if (lt_cuda_gg_wgp <= 0 || (bm != 64 && bm != 128) || (fp8 && bm < lt_cuda_ggp_fp8_bm)) return 0;
  if (K < 128 || K * (fp8 ? 1 : 2) % 128 || ((uintptr_t)out & 15) || ldo % 8) return 0;
  return lt_ggp_smem(lt_ggp_mw(), bm, lt_ggp_st(), fp8, K / 128) <= (size_t)c->smem_optin;
}
/* its grid along the weight rows: R/2 h columns (gate_up) or R output columns per block */
static int lt_ggp_grid_n(int N, int inter) {
  const int R = 128 * lt_ggp_mw();
  return inter > 0 ? (inter + R / 2 - 1) / (R / 2) : (N + R - 1) / R;
}
/* split K (KT 128-byte groups) while the grid has fewer blocks than SMs */
static int lt_ggp_splits(const lt_cuda_ctx *c, int grid_m, int gn, int KT) {
  return lt_gg_split_count(grid_m * gn, c->sm_count, KT);
}
static size_t lt_ggp_part_floats(int bm, int grid_m, int gn, int splits) {
  return splits <= 1 ? 0 : (size_t)splits * grid_m * bm * (size_t)gn * 128 * lt_ggp_mw();
}

template <int MW, int NN, int ST, int FP8>
static latte_status lt_ggp_launch(lt_cuda_ctx *c, const lt_gg_params &p, dim3 grid) {
  static int opted = 0;
  if (!opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_gg_wgp<MW, NN, ST, FP8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     c->smem_optin));
    opted = 1;
  }
  (void)lt_launch(lt_k_gg_wgp<MW, NN, ST, FP8>, grid, LT_GGP_NT, lt_ggp_smem(MW, NN, ST, FP8, p.kt_split), c->stream,
                  p);
  LT_LAUNCH_CHECK("lt_k_gg_wgp");
  return LATTE_OK;
}
template <int MW, int NN, int FP8>
static latte_status lt_ggp_launch_st(lt_cuda_ctx *c, const lt_gg_params &p, dim3 grid) {
  return lt_ggp_st() == 4 ? lt_ggp_launch<MW, NN, 4, FP8>(c, p, grid) : lt_ggp_launch<MW, NN, 3, FP8>(c, p, grid);
}
template <int FP8>
static latte_status lt_ggp_launch_mw(lt_cuda_ctx *c, int bm, const lt_gg_params &p, dim3 grid) {
  if (lt_ggp_mw() == 1) return bm == 128 ? lt_ggp_launch_st<1, 128, FP8>(c, p, grid) : lt_ggp_launch_st<1, 64, FP8>(c, p, grid);
  return bm == 128 ? lt_ggp_launch_st<2, 128, FP8>(c, p, grid) : lt_ggp_launch_st<2, 64, FP8>(c, p, grid);
}

/* lt_gg_run for the prefill kernel (lt_ggp_use said yes): the same outputs; split-K partials in lt_k_gg's layout
 * with bn = R (part: lt_ggp_part_floats), reduced by lt_k_gg_reduce or left to the caller (defer). */
static latte_status lt_ggp_run(lt_cuda_ctx *c, int bm, int fp8, lt_gg_params p, int grid_m, int splits, float *part,
                               lt_gg_defer *defer) {
  const int R = 128 * lt_ggp_mw(), gn = lt_ggp_grid_n(p.N, p.inter), KT = p.K * (fp8 ? 1 : 2) / 128;
  if (grid_m <= 0 || gn <= 0) return LATTE_OK;
  if (((uintptr_t)p.a | (uintptr_t)p.w) & 15 || p.lda % 16)
    return lt_err(LATTE_ERR_INVALID, "grouped gemm (wgmma prefill): operands not 16-byte aligned");
  if (grid_m > 65535) return lt_err(LATTE_ERR_UNSUPPORTED, "grouped gemm (wgmma prefill): %d row tiles", grid_m);
  const int epi = p.epi;
  splits = lt_gg_split_k(p, KT, splits, grid_m, bm, (int64_t)gn * R, part);
  const dim3 grid((unsigned)gn, (unsigned)grid_m, (unsigned)splits);
  LT_TRY(fp8 ? lt_ggp_launch_mw<1>(c, bm, p, grid) : lt_ggp_launch_mw<0>(c, bm, p, grid));
  return lt_gg_finish(c, p, epi, grid_m * bm, R, splits, part, defer);
}
