/* cuda_norm.cu — element-wise ops of the CUDA backend: embedding lookup, RMSNorm (strided, in place
 * allowed; or writing the e4m3 input of the FP8 linear it feeds as well), fused residual add + RMSNorm
 * (resid stored bf16, norm of the fp32 sum, as SGLang), vector add and row gather. bf16 storage, fp32
 * math; one block per row, 16-byte loads where aligned. */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_fp8.cuh"
#include "backend/cuda/cuda_rownorm.cuh"
#include <stdint.h>

typedef __nv_bfloat16 bf16;

static lt_cuda_ctx *ctx_of(lt_backend *b) { return (lt_cuda_ctx *)b->ctx; }
static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* ---- embedding: x[t, :] = emb[ids[t], :] ---- */
template <int VEC>
__global__ void lt_k_embed(const int32_t *ids, const bf16 *emb, int64_t vocab, int h, bf16 *x) {
  LT_PDL_ENTER();
  int t = blockIdx.x;
  int64_t id = ids[t];
  bf16 *dst = x + (int64_t)t * h;
  if (id < 0 || id >= vocab) {  /* out-of-range id: zeros rather than a wild read */
    for (int i = threadIdx.x; i < h; i += blockDim.x) dst[i] = __float2bfloat16(0.0f);
    return;
  }
  const bf16 *src = emb + id * h;
  if (VEC == 8) {
    for (int i = threadIdx.x; i < h / 8; i += blockDim.x) ((uint4 *)dst)[i] = ((const uint4 *)src)[i];
  } else {
    for (int i = threadIdx.x; i < h; i += blockDim.x) dst[i] = src[i];
  }
}

extern "C" latte_status lt_cuda_embed(lt_backend *b, const lt_fwd *f, const lt_weight *emb, void *x) {
  lt_cuda_ctx *c = ctx_of(b);
  if (emb->dtype != LT_BF16) return lt_err(LATTE_ERR_UNSUPPORTED, "cuda embed: embedding must be bf16");
  int T = f->num_tokens, h = (int)emb->k;
  if (T <= 0) return LATTE_OK;
  if (h % 8 == 0 && aligned16(emb->data) && aligned16(x))
    (void)lt_launch(lt_k_embed<8>, T, 128, 0, c->stream, f->d_ids, (const bf16 *)emb->data, emb->n, h, (bf16 *)x);
  else
    (void)lt_launch(lt_k_embed<1>, T, 128, 0, c->stream, f->d_ids, (const bf16 *)emb->data, emb->n, h, (bf16 *)x);
  LT_LAUNCH_CHECK("lt_k_embed");
  return LATTE_OK;
}

/* ---- RMSNorm: y[i, :dim] = w * x[i, :dim] / rms; x == y allowed (each element is read then
 * written by the same thread, after the block-wide reduction) ---- */

/* One row, dim % 8 == 0, the row, y's row and w 16-byte aligned: yr = bf16(w · xr / rms(xr)); keep(i, v) also
 * receives each packed 8-group v (elements 8i .. 8i+7). The sum of squares' order depends on blockDim. */
template <class Keep>
__device__ __forceinline__ void lt_rmsnorm_row8(const bf16 *xr, const float *w, bf16 *yr, int dim, float eps,
                                                Keep keep) {
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim / 8; i += blockDim.x) {
    float f[8];
    lt_unpack8(((const uint4 *)xr)[i], f);
    for (int j = 0; j < 8; j++) ss += f[j] * f[j];
  }
  ss = lt_block_sum(ss);
  float inv = rsqrtf(ss / (float)dim + eps);
  for (int i = threadIdx.x; i < dim / 8; i += blockDim.x) {
    float f[8];
    lt_unpack8(((const uint4 *)xr)[i], f);
    const float4 w0 = ((const float4 *)w)[2 * i], w1 = ((const float4 *)w)[2 * i + 1];
    f[0] = w0.x * (f[0] * inv); f[1] = w0.y * (f[1] * inv); f[2] = w0.z * (f[2] * inv); f[3] = w0.w * (f[3] * inv);
    f[4] = w1.x * (f[4] * inv); f[5] = w1.y * (f[5] * inv); f[6] = w1.z * (f[6] * inv); f[7] = w1.w * (f[7] * inv);
    const uint4 v = lt_pack8(f);
    ((uint4 *)yr)[i] = v;
    keep(i, v);
  }
}

template <int VEC>
__global__ void lt_k_rmsnorm(const bf16 *x, int64_t xs, const float *w, bf16 *y, int64_t ys, int dim, float eps) {
  LT_PDL_ENTER();
  const bf16 *xr = x + blockIdx.x * xs;
  bf16 *yr = y + blockIdx.x * ys;
  if (VEC == 8) {
    lt_rmsnorm_row8(xr, w, yr, dim, eps, [](int, uint4) {});
    return;
  }
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) { float v = __bfloat162float(xr[i]); ss += v * v; }
  ss = lt_block_sum(ss);
  float inv = rsqrtf(ss / (float)dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = __float2bfloat16(w[i] * (__bfloat162float(xr[i]) * inv));
}

extern "C" latte_status lt_cuda_rmsnorm(lt_backend *b, const void *x, int64_t xs, const float *w, void *y, int64_t ys,
                                        int rows, int dim, float eps) {
  lt_cuda_ctx *c = ctx_of(b);
  if (rows <= 0) return LATTE_OK;
  int vec = dim % 8 == 0 && xs % 8 == 0 && ys % 8 == 0 && aligned16(x) && aligned16(y) && aligned16(w);
  if (vec)
    (void)lt_launch(lt_k_rmsnorm<8>, rows, lt_norm_threads(dim), 0, c->stream, (const bf16 *)x, xs, w, (bf16 *)y, ys, dim, eps);
  else
    (void)lt_launch(lt_k_rmsnorm<1>, rows, lt_norm_threads(dim), 0, c->stream, (const bf16 *)x, xs, w, (bf16 *)y, ys, dim, eps);
  LT_LAUNCH_CHECK("lt_k_rmsnorm");
  return LATTE_OK;
}

/* 1 (default): rmsnorm_linear writes an FP8 linear's e4m3 input in the norm's launch and linear_pair quantises
 * x once for two FP8 weights, where the wgmma kernel takes them; 0: the norm, then each linear quantising its
 * own input (LATTE_FP8_PREQUANT=0, measuring) */
extern "C" int lt_cuda_fp8_prequant_on;
int lt_cuda_fp8_prequant_on = 1;

/* ---- RMSNorm feeding an FP8 linear: y [rows, dim] (row stride dim) = lt_k_rmsnorm<8>'s y bit for bit (the
 * same threads in the same order), and of bf16(y) per 128-group xq [rows, dim] e4m3 + scales sc[g·rows + m],
 * lt_k_quant_rows's arithmetic (lt_quant_group4): the bytes the linear's own quantisation would write.
 * dim % 128 == 0; dynamic shared memory: dim floats (bf16(y) between the two passes); x == y allowed. ---- */
__global__ void lt_k_rmsnorm_q(const bf16 *x, int64_t xs, const float *w, bf16 *y, int dim, float eps, int rows,
                               uint8_t *xq, float *sc) {
  LT_PDL_ENTER();
  extern __shared__ float lt_sy[];
  /* y as lt_k_rmsnorm<8>; bf16(y), what the linear quantises, kept in shared memory */
  lt_rmsnorm_row8(x + blockIdx.x * xs, w, y + (int64_t)blockIdx.x * dim, dim, eps,
                  [](int i, uint4 v) { lt_unpack8(v, lt_sy + 8 * i); });
  __syncthreads();
  const int lane = threadIdx.x & 31, G = dim / 128;
  for (int g = threadIdx.x >> 5; g < G; g += blockDim.x >> 5) {  /* one warp per 128-group */
    float v[4];
    for (int j = 0; j < 4; j++) v[j] = lt_sy[g * 128 + lane * 4 + j];
    float s;
    *(uint32_t *)(xq + (int64_t)blockIdx.x * dim + g * 128 + lane * 4) = lt_quant_group4(v, &s);
    if (lane == 0) sc[(int64_t)g * rows + blockIdx.x] = s;
  }
}

/* rmsnorm_linear: for e4m3 W the wgmma kernel takes at these rows, one launch of lt_k_rmsnorm_q into the GEMM
 * scratch and the GEMM over it (no quantisation launch); else the norm and the linear (lt_rmsnorm_linear_seq). */
extern "C" latte_status lt_cuda_rmsnorm_linear(lt_backend *b, const void *x, int64_t xs, const float *ln, float eps,
                                               void *xn, const lt_weight *w, void *y, int rows) {
  lt_cuda_ctx *c = ctx_of(b);
  if (rows <= 0) return LATTE_OK;
  const int64_t dim = w->k;
  const int fuse = lt_cuda_fp8_prequant_on && dim % 128 == 0 && dim <= 12288 && xs % 8 == 0 && aligned16(x) &&
                   aligned16(xn) && aligned16(ln) && lt_cuda_fp8_wg_takes(b, w, rows);
  if (!fuse) return lt_rmsnorm_linear_seq(b, x, xs, ln, eps, xn, w, y, rows);
  uint8_t *xq;
  float *xsc;
  LT_TRY(lt_cuda_fp8_xq_buf(c, rows, (int)dim, &xq, &xsc));
  /* xn [rows, dim] = rmsnorm(x) · ln; xq, xsc = its e4m3 groups */
  (void)lt_launch(lt_k_rmsnorm_q, rows, lt_norm_threads((int)dim), sizeof(float) * (size_t)dim, c->stream,
                  (const bf16 *)x, xs, ln, (bf16 *)xn, (int)dim, eps, rows, xq, xsc);
  LT_LAUNCH_CHECK("lt_k_rmsnorm_q");
  return lt_cuda_fp8_wg_q(b, xq, xsc, w, y, rows, 0);  /* y [rows, n] = xq · Wᵀ */
}

/* ---- fused add + RMSNorm: s = resid + delta (fp32); resid = bf16(s); y = w * s / rms(s).
 * The fp32 sums live in dynamic shared memory (dim floats) between the two passes. ---- */
template <int VEC>
__global__ void lt_k_add_rmsnorm(bf16 *resid, const bf16 *delta, const float *w, bf16 *y, int dim, float eps) {
  LT_PDL_ENTER();
  extern __shared__ float lt_sx[];
  bf16 *rr = resid + (int64_t)blockIdx.x * dim;
  const bf16 *dr = delta + (int64_t)blockIdx.x * dim;
  bf16 *yr = y + (int64_t)blockIdx.x * dim;
  if (VEC == 8) {
    lt_add_rmsnorm_row<8>(rr, [dr](int i) { return ((const uint4 *)dr)[i]; }, w, yr, dim, eps, lt_sx);
    return;
  }
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float a = __bfloat162float(rr[i]) + __bfloat162float(dr[i]);
    ss += a * a;
    lt_sx[i] = a;
    rr[i] = __float2bfloat16(a);
  }
  ss = lt_block_sum(ss);
  float inv = rsqrtf(ss / (float)dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = __float2bfloat16(w[i] * (lt_sx[i] * inv));
}

extern "C" latte_status lt_cuda_add_rmsnorm(lt_backend *b, void *resid, const void *delta, const float *w, void *y,
                                            int rows, int dim, float eps) {
  lt_cuda_ctx *c = ctx_of(b);
  if (rows <= 0) return LATTE_OK;
  size_t smem = (size_t)dim * sizeof(float);
  if (smem > (size_t)c->smem_optin)
    return lt_err(LATTE_ERR_UNSUPPORTED, "cuda add_rmsnorm: dim %d exceeds shared memory", dim);
  int vec = dim % 8 == 0 && aligned16(resid) && aligned16(delta) && aligned16(y);
  if (vec) {
    if (smem > 48 * 1024)
      LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_add_rmsnorm<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    (void)lt_launch(lt_k_add_rmsnorm<8>, rows, lt_norm_threads(dim), smem, c->stream, (bf16 *)resid, (const bf16 *)delta, w,
                                                                      (bf16 *)y, dim, eps);
  } else {
    if (smem > 48 * 1024)
      LT_CUDA_TRY(cudaFuncSetAttribute(lt_k_add_rmsnorm<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    (void)lt_launch(lt_k_add_rmsnorm<1>, rows, lt_norm_threads(dim), smem, c->stream, (bf16 *)resid, (const bf16 *)delta, w,
                                                                      (bf16 *)y, dim, eps);
  }
  LT_LAUNCH_CHECK("lt_k_add_rmsnorm");
  return LATTE_OK;
}

/* ---- y[i] += x[i] ---- */
__global__ void lt_k_add8(bf16 *y, const bf16 *x, int64_t n8) {
  LT_PDL_ENTER();
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n8; i += (int64_t)gridDim.x * blockDim.x) {
    float a[8], d[8];
    lt_unpack8(((const uint4 *)y)[i], a);
    lt_unpack8(((const uint4 *)x)[i], d);
    for (int j = 0; j < 8; j++) a[j] += d[j];
    ((uint4 *)y)[i] = lt_pack8(a);
  }
}
__global__ void lt_k_add1(bf16 *y, const bf16 *x, int64_t n) {
  LT_PDL_ENTER();
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = __float2bfloat16(__bfloat162float(y[i]) + __bfloat162float(x[i]));
}

extern "C" latte_status lt_cuda_add(lt_backend *b, void *y, const void *x, int64_t n) {
  lt_cuda_ctx *c = ctx_of(b);
  if (n <= 0) return LATTE_OK;
  int64_t cap = (int64_t)c->sm_count * 16;
  if (n % 8 == 0 && aligned16(x) && aligned16(y)) {
    int64_t nb = (n / 8 + 255) / 256;
    (void)lt_launch(lt_k_add8, (unsigned)(nb < cap ? nb : cap), 256, 0, c->stream, (bf16 *)y, (const bf16 *)x, n / 8);
    LT_LAUNCH_CHECK("lt_k_add8");
  } else {
    int64_t nb = (n + 255) / 256;
    (void)lt_launch(lt_k_add1, (unsigned)(nb < cap ? nb : cap), 256, 0, c->stream, (bf16 *)y, (const bf16 *)x, n);
    LT_LAUNCH_CHECK("lt_k_add1");
  }
  return LATTE_OK;
}

/* ---- out[i, :] = x[rows[i], :] (rows in device memory) ---- */
template <int VEC>
__global__ void lt_k_gather_rows(const bf16 *x, const int32_t *rows, int dim, bf16 *out) {
  LT_PDL_ENTER();
  const bf16 *src = x + (int64_t)rows[blockIdx.x] * dim;
  bf16 *dst = out + (int64_t)blockIdx.x * dim;
  if (VEC == 8) {
    for (int i = threadIdx.x; i < dim / 8; i += blockDim.x) ((uint4 *)dst)[i] = ((const uint4 *)src)[i];
  } else {
    for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
  }
}

extern "C" latte_status lt_cuda_gather_rows(lt_backend *b, const void *x, const int32_t *rows, int n, int dim,
                                            void *out) {
  lt_cuda_ctx *c = ctx_of(b);
  if (n <= 0) return LATTE_OK;
  if (dim % 8 == 0 && aligned16(x) && aligned16(out))
    (void)lt_launch(lt_k_gather_rows<8>, n, 128, 0, c->stream, (const bf16 *)x, rows, dim, (bf16 *)out);
  else
    (void)lt_launch(lt_k_gather_rows<1>, n, 128, 0, c->stream, (const bf16 *)x, rows, dim, (bf16 *)out);
  LT_LAUNCH_CHECK("lt_k_gather_rows");
  return LATTE_OK;
}
