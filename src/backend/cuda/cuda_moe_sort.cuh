/* cuda_moe_sort.cuh — what the experts (cuda_moe.cu) and the router (cuda_route.cu, which can prepare the
 * experts' sort in its last block) share: the stacked FFN weights, the layout of one moe_experts call's
 * sort (lt_moe_plan) and the sort itself (device code), and the tensor-core router logits for T > 32. */
#ifndef LT_CUDA_MOE_SORT_CUH
#define LT_CUDA_MOE_SORT_CUH
#include "backend/cuda/cuda_ops.h"

/* byte offsets inside a scratch slot: 256-byte aligned pieces */
static inline size_t lt_al(size_t x) { return (x + 255) & ~(size_t)255; }

/* ================= stacked FFN weights (moe_new / mlp_new, cuda_moe.cu) ================= */
typedef struct {
  int E, I, H, fp8;
  int ns;          /* shared experts folded in as experts E .. E+ns-1 (weight 1 for every token) */
  uint8_t *w13;    /* [E+ns, 2I, H] bf16 or e4m3: gate rows then up rows of each expert */
  uint8_t *w2;     /* [E, H, I] */
  float *s13;      /* e4m3: [E, 2, ceil(I/128), ceil(H/128)] gate then up block scales */
  float *s2;       /* e4m3: [E, ceil(H/128), ceil(I/128)] */
  int own_w2;      /* 0: w2/s2 alias the MLP's down weight */
} lt_cuda_ffn;

/* ================= the experts' sort ================= */
/* Where one moe_experts call's sort lives and its tile shape (shared by moe_route's prepared sort
 * and moe_experts, so both compute the same layout). */
typedef struct {
  int gc, bm, bound, grid_m, TK;
  int32_t *rowtok, *inv, *tile_e, *tile_row0, *num_tiles;
} lt_moe_plan;

/* The sort layout of moe_experts(rows, top_k) on f, its metadata in scratch slot LT_SCR_MOE0 (cuda_moe.cu). */
latte_status lt_moe_plan_get(lt_cuda_ctx *c, const lt_cuda_ffn *f, int rows, int top_k, lt_moe_plan *pl);

/* *logits = x [rows, H] · gate [E, H]ᵀ, f32 [rows, E], on tensor cores (the grouped GEMM in dense mode,
 * cuda_moe.cu), in scratch slot LT_SCR_ROUTE. */
latte_status lt_moe_logits_gemm(lt_cuda_ctx *c, const void *x, const lt_weight *gate, int rows, float **logits);

/* Sort (token, slot) pairs by expert into BM-padded segments: rowtok [bound] (token of each sorted
 * position, -1 = padding), inv [T·Ks] (position of each pair), the tile list (expert, first row).
 * Each token has Ks = K + ns slots: its K routed ids, then the ns folded shared experts E .. E+ns-1.
 * Run by one whole block (any size; smem: 3·(E+ns) ints + 33); positions inside an expert are in
 * arrival order, which changes no result (rows are independent in the GEMMs). */
static __device__ void lt_moe_align_block(const int32_t *ids, int T, int K, int ns, int E, int BM, int bound,
                                          int32_t *rowtok, int32_t *inv, int32_t *tile_e, int32_t *tile_row0,
                                          int32_t *num_tiles, int *sm) {
  const int Et = E + ns, Ks = K + ns, TK = T * Ks, nt = blockDim.x;
  int *cnt = sm, *off = sm + Et, *fill = sm + 2 * Et, *wsum = sm + 3 * Et;
  for (int e = threadIdx.x; e < Et; e += nt) { cnt[e] = 0; fill[e] = 0; }
  for (int i = threadIdx.x; i < bound; i += nt) rowtok[i] = -1;
  __syncthreads();
  for (int i = threadIdx.x; i < TK; i += nt) {
    int j = i % Ks, e = j < K ? ids[(i / Ks) * K + j] : E + (j - K);
    if ((unsigned)e < (unsigned)Et) atomicAdd(&cnt[e], 1);
  }
  __syncthreads();
  /* exclusive scan of the tile counts: thread i owns experts [i·per, (i+1)·per) */
  const int per = (Et + nt - 1) / nt, e0 = threadIdx.x * per, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  int mine = 0;
  for (int e = e0; e < e0 + per && e < Et; e++) mine += (cnt[e] + BM - 1) / BM;
  int v = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    int u = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += u;
  }
  if (lane == 31) wsum[wid] = v;
  __syncthreads();
  if (wid == 0) {
    int sv = lane < (nt >> 5) ? wsum[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      int u = __shfl_up_sync(0xffffffffu, sv, o);
      if (lane >= o) sv += u;
    }
    wsum[lane] = sv;   /* inclusive over warps */
  }
  __syncthreads();
  int first = v - mine + (wid ? wsum[wid - 1] : 0);   /* tiles before expert e0 */
  for (int e = e0; e < e0 + per && e < Et; e++) {
    const int nm = (cnt[e] + BM - 1) / BM;
    off[e] = first * BM;
    for (int m = 0; m < nm; m++) { tile_e[first + m] = e; tile_row0[first + m] = (first + m) * BM; }
    first += nm;
  }
  if (threadIdx.x == nt - 1) *num_tiles = first;
  __syncthreads();
  for (int i = threadIdx.x; i < TK; i += nt) {
    int j = i % Ks, e = j < K ? ids[(i / Ks) * K + j] : E + (j - K), p = -1;
    if ((unsigned)e < (unsigned)Et) {
      p = off[e] + atomicAdd(&fill[e], 1);
      rowtok[p] = i / Ks;
    }
    inv[i] = p;
  }
}

/* lt_moe_align_block's result for TK = T·(K+ns) ≤ 32 pairs and T ≤ BM (so every expert fills at most
 * one tile), by one warp: lane i holds pair i; the lanes of an expert find each other with
 * __match_any_sync; its tile is the number of experts whose lowest lane comes first. Tile order
 * differs from the block version (first appearance instead of expert id), which changes no result. */
static __device__ void lt_moe_align_warp(const int32_t *ids, int T, int K, int ns, int E, int BM, int bound,
                                         int32_t *rowtok, int32_t *inv, int32_t *tile_e, int32_t *tile_row0,
                                         int32_t *num_tiles) {
  const int lane = threadIdx.x & 31, Ks = K + ns, TK = T * Ks;
  int e = -1;
  if (lane < TK) {
    const int j = lane % Ks;
    e = j < K ? ids[(lane / Ks) * K + j] : E + (j - K);
    if ((unsigned)e >= (unsigned)(E + ns)) e = -1;
  }
  for (int i = lane; i < bound; i += 32) rowtok[i] = -1;
  const unsigned peers = __match_any_sync(0xffffffffu, e);
  const unsigned lt = (1u << lane) - 1u;
  const int leader = __ffs(peers) - 1;
  const unsigned leaders = __ballot_sync(0xffffffffu, e >= 0 && lane == leader);
  const int tile = __popc(leaders & ((1u << leader) - 1u));
  __syncwarp();
  if (e >= 0) {
    const int pos = tile * BM + __popc(peers & lt);
    rowtok[pos] = lane / Ks;
    if (lane == leader) { tile_e[tile] = e; tile_row0[tile] = tile * BM; }
    inv[lane] = pos;
  } else if (lane < TK) {
    inv[lane] = -1;
  }
  if (lane == 0) *num_tiles = __popc(leaders);
}

#endif
