/* cuda_mla.cu — absorbed MLA on the GPU: w_kc / w_vc derived from kv_b_proj, the output projection
 * (strided-batched cuBLAS, or at decode sizes a weight-streaming tensor-core kernel), and the
 * paged-latent-cache decode attention (tensor-core flash decoding over blocks of heads, warp-specialised
 * wgmma at 64 heads; split-KV + log-sum-exp combine; generic fallback); mla_decode_v folds the split-KV
 * combine into the output projection's operand load (one launch fewer per layer). q absorption:
 * cuda_mla_absorb.cu. */
#include "backend/cuda/cuda_ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef __nv_bfloat16 bf16;

/* ---------------------------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------------------------- */

/* y [n, k] bf16 = e4m3 w [n, k] × scale [ceil(n/128), ceil(k/128)] */
__global__ void lt_k_mla_dequant_fp8(const __nv_fp8_e4m3 *w, const float *scale, bf16 *y, int64_t n, int64_t k) {
  LT_PDL_ENTER();
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= n * k) return;
  int64_t row = i / k, col = i % k, sk = (k + 127) / 128;
  y[i] = __float2bfloat16((float)w[i] * scale[(row / 128) * sk + col / 128]);
}

extern "C" latte_status lt_cuda_mla_new(lt_backend *b, const lt_weight *kv_b, int H, int dn, int dv, int r,
                                        lt_mla_w *out) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  memset(out, 0, sizeof *out);
  if (kv_b->n != (int64_t)H * (dn + dv) || kv_b->k != r)
    return lt_err(LATTE_ERR_FORMAT, "kv_b_proj: shape [%lld, %lld], expected [%d, %d]", (long long)kv_b->n,
                  (long long)kv_b->k, H * (dn + dv), r);
  if (kv_b->dtype != LT_BF16 && kv_b->dtype != LT_F8E4M3)
    return lt_err(LATTE_ERR_FORMAT, "kv_b_proj: unsupported dtype %s on cuda", lt_dtype_name(kv_b->dtype));
  const bf16 *src = (const bf16 *)kv_b->data;
  bf16 *tmp = NULL;
  size_t n_el = (size_t)kv_b->n * (size_t)r;
  if (kv_b->dtype == LT_F8E4M3) {  /* --w8a8: dequantise once to bf16 [H*(dn+dv), r] */
    LT_CUDA_TRY(cudaMalloc((void **)&tmp, n_el * sizeof(bf16)));
    (void)lt_launch(lt_k_mla_dequant_fp8, (unsigned)((n_el + 255) / 256), 256, 0, c->stream, 
        (const __nv_fp8_e4m3 *)kv_b->data, kv_b->scale, tmp, kv_b->n, r);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) { cudaFree(tmp); return lt_err(LATTE_ERR_BACKEND, "mla_new: dequant: %s", cudaGetErrorString(e)); }
    src = tmp;
  }
  cudaError_t e = cudaMalloc(&out->w_kc, sizeof(bf16) * (size_t)H * dn * r);
  if (e == cudaSuccess) e = cudaMalloc(&out->w_vc, sizeof(bf16) * (size_t)H * dv * r);
  /* w_kc[h] = rows [h(dn+dv), h(dn+dv)+dn), w_vc[h] = the next dv rows: two pitched copies */
  size_t rowb = sizeof(bf16) * (size_t)r;
  if (e == cudaSuccess)
    e = cudaMemcpy2DAsync(out->w_kc, dn * rowb, src, (dn + dv) * rowb, dn * rowb, H, cudaMemcpyDeviceToDevice, c->stream);
  if (e == cudaSuccess)
    e = cudaMemcpy2DAsync(out->w_vc, dv * rowb, src + (size_t)dn * r, (dn + dv) * rowb, dv * rowb, H,
                          cudaMemcpyDeviceToDevice, c->stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);  /* load time: tmp is freed below */
  if (tmp) cudaFree(tmp);
  if (e != cudaSuccess) {
    cudaFree(out->w_kc); cudaFree(out->w_vc);
    out->w_kc = out->w_vc = NULL;
    return lt_err(LATTE_ERR_BACKEND, "mla_new: %s", cudaGetErrorString(e));
  }
  out->heads = H; out->dn = dn; out->dv = dv; out->r = r;
  return LATTE_OK;
}

extern "C" void lt_cuda_mla_free(lt_backend *b, lt_mla_w *w) {
  cudaFree(w->w_kc);
  cudaFree(w->w_vc);
  w->w_kc = w->w_vc = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Split-KV decode: the launch parameters, token → (sequence, context), and the combine math. The
 * combine runs in lt_k_mla_combine (mla_decode) and in the fused out_v kernel's operand load
 * (mla_decode_v); both go through the helpers below, so both produce the same bf16 bits.
 * ------------------------------------------------------------------------------------------- */
#include "backend/cuda/cuda_mma.cuh"
#include <cooperative_groups.h>

/* One decode launch: every pointer and size the kernels need. */
typedef struct {
  const bf16 *ql;            /* [T, H, r+dr] */
  const bf16 *cache;         /* [slots, r+dr] */
  bf16 *out;                 /* [T, H, r] */
  float *part_o;             /* [T, max_splits, H, r] normalised partial outputs */
  float *part_lse;           /* [T, max_splits, H] log2-sum-exp of each partial */
  const int32_t *qo_indptr, *seq_lens, *kv_indptr, *kv_indices;
  int num_seqs, num_tokens, heads, r, dr, page_size;
  int chunk;                 /* context tokens per split (multiple of the KV tile) */
  int max_splits;
  float scale_log2;          /* softmax scale × log2(e) */
} lt_mla_params;

/* Sequence of new token t and the number of context tokens it attends (causal). */
static __device__ __forceinline__ void mla_token(const lt_mla_params &p, int t, int *seq, int *ctx) {
  int lo = 0, hi = p.num_seqs - 1;
  while (lo < hi) {  /* last s with qo_indptr[s] <= t */
    int mid = (lo + hi + 1) >> 1;
    if (p.qo_indptr[mid] <= t) lo = mid; else hi = mid - 1;
  }
  int q0 = p.qo_indptr[lo], qlen = p.qo_indptr[lo + 1] - q0;
  *seq = lo;
  *ctx = p.seq_lens[lo] - qlen + (t - q0) + 1;
}

/* The KV rows [kv0, kv1) of split `split` of token t, the token's split count and its sequence's page list;
 * false when the token has no such split (the CTA has nothing to do). */
struct mla_range {
  int nsplit, kv0, kv1;
  const int32_t *pages;
};
static __device__ __forceinline__ bool mla_split_range(const lt_mla_params &p, int t, int split, mla_range &r) {
  int s, ctx;
  mla_token(p, t, &s, &ctx);
  r.nsplit = (ctx + p.chunk - 1) / p.chunk;
  if (split >= r.nsplit) return false;
  r.kv0 = split * p.chunk;
  r.kv1 = min(ctx, r.kv0 + p.chunk);
  r.pages = p.kv_indices + p.kv_indptr[s];
  return true;
}

/* splits of token t (1: the decode wrote out[t] in bf16 directly, no partials) */
static __device__ __forceinline__ int mla_nsplit(const lt_mla_params &p, int t) {
  int s, ctx;
  mla_token(p, t, &s, &ctx);
  return (ctx + p.chunk - 1) / p.chunk;
}

/* Over the n > 1 splits of (token t, head h): *mx = max_i lse_i, returns 1 / Σ_i 2^(lse_i − mx), the
 * sum in split order (lse is log2-sum-exp). */
static __device__ __forceinline__ float mla_combine_scale(const lt_mla_params &p, int t, int h, int n, float *mx) {
  const float *lse = p.part_lse + (size_t)t * p.max_splits * p.heads + h;
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = fmaxf(m, __ldcg(lse + (size_t)i * p.heads));
  float wsum = 0.f;
  for (int i = 0; i < n; i++) wsum += exp2f(__ldcg(lse + (size_t)i * p.heads) - m);
  *mx = m;
  return 1.f / wsum;
}

/* weight of split i of (t, h): 2^(lse_i − mx) (callers may cache it: the same expression, the same bits) */
static __device__ __forceinline__ float mla_split_w(const lt_mla_params &p, int t, int h, int i, float mx) {
  return exp2f(__ldcg(p.part_lse + ((size_t)t * p.max_splits + i) * p.heads + h) - mx);
}

/* d[0..V) = s[0..V) through L2 (the partials were written by the previous kernel) */
template <int V> static __device__ __forceinline__ void mla_ldcg(const float *s, float *d);
template <> __device__ __forceinline__ void mla_ldcg<1>(const float *s, float *d) { d[0] = __ldcg(s); }
template <> __device__ __forceinline__ void mla_ldcg<4>(const float *s, float *d) {
  float4 f = __ldcg((const float4 *)s);
  d[0] = f.x; d[1] = f.y; d[2] = f.z; d[3] = f.w;
}

/* o[v] = bf16(Σ_i w_i · O_i[t, h, d+v] · inv), v < V (V = 1 or 4 consecutive latent indices, d a multiple
 * of V): one fma per split in split order, whatever V, so every caller gets the same bits. w_i = wsm[i]
 * for i < nw (the caller's cache of mla_split_w), else recomputed. Loads go in batches of CB splits (all
 * in flight before the fmas), so a 64-split context costs 64 / CB L2 round trips. */
template <int V>
static __device__ __forceinline__ void mla_combine_vals(const lt_mla_params &p, int t, int h, int n, int d, float mx,
                                                        float inv, const float *wsm, int nw, bf16 *o) {
  enum { CB = 8 };
  const int H = p.heads, ss = p.heads * p.r;  /* split strides of part_lse / part_o */
  const float *lse = p.part_lse + (size_t)t * p.max_splits * H + h;
  const float *po = p.part_o + ((size_t)t * p.max_splits * H + h) * p.r + d;
  float acc[V];
#pragma unroll
  for (int v = 0; v < V; v++) acc[v] = 0.f;
  for (int i0 = 0; i0 < n; i0 += CB, lse += CB * H, po += (size_t)CB * ss) {
    float wv[CB], x[CB][V];
#pragma unroll
    for (int u = 0; u < CB; u++)
      if (i0 + u < n) {
        wv[u] = i0 + u < nw ? wsm[i0 + u] : exp2f(__ldcg(lse + u * H) - mx);  /* = mla_split_w */
        mla_ldcg<V>(po + u * ss, x[u]);
      }
#pragma unroll
    for (int u = 0; u < CB; u++)
      if (i0 + u < n)
#pragma unroll
        for (int v = 0; v < V; v++) acc[v] = __fmaf_rn(wv[u], x[u][v], acc[v]);
  }
#pragma unroll
  for (int v = 0; v < V; v++) o[v] = __float2bfloat16_rn(acc[v] * inv);
}

/* ---------------------------------------------------------------------------------------------
 * Small-row (decode) output projection: rows ≤ lt_mla_small_bound(H, 1) take a streaming kernel instead
 * of cuBLAS (docs/cuda-attention.md; its absorb_q twin and the shared row bound are in
 * cuda_mla_absorb.cu). Byte-bound: each block owns one head and a slice of its output columns, reads
 * that slice of the weight exactly once with 16-byte loads (all in flight at once), and multiplies on the
 * tensor cores (mma.sync m16n8k16, fp32 accumulate) with the ≤ 32 token rows padded to MT tiles of 16.
 * Fixed summation order: deterministic. (Wider blocks — 32 columns of dv, fewer re-reads of the token
 * rows — were measured slower: fewer blocks.)
 * ------------------------------------------------------------------------------------------- */

/* cuda_mla_absorb.cu: largest row count that takes the streaming kernel of op (0 absorb_q, 1 out_v) at H
 * heads (lt_cuda_mla_absorb_max_rows: automatic, forced, or off) */
extern "C" int lt_mla_small_bound(int H, int op);
enum { LT_OV_CS = 16 };  /* out_v: output columns of dv per block */

/* Weight loads of the out_v kernels ahead of LT_PDL_WAIT (w_vc is never written by a kernel, so they may
 * overlap the previous kernel's tail): 0 = none, 1 = an L2 bulk prefetch of the block's LT_OV_CS weight
 * rows, 2 = each lane's first round of weight fragments (the whole of them at r ≤ 512) straight into the
 * registers the mma reads. 2 is the default: H200, V2-Lite decode (bench_absorb), decode + out_v
 * 12.51 / 12.35 / 12.03 µs and the fused decode_v 10.65 / 10.47 / 10.18 µs at T = 1, ctx 512, for 0 / 1 / 2;
 * 2 best or tied at every shape. Tuning hook (extern "C"; the bench compares the three). */
extern "C" int lt_cuda_mla_out_v_prefetch;
int lt_cuda_mla_out_v_prefetch = 2;
/* mla_decode_v fuses the combine into out_v while the split partials (T × max_splits × H × r f32) are at most
 * this many bytes; 0 = never. The fused kernel reads them with 8 × H blocks of 4 warps, the combine kernel
 * with 4 × H × T: its saved launch (~1.9 µs) outweighs that below ~3 MB. H200, H = 16, decode + out_v →
 * decode_v: T = 1 ctx 512 / 1024 / 4096 (0.26 / 0.52 / 2.1 MB) 12.03 → 10.18, 12.78 → 11.09, 18.67 → 18.38 µs;
 * T = 32 ctx 512 / 1024 (8.4 / 16.8 MB) 21.65 → 25.35, 36.64 → 40.54 µs. Tuning hook (the bench forces it). */
extern "C" long lt_cuda_mla_fuse_max_part;
long lt_cuda_mla_fuse_max_part = 2L << 20;
/* Testing hook: mla_decode_v calls that took the fused combine + out_v kernel (the test asserts on it). */
extern "C" long lt_cuda_mla_decode_v_fused;
long lt_cuda_mla_decode_v_fused = 0;
enum { LT_OV_MAX_CL = 8 };  /* fused out_v: a cluster = one head's dv/16 blocks, at most the portable 8 */

/* one round of a lane's weight fragments: k chunks j0 + 32j (j < 4) of its columns c0+g and c0+8+g */
static __device__ __forceinline__ void ov_load_w(uint4 (&bw)[4][2], const bf16 *wr, int j0, int kw, int r) {
  const uint4 z4 = make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
  for (int j = 0; j < 4; j++) {
    int kk = j0 + 32 * j;
    bool in = kk < kw;
    bw[j][0] = in ? __ldg((const uint4 *)(wr + kk)) : z4;
    bw[j][1] = in ? __ldg((const uint4 *)(wr + (size_t)8 * r + kk)) : z4;
  }
}

/* Fused out_v's A operand, this block's share: sA [rows, RS] bf16 = out_lat[:, h, x0 : x0+RS] combined from
 * the split partials (mla_combine_vals: the bits lt_k_mla_combine stores), or copied from out_lat for a
 * token the decode ran in one split (it wrote that row in bf16). V latent indices per item. */
template <int V>
static __device__ __forceinline__ void ov_fill_a(const lt_mla_params &p, int h, int rows, int x0, int RS,
                                                 const int *sN, const float *sMx, const float *sInv, bf16 *sA) {
  const int per = RS / V;
  for (int i = threadIdx.x; i < rows * per; i += blockDim.x) {
    const int t = i / per, dl = (i % per) * V;
    bf16 v[V];
    if (sN[t] > 1) {
      mla_combine_vals<V>(p, t, h, sN[t], x0 + dl, sMx[t], sInv[t], NULL, 0, v);
    } else {
      const bf16 *src = p.out + ((size_t)t * p.heads + h) * p.r + x0 + dl;
#pragma unroll
      for (int u = 0; u < V; u++) v[u] = src[u];
    }
#pragma unroll
    for (int u = 0; u < V; u++) sA[t * RS + dl + u] = v[u];
  }
}

/* out_v, one block = head h (blockIdx.y) × output columns [c0, c0+16) of dv (blockIdx.x); 4 warps, warp w
 * owns k (= latent index) range [w·r/4, (w+1)·r/4). Both operands go global → registers with 16-byte
 * loads, no shared staging: w_vc[h] rows are k-contiguous, so lane (g, q4) loads 8 consecutive k of
 * column c0+g (and c0+8+g) and of token rows g, g+8, for each 32-wide k chunk; the mma's k order
 * inside the chunk is permuted identically for A and B (logical k 2q4+e / 2q4+8+e of k-step s ↔
 * physical 8q4+4s+e / 8q4+4s+2+e), which leaves the dot products unchanged. The 4 warps' partial
 * [16·MT, 16] tiles are summed in shared memory in a fixed order.
 * FUSED (mla_decode_v after a split decode): the dv/16 blocks of head h form a cluster. Block x first
 * combines latent indices [x·RS, x·RS+RS) (RS = r·16/dv) of the head's token rows from the split partials
 * into its shared memory (ov_fill_a), and the A loads then read the whole row from the cluster's shared
 * memory: each partial is read once, and A holds the very bf16 values lt_k_mla_combine would have stored,
 * so the result is bitwise that of combine + out_v. ol is unused then (p.out is the decode's out_lat). */
template <int MT, bool FUSED>
__global__ void __launch_bounds__(128) lt_k_mla_out_v_small(const bf16 *ol, const bf16 *w_vc, bf16 *out, int rows,
                                                            int H, int dv, int r, int pre, lt_mla_params p) {
  LT_PDL_LAUNCH_NEXT();  /* the wait comes after the weight prefetch (cuda_common.h) */
  __shared__ float sRed[4][MT * 16][LT_OV_CS + 1];
  __shared__ float sMx[MT * 16], sInv[MT * 16];
  __shared__ int sN[MT * 16];
  extern __shared__ __align__(16) unsigned char lt_ov_smem[];
  bf16 *sA = (bf16 *)lt_ov_smem;  /* FUSED: [rows, RS] */
  const int h = blockIdx.y, c0 = blockIdx.x * LT_OV_CS, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, q4 = lane & 3, kw = r / 4, k0 = warp * kw + 8 * q4;
  const bf16 *wr = w_vc + ((size_t)h * dv + c0 + g) * r + k0;  /* n-tile 0 row; n-tile 1 is 8 rows on */
  uint4 bw[4][2];
  if (pre == 2) ov_load_w(bw, wr, 0, kw, r);
  else if (pre == 1 && tid == 0 && (r * 2) % 16 == 0)
    lt_prefetch_l2(w_vc + ((size_t)h * dv + c0) * r, (unsigned)(LT_OV_CS * r * 2));
  LT_PDL_WAIT();  /* ol / the partials are the previous kernel's output */
  if (pre != 2) ov_load_w(bw, wr, 0, kw, r);
  namespace cg = cooperative_groups;
  const int RS = FUSED ? r / (int)gridDim.x : 1;  /* FUSED: latent indices per block */
  if (FUSED) {
    if (tid < rows) {  /* per token row: splits, max lse, 1 / Σ weights */
      const int n = mla_nsplit(p, tid);
      sN[tid] = n;
      if (n > 1) sInv[tid] = mla_combine_scale(p, tid, h, n, &sMx[tid]);
    }
    __syncthreads();
    const int x0 = (int)cg::this_cluster().block_rank() * RS;
    if (rows * (RS / 4) >= 128) ov_fill_a<4>(p, h, rows, x0, RS, sN, sMx, sInv, sA);  /* every thread busy */
    else ov_fill_a<1>(p, h, rows, x0, RS, sN, sMx, sInv, sA);  /* few rows: more threads, shorter chains */
    cg::this_cluster().sync();  /* every block's share written and visible cluster-wide */
  }
  const bf16 *ar[MT][2];  /* this lane's rows g, g+8 of each tile (NULL past rows): global, or sA rows */
#pragma unroll
  for (int m = 0; m < MT; m++)
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      int t = m * 16 + g + hh * 8;
      ar[m][hh] = t >= rows ? NULL : FUSED ? sA + t * RS : ol + ((size_t)t * H + h) * r + k0;
    }
  float acc[MT][2][4];
#pragma unroll
  for (int m = 0; m < MT; m++)
#pragma unroll
    for (int n = 0; n < 2; n++) acc[m][n][0] = acc[m][n][1] = acc[m][n][2] = acc[m][n][3] = 0.f;
  const uint4 z4 = make_uint4(0u, 0u, 0u, 0u);
  for (int j0 = 0; j0 < kw; j0 += 128) {  /* 4 chunks of 32 k per round: all loads issued first */
    uint4 av[4][MT][2];
    if (j0 > 0) ov_load_w(bw, wr, j0, kw, r);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int kk = j0 + 32 * j;
      bool in = kk < kw;
#pragma unroll
      for (int m = 0; m < MT; m++)
#pragma unroll
        for (int hh = 0; hh < 2; hh++) {
          av[j][m][hh] = z4;
          if (in && ar[m][hh]) {
            if (FUSED) {  /* latent k lives in block k / RS of the cluster, at column k % RS */
              const int k = k0 + kk;
              av[j][m][hh] = *(const uint4 *)cg::this_cluster().map_shared_rank(ar[m][hh] + k % RS, k / RS);
            } else {
              av[j][m][hh] = __ldg((const uint4 *)(ar[m][hh] + kk));
            }
          }
        }
    }
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int s = 0; s < 2; s++)
#pragma unroll
        for (int m = 0; m < MT; m++) {
          const uint4 &x0 = av[j][m][0], &x1 = av[j][m][1];
          uint32_t a[4] = {s ? x0.z : x0.x, s ? x1.z : x1.x, s ? x0.w : x0.y, s ? x1.w : x1.y};
          /* C [16 tokens, 8 cols] += A [16, 16 of k] · B [16 of k, 8 cols] (B = w_vc rows, k-major) */
          mma_bf16(acc[m][0], a, s ? bw[j][0].z : bw[j][0].x, s ? bw[j][0].w : bw[j][0].y);
          mma_bf16(acc[m][1], a, s ? bw[j][1].z : bw[j][1].x, s ? bw[j][1].w : bw[j][1].y);
        }
  }
  if (FUSED) cg::this_cluster().sync();  /* no block leaves while another still reads its sA */
#pragma unroll
  for (int m = 0; m < MT; m++)
#pragma unroll
    for (int n = 0; n < 2; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) sRed[warp][m * 16 + g + (e >> 1) * 8][n * 8 + 2 * q4 + (e & 1)] = acc[m][n][e];
  __syncthreads();
  /* out[t, h·dv + c0 + c] = Σ_w partial_w[t, c], w = 0..3 in order; two columns per thread */
  for (int i = tid; i < rows * (LT_OV_CS / 2); i += 128) {
    int t = i / (LT_OV_CS / 2), c = (i % (LT_OV_CS / 2)) * 2;
    float s0 = ((sRed[0][t][c] + sRed[1][t][c]) + sRed[2][t][c]) + sRed[3][t][c];
    float s1 = ((sRed[0][t][c + 1] + sRed[1][t][c + 1]) + sRed[2][t][c + 1]) + sRed[3][t][c + 1];
    *(__nv_bfloat162 *)(out + (size_t)t * H * dv + (size_t)h * dv + c0 + c) = __floats2bfloat162_rn(s0, s1);
  }
}

static int lt_mla_aligned16(const void *a, const void *b, const void *c) {
  return (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15) == 0;
}

/* the out_v streaming kernel serves rows ≤ the bound, dv a multiple of 16, r of 128, 16-byte-aligned pointers */
static int lt_mla_ov_small(int rows, const lt_mla_w *w, const void *out_lat, const void *out) {
  return rows <= lt_mla_small_bound(w->heads, 1) && w->dv % LT_OV_CS == 0 && w->r % 128 == 0 &&
         lt_mla_aligned16(out_lat, out, w->w_vc);
}

/* kern<<<grid, 128, smem, st>>>(args...) in clusters of cl × 1 × 1 blocks, with PDL as lt_launch */
template <typename... KA, typename... A>
static cudaError_t lt_mla_launch_cluster(void (*kern)(KA...), dim3 grid, unsigned cl, size_t smem, cudaStream_t st,
                                         A... args) {
  cudaLaunchAttribute at[2];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = cl; at[0].val.clusterDim.y = 1; at[0].val.clusterDim.z = 1;
  at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  at[1].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg;
  cfg.gridDim = grid; cfg.blockDim = dim3(128); cfg.dynamicSmemBytes = smem; cfg.stream = st;
  cfg.attrs = at; cfg.numAttrs = lt_cuda_pdl ? 2 : 1;
  return cudaLaunchKernelEx(&cfg, kern, ((KA)args)...);
}

/* per head h: out[:, h] [rows, dv] = o_lat[:, h] [rows, r] · w_vc[h] [dv, r]ᵀ by the streaming kernel;
 * grid dv/16 × H. fp: NULL = o_lat is out_lat; else the split decode's parameters, and the kernel
 * combines o_lat from them (FUSED; clusters of dv/16 blocks, dv ≤ 128). */
static latte_status lt_mla_out_v_small(lt_cuda_ctx *c, const void *out_lat, const lt_mla_w *w, void *out, int rows,
                                       const lt_mla_params *fp) {
  const int H = w->heads, dv = w->dv, r = w->r, pre = lt_cuda_mla_out_v_prefetch;
  dim3 grid(dv / LT_OV_CS, H);
  const bf16 *ol = (const bf16 *)out_lat, *wv = (const bf16 *)w->w_vc;
  if (!fp) {
    lt_mla_params none;
    memset(&none, 0, sizeof none);
    if (rows <= 16)
      (void)lt_launch(lt_k_mla_out_v_small<1, false>, grid, 128, 0, c->stream, ol, wv, (bf16 *)out, rows, H, dv, r,
                      pre, none);
    else
      (void)lt_launch(lt_k_mla_out_v_small<2, false>, grid, 128, 0, c->stream, ol, wv, (bf16 *)out, rows, H, dv, r,
                      pre, none);
    LT_LAUNCH_CHECK("mla_out_v_small");
    return LATTE_OK;
  }
  const unsigned cl = (unsigned)(dv / LT_OV_CS);
  const size_t smem = (size_t)rows * (r / cl) * sizeof(bf16);  /* sA: this block's share of the rows */
  cudaError_t e;
  if (rows <= 16)
    e = lt_mla_launch_cluster(lt_k_mla_out_v_small<1, true>, grid, cl, smem, c->stream, ol, wv, (bf16 *)out, rows,
                              H, dv, r, pre, *fp);
  else
    e = lt_mla_launch_cluster(lt_k_mla_out_v_small<2, true>, grid, cl, smem, c->stream, ol, wv, (bf16 *)out, rows,
                              H, dv, r, pre, *fp);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return lt_err(LATTE_ERR_BACKEND, "launch of mla_out_v_fused (cluster %u, %zu B shared): %s", cl, smem,
                  cudaGetErrorString(e));
  }
  LT_LAUNCH_CHECK("mla_out_v_fused");
  return LATTE_OK;
}

extern "C" latte_status lt_cuda_mla_out_v(lt_backend *b, const void *out_lat, const lt_mla_w *w, void *out, int rows) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  int H = w->heads, dv = w->dv, r = w->r;
  if (rows <= 0) return LATTE_OK;
  if (lt_mla_ov_small(rows, w, out_lat, out)) return lt_mla_out_v_small(c, out_lat, w, out, rows, NULL);
  const float one = 1.0f, zero = 0.0f;
  /* per head h: out[:, h] [rows, dv] = o_lat[:, h] [rows, r] · w_vc[h] [dv, r]ᵀ;
   * column-major: out_hᵀ [dv, rows] = (w_vc[h] as [r, dv], ld r)ᵀ · o_lat_hᵀ [r, rows] (ld H r) */
  LT_CUBLAS_TRY(cublasGemmStridedBatchedEx(
      c->blas, CUBLAS_OP_T, CUBLAS_OP_N, dv, rows, r, &one,
      w->w_vc, CUDA_R_16BF, r, (long long)dv * r,
      out_lat, CUDA_R_16BF, H * r, (long long)r, &zero,
      out, CUDA_R_16BF, H * dv, (long long)dv, H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return LATTE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Decode attention (tensor-core helpers in cuda_mma.cuh, warpgroup MMA in cuda_wgmma.cuh).
 * ------------------------------------------------------------------------------------------- */
#include "backend/cuda/cuda_wgmma.cuh"

/* The fast path: r = 512, dr = 64. A CTA = one new token × M heads × one KV split.
 *
 * lt_k_mla_decode (variants 2-6; NW warps, every warp the same job): warp w owns query rows [16·rb, 16·rb+16)
 * (rb = w % RB) and, for S = Q·Kᵀ, KV columns [SN·cw, SN·cw+SN) of the tile, for O = P·V output columns
 * [ON·cw, ON·cw+ON) (cw = w / RB). Row maxima are exchanged through shared memory; P goes through shared
 * memory as bf16. WG = 0: both products on mma.sync m16n8k16 (ldmatrix from shared memory). WG = 1 (M = 64,
 * NW = 8): both on wgmma, warpgroup cw = warps 4cw..4cw+3 (warp rb of it owns accumulator rows 16·rb.., in
 * the m16n8 fragment order, so the softmax code serves both): S [64, 32 KV rows of half cw] with Q and K
 * from shared memory, O [64, 256 columns of cw] += P [64, BN] · V [BN, 256] with P and V from shared memory.
 *
 * lt_k_mla_decode_ws (variant 1): warp-specialised, below.
 *
 * Q and KV rows (576 bf16 = 72 chunks of 16 B) are stored XOR-swizzled: chunk c of row i lives at
 * (c & ~7) | ((c ^ i) & 7), so the 8 rows an ldmatrix reads hit 8 different bank groups without padding.
 * mma.sync: row i at i·1152 bytes. wgmma: its 128-byte-swizzled K-major layout, the same XOR within 9
 * k-blocks of 64 columns: k-block j of row i at j·rows·128 + i·128 bytes, every 8-row atom 1024-aligned
 * (the swizzle is of shared-address bits 4-6 by bits 7-9). */
enum { MLA_D = 576, MLA_DV = 512, MLA_CH = MLA_D / 8 };
enum { MLA_DEFAULT_V64 = 1, MLA_DEFAULT_V16 = 3 };  /* see MLA_VARIANTS and docs/cuda-attention.md */

template <int M, int BN, int NW, int WG>
struct mla_cfg {
  static const int THREADS = NW * 32, RB = M / 16, CW = NW / RB, SN = BN / CW, ON = MLA_DV / CW;
  static const int PLD = WG ? BN : BN + 8;  /* P rows: padded (tiny), or wgmma's swizzled 128-byte rows */
  static const int ALIGN = WG ? 1024 : 0;   /* slack to align the dynamic shared base to 1024 */
  static const int SMEM = (M * MLA_D + 2 * BN * MLA_D + M * PLD) * 2 + 2 * CW * M * 4 + ALIGN;
};

/* element offset of (row, 16-byte chunk ch) in a swizzled 576-wide tile of R rows (layouts above) */
template <int WG, int R> static __device__ __forceinline__ int mla_swz(int row, int ch) {
  if constexpr (WG) return (ch >> 3) * (R * 64) + row * 64 + (((ch & 7) ^ (row & 7)) << 3);
  else return row * MLA_D + ((ch ^ (row & 7)) << 3);
}

/* shared memory 1024-aligned (wgmma's 128B swizzle), from a dynamic base with 1024 bytes of slack */
static __device__ __forceinline__ unsigned char *mla_align1k(unsigned char *s) {
  return s + ((1024u - ((uint32_t)__cvta_generic_to_shared(s) & 1023u)) & 1023u);
}

/* KV tile rows [j0, j0+BN) into buffer buf: THREADS/BN threads per row, one page-table lookup each;
 * rows at or past kv1 are zero-filled (P is 0 there, and 0 · garbage could be NaN). */
template <int BN, int THREADS, int WG>
static __device__ __forceinline__ void mla_load_kv(const lt_mla_params &p, const int32_t *pages, bf16 *sKV, int buf,
                                                   int j0, int kv1, int lrow, int lsub) {
  const int TPR = THREADS / BN, CPT = MLA_CH / TPR;
  int j = j0 + lrow;
  bool ok = j < kv1;
  int64_t slot = ok ? (int64_t)pages[j / p.page_size] * p.page_size + j % p.page_size : 0;
  const bf16 *src = p.cache + slot * MLA_D;
  bf16 *dst = sKV + buf * BN * MLA_D;
#pragma unroll
  for (int k = 0; k < CPT; k++) {
    int ch = lsub + k * TPR;
    cp_async16(dst + mla_swz<WG, BN>(lrow, ch), src + ch * 8, ok ? 16 : 0);
  }
}

/* M query rows × 576 into sQ (all THREADS threads; cp.async, not committed) */
template <int M, int THREADS, int WG>
static __device__ __forceinline__ void mla_load_q(const lt_mla_params &p, int t, int h0, bf16 *sQ) {
  const bf16 *qg = p.ql + ((size_t)t * p.heads + h0) * MLA_D;
  for (int i = threadIdx.x; i < M * MLA_CH; i += THREADS) {
    int row = i / MLA_CH, ch = i % MLA_CH;
    cp_async16(sQ + mla_swz<WG, M>(row, ch), qg + (size_t)row * MLA_D + ch * 8, 16);
  }
}

/* The end of the fast kernels: this thread's O rows (heads h, h + 8) × columns c0 + 8i (+1), i < NI, times
 * inv, to out in bf16 (the token's only split) or to its split's f32 partial; lse: also the rows' log2-sum-exp
 * m + log2(l) (one thread per row). */
template <int NI>
static __device__ __forceinline__ void mla_store_o(const lt_mla_params &p, int t, int split, int nsplit, int h, int c0,
                                                   const float (&o)[NI][4], const float *inv, const float *m,
                                                   const float *l, bool lse) {
  if (nsplit == 1) {
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      bf16 *og = p.out + ((size_t)t * p.heads + h + hh * 8) * MLA_DV + c0;
#pragma unroll
      for (int i = 0; i < NI; i++)
        *(__nv_bfloat162 *)(og + i * 8) = __floats2bfloat162_rn(o[i][2 * hh] * inv[hh], o[i][2 * hh + 1] * inv[hh]);
    }
  } else {
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      size_t pi = ((size_t)t * p.max_splits + split) * p.heads + h + hh * 8;
      float *og = p.part_o + pi * MLA_DV + c0;
#pragma unroll
      for (int i = 0; i < NI; i++)
        *(float2 *)(og + i * 8) = make_float2(o[i][2 * hh] * inv[hh], o[i][2 * hh + 1] * inv[hh]);
      if (lse) p.part_lse[pi] = m[hh] + log2f(l[hh]);
    }
  }
}

/* S fragments sacc[NI][4] (m16n8 accumulator order: columns jbase + 8i + 2·q4 + {0, 1}, rows g and g + 8)
 * → the log2 domain, columns at or past kv1 set to −∞; mx[0] / mx[1] = this thread's maxima of its two rows */
template <int NI>
static __device__ __forceinline__ void mla_scale_mask(float (&sacc)[NI][4], int jbase, int kv1, int q4, float scale_log2,
                                                      float (&mx)[2]) {
  mx[0] = mx[1] = -INFINITY;
#pragma unroll
  for (int i = 0; i < NI; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      int j = jbase + i * 8 + 2 * q4 + (e & 1);
      float v = j < kv1 ? sacc[i][e] * scale_log2 : -INFINITY;
      sacc[i][e] = v;
      mx[e >> 1] = fmaxf(mx[e >> 1], v);
    }
}

/* o [64, 256] += P [64, 64] · V [64 KV rows, 256]: the four k16 steps over one 64-row KV tile (P K-major at
 * descriptor dp, 32 bytes per step; V MN-major at dv, 16 KV rows = 2048 bytes per step), issued as one
 * committed wgmma batch (the caller waits) */
static __device__ __forceinline__ void mla_wg_pv(float (&o)[32][4], uint64_t dp, uint64_t dv) {
  lt_wg_keep_all(o);
  lt_wg_fence();
#pragma unroll
  for (int kk = 0; kk < 4; kk++)
    lt_wg_m64n256k16_tb(&o[0][0], dp + (uint64_t)((kk * 32) >> 4), dv + (uint64_t)((kk * 2048) >> 4));
  lt_wg_commit();
}

template <int M, int BN, int NW, int WG>
__global__ void __launch_bounds__(NW * 32, 1) lt_k_mla_decode(lt_mla_params p) {
  LT_PDL_ENTER();
  typedef mla_cfg<M, BN, NW, WG> C;
  static_assert(!WG || (M == 64 && NW == 8 && C::SN == 32), "wgmma path: 64 heads, 2 warpgroups");
  extern __shared__ __align__(128) unsigned char smem_raw[];
  unsigned char *smem = WG ? mla_align1k(smem_raw) : smem_raw;
  bf16 *sQ = (bf16 *)smem;
  bf16 *sKV = sQ + M * MLA_D;
  bf16 *sP = sKV + 2 * BN * MLA_D;
  float *sMax = (float *)(sP + M * C::PLD);
  float *sSum = sMax + C::CW * M;

  const int h0 = blockIdx.x * M, split = blockIdx.y, t = blockIdx.z;
  mla_range rg;
  if (!mla_split_range(p, t, split, rg)) return;
  const int nsplit = rg.nsplit, kv0 = rg.kv0, kv1 = rg.kv1;
  const int32_t *pages = rg.pages;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int rb = warp % C::RB, cw = warp / C::RB;

  mla_load_q<M, C::THREADS, WG>(p, t, h0, sQ);  /* M heads × 72 chunks of 16 bytes */
  const int lrow = tid / (C::THREADS / BN), lsub = tid % (C::THREADS / BN);
  const int ntiles = (kv1 - kv0 + BN - 1) / BN;
  mla_load_kv<BN, C::THREADS, WG>(p, pages, sKV, 0, kv0, kv1, lrow, lsub);
  cp_async_commit();

  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  float o[C::ON / 8][4];
#pragma unroll
  for (int i = 0; i < C::ON / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  const int g = lane >> 2, q4 = lane & 3, l7 = lane & 7;
  /* every ldmatrix row below is (multiple of 8) + (lane & 7), so its swizzle key is l7; within an
   * aligned group of 8 chunks the physical chunk is (logical low 3 bits) ^ l7 */
  const bf16 *qrow = sQ + (rb * 16 + (lane & 15)) * MLA_D;
  const int qo_ = lane >> 4;          /* A / V.trans: chunk offset of this lane's 8x8 matrix (0/1) */
  const int ko_ = (lane >> 3) & 1;    /* K and V rows: offset (0/1) */
  /* wgmma descriptors (shared-space byte addresses; k steps and k-blocks are added to them) */
  const uint32_t kv_sa = (uint32_t)__cvta_generic_to_shared(sKV);
  const uint64_t dq = lt_wg_desc((uint32_t)__cvta_generic_to_shared(sQ), 16, 1024);  /* Q, K-major */
  const uint64_t dp = lt_wg_desc((uint32_t)__cvta_generic_to_shared(sP), 16, 1024);  /* P, K-major */

  for (int it = 0; it < ntiles; it++) {
    if (it + 1 < ntiles)
      mla_load_kv<BN, C::THREADS, WG>(p, pages, sKV, (it + 1) & 1, kv0 + (it + 1) * BN, kv1, lrow, lsub);
    cp_async_commit();
    cp_async_wait<1>();
    if (WG) lt_fence_proxy_async();  /* the cp.async writes → the wgmma reads */
    __syncthreads();
    const bf16 *K = sKV + (it & 1) * BN * MLA_D;

    /* S [16, SN] = Q [16 rows of rb, 576] · K [SN columns of cw, 576]ᵀ */
    float sacc[C::SN / 8][4];
#pragma unroll
    for (int i = 0; i < C::SN / 8; i++) sacc[i][0] = sacc[i][1] = sacc[i][2] = sacc[i][3] = 0.f;
    if constexpr (WG) {
      /* warpgroup cw: S [64, 32] = Q [64, 576] · K [rows 32cw.., 576]ᵀ, 36 k16 steps; step ks is in k-block
       * ks / 4 (rows · 128 bytes each), 32 bytes per step inside it */
      const uint64_t dk = lt_wg_desc(kv_sa + (uint32_t)((it & 1) * BN * MLA_D * 2 + cw * C::SN * 128), 16, 1024);
      lt_wg_keep_all(sacc);
      lt_wg_fence();
#pragma unroll
      for (int ks = 0; ks < MLA_D / 16; ks++)
        lt_wg_m64n32k16(&sacc[0][0], dq + (uint64_t)(((ks >> 2) * M * 128 + (ks & 3) * 32) >> 4),
                        dk + (uint64_t)(((ks >> 2) * BN * 128 + (ks & 3) * 32) >> 4), ks > 0);
      lt_wg_commit();
      lt_wg_wait<0>();
      lt_wg_keep_all(sacc);
    } else if (C::SN == 8) {
      const bf16 *krow = K + (cw * 8 + l7) * MLA_D;
      const int kc = lane >> 3;         /* x4 over 4 consecutive chunks: 2 k-steps */
#pragma unroll 3
      for (int k8 = 0; k8 < MLA_CH; k8 += 8) {  /* 64 values of d per step */
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++) {
          uint32_t a0[4], a1[4], bb[4];
          ldsm_x4(a0, qrow + ((k8 + ((4 * h2 + qo_) ^ l7)) << 3));
          ldsm_x4(a1, qrow + ((k8 + ((4 * h2 + 2 + qo_) ^ l7)) << 3));
          ldsm_x4(bb, krow + ((k8 + ((4 * h2 + kc) ^ l7)) << 3));
          mma_bf16(sacc[0], a0, bb[0], bb[1]);
          mma_bf16(sacc[0], a1, bb[2], bb[3]);
        }
      }
    } else {
      const bf16 *krow = K + (cw * C::SN + l7 + (lane >> 4) * 8) * MLA_D;
#pragma unroll 3
      for (int k8 = 0; k8 < MLA_CH; k8 += 8) {
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
          uint32_t a[4];
          ldsm_x4(a, qrow + ((k8 + ((2 * ks + qo_) ^ l7)) << 3));
#pragma unroll
          for (int np = 0; np < C::SN / 16; np++) {
            uint32_t bb[4];
            ldsm_x4(bb, krow + np * 16 * MLA_D + ((k8 + ((2 * ks + ko_) ^ l7)) << 3));
            mma_bf16(sacc[2 * np], a, bb[0], bb[1]);
            mma_bf16(sacc[2 * np + 1], a, bb[2], bb[3]);
          }
        }
      }
    }
    /* scale into the log2 domain, mask columns past this split, row maxima */
    float mx[2];
    mla_scale_mask(sacc, kv0 + it * BN + cw * C::SN, kv1, q4, p.scale_log2, mx);
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 1));
      mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 2));
    }
    if (C::CW > 1) {
      if (q4 == 0) {
        sMax[cw * M + rb * 16 + g] = mx[0];
        sMax[cw * M + rb * 16 + g + 8] = mx[1];
      }
      __syncthreads();
#pragma unroll
      for (int c2 = 0; c2 < C::CW; c2++) {
        mx[0] = fmaxf(mx[0], sMax[c2 * M + rb * 16 + g]);
        mx[1] = fmaxf(mx[1], sMax[c2 * M + rb * 16 + g + 8]);
      }
    }
    float alpha[2];
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      float mn = fmaxf(m_r[hh], mx[hh]);  /* finite: column 0 of every tile is inside the split */
      alpha[hh] = exp2f(m_r[hh] - mn);
      m_r[hh] = mn;
      l_r[hh] *= alpha[hh];
    }
    /* P = exp2(S - m) → bf16 in shared memory */
#pragma unroll
    for (int i = 0; i < C::SN / 8; i++) {
      float p0 = exp2f(sacc[i][0] - m_r[0]), p1 = exp2f(sacc[i][1] - m_r[0]);
      float p2 = exp2f(sacc[i][2] - m_r[1]), p3 = exp2f(sacc[i][3] - m_r[1]);
      l_r[0] += p0 + p1;
      l_r[1] += p2 + p3;
      if constexpr (WG) {  /* 128-byte rows, chunk c of row r at c ^ (r & 7) (r & 7 = g) */
        const int ch = cw * (C::SN / 8) + i, w0 = 2 * q4;
        *(uint32_t *)(sP + (rb * 16 + g) * 64 + ((ch ^ g) << 3) + w0) = pack_bf16(p0, p1);
        *(uint32_t *)(sP + (rb * 16 + g + 8) * 64 + ((ch ^ g) << 3) + w0) = pack_bf16(p2, p3);
      } else {
        int col = cw * C::SN + i * 8 + 2 * q4;
        *(uint32_t *)(sP + (rb * 16 + g) * C::PLD + col) = pack_bf16(p0, p1);
        *(uint32_t *)(sP + (rb * 16 + g + 8) * C::PLD + col) = pack_bf16(p2, p3);
      }
    }
#pragma unroll
    for (int i = 0; i < C::ON / 8; i++) {
      o[i][0] *= alpha[0]; o[i][1] *= alpha[0];
      o[i][2] *= alpha[1]; o[i][3] *= alpha[1];
    }
    if (WG) lt_fence_proxy_async();  /* the P stores → the wgmma reads */
    __syncthreads();
    /* O [16, ON] += P [16, BN] · V [BN, ON columns of cw] (V = first 512 of each cached row) */
    if constexpr (WG) {
      /* warpgroup cw: O [64, 256] += P [64, 64] · V [64, k-blocks 4cw..4cw+3]; V is MN-major (the 64 columns
       * of a k-block are one 128-byte row): 64-column blocks BN·128 bytes apart, 8-row groups 1024; step kk
       * = KV rows 16kk.. = 2048 bytes on, and 32 bytes on in P */
      const uint64_t dv =
          lt_wg_desc(kv_sa + (uint32_t)((it & 1) * BN * MLA_D * 2 + cw * (C::ON / 64) * BN * 128), BN * 128, 1024);
      mla_wg_pv(o, dp, dv);
      lt_wg_wait<0>();
      lt_wg_keep_all(o);
    } else {
      const bf16 *pa = sP + (rb * 16 + (lane & 15)) * C::PLD + (lane >> 4) * 8;
      const bf16 *vrow = K + (l7 + ko_ * 8) * MLA_D;
      const int vc0 = cw * (C::ON / 8);   /* first chunk of this warp's columns (a multiple of 8) */
#pragma unroll
      for (int kk = 0; kk < BN; kk += 16) {
        uint32_t a[4];
        ldsm_x4(a, pa + kk);
#pragma unroll
        for (int np = 0; np < C::ON / 16; np++) {
          uint32_t bb[4];
          int ch = vc0 + (np >> 2) * 8 + ((2 * (np & 3) + qo_) ^ l7);
          ldsm_x4_t(bb, vrow + kk * MLA_D + (ch << 3));
          mma_bf16(o[2 * np], a, bb[0], bb[1]);
          mma_bf16(o[2 * np + 1], a, bb[2], bb[3]);
        }
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();

  /* full row sums: over the quad, then over the CW warps sharing the rows */
#pragma unroll
  for (int hh = 0; hh < 2; hh++) {
    l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 1);
    l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 2);
  }
  if (q4 == 0) {
    sSum[cw * M + rb * 16 + g] = l_r[0];
    sSum[cw * M + rb * 16 + g + 8] = l_r[1];
  }
  __syncthreads();
  float lt[2] = {0.f, 0.f};
#pragma unroll
  for (int c2 = 0; c2 < C::CW; c2++) {
    lt[0] += sSum[c2 * M + rb * 16 + g];
    lt[1] += sSum[c2 * M + rb * 16 + g + 8];
  }
  float inv[2] = {1.f / lt[0], 1.f / lt[1]};
  mla_store_o<C::ON / 8>(p, t, split, nsplit, h0 + rb * 16 + g, cw * C::ON + 2 * q4, o, inv, m_r, lt,
                         cw == 0 && q4 == 0);
}

/* Warp-specialised decode (variant 1): 64 heads × 64-row KV tiles, 2 warpgroups, both products on wgmma.
 * Warpgroup 0 (warps 0-3) computes S [64, 64] = Q · K(n)ᵀ (m64n64k16, Q and K from shared memory), the
 * online softmax (each of its warps owns 16 whole rows: the row maximum needs only the quad), P in bf16, and
 * O [:, 0:256] += P · V(n) with P from registers (the S accumulator fragment is the A fragment of the next
 * product). Warpgroup 1 (warps 4-7) loads the KV tiles (cp.async, two buffers) and computes O [:, 256:512] +=
 * P · V(n) with P from shared memory: WG0 writes P into tile n's rope k-block (columns 512-575 of K: S(n) has
 * read them, P·V never does; 64 rows × 128 bytes, the K-major layout A needs), with each row's rescale
 * factor alpha. WG1's P·V of tile n runs while WG0 computes S of tile n+1. Named barriers hand the tiles
 * over, one of each kind per buffer b: FULL (tile in b loaded and visible: WG1 → WG0), PRDY (P and alpha of
 * the tile in b written: WG0 → WG1), FREE (WG0 done with b: WG1 may load the tile after next into it). */
enum { MLA_WS_M = 64, MLA_WS_BN = 64, MLA_WS_TILE = MLA_WS_BN * MLA_D, MLA_WS_KB = MLA_WS_BN * 128 };
enum { MLA_BAR_FULL = 1, MLA_BAR_PRDY = 3, MLA_BAR_FREE = 5 };  /* + buffer; barrier 0 is __syncthreads */
enum { MLA_WS_SMEM = (MLA_WS_M * MLA_D + 2 * MLA_WS_TILE) * 2 + 3 * MLA_WS_M * 4 + 1024 };
static __device__ __forceinline__ void mla_bar_sync(int id) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory");
}
static __device__ __forceinline__ void mla_bar_arrive(int id) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(id) : "memory");
}

__global__ void __launch_bounds__(256, 1) lt_k_mla_decode_ws(lt_mla_params p) {
  LT_PDL_ENTER();
  enum { M = MLA_WS_M, BN = MLA_WS_BN, TILE = MLA_WS_TILE, KB = MLA_WS_KB };
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16 *sQ = (bf16 *)mla_align1k(smem_raw);
  bf16 *sKV = sQ + M * MLA_D;                  /* 2 tiles */
  float *sAlpha = (float *)(sKV + 2 * TILE);   /* [2][M]: per buffer, each row's rescale factor */
  float *sSum = sAlpha + 2 * M;                /* [M]: each row's final l */

  const int h0 = blockIdx.x * M, split = blockIdx.y, t = blockIdx.z;
  mla_range rg;
  if (!mla_split_range(p, t, split, rg)) return;
  const int nsplit = rg.nsplit, kv0 = rg.kv0, kv1 = rg.kv1;
  const int32_t *pages = rg.pages;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  const int g = lane >> 2, q4 = lane & 3, r0 = (warp & 3) * 16 + g;  /* this thread's rows r0, r0 + 8 */
  const int ntiles = (kv1 - kv0 + BN - 1) / BN;

  /* Q and tile 0, all 256 threads */
  mla_load_q<M, 256, 1>(p, t, h0, sQ);
  mla_load_kv<BN, 256, 1>(p, pages, sKV, 0, kv0, kv1, tid >> 2, tid & 3);
  cp_async_commit();
  cp_async_wait<0>();
  lt_fence_proxy_async();
  __syncthreads();

  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  float o[32][4];  /* O [64, 256 columns of wg] */
#pragma unroll
  for (int i = 0; i < 32; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  const uint32_t kv_sa = (uint32_t)__cvta_generic_to_shared(sKV);

  if (wg == 0) {
    const uint64_t dq = lt_wg_desc((uint32_t)__cvta_generic_to_shared(sQ), 16, 1024);
    for (int n = 0; n < ntiles; n++) {
      const int b = n & 1;
      const uint32_t tile_sa = kv_sa + b * TILE * 2;
      if (n > 0) mla_bar_sync(MLA_BAR_FULL + b);
      /* S [64, 64] = Q [64, 576] · K(n) [64, 576]ᵀ: 36 k16 steps, step ks in k-block ks / 4, 32 bytes each */
      float sacc[8][4];
#pragma unroll
      for (int i = 0; i < 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) { sacc[i][e] = 0.f; lt_wg_keep(sacc[i][e]); }
      const uint64_t dk = lt_wg_desc(tile_sa, 16, 1024);
      lt_wg_fence();
#pragma unroll
      for (int ks = 0; ks < MLA_D / 16; ks++)
        lt_wg_m64n64k16(&sacc[0][0], dq + (uint64_t)(((ks >> 2) * M * 128 + (ks & 3) * 32) >> 4),
                        dk + (uint64_t)(((ks >> 2) * KB + (ks & 3) * 32) >> 4), ks > 0);
      lt_wg_commit();
      lt_wg_wait<0>();
      lt_wg_keep_all(sacc);
      /* log2 domain, columns past the split masked, row maxima (16 values of each row here, 64 in the quad) */
      float mx[2];
      mla_scale_mask(sacc, kv0 + n * BN, kv1, q4, p.scale_log2, mx);
      float alpha[2];
#pragma unroll
      for (int hh = 0; hh < 2; hh++) {
        mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 1));
        mx[hh] = fmaxf(mx[hh], __shfl_xor_sync(0xffffffffu, mx[hh], 2));
        float mn = fmaxf(m_r[hh], mx[hh]);  /* finite: column 0 of every tile is inside the split */
        alpha[hh] = exp2f(m_r[hh] - mn);
        m_r[hh] = mn;
        l_r[hh] *= alpha[hh];
      }
      /* P = exp2(S - m) in bf16: pa[i] = rows r0 / r0+8 × columns 8i + 2q4 (+1), and into the rope k-block
       * of this tile for WG1 (128-byte rows, chunk i of row r at i ^ (r & 7); r & 7 = g) */
      bf16 *sPn = sKV + b * TILE + 8 * BN * 64;
      uint32_t pa[8][2];
#pragma unroll
      for (int i = 0; i < 8; i++) {
        float p0 = exp2f(sacc[i][0] - m_r[0]), p1 = exp2f(sacc[i][1] - m_r[0]);
        float p2 = exp2f(sacc[i][2] - m_r[1]), p3 = exp2f(sacc[i][3] - m_r[1]);
        l_r[0] += p0 + p1;
        l_r[1] += p2 + p3;
        pa[i][0] = pack_bf16(p0, p1);
        pa[i][1] = pack_bf16(p2, p3);
        *(uint32_t *)(sPn + r0 * 64 + ((i ^ g) << 3) + 2 * q4) = pa[i][0];
        *(uint32_t *)(sPn + (r0 + 8) * 64 + ((i ^ g) << 3) + 2 * q4) = pa[i][1];
      }
      if (q4 == 0) {
        sAlpha[b * M + r0] = alpha[0];
        sAlpha[b * M + r0 + 8] = alpha[1];
      }
      lt_fence_proxy_async();  /* the P stores → WG1's wgmma reads */
      mla_bar_arrive(MLA_BAR_PRDY + b);
#pragma unroll
      for (int i = 0; i < 32; i++) {
        o[i][0] *= alpha[0]; o[i][1] *= alpha[0];
        o[i][2] *= alpha[1]; o[i][3] *= alpha[1];
      }
      /* O [64, 256] += P [64, 64] · V(n) [64, k-blocks 0-3] (V MN-major: 64-column blocks KB bytes apart,
       * 8-row groups 1024; step kk = KV rows 16kk.. = 2048 bytes on) */
      const uint64_t dv = lt_wg_desc(tile_sa, KB, 1024);
      lt_wg_keep_all(o);
      lt_wg_fence();
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++) {
        const uint32_t a[4] = {pa[2 * kk][0], pa[2 * kk][1], pa[2 * kk + 1][0], pa[2 * kk + 1][1]};
        lt_wg_m64n256k16_rs_tb(&o[0][0], a, dv + (uint64_t)((kk * 2048) >> 4));
      }
      lt_wg_commit();
      lt_wg_wait<0>();
      lt_wg_keep_all(o);
      if (n + 2 < ntiles) mla_bar_arrive(MLA_BAR_FREE + b);
    }
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 1);
      l_r[hh] += __shfl_xor_sync(0xffffffffu, l_r[hh], 2);
    }
    if (q4 == 0) {
      sSum[r0] = l_r[0];
      sSum[r0 + 8] = l_r[1];
    }
  } else {
    const int lt1 = tid - 128;  /* loads: 2 threads per KV row */
    for (int n = 0; n < ntiles; n++) {
      const int b = n & 1;
      const uint32_t tile_sa = kv_sa + b * TILE * 2;
      if (n + 1 < ntiles) {  /* tile n+1 into the other buffer, once WG0 is done with tile n-1 there */
        if (n > 0) mla_bar_sync(MLA_BAR_FREE + (b ^ 1));
        mla_load_kv<BN, 128, 1>(p, pages, sKV, b ^ 1, kv0 + (n + 1) * BN, kv1, lt1 >> 1, lt1 & 1);
        cp_async_commit();
      }
      mla_bar_sync(MLA_BAR_PRDY + b);
      const float a0 = sAlpha[b * M + r0], a1 = sAlpha[b * M + r0 + 8];
#pragma unroll
      for (int i = 0; i < 32; i++) {
        o[i][0] *= a0; o[i][1] *= a0;
        o[i][2] *= a1; o[i][3] *= a1;
      }
      /* O [64, 256] += P [64, 64] (rope k-block, K-major) · V(n) [64, k-blocks 4-7] */
      const uint64_t dpn = lt_wg_desc(tile_sa + 8 * KB, 16, 1024);
      const uint64_t dv = lt_wg_desc(tile_sa + 4 * KB, KB, 1024);
      mla_wg_pv(o, dpn, dv);
      if (n + 1 < ntiles) {  /* tile n+1 landed: visible to WG0's wgmma */
        cp_async_wait<0>();
        lt_fence_proxy_async();
        mla_bar_arrive(MLA_BAR_FULL + (b ^ 1));
      }
      lt_wg_wait<0>();
      lt_wg_keep_all(o);
    }
  }
  __syncthreads();  /* sSum written */
  const float lt[2] = {sSum[r0], sSum[r0 + 8]};
  const float inv[2] = {1.f / lt[0], 1.f / lt[1]};
  mla_store_o<32>(p, t, split, nsplit, h0 + r0, wg * 256 + 2 * q4, o, inv, m_r, lt, wg == 0 && q4 == 0);
}

/* Generic fallback (any r ≤ 1024, r+dr ≤ 1280, any H): one warp per (token, head), online softmax
 * one context token at a time. Slow; used by the tiny fixtures and unusual shapes. */
enum { MLA_GEN_MAXW = 40, MLA_GEN_MAXR = 32 };
__global__ void lt_k_mla_decode_generic(lt_mla_params p) {
  LT_PDL_ENTER();
  const int h = blockIdx.x, split = blockIdx.y, t = blockIdx.z, lane = threadIdx.x;
  int s, ctx;
  mla_token(p, t, &s, &ctx);
  const int nsplit = (ctx + p.chunk - 1) / p.chunk;
  if (split >= nsplit) return;
  const int kv0 = split * p.chunk, kv1 = min(ctx, kv0 + p.chunk);
  const int w = p.r + p.dr, nw = (w + 31) / 32, nr = (p.r + 31) / 32;
  const bf16 *qg = p.ql + ((size_t)t * p.heads + h) * w;
  float q[MLA_GEN_MAXW], o[MLA_GEN_MAXR];
#pragma unroll
  for (int i = 0; i < MLA_GEN_MAXW; i++) {
    int d = lane + 32 * i;
    q[i] = (i < nw && d < w) ? __bfloat162float(qg[d]) : 0.f;
  }
#pragma unroll
  for (int i = 0; i < MLA_GEN_MAXR; i++) o[i] = 0.f;
  const int32_t *pages = p.kv_indices + p.kv_indptr[s];
  float m = -INFINITY, l = 0.f;
  for (int j = kv0; j < kv1; j++) {
    const bf16 *k = p.cache + ((int64_t)pages[j / p.page_size] * p.page_size + j % p.page_size) * w;
    float acc = 0.f;
#pragma unroll
    for (int i = 0; i < MLA_GEN_MAXW; i++) {
      int d = lane + 32 * i;
      if (i < nw && d < w) acc += q[i] * __bfloat162float(k[d]);
    }
#pragma unroll
    for (int off = 16; off; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    float sc = acc * p.scale_log2, mn = fmaxf(m, sc), al = exp2f(m - mn), pj = exp2f(sc - mn);
    l = l * al + pj;
    m = mn;
#pragma unroll
    for (int i = 0; i < MLA_GEN_MAXR; i++) {
      int d = lane + 32 * i;
      if (i < nr && d < p.r) o[i] = o[i] * al + pj * __bfloat162float(k[d]);
    }
  }
  float inv = 1.f / l;
  size_t pi = ((size_t)t * p.max_splits + split) * p.heads + h;
#pragma unroll
  for (int i = 0; i < MLA_GEN_MAXR; i++) {
    int d = lane + 32 * i;
    if (i < nr && d < p.r) {
      if (nsplit == 1) p.out[((size_t)t * p.heads + h) * p.r + d] = __float2bfloat16(o[i] * inv);
      else p.part_o[pi * p.r + d] = o[i] * inv;
    }
  }
  if (nsplit > 1 && lane == 0) p.part_lse[pi] = m + log2f(l);
}

/* The split-KV combine, one block per (head, token, slice of r): out[t, h, d] = Σ_s 2^(lse_s − lse_max) · O_s[d]
 * / Σ_s 2^(lse_s − lse_max) over the token's splits (mla_combine_scale / mla_combine_vals). The split
 * weights go to shared memory once per block (the first 256; the rest recomputed). (Run by the
 * last-arriving split block instead of a kernel of its own, it made the H200's V2-Lite batch-1 MLA decode
 * 6.6 → 52 µs: one block combining 16 heads in series. mla_decode_v folds it into out_v instead.) */
__global__ void lt_k_mla_combine(lt_mla_params p) {
  LT_PDL_ENTER();
  __shared__ float wsm[256];
  const int h = blockIdx.x, t = blockIdx.y;
  const int n = mla_nsplit(p, t);
  if (n <= 1) return;
  float mx;
  const float inv = mla_combine_scale(p, t, h, n, &mx);
  const int nw = n < 256 ? n : 256;
  for (int i = threadIdx.x; i < nw; i += blockDim.x) wsm[i] = mla_split_w(p, t, h, i, mx);
  __syncthreads();
  for (int d = blockIdx.z * blockDim.x + threadIdx.x; d < p.r; d += gridDim.z * blockDim.x)
    mla_combine_vals<1>(p, t, h, n, d, mx, inv, wsm, nw, p.out + ((size_t)t * p.heads + h) * p.r + d);
}

/* the decode kernel kern, once opted into smem bytes of dynamic shared memory (attr: per kernel, set once) */
static latte_status launch_decode(lt_cuda_ctx *c, const lt_mla_params &p, int T, void (*kern)(lt_mla_params), int m,
                                  int threads, int smem, int *attr) {
  if (!*attr) {
    LT_CUDA_TRY(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    *attr = 1;
  }
  dim3 grid(p.heads / m, p.max_splits, T);
  (void)lt_launch(kern, grid, threads, smem, c->stream, p);
  LT_LAUNCH_CHECK("mla_decode");
  return LATTE_OK;
}

template <int M, int BN, int NW, int WG>
static latte_status launch_fast(lt_cuda_ctx *c, const lt_mla_params &p, int T) {
  static int attr = 0;  /* per template instance */
  return launch_decode(c, p, T, lt_k_mla_decode<M, BN, NW, WG>, M, NW * 32, mla_cfg<M, BN, NW, WG>::SMEM, &attr);
}

static latte_status launch_ws(lt_cuda_ctx *c, const lt_mla_params &p, int T) {
  static int attr = 0;
  return launch_decode(c, p, T, lt_k_mla_decode_ws, MLA_WS_M, 256, MLA_WS_SMEM, &attr);
}

/* Tile configurations of the fast path: heads per CTA, KV rows per tile, warps, CTAs per SM. */
/* Smallest split of the fast kernel, in context tokens (a multiple of its KV tile). Small batches
 * (B = 1 decode) get up to context / min_chunk CTAs; was 256 before the split was measured at B = 1. */
extern "C" int lt_cuda_mla_min_chunk;
int lt_cuda_mla_min_chunk = 64;

typedef struct { int m, bn, nw, per_sm; } mla_variant;
static const mla_variant MLA_VARIANTS[] = {
  {64, 64, 8, 1},   /* 1: H % 64 == 0, 64-row tiles, warp-specialised wgmma (lt_k_mla_decode_ws, 218 KB smem) */
  {64, 32, 8, 1},   /* 2: H % 64 == 0, 32-row tiles */
  {16, 32, 4, 2},   /* 3: 16 heads, 4 warps, 2 CTAs per SM */
  {16, 64, 8, 1},   /* 4: 16 heads, 8 warps, 64-row tiles */
  {64, 64, 8, 1},   /* 5: as 1 on mma.sync, every warp the same job (the kernel before wgmma, 226 KB) */
  {64, 64, 8, 1},   /* 6: as 5 with both products on wgmma (226 KB) */
};
enum { MLA_NVARIANTS = (int)(sizeof MLA_VARIANTS / sizeof MLA_VARIANTS[0]) };
static int mla_forced_variant = 0;
/* Tuning / testing hook (not in the op table): force variant v (1-based; 0 = automatic). */
extern "C" void lt_cuda_mla_decode_variant(int v) { mla_forced_variant = v; }

static latte_status launch_variant(lt_cuda_ctx *c, const lt_mla_params &p, int T, int v) {
  switch (v) {
    case 1: return launch_ws(c, p, T);
    case 2: return launch_fast<64, 32, 8, 0>(c, p, T);
    case 3: return launch_fast<16, 32, 4, 0>(c, p, T);
    case 5: return launch_fast<64, 64, 8, 0>(c, p, T);
    case 6: return launch_fast<64, 64, 8, 1>(c, p, T);
    default: return launch_fast<16, 64, 8, 0>(c, p, T);
  }
}

/* Split-KV rule (tuning hook; the bench compares them). Both start from the total work (Σ over tokens of
 * context × head blocks). 0: chunk = work / (2 × resident CTAs), so that tokens × head blocks × splits fill the
 * GPU about twice. 1: chunk0 = work / resident CTAs (one wave), then the longest context in round(max_ctx /
 * chunk0) ≥ 1 equal splits, so that a context just over chunk0 is not split into a whole chunk and a sliver.
 * -1 (default): 1 for the 64-head kernels, 0 for the 16-head ones. At H = 128 the token × head-block pairs fill
 * the GPU from B ≈ 64 on, and a split costs partials and a combine pass of T × H × 4 small blocks: H200, ws
 * kernel (variant 1), B = 64, ctx 4096: rule 0 = 2 splits (256 CTAs, 2 waves) 294 µs, one split 209 µs. */
extern "C" int lt_cuda_mla_split_rule;
int lt_cuda_mla_split_rule = -1;
/* Rule 0 never cuts a context into chunks under this many tokens once the token × head-block CTAs alone number at
 * least ¾ of the SMs: there the partials and the combine cost more than the extra CTAs give. H200, V2-Lite (16
 * heads) `latte bench --input-len 512`, decode tok/s, two runs each, same machine: batch 128 10,304 / 10,232 vs
 * 9,887 / 9,864 with this off (LATTE_MLA_FULL_CHUNK=0; +4%; ncu: decode 41 + combine 26.5 µs per layer before);
 * 2048-token contexts at batch 128 (a min chunk of 1024 forced for all) 9,020 vs 9,112 (two splits vs four:
 * even); batch 32 keeps splitting (unsplit was 1–6% slower). 0: off. */
extern "C" int lt_cuda_mla_full_chunk;
int lt_cuda_mla_full_chunk = 1024;

/* Plans one decode (tile variant, split chunk, scratch for the partials) into *p; *fast / *v: the kernel. */
static latte_status lt_mla_plan(lt_cuda_ctx *c, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                                int H, int r, int dr, float scale, lt_mla_params *pp, int *fast_out, int *v_out) {
  lt_mla_params &p = *pp;
  const int T = f->num_tokens, B = f->num_seqs;
  const int fast = r == MLA_DV && dr == MLA_D - MLA_DV && H % 16 == 0;
  if (!fast && (r > 32 * MLA_GEN_MAXR || r + dr > 32 * MLA_GEN_MAXW))
    return lt_err(LATTE_ERR_UNSUPPORTED, "mla_decode: r=%d dr=%d beyond the cuda kernels", r, dr);
  int v = 0;
  if (fast) {
    v = H % 64 == 0 ? MLA_DEFAULT_V64 : MLA_DEFAULT_V16;
    int fv = mla_forced_variant;
    if (fv >= 1 && fv <= MLA_NVARIANTS && H % MLA_VARIANTS[fv - 1].m == 0) v = fv;
  }
  const int M = fast ? MLA_VARIANTS[v - 1].m : 1;
  const int BN = fast ? MLA_VARIANTS[v - 1].bn : 1;
  const int per_sm = fast ? MLA_VARIANTS[v - 1].per_sm : 8;
  /* Split-KV: the chunk of context per CTA (lt_cuda_mla_split_rule above). */
  int64_t work = 0;  /* Σ over tokens of context length × head blocks */
  int max_ctx = 1;
  if (f->plan_ctx > 0) {  /* decode bucket: plan from the bound alone (same launch every step; graphs) */
    if (f->max_seq_len > f->plan_ctx)
      return lt_err(LATTE_ERR_INVALID, "mla_decode: context %d beyond plan_ctx %d", f->max_seq_len, f->plan_ctx);
    work = (int64_t)T * f->plan_ctx;
    max_ctx = f->plan_ctx;
  } else {
    for (int s = 0; s < B; s++) {
      int64_t ql_ = f->h_qo_indptr[s + 1] - f->h_qo_indptr[s], pre = f->h_seq_lens[s] - ql_;
      work += ql_ * pre + ql_ * (ql_ + 1) / 2;
      if (ql_ > 0 && f->h_seq_lens[s] > max_ctx) max_ctx = f->h_seq_lens[s];
    }
  }
  work *= H / M;
  const int64_t slots = (int64_t)c->sm_count * per_sm;  /* CTAs resident at once */
  const int rule = lt_cuda_mla_split_rule >= 0 ? lt_cuda_mla_split_rule : M == 64;
  int min_chunk = fast ? lt_cuda_mla_min_chunk : 64;
  if (fast && rule == 0 && 4 * (int64_t)T * (H / M) >= 3 * (int64_t)c->sm_count && min_chunk < lt_cuda_mla_full_chunk)
    min_chunk = lt_cuda_mla_full_chunk;
  const int64_t fill = rule == 1 && fast ? slots : 2 * slots;
  int64_t chunk = (work + fill - 1) / fill;
  if (chunk < min_chunk) chunk = min_chunk;
  if (rule == 1 && fast) {
    const int64_t ns = (max_ctx + chunk / 2) / chunk;  /* round(max_ctx / chunk) */
    if (ns <= 1) chunk = max_ctx > chunk ? max_ctx : chunk;
    else chunk = (max_ctx + ns - 1) / ns;
    if (chunk < min_chunk) chunk = min_chunk;
  }
  /* partial buffers: T × splits × H × r f32 — keep under 512 MB */
  const int64_t per_split = (int64_t)T * H * r * 4;
  int64_t cap_splits = ((int64_t)512 << 20) / per_split;
  if (cap_splits < 1) cap_splits = 1;
  if ((max_ctx + chunk - 1) / chunk > cap_splits) chunk = (max_ctx + cap_splits - 1) / cap_splits;
  chunk = (chunk + BN - 1) / BN * BN;
  memset(&p, 0, sizeof p);
  p.ql = (const bf16 *)ql; p.cache = (const bf16 *)cache; p.out = (bf16 *)out_lat;
  p.qo_indptr = f->d_qo_indptr; p.seq_lens = f->d_seq_lens; p.kv_indptr = f->d_kv_indptr; p.kv_indices = f->d_kv_indices;
  p.num_seqs = B; p.num_tokens = T; p.heads = H; p.r = r; p.dr = dr; p.page_size = f->page_size;
  p.chunk = (int)chunk;
  p.max_splits = (int)((max_ctx + chunk - 1) / chunk);
  p.scale_log2 = scale * 1.4426950408889634f;
  if (p.max_splits > 1) {
    LT_TRY(lt_cuda_scratch(c, LT_SCR_ATTN, (size_t)T * p.max_splits * H * r * sizeof(float), (void **)&p.part_o));
    LT_TRY(lt_cuda_scratch(c, LT_SCR_ATTN2, (size_t)T * p.max_splits * H * sizeof(float), (void **)&p.part_lse));
  }
  *fast_out = fast;
  *v_out = v;
  return LATTE_OK;
}

/* The attention kernel of a planned decode: out_lat rows of one-split tokens, partials of the others. */
static latte_status lt_mla_attend(lt_cuda_ctx *c, const lt_mla_params &p, int fast, int v) {
  if (fast) return launch_variant(c, p, p.num_tokens, v);
  dim3 grid(p.heads, p.max_splits, p.num_tokens);
  (void)lt_launch(lt_k_mla_decode_generic, grid, 32, 0, c->stream, p);
  LT_LAUNCH_CHECK("mla_decode_generic");
  return LATTE_OK;
}

/* The combine of a planned decode with max_splits > 1: the other tokens' rows of out_lat. */
static latte_status lt_mla_combine(lt_cuda_ctx *c, const lt_mla_params &p) {
  /* blockIdx.z splits r over 4 blocks: a decode token's 16 heads spread over 64 SMs */
  const int z = (p.r + 127) / 128 < 4 ? (p.r + 127) / 128 : 4;
  (void)lt_launch(lt_k_mla_combine, dim3(p.heads, p.num_tokens, z), 128, 0, c->stream, p);
  LT_LAUNCH_CHECK("mla_combine");
  return LATTE_OK;
}

extern "C" latte_status lt_cuda_mla_decode(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache,
                                           void *out_lat, int H, int r, int dr, float scale) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (f->num_tokens <= 0) return LATTE_OK;
  lt_mla_params p;
  int fast = 0, v = 0;
  LT_TRY(lt_mla_plan(c, f, ql, cache, out_lat, H, r, dr, scale, &p, &fast, &v));
  LT_TRY(lt_mla_attend(c, p, fast, v));
  if (p.max_splits > 1) LT_TRY(lt_mla_combine(c, p));
  return LATTE_OK;
}

/* mla_decode_v: the decode, then out_v. When the decode splits the context, out_v takes its streaming
 * kernel and the partials are small (lt_cuda_mla_fuse_max_part), that kernel combines the splits itself
 * (FUSED: no lt_k_mla_combine launch; bitwise the same result); otherwise the plain sequence. out_lat
 * holds only the one-split tokens' rows then. */
extern "C" latte_status lt_cuda_mla_decode_v(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache,
                                             void *out_lat, const lt_mla_w *w, void *out, int H, int r, int dr,
                                             float scale) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const int T = f->num_tokens;
  if (T <= 0) return LATTE_OK;
  if (w->heads != H || w->r != r)
    return lt_err(LATTE_ERR_INVALID, "mla_decode_v: weights of %d heads × r %d for %d heads × r %d", w->heads, w->r,
                  H, r);
  lt_mla_params p;
  int fast = 0, v = 0;
  LT_TRY(lt_mla_plan(c, f, ql, cache, out_lat, H, r, dr, scale, &p, &fast, &v));
  LT_TRY(lt_mla_attend(c, p, fast, v));
  const int cl = w->dv / LT_OV_CS;
  const double part = (double)T * p.max_splits * H * r * sizeof(float);  /* bytes of split partials */
  if (p.max_splits > 1 && part <= (double)lt_cuda_mla_fuse_max_part && lt_mla_ov_small(T, w, out_lat, out) &&
      cl >= 1 && cl <= LT_OV_MAX_CL && (size_t)T * (r / cl) * sizeof(bf16) <= 32768) {
    lt_cuda_mla_decode_v_fused++;
    return lt_mla_out_v_small(c, out_lat, w, out, T, &p);
  }
  if (p.max_splits > 1) LT_TRY(lt_mla_combine(c, p));
  return lt_cuda_mla_out_v(b, out_lat, w, out, T);
}
