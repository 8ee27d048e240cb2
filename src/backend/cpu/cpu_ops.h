/* cpu_ops.h — internal declarations shared by the CPU reference backend's files. The CPU backend
 * computes in fp32 (activations and latent cache are F32), weights are dequantised exactly. */
#ifndef LT_CPU_OPS_H
#define LT_CPU_OPS_H
#include "backend/backend.h"

typedef struct {
  int threads;
  int quant_bf16;  /* LATTE_CPU_W8A8_BF16=1: w8a8 quantises bf16(x), what a bf16-activation GPU quantises */
  float fp8_lut[256];
} lt_cpu_ctx;

/* Dequantise rows [n0, n0+nr) of W into dst [nr, k] (fp32). */
void lt_cpu_weight_rows(const lt_cpu_ctx *c, const lt_weight *w, int64_t n0, int64_t nr, float *dst);
/* Quantise-dequantise rows of x per 128-channel group to e4m3 (s = amax/448), as a w8a8 GEMM sees them;
 * with c->quant_bf16, of x rounded to bf16 first (the GPU backend's activations are bf16). */
void lt_cpu_quant_rows(const lt_cpu_ctx *c, const float *x, int64_t x_stride, float *out, int rows, int64_t k);

latte_status lt_cpu_embed(lt_backend *b, const lt_fwd *f, const lt_weight *emb, void *x);
latte_status lt_cpu_rmsnorm(lt_backend *b, const void *x, int64_t xs, const float *w, void *y, int64_t ys,
                            int rows, int dim, float eps);
latte_status lt_cpu_add_rmsnorm(lt_backend *b, void *resid, const void *delta, const float *w, void *y,
                                int rows, int dim, float eps);
latte_status lt_cpu_add(lt_backend *b, void *y, const void *x, int64_t n);
latte_status lt_cpu_argmax_rows(lt_backend *b, const float *logits, int rows, int vocab, int32_t *ids);
latte_status lt_cpu_sample_rows(lt_backend *b, const float *logits, int rows, int vocab, const lt_sample_params *p,
                                int32_t *ids);
/* One row of sample_rows (cpu_sample.c); *thr = the keep threshold, *kept = the kept mass (optional). */
int32_t lt_cpu_sample_row(const float *x, int vocab, const lt_sample_params *p, float *thr, double *kept);
latte_status lt_cpu_gather_rows(lt_backend *b, const void *x, const int32_t *rows, int n, int dim, void *out);
latte_status lt_cpu_linear(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows);
latte_status lt_cpu_linear_f32out(lt_backend *b, const void *x, const lt_weight *w, float *y, int rows);
latte_status lt_cpu_rope_cache_write(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads,
                                     int dn, int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                     const void *kpe, int64_t kpe_stride, int r, void *cache);
/* y[:dim] = x[:dim] / rms(x) * w (the arithmetic of lt_cpu_rmsnorm, one row) */
void lt_cpu_norm_row(const float *x, const float *w, float *y, int dim, float eps);
latte_status lt_cpu_gather_kv(lt_backend *b, const lt_fwd *f, const void *cache, int width, void *lat);
latte_status lt_cpu_attn_extend(lt_backend *b, const lt_fwd *f, const void *q, const void *kvb, const void *lat,
                                void *out, int heads, int dn, int dr, int dv, int r, float scale);
latte_status lt_cpu_mla_new(lt_backend *b, const lt_weight *kv_b, int heads, int dn, int dv, int r, lt_mla_w *out);
void lt_cpu_mla_free(lt_backend *b, lt_mla_w *w);
latte_status lt_cpu_mla_absorb_q(lt_backend *b, const void *q, const lt_mla_w *w, int dr, void *ql, int rows);
latte_status lt_cpu_mla_decode(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                               int heads, int r, int dr, float scale);
latte_status lt_cpu_mla_out_v(lt_backend *b, const void *out_lat, const lt_mla_w *w, void *out, int rows);
latte_status lt_cpu_moe_route(lt_backend *b, const void *x, const lt_weight *gate, const float *bias,
                              const lt_route_cfg *cfg, int rows, int32_t *ids, float *weights,
                              const lt_moe_w *experts);
latte_status lt_cpu_moe_experts(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                const float *weights, int top_k, int rows, void *out);
latte_status lt_cpu_mlp(lt_backend *b, const void *x, const lt_mlp_w *w, void *out, int rows);

/* The context index range of new token t: sequence s, causal limit. Fills seq[t], and ctx_len[t]
 * (number of context tokens token t may attend). Arrays of length f->num_tokens. */
void lt_cpu_token_map(const lt_fwd *f, int *seq, int *ctx_len);
/* Cache slot of context token j of sequence s. */
static inline int64_t lt_cpu_slot(const lt_fwd *f, int s, int64_t j) {
  int64_t ps = f->page_size;
  return (int64_t)f->h_kv_indices[f->h_kv_indptr[s] + j / ps] * ps + j % ps;
}
#endif
