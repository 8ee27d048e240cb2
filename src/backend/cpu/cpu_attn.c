/* cpu_attn.c — CPU reference attention: extend/prefill MHA over decompressed keys and values, and
 * absorbed MLA over the paged latent cache (with the w_kc / w_vc absorption). fp32, causal. */
#include "backend/cpu/cpu_ops.h"
#include "base/err.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void lt_cpu_token_map(const lt_fwd *f, int *seq, int *ctx_len) {
  for (int s = 0; s < f->num_seqs; s++) {
    int q0 = f->h_qo_indptr[s], q1 = f->h_qo_indptr[s + 1];
    int prefix = f->h_seq_lens[s] - (q1 - q0);
    for (int t = q0; t < q1; t++) { seq[t] = s; ctx_len[t] = prefix + (t - q0) + 1; }
  }
}

/* softmax of p[0..n) in place */
static void softmax(float *p, int n) {
  float m = -INFINITY;
  for (int j = 0; j < n; j++) m = fmaxf(m, p[j]);
  double sum = 0;
  for (int j = 0; j < n; j++) { p[j] = expf(p[j] - m); sum += p[j]; }
  float inv = (float)(1.0 / sum);
  for (int j = 0; j < n; j++) p[j] *= inv;
}

latte_status lt_cpu_attn_extend(lt_backend *b, const lt_fwd *f, const void *qv, const void *kvbv, const void *latv,
                                void *outv, int H, int dn, int dr, int dv, int r, float scale) {
  const float *q = qv, *kvb = kvbv, *lat = latv;
  float *out = outv;
  int T = f->num_tokens;
  int *seq = malloc(sizeof(int) * (size_t)T * 2 + 1);
  if (!seq) return lt_err(LATTE_ERR_NOMEM, "attn_extend: out of memory");
  int *ctx = seq + T;
  lt_cpu_token_map(f, seq, ctx);
  int fail = 0;
  #pragma omp parallel
  {
    float *p = malloc(sizeof(float) * (size_t)(f->max_seq_len + 1));
    if (!p) fail = 1;
    #pragma omp for collapse(2) schedule(dynamic, 4)
    for (int t = 0; t < T; t++) {
      for (int h = 0; h < H; h++) {
        if (!p) continue;
        const float *qh = q + ((int64_t)t * H + h) * (dn + dr);
        int64_t base = f->h_kv_tok_indptr[seq[t]];
        int n = ctx[t];
        for (int j = 0; j < n; j++) {  /* score = q_nope·k_nope + q_pe·k_pe */
          const float *k = kvb + ((base + j) * H + h) * (dn + dv);
          const float *kpe = lat + (base + j) * (r + dr) + r;
          float s = 0;
          for (int i = 0; i < dn; i++) s += qh[i] * k[i];
          for (int i = 0; i < dr; i++) s += qh[dn + i] * kpe[i];
          p[j] = s * scale;
        }
        softmax(p, n);
        float *o = out + ((int64_t)t * H + h) * dv;
        memset(o, 0, sizeof(float) * (size_t)dv);
        for (int j = 0; j < n; j++) {  /* o = Σ p_j v_j */
          const float *v = kvb + ((base + j) * H + h) * (dn + dv) + dn;
          for (int i = 0; i < dv; i++) o[i] += p[j] * v[i];
        }
      }
    }
    free(p);
  }
  free(seq);
  if (fail) return lt_err(LATTE_ERR_NOMEM, "attn_extend: out of memory");
  return LATTE_OK;
}

/* w_kc [H, dn, r] and w_vc [H, dv, r] are the rows of kv_b_proj [H*(dn+dv), r], dequantised. */
latte_status lt_cpu_mla_new(lt_backend *b, const lt_weight *kv_b, int H, int dn, int dv, int r, lt_mla_w *out) {
  memset(out, 0, sizeof *out);
  if (kv_b->n != (int64_t)H * (dn + dv) || kv_b->k != r)
    return lt_err(LATTE_ERR_FORMAT, "kv_b_proj: shape [%lld, %lld], expected [%d, %d]", (long long)kv_b->n,
                  (long long)kv_b->k, H * (dn + dv), r);
  float *wk = malloc(sizeof(float) * (size_t)H * dn * r), *wv = malloc(sizeof(float) * (size_t)H * dv * r);
  float *tmp = malloc(sizeof(float) * (size_t)(dn + dv) * r);
  if (!wk || !wv || !tmp) { free(wk); free(wv); free(tmp); return lt_err(LATTE_ERR_NOMEM, "mla weights: out of memory"); }
  for (int h = 0; h < H; h++) {
    lt_cpu_weight_rows(b->ctx, kv_b, (int64_t)h * (dn + dv), dn + dv, tmp);
    memcpy(wk + (int64_t)h * dn * r, tmp, sizeof(float) * (size_t)dn * r);
    memcpy(wv + (int64_t)h * dv * r, tmp + (int64_t)dn * r, sizeof(float) * (size_t)dv * r);
  }
  free(tmp);
  out->heads = H; out->dn = dn; out->dv = dv; out->r = r;
  out->w_kc = wk; out->w_vc = wv;
  return LATTE_OK;
}

void lt_cpu_mla_free(lt_backend *b, lt_mla_w *w) { free(w->w_kc); free(w->w_vc); w->w_kc = w->w_vc = NULL; }

latte_status lt_cpu_mla_absorb_q(lt_backend *b, const void *qv, const lt_mla_w *w, int dr, void *qlv, int rows) {
  const float *q = qv, *wk = w->w_kc;
  float *ql = qlv;
  int H = w->heads, dn = w->dn, r = w->r;
  #pragma omp parallel for schedule(static)
  for (int h = 0; h < H; h++) {
    /* ql[:, h, :r] [rows, r] = q_nope[:, h] [rows, dn] · w_kc[h] [dn, r] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, r, dn, 1.0f, q + (int64_t)h * (dn + dr),
                H * (dn + dr), wk + (int64_t)h * dn * r, r, 0.0f, ql + (int64_t)h * (r + dr), H * (r + dr));
    for (int t = 0; t < rows; t++)
      memcpy(ql + ((int64_t)t * H + h) * (r + dr) + r, q + ((int64_t)t * H + h) * (dn + dr) + dn, sizeof(float) * (size_t)dr);
  }
  return LATTE_OK;
}

latte_status lt_cpu_mla_decode(lt_backend *b, const lt_fwd *f, const void *qlv, const void *cachev, void *ov,
                               int H, int r, int dr, float scale) {
  const float *ql = qlv, *cache = cachev;
  float *out = ov;
  int T = f->num_tokens, w = r + dr;
  int *seq = malloc(sizeof(int) * (size_t)T * 2 + 1);
  if (!seq) return lt_err(LATTE_ERR_NOMEM, "mla_decode: out of memory");
  int *ctx = seq + T;
  lt_cpu_token_map(f, seq, ctx);
  int fail = 0;
  #pragma omp parallel
  {
    float *p = malloc(sizeof(float) * (size_t)(f->max_seq_len + 1));
    if (!p) fail = 1;
    #pragma omp for collapse(2) schedule(dynamic, 4)
    for (int t = 0; t < T; t++) {
      for (int h = 0; h < H; h++) {
        if (!p) continue;
        const float *qh = ql + ((int64_t)t * H + h) * w;
        int n = ctx[t], s = seq[t];
        for (int j = 0; j < n; j++) {  /* score = q~ · [c | k_pe] */
          const float *k = cache + lt_cpu_slot(f, s, j) * w;
          float acc = 0;
          for (int i = 0; i < w; i++) acc += qh[i] * k[i];
          p[j] = acc * scale;
        }
        softmax(p, n);
        float *o = out + ((int64_t)t * H + h) * r;
        memset(o, 0, sizeof(float) * (size_t)r);
        for (int j = 0; j < n; j++) {  /* o_lat = Σ p_j c_j */
          const float *c = cache + lt_cpu_slot(f, s, j) * w;
          for (int i = 0; i < r; i++) o[i] += p[j] * c[i];
        }
      }
    }
    free(p);
  }
  free(seq);
  if (fail) return lt_err(LATTE_ERR_NOMEM, "mla_decode: out of memory");
  return LATTE_OK;
}

latte_status lt_cpu_mla_out_v(lt_backend *b, const void *olv, const lt_mla_w *w, void *ov, int rows) {
  const float *ol = olv, *wv = w->w_vc;
  float *out = ov;
  int H = w->heads, dv = w->dv, r = w->r;
  #pragma omp parallel for schedule(static)
  for (int h = 0; h < H; h++)
    /* out[:, h] [rows, dv] = o_lat[:, h] [rows, r] · w_vc[h] [dv, r]ᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, dv, r, 1.0f, ol + (int64_t)h * r, H * r,
                wv + (int64_t)h * dv * r, r, 0.0f, out + (int64_t)h * dv, H * dv);
  return LATTE_OK;
}
