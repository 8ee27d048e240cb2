/* deepseek_forward.c — the DeepSeek-V2/V3 forward pass over one batch, written once in backend ops:
 * embed → per layer [RMSNorm → MLA attention (extend/MHA or absorbed) → add+RMSNorm → dense MLP or
 * MoE (+ shared experts)] → final norm on the logit rows → lm_head. Shapes in comments: T new tokens,
 * H hidden, nh heads, dn/dr/dv head dims, r kv_lora_rank, N context tokens of the batch. */
#include "model/model.h"
#include "base/err.h"
#include <stdlib.h>

/* Grow-only scratch buffer in backend memory. */
static latte_status buf(latte_engine *e, int i, size_t bytes, void **out) {
  lt_backend *be = e->m->be;
  if (e->buf[i].cap < bytes) {
    be->dfree(be, e->buf[i].p);
    e->buf[i].p = NULL;
    e->buf[i].cap = 0;
    LT_TRY(be->alloc(be, bytes, &e->buf[i].p));
    e->buf[i].cap = bytes;
  }
  *out = e->buf[i].p;
  return LATTE_OK;
}

static latte_status attention(latte_engine *e, lt_fwd *f, int l, void *h, void *att_out, int absorbed) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  const lt_config *c = &m->cfg;
  const lt_layer *ly = &m->layers[l];
  size_t es = lt_dtype_size(be->act_dtype);
  int T = f->num_tokens, nh = c->num_attention_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim;
  int dv = c->v_head_dim, r = c->kv_lora_rank;
  void *q, *kva, *cn, *o;
  LT_TRY(buf(e, LT_BUF_Q, es * (size_t)T * nh * (dn + dr), &q));
  if (c->q_lora_rank > 0) {
    void *qa;
    LT_TRY(buf(e, LT_BUF_QA, es * (size_t)T * c->q_lora_rank, &qa));
    LT_TRY(be->linear(be, h, c->hidden_size, &ly->q_a, qa, T));                       /* qa [T, qr] = h · q_aᵀ */
    LT_TRY(be->rmsnorm(be, qa, c->q_lora_rank, ly->q_a_ln, qa, c->q_lora_rank, T, c->q_lora_rank, c->rms_norm_eps));
    LT_TRY(be->linear(be, qa, c->q_lora_rank, &ly->q_b, q, T));                       /* q [T, nh*(dn+dr)] */
  } else {
    LT_TRY(be->linear(be, h, c->hidden_size, &ly->q_proj, q, T));                     /* q [T, nh*(dn+dr)] */
  }
  LT_TRY(buf(e, LT_BUF_KVA, es * (size_t)T * (r + dr), &kva));
  LT_TRY(buf(e, LT_BUF_C, es * (size_t)T * r, &cn));
  LT_TRY(be->linear(be, h, c->hidden_size, &ly->kv_a, kva, T));                       /* kva [T, r+dr] */
  LT_TRY(be->rmsnorm(be, kva, r + dr, ly->kv_a_ln, cn, r, T, r, c->rms_norm_eps));    /* c [T, r] */
  LT_TRY(be->rope_cache_write(be, f, &m->rope, q, nh, dn, dr, cn, (char *)kva + es * r, r + dr, r, e->kv[l]));
  LT_TRY(buf(e, LT_BUF_O, es * (size_t)T * nh * dv, &o));
  if (!absorbed) {
    void *lat, *kvb;
    LT_TRY(buf(e, LT_BUF_LAT, es * (size_t)f->num_kv * (r + dr), &lat));
    LT_TRY(buf(e, LT_BUF_KVB, es * (size_t)f->num_kv * nh * (dn + dv), &kvb));
    LT_TRY(be->gather_kv(be, f, e->kv[l], r + dr, lat));                              /* lat [N, r+dr] */
    LT_TRY(be->linear(be, lat, r + dr, &ly->kv_b, kvb, (int)f->num_kv));              /* kvb [N, nh*(dn+dv)] */
    LT_TRY(be->attn_extend(be, f, q, kvb, lat, o, nh, dn, dr, dv, r, m->softmax_scale)); /* o [T, nh*dv] */
  } else {
    void *ql, *ol;
    LT_TRY(buf(e, LT_BUF_QL, es * (size_t)T * nh * (r + dr), &ql));
    LT_TRY(buf(e, LT_BUF_OL, es * (size_t)T * nh * r, &ol));
    LT_TRY(be->mla_absorb_q(be, q, &ly->mla, dr, ql, T));                             /* ql [T, nh, r+dr] */
    LT_TRY(be->mla_decode(be, f, ql, e->kv[l], ol, nh, r, dr, m->softmax_scale));     /* ol [T, nh, r] */
    LT_TRY(be->mla_out_v(be, ol, &ly->mla, o, T));                                    /* o [T, nh*dv] */
  }
  return be->linear(be, o, (int64_t)nh * dv, &ly->o_proj, att_out, T);                /* [T, H] = o · o_projᵀ */
}

static latte_status ffn(latte_engine *e, lt_fwd *f, int l, void *h, void *out) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  const lt_layer *ly = &m->layers[l];
  int T = f->num_tokens, H = m->cfg.hidden_size;
  if (!ly->moe) return be->mlp(be, h, &ly->mlp, out, T);                               /* out [T, H] */
  int K = m->route.top_k;
  void *ids, *wts;
  LT_TRY(buf(e, LT_BUF_IDS, sizeof(int32_t) * (size_t)T * K, &ids));
  LT_TRY(buf(e, LT_BUF_WTS, sizeof(float) * (size_t)T * K, &wts));
  LT_TRY(be->moe_route(be, h, &ly->gate, ly->gate_bias, &m->route, T, ids, wts));     /* ids, wts [T, K] */
  LT_TRY(be->moe_experts(be, h, &ly->experts, ids, wts, K, T, out));                  /* out [T, H] routed */
  if (ly->has_mlp) {
    void *sh;
    LT_TRY(buf(e, LT_BUF_SHARED, lt_dtype_size(be->act_dtype) * (size_t)T * H, &sh));
    LT_TRY(be->mlp(be, h, &ly->mlp, sh, T));                                          /* shared experts */
    LT_TRY(be->add(be, out, sh, (int64_t)T * H));
  }
  return LATTE_OK;
}

latte_status lt_model_forward(latte_engine *e, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows,
                              int attn_mode, float *logits) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  const lt_config *c = &m->cfg;
  size_t es = lt_dtype_size(be->act_dtype);
  int T = f->num_tokens, H = c->hidden_size, V = c->vocab_size, n = f->n_logits;
  /* auto: a decode batch (every sequence adds one token to a cached prefix) takes the absorbed path,
   * anything with a prefill in it takes extend, as SGLang does */
  int decode_batch = f->max_q_len == 1;
  for (int i = 0; i < f->num_seqs && decode_batch; i++) decode_batch = f->h_seq_lens[i] > 1;
  int absorbed = attn_mode == 2 || (attn_mode == 0 && decode_batch);
  void *x, *h, *att, *delta, *rows;
  float *dlogits;
  LT_TRY(be->set_batch(be, f, ids, logit_rows));
  LT_TRY(buf(e, LT_BUF_X, es * (size_t)T * H, &x));
  LT_TRY(buf(e, LT_BUF_H, es * (size_t)T * H, &h));
  LT_TRY(buf(e, LT_BUF_ATT, es * (size_t)T * H, &att));
  LT_TRY(buf(e, LT_BUF_DELTA, es * (size_t)T * H, &delta));
  LT_TRY(be->embed(be, f, &m->embed, x));                                              /* x [T, H] residual */
  for (int l = 0; l < c->num_hidden_layers; l++) {
    const lt_layer *ly = &m->layers[l];
    if (l == 0) LT_TRY(be->rmsnorm(be, x, H, ly->in_ln, h, H, T, H, c->rms_norm_eps));
    else LT_TRY(be->add_rmsnorm(be, x, delta, ly->in_ln, h, T, H, c->rms_norm_eps));  /* x += ffn out */
    LT_TRY(attention(e, f, l, h, att, absorbed));
    LT_TRY(be->add_rmsnorm(be, x, att, ly->post_ln, h, T, H, c->rms_norm_eps));        /* x += attn out */
    LT_TRY(ffn(e, f, l, h, delta));
  }
  if (c->num_hidden_layers > 0) LT_TRY(be->add(be, x, delta, (int64_t)T * H));
  if (n <= 0) return be->sync(be);
  LT_TRY(buf(e, LT_BUF_LROWS, es * (size_t)n * H, &rows));
  LT_TRY(buf(e, LT_BUF_LOGITS, sizeof(float) * (size_t)n * V, (void **)&dlogits));
  LT_TRY(be->gather_rows(be, x, f->d_logit_rows, n, H, rows));                         /* rows [n, H] */
  LT_TRY(be->rmsnorm(be, rows, H, m->final_ln, rows, H, n, H, c->rms_norm_eps));
  LT_TRY(be->linear_f32out(be, rows, &m->lm_head, dlogits, n));                        /* logits [n, V] */
  LT_TRY(be->download(be, logits, dlogits, sizeof(float) * (size_t)n * V));
  return be->sync(be);
}
