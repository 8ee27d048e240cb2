/* backend.c — picks a backend by name: "cpu", "cuda", or NULL ($LATTE_BACKEND, else cuda when one is
 * built and a GPU is visible, else cpu). Asking for cuda where it cannot run is one clear error. Also
 * the fused ops' plain sequences (backend.h), which a backend fills in where it has no fused kernel. */
#include "backend/backend.h"
#include "base/err.h"
#include <stdlib.h>
#include <string.h>

latte_status lt_backend_create(const char *name, int w8a8, int threads, lt_backend **out) {
  *out = NULL;
  if (!name || !*name) name = getenv("LATTE_BACKEND");
  if (!name || !*name) {
#ifdef LATTE_HAVE_CUDA
    name = lt_cuda_device_count() > 0 ? "cuda" : "cpu";
#else
    name = "cpu";
#endif
  }
  if (!strcmp(name, "cpu")) return lt_cpu_backend_create(w8a8, threads, out);
  if (!strcmp(name, "cuda")) {
#ifdef LATTE_HAVE_CUDA
    if (lt_cuda_device_count() <= 0)
      return lt_err(LATTE_ERR_BACKEND, "backend cuda: no CUDA GPU is visible on this machine");
    return lt_cuda_backend_create(w8a8, out);
#else
    return lt_err(LATTE_ERR_BACKEND, "backend cuda: this latte was built without CUDA (configure with -DLATTE_CUDA=ON)");
#endif
  }
  return lt_err(LATTE_ERR_INVALID, "unknown backend '%s' (expected cpu or cuda)", name);
}

latte_status lt_linear_pair_seq(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                                const lt_weight *w2, void *y2, int rows) {
  if (w1->k != w2->k)
    return lt_err(LATTE_ERR_INVALID, "linear_pair: weights of k %lld and %lld", (long long)w1->k, (long long)w2->k);
  LT_TRY(b->linear(b, x, x_stride, w1, y1, rows));  /* y1 [rows, n1] = x · W1ᵀ */
  return b->linear(b, x, x_stride, w2, y2, rows);   /* y2 [rows, n2] = x · W2ᵀ */
}

latte_status lt_rmsnorm_linear_seq(lt_backend *b, const void *x, int64_t x_stride, const float *ln, float eps,
                                   void *xn, const lt_weight *w, void *y, int rows) {
  const int k = (int)w->k;
  LT_TRY(b->rmsnorm(b, x, x_stride, ln, xn, k, rows, k, eps));  /* xn [rows, k] = rmsnorm(x) · ln */
  return b->linear(b, xn, k, w, y, rows);                        /* y [rows, n] = xn · Wᵀ */
}

latte_status lt_mla_decode_v_seq(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                                 const lt_mla_w *w, void *out, int heads, int r, int dr, float scale) {
  LT_TRY(b->mla_decode(b, f, ql, cache, out_lat, heads, r, dr, scale));  /* out_lat [T, H, r] */
  return b->mla_out_v(b, out_lat, w, out, f->num_tokens);                 /* out [T, H*dv] */
}

latte_status lt_moe_experts_add_rmsnorm_seq(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                            const float *weights, int top_k, int rows, void *out, void *resid,
                                            const float *norm_w, void *y, float eps) {
  LT_TRY(b->moe_experts(b, x, w, ids, weights, top_k, rows, out));                 /* out [rows, H] */
  return b->add_rmsnorm(b, resid, out, norm_w, y, rows, w->hidden, eps);          /* resid += out; y */
}

latte_status lt_rope_absorb_q_seq(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads, int dn,
                                 int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                 const void *kpe, int64_t kpe_stride, int r, void *cache, const lt_mla_w *w, void *ql) {
  LT_TRY(b->rope_cache_write(b, f, rope, q, heads, dn, dr, c, c_stride, c_norm, eps, kpe, kpe_stride, r, cache));
  return b->mla_absorb_q(b, q, w, dr, ql, f->num_tokens);  /* ql [T, H, r+dr] */
}

latte_status lt_add_rmsnorm_route_seq(lt_backend *b, void *resid, const void *delta, const float *norm_w, void *y,
                                      int rows, int dim, float eps, const lt_weight *gate, const float *bias,
                                      const lt_route_cfg *cfg, int32_t *ids, float *weights,
                                      const lt_moe_w *experts) {
  LT_TRY(b->add_rmsnorm(b, resid, delta, norm_w, y, rows, dim, eps));          /* y [rows, dim] */
  return b->moe_route(b, y, gate, bias, cfg, rows, ids, weights, experts);     /* ids, weights [rows, k] */
}
