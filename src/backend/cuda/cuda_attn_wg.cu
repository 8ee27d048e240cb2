/* cuda_attn_wg.cu — extend / prefill MHA for the real DeepSeek head dims (qk = k_nope 128 + k_pe 64, v 128) on
 * Hopper warpgroup MMA (wgmma, sm_90a): variable-length causal with a cached prefix, keys assembled from kvb's
 * k_nope and the latent's shared k_pe, online softmax in fp32. Same inputs and result as cuda_attn.cu's kernels. */
#include "backend/cuda/cuda_ops.h"
#include <math.h>
#include <string.h>

typedef __nv_bfloat16 bf16;

#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_wgmma.cuh"

/* CTA = 128 new tokens (query rows) of one sequence × one head, 256 threads = 2 warpgroups; warpgroup w owns
 * query rows [64w, 64w+64), warp k of it rows 16k.. (the wgmma accumulator order, cuda_wgmma.cuh). KV tiles of
 * 128 rows. Every thread also loads (cp.async, 16 bytes each).
 *
 * Shared memory, every matrix in wgmma's 128-byte-swizzled layout (8-row × 128-byte atoms, 1024-aligned;
 * 16-byte chunk c of row i at c ^ (i & 7)), in blocks of 64 columns, block b of an R-row matrix at b·R·128 bytes:
 *   Q [128, 192]       3 blocks (k_nope 0-63, 64-127, k_pe)  K-major A of S = Q·Kᵀ        48 KB
 *   K [128, 192] × 2   3 blocks (kvb k_nope ×2, lat k_pe)   K-major B of S              2 × 48 KB
 *   V [128, 128] × 2   2 blocks (kvb v 0-63, 64-127)        MN-major B of O += P·V       2 × 32 KB
 * P never goes to shared memory: the S accumulator fragment is, packed to bf16, the register A operand of P·V.
 *
 * Two schedules of the same tiles (a template flag):
 *   OVL = 0 (synchronous): per tile S, softmax, P·V, each wgmma batch waited for at once.
 *   OVL = 1 (default): S(n) and P(n−1)·V(n−1) are issued together; the softmax of S(n) runs while P·V is in
 *     flight (FlashAttention-3's intra-warpgroup overlap), then O is rescaled. K and V are double-buffered
 *     separately: while tile n is computed, K(n+1) and V(n) land.
 * Causal: tiles wholly at or below the diagonal of a warpgroup's first row are not masked; tiles wholly past its
 * last row are not computed (the warpgroup only keeps the barriers). Heaviest query tiles are launched first. */
enum { AWG_BM = 128, AWG_BN = 128, AWG_DN = 128, AWG_DR = 64, AWG_DQK = 192, AWG_DV = 128, AWG_THREADS = 256 };
enum {
  AWG_Q_BYTES = AWG_BM * AWG_DQK * 2, AWG_K_BYTES = AWG_BN * AWG_DQK * 2, AWG_V_BYTES = AWG_BN * AWG_DV * 2,
  AWG_SMEM = AWG_Q_BYTES + 2 * AWG_K_BYTES + 2 * AWG_V_BYTES + 1024  /* + slack to align the base to 1024 */
};

typedef struct {
  const bf16 *q;      /* [T, H, 192] */
  const bf16 *kvb;    /* [num_kv, H, 128 + 128]: k_nope | v */
  const bf16 *lat;    /* [num_kv, r + 64]: k_pe at column r */
  bf16 *out;          /* [T, H, 128] */
  const int32_t *qo_indptr, *seq_lens, *kv_tok_indptr;
  int heads, r;
  float scale_log2;   /* softmax scale × log2(e) */
} lt_awg_params;

static __device__ __forceinline__ unsigned char *awg_align1k(unsigned char *s) {
  return s + ((1024u - ((uint32_t)__cvta_generic_to_shared(s) & 1023u)) & 1023u);
}

/* element offset of 16-byte chunk c8 (0-7) of row `row` in a 64-column block of the swizzled layout */
static __device__ __forceinline__ int awg_swz(int row, int c8) { return row * 64 + ((c8 ^ (row & 7)) << 3); }

/* Q rows [qs, qs+128) of the sequence (token q0 + row, head h) into sQ; rows at or past qlen zero-filled.
 * Thread: chunk tid & 7 of a 128-byte line, rows (tid >> 3) + 32i — a warp reads 4 whole lines per copy. */
static __device__ __forceinline__ void awg_load_q(const lt_awg_params &p, int q0, int qs, int qlen, int h, bf16 *sQ,
                                                  int tid) {
  const int c8 = tid & 7;
#pragma unroll
  for (int i = 0; i < AWG_BM / 32; i++) {
    const int row = (tid >> 3) + 32 * i;
    const bool ok = qs + row < qlen;
    const bf16 *src = p.q + ((int64_t)(q0 + (ok ? qs + row : 0)) * p.heads + h) * AWG_DQK + c8 * 8;
    const int o = awg_swz(row, c8);
#pragma unroll
    for (int b = 0; b < AWG_DQK / 64; b++) cp_async16(sQ + b * AWG_BM * 64 + o, src + b * 64, ok ? 16 : 0);
  }
}

/* Row (tid >> 3) + 32·i of a KV tile starting at token j0: its swizzled offset o (chunk tid & 7), its token
 * index jj in kvb / lat (base + j; base for rows at or past kv_end) and the cp.async size n (16, or 0: the
 * row is zero-filled) */
struct awg_kv_row { int o, n; int64_t jj; };
static __device__ __forceinline__ awg_kv_row awg_kv_at(int64_t base, int j0, int kv_end, int tid, int i) {
  const int row = (tid >> 3) + 32 * i, j = j0 + row;
  const bool ok = j < kv_end;
  awg_kv_row r;
  r.o = awg_swz(row, tid & 7);
  r.n = ok ? 16 : 0;
  r.jj = base + (ok ? j : 0);
  return r;
}

/* K rows [j0, j0+128) = [kvb k_nope (128) | lat k_pe (64)] into sK; rows at or past kv_end zero-filled */
static __device__ __forceinline__ void awg_load_k(const lt_awg_params &p, int64_t base, int h, int j0, int kv_end,
                                                  bf16 *sK, int tid) {
  const int c8 = tid & 7;
#pragma unroll
  for (int i = 0; i < AWG_BN / 32; i++) {
    const awg_kv_row r = awg_kv_at(base, j0, kv_end, tid, i);
    const bf16 *kv = p.kvb + (r.jj * p.heads + h) * (AWG_DN + AWG_DV) + c8 * 8;
    const bf16 *kpe = p.lat + r.jj * (int64_t)(p.r + AWG_DR) + p.r + c8 * 8;
    cp_async16(sK + r.o, kv, r.n);
    cp_async16(sK + AWG_BN * 64 + r.o, kv + 64, r.n);
    cp_async16(sK + 2 * AWG_BN * 64 + r.o, kpe, r.n);
  }
}

/* V rows [j0, j0+128) = kvb v (128) into sV; rows at or past kv_end zero-filled (P is 0 there, and 0 · garbage
 * could be NaN) */
static __device__ __forceinline__ void awg_load_v(const lt_awg_params &p, int64_t base, int h, int j0, int kv_end,
                                                  bf16 *sV, int tid) {
  const int c8 = tid & 7;
#pragma unroll
  for (int i = 0; i < AWG_BN / 32; i++) {
    const awg_kv_row r = awg_kv_at(base, j0, kv_end, tid, i);
    const bf16 *v = p.kvb + (r.jj * p.heads + h) * (AWG_DN + AWG_DV) + AWG_DN + c8 * 8;
    cp_async16(sV + r.o, v, r.n);
    cp_async16(sV + AWG_BN * 64 + r.o, v + 64, r.n);
  }
}

/* S [64, 128] = Q [64 rows of the warpgroup, 192] · K [128, 192]ᵀ: 12 k16 steps, step ks in 64-column block
 * ks / 4 (rows · 128 bytes per block), 32 bytes per step inside it. Issued (after the fence that orders every
 * earlier register write) and committed; the caller waits. */
static __device__ __forceinline__ void awg_issue_s(float (&s)[16][4], uint64_t dq, uint64_t dk) {
#pragma unroll
  for (int i = 0; i < 16; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) { s[i][e] = 0.f; lt_wg_keep(s[i][e]); }
  lt_wg_fence();
#pragma unroll
  for (int ks = 0; ks < AWG_DQK / 16; ks++)
    lt_wg_m64n128k16(&s[0][0], dq + (uint64_t)(((ks >> 2) * AWG_BM * 128 + (ks & 3) * 32) >> 4),
                     dk + (uint64_t)(((ks >> 2) * AWG_BN * 128 + (ks & 3) * 32) >> 4), ks > 0);
  lt_wg_commit();
}

/* O [64, 128] += P [64, 128 KV rows] (registers) · V [128 KV rows, 128] (MN-major: the two 64-column blocks
 * BN·128 bytes apart, 8-row groups 1024 bytes; step kk = KV rows 16kk.. = 2048 bytes on). P fragment of step kk:
 * accumulator chunks 2kk and 2kk+1. Issued and committed; the caller waits. */
static __device__ __forceinline__ void awg_issue_pv(float (&o)[16][4], const uint32_t (&pa)[16][2], uint64_t dv) {
#pragma unroll
  for (int kk = 0; kk < AWG_BN / 16; kk++) {
    const uint32_t a[4] = {pa[2 * kk][0], pa[2 * kk][1], pa[2 * kk + 1][0], pa[2 * kk + 1][1]};
    lt_wg_m64n128k16_rs_tb(&o[0][0], a, dv + (uint64_t)((kk * 2048) >> 4));
  }
  lt_wg_commit();
}

/* Online softmax of one S tile (columns j0 + 8i + 2q4 + {0,1}, this thread's rows: lim[0] / lim[1] = the last
 * column each may see): masked entries −∞ (MASK), row maxima over the quad, m (log2 domain, scaled) and l
 * updated, alpha = the factor the row's O must be multiplied by; s ← P = exp2(s·scale − m) in fp32. */
template <int MASK>
static __device__ __forceinline__ void awg_softmax(float (&s)[16][4], int j0, int q4, const int (&lim)[2],
                                                   float scale_log2, float (&m_r)[2], float (&l_r)[2],
                                                   float (&alpha)[2]) {
  float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int i = 0; i < 16; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      if (MASK && j0 + i * 8 + 2 * q4 + (e & 1) > lim[e >> 1]) s[i][e] = -INFINITY;
      mx[e >> 1] = fmaxf(mx[e >> 1], s[i][e]);
    }
  float mref[2];
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 1));
    mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 2));
    const float mn = fmaxf(m_r[hh], mx[hh] * scale_log2);  /* scale > 0: the maximum commutes with it */
    mref[hh] = mn == -INFINITY ? 0.f : mn;                  /* a row fully masked so far: avoid inf − inf */
    alpha[hh] = exp2f(m_r[hh] - mref[hh]);
    m_r[hh] = mn;
  }
  float sum[2] = {0.f, 0.f};
#pragma unroll
  for (int i = 0; i < 16; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      s[i][e] = exp2f(fmaf(s[i][e], scale_log2, -mref[e >> 1]));
      sum[e >> 1] += s[i][e];
    }
  l_r[0] = l_r[0] * alpha[0] + sum[0];
  l_r[1] = l_r[1] * alpha[1] + sum[1];
}

static __device__ __forceinline__ void awg_pack_p(const float (&s)[16][4], uint32_t (&pa)[16][2]) {
#pragma unroll
  for (int i = 0; i < 16; i++) {
    pa[i][0] = pack_bf16(s[i][0], s[i][1]);
    pa[i][1] = pack_bf16(s[i][2], s[i][3]);
  }
}

static __device__ __forceinline__ void awg_scale_o(float (&o)[16][4], const float (&alpha)[2]) {
#pragma unroll
  for (int i = 0; i < 16; i++) {
    o[i][0] *= alpha[0]; o[i][1] *= alpha[0];
    o[i][2] *= alpha[1]; o[i][3] *= alpha[1];
  }
}

template <int OVL>
__global__ void __launch_bounds__(AWG_THREADS, 1) lt_k_attn_extend_wg(lt_awg_params p) {
  LT_PDL_ENTER();
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16 *sQ = (bf16 *)awg_align1k(smem_raw);
  bf16 *sK = sQ + AWG_BM * AWG_DQK;   /* 2 buffers */
  bf16 *sV = sK + 2 * AWG_BN * AWG_DQK;  /* 2 buffers */

  const int h = blockIdx.x, s = blockIdx.y, qt = gridDim.z - 1 - blockIdx.z;  /* heaviest (latest) tiles first */
  const int q0 = p.qo_indptr[s], qlen = p.qo_indptr[s + 1] - q0, qs = qt * AWG_BM;
  if (qs >= qlen) return;
  const int seq_len = p.seq_lens[s], prefix = seq_len - qlen;
  const int64_t base = p.kv_tok_indptr[s];
  const int kv_end = min(seq_len, prefix + min(qlen, qs + AWG_BM));  /* the CTA's context: [0, kv_end) */
  const int ntiles = (kv_end + AWG_BN - 1) / AWG_BN;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2, g = lane >> 2, q4 = lane & 3;

  /* this warpgroup: rows [w0, w0+64) of the new tokens; tiles [0, nfull) need no mask, tiles at or past
   * wtiles are not computed (no valid row of the warpgroup sees them) */
  const int w0 = qs + wg * 64;
  const int wtiles = w0 < qlen ? (min(kv_end, prefix + min(qlen, w0 + 64)) + AWG_BN - 1) / AWG_BN : 0;
  const int nfull = min(prefix + w0 + 1, kv_end) / AWG_BN;
  /* this thread's rows row0, row0 + 8 may see context columns up to lim[0], lim[1] (and never kv_end or past) */
  const int row0 = w0 + (warp & 3) * 16 + g;
  const int lim[2] = {min(prefix + row0, kv_end - 1), min(prefix + row0 + 8, kv_end - 1)};

  const uint32_t q_sa = (uint32_t)__cvta_generic_to_shared(sQ), k_sa = (uint32_t)__cvta_generic_to_shared(sK),
                 v_sa = (uint32_t)__cvta_generic_to_shared(sV);
  const uint64_t dq = lt_wg_desc(q_sa + wg * 64 * 128, 16, 1024);  /* Q rows of this warpgroup, K-major */

  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f}, alpha[2];
  float o[16][4];  /* O [64 rows of the warpgroup, 128] */
#pragma unroll
  for (int i = 0; i < 16; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float sacc[16][4];  /* S [64, 128] of one tile, then P in fp32 */
  uint32_t pa[16][2]; /* P in bf16: the register A operand of P·V */

  if constexpr (!OVL) {
    awg_load_q(p, q0, qs, qlen, h, sQ, tid);
    awg_load_k(p, base, h, 0, kv_end, sK, tid);
    awg_load_v(p, base, h, 0, kv_end, sV, tid);
    cp_async_commit();
    for (int n = 0; n < ntiles; n++) {
      const int b = n & 1;
      if (n + 1 < ntiles) {  /* tile n+1 into the other buffers (free: the barrier ending tile n−1) */
        awg_load_k(p, base, h, (n + 1) * AWG_BN, kv_end, sK + (b ^ 1) * AWG_BN * AWG_DQK, tid);
        awg_load_v(p, base, h, (n + 1) * AWG_BN, kv_end, sV + (b ^ 1) * AWG_BN * AWG_DV, tid);
      }
      cp_async_commit();
      cp_async_wait<1>();
      lt_fence_proxy_async();  /* the cp.async writes → the wgmma reads */
      __syncthreads();
      if (n < wtiles) {
        awg_issue_s(sacc, dq, lt_wg_desc(k_sa + b * AWG_K_BYTES, 16, 1024));
        lt_wg_wait<0>();
        lt_wg_keep_all(sacc);
        if (n < nfull) awg_softmax<0>(sacc, n * AWG_BN, q4, lim, p.scale_log2, m_r, l_r, alpha);
        else awg_softmax<1>(sacc, n * AWG_BN, q4, lim, p.scale_log2, m_r, l_r, alpha);
        awg_scale_o(o, alpha);
        awg_pack_p(sacc, pa);
        lt_wg_keep_all(o);
        lt_wg_fence();
        awg_issue_pv(o, pa, lt_wg_desc(v_sa + b * AWG_V_BYTES, AWG_BN * 128, 1024));
        lt_wg_wait<0>();
        lt_wg_keep_all(o);
      }
      __syncthreads();  /* buffers b free for tile n+2 */
    }
  } else {
    /* group 0: Q, K(0); group 1: V(0), K(1). From then on the group issued at tile n holds V(n), K(n+1). */
    awg_load_q(p, q0, qs, qlen, h, sQ, tid);
    awg_load_k(p, base, h, 0, kv_end, sK, tid);
    cp_async_commit();
    awg_load_v(p, base, h, 0, kv_end, sV, tid);
    if (ntiles > 1) awg_load_k(p, base, h, AWG_BN, kv_end, sK + AWG_BN * AWG_DQK, tid);
    cp_async_commit();
    cp_async_wait<1>();
    lt_fence_proxy_async();
    __syncthreads();
    if (wtiles > 0) {
      awg_issue_s(sacc, dq, lt_wg_desc(k_sa, 16, 1024));
      lt_wg_wait<0>();
      lt_wg_keep_all(sacc);
      if (nfull > 0) awg_softmax<0>(sacc, 0, q4, lim, p.scale_log2, m_r, l_r, alpha);
      else awg_softmax<1>(sacc, 0, q4, lim, p.scale_log2, m_r, l_r, alpha);
      awg_pack_p(sacc, pa);  /* O is 0: no rescale */
    }
    /* step n: S(n) with K(n), P(n−1)·V(n−1); step ntiles is the last P·V alone */
    for (int n = 1; n <= ntiles; n++) {
      cp_async_wait<0>();  /* V(n−1), K(n) landed */
      lt_fence_proxy_async();
      __syncthreads();     /* ... for every thread; and step n−1 is done with V(n−2), K(n−1) */
      if (n < ntiles) {
        awg_load_v(p, base, h, n * AWG_BN, kv_end, sV + (n & 1) * AWG_BN * AWG_DV, tid);
        if (n + 1 < ntiles)
          awg_load_k(p, base, h, (n + 1) * AWG_BN, kv_end, sK + ((n + 1) & 1) * AWG_BN * AWG_DQK, tid);
        cp_async_commit();
      }
      const uint64_t dv = lt_wg_desc(v_sa + ((n - 1) & 1) * AWG_V_BYTES, AWG_BN * 128, 1024);
      if (n < wtiles) {
        lt_wg_keep_all(o);
        awg_issue_s(sacc, dq, lt_wg_desc(k_sa + (n & 1) * AWG_K_BYTES, 16, 1024));
        awg_issue_pv(o, pa, dv);
        lt_wg_wait<1>();  /* S(n) done; P(n−1)·V(n−1) may still run */
        lt_wg_keep_all(sacc);
        if (n < nfull) awg_softmax<0>(sacc, n * AWG_BN, q4, lim, p.scale_log2, m_r, l_r, alpha);
        else awg_softmax<1>(sacc, n * AWG_BN, q4, lim, p.scale_log2, m_r, l_r, alpha);
        lt_wg_wait<0>();
        lt_wg_keep_all(o);
#pragma unroll
        for (int i = 0; i < 16; i++) { lt_wg_keep_u(pa[i][0]); lt_wg_keep_u(pa[i][1]); }
        awg_scale_o(o, alpha);
        awg_pack_p(sacc, pa);
      } else if (n - 1 < wtiles) {  /* the warpgroup's last tile: its P·V alone */
        lt_wg_keep_all(o);
        lt_wg_fence();
        awg_issue_pv(o, pa, dv);
        lt_wg_wait<0>();
        lt_wg_keep_all(o);
#pragma unroll
        for (int i = 0; i < 16; i++) { lt_wg_keep_u(pa[i][0]); lt_wg_keep_u(pa[i][1]); }
      }
    }
  }

  /* O / l → out [T, H, 128] bf16, rows below qlen */
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 1);
    l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 2);
    const int row = row0 + hh * 8;
    if (row >= qlen) continue;
    const float inv = 1.f / l_r[hh];
    bf16 *og = p.out + ((int64_t)(q0 + row) * p.heads + h) * AWG_DV + 2 * q4;
#pragma unroll
    for (int i = 0; i < 16; i++)
      *(__nv_bfloat162 *)(og + i * 8) = __floats2bfloat162_rn(o[i][2 * hh] * inv, o[i][2 * hh + 1] * inv);
  }
}

template <int OVL>
static latte_status awg_launch(lt_cuda_ctx *c, const lt_fwd *f, const lt_awg_params &p) {
  static int attr_set = 0;
  if (!attr_set) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_attn_extend_wg<OVL>, cudaFuncAttributeMaxDynamicSharedMemorySize, AWG_SMEM));
    attr_set = 1;
  }
  const int qtiles = (f->max_q_len + AWG_BM - 1) / AWG_BM;
  if (f->num_seqs > 65535 || qtiles > 65535)
    return lt_err(LATTE_ERR_UNSUPPORTED, "attn_extend (wgmma): %d sequences / %d query tiles beyond the grid",
                  f->num_seqs, qtiles);
  dim3 grid(p.heads, f->num_seqs, qtiles);  /* query tiles outermost: the heaviest of every (head, sequence) first */
  (void)lt_launch(lt_k_attn_extend_wg<OVL>, grid, AWG_THREADS, AWG_SMEM, c->stream, p);
  LT_LAUNCH_CHECK("attn_extend_wg");
  return LATTE_OK;
}

/* The wgmma extend for dn 128, dr 64, dv 128 (r % 8 == 0); sync = 1: the synchronous schedule (OVL = 0).
 * LATTE_ERR_UNSUPPORTED for other dims: the caller takes cuda_attn.cu's kernels. */
extern "C" latte_status lt_cuda_attn_extend_wg(lt_backend *b, const lt_fwd *f, const void *q, const void *kvb,
                                               const void *lat, void *out, int heads, int dn, int dr, int dv, int r,
                                               float scale, int sync) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (dn != AWG_DN || dr != AWG_DR || dv != AWG_DV || r % 8 != 0)
    return lt_err(LATTE_ERR_UNSUPPORTED, "attn_extend (wgmma): dims %d+%d / %d, r %d (needs 128+64 / 128, r %% 8 = 0)",
                  dn, dr, dv, r);
  if (f->num_tokens <= 0 || f->num_seqs <= 0) return LATTE_OK;
  lt_awg_params p;
  memset(&p, 0, sizeof p);
  p.q = (const bf16 *)q; p.kvb = (const bf16 *)kvb; p.lat = (const bf16 *)lat; p.out = (bf16 *)out;
  p.qo_indptr = f->d_qo_indptr; p.seq_lens = f->d_seq_lens; p.kv_tok_indptr = f->d_kv_tok_indptr;
  p.heads = heads; p.r = r;
  p.scale_log2 = scale * 1.4426950408889634f;
  return sync ? awg_launch<0>(c, f, p) : awg_launch<1>(c, f, p);
}
