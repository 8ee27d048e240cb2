/* cpu_norm.c — CPU reference element-wise ops: embedding lookup, RMSNorm, fused residual add +
 * RMSNorm, vector add, row gather and row argmax (greedy sampling). fp32 throughout. */
#include "backend/cpu/cpu_ops.h"
#include <math.h>
#include <string.h>

latte_status lt_cpu_embed(lt_backend *b, const lt_fwd *f, const lt_weight *emb, void *xv) {
  const lt_cpu_ctx *c = b->ctx;
  float *x = xv;
  #pragma omp parallel for schedule(static)
  for (int t = 0; t < f->num_tokens; t++)  /* x[t, :] = emb[ids[t], :] */
    lt_cpu_weight_rows(c, emb, f->d_ids[t], 1, x + (int64_t)t * emb->k);
  return LATTE_OK;
}

void lt_cpu_norm_row(const float *x, const float *w, float *y, int dim, float eps) {
  double ss = 0;
  for (int i = 0; i < dim; i++) ss += (double)x[i] * x[i];
  float inv = 1.0f / sqrtf((float)(ss / dim) + eps);
  for (int i = 0; i < dim; i++) y[i] = w[i] * (x[i] * inv);
}

latte_status lt_cpu_rmsnorm(lt_backend *b, const void *xv, int64_t xs, const float *w, void *yv, int64_t ys,
                            int rows, int dim, float eps) {
  const float *x = xv;
  float *y = yv;
  #pragma omp parallel for schedule(static)
  for (int i = 0; i < rows; i++) lt_cpu_norm_row(x + i * xs, w, y + i * ys, dim, eps);
  return LATTE_OK;
}

latte_status lt_cpu_add_rmsnorm(lt_backend *b, void *rv, const void *dv, const float *w, void *yv, int rows,
                                int dim, float eps) {
  float *r = rv, *y = yv;
  const float *d = dv;
  #pragma omp parallel for schedule(static)
  for (int i = 0; i < rows; i++) {
    float *ri = r + (int64_t)i * dim;
    const float *di = d + (int64_t)i * dim;
    for (int j = 0; j < dim; j++) ri[j] += di[j];
    lt_cpu_norm_row(ri, w, y + (int64_t)i * dim, dim, eps);
  }
  return LATTE_OK;
}

latte_status lt_cpu_add(lt_backend *b, void *yv, const void *xv, int64_t n) {
  float *y = yv;
  const float *x = xv;
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
  return LATTE_OK;
}

latte_status lt_cpu_gather_rows(lt_backend *b, const void *xv, const int32_t *rows, int n, int dim, void *ov) {
  const float *x = xv;
  float *o = ov;
  for (int i = 0; i < n; i++) memcpy(o + (int64_t)i * dim, x + (int64_t)rows[i] * dim, (size_t)dim * sizeof(float));
  return LATTE_OK;
}

latte_status lt_cpu_argmax_rows(lt_backend *b, const float *logits, int rows, int vocab, int32_t *ids) {
  for (int i = 0; i < rows; i++) {
    const float *x = logits + (int64_t)i * vocab;
    int best = 0;
    for (int j = 1; j < vocab; j++) if (x[j] > x[best]) best = j;
    ids[i] = best;
  }
  return LATTE_OK;
}
