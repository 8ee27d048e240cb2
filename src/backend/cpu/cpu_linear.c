/* cpu_linear.c — CPU reference linear layers: y = x · Wᵀ with W dequantised exactly (bf16/f16 → f32,
 * fp8 × 128×128 block scale) in chunks of 64 rows and applied with OpenBLAS sgemv; optional w8a8
 * input quantisation (per token, per 128 channels, e4m3, s = amax/448) for FP8 weights. */
#include "backend/cpu/cpu_ops.h"
#include "base/err.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LT_CPU_CHUNK 64   /* weight rows dequantised per sgemm call */

void lt_cpu_weight_rows(const lt_cpu_ctx *c, const lt_weight *w, int64_t n0, int64_t nr, float *dst) {
  size_t es = lt_dtype_size(w->dtype);
  const uint8_t *base = (const uint8_t *)w->data + (size_t)(n0 * w->k) * es;
  if (w->dtype != LT_F8E4M3) {
    lt_to_f32(w->dtype, base, dst, (size_t)(nr * w->k));
    return;
  }
  int64_t sk = (w->k + w->bk - 1) / w->bk;
  for (int64_t i = 0; i < nr; i++) {
    const float *srow = w->scale + ((n0 + i) / w->bn) * sk;
    const uint8_t *q = base + i * w->k;
    float *d = dst + i * w->k;
    for (int64_t j = 0; j < w->k; j++) d[j] = c->fp8_lut[q[j]] * srow[j / w->bk];
  }
}

void lt_cpu_quant_rows(const lt_cpu_ctx *c, const float *x, int64_t xs, float *out, int rows, int64_t k) {
  #pragma omp parallel for schedule(static)
  for (int i = 0; i < rows; i++) {
    const float *xi = x + i * xs;
    float *oi = out + i * k;
    if (c->quant_bf16) {  /* the group arithmetic below on bf16(x), staged in out */
      for (int64_t j = 0; j < k; j++) oi[j] = lt_bf16_to_f32(lt_f32_to_bf16(xi[j]));
      xi = oi;
    }
    for (int64_t g = 0; g < k; g += 128) {
      int64_t ge = g + 128 < k ? g + 128 : k;
      float amax = 0;
      for (int64_t j = g; j < ge; j++) amax = fmaxf(amax, fabsf(xi[j]));
      /* q = e4m3(x · 448/amax), dequantised as q / (448/amax): the reference's arithmetic, bit for bit */
      float inv = amax > 0 ? 448.0f / amax : 0.0f;
      for (int64_t j = g; j < ge; j++)
        oi[j] = inv > 0 ? c->fp8_lut[lt_f32_to_fp8e4m3(xi[j] * inv)] / inv : 0.0f;
    }
  }
}

/* y [rows, n] (row stride ys) = x [rows, k] (row stride xs) · Wᵀ */
static latte_status linear_f32(lt_backend *b, const float *x, int64_t xs, const lt_weight *w, float *y,
                               int64_t ys, int rows) {
  const lt_cpu_ctx *c = b->ctx;
  if (rows <= 0) return LATTE_OK;
  float *xq = NULL;
  if (b->w8a8 && w->dtype == LT_F8E4M3) {
    xq = malloc((size_t)(rows * w->k) * sizeof(float));
    if (!xq) return lt_err(LATTE_ERR_NOMEM, "linear: out of memory");
    lt_cpu_quant_rows(c, x, xs, xq, rows, w->k);
    x = xq;
    xs = w->k;
  }
  int64_t nchunks = (w->n + LT_CPU_CHUNK - 1) / LT_CPU_CHUNK;
  int fail = 0;
  #pragma omp parallel
  {
    float *wf = malloc((size_t)(LT_CPU_CHUNK * w->k) * sizeof(float));
    if (!wf) {
      #pragma omp atomic write
      fail = 1;
    }
    #pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < nchunks; ch++) {
      if (!wf) continue;
      int64_t n0 = ch * LT_CPU_CHUNK;
      int64_t nr = w->n - n0 < LT_CPU_CHUNK ? w->n - n0 : LT_CPU_CHUNK;
      lt_cpu_weight_rows(c, w, n0, nr, wf);
      /* y[i, n0:n0+nr] [nr] = wf [nr, k] · x[i] [k], one row at a time: the same call for a row
       * whatever the batch, so a token's result never depends on what else is in the batch */
      for (int i = 0; i < rows; i++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nr, (int)w->k, 1.0f, wf, (int)w->k, x + (int64_t)i * xs, 1,
                    0.0f, y + (int64_t)i * ys + n0, 1);
    }
    free(wf);
  }
  free(xq);
  if (fail) return lt_err(LATTE_ERR_NOMEM, "linear: out of memory");
  return LATTE_OK;
}

latte_status lt_cpu_linear(lt_backend *b, const void *x, int64_t xs, const lt_weight *w, void *y, int rows) {
  return linear_f32(b, x, xs, w, y, w->n, rows);
}

latte_status lt_cpu_linear_f32out(lt_backend *b, const void *x, const lt_weight *w, float *y, int rows) {
  return linear_f32(b, x, w->k, w, y, w->n, rows);
}
