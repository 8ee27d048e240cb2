/* cuda_gemm_fp8_tma.cuh — the wgmma FP8 linear (cuda_gemm_fp8_wg.cu, included there: its argument structs, plan
 * and epilogue) with its tiles fed by the TMA instead of every thread's cp.async: a producer warp's one thread
 * copies each K-group's W tile [R rows × 128 B] and x tile [NN rows × 128 B] (128-byte swizzled by the hardware,
 * rows past N or M zero) into a deep ring of ST stages, each stage's FULL barrier (cuda_tma.cuh) counting the
 * bytes in, and the WG consumer warpgroups release a stage through its EMPTY barrier as soon as their wgmma has
 * read it — no block-wide barrier per group, so the ring's bytes stay in flight while the consumers multiply.
 * One block per SM is the aim (the ring takes the shared memory); the arithmetic per group and the epilogue are
 * the cp.async kernel's, so at the same K split the two give the same bits. QX (≤ 8 rows): no x tiles in the ring
 * and no quantisation launch before it: the consumers quantise the block's K range of bf16 x into shared memory
 * (lt_f8w_tokens) while the W copies fly. W copies carry an L2 evict-first policy (read once per call: x, y and the
 * scales stay in L2). KW = 2 (the KW plan at 17..64 rows, lt_f8t_choose_kw; or the knob lt_fp8_tma_kw): two consumer
 * warpgroups per 64 rows take the even and the odd K-groups, so two groups' wgmma are in flight; their sums are added
 * in that order at the end (its own bits); KW = 4 (knob only) deals them out four ways. A probe build (LT_PROBE_ON)
 * can leave the loop's wgmma or copies out (a.cut) to see what it waits on. docs/cuda-gemm.md ("TMA", "The linear's
 * timeline", "Where the loop waits", "Two K parts"). */

/* the tensor maps of one launch: W of a.o[0] and a.o[1] (box R × 128), xq [M, K] (box NN × 128) */
typedef struct {
  CUtensorMap w[2];
  CUtensorMap x;
} lt_f8t_maps;

/* bytes of one ring stage: the W tile [R][128 B], then (not QX) the x tile [NN][128 B] */
__host__ __device__ constexpr int lt_f8t_stage_bytes(int WG, int NN, bool QX) { return (64 * WG + (QX ? 0 : NN)) * 128; }
/* bytes after the ring: (QX) the x tiles of every group [gs][NN][128 B], token scales [gs][NN], weight scales
 * [WG][gs], then (8-byte aligned) FULL[ST] and EMPTY[ST] */
static size_t lt_f8t_tail_bytes(int WG, int NN, int ST, int gs, bool QX) {
  const size_t sc = (QX ? (size_t)gs * NN * 128 : 0) + sizeof(float) * ((size_t)gs * NN + (size_t)WG * gs);
  return (sc + 7) / 8 * 8 + 16 * (size_t)ST;
}

/* y [M, N] = Σ_g sx[m, g] · sw[n/128, g] · Σ_{k∈g} xq[m, k] · W[n, k] — lt_k_fp8_wg's block (bx, ·, z) and
 * arithmetic; threads 0 .. 128·WG·KW−1 are the consumer warpgroups (warpgroup w: rows 64·(w % WG), K-groups
 * w / WG, + KW, ...), the last warp the producer (its lane 0 issues
 * every copy: first, right after the barriers' set-up (before the weight scales' loads and the PDL wait: weights
 * never change), the W tiles of the first ST groups; after the wait their x tiles, then group i ≥ ST into stage
 * i % ST once EMPTY has seen that stage's previous use released). A consumer warpgroup waits FULL[i % ST]
 * (parity (i / ST) & 1), runs the group's 4 wgmma, and each of its warps arrives on EMPTY once its wgmma are done;
 * then acc += partial · sw · sx. ST is a launch argument (a multiple of KW: a stage then serves one K part only, so
 * its barriers' phases follow one warpgroup's). WG: 1, 2 or 4 (64, 128 or 256 weight rows per block). */
template <int N8, int WG, bool QX, int KW>
__global__ void __launch_bounds__(WG * KW * 128 + 32, 1) lt_k_fp8_tma(const lt_f8w_args a, const __grid_constant__ lt_f8t_maps tm,
                                                                       const int ST LT_PROBE_ARG) {
  LT_PDL_LAUNCH_NEXT();
  static_assert(KW == 1 || !QX, "QX: one consumer warpgroup per 64 rows");
  constexpr int TC = WG * KW * 128, R = WG * 64, NN = N8 * 8, WB = R * 128, STAGE = lt_f8t_stage_bytes(WG, NN, QX);
  constexpr int RP = R + LT_F8W_TPAD;
  extern __shared__ __align__(128) uint8_t lt_f8t_smem[];
  uint8_t *ring = lt_f8t_smem + ((LT_F8W_ALIGN - ((uint32_t)__cvta_generic_to_shared(lt_f8t_smem) & 1023u)) & 1023u);
  const uint32_t ring_sa = (uint32_t)__cvta_generic_to_shared(ring);
  const int gs = a.kslice / 128, Gw = a.K / 128;
  uint8_t *xall = ring + (size_t)ST * STAGE;          /* QX: [gs][NN][128 B] (1024-aligned) */
  float *sxs = (float *)(xall + (QX ? (size_t)gs * NN * 128 : 0));  /* [gs][NN] */
  float *sws = sxs + gs * NN;                          /* [WG][gs] */
  uint64_t *full = (uint64_t *)(((uintptr_t)(sws + WG * gs) + 7) & ~(uintptr_t)7), *empty = full + ST;
  const int sec = (int)blockIdx.x >= a.tiles1;
  const lt_f8w_out o = sec ? a.o[1] : a.o[0];   /* a select, not a.o[sec]: no copy of a to local memory */
  const int tid = threadIdx.x, n0 = ((int)blockIdx.x - (sec ? a.tiles1 : 0)) * R, kb = blockIdx.z * a.kslice;
  const int ng = (min(a.K, kb + a.kslice) - kb) / 128;
#ifdef LT_PROBE_ON
  const int pblk = (int)(blockIdx.x + gridDim.x * blockIdx.z);
  const int cut = a.cut;  /* probe builds: the loop without its wgmma (2), x copies (4) or W copies (8) */
#else
  constexpr int cut = 0;
#endif
  const int stx = ((cut & 8) ? 0 : WB) + ((cut & 4) || QX ? 0 : STAGE - WB);  /* bytes of one stage's copies */
  if (tid == 0) { LT_PROBE(0, pblk, 0); LT_PROBE(0, pblk, 7); }

  const uint64_t wpol = lt_l2_evict_first();  /* W: read once per call, evicted first (x, y and scales stay in L2) */
  if (tid == TC) {
    for (int s = 0; s < ST; s++) {
      lt_mbar_init(full + s, 1);
      lt_mbar_init(empty + s, 4 * WG);
    }
    lt_mbar_init_fence();
    lt_tma_prefetch_desc(&tm.w[sec]);
    if (!QX) lt_tma_prefetch_desc(&tm.x);  /* (QX: no x map) */
    /* the W tiles of the first ST groups at once: before the weight scales' loads below (their DRAM round trip
     * would otherwise delay the stream's start) and before the PDL wait (weights never change) */
    for (int s = 0; s < min(ng, ST); s++) {
      lt_mbar_expect_tx(full + s, stx);
      if (!(cut & 8)) lt_tma_load_2d_pol(ring + (size_t)s * STAGE, &tm.w[sec], full + s, n0, kb + s * 128, wpol);
    }
  }
  for (int i = tid; i < WG * ng; i += TC + 32) {
    const int q = i / ng, lg = i % ng, row = n0 + 64 * q;
    sws[q * gs + lg] = row < o.N ? o.wsc[(int64_t)(row / 128) * Gw + kb / 128 + lg] : 0.0f;
  }
  __syncthreads();  /* barriers initialised; weight scales in place */

  float acc[N8][4];
  lt_wg_zero(acc);
  if (tid >= TC) {  /* the producer warp */
    if (tid == TC) {
      const CUtensorMap *wm = &tm.w[sec];
      const int pre = min(ng, ST);  /* (their W tiles are in flight since the barriers' set-up) */
      LT_PDL_WAIT();  /* xq and its scales come from lt_k_quant_rows: only now */
      if (!QX && !(cut & 4))
        for (int s = 0; s < pre; s++) lt_tma_load_2d(ring + (size_t)s * STAGE + WB, &tm.x, full + s, 0, kb + s * 128);
      for (int i = ST; i < ng; i++) {
        const int s = i % ST;
        lt_mbar_wait(empty + s, (uint32_t)((i / ST - 1) & 1));
        lt_mbar_expect_tx(full + s, stx);
        if (!(cut & 8)) lt_tma_load_2d_pol(ring + (size_t)s * STAGE, wm, full + s, n0, kb + i * 128, wpol);
        if (!QX && !(cut & 4)) lt_tma_load_2d(ring + (size_t)s * STAGE + WB, &tm.x, full + s, 0, kb + i * 128);
      }
    } else {
      LT_PDL_WAIT();  /* (the whole warp stores y in the epilogue) */
    }
    __syncwarp();  /* lanes 1..31 wait for lane 0's loop: the barrier below is warp-aligned */
  } else {  /* the consumer warpgroups */
    LT_PDL_WAIT();
    if (tid == 0) LT_PROBE(0, pblk, 1);
    lt_f8w_tokens<NN, TC, QX>(a, kb, ng, xall, sxs, tid);  /* QX: x quantised here while the W copies fly */
    if (QX) lt_fence_proxy_async();                      /* its x tiles → the wgmma (async proxy) */
    asm volatile("bar.sync 1, %0;\n" ::"n"(TC) : "memory");  /* the token side, among the consumers */
    /* warpgroup wg of the block's rows; K part kp: groups kp, kp + KW, ... */
    const int wg = KW == 1 ? tid >> 7 : (tid >> 7) % WG, kp = KW == 1 ? 0 : (tid >> 7) / WG, lane = tid & 31, t = lane & 3;
    float p[N8][4];
    lt_wg_zero(p);
    for (int i = kp; i < ng; i += KW) {
      const int s = i % ST;
      lt_mbar_wait(full + s, (uint32_t)((i / ST) & 1));
      if (tid == 0 && i == 0) LT_PROBE(0, pblk, 2);
      const uint32_t sb = ring_sa + (uint32_t)(s * STAGE);
      const uint64_t da = lt_wg_desc(sb + (uint32_t)(wg * 64 * 128), 16, 1024);
      const uint64_t db = lt_wg_desc(QX ? lt_smem_u32(xall) + (uint32_t)(i * NN * 128) : sb + (uint32_t)WB, 16, 1024);
      if (!(cut & 2)) lt_wg_fp8_group<NN>(p, da, db);  /* p = this group's partial (its wgmma done: the stage is free) */
      __syncwarp();
      if (lane == 0) lt_mbar_arrive(empty + s);
      const float sw = sws[wg * gs + i];
      lt_wg_fp8_scale_add<N8>(acc, p, sw, sw, sxs + i * NN + 2 * t);
    }
    if (tid == 0) LT_PROBE(0, pblk, 3);
  }
  __syncthreads();  /* every copy consumed, every wgmma done: the ring becomes the partial tile [NN][RP] */
  if (tid == 0) LT_PROBE(0, pblk, 4);

  float *tile = (float *)ring;
  const int kq = KW == 1 ? 0 : (tid >> 7) / WG, tq = tid - kq * WG * 128;  /* this thread's K part; tid within it */
  if (tid < TC && kq == 0) lt_f8w_tile_put<N8, RP>(tile, acc, tq);
#pragma unroll
  for (int k = 1; k < KW; k++) {  /* the other K parts added in order */
    if (tid < TC) asm volatile("bar.sync 1, %0;\n" ::"n"(TC) : "memory");  /* (consumers only: the count is TC) */
    if (tid < TC && kq == k) lt_f8w_tile_put<N8, RP, true>(tile, acc, tq);
  }
  lt_cluster_sum_store<R, NN, TC>(tile, RP, n0, o.N, a.M, o.y, a.out_f32, o.yvec);
  if (tid == 0) LT_PROBE(0, pblk, 5);
}

template <int N8, int WG, bool QX = false, int KW = 1>
static latte_status lt_f8t_launch(lt_cuda_ctx *c, int tiles, int S, int ST, size_t smem, const lt_f8w_args &a,
                                  const lt_f8t_maps &m) {
  static size_t opted = 0;
  if (smem > opted) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_fp8_tma<N8, WG, QX, KW>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    opted = smem;
  }
  cudaLaunchAttribute at[2];
  const cudaLaunchConfig_t cfg = lt_cluster_z_cfg(at, (unsigned)tiles, S, WG * KW * 128 + 32, smem, c->stream);
  cudaError_t e = cudaLaunchKernelEx(&cfg, lt_k_fp8_tma<N8, WG, QX, KW>, a, m,
                                     ST LT_PROBE_PASS((lt_probe_seq_f8t++ & 255) | (lt_probe_flags & 1) << 8));
  if (e != cudaSuccess)
    return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of lt_k_fp8_tma (rows %d, n %d%s, k %d, grid %d×%d, ST %d, smem %zu): %s",
                  __FILE__, __LINE__, a.M, a.o[0].N, a.tiles1 < tiles ? " + a second weight" : "", a.K, tiles, S, ST,
                  smem, cudaGetErrorString(e));
  LT_LAUNCH_CHECK("lt_k_fp8_tma");
  return LATTE_OK;
}

template <int WG>
static latte_status lt_f8t_launch_n(lt_cuda_ctx *c, int N8, int tiles, int S, int ST, size_t smem,
                                    const lt_f8w_args &a, const lt_f8t_maps &m, int KW = 1) {
  if constexpr (WG == 1)
    if (KW == 4) switch (N8) {
    case 5: return lt_f8t_launch<5, 1, false, 4>(c, tiles, S, ST, smem, a, m);
    case 6: return lt_f8t_launch<6, 1, false, 4>(c, tiles, S, ST, smem, a, m);
    case 7: return lt_f8t_launch<7, 1, false, 4>(c, tiles, S, ST, smem, a, m);
    case 8: return lt_f8t_launch<8, 1, false, 4>(c, tiles, S, ST, smem, a, m);
    default: break;
    }
  if constexpr (WG == 1)  /* 17..32 rows: only the KW plan (one row warpgroup) takes two K parts there */
    if (KW == 2) switch (N8) {
    case 3: return lt_f8t_launch<3, 1, false, 2>(c, tiles, S, ST, smem, a, m);
    case 4: return lt_f8t_launch<4, 1, false, 2>(c, tiles, S, ST, smem, a, m);
    default: break;
    }
  if constexpr (WG <= 2)
    if (KW == 2) switch (N8) {
    case 5: return lt_f8t_launch<5, WG, false, 2>(c, tiles, S, ST, smem, a, m);
    case 6: return lt_f8t_launch<6, WG, false, 2>(c, tiles, S, ST, smem, a, m);
    case 7: return lt_f8t_launch<7, WG, false, 2>(c, tiles, S, ST, smem, a, m);
    case 8: return lt_f8t_launch<8, WG, false, 2>(c, tiles, S, ST, smem, a, m);
    default: break;
    }
  switch (N8) {
  case 1: return lt_f8t_launch<1, WG>(c, tiles, S, ST, smem, a, m);
  case 2: return lt_f8t_launch<2, WG>(c, tiles, S, ST, smem, a, m);
  case 3: return lt_f8t_launch<3, WG>(c, tiles, S, ST, smem, a, m);
  case 4: return lt_f8t_launch<4, WG>(c, tiles, S, ST, smem, a, m);
  case 5: return lt_f8t_launch<5, WG>(c, tiles, S, ST, smem, a, m);
  case 6: return lt_f8t_launch<6, WG>(c, tiles, S, ST, smem, a, m);
  case 7: return lt_f8t_launch<7, WG>(c, tiles, S, ST, smem, a, m);
  default: return lt_f8t_launch<8, WG>(c, tiles, S, ST, smem, a, m);
  }
}
