/* cuda_mla_absorb.cu — q absorption of absorbed MLA on the GPU (mla_absorb_q): ql[:, h] = [q_nope[:, h] ·
 * w_kc[h] | q_pe[:, h]], a strided-batched cuBLAS GEMM plus a copy kernel, or at decode sizes one
 * weight-streaming tensor-core kernel; rope_absorb_q, that kernel with the RoPE cache write folded in (one
 * launch at decode); and the row bound of the streaming kernels (out_v's kernel is in cuda_mla.cu), with
 * its knob lt_cuda_mla_absorb_max_rows. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_rope.cuh"
#include <string.h>

typedef __nv_bfloat16 bf16;

/* ---------------------------------------------------------------------------------------------
 * Small-row (decode) absorption: rows ≤ lt_cuda_mla_absorb_max_rows take a streaming kernel instead of
 * cuBLAS (docs/cuda-attention.md), as out_v does (cuda_mla.cu). Byte-bound: each block owns one head
 * and a slice of its output columns, reads that slice of the weight exactly once with 16-byte loads
 * (all in flight at once), and multiplies on the tensor cores (mma.sync m16n8k16, fp32 accumulate) with
 * the ≤ 32 token rows padded to MT tiles of 16. Fixed summation order: deterministic. (Wider blocks —
 * 128 columns of r, fewer re-reads of the token rows — were measured slower: fewer blocks.)
 * ------------------------------------------------------------------------------------------- */

/* Rows at or below this take the streaming kernels (absorb_q below, out_v in cuda_mla.cu): -1 = automatic
 * (lt_mla_small_bound), 0 = always cuBLAS, n > 0 = rows ≤ min(n, LT_MLA_SMALL_MAX) (tests and bench force
 * either path with it). */
extern "C" int lt_cuda_mla_absorb_max_rows;
int lt_cuda_mla_absorb_max_rows = -1;
enum {
  LT_MLA_SMALL_MAX = 32,   /* MT ≤ 2 tiles of 16 token rows */
  LT_ABQ_RS = 64,          /* absorb_q: output columns of r per block (4 warps × 16) */
  LT_ABQ_MAXDN = 192,      /* absorb_q: q_nope tile + weight tile stay under 48 KB of shared memory */
  /* automatic bound, measured on an H200 against cuBLAS (docs/cuda-attention.md): the streaming kernels
   * win while rows·H ≤ this (each block re-reads its head's token rows, so their cost grows with rows·H) */
  LT_ABQ_AUTO_ROWS_HEADS = 2048,  /* absorb_q: rows ≤ 32 at H = 16, ≤ 16 at H = 128 */
  LT_OV_AUTO_ROWS_HEADS = 512     /* out_v: rows ≤ 32 at H = 16, ≤ 4 at H = 128 */
};

/* largest row count that takes the streaming kernel of op (0 absorb_q, 1 out_v) at H heads (out_v:
 * cuda_mla.cu declares it) */
extern "C" int lt_mla_small_bound(int H, int op) {
  int n = lt_cuda_mla_absorb_max_rows;
  if (n < 0) n = (op ? LT_OV_AUTO_ROWS_HEADS : LT_ABQ_AUTO_ROWS_HEADS) / (H > 0 ? H : 1);
  return n < LT_MLA_SMALL_MAX ? n : LT_MLA_SMALL_MAX;
}

/* ql[t, h, r:] = q[t, h, dn:] (the rope part passes through absorption unchanged) */
__global__ void lt_k_mla_copy_pe(const bf16 *q, bf16 *ql, int rows, int H, int dn, int dr, int r) {
  LT_PDL_ENTER();
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= (int64_t)rows * H * dr) return;
  int64_t th = i / dr;
  int d = (int)(i % dr);
  ql[th * (r + dr) + r + d] = q[th * (dn + dr) + dn + d];
}

/* absorb_q, one block = head h (blockIdx.y) × columns [c0, c0+64) of r (blockIdx.x); 4 warps.
 * Shared: sQ [16·MT, dn+8] = q_nope[:, h] (rows ≥ `rows` zero-filled), sW [dn, 72] = w_kc[h][:, c0:c0+64]
 * (rows padded by 16 B: ldmatrix reads 8 rows at 144-byte stride, conflict-free). Warp w computes
 * ql[:, h, c0+16w : c0+16w+16] [16·MT, 16] = sQ [16·MT, dn] · sW[:, 16w:16w+16] [dn, 16].
 * Slice 0 of each head also copies the rope part q[:, h, dn:] → ql[:, h, r:] (no separate launch).
 * ROPE (rope_absorb_q; ra is unused otherwise): the grid has y0 = gridDim.y − H more rows of blocks, first;
 * block (x, y < y0) writes c' into the cache row of token t = y·gridDim.x + x (lt_rope_cache_c, 128
 * threads, cw prefetched into L1 before the PDL wait), head h = blockIdx.y − y0. Slice 0 of head h stores
 * q_pe rotated by the token's position instead of copying it (the bits lt_k_rope_cache leaves in q), and
 * also the rotated k_pe of tokens h, h+H, ... into their cache rows: the pair rotations (lt_rope_pairs4,
 * 16 B = 4 pairs per item, all in flight together) run where the cos / sin loads are anyway, and the cache
 * blocks keep only the norm (one round trip to memory, not three). */
template <int MT, bool ROPE>
__global__ void __launch_bounds__(128) lt_k_mla_absorb_q_small(const bf16 *q, const bf16 *w_kc, bf16 *ql, int rows,
                                                               int H, int dn, int dr, int r, lt_rope_cache_args ra) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight-slice copies are issued (cuda_common.h) */
  const int y0 = ROPE ? (int)gridDim.y - H : 0;
  if (ROPE && (int)blockIdx.y < y0) {
    lt_rope_cache_c_prefetch(ra);
    LT_PDL_WAIT();  /* c is the previous kernel's output */
    const int t = blockIdx.y * gridDim.x + blockIdx.x;
    if (t < rows) lt_rope_cache_c(ra, t, ra.cache + (int64_t)ra.slots[t] * (r + dr));  /* block-uniform t: a block sum inside */
    return;
  }
  extern __shared__ __align__(16) unsigned char lt_abq_smem[];
  const int qld = dn + 8, wld = LT_ABQ_RS + 8;
  bf16 *sQ = (bf16 *)lt_abq_smem;
  bf16 *sW = sQ + MT * 16 * qld;
  const int h = blockIdx.y - y0, c0 = blockIdx.x * LT_ABQ_RS, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  /* weight slice: dn rows × 8 chunks of 16 B, 8 per thread at dn = 128, one commit group */
  const bf16 *wg = w_kc + (size_t)h * dn * r + c0;
  for (int i = tid; i < dn * (LT_ABQ_RS / 8); i += 128) {
    int d = i >> 3, ch = i & 7;
    cp_async16(sW + d * wld + ch * 8, wg + (size_t)d * r + ch * 8, 16);
  }
  LT_PDL_WAIT();  /* q is the previous kernels' output */
  const int qch = dn / 8;
  for (int i = tid; i < MT * 16 * qch; i += 128) {
    int t = i / qch, ch = i % qch;
    int ok = t < rows;
    cp_async16(sQ + t * qld + ch * 8, q + ((size_t)(ok ? t : 0) * H + h) * (dn + dr) + ch * 8, ok ? 16 : 0);
  }
  cp_async_commit();
  if (blockIdx.x == 0) {  /* ql[t, h, r:r+dr] = q[t, h, dn:dn+dr] (ROPE: rotated), 16 B = 4 pairs per item */
    const int pch = dr / 8;
    const int nk = ROPE ? (rows - h + H - 1) / H : 0;  /* ROPE: k_pe rows h, h+H, ... < rows, items after q's */
    for (int i = tid; i < (rows + nk) * pch; i += 128) {
      const int j = i / pch, ch = i % pch;
      const bool qrow = !ROPE || j < rows;
      const int t = qrow ? j : h + (j - rows) * H;
      const bf16 *src = qrow ? q + ((size_t)t * H + h) * (dn + dr) + dn : ra.kpe + t * ra.kpe_stride;
      bf16 *dst = qrow ? ql + ((size_t)t * H + h) * (r + dr) + r : ra.cache + (int64_t)ra.slots[t] * (r + dr) + r;
      uint4 v = *(const uint4 *)(src + ch * 8);
      if (ROPE) {
        const int64_t cs = (int64_t)ra.positions[t] * (dr / 2) + ch * 4;  /* pairs 4ch .. 4ch+3 at the position */
        v = lt_rope_pairs4(v, ra.cos + cs, ra.sin + cs);
      }
      *(uint4 *)(dst + ch * 8) = v;
    }
  }
  cp_async_wait<0>();
  __syncthreads();
  float acc[MT][2][4];
#pragma unroll
  for (int m = 0; m < MT; m++)
#pragma unroll
    for (int n = 0; n < 2; n++) acc[m][n][0] = acc[m][n][1] = acc[m][n][2] = acc[m][n][3] = 0.f;
  /* B (k = d rows, n = columns) by ldmatrix.trans: lanes 0-7 / 8-15 read k rows 0-7 / 8-15 of the
   * warp's first 8 columns, lanes 16-31 the same for the next 8: b[0..1] = n-tile 0, b[2..3] = n-tile 1.
   * A (token rows, k contiguous) by ldmatrix: lanes 0-15 rows 0-15 at k, lanes 16-31 at k + 8. */
  const bf16 *bp = sW + (lane & 7) * wld + ((lane >> 3) & 1) * 8 * wld + warp * 16 + (lane >> 4) * 8;
  const bf16 *ap = sQ + (lane & 15) * qld + (lane >> 4) * 8;
  for (int k = 0; k < dn; k += 16) {
    uint32_t b[4];
    ldsm_x4_t(b, bp + k * wld);
#pragma unroll
    for (int m = 0; m < MT; m++) {
      uint32_t a[4];
      ldsm_x4(a, ap + m * 16 * qld + k);
      /* C [16 tokens, 8 cols] += A [16, 16 of d] · B [16 of d, 8 cols], two n-tiles */
      mma_bf16(acc[m][0], a, b[0], b[1]);
      mma_bf16(acc[m][1], a, b[2], b[3]);
    }
  }
  /* C fragment: c0,c1 = (token g, cols 2q4, 2q4+1), c2,c3 = token g+8 */
  const int g = lane >> 2, q4 = lane & 3;
#pragma unroll
  for (int m = 0; m < MT; m++)
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      int t = m * 16 + g + hh * 8;
      if (t >= rows) continue;
      bf16 *o = ql + ((size_t)t * H + h) * (r + dr) + c0 + warp * 16 + 2 * q4;
#pragma unroll
      for (int n = 0; n < 2; n++)
        *(__nv_bfloat162 *)(o + n * 8) = __floats2bfloat162_rn(acc[m][n][2 * hh], acc[m][n][2 * hh + 1]);
    }
}

static int lt_abq_aligned16(const void *a, const void *b, const void *c) {
  return (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15) == 0;
}

/* the streaming kernel serves rows ≤ the bound, dn a multiple of 16 and ≤ 192, r of 64, dr of 8, 16-byte-aligned
 * pointers */
static int lt_abq_small(int rows, const lt_mla_w *w, int dr, const void *q, const void *ql) {
  return rows <= lt_mla_small_bound(w->heads, 0) && w->dn % 16 == 0 && w->dn <= LT_ABQ_MAXDN && w->r % LT_ABQ_RS == 0 &&
         dr % 8 == 0 && lt_abq_aligned16(q, ql, w->w_kc);
}

/* per head h: ql[:, h, :r] [rows, r] = q_nope[:, h] [rows, dn] · w_kc[h] [dn, r] by the streaming kernel; grid
 * r/64 × H, and with ra (rope_absorb_q) ceil(rows / (r/64)) more rows of blocks for the cache write (ROPE) */
static latte_status lt_abq_small_launch(lt_cuda_ctx *c, const void *q, const lt_mla_w *w, int dr, void *ql, int rows,
                                        const lt_rope_cache_args *ra) {
  typedef void (*kern_t)(const bf16 *, const bf16 *, bf16 *, int, int, int, int, int, lt_rope_cache_args);
  const int H = w->heads, dn = w->dn, r = w->r, mt = rows <= 16 ? 1 : 2, gx = r / LT_ABQ_RS;
  const size_t smem = (size_t)mt * 16 * (dn + 8) * 2 + (size_t)dn * (LT_ABQ_RS + 8) * 2;
  const dim3 grid(gx, H + (ra ? (rows + gx - 1) / gx : 0));
  const kern_t k = ra ? (mt == 1 ? lt_k_mla_absorb_q_small<1, true> : lt_k_mla_absorb_q_small<2, true>)
                      : (mt == 1 ? lt_k_mla_absorb_q_small<1, false> : lt_k_mla_absorb_q_small<2, false>);
  lt_rope_cache_args none;
  memset(&none, 0, sizeof none);
  (void)lt_launch(k, grid, 128, smem, c->stream, (const bf16 *)q, (const bf16 *)w->w_kc, (bf16 *)ql, rows, H, dn, dr,
                  r, ra ? *ra : none);
  LT_LAUNCH_CHECK(ra ? "rope_absorb_q_small" : "mla_absorb_q_small");
  return LATTE_OK;
}

extern "C" latte_status lt_cuda_mla_absorb_q(lt_backend *b, const void *q, const lt_mla_w *w, int dr, void *ql,
                                             int rows) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  int H = w->heads, dn = w->dn, r = w->r;
  if (rows <= 0) return LATTE_OK;
  if (lt_abq_small(rows, w, dr, q, ql)) return lt_abq_small_launch(c, q, w, dr, ql, rows, NULL);
  const float one = 1.0f, zero = 0.0f;
  /* per head h (batch): ql[:, h, :r] [rows, r] = q_nope[:, h] [rows, dn] · w_kc[h] [dn, r];
   * column-major: ql_hᵀ [r, rows] = w_kc[h]ᵀ [r, dn] (ld r) · q_nope_hᵀ [dn, rows] (ld H(dn+dr)) */
  LT_CUBLAS_TRY(cublasGemmStridedBatchedEx(
      c->blas, CUBLAS_OP_N, CUBLAS_OP_N, r, rows, dn, &one,
      w->w_kc, CUDA_R_16BF, r, (long long)dn * r,
      q, CUDA_R_16BF, H * (dn + dr), (long long)(dn + dr), &zero,
      ql, CUDA_R_16BF, H * (r + dr), (long long)(r + dr), H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  int64_t n = (int64_t)rows * H * dr;
  if (n) {
    (void)lt_launch(lt_k_mla_copy_pe, (unsigned)((n + 255) / 256), 256, 0, c->stream, (const bf16 *)q, (bf16 *)ql, rows, H, dn, dr, r);
    LT_LAUNCH_CHECK("mla_copy_pe");
  }
  return LATTE_OK;
}

/* Testing hook: rope_absorb_q calls that took the fused kernel (the test asserts on it). */
extern "C" long lt_cuda_rope_absorb_q_fused;
long lt_cuda_rope_absorb_q_fused = 0;

/* rope_absorb_q: where mla_absorb_q takes its streaming kernel (T ≤ its bound, the same conditions), the op's
 * dims are w's and k_pe, cos / sin and the cache allow 16-byte accesses, ONE launch: that kernel with ROPE
 * (above) — c' written by extra blocks, q_pe and k_pe rotated by the heads' rope-part blocks — bitwise
 * rope_cache_write + mla_absorb_q; q itself is left unrotated (the op allows it: nothing reads q after).
 * Everywhere else the two ops in sequence (backend.c). */
extern "C" latte_status lt_cuda_rope_absorb_q(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads,
                                              int dn, int dr, const void *c, int64_t c_stride, const float *c_norm,
                                              float eps, const void *kpe, int64_t kpe_stride, int r, void *cache,
                                              const lt_mla_w *w, void *ql) {
  const int T = f->num_tokens;
  if (T > 0 && rope->dim == dr && heads == w->heads && dn == w->dn && r == w->r && lt_abq_small(T, w, dr, q, ql) &&
      kpe_stride % 8 == 0 && (((uintptr_t)rope->cos | (uintptr_t)rope->sin | (uintptr_t)kpe | (uintptr_t)cache) & 15) == 0) {
    /* (16-byte loads of cos / sin and k_pe, stores into the cache rows: r + dr is a multiple of 8 here) */
    const lt_rope_cache_args a = {f->d_positions, f->d_out_slots, rope->cos, rope->sin, (const bf16 *)c, c_stride,
                                  c_norm, eps, (const bf16 *)kpe, kpe_stride, (bf16 *)cache, r, dr};
    lt_cuda_rope_absorb_q_fused++;
    return lt_abq_small_launch((lt_cuda_ctx *)b->ctx, q, w, dr, ql, T, &a);
  }
  return lt_rope_absorb_q_seq(b, f, rope, q, heads, dn, dr, c, c_stride, c_norm, eps, kpe, kpe_stride, r, cache, w, ql);
}
