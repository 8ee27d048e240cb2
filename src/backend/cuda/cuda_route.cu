/* cuda_route.cu — the MoE router on the GPU: f32 logits (a GEMV for T ≤ 32, else the grouped GEMM of
 * cuda_moe.cu), softmax/sigmoid scores and grouped top-k per token, in one launch for T ≤ 32 (whose last
 * block also sorts the pairs for the experts); and add_rmsnorm_route, that launch with the residual add
 * and the RMSNorm of its input folded in. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_moe_sort.cuh"
#include "backend/cuda/cuda_rownorm.cuh"
#include "io/config.h"
#include <string.h>

extern "C" {
/* The router at T ≤ lt_cuda_route_fused_rows: 1 = one launch (logits, top-k and the experts' sort; the last
 * block takes a ticket); 0 = two kernels (logits, then top-k). Env LATTE_ROUTE. (A thread-block-cluster
 * variant, logits gathered through distributed shared memory, measured slower on the H200: V2-Lite 13.9 vs
 * ~9 µs per call, batch-1 decode 2.90–2.95 vs 2.68–2.72 ms/step; not kept.) The one launch stops at 4 rows
 * (it took all rows ≤ 32 until the sixth session): its last block's top-k and sort of every row run in series
 * — V2-Lite decode, H200, two runs, tok/s one launch vs two kernels: batch 32 3,034 / 2,956 vs 3,262 / 3,244,
 * 16 1,912 / 1,890 vs 1,990 / 1,975, 4 935 / 931 vs 942 / 938, 1 400 / 392 vs 392 / 394. */
int lt_cuda_route_fused = 1, lt_cuda_route_fused_rows = 4;
/* add_rmsnorm_route where the one-launch router applies: 1 = one launch (every router block forms its rows'
 * y = rmsnorm(resid + delta) itself), 0 = add_rmsnorm then moe_route. Default 0: the one launch measured
 * slower (H200, graph replays, µs: V2-Lite rows 1 9.35 vs 8.66, rows 8 20.1 vs 16.5; V3-TP8 rows 1 28.8 vs
 * 18.3; docs/cuda-moe.md). The tests run it with 1. */
int lt_cuda_route_norm_fused = 0;
/* The most dynamic shared memory (bytes) the one-launch add_rmsnorm_route may take per block: its gate row,
 * norm_w, and the resid and delta rows of its ≤ 8 tokens (6·H + 4·rows·H); larger: the two launches
 * (tuning, tests). 100 KiB keeps 2 blocks per SM: V2-Lite (H 2048) up to 32 rows, V3 (H 7168) up to 2. */
int lt_cuda_route_norm_smem = 100 * 1024;
}


/* ================= router ================= */
/* logits [T, E] (f32) = x [T, H] · gateᵀ for few tokens: one block of 128 threads per expert and 8
 * tokens, H split over the threads in 16-byte pieces, the gate row read once per 8 tokens */

/* warp argmax over (valid, value, lower index first); invalid lanes carry idx = INT_MAX */
__device__ __forceinline__ void lt_warp_argmax(float &bv, int &bi) {
#pragma unroll
  for (int o = 16; o; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (oi != INT_MAX && (bi == INT_MAX || ov > bv || (ov == bv && oi < bi))) { bv = ov; bi = oi; }
  }
}

/* logits [T, E] (f32) = X [T, H] · gᵀ for expert e = blockIdx.x and tokens t0 = 8·blockIdx.y .. +8; 128
 * threads. Both operands are read through functors: at(k), once per 8-column piece k .. k+7 of the thread,
 * returns g[e, k .. k+7] (8 bf16, uint4), then row(t, k) the piece of X's row t0 + t for each row. */
template <class At, class Row>
__device__ __forceinline__ void lt_router_gemv_rows(At at, Row row, int T, int E, int H, float *logits) {
  __shared__ float red[4][8];
  const int e = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5, t0 = blockIdx.y * 8;
  const int nt = T - t0 < 8 ? T - t0 : 8;
  float acc[8];
#pragma unroll
  for (int t = 0; t < 8; t++) acc[t] = 0.f;
#pragma unroll 4
  for (int k = threadIdx.x * 8; k < H; k += 1024) {
    uint4 wv = at(k);
    const __nv_bfloat162 *w2 = (const __nv_bfloat162 *)&wv;
    float2 wf[4];
#pragma unroll
    for (int i = 0; i < 4; i++) wf[i] = __bfloat1622float2(w2[i]);
#pragma unroll
    for (int t = 0; t < 8; t++) {
      if (t < nt) {
        uint4 xv = row(t, k);
        const __nv_bfloat162 *x2 = (const __nv_bfloat162 *)&xv;
#pragma unroll
        for (int i = 0; i < 4; i++) {
          float2 xf = __bfloat1622float2(x2[i]);
          acc[t] += xf.x * wf[i].x + xf.y * wf[i].y;
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < 8; t++) {
    float v = acc[t];
#pragma unroll
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) red[warp][t] = v;
  }
  __syncthreads();
  if (threadIdx.x < nt) {
    int t = threadIdx.x;
    logits[(size_t)(t0 + t) * E + e] = (red[0][t] + red[1][t]) + (red[2][t] + red[3][t]);
  }
}

/* the GEMV on x [T, H] in global memory */
__device__ __forceinline__ void lt_router_gemv_block(const __nv_bfloat16 *x, const __nv_bfloat16 *g, int T, int E, int H,
                                                     float *logits) {
  const int e = blockIdx.x, t0 = blockIdx.y * 8;
  const __nv_bfloat16 *gr = g + (size_t)e * H;
  lt_router_gemv_rows([&](int k) { return __ldg((const uint4 *)(gr + k)); },
                      [&](int t, int k) { return *(const uint4 *)(x + (size_t)(t0 + t) * H + k); }, T, E, H, logits);
}

__global__ void lt_k_router_gemv(const __nv_bfloat16 *x, const __nv_bfloat16 *g, int T, int E, int H, float *logits) {
  LT_PDL_ENTER();
  lt_router_gemv_block(x, g, T, E, H, logits);
}

/* One warp routes token t: l = its E logits; score/choice = 2·E floats of scratch (shared memory).
 * Scores (softmax or sigmoid), choice = score + bias, group selection (max or top-2 sum per group,
 * keep topk_group, others' choices 0), top-k of choice, weights = scores of the chosen, renormalised
 * and scaled — route_row of cpu_moe.c. */
__device__ void lt_route_token(const float *l, const float *bias, const lt_route_cfg &cfg, int t, int32_t *ids,
                               float *wts, float *score, float *choice) {
  const int lane = threadIdx.x & 31;
  const int E = cfg.num_experts, K = cfg.top_k;
  if (cfg.sigmoid) {
    for (int e = lane; e < E; e += 32) score[e] = 1.0f / (1.0f + expf(-l[e]));
  } else {
    float m = -INFINITY, s = 0.f;
    for (int e = lane; e < E; e += 32) m = fmaxf(m, l[e]);
#pragma unroll
    for (int o = 16; o; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    for (int e = lane; e < E; e += 32) { float v = expf(l[e] - m); score[e] = v; s += v; }
#pragma unroll
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    for (int e = lane; e < E; e += 32) score[e] = score[e] / s;
  }
  for (int e = lane; e < E; e += 32) choice[e] = score[e] + (bias ? bias[e] : 0.f);
  __syncwarp();
  if (cfg.method != LT_TOPK_GREEDY && cfg.n_group > 1) {
    const int G = cfg.n_group, per = E / G;
    float gs = -INFINITY;
    if (lane < G) {
      const float *cc = choice + lane * per;
      float m1 = -INFINITY, m2 = -INFINITY;
      for (int i = 0; i < per; i++) {
        float v = cc[i];
        if (v > m1) { m2 = m1; m1 = v; } else if (v > m2) { m2 = v; }
      }
      gs = (cfg.method == LT_TOPK_NOAUX_TC && per >= 2) ? m1 + m2 : m1;
    }
    unsigned kept = 0;
    for (int q = 0; q < cfg.topk_group; q++) {
      float bv = gs;
      int bi = (lane < G && !((kept >> lane) & 1u)) ? lane : INT_MAX;
      lt_warp_argmax(bv, bi);
      if (bi != INT_MAX) kept |= 1u << bi;
    }
    __syncwarp();
    for (int e = lane; e < E; e += 32)
      if (!((kept >> (e / per)) & 1u)) choice[e] = 0.f;
    __syncwarp();
  }
  unsigned taken = 0;   /* bit i: element lane + 32 i chosen */
  int my_id = 0;
  float my_w = 0.f;
  for (int j = 0; j < K; j++) {
    float bv = 0.f;
    int bi = INT_MAX;
    for (int i = 0; lane + 32 * i < E; i++) {
      if ((taken >> i) & 1u) continue;
      float v = choice[lane + 32 * i];
      if (bi == INT_MAX || v > bv) { bv = v; bi = lane + 32 * i; }
    }
    lt_warp_argmax(bv, bi);
    if (bi == INT_MAX) bi = 0;
    if ((bi & 31) == lane) taken |= 1u << (bi >> 5);
    if (lane == j) { my_id = bi; my_w = score[bi]; }
  }
  float sum = lane < K ? my_w : 0.f;
#pragma unroll
  for (int o = 16; o; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (cfg.norm_topk_prob) my_w = my_w / (sum + 1e-20f);
  if (cfg.scale_always || !cfg.norm_topk_prob) my_w *= cfg.routed_scaling_factor;
  if (lane < K) {
    ids[(size_t)t * K + lane] = my_id;
    wts[(size_t)t * K + lane] = my_w;
  }
}

__global__ void lt_k_route_topk(const float *logits, const float *bias, lt_route_cfg cfg, int T, int32_t *ids,
                                float *wts) {
  LT_PDL_ENTER();
  extern __shared__ float lt_rsm[];
  const int w = threadIdx.x >> 5;
  const int t = blockIdx.x * (blockDim.x >> 5) + w;
  if (t >= T) return;
  const int E = cfg.num_experts;
  float *score = lt_rsm + (size_t)w * 2 * E;
  lt_route_token(logits + (size_t)t * E, bias, cfg, t, ids, wts, score, score + E);
}

/* The last block of a one-launch router (all logits [T, E] stored): routes every token, one warp per token
 * (lt_route_token on a shared-memory copy of its logits), and, when rowtok != NULL, sorts the pairs by
 * expert for the next moe_experts (lt_moe_align_warp / lt_moe_align_block); then resets *counter, its
 * ticket. 128 threads; sm: 12·E floats, then 3·(E+ns)+32 ints of shared memory. */
__device__ __forceinline__ void lt_route_tail(const float *logits, int T, const float *bias, const lt_route_cfg &cfg,
                                              int32_t *ids, float *wts, unsigned *counter, int ns, int BM, int bound,
                                              int32_t *rowtok, int32_t *inv, int32_t *tile_e, int32_t *tile_row0,
                                              int32_t *num_tiles, float *sm) {
  const int E = cfg.num_experts;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *lw = sm + (size_t)w * 3 * E;
  for (int t = w; t < T; t += 4) {
    for (int e = lane; e < E; e += 32) lw[e] = __ldcg(logits + (size_t)t * E + e);
    __syncwarp();
    lt_route_token(lw, bias, cfg, t, ids, wts, lw + E, lw + 2 * E);
    __syncwarp();
  }
  __syncthreads();
  if (rowtok && T * (cfg.top_k + ns) <= 32 && T <= BM) {
    if (w == 0) lt_moe_align_warp(ids, T, cfg.top_k, ns, E, BM, bound, rowtok, inv, tile_e, tile_row0, num_tiles);
  } else if (rowtok) {
    lt_moe_align_block(ids, T, cfg.top_k, ns, E, BM, bound, rowtok, inv, tile_e, tile_row0, num_tiles,
                       (int *)(sm + 12 * (size_t)E));
  }
  if (threadIdx.x == 0) *counter = 0;
}

/* Router for T ≤ 32 in one launch: every block computes its logits (lt_router_gemv_block); the last
 * block to finish (atomic ticket on *counter) runs lt_route_tail. Dynamic smem: 12·E floats, then
 * 3·(E+ns)+32 ints. Deterministic: the same logits and the same per-token arithmetic as the
 * two-kernel path. */
__global__ void __launch_bounds__(128)
lt_k_route_fused(const __nv_bfloat16 *x, const __nv_bfloat16 *g, int T, int H, const float *bias, lt_route_cfg cfg,
                 float *logits, int32_t *ids, float *wts, unsigned *counter, int ns, int BM, int bound,
                 int32_t *rowtok, int32_t *inv, int32_t *tile_e, int32_t *tile_row0, int32_t *num_tiles) {
  LT_PDL_LAUNCH_NEXT();
  const int E = cfg.num_experts;
  if (threadIdx.x == 0) lt_prefetch_l2(g + (size_t)blockIdx.x * H, (unsigned)H * 2);  /* this expert's gate row */
  LT_PDL_WAIT();
  lt_router_gemv_block(x, g, T, E, H, logits);
  __shared__ unsigned last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == gridDim.x * gridDim.y - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  extern __shared__ float lt_rfs[];
  lt_route_tail(logits, T, bias, cfg, ids, wts, counter, ns, BM, bound, rowtok, inv, tile_e, tile_row0, num_tiles,
                lt_rfs);
}

/* ================= add_rmsnorm_route in one launch ================= */
typedef struct {
  __nv_bfloat16 *resid;        /* [T, H] in: the residual stream; out: bf16(resid + delta) */
  const __nv_bfloat16 *delta;  /* [T, H] */
  const float *norm_w;         /* [H] */
  __nv_bfloat16 *y;            /* [T, H] out: rmsnorm(resid + delta) · norm_w, the router's input */
  int T, H;
  int norm_nt;                 /* lt_k_add_rmsnorm's block size at H: the order of its sums of squares */
  float eps;
  const __nv_bfloat16 *gate;   /* [E, H] */
  const float *bias;           /* [E] or NULL */
  lt_route_cfg cfg;
  float *logits;               /* [T, E] f32 scratch */
  int32_t *ids;                /* [T, top_k] */
  float *wts;                  /* [T, top_k] */
  unsigned *counter;           /* the router's ticket */
  unsigned *row_counters;      /* one ticket per 8-row group */
  int ns, bm, bound;           /* the experts' sort (lt_moe_plan; rowtok NULL: none) */
  int32_t *rowtok, *inv, *tile_e, *tile_row0, *num_tiles;
} lt_route_norm_params;

/* lt_k_route_fused on x = y = rmsnorm(resid + delta) · norm_w, which every block forms for its ≤ 8 rows
 * (t0 = 8·blockIdx.y ..) with lt_k_add_rmsnorm's arithmetic and its order of the sum of squares
 * (lt_rownorm_partials): y and the logits are bit for bit those of add_rmsnorm then moe_route.
 * Dynamic smem (bytes): [gate row 2H | norm_w 4H | resid rows 2·nt·H | delta rows 2·nt·H], filled by cp.async
 * (the weights before the PDL wait); y = bf16(w · (s · inv)), s = resid + delta, is formed per 8-group where it
 * is used (the GEMV, the final stores). The tail (lt_route_tail) reuses the space.
 * Who writes resid and y: the last block of each row group (ticket on row_counters[blockIdx.y]). Every block
 * reads its group's resid and delta rows (global → shared, then only shared) before its __threadfence +
 * ticket, and only blocks of that group read those rows; the block that takes the group's last ticket has
 * seen all of them (its own fence after), so no block can read a row after it was updated. The last block
 * overall (ticket on counter) then routes. */
__global__ void __launch_bounds__(128)
lt_k_add_rmsnorm_route(const lt_route_norm_params p) {
  LT_PDL_LAUNCH_NEXT();
  extern __shared__ __align__(16) uint8_t lt_rns[];
  const int E = p.cfg.num_experts, H = p.H, G = H / 8, t0 = blockIdx.y * 8, nt = p.T - t0 < 8 ? p.T - t0 : 8;
  __nv_bfloat16 *sg = (__nv_bfloat16 *)lt_rns;                  /* [H] */
  float *sw = (float *)(lt_rns + 2 * (size_t)H);                 /* [H] */
  __nv_bfloat16 *sr = (__nv_bfloat16 *)(lt_rns + 6 * (size_t)H); /* [nt, H] */
  __nv_bfloat16 *sd = sr + (size_t)nt * H;                       /* [nt, H] */
  /* weights (never written by a kernel) before the wait: this expert's gate row, norm_w */
  const __nv_bfloat16 *gr = p.gate + (size_t)blockIdx.x * H;
  for (int i = threadIdx.x; i < G; i += blockDim.x) lt_cp16(sg + 8 * i, gr + 8 * i, true);
  for (int i = threadIdx.x; i < 2 * G; i += blockDim.x) lt_cp16(sw + 4 * i, p.norm_w + 4 * i, true);
  lt_cp_commit();
  LT_PDL_WAIT();
  __shared__ float red[8][32];
  __shared__ float inv[8];
  __shared__ unsigned row_last, last;
  __nv_bfloat16 *resid = p.resid + (size_t)t0 * H, *y = p.y + (size_t)t0 * H;
  const __nv_bfloat16 *delta = p.delta + (size_t)t0 * H;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int i = threadIdx.x; i < nt * G; i += blockDim.x) {   /* the rows: one round trip */
    lt_cp16(sr + 8 * i, resid + 8 * i, true);
    lt_cp16(sd + 8 * i, delta + 8 * i, true);
  }
  lt_cp_commit();
  lt_cp_wait<0>();
  __syncthreads();

  /* 1. the sums of squares of s = resid + delta, row by row, then 1/rms */
  lt_rownorm_partials<8>(sr, sd, nt, H, p.norm_nt, [](int, int, const float *) {}, red);
  __syncthreads();
  for (int r = w; r < nt; r += 4) {
    const float v = lt_rownorm_inv(red[r], p.norm_nt / 32, H, p.eps);
    if (lane == 0) inv[r] = v;
  }
  __syncthreads();

  /* 2. logits of this block's expert = y · gate[e]ᵀ */
  auto y8 = [&](int r, int i, const float *wi, float *a) {   /* y of row r, columns 8i .. 8i+7; a = s there */
    float d[8];
    lt_unpack8(((const uint4 *)(sr + (size_t)r * H))[i], a);
    lt_unpack8(((const uint4 *)(sd + (size_t)r * H))[i], d);
    for (int j = 0; j < 8; j++) a[j] += d[j];
    return lt_rownorm_y8(a, wi, inv[r]);
  };
  float wv[8];
  lt_router_gemv_rows([&](int k) {
    lt_ld8f(sw + k, wv);
    return *(const uint4 *)(sg + k);
  }, [&](int t, int k) {
    float a[8];
    return y8(t, k / 8, wv, a);
  }, p.T, E, H, p.logits);

  /* 3. tickets: the group's last block stores resid and y, the last block routes */
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    row_last = atomicAdd(p.row_counters + blockIdx.y, 1u) == gridDim.x - 1;
    last = atomicAdd(p.counter, 1u) == gridDim.x * gridDim.y - 1;
  }
  __syncthreads();
  if (row_last) {
    __threadfence();
    for (int r = 0; r < nt; r++)
      for (int i = threadIdx.x; i < G; i += blockDim.x) {
        float a[8], wi[8];
        lt_ld8f(sw + 8 * i, wi);
        ((uint4 *)(y + (size_t)r * H))[i] = y8(r, i, wi, a);
        ((uint4 *)(resid + (size_t)r * H))[i] = lt_pack8(a);
      }
    if (threadIdx.x == 0) p.row_counters[blockIdx.y] = 0;
  }
  if (!last) return;
  __syncthreads();   /* the stores above read the shared memory the tail reuses */
  __threadfence();
  lt_route_tail(p.logits, p.T, p.bias, p.cfg, p.ids, p.wts, p.counter, p.ns, p.bm, p.bound, p.rowtok, p.inv, p.tile_e,
                p.tile_row0, p.num_tiles, (float *)lt_rns);
}

/* moe_route's requirements on the gate, the config and x */
static latte_status lt_route_check(const void *x, const lt_weight *gate, const lt_route_cfg *cfg) {
  const int E = cfg->num_experts, H = (int)gate->k;
  if (gate->dtype != LT_BF16)
    return lt_err(LATTE_ERR_UNSUPPORTED, "moe_route: router weight must be bf16 (got %s)", lt_dtype_name(gate->dtype));
  if (gate->n != E) return lt_err(LATTE_ERR_INVALID, "moe_route: gate has %lld rows, config %d experts", (long long)gate->n, E);
  if (E > 1024 || cfg->top_k < 1 || cfg->top_k > 32 || cfg->top_k > E)
    return lt_err(LATTE_ERR_UNSUPPORTED, "moe_route: %d experts top-%d exceed the CUDA router's limits (1024, 32)", E, cfg->top_k);
  if (cfg->method != LT_TOPK_GREEDY && cfg->n_group > 1 &&
      (cfg->n_group > 32 || E % cfg->n_group || cfg->topk_group < 1 || cfg->topk_group > cfg->n_group))
    return lt_err(LATTE_ERR_UNSUPPORTED, "moe_route: %d experts in %d groups (keep %d) unsupported", E, cfg->n_group,
                  cfg->topk_group);
  if (H % 8 || ((uintptr_t)x & 15)) return lt_err(LATTE_ERR_UNSUPPORTED, "moe_route: hidden %d must be a multiple of 8, x 16-byte aligned", H);
  return LATTE_OK;
}

/* The experts' sort the router prepares for moe_experts (f: the layer's experts, NULL or another E: none,
 * *pl zeroed, *ns = 0) */
static latte_status lt_route_plan(lt_cuda_ctx *c, const lt_cuda_ffn *f, int E, int rows, int top_k, lt_moe_plan *pl,
                                  int *ns) {
  memset(pl, 0, sizeof *pl);
  *ns = 0;
  if (!f || f->E != E) return LATTE_OK;
  *ns = f->ns;
  return lt_moe_plan_get(c, f, rows, top_k, pl);
}

extern "C" latte_status lt_cuda_moe_route(lt_backend *b, const void *x, const lt_weight *gate, const float *bias,
                                          const lt_route_cfg *cfg, int rows, int32_t *ids, float *weights,
                                          const lt_moe_w *experts) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const int E = cfg->num_experts, H = (int)gate->k;
  LT_TRY(lt_route_check(x, gate, cfg));
  if (rows <= 0) return LATTE_OK;
  float *logits;
  c->moe_prep_ids = NULL;
  const lt_cuda_ffn *f = experts ? (const lt_cuda_ffn *)experts->priv : NULL;
  if (rows <= lt_cuda_route_fused_rows && rows <= 32 && E <= 512 && lt_cuda_route_fused) {  /* one launch */
    LT_TRY(lt_cuda_scratch(c, LT_SCR_ROUTE, sizeof(float) * (size_t)rows * E, (void **)&logits));
    lt_moe_plan pl;
    int ns;
    LT_TRY(lt_route_plan(c, f, E, rows, cfg->top_k, &pl, &ns));
    size_t smem = sizeof(float) * 12 * (size_t)E + sizeof(int) * (3 * (size_t)(E + ns) + 32);
    dim3 grid((unsigned)E, (unsigned)((rows + 7) / 8));
    (void)lt_launch(lt_k_route_fused, grid, 128, smem, c->stream, (const __nv_bfloat16 *)x,
                    (const __nv_bfloat16 *)gate->data, rows, H, bias, *cfg, logits, ids, weights,
                    c->counters + LT_CTR_ROUTE, ns, pl.bm, pl.bound, pl.rowtok, pl.inv, pl.tile_e, pl.tile_row0,
                    pl.num_tiles);
    LT_LAUNCH_CHECK("lt_k_route_fused");
    if (pl.rowtok) {
      c->moe_prep_ids = ids; c->moe_prep_ffn = f; c->moe_prep_rows = rows; c->moe_prep_k = cfg->top_k;
    }
    return LATTE_OK;
  }
  if (rows <= 32) {
    LT_TRY(lt_cuda_scratch(c, LT_SCR_ROUTE, sizeof(float) * (size_t)rows * E, (void **)&logits));
    dim3 grid((unsigned)E, (unsigned)((rows + 7) / 8));
    (void)lt_launch(lt_k_router_gemv, grid, 128, 0, c->stream, (const __nv_bfloat16 *)x, (const __nv_bfloat16 *)gate->data, rows,
                                                  E, H, logits);
    LT_LAUNCH_CHECK("lt_k_router_gemv");
  } else {
    /* logits [rows, E] (f32) = x [rows, H] · gate [E, H]ᵀ on tensor cores */
    LT_TRY(lt_moe_logits_gemm(c, x, gate, rows, &logits));
  }
  const int wpb = 4;
  size_t smem = sizeof(float) * 2 * (size_t)E * wpb;
  (void)lt_launch(lt_k_route_topk, (unsigned)((rows + wpb - 1) / wpb), 32 * wpb, smem, c->stream, logits, bias, *cfg, rows, ids, weights);
  LT_LAUNCH_CHECK("lt_k_route_topk");
  return LATTE_OK;
}

/* add_rmsnorm_route: one launch (lt_k_add_rmsnorm_route) where the one-launch router applies (rows ≤ 32,
 * E ≤ 512), the rows suit lt_k_add_rmsnorm's 16-byte path, whose results it reproduces bit for bit, and a
 * block's rows fit lt_cuda_route_norm_smem; elsewhere add_rmsnorm then moe_route. */
extern "C" latte_status lt_cuda_add_rmsnorm_route(lt_backend *b, void *resid, const void *delta, const float *norm_w,
                                                  void *y, int rows, int dim, float eps, const lt_weight *gate,
                                                  const float *bias, const lt_route_cfg *cfg, int32_t *ids,
                                                  float *weights, const lt_moe_w *experts) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const int E = cfg->num_experts;
  const uintptr_t al = (uintptr_t)resid | (uintptr_t)delta | (uintptr_t)y | (uintptr_t)norm_w;
  const size_t rowsm = (size_t)dim * (6 + 4 * (size_t)(rows < 8 ? rows : 8));   /* gate, norm_w, resid, delta */
  if (!lt_cuda_route_norm_fused || !lt_cuda_route_fused || rows < 1 || rows > 32 || E > 512 || gate->k != dim ||
      dim % 8 || (al & 15) || y == resid || rowsm > (size_t)lt_cuda_route_norm_smem ||
      rowsm + 4096 > (size_t)c->smem_optin)   /* + static shared memory */
    return lt_add_rmsnorm_route_seq(b, resid, delta, norm_w, y, rows, dim, eps, gate, bias, cfg, ids, weights, experts);
  LT_TRY(lt_route_check(y, gate, cfg));
  c->moe_prep_ids = NULL;
  float *logits;
  LT_TRY(lt_cuda_scratch(c, LT_SCR_ROUTE, sizeof(float) * (size_t)rows * E, (void **)&logits));
  const lt_cuda_ffn *f = experts ? (const lt_cuda_ffn *)experts->priv : NULL;
  lt_moe_plan pl;
  int ns;
  LT_TRY(lt_route_plan(c, f, E, rows, cfg->top_k, &pl, &ns));
  lt_route_norm_params p;
  memset(&p, 0, sizeof p);
  p.resid = (__nv_bfloat16 *)resid; p.delta = (const __nv_bfloat16 *)delta; p.norm_w = norm_w;
  p.y = (__nv_bfloat16 *)y; p.T = rows; p.H = dim; p.norm_nt = lt_norm_threads(dim); p.eps = eps;
  p.gate = (const __nv_bfloat16 *)gate->data; p.bias = bias; p.cfg = *cfg;
  p.logits = logits; p.ids = ids; p.wts = weights;
  p.counter = c->counters + LT_CTR_ROUTE; p.row_counters = c->counters + LT_CTR_ROUTE_NORM;
  p.ns = ns; p.bm = pl.bm; p.bound = pl.bound;
  p.rowtok = pl.rowtok; p.inv = pl.inv; p.tile_e = pl.tile_e; p.tile_row0 = pl.tile_row0; p.num_tiles = pl.num_tiles;
  const size_t tail = sizeof(float) * 12 * (size_t)E + sizeof(int) * (3 * (size_t)(E + ns) + 32);
  const size_t smem = rowsm > tail ? rowsm : tail;
  static size_t attr_set;   /* the largest dynamic shared memory allowed so far */
  if (smem > 48 * 1024 && smem > attr_set) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_add_rmsnorm_route, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    attr_set = smem;
  }
  dim3 grid((unsigned)E, (unsigned)((rows + 7) / 8));
  (void)lt_launch(lt_k_add_rmsnorm_route, grid, 128, smem, c->stream, p);
  LT_LAUNCH_CHECK("lt_k_add_rmsnorm_route");
  if (pl.rowtok) {
    c->moe_prep_ids = ids; c->moe_prep_ffn = f; c->moe_prep_rows = rows; c->moe_prep_k = cfg->top_k;
  }
  return LATTE_OK;
}
