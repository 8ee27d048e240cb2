/* cuda_ops.h — the CUDA backend's op entry points (C linkage), one group per .cu file; each has the
 * signature and meaning of the matching lt_backend member in backend/backend.h. Activations and the
 * latent cache are bf16; weights bf16 (F16/F32 converted at upload) or e4m3 + f32 128×128 scales. */
#ifndef LT_CUDA_OPS_H
#define LT_CUDA_OPS_H
#include "backend/cuda/cuda_common.h"
#ifdef __cplusplus
extern "C" {
#endif
/* cuda_backend.cu: table, memory, weights, batch; and for tests: host f32 <-> device bf16 activations */
latte_status lt_cuda_f32_to_act(lt_backend *b, const float *host, void *dev, size_t n);
latte_status lt_cuda_act_to_f32(lt_backend *b, const void *dev, float *host, size_t n);
/* cuda_norm.cu */
latte_status lt_cuda_embed(lt_backend *b, const lt_fwd *f, const lt_weight *emb, void *x);
latte_status lt_cuda_rmsnorm(lt_backend *b, const void *x, int64_t xs, const float *w, void *y, int64_t ys,
                             int rows, int dim, float eps);
latte_status lt_cuda_add_rmsnorm(lt_backend *b, void *resid, const void *delta, const float *w, void *y,
                                 int rows, int dim, float eps);
latte_status lt_cuda_rmsnorm_linear(lt_backend *b, const void *x, int64_t xs, const float *ln, float eps, void *xn,
                                    const lt_weight *w, void *y, int rows);
latte_status lt_cuda_add(lt_backend *b, void *y, const void *x, int64_t n);
latte_status lt_cuda_gather_rows(lt_backend *b, const void *x, const int32_t *rows, int n, int dim, void *out);
/* cuda_rope.cu */
latte_status lt_cuda_rope_cache_write(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads,
                                      int dn, int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                      const void *kpe, int64_t kpe_stride, int r, void *cache);
latte_status lt_cuda_gather_kv(lt_backend *b, const lt_fwd *f, const void *cache, int width, void *lat);
/* cuda_gemm.cu */
latte_status lt_cuda_linear(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows);
latte_status lt_cuda_linear_f32out(lt_backend *b, const void *x, const lt_weight *w, float *y, int rows);
void lt_cuda_linear_release(lt_weight *w);   /* frees device buffers kept in w->priv (padded FP8 scales) */
/* cuda_gemv_bf16.cu */
latte_status lt_cuda_linear_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                                 const lt_weight *w2, void *y2, int rows);
/* cuda_attn.cu (extend / prefill MHA) */
latte_status lt_cuda_attn_extend(lt_backend *b, const lt_fwd *f, const void *q, const void *kvb, const void *lat,
                                 void *out, int heads, int dn, int dr, int dv, int r, float scale);
/* cuda_attn_wg.cu (its wgmma kernel for dn 128, dr 64, dv 128; called by lt_cuda_attn_extend; sync = 1: the
 * synchronous schedule, 0: the overlapped one; LATTE_ERR_UNSUPPORTED for other dims) */
latte_status lt_cuda_attn_extend_wg(lt_backend *b, const lt_fwd *f, const void *q, const void *kvb, const void *lat,
                                    void *out, int heads, int dn, int dr, int dv, int r, float scale, int sync);
/* cuda_mla_absorb.cu (absorbed MLA: q absorption, with the RoPE cache write fused) */
latte_status lt_cuda_mla_absorb_q(lt_backend *b, const void *q, const lt_mla_w *w, int dr, void *ql, int rows);
latte_status lt_cuda_rope_absorb_q(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads, int dn,
                                   int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                   const void *kpe, int64_t kpe_stride, int r, void *cache, const lt_mla_w *w,
                                   void *ql);
/* cuda_mla.cu (absorbed MLA: weights, decode attention, out_v) */
latte_status lt_cuda_mla_new(lt_backend *b, const lt_weight *kv_b, int heads, int dn, int dv, int r, lt_mla_w *out);
void lt_cuda_mla_free(lt_backend *b, lt_mla_w *w);
latte_status lt_cuda_mla_decode(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                                int heads, int r, int dr, float scale);
latte_status lt_cuda_mla_out_v(lt_backend *b, const void *out_lat, const lt_mla_w *w, void *out, int rows);
latte_status lt_cuda_mla_decode_v(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                                  const lt_mla_w *w, void *out, int heads, int r, int dr, float scale);
/* cuda_route.cu (the MoE router) */
latte_status lt_cuda_moe_route(lt_backend *b, const void *x, const lt_weight *gate, const float *bias,
                               const lt_route_cfg *cfg, int rows, int32_t *ids, float *weights,
                               const lt_moe_w *experts);
latte_status lt_cuda_add_rmsnorm_route(lt_backend *b, void *resid, const void *delta, const float *norm_w, void *y,
                                       int rows, int dim, float eps, const lt_weight *gate, const float *bias,
                                       const lt_route_cfg *cfg, int32_t *ids, float *weights,
                                       const lt_moe_w *experts);
/* cuda_moe.cu */
latte_status lt_cuda_moe_new(lt_backend *b, lt_moe_w *w);
void lt_cuda_moe_free(lt_backend *b, lt_moe_w *w);
latte_status lt_cuda_moe_experts(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                 const float *weights, int top_k, int rows, void *out);
latte_status lt_cuda_moe_experts_add_rmsnorm(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                             const float *weights, int top_k, int rows, void *out, void *resid,
                                             const float *norm_w, void *y, float eps);
latte_status lt_cuda_mlp_new(lt_backend *b, lt_mlp_w *w);
void lt_cuda_mlp_free(lt_backend *b, lt_mlp_w *w);
latte_status lt_cuda_mlp(lt_backend *b, const void *x, const lt_mlp_w *w, void *out, int rows);
/* cuda_sample.cu */
latte_status lt_cuda_argmax_rows(lt_backend *b, const float *logits, int rows, int vocab, int32_t *ids);
latte_status lt_cuda_sample_rows(lt_backend *b, const float *logits, int rows, int vocab, const lt_sample_params *p,
                                 int32_t *ids);
#ifdef __cplusplus
}
#endif
#endif
