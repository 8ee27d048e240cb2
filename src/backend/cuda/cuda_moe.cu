/* cuda_moe.cu — MoE experts and dense MLP on the GPU: token sort/align by expert, and one grouped
 * tensor-core GEMM (bf16 mma.sync m16n8k16, or e4m3 m16n8k32 with 128×128 weight / 1×128 activation
 * scales) for gate_up+SiLU·mul, down, the router's logits at T > 32, the MLP; on Hopper wgmma instead: the experts'
 * e4m3 GEMMs at tiles of ≤ 32 rows (64 where the next one declines; cuda_moe_wg.cuh, LATTE_GG_WG=0: off) and the
 * bf16 / e4m3 GEMMs at tiles of 64 or 128 rows (cuda_moe_wgp.cuh, LATTE_GG_WGP=0: off). The router: cuda_route.cu. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_moe_sort.cuh"
#include "backend/cuda/cuda_async.cuh"
#include "backend/cuda/cuda_rownorm.cuh"
#include "io/config.h"
#include <stdlib.h>
#include <string.h>

/* ================= grouped GEMM ================= */
enum { LT_EPI_SILU = 0, LT_EPI_BF16 = 1, LT_EPI_F32 = 2, LT_EPI_PART = 3, LT_EPI_SILU32 = 4 };
enum { LT_GG_NCFG = 4 };

/* One grouped GEMM call: out[pos, :] = A[row(pos), :K] · W[e]ᵀ for every tile (e, row0) of the
 * tile list (tiled: rowtok[pos] = token of sorted position pos, -1 = padding), or for the rows
 * 0..M of a dense call (rowtok NULL, e = 0). */
typedef struct {
  const uint8_t *a;        /* A: bf16 or e4m3 rows, lda elements apart */
  int64_t lda;
  const float *as;         /* e4m3 A: scales [rows, ask] */
  int ask;
  const int32_t *rowtok;   /* tiled: [rows_bound] */
  int rows_bound;
  int a_by_tok;            /* A row = rowtok[pos] (gathered tokens) or pos */
  int M;                   /* dense: rows */
  const uint8_t *w;        /* W [E][N][K] */
  int64_t w_estride;       /* elements per expert */
  const float *ws;         /* e4m3 W: block scales, ws_estride floats per expert, rows of wsk */
  int64_t ws_estride;
  int wsk;
  int N, K;
  int inter;               /* SiLU: h width I (W = [gate I rows | up I rows]); 0 otherwise */
  int up_srow;             /* SiLU e4m3: first scale row of the up part */
  const int32_t *tile_e, *tile_row0, *num_tiles;
  int epi;
  void *out;               /* SiLU: bf16 h [pos, ldo]; BF16 / F32: [pos, ldo] */
  int64_t ldo;
  int kt_split;            /* k-tiles (128 bytes of k) per split */
  float *part;             /* split-K partials [split][pos][grid_n*BN] */
  int64_t part_ld, part_zstride;
  /* lt_k_gg: 1 = its W tiles of the first stages are copied before the PDL wait (the tile list and rowtok read
   * then too). Only where the kernel before this one waits before it launches its successor and the tile list's
   * writer comes before that kernel (so the list is complete once this one starts): the down GEMM after gate_up
   * (or after the e4m3 h quantisation), and dense calls (no list). */
  int w_early;
} lt_gg_params;

/* ---- PTX helpers ---- */
__device__ __forceinline__ void lt_cp_async16(uint32_t dst, const void *src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void lt_ldsm_x4(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
/* d += a · b on a 16×8 tile: bf16 k16 or e4m3 k32; both read 32 bytes of k per row */
template <int FP8>
__device__ __forceinline__ void lt_mma(float *d, const uint32_t *a, const uint32_t *b) {
  if (FP8)
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* smem tiles hold rows of 128 bytes (64 bf16 or 128 e4m3 of k) as 8 chunks of 16 B, chunk c of
 * row r stored at chunk c ^ (r & 7) so ldmatrix reads are bank-conflict free */
__device__ __forceinline__ int lt_swz(int r, int c) { return r * 128 + ((c ^ (r & 7)) << 4); }

__device__ __forceinline__ int lt_row_ok(const lt_gg_params &p, int pos) {
  return p.rowtok ? (pos < p.rows_bound && p.rowtok[pos] >= 0) : pos < p.M;
}

/* The gate_up epilogue's activation: silu(g) · u */
__device__ __forceinline__ float lt_silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

/* The weight row (of one expert's W) that row r of column block ny holds in the wgmma kernels, whose blocks
 * are R weight rows: gate_up (p.inter > 0) interleaves gate and up per 8 (row 16q + i: gate of h column
 * ny·R/2 + 8q + i; row 16q + 8 + i: its up, row inter + h) — lt_k_gg's order; otherwise row ny·R + r. −1 past
 * the weight. */
__device__ __forceinline__ int lt_gg_wrow(const lt_gg_params &p, int R, int ny, int r) {
  int wrow = -1;
  if (p.inter > 0) {
    const int h = ny * (R / 2) + (r >> 4) * 8 + (r & 7);
    if (h < p.inter) wrow = (r & 8) ? p.inter + h : h;
  } else if (ny * R + r < p.N) {
    wrow = ny * R + r;
  }
  return wrow;
}

/* cp.async one k-tile (128 bytes of k) of the A and B rows into a stage; NULL rows and bytes past
 * the end of K are zero-filled */
/* k-tile kt of ROWS rows (8 chunks of 16 bytes each) into a swizzled tile; rows src[i] NULL or bytes
 * past kbytes are zero-filled (any: a valid address for the zero-size copies) */
template <int ROWS, int NT>
__device__ __forceinline__ void lt_gg_load_tile(uint8_t *dst, const uint8_t *const *src, const uint8_t *any, int tid,
                                                int kt, int kbytes) {
  constexpr int CH = ROWS * 8, PT = (CH + NT - 1) / NT;
#pragma unroll
  for (int i = 0; i < PT; i++) {
    int idx = tid + i * NT;
    if (idx < CH) {
      int r = idx >> 3, c = idx & 7, off = kt * 128 + c * 16;
      int ok = src[i] && off < kbytes;
      lt_cp_async16(lt_smem_u32(dst + lt_swz(r, c)), ok ? src[i] + off : any, ok ? 16 : 0);
    }
  }
}

/* lt_gg_load_tile's tiles of k-tiles kt0 .. kt0 + NS − 1 (< kt1; stage s at dst + s·sbytes) by plain loads (L2)
 * and shared stores: the same bytes at the same places; every load is issued before the first store */
template <int ROWS, int NT, int NS>
__device__ __forceinline__ void lt_gg_put_tiles(uint8_t *dst, int sbytes, const uint8_t *const *src, int tid, int kt0,
                                                int kt1, int kbytes) {
  constexpr int CH = ROWS * 8, PT = (CH + NT - 1) / NT;
  uint4 v[NS][PT];
#pragma unroll
  for (int s = 0; s < NS; s++)
#pragma unroll
    for (int i = 0; i < PT; i++) {
      const int idx = tid + i * NT, off = (kt0 + s) * 128 + (idx & 7) * 16;
      v[s][i] = make_uint4(0, 0, 0, 0);
      if (idx < CH && kt0 + s < kt1 && src[i] && off < kbytes) v[s][i] = __ldcg((const uint4 *)(src[i] + off));
    }
#pragma unroll
  for (int s = 0; s < NS; s++)
#pragma unroll
    for (int i = 0; i < PT; i++) {
      const int idx = tid + i * NT;
      if (idx < CH && kt0 + s < kt1) *(uint4 *)(dst + s * sbytes + lt_swz(idx >> 3, idx & 7)) = v[s][i];
    }
}

template <int BM, int BN, int NT>
__device__ __forceinline__ void lt_gg_load(uint8_t *a, uint8_t *bm, const uint8_t *const *a_src,
                                           const uint8_t *const *b_src, const uint8_t *a_any, const uint8_t *w_any,
                                           int tid, int kt, int kbytes) {
  lt_gg_load_tile<BM, NT>(a, a_src, a_any, tid, kt, kbytes);
  lt_gg_load_tile<BN, NT>(bm, b_src, w_any, tid, kt, kbytes);
}

/* the e4m3 scales of k-tile kt: A per row, W per n-frag (0 for zero rows) */
template <int MF, int NF>
__device__ __forceinline__ void lt_gg_scales(const float *const (*sa_p)[2], const float *const *sw_p, int kt,
                                             float (*sa)[2], float *sw) {
#pragma unroll
  for (int mf = 0; mf < MF; mf++) {
    sa[mf][0] = sa_p[mf][0] ? __ldg(sa_p[mf][0] + kt) : 0.f;
    sa[mf][1] = sa_p[mf][1] ? __ldg(sa_p[mf][1] + kt) : 0.f;
  }
#pragma unroll
  for (int nf = 0; nf < NF; nf++) sw[nf] = sw_p[nf] ? __ldg(sw_p[nf] + kt) : 0.f;
}

/* One block: a BM×BN output tile of expert e (tile list) or of rows row0.. (dense), k-tiles of
 * its split. For SiLU (p.inter > 0) the B tile interleaves gate and up rows per 8 so that one
 * thread holds g and u of the same h column. */
template <int BM, int BN, int WM, int WN, int STAGES, int FP8>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32)
lt_k_gg(const lt_gg_params p) {
  if (p.w_early) LT_PDL_LAUNCH_NEXT();  /* (the wait comes after the W prologue) */
  else LT_PDL_ENTER();
  constexpr int NT = (BM / WM) * (BN / WN) * 32;
  constexpr int MF = WM / 16, NF = WN / 8;
  constexpr int ES = FP8 ? 1 : 2;
  constexpr int A_CH = BM * 8, B_CH = BN * 8;
  constexpr int A_PT = (A_CH + NT - 1) / NT, B_PT = (B_CH + NT - 1) / NT;
  extern __shared__ __align__(128) uint8_t lt_gg_smem[];
  uint8_t *sA = lt_gg_smem, *sB = lt_gg_smem + STAGES * BM * 128;

  int e = 0, row0;
  if (p.tile_e) {
    int m = blockIdx.x;
    if (m >= *p.num_tiles) {
      if (p.w_early) LT_PDL_WAIT();
      return;
    }
    e = p.tile_e[m];
    row0 = p.tile_row0[m];
  } else {
    row0 = blockIdx.x * BM;
  }
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm0 = (warp / (BN / WN)) * WM, wn0 = (warp % (BN / WN)) * WN;
  const int kbytes = p.K * ES;
  const int KT = (kbytes + 127) / 128;
  const int kt0 = blockIdx.z * p.kt_split, kt1 = min(KT, kt0 + p.kt_split);
  const int n0 = blockIdx.y * BN, n0h = blockIdx.y * (BN / 2);
  const uint8_t *wb = p.w + (size_t)e * (size_t)p.w_estride * ES;

  /* per-thread load sources: row base pointers (NULL = zero row) */
  const uint8_t *a_src[A_PT];
  const uint8_t *b_src[B_PT];
#pragma unroll
  for (int i = 0; i < A_PT; i++) {
    int idx = tid + i * NT, r = idx >> 3, pos = row0 + r;
    a_src[i] = NULL;
    if (idx < A_CH && lt_row_ok(p, pos)) {
      int arow = p.a_by_tok ? p.rowtok[pos] : pos;
      a_src[i] = p.a + (size_t)arow * (size_t)p.lda * ES;
    }
  }
#pragma unroll
  for (int i = 0; i < B_PT; i++) {
    int idx = tid + i * NT, r = idx >> 3;
    b_src[i] = NULL;
    if (idx < B_CH) {
      int wrow = -1;
      if (p.inter > 0) {
        int j = n0h + (r >> 4) * 8 + (r & 7);
        if (j < p.inter) wrow = (r & 8) ? p.inter + j : j;
      } else if (n0 + r < p.N) {
        wrow = n0 + r;
      }
      if (wrow >= 0) b_src[i] = wb + (size_t)wrow * (size_t)p.K * ES;
    }
  }

  float acc[MF][NF][4];
#pragma unroll
  for (int i = 0; i < MF; i++)
#pragma unroll
    for (int j = 0; j < NF; j++)
#pragma unroll
      for (int q = 0; q < 4; q++) acc[i][j][q] = 0.f;

  /* fp8 scales: A per row (groupID, +8) per m-frag, W per n-frag (8 rows share a 128-row block) */
  const float *sa_p[MF][2];
  const float *sw_p[NF];
  if (FP8) {
#pragma unroll
    for (int mf = 0; mf < MF; mf++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        int pos = row0 + wm0 + mf * 16 + (lane >> 2) + h * 8;
        sa_p[mf][h] = NULL;
        if (lt_row_ok(p, pos)) {
          int arow = p.a_by_tok ? p.rowtok[pos] : pos;
          sa_p[mf][h] = p.as + (size_t)arow * p.ask;
        }
      }
#pragma unroll
    for (int nf = 0; nf < NF; nf++) {
      int rr = wn0 + nf * 8, srow = -1;
      if (p.inter > 0) {
        int j = n0h + (rr >> 4) * 8;
        if (j < p.inter) srow = (rr & 8) ? p.up_srow + j / 128 : j / 128;
      } else if (n0 + rr < p.N) {
        srow = (n0 + rr) / 128;
      }
      sw_p[nf] = srow >= 0 ? p.ws + (size_t)e * p.ws_estride + (size_t)srow * p.wsk : NULL;
    }
  }


  float sa_n[MF][2], sw_n[NF], sa_c[MF][2], sw_c[NF];
  if (p.w_early) {  /* W of stages 0 .. STAGES−2 (one committed group each), the wait, then their A by plain loads */
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
      if (kt0 + s < kt1) lt_gg_load_tile<BN, NT>(sB + s * BN * 128, b_src, p.w, tid, kt0 + s, kbytes);
      lt_cp_commit();
    }
    LT_PDL_WAIT();  /* A, its scales and out belong to the previous kernels */
    lt_gg_put_tiles<BM, NT, STAGES - 1>(sA, BM * 128, a_src, tid, kt0, kt1, kbytes);
  }
  if (FP8 && kt0 < kt1) lt_gg_scales<MF, NF>(sa_p, sw_p, kt0, sa_n, sw_n);
  if (!p.w_early) {
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
      if (kt0 + s < kt1)
        lt_gg_load<BM, BN, NT>(sA + s * BM * 128, sB + s * BN * 128, a_src, b_src, p.a, p.w, tid, kt0 + s, kbytes);
      lt_cp_commit();
    }
  }
  for (int kt = kt0; kt < kt1; kt++) {
    lt_cp_wait<STAGES - 2>();
    __syncthreads();
    int nk = kt + STAGES - 1;
    if (nk < kt1) {
      const int ls = (nk - kt0) % STAGES;
      lt_gg_load<BM, BN, NT>(sA + ls * BM * 128, sB + ls * BN * 128, a_src, b_src, p.a, p.w, tid, nk, kbytes);
    }
    lt_cp_commit();
    if (FP8) {  /* this k-tile's scales (loaded a tile ahead), then prefetch the next tile's */
#pragma unroll
      for (int mf = 0; mf < MF; mf++) { sa_c[mf][0] = sa_n[mf][0]; sa_c[mf][1] = sa_n[mf][1]; }
#pragma unroll
      for (int nf = 0; nf < NF; nf++) sw_c[nf] = sw_n[nf];
      if (kt + 1 < kt1) lt_gg_scales<MF, NF>(sa_p, sw_p, kt + 1, sa_n, sw_n);
    }
    const int slot = (kt - kt0) % STAGES;
    const uint8_t *a = sA + slot * BM * 128, *bm = sB + slot * BN * 128;
    float t[MF][NF][4];
    float (*d)[NF][4] = FP8 ? t : acc;
    if (FP8) {
#pragma unroll
      for (int i = 0; i < MF; i++)
#pragma unroll
        for (int j = 0; j < NF; j++)
#pragma unroll
          for (int q = 0; q < 4; q++) t[i][j][q] = 0.f;
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++) {
      uint32_t af[MF][4], bf[NF][2];
#pragma unroll
      for (int mf = 0; mf < MF; mf++) {
        int r = wm0 + mf * 16 + (lane & 15), c = ks * 2 + (lane >> 4);
        lt_ldsm_x4(lt_smem_u32(a + lt_swz(r, c)), af[mf][0], af[mf][1], af[mf][2], af[mf][3]);
      }
#pragma unroll
      for (int nf2 = 0; nf2 < NF / 2; nf2++) {
        int r = wn0 + nf2 * 16 + (lane & 7) + ((lane >> 4) << 3), c = ks * 2 + ((lane >> 3) & 1);
        lt_ldsm_x4(lt_smem_u32(bm + lt_swz(r, c)), bf[2 * nf2][0], bf[2 * nf2][1], bf[2 * nf2 + 1][0],
                   bf[2 * nf2 + 1][1]);
      }
#pragma unroll
      for (int mf = 0; mf < MF; mf++)
#pragma unroll
        for (int nf = 0; nf < NF; nf++) lt_mma<FP8>(d[mf][nf], af[mf], bf[nf]);
    }
    if (FP8) {  /* this k-tile is one 128-wide scale block: acc += t · s_a[row] · s_w[n-block] */
#pragma unroll
      for (int mf = 0; mf < MF; mf++)
#pragma unroll
        for (int nf = 0; nf < NF; nf++) {
          acc[mf][nf][0] += t[mf][nf][0] * (sa_c[mf][0] * sw_c[nf]);
          acc[mf][nf][1] += t[mf][nf][1] * (sa_c[mf][0] * sw_c[nf]);
          acc[mf][nf][2] += t[mf][nf][2] * (sa_c[mf][1] * sw_c[nf]);
          acc[mf][nf][3] += t[mf][nf][3] * (sa_c[mf][1] * sw_c[nf]);
        }
    }
  }
  lt_cp_wait<0>();

  /* epilogue: c0,c1 at (groupID, tig*2 + {0,1}); c2,c3 at row groupID + 8 */
  const int gid = lane >> 2, tig = lane & 3;
#pragma unroll
  for (int mf = 0; mf < MF; mf++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      int pos = row0 + wm0 + mf * 16 + gid + h * 8;
      if (!lt_row_ok(p, pos)) continue;
      if (p.epi == LT_EPI_SILU || p.epi == LT_EPI_SILU32) {
#pragma unroll
        for (int q = 0; q < NF / 2; q++)
#pragma unroll
          for (int i = 0; i < 2; i++) {
            int j = n0h + ((wn0 >> 4) + q) * 8 + tig * 2 + i;
            float g = acc[mf][2 * q][h * 2 + i], u = acc[mf][2 * q + 1][h * 2 + i];
            float v = lt_silu_mul(g, u);
            if (j >= p.inter) continue;
            if (p.epi == LT_EPI_SILU32) ((float *)p.out)[(size_t)pos * p.ldo + j] = v;
            else ((__nv_bfloat16 *)p.out)[(size_t)pos * p.ldo + j] = __float2bfloat16(v);
          }
      } else if (p.epi == LT_EPI_PART) {
        float *o = p.part + (size_t)blockIdx.z * p.part_zstride + (size_t)pos * p.part_ld;
#pragma unroll
        for (int nf = 0; nf < NF; nf++)
          *(float2 *)(o + n0 + wn0 + nf * 8 + tig * 2) = make_float2(acc[mf][nf][h * 2], acc[mf][nf][h * 2 + 1]);
      } else {
#pragma unroll
        for (int nf = 0; nf < NF; nf++)
#pragma unroll
          for (int i = 0; i < 2; i++) {
            int n = n0 + wn0 + nf * 8 + tig * 2 + i;
            if (n >= p.N) continue;
            if (p.epi == LT_EPI_F32) ((float *)p.out)[(size_t)pos * p.ldo + n] = acc[mf][nf][h * 2 + i];
            else ((__nv_bfloat16 *)p.out)[(size_t)pos * p.ldo + n] = __float2bfloat16(acc[mf][nf][h * 2 + i]);
          }
      }
    }
}

/* split-K: out = epilogue(Σ_z part[z]) in a fixed order (deterministic) */
__global__ void lt_k_gg_reduce(const lt_gg_params p, int rows, int ncols, int splits, int bn, int epi) {
  LT_PDL_ENTER();
  int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (idx >= (int64_t)rows * ncols) return;
  int pos = (int)(idx / ncols), j = (int)(idx % ncols);
  if (!lt_row_ok(p, pos)) return;
  const float *pr = p.part + (size_t)pos * p.part_ld;
  if (epi == LT_EPI_SILU || epi == LT_EPI_SILU32) {
    int jt = j / (bn / 2), jj = j % (bn / 2);
    int gc = jt * bn + (jj >> 3) * 16 + (jj & 7);
    float g = 0.f, u = 0.f;
    for (int z = 0; z < splits; z++) { g += pr[(size_t)z * p.part_zstride + gc]; u += pr[(size_t)z * p.part_zstride + gc + 8]; }
    float v = lt_silu_mul(g, u);
    if (epi == LT_EPI_SILU32) ((float *)p.out)[(size_t)pos * p.ldo + j] = v;
    else ((__nv_bfloat16 *)p.out)[(size_t)pos * p.ldo + j] = __float2bfloat16(v);
  } else {
    float s = 0.f;
    for (int z = 0; z < splits; z++) s += pr[(size_t)z * p.part_zstride + j];
    if (epi == LT_EPI_F32) ((float *)p.out)[(size_t)pos * p.ldo + j] = s;
    else ((__nv_bfloat16 *)p.out)[(size_t)pos * p.ldo + j] = __float2bfloat16(s);
  }
}

/* q [rows, K] e4m3 = x · (448/amax), s [rows, ceil(K/128)] = 1/(448/amax) per 128 channels, as
 * lt_cpu_quant_rows; one warp per (row, group). Rows with rowtok[row] < 0 are skipped. */
__device__ __forceinline__ float lt_ld_f(const __nv_bfloat16 *x, size_t i) { return __bfloat162float(x[i]); }
__device__ __forceinline__ float lt_ld_f(const float *x, size_t i) { return x[i]; }

template <typename T>
__global__ void lt_k_quant_fp8(const T *x, int64_t ldx, const int32_t *rowtok, int rows, int K, uint8_t *q, float *s) {
  LT_PDL_ENTER();
  int G = (K + 127) / 128;
  int64_t gw = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
  int lane = threadIdx.x & 31;
  if (gw >= (int64_t)rows * G) return;
  int row = (int)(gw / G), g = (int)(gw % G);
  if (rowtok && rowtok[row] < 0) return;
  float v[4], amax = 0.f;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int k = g * 128 + lane * 4 + i;
    v[i] = k < K ? lt_ld_f(x, (size_t)row * ldx + k) : 0.f;
    amax = fmaxf(amax, fabsf(v[i]));
  }
#pragma unroll
  for (int o = 16; o; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  float inv = amax > 0.f ? __fdiv_rn(448.0f, amax) : 0.f;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int k = g * 128 + lane * 4 + i;
    if (k < K) q[(size_t)row * K + k] = (uint8_t)__nv_cvt_float_to_fp8(__fmul_rn(v[i], inv), __NV_SATFINITE, __NV_E4M3);
  }
  if (lane == 0) s[(size_t)row * G + g] = inv > 0.f ? __fdiv_rn(1.0f, inv) : 0.f;
}

/* ---- host side ---- */
typedef struct { int bm, bn, threads, stages; } lt_gg_shape;
static const lt_gg_shape lt_gg_shapes[LT_GG_NCFG] = {
  {16, 64, 128, 6},    /* decode: few rows per expert, weight-bandwidth bound */
  {32, 64, 128, 5},
  {64, 128, 256, 4},
  {128, 128, 256, 3},  /* dense prefill */
};


static int lt_gg_pick_cfg(double rows_per_tile) {
  if (rows_per_tile <= 16) return 0;
  if (rows_per_tile <= 32) return 1;
  if (rows_per_tile <= 256) return 2;
  return 3;
}

/* Split-K target: split while the M×N grid has fewer than lt_cuda_gg_want_pct/100 blocks per SM
 * (LATTE_GG_WANT, tuning). */
extern "C" int lt_cuda_gg_want_pct;
int lt_cuda_gg_want_pct = 150;
/* lt_k_gg's W prologue before its PDL wait where lt_gg_params.w_early allows it (1), or never (0: LATTE_GG_EARLY,
 * bench_moe LT_BENCH_GG_EARLY) */
extern "C" int lt_cuda_gg_w_early;
int lt_cuda_gg_w_early = 1;

/* The K split of a grid of `blocks` blocks over kt k-tiles: none when the grid has want blocks or kt < 8, else
 * ⌈want / blocks⌉ clamped to kt / 4 and 16 (the three grouped GEMMs, each with its own want) */
static int lt_gg_split_count(int blocks, int want, int kt) {
  if (blocks >= want || kt < 8) return 1;
  int s = (want + blocks - 1) / blocks;
  if (s > kt / 4) s = kt / 4;
  if (s > 16) s = 16;
  return s < 1 ? 1 : s;
}

static int lt_gg_splits(const lt_cuda_ctx *c, int grid_m, int grid_n, int K, int fp8) {
  return lt_gg_split_count(grid_m * grid_n, lt_cuda_gg_want_pct * c->sm_count / 100, (K * (fp8 ? 1 : 2) + 127) / 128);
}

template <int BM, int BN, int WM, int WN, int ST, int FP8>
static latte_status lt_gg_launch_t(lt_cuda_ctx *c, const lt_gg_params *p, dim3 grid) {
  static int attr_set = 0;
  const int threads = (BM / WM) * (BN / WN) * 32;
  const size_t smem = (size_t)ST * (BM + BN) * 128;
  if (!attr_set) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_gg<BM, BN, WM, WN, ST, FP8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem));
    attr_set = 1;
  }
  (void)lt_launch(lt_k_gg<BM, BN, WM, WN, ST, FP8>, grid, threads, smem, c->stream, *p);
  LT_LAUNCH_CHECK("lt_k_gg");
  return LATTE_OK;
}

static int lt_gg_grid_n(int cfg, int N, int inter) {
  int bn = lt_gg_shapes[cfg].bn;
  return inter > 0 ? (inter + bn / 2 - 1) / (bn / 2) : (N + bn - 1) / bn;
}

/* floats of split-K partials a call with these sizes needs (0 without split) */
static size_t lt_gg_part_floats(int cfg, int grid_m, int grid_n, int splits) {
  if (splits <= 1) return 0;
  return (size_t)splits * grid_m * lt_gg_shapes[cfg].bm * (size_t)grid_n * lt_gg_shapes[cfg].bn;
}

/* Split-K partials a caller reduces itself (lt_k_moe_combine) instead of lt_k_gg_reduce. */
typedef struct {
  const float *part;
  int splits;          /* 1: no partials, the output was written */
  int64_t part_ld, part_zstride;
} lt_gg_defer;

/* After a grouped GEMM launch of `splits` K ranges (p: its parameters, partials in p.part when split; epi: the
 * epilogue asked for; rows × bn: the grid's row and column tiles): defer != NULL and an LT_EPI_BF16 split run →
 * the reduce is left to the caller (defer filled); else a split run is reduced by lt_k_gg_reduce. */
static latte_status lt_gg_finish(lt_cuda_ctx *c, const lt_gg_params &p, int epi, int rows, int bn, int splits,
                                 float *part, lt_gg_defer *defer) {
  if (defer) {
    defer->splits = 1;
    if (splits > 1 && epi == LT_EPI_BF16) {
      defer->part = part; defer->splits = splits; defer->part_ld = p.part_ld; defer->part_zstride = p.part_zstride;
      return LATTE_OK;
    }
  }
  if (splits > 1) {
    const int ncols = (epi == LT_EPI_SILU || epi == LT_EPI_SILU32) ? p.inter : p.N;
    const int64_t n = (int64_t)rows * ncols;
    (void)lt_launch(lt_k_gg_reduce, (unsigned)((n + 255) / 256), 256, 0, c->stream, p, rows, ncols, splits, bn, epi);
    LT_LAUNCH_CHECK("lt_k_gg_reduce");
  }
  return LATTE_OK;
}

/* A grouped GEMM call's K split (all three kernels): `splits` ranges of whole k-tiles out of KT (fewer where they
 * would be empty) in p.kt_split, p.rows_bound set; a split run's epilogue becomes the f32 partials in part
 * ([split][grid_m·bm rows][cols]). Returns the number of ranges. */
static int lt_gg_split_k(lt_gg_params &p, int KT, int splits, int grid_m, int bm, int64_t cols, float *part) {
  if (splits < 1) splits = 1;
  p.kt_split = (KT + splits - 1) / splits;
  splits = (KT + p.kt_split - 1) / p.kt_split;
  if (splits < 1) splits = 1;
  p.rows_bound = p.rowtok ? p.rows_bound : p.M;
  if (splits > 1) {
    p.epi = LT_EPI_PART;
    p.part = part;
    p.part_ld = cols;
    p.part_zstride = (int64_t)grid_m * bm * p.part_ld;
  }
  return splits;
}

/* defer != NULL and an LT_EPI_BF16 split run: the reduce is left to the caller (defer filled). */
static latte_status lt_gg_run(lt_cuda_ctx *c, int cfg, int fp8, lt_gg_params p, int grid_m, int splits, float *part,
                              lt_gg_defer *defer = NULL) {
  const lt_gg_shape *sh = &lt_gg_shapes[cfg];
  int grid_n = lt_gg_grid_n(cfg, p.N, p.inter);
  int kt = (p.K * (fp8 ? 1 : 2) + 127) / 128;
  if (grid_m <= 0 || grid_n <= 0) return LATTE_OK;
  if (p.K % (fp8 ? 16 : 8)) return lt_err(LATTE_ERR_UNSUPPORTED, "grouped gemm: K=%d must be a multiple of 16 bytes", p.K);
  const int epi = p.epi;
  splits = lt_gg_split_k(p, kt, splits, grid_m, sh->bm, (int64_t)grid_n * sh->bn, part);
  dim3 grid((unsigned)grid_m, (unsigned)grid_n, (unsigned)splits);
  latte_status s;
#define LT_GG_CASE(i, BM, BN, WM, WN, ST) \
  case i: s = fp8 ? lt_gg_launch_t<BM, BN, WM, WN, ST, 1>(c, &p, grid) : lt_gg_launch_t<BM, BN, WM, WN, ST, 0>(c, &p, grid); break;
  switch (cfg) {
    LT_GG_CASE(0, 16, 64, 16, 16, 6)
    LT_GG_CASE(1, 32, 64, 16, 32, 5)
    LT_GG_CASE(2, 64, 128, 32, 32, 4)
    LT_GG_CASE(3, 128, 128, 64, 32, 3)
    default: return lt_err(LATTE_ERR_INVALID, "grouped gemm: config %d", cfg);
  }
#undef LT_GG_CASE
  if (s) return s;
  return lt_gg_finish(c, p, epi, grid_m * sh->bm, sh->bn, splits, part, defer);
}

/* the e4m3 grouped GEMM on wgmma (decode-size tiles): lt_k_gg_wg, lt_ggw_run */
#include "backend/cuda/cuda_moe_wg.cuh"
/* the bf16 / e4m3 grouped GEMM on wgmma (prefill-size tiles): lt_k_gg_wgp, lt_ggp_run */
#include "backend/cuda/cuda_moe_wgp.cuh"

/* whether 128-row tiles suit an FFN's GEMMs: the prefill kernel on, and for e4m3 both reductions (H, I) whole
 * 128-groups (else lt_k_gg would take its spilling 128-row e4m3 tile) and, for routed experts (experts = 1), only
 * when asked (lt_cuda_ggp_fp8_128: the dense MLP's e4m3 GEMMs measured faster at 128 rows, the experts' at 64) */
static int lt_ggp_takes_128(const lt_cuda_ffn *f, int experts) {
  return lt_cuda_gg_wgp > 0 && (!f->fp8 || ((!experts || lt_cuda_ggp_fp8_128) && f->H % 128 == 0 &&
                                            f->I % 128 == 0 && lt_cuda_ggp_fp8_bm <= 128));
}

/* Which kernel runs one GEMM of lt_ffn_forward: the prefill-size wgmma kernel (64/128-row tiles, bf16 or e4m3),
 * the e4m3 decode-size wgmma kernel, or lt_k_gg — and its column grid, K split and partials for that choice. */
enum { LT_GGK_SYNC = 0, LT_GGK_WG = 1, LT_GGK_WGP = 2 };
static int lt_ggk_pick(const lt_cuda_ctx *c, int fp8, int bm, int K, int tiled, const void *out, int64_t ldo) {
  if (lt_ggp_use(c, fp8, bm, K, out, ldo)) return LT_GGK_WGP;
  if (lt_ggw_use(c, fp8, bm, K, tiled)) return LT_GGK_WG;
  return LT_GGK_SYNC;
}
static int lt_ggk_grid_n(int kind, int gc, int N, int inter) {
  return kind == LT_GGK_WG ? lt_ggw_grid_n(N, inter) : kind == LT_GGK_WGP ? lt_ggp_grid_n(N, inter)
                                                                          : lt_gg_grid_n(gc, N, inter);
}
static int lt_ggk_splits(const lt_cuda_ctx *c, int kind, int bm, int grid_m, int gn, int K, int fp8) {
  return kind == LT_GGK_WG ? lt_ggw_pick_splits(c, bm, grid_m, gn, K)
         : kind == LT_GGK_WGP ? lt_ggp_splits(c, grid_m, gn, K * (fp8 ? 1 : 2) / 128)
                              : lt_gg_splits(c, grid_m, gn, K, fp8);
}
static size_t lt_ggk_part_floats(int kind, int gc, int bm, int grid_m, int gn, int splits) {
  return kind == LT_GGK_WG ? lt_ggw_part_floats(bm, grid_m, gn, splits)
         : kind == LT_GGK_WGP ? lt_ggp_part_floats(bm, grid_m, gn, splits)
                              : lt_gg_part_floats(gc, grid_m, gn, splits);
}
static latte_status lt_ggk_run(lt_cuda_ctx *c, int kind, int gc, int bm, int fp8, const lt_gg_params &p, int grid_m,
                               int splits, float *part, lt_gg_defer *defer) {
  if (kind == LT_GGK_WG) return lt_ggw_run(c, bm, p, grid_m, splits, part, defer);
  if (kind == LT_GGK_WGP) return lt_ggp_run(c, bm, fp8, p, grid_m, splits, part, defer);
  return lt_gg_run(c, gc, fp8, p, grid_m, splits, part, defer);
}

/* x: bf16, or f32 when x_f32 */
static latte_status lt_gg_quant(lt_cuda_ctx *c, const void *x, int x_f32, int64_t ldx, const int32_t *rowtok, int rows,
                                int K, uint8_t *q, float *s) {
  if (rows <= 0) return LATTE_OK;
  int64_t warps = (int64_t)rows * ((K + 127) / 128);
  unsigned grid = (unsigned)((warps * 32 + 255) / 256);
  if (x_f32) (void)lt_launch(lt_k_quant_fp8<float>, grid, 256, 0, c->stream, (const float *)x, ldx, rowtok, rows, K, q, s);
  else (void)lt_launch(lt_k_quant_fp8<__nv_bfloat16>, grid, 256, 0, c->stream, (const __nv_bfloat16 *)x, ldx, rowtok, rows, K, q, s);
  LT_LAUNCH_CHECK("lt_k_quant_fp8");
  return LATTE_OK;
}

/* *logits = x [rows, H] · gate [E, H]ᵀ (f32 [rows, E]) on tensor cores: the router at T > 32 */
latte_status lt_moe_logits_gemm(lt_cuda_ctx *c, const void *x, const lt_weight *gate, int rows, float **logits) {
  const int E = (int)gate->n, H = (int)gate->k;
  int gc = lt_gg_pick_cfg(rows), bm = lt_gg_shapes[gc].bm;
  int gm = (rows + bm - 1) / bm, gn = lt_gg_grid_n(gc, E, 0), sp = lt_gg_splits(c, gm, gn, H, 0);
  size_t lbytes = lt_al(sizeof(float) * (size_t)rows * E);
  uint8_t *base;
  LT_TRY(lt_cuda_scratch(c, LT_SCR_ROUTE, lbytes + sizeof(float) * lt_gg_part_floats(gc, gm, gn, sp), (void **)&base));
  *logits = (float *)base;
  lt_gg_params p;
  memset(&p, 0, sizeof p);
  p.a = (const uint8_t *)x; p.lda = H; p.M = rows;
  p.w = (const uint8_t *)gate->data; p.N = E; p.K = H;
  p.epi = LT_EPI_F32; p.out = *logits; p.ldo = E;
  return lt_gg_run(c, gc, 0, p, gm, sp, (float *)(base + lbytes));
}

/* ================= stacked FFN weights (lt_cuda_ffn: cuda_moe_sort.cuh) ================= */
static void lt_ffn_free(lt_cuda_ffn *f) {
  if (!f) return;
  cudaFree(f->w13);
  cudaFree(f->s13);
  if (f->own_w2) { cudaFree(f->w2); cudaFree(f->s2); }
  free(f);
}

static latte_status lt_ffn_check(const lt_weight *w, lt_dtype dt, int64_t n, int64_t k, const char *what, int e) {
  if (w->dtype != dt || w->n != n || w->k != k || !w->data || (dt == LT_F8E4M3 && (!w->scale || w->bn != 128 || w->bk != 128)))
    return lt_err(LATTE_ERR_FORMAT, "cuda ffn: %s[%d] is %s [%lld, %lld], expected %s [%lld, %lld]", what, e,
                  lt_dtype_name(w->dtype), (long long)w->n, (long long)w->k, lt_dtype_name(dt), (long long)n,
                  (long long)k);
  return LATTE_OK;
}

/* Frees a weight's device copy (data and scale) after it was copied into a stacked form; its shape
 * and dtype stay (weight_free skips the NULL data). */
static latte_status lt_weight_drop(lt_weight *w) {
  LT_CUDA_TRY(cudaFree(w->data));
  LT_CUDA_TRY(cudaFree(w->scale));
  w->data = NULL;
  w->scale = NULL;
  return LATTE_OK;
}

/* Stacks gate/up (and down when down_too) of E experts into f, device to device, with room for
 * `extra` more experts after them; frees the sources. */
static latte_status lt_ffn_stack(lt_cuda_ctx *c, int E, int extra, lt_weight *gate, lt_weight *up, lt_weight *down,
                                 int down_too, lt_cuda_ffn *f) {
  const int I = f->I, H = f->H;
  const lt_dtype dt = gate[0].dtype;
  if (dt != LT_BF16 && dt != LT_F8E4M3) return lt_err(LATTE_ERR_UNSUPPORTED, "cuda ffn: weights in %s", lt_dtype_name(dt));
  for (int e = 0; e < E; e++) {
    LT_TRY(lt_ffn_check(&gate[e], dt, I, H, "gate", e));
    LT_TRY(lt_ffn_check(&up[e], dt, I, H, "up", e));
    LT_TRY(lt_ffn_check(&down[e], dt, H, I, "down", e));
  }
  f->fp8 = dt == LT_F8E4M3;
  const size_t es = f->fp8 ? 1 : 2, mat = (size_t)I * H * es;
  const size_t sri = (I + 127) / 128, skh = (H + 127) / 128, srh = skh, ski = sri, sgu = sri * skh * sizeof(float),
               sdn = srh * ski * sizeof(float);
  const int Ea = E + extra;
  LT_CUDA_TRY(cudaMalloc((void **)&f->w13, 2 * mat * Ea));
  if (f->fp8) LT_CUDA_TRY(cudaMalloc((void **)&f->s13, 2 * sgu * Ea));
  if (down_too) {
    f->own_w2 = 1;
    LT_CUDA_TRY(cudaMalloc((void **)&f->w2, mat * Ea));
    if (f->fp8) LT_CUDA_TRY(cudaMalloc((void **)&f->s2, sdn * Ea));
  } else {
    f->w2 = (uint8_t *)down[0].data;
    f->s2 = down[0].scale;
  }
  for (int e = 0; e < E; e++) {
    LT_CUDA_TRY(cudaMemcpyAsync(f->w13 + 2 * mat * e, gate[e].data, mat, cudaMemcpyDeviceToDevice, c->stream));
    LT_CUDA_TRY(cudaMemcpyAsync(f->w13 + 2 * mat * e + mat, up[e].data, mat, cudaMemcpyDeviceToDevice, c->stream));
    if (f->fp8) {
      LT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)f->s13 + 2 * sgu * e, gate[e].scale, sgu, cudaMemcpyDeviceToDevice, c->stream));
      LT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)f->s13 + 2 * sgu * e + sgu, up[e].scale, sgu, cudaMemcpyDeviceToDevice, c->stream));
    }
    if (down_too) {
      LT_CUDA_TRY(cudaMemcpyAsync(f->w2 + mat * e, down[e].data, mat, cudaMemcpyDeviceToDevice, c->stream));
      if (f->fp8)
        LT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)f->s2 + sdn * e, down[e].scale, sdn, cudaMemcpyDeviceToDevice, c->stream));
    }
  }
  LT_CUDA_TRY(cudaStreamSynchronize(c->stream));
  for (int e = 0; e < E; e++) {  /* the stacked copies replace the per-expert ones */
    LT_TRY(lt_weight_drop(&gate[e]));
    LT_TRY(lt_weight_drop(&up[e]));
    if (down_too) LT_TRY(lt_weight_drop(&down[e]));
  }
  return LATTE_OK;
}

extern "C" {
/* 1: moe_new folds a layer's shared experts into its routed-expert stack (one grouped GEMM pair for
 * both); 0: they stay a separate MLP. Read at load time. */
int lt_cuda_fold_shared = 1;
}

/* How many experts of size I the layer's shared MLP folds into (0: it stays a separate MLP): its
 * intermediate size must be a multiple of I, same dtype, and for e4m3 whole 128-blocks per piece. */
static int lt_ffn_fold_count(const lt_moe_w *w) {
  const lt_mlp_w *sh = w->shared;
  if (!sh || w->num_experts < 1) return 0;
  const lt_dtype dt = w->gate[0].dtype;
  const int64_t I = w->inter, H = w->hidden, Is = sh->gate.n;
  if (Is <= 0 || Is % I || Is / I > 8 || sh->up.n != Is || sh->gate.k != H || sh->up.k != H || sh->down.n != H ||
      sh->down.k != Is)
    return 0;
  const lt_weight *ws[3] = {&sh->gate, &sh->up, &sh->down};
  for (int i = 0; i < 3; i++) {
    if (ws[i]->dtype != dt || !ws[i]->data) return 0;
    if (dt == LT_F8E4M3 && (I % 128 || !ws[i]->scale || ws[i]->bn != 128 || ws[i]->bk != 128)) return 0;
  }
  return (int)(Is / I);
}

/* Copies the shared MLP, cut into ns experts of size I (gate/up rows and down columns s·I ..
 * (s+1)·I), into the stack as experts E .. E+ns-1, then frees the MLP's device copies. Σ of the
 * pieces' outputs = the MLP's output (down is linear in its input columns). */
static latte_status lt_ffn_fold(lt_cuda_ctx *c, lt_cuda_ffn *f, lt_mlp_w *sh, int ns) {
  const int E = f->E, I = f->I, H = f->H;
  const size_t es = f->fp8 ? 1 : 2, mat = (size_t)I * H * es;
  const size_t skh = (H + 127) / 128, ski = (I + 127) / 128, sgu = ski * skh * sizeof(float);
  for (int s = 0; s < ns; s++) {
    const int e = E + s;
    LT_CUDA_TRY(cudaMemcpyAsync(f->w13 + 2 * mat * e, (uint8_t *)sh->gate.data + mat * s, mat, cudaMemcpyDeviceToDevice, c->stream));
    LT_CUDA_TRY(cudaMemcpyAsync(f->w13 + 2 * mat * e + mat, (uint8_t *)sh->up.data + mat * s, mat, cudaMemcpyDeviceToDevice, c->stream));
    /* down [H, ns·I] → [H, I]: a column slice */
    LT_CUDA_TRY(cudaMemcpy2DAsync(f->w2 + mat * e, (size_t)I * es, (uint8_t *)sh->down.data + (size_t)s * I * es,
                                  (size_t)ns * I * es, (size_t)I * es, (size_t)H, cudaMemcpyDeviceToDevice, c->stream));
    if (f->fp8) {  /* I % 128 == 0: each piece owns whole scale rows (gate/up) or columns (down) */
      LT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)f->s13 + 2 * sgu * e, (uint8_t *)sh->gate.scale + sgu * s, sgu, cudaMemcpyDeviceToDevice, c->stream));
      LT_CUDA_TRY(cudaMemcpyAsync((uint8_t *)f->s13 + 2 * sgu * e + sgu, (uint8_t *)sh->up.scale + sgu * s, sgu, cudaMemcpyDeviceToDevice, c->stream));
      LT_CUDA_TRY(cudaMemcpy2DAsync((uint8_t *)f->s2 + skh * ski * sizeof(float) * e, ski * sizeof(float),
                                    (uint8_t *)sh->down.scale + s * ski * sizeof(float), ns * ski * sizeof(float),
                                    ski * sizeof(float), skh, cudaMemcpyDeviceToDevice, c->stream));
    }
  }
  LT_CUDA_TRY(cudaStreamSynchronize(c->stream));
  LT_TRY(lt_weight_drop(&sh->gate));
  LT_TRY(lt_weight_drop(&sh->up));
  return lt_weight_drop(&sh->down);
}

extern "C" latte_status lt_cuda_moe_new(lt_backend *b, lt_moe_w *w) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_cuda_ffn *f = (lt_cuda_ffn *)calloc(1, sizeof *f);
  if (!f) return lt_err(LATTE_ERR_NOMEM, "moe_new: out of memory");
  f->E = w->num_experts; f->I = w->inter; f->H = w->hidden;
  latte_status s = f->E > 0 && f->E <= 1024 ? LATTE_OK : lt_err(LATTE_ERR_UNSUPPORTED, "moe_new: %d experts", f->E);
  const int ns = lt_cuda_fold_shared ? lt_ffn_fold_count(w) : 0;
  if (!s) s = lt_ffn_stack(c, f->E, ns, w->gate, w->up, w->down, 1, f);
  if (!s && ns) s = lt_ffn_fold(c, f, w->shared, ns);
  if (s) { lt_ffn_free(f); return s; }
  if (ns) { f->ns = ns; w->shared_folded = 1; }
  w->priv = f;
  return LATTE_OK;
}

extern "C" void lt_cuda_moe_free(lt_backend *b, lt_moe_w *w) {
  lt_ffn_free((lt_cuda_ffn *)w->priv);
  w->priv = NULL;
}

extern "C" latte_status lt_cuda_mlp_new(lt_backend *b, lt_mlp_w *w) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_cuda_ffn *f = (lt_cuda_ffn *)calloc(1, sizeof *f);
  if (!f) return lt_err(LATTE_ERR_NOMEM, "mlp_new: out of memory");
  f->E = 1; f->I = (int)w->gate.n; f->H = (int)w->gate.k;
  latte_status s = lt_ffn_stack(c, 1, 0, &w->gate, &w->up, &w->down, 0, f);
  if (s) { lt_ffn_free(f); return s; }
  w->priv = f;
  return LATTE_OK;
}

extern "C" void lt_cuda_mlp_free(lt_backend *b, lt_mlp_w *w) {
  lt_ffn_free((lt_cuda_ffn *)w->priv);  /* down stays with its lt_weight (weight_free) */
  w->priv = NULL;
}

/* ================= FFN forward (shared by the experts and the MLP) ================= */
/* out [rows, H] = down(silu(gate(A)) · up(A)) at each valid position: tiled (rowtok != NULL): the
 * tokens rowtok[pos] of x, grouped by the tile list; dense: rows 0..rows of x. bf16 or w8a8 e4m3. */
static latte_status lt_ffn_forward(lt_cuda_ctx *c, const lt_cuda_ffn *f, const void *x, int T, int gc, int grid_m,
                                   int rows, const int32_t *rowtok, const int32_t *tile_e, const int32_t *tile_row0,
                                   const int32_t *num_tiles, int slot, void *out, lt_gg_defer *defer = NULL) {
  const int I = f->I, H = f->H, fp8 = f->fp8;
  const int skh = (H + 127) / 128, ski = (I + 127) / 128;
  if (((uintptr_t)x & 15) || H % 16 || I % 16)
    return lt_err(LATTE_ERR_UNSUPPORTED, "cuda ffn: hidden %d / inter %d must be multiples of 16, x 16-byte aligned", H, I);
  /* each GEMM on the kernel lt_ggk_pick names (gate_up's h sits at the scratch's start: 16-byte aligned) */
  const int bm = lt_gg_shapes[gc].bm, tiled = rowtok != NULL;
  const int k13 = lt_ggk_pick(c, fp8, bm, H, tiled, NULL, I), k2 = lt_ggk_pick(c, fp8, bm, I, tiled, out, H);
  const int gn13 = lt_ggk_grid_n(k13, gc, 2 * I, I), gn2 = lt_ggk_grid_n(k2, gc, H, 0);
  const int sp13 = lt_ggk_splits(c, k13, bm, grid_m, gn13, H, fp8), sp2 = lt_ggk_splits(c, k2, bm, grid_m, gn2, I, fp8);
  size_t part = lt_ggk_part_floats(k13, gc, bm, grid_m, gn13, sp13),
         part2 = lt_ggk_part_floats(k2, gc, bm, grid_m, gn2, sp2);
  if (part2 > part) part = part2;
  size_t o_xq = lt_al((size_t)rows * I * (fp8 ? 4 : 2));
  size_t o_xs = o_xq + (fp8 ? lt_al((size_t)T * H) : 0);
  size_t o_hq = o_xs + (fp8 ? lt_al((size_t)T * skh * 4) : 0);
  size_t o_hs = o_hq + (fp8 ? lt_al((size_t)rows * I) : 0);
  size_t o_part = o_hs + (fp8 ? lt_al((size_t)rows * ski * 4) : 0);
  uint8_t *base;
  LT_TRY(lt_cuda_scratch(c, slot, o_part + part * sizeof(float), (void **)&base));
  void *h = base;
  uint8_t *xq = base + o_xq, *hq = base + o_hq;
  float *xs = (float *)(base + o_xs), *hs = (float *)(base + o_hs), *pp = (float *)(base + o_part);

  lt_gg_params p;
  memset(&p, 0, sizeof p);
  p.rowtok = rowtok; p.rows_bound = rows; p.M = rows;
  p.tile_e = tile_e; p.tile_row0 = tile_row0; p.num_tiles = num_tiles;
  /* h [rows, I] = silu(A · gateᵀ) · (A · upᵀ), A [rows, H] gathered from x [T, H] */
  if (fp8) LT_TRY(lt_gg_quant(c, x, 0, H, NULL, T, H, xq, xs));
  p.a = fp8 ? xq : (const uint8_t *)x; p.lda = H; p.as = xs; p.ask = skh; p.a_by_tok = rowtok != NULL;
  p.w = f->w13; p.w_estride = (int64_t)2 * I * H; p.ws = f->s13; p.ws_estride = (int64_t)2 * ski * skh; p.wsk = skh;
  p.N = 2 * I; p.K = H; p.inter = I; p.up_srow = ski;
  p.epi = fp8 ? LT_EPI_SILU32 : LT_EPI_SILU; p.out = h; p.ldo = I;   /* e4m3: f32 h, quantised as the CPU does */
  p.w_early = !tiled && lt_cuda_gg_w_early;  /* (a dense call reads no tile list before its wait) */
  LT_TRY(lt_ggk_run(c, k13, gc, bm, fp8, p, grid_m, sp13, pp, NULL));
  /* out [rows, H] = h [rows, I] · downᵀ (h quantised per row and 128 channels for e4m3) */
  if (fp8) LT_TRY(lt_gg_quant(c, h, 1, I, rowtok, rows, I, hq, hs));
  p.a = fp8 ? hq : (const uint8_t *)h; p.lda = I; p.as = hs; p.ask = ski; p.a_by_tok = 0;
  p.w = f->w2; p.w_estride = (int64_t)H * I; p.ws = f->s2; p.ws_estride = (int64_t)skh * ski; p.wsk = ski;
  p.N = H; p.K = I; p.inter = 0; p.up_srow = 0;
  p.epi = LT_EPI_BF16; p.out = out; p.ldo = H;
  /* the kernel before this one waits before it launches its successor: lt_k_gg's gate_up (tiled: no early W),
   * its split-K reduce, or h's quantisation — not the wgmma kernels, which launch theirs first */
  p.w_early = lt_cuda_gg_w_early && (!tiled || fp8 || k13 == LT_GGK_SYNC);
  return lt_ggk_run(c, k2, gc, bm, fp8, p, grid_m, sp2, pp, defer);
}

/* ================= routed experts ================= */
__global__ void lt_k_moe_align(const int32_t *ids, int T, int K, int ns, int E, int BM, int bound, int32_t *rowtok,
                               int32_t *inv, int32_t *tile_e, int32_t *tile_row0, int32_t *num_tiles) {
  LT_PDL_ENTER();
  extern __shared__ int lt_asm_[];
  lt_moe_align_block(ids, T, K, ns, E, BM, bound, rowtok, inv, tile_e, tile_row0, num_tiles, lt_asm_);
}

/* Columns c0 .. c0 + V − 1 (V = 2, or 8 in 16-byte loads: y rows and part_ld multiples of 8 / 4 elements,
 * 16-byte aligned) of one token's combine into s[V]: Σ_j w_t[j] · y[inv_t[j]] over the Ks = K + ns slots in
 * slot order (deterministic; the ns shared slots weigh 1; inv_t[j] < 0: slot unused), the same bits per column
 * at either V. splits > 1: y was left as split-K partials (f32, the down GEMM's layout): y = bf16(Σ_z part[z])
 * in z order, exactly what lt_k_gg_reduce would have stored. */
template <int V>
__device__ __forceinline__ void lt_moe_combine_cols(const __nv_bfloat16 *y, int H, const int32_t *inv_t,
                                                    const float *w_t, int K, int ns, const float *part, int splits,
                                                    int64_t part_ld, int64_t part_zstride, int c0, float *s) {
#pragma unroll
  for (int k = 0; k < V; k++) s[k] = 0.f;
  auto slot = [&](int j) {
    const int p = inv_t[j];
    if (p < 0) return;
    const float wt = j < K ? w_t[j] : 1.0f;
    float v[V];
    if (splits > 1) {
      const float *pr = part + (size_t)p * part_ld + c0;
      float a[V];
#pragma unroll
      for (int k = 0; k < V; k++) a[k] = 0.f;
      for (int z = 0; z < splits; z++) {
        const float *q = pr + (size_t)z * part_zstride;
        if constexpr (V == 2) {
          const float2 u = *(const float2 *)q;
          a[0] += u.x; a[1] += u.y;
        } else {
          const float4 u0 = *(const float4 *)q, u1 = *(const float4 *)(q + 4);
          a[0] += u0.x; a[1] += u0.y; a[2] += u0.z; a[3] += u0.w;
          a[4] += u1.x; a[5] += u1.y; a[6] += u1.z; a[7] += u1.w;
        }
      }
#pragma unroll
      for (int k = 0; k < V; k++) v[k] = __bfloat162float(__float2bfloat16(a[k]));
    } else {
      lt_bfv<V>::unpack(*(const typename lt_bfv<V>::T *)(y + (size_t)p * H + c0), v);
    }
#pragma unroll
    for (int k = 0; k < V; k++) s[k] += wt * v[k];
  };
  if constexpr (V == 2) {
#pragma unroll 4
    for (int j = 0; j < K + ns; j++) slot(j);
  } else {
    for (int j = 0; j < K + ns; j++) slot(j);
  }
}

/* out [T, H] = Σ_j w[t, j] · y[inv[t, j]] (lt_moe_combine_cols), one column pair per thread. */
__global__ void lt_k_moe_combine(const __nv_bfloat16 *y, int H, const int32_t *inv, const float *w, int K, int ns,
                                 const float *part, int splits, int64_t part_ld, int64_t part_zstride,
                                 __nv_bfloat16 *out) {
  LT_PDL_ENTER();
  const int t = blockIdx.y, Ks = K + ns;
  const int c2 = blockIdx.x * blockDim.x + threadIdx.x;
  if (c2 >= H / 2) return;
  float s[2];
  lt_moe_combine_cols<2>(y, H, inv + (size_t)t * Ks, w + (size_t)t * K, K, ns, part, splits, part_ld, part_zstride,
                         2 * c2, s);
  *(__nv_bfloat162 *)(out + (size_t)t * H + 2 * c2) = __floats2bfloat162_rn(s[0], s[1]);
}

/* The combine fused with the next layer's input step, one block per token row t (H even, rows 4-byte
 * aligned), a column pair per thread: out[t] = the combine (as lt_k_moe_combine stores it);
 * resid[t] += out[t]; yo[t] = rmsnorm(resid[t]) · nw. out and resid are bit for bit what
 * lt_k_moe_combine then lt_k_add_rmsnorm store; y differs only by the order of the sum of squares.
 * (8 columns per thread with add_rmsnorm's 128 threads, bitwise its y, took 8.2 µs per V2-Lite decode
 * layer in ncu on an H200 — no faster than the two launches, 4.2 + 3.6 — a thread's chain of dependent
 * loads 4× longer; pairs: 5.6 µs.) */
template <int V>
__global__ void lt_k_moe_combine_add_rmsnorm(const __nv_bfloat16 *y, int H, const int32_t *inv, const float *w, int K,
                                             int ns, const float *part, int splits, int64_t part_ld,
                                             int64_t part_zstride, __nv_bfloat16 *out, __nv_bfloat16 *resid,
                                             const float *nw, __nv_bfloat16 *yo, float eps) {
  LT_PDL_ENTER();
  extern __shared__ float lt_cn_sx[];
  const int t = blockIdx.x, Ks = K + ns;
  const int32_t *inv_t = inv + (size_t)t * Ks;
  const float *w_t = w + (size_t)t * K;
  typedef typename lt_bfv<V>::T vec;
  vec *out_t = (vec *)(out + (size_t)t * H);
  auto delta = [&](int i) {
    float s[V];
    lt_moe_combine_cols<V>(y, H, inv_t, w_t, K, ns, part, splits, part_ld, part_zstride, V * i, s);
    const vec d = lt_bfv<V>::pack(s);
    out_t[i] = d;
    return d;
  };
  lt_add_rmsnorm_row<V>(resid + (size_t)t * H, delta, nw, yo + (size_t)t * H, H, eps, lt_cn_sx);
}

/* (cuda_moe_sort.cuh) */
latte_status lt_moe_plan_get(lt_cuda_ctx *c, const lt_cuda_ffn *f, int rows, int top_k, lt_moe_plan *pl) {
  const int E = f->E, ns = f->ns, TK = rows * (top_k + ns);
  const int act = TK < E + ns ? TK : E + ns;
  int gc = lt_gg_pick_cfg((double)TK / act);
  if (gc > 2) gc = 2;  /* lt_k_gg's 128-row tiles were slower for experts */
  if (lt_ggp_takes_128(f, 1) && TK > lt_cuda_ggp_bm128 * act) gc = 3;  /* the prefill kernel's 128 */
  pl->gc = gc; pl->bm = lt_gg_shapes[gc].bm; pl->TK = TK;
  pl->bound = TK + act * (pl->bm - 1); pl->grid_m = pl->bound / pl->bm;
  /* meta: rowtok [bound] | inv [TK] | tile_e [grid_m] | tile_row0 [grid_m] | num_tiles */
  size_t o_inv = lt_al(sizeof(int32_t) * pl->bound), o_te = o_inv + lt_al(sizeof(int32_t) * TK);
  size_t o_tr = o_te + lt_al(sizeof(int32_t) * pl->grid_m), o_nt = o_tr + lt_al(sizeof(int32_t) * pl->grid_m);
  uint8_t *meta;
  LT_TRY(lt_cuda_scratch(c, LT_SCR_MOE0, o_nt + 256, (void **)&meta));
  pl->rowtok = (int32_t *)meta; pl->inv = (int32_t *)(meta + o_inv); pl->tile_e = (int32_t *)(meta + o_te);
  pl->tile_row0 = (int32_t *)(meta + o_tr); pl->num_tiles = (int32_t *)(meta + o_nt);
  return LATTE_OK;
}

/* moe_experts up to its combine: the sort (unless moe_route prepared it), then the experts' grouped GEMMs
 * into y [bound, H] or their split-K partials (*d); *pl gets the sort's layout. */
static latte_status lt_moe_experts_run(lt_cuda_ctx *c, const lt_cuda_ffn *f, const void *x, const int32_t *ids,
                                       int top_k, int rows, lt_moe_plan *pl, void **y, lt_gg_defer *d) {
  const int E = f->E, ns = f->ns, H = f->H;
  LT_TRY(lt_moe_plan_get(c, f, rows, top_k, pl));
  LT_TRY(lt_cuda_scratch(c, LT_SCR_MOE2, sizeof(__nv_bfloat16) * (size_t)pl->bound * H, y));
  const int prepared = c->moe_prep_ids == ids && c->moe_prep_ffn == f && c->moe_prep_rows == rows &&
                       c->moe_prep_k == top_k;
  c->moe_prep_ids = NULL;
  if (!prepared) {  /* moe_route did not sort these ids already */
    (void)lt_launch(lt_k_moe_align, 1, 1024, sizeof(int) * (3 * (size_t)(E + ns) + 32), c->stream, ids, rows, top_k,
                    ns, E, pl->bm, pl->bound, pl->rowtok, pl->inv, pl->tile_e, pl->tile_row0, pl->num_tiles);
    LT_LAUNCH_CHECK("lt_k_moe_align");
  }
  /* y [bound, H] = expert_e(x[rowtok[pos]]) at each sorted position (or its split-K partials) */
  return lt_ffn_forward(c, f, x, rows, pl->gc, pl->grid_m, pl->bound, pl->rowtok, pl->tile_e, pl->tile_row0,
                        pl->num_tiles, LT_SCR_MOE1, *y, d);
}

/* out [rows, H] = the combine of lt_moe_experts_run's outputs (lt_k_moe_combine) */
static latte_status lt_moe_combine_launch(lt_cuda_ctx *c, const lt_cuda_ffn *f, const lt_moe_plan *pl, const void *y,
                                          const lt_gg_defer *d, const float *weights, int top_k, int rows, void *out) {
  const int H = f->H;
  dim3 cgrid((unsigned)((H / 2 + 63) / 64), (unsigned)rows);   /* 64 threads: spread a token over SMs */
  (void)lt_launch(lt_k_moe_combine, cgrid, 64, 0, c->stream, (const __nv_bfloat16 *)y, H, pl->inv, weights, top_k,
                  f->ns, d->part, d->splits, d->part_ld, d->part_zstride, (__nv_bfloat16 *)out);
  LT_LAUNCH_CHECK("lt_k_moe_combine");
  return LATTE_OK;
}

static latte_status lt_moe_experts_check(const lt_cuda_ffn *f, int top_k) {
  if (!f) return lt_err(LATTE_ERR_INVALID, "moe_experts: moe_new was not called");
  if (top_k < 1) return lt_err(LATTE_ERR_INVALID, "moe_experts: top_k %d", top_k);
  return LATTE_OK;
}

extern "C" latte_status lt_cuda_moe_experts(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                            const float *weights, int top_k, int rows, void *out) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const lt_cuda_ffn *f = (const lt_cuda_ffn *)w->priv;
  LT_TRY(lt_moe_experts_check(f, top_k));
  if (rows <= 0) return LATTE_OK;
  lt_moe_plan pl;
  void *y;
  lt_gg_defer d;
  LT_TRY(lt_moe_experts_run(c, f, x, ids, top_k, rows, &pl, &y, &d));
  return lt_moe_combine_launch(c, f, &pl, y, &d, weights, top_k, rows, out);
}

/* 1: moe_experts_add_rmsnorm fuses the combine with the add + RMSNorm (LATTE_MOE_NORM_FUSED, measuring); from
 * lt_cuda_moe_norm_v8_rows rows on, its kernel takes 8 columns per thread (tests) */
extern "C" int lt_cuda_moe_norm_fused, lt_cuda_moe_norm_v8_rows;
int lt_cuda_moe_norm_fused = 1, lt_cuda_moe_norm_v8_rows = 256;

/* moe_experts with its combine fused into the next layer's add + RMSNorm (one block per token row);
 * the plain sequence where the rows don't suit paired loads. */
extern "C" latte_status lt_cuda_moe_experts_add_rmsnorm(lt_backend *b, const void *x, const lt_moe_w *w,
                                                        const int32_t *ids, const float *weights, int top_k, int rows,
                                                        void *out, void *resid, const float *norm_w, void *yo,
                                                        float eps) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const lt_cuda_ffn *f = (const lt_cuda_ffn *)w->priv;
  LT_TRY(lt_moe_experts_check(f, top_k));
  if (rows <= 0) return LATTE_OK;
  const int H = f->H;
  const size_t smem = sizeof(float) * (size_t)H;
  if (!lt_cuda_moe_norm_fused || H % 2 || smem > (size_t)c->smem_optin ||
      (((uintptr_t)out | (uintptr_t)resid | (uintptr_t)yo | (uintptr_t)norm_w) & 7))
    return lt_moe_experts_add_rmsnorm_seq(b, x, w, ids, weights, top_k, rows, out, resid, norm_w, yo, eps);
  lt_moe_plan pl;
  void *y;
  lt_gg_defer d;
  LT_TRY(lt_moe_experts_run(c, f, x, ids, top_k, rows, &pl, &y, &d));
  if (d.splits > 1 && ((d.part_ld | d.part_zstride) % 2 || ((uintptr_t)d.part & 7))) {
    /* partials unfit for float2 loads: the separate combine, then add + RMSNorm */
    LT_TRY(lt_moe_combine_launch(c, f, &pl, y, &d, weights, top_k, rows, out));
    return lt_cuda_add_rmsnorm(b, resid, out, norm_w, yo, rows, H, eps);
  }
  static int attr_set = 0;
  if (smem > 48 * 1024 && !attr_set) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_moe_combine_add_rmsnorm<2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     c->smem_optin));
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_moe_combine_add_rmsnorm<8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     c->smem_optin));
    attr_set = 1;
  }
  /* from lt_cuda_moe_norm_v8_rows rows on: 8 columns per thread in 16-byte loads (prefill: 185 µs per V2-Lite layer
   * at 4096 rows over column pairs → 134 at 16384 rows; a decode token measured faster over column pairs, which
   * spread it over more threads; batches of 64 and 128 the same either way) */
  const int v8 = rows >= lt_cuda_moe_norm_v8_rows && H % 8 == 0 &&
                 !(((uintptr_t)y | (uintptr_t)out | (uintptr_t)resid | (uintptr_t)yo | (uintptr_t)norm_w) & 15) &&
                 (d.splits <= 1 || (d.part_ld % 4 == 0 && d.part_zstride % 4 == 0 && !((uintptr_t)d.part & 15)));
  const int per = v8 ? 8 : 2, th = (H / per + 31) / 32 * 32;  /* a column group per thread, ≤ 1024 threads */
  (void)lt_launch(v8 ? lt_k_moe_combine_add_rmsnorm<8> : lt_k_moe_combine_add_rmsnorm<2>, (unsigned)rows,
                  th < 1024 ? th : 1024, smem, c->stream, (const __nv_bfloat16 *)y, H, pl.inv, weights, top_k, f->ns,
                  d.part, d.splits, d.part_ld, d.part_zstride, (__nv_bfloat16 *)out, (__nv_bfloat16 *)resid, norm_w,
                  (__nv_bfloat16 *)yo, eps);
  LT_LAUNCH_CHECK("lt_k_moe_combine_add_rmsnorm");
  return LATTE_OK;
}

/* ================= dense MLP / shared experts ================= */
extern "C" latte_status lt_cuda_mlp(lt_backend *b, const void *x, const lt_mlp_w *w, void *out, int rows) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const lt_cuda_ffn *f = (const lt_cuda_ffn *)w->priv;
  if (!f) return lt_err(LATTE_ERR_INVALID, "mlp: mlp_new was not called");
  if (rows <= 0) return LATTE_OK;
  int gc = lt_gg_pick_cfg(rows);
  if (f->fp8 && gc > 2) gc = 2;   /* lt_k_gg's 128×128 e4m3 tile spills */
  if (lt_ggp_takes_128(f, 0) && rows > lt_cuda_ggp_bm128) gc = 3;  /* the prefill kernel's 128 */
  int bm = lt_gg_shapes[gc].bm;
  return lt_ffn_forward(c, f, x, rows, gc, (rows + bm - 1) / bm, rows, NULL, NULL, NULL, NULL, LT_SCR_MLP, out);
}
