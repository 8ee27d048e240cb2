/* cuda_attn.cu — extend / prefill MHA on the GPU: the op's dispatch (the real dims go to the wgmma kernel of
 * cuda_attn_wg.cu) and flash-attention-2 style tiling on tensor cores (mma.sync m16n8k16 bf16, online softmax
 * in fp32), keys assembled from kvb's k_nope and the latent's shared k_pe; variable-length causal with a cached
 * prefix. Generic scalar fallback. */
#include "backend/cuda/cuda_ops.h"
#include <math.h>
#include <string.h>

typedef __nv_bfloat16 bf16;

#include "backend/cuda/cuda_mma.cuh"

typedef struct {
  const bf16 *q;      /* [T, H, dn+dr] */
  const bf16 *kvb;    /* [num_kv, H, dn+dv] */
  const bf16 *lat;    /* [num_kv, r+dr] */
  bf16 *out;          /* [T, H, dv] */
  const int32_t *qo_indptr, *seq_lens, *kv_tok_indptr;
  int heads, dn, dr, dv, r;
  float scale_log2;
} lt_ext_params;

enum { EXT_BN = 64 };  /* KV rows per tile; BM (query rows per CTA, 16 per warp) is a template size */

template <int DQK, int DV, int BM>
struct ext_cfg {
  static const int THREADS = BM * 2;             /* one warp per 16 query rows */
  static const int QLD = DQK + 8, VLD = DV + 8;  /* padded rows: conflict-free ldmatrix */
  static const int SMEM = (BM * QLD + 2 * EXT_BN * QLD + 2 * EXT_BN * VLD) * 2;
};

/* K rows [j0, j0+BN) = [kvb k_nope (dn) | lat k_pe (dr)] and V rows = kvb v (dv) into buffer buf */
template <int DQK, int DV, int BM>
static __device__ __forceinline__ void ext_load_kv(const lt_ext_params &p, int64_t base, int h, int j0, int kv_end,
                                                   bf16 *sK, bf16 *sV, int tid) {
  typedef ext_cfg<DQK, DV, BM> C;
  const int CK = DQK / 8, CR = CK + DV / 8, dn8 = p.dn / 8;
  for (int i = tid; i < EXT_BN * CR; i += C::THREADS) {
    int row = i / CR, ch = i % CR, j = j0 + row;
    bool ok = j < kv_end;
    int64_t jj = ok ? base + j : base;
    const bf16 *kvrow = p.kvb + (jj * p.heads + h) * (int64_t)(p.dn + p.dv);
    const bf16 *src;
    bf16 *dst;
    if (ch < dn8) { src = kvrow + ch * 8; dst = sK + row * C::QLD + ch * 8; }
    else if (ch < CK) { src = p.lat + jj * (int64_t)(p.r + p.dr) + p.r + (ch - dn8) * 8; dst = sK + row * C::QLD + ch * 8; }
    else { src = kvrow + p.dn + (ch - CK) * 8; dst = sV + row * C::VLD + (ch - CK) * 8; }
    cp_async16(dst, src, ok ? 16 : 0);
  }
}

/* CTA = BM new tokens of one sequence × one head; warp w owns query rows [16w, 16w+16). */
template <int DQK, int DV, int BM>
__global__ void __launch_bounds__(BM * 2) lt_k_attn_extend(lt_ext_params p) {
  LT_PDL_ENTER();
  typedef ext_cfg<DQK, DV, BM> C;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16 *sQ = (bf16 *)smem;
  bf16 *sK = sQ + BM * C::QLD;
  bf16 *sV = sK + 2 * EXT_BN * C::QLD;

  const int qt = gridDim.x - 1 - blockIdx.x;  /* heaviest (latest) query tiles first */
  const int h = blockIdx.y, s = blockIdx.z;
  const int q0 = p.qo_indptr[s], qlen = p.qo_indptr[s + 1] - q0;
  if (qt * BM >= qlen) return;
  const int seq_len = p.seq_lens[s], prefix = seq_len - qlen;
  const int64_t base = p.kv_tok_indptr[s];
  const int qs = qt * BM;
  const int kv_end = min(seq_len, prefix + min(qlen, qs + BM));
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, q4 = lane & 3;

  for (int i = tid; i < BM * (DQK / 8); i += C::THREADS) {
    int row = i / (DQK / 8), ch = i % (DQK / 8);
    bool ok = qs + row < qlen;
    const bf16 *src = p.q + ((int64_t)(q0 + (ok ? qs + row : 0)) * p.heads + h) * DQK + ch * 8;
    cp_async16(sQ + row * C::QLD + ch * 8, src, ok ? 16 : 0);
  }
  const int ntiles = (kv_end + EXT_BN - 1) / EXT_BN;
  ext_load_kv<DQK, DV, BM>(p, base, h, 0, kv_end, sK, sV, tid);
  cp_async_commit();

  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  float o[DV / 8][4];
#pragma unroll
  for (int i = 0; i < DV / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  const int lim0 = prefix + qs + warp * 16 + g;  /* row g may attend context j <= lim0; row g+8: lim0+8 */

  for (int it = 0; it < ntiles; it++) {
    if (it + 1 < ntiles)
      ext_load_kv<DQK, DV, BM>(p, base, h, (it + 1) * EXT_BN, kv_end, sK + ((it + 1) & 1) * EXT_BN * C::QLD,
                           sV + ((it + 1) & 1) * EXT_BN * C::VLD, tid);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const bf16 *K = sK + (it & 1) * EXT_BN * C::QLD, *V = sV + (it & 1) * EXT_BN * C::VLD;

    /* S [16, 64] = Q [16 rows of warp, DQK] · K [64, DQK]ᵀ */
    float sacc[EXT_BN / 8][4];
#pragma unroll
    for (int i = 0; i < EXT_BN / 8; i++) sacc[i][0] = sacc[i][1] = sacc[i][2] = sacc[i][3] = 0.f;
    const bf16 *qa = sQ + (warp * 16 + (lane & 15)) * C::QLD + (lane >> 4) * 8;
    const bf16 *kb = K + ((lane & 7) + (lane >> 4) * 8) * C::QLD + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int k = 0; k < DQK; k += 16) {
      uint32_t a[4];
      ldsm_x4(a, qa + k);
#pragma unroll
      for (int np = 0; np < EXT_BN / 16; np++) {
        uint32_t bb[4];
        ldsm_x4(bb, kb + np * 16 * C::QLD + k);
        mma_bf16(sacc[2 * np], a, bb[0], bb[1]);
        mma_bf16(sacc[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    /* causal mask, log2-domain scale, online softmax (rows g and g+8 of the warp) */
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < EXT_BN / 8; i++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int j = it * EXT_BN + i * 8 + 2 * q4 + (e & 1);
        int lim = lim0 + (e >> 1) * 8;
        float v = (j <= lim && j < kv_end) ? sacc[i][e] * p.scale_log2 : -INFINITY;
        sacc[i][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
    float alpha[2], mref[2];
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 1));
      mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 2));
      float mn = fmaxf(m_r[hh], mx[hh]);
      mref[hh] = mn == -INFINITY ? 0.f : mn;  /* a fully masked row so far: avoid inf - inf */
      alpha[hh] = exp2f(m_r[hh] - mref[hh]);
      m_r[hh] = mn;
      l_r[hh] *= alpha[hh];
    }
#pragma unroll
    for (int i = 0; i < DV / 8; i++) {
      o[i][0] *= alpha[0]; o[i][1] *= alpha[0];
      o[i][2] *= alpha[1]; o[i][3] *= alpha[1];
    }
    /* O [16, DV] += P [16, 64] · V [64, DV]: P stays in registers as the A operand */
    const bf16 *vb = V + ((lane & 7) + ((lane >> 3) & 1) * 8) * C::VLD + (lane >> 4) * 8;
#pragma unroll
    for (int kk = 0; kk < EXT_BN / 16; kk++) {
      float p0[4], p1[4];
#pragma unroll
      for (int e = 0; e < 4; e++) {
        p0[e] = exp2f(sacc[2 * kk][e] - mref[e >> 1]);
        p1[e] = exp2f(sacc[2 * kk + 1][e] - mref[e >> 1]);
      }
      l_r[0] += p0[0] + p0[1] + p1[0] + p1[1];
      l_r[1] += p0[2] + p0[3] + p1[2] + p1[3];
      uint32_t a[4] = {pack_bf16(p0[0], p0[1]), pack_bf16(p0[2], p0[3]), pack_bf16(p1[0], p1[1]),
                       pack_bf16(p1[2], p1[3])};
#pragma unroll
      for (int np = 0; np < DV / 16; np++) {
        uint32_t bb[4];
        ldsm_x4_t(bb, vb + kk * 16 * C::VLD + np * 16);
        mma_bf16(o[2 * np], a, bb[0], bb[1]);
        mma_bf16(o[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 1);
    l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 2);
    int row = qs + warp * 16 + g + hh * 8;
    if (row >= qlen) continue;
    float inv = 1.f / l_r[hh];
    bf16 *og = p.out + ((int64_t)(q0 + row) * p.heads + h) * DV + 2 * q4;
#pragma unroll
    for (int i = 0; i < DV / 8; i++)
      *(__nv_bfloat162 *)(og + i * 8) = __floats2bfloat162_rn(o[i][2 * hh] * inv, o[i][2 * hh + 1] * inv);
  }
}

/* Generic fallback: one warp per (new token, head), online softmax one context token at a time;
 * dn+dr <= 512, dv <= 512. */
enum { EXT_GEN_MAX = 16 };
__global__ void lt_k_attn_extend_generic(lt_ext_params p, int num_seqs) {
  LT_PDL_ENTER();
  const int h = blockIdx.x, t = blockIdx.y, lane = threadIdx.x;
  int lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (p.qo_indptr[mid] <= t) lo = mid; else hi = mid - 1;
  }
  const int q0 = p.qo_indptr[lo], qlen = p.qo_indptr[lo + 1] - q0;
  const int n = p.seq_lens[lo] - qlen + (t - q0) + 1;
  const int64_t base = p.kv_tok_indptr[lo];
  const int dqk = p.dn + p.dr;
  const bf16 *qg = p.q + ((int64_t)t * p.heads + h) * dqk;
  float q[EXT_GEN_MAX], o[EXT_GEN_MAX];
#pragma unroll
  for (int i = 0; i < EXT_GEN_MAX; i++) {
    int d = lane + 32 * i;
    q[i] = d < dqk ? __bfloat162float(qg[d]) : 0.f;
    o[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = 0; j < n; j++) {
    const bf16 *kv = p.kvb + ((base + j) * p.heads + h) * (int64_t)(p.dn + p.dv);
    const bf16 *kpe = p.lat + (base + j) * (int64_t)(p.r + p.dr) + p.r;
    float acc = 0.f;
#pragma unroll
    for (int i = 0; i < EXT_GEN_MAX; i++) {
      int d = lane + 32 * i;
      if (d < p.dn) acc += q[i] * __bfloat162float(kv[d]);
      else if (d < dqk) acc += q[i] * __bfloat162float(kpe[d - p.dn]);
    }
#pragma unroll
    for (int off = 16; off; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    float sc = acc * p.scale_log2, mn = fmaxf(m, sc), al = exp2f(m - mn), pj = exp2f(sc - mn);
    l = l * al + pj;
    m = mn;
#pragma unroll
    for (int i = 0; i < EXT_GEN_MAX; i++) {
      int d = lane + 32 * i;
      if (d < p.dv) o[i] = o[i] * al + pj * __bfloat162float(kv[p.dn + d]);
    }
  }
  float inv = 1.f / l;
#pragma unroll
  for (int i = 0; i < EXT_GEN_MAX; i++) {
    int d = lane + 32 * i;
    if (d < p.dv) p.out[((int64_t)t * p.heads + h) * p.dv + d] = __float2bfloat16(o[i] * inv);
  }
}

template <int DQK, int DV, int BM>
static latte_status launch_ext_bm(lt_cuda_ctx *c, const lt_ext_params &p, const lt_fwd *f) {
  static int attr_set = 0;
  const int smem = ext_cfg<DQK, DV, BM>::SMEM;
  if (!attr_set) {
    LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_attn_extend<DQK, DV, BM>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    attr_set = 1;
  }
  dim3 grid((f->max_q_len + BM - 1) / BM, p.heads, f->num_seqs);
  (void)lt_launch(lt_k_attn_extend<DQK, DV, BM>, grid, BM * 2, smem, c->stream, p);
  LT_LAUNCH_CHECK("attn_extend");
  return LATTE_OK;
}

enum { EXT_DEFAULT_BM = 128 };  /* 128 rows / 8 warps measured faster (docs/cuda-attention.md) */
static int ext_forced = 0;
/* Tuning / testing hook (not in the op table), the kernel for the next calls: 0 = automatic (the wgmma kernel
 * of cuda_attn_wg.cu, overlapped schedule, where it serves: dn 128, dr 64, dv 128, r % 8 = 0; else the mma.sync
 * kernel with BM 128); 64 or 128 = the mma.sync kernel with that many query rows per CTA; 1 = the wgmma kernel
 * (its overlapped schedule, the automatic one), 2 = the wgmma kernel's synchronous schedule. Where the dims
 * don't fit the wgmma kernel, 1 and 2 take the automatic choice. */
extern "C" void lt_cuda_attn_extend_variant(int v) { ext_forced = v; }

template <int DQK, int DV>
static latte_status launch_ext(lt_cuda_ctx *c, const lt_ext_params &p, const lt_fwd *f) {
  int bm = ext_forced == 64 || ext_forced == 128 ? ext_forced : EXT_DEFAULT_BM;
  return bm == 128 ? launch_ext_bm<DQK, DV, 128>(c, p, f) : launch_ext_bm<DQK, DV, 64>(c, p, f);
}

extern "C" latte_status lt_cuda_attn_extend(lt_backend *b, const lt_fwd *f, const void *q, const void *kvb,
                                            const void *lat, void *out, int H, int dn, int dr, int dv, int r,
                                            float scale) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (f->num_tokens <= 0 || f->num_seqs <= 0) return LATTE_OK;
  if (ext_forced != 64 && ext_forced != 128 && dn == 128 && dr == 64 && dv == 128 && r % 8 == 0)
    return lt_cuda_attn_extend_wg(b, f, q, kvb, lat, out, H, dn, dr, dv, r, scale, ext_forced == 2);
  lt_ext_params p;
  memset(&p, 0, sizeof p);
  p.q = (const bf16 *)q; p.kvb = (const bf16 *)kvb; p.lat = (const bf16 *)lat; p.out = (bf16 *)out;
  p.qo_indptr = f->d_qo_indptr; p.seq_lens = f->d_seq_lens; p.kv_tok_indptr = f->d_kv_tok_indptr;
  p.heads = H; p.dn = dn; p.dr = dr; p.dv = dv; p.r = r;
  p.scale_log2 = scale * 1.4426950408889634f;
  const int aligned = dn % 8 == 0 && dr % 8 == 0 && dv % 8 == 0 && r % 8 == 0;
  if (aligned && dn + dr == 192 && dv == 128) return launch_ext<192, 128>(c, p, f);
  if (aligned && dn + dr == 96 && dv == 64) return launch_ext<96, 64>(c, p, f);
  if (aligned && dn + dr == 128 && dv == 128) return launch_ext<128, 128>(c, p, f);
  if (dn + dr > 32 * EXT_GEN_MAX || dv > 32 * EXT_GEN_MAX)
    return lt_err(LATTE_ERR_UNSUPPORTED, "attn_extend: head dims %d+%d / %d beyond the cuda kernels", dn, dr, dv);
  (void)lt_launch(lt_k_attn_extend_generic, dim3(H, f->num_tokens), 32, 0, c->stream, p, f->num_seqs);
  LT_LAUNCH_CHECK("attn_extend_generic");
  return LATTE_OK;
}
