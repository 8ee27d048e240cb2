/* deepseek_forward.c — the DeepSeek-V2/V3 forward pass over one batch, written once in backend ops:
 * embed → per layer [RMSNorm → MLA attention (extend/MHA or absorbed) → add+RMSNorm → dense MLP or
 * MoE (+ shared experts)] → final norm on the logit rows → lm_head. Shapes in comments: T new tokens,
 * H hidden, nh heads, dn/dr/dv head dims, r kv_lora_rank, N context tokens of the batch. A pure-decode
 * batch is replayed as a backend graph where the backend has them (docs/cuda-graphs.md). */
#include "model/model.h"
#include "base/err.h"
#include <stdlib.h>
#include <string.h>

/* Grow-only scratch buffer in backend memory (moving it makes the engine's graphs stale). */
static latte_status buf(latte_engine *e, int i, size_t bytes, void **out) {
  lt_backend *be = e->m->be;
  if (e->buf[i].cap < bytes) {
    be->dfree(be, e->buf[i].p);
    e->buf[i].p = NULL;
    e->buf[i].cap = 0;
    LT_TRY(be->alloc(be, bytes, &e->buf[i].p));
    e->buf[i].cap = bytes;
    e->buf_gen++;  /* graphs captured before refer to the old buffer */
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
  void *q, *kva, *o;
  LT_TRY(buf(e, LT_BUF_Q, es * (size_t)T * nh * (dn + dr), &q));
  LT_TRY(buf(e, LT_BUF_KVA, es * (size_t)T * (r + dr), &kva));
  if (c->q_lora_rank > 0) {
    void *qa;
    LT_TRY(buf(e, LT_BUF_QA, es * (size_t)T * c->q_lora_rank, &qa));
    /* qa [T, qr] = h · q_aᵀ; kva [T, r+dr] = h · kv_aᵀ */
    LT_TRY(be->linear_pair(be, h, c->hidden_size, &ly->q_a, qa, &ly->kv_a, kva, T));
    /* qa = q_a_layernorm(qa); q [T, nh*(dn+dr)] = qa · q_bᵀ */
    LT_TRY(be->rmsnorm_linear(be, qa, c->q_lora_rank, ly->q_a_ln, c->rms_norm_eps, qa, &ly->q_b, q, T));
  } else {
    /* q [T, nh*(dn+dr)] = h · q_projᵀ; kva [T, r+dr] = h · kv_aᵀ */
    LT_TRY(be->linear_pair(be, h, c->hidden_size, &ly->q_proj, q, &ly->kv_a, kva, T));
  }
  LT_TRY(buf(e, LT_BUF_O, es * (size_t)T * nh * dv, &o));
  if (!absorbed) {
    void *lat, *kvb;
    /* cache ← [kv_a_layernorm(kva[:, :r]) | rope(kva[:, r:])]; q's rope part rotated in place */
    LT_TRY(be->rope_cache_write(be, f, &m->rope, q, nh, dn, dr, kva, r + dr, ly->kv_a_ln, c->rms_norm_eps,
                                (char *)kva + es * r, r + dr, r, e->kv[l]));
    LT_TRY(buf(e, LT_BUF_LAT, es * (size_t)f->num_kv * (r + dr), &lat));
    LT_TRY(buf(e, LT_BUF_KVB, es * (size_t)f->num_kv * nh * (dn + dv), &kvb));
    LT_TRY(be->gather_kv(be, f, e->kv[l], r + dr, lat));                              /* lat [N, r+dr] */
    LT_TRY(be->linear(be, lat, r + dr, &ly->kv_b, kvb, (int)f->num_kv));              /* kvb [N, nh*(dn+dv)] */
    LT_TRY(be->attn_extend(be, f, q, kvb, lat, o, nh, dn, dr, dv, r, m->softmax_scale)); /* o [T, nh*dv] */
  } else {
    void *ql, *ol;
    LT_TRY(buf(e, LT_BUF_QL, es * (size_t)T * nh * (r + dr), &ql));
    LT_TRY(buf(e, LT_BUF_OL, es * (size_t)T * nh * r, &ol));
    /* the cache write as above; ql [T, nh, r+dr] = [q_nope · w_kc | rope(q_pe)] per head */
    LT_TRY(be->rope_absorb_q(be, f, &m->rope, q, nh, dn, dr, kva, r + dr, ly->kv_a_ln, c->rms_norm_eps,
                             (char *)kva + es * r, r + dr, r, e->kv[l], &ly->mla, ql));
    /* o [T, nh*dv] = (attention over the latent cache: ol [T, nh, r]) · w_vcᵀ per head */
    LT_TRY(be->mla_decode_v(be, f, ql, e->kv[l], ol, &ly->mla, o, nh, r, dr, m->softmax_scale));
  }
  return be->linear(be, o, (int64_t)nh * dv, &ly->o_proj, att_out, T);                /* [T, H] = o · o_projᵀ */
}

/* The router's outputs of a MoE layer: ids [T, K] int32, wts [T, K] f32 */
static latte_status route_bufs(latte_engine *e, int T, void **ids, void **wts) {
  int K = e->m->route.top_k;
  LT_TRY(buf(e, LT_BUF_IDS, sizeof(int32_t) * (size_t)T * K, ids));
  return buf(e, LT_BUF_WTS, sizeof(float) * (size_t)T * K, wts);
}

/* x += att; h = rmsnorm(x) · post_ln — and, for a MoE layer, its router on h (ids, wts in route_bufs) */
static latte_status post_attention(latte_engine *e, lt_fwd *f, int l, void *x, void *att, void *h) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  const lt_layer *ly = &m->layers[l];
  int T = f->num_tokens, H = m->cfg.hidden_size;
  float eps = m->cfg.rms_norm_eps;
  if (!ly->moe) return be->add_rmsnorm(be, x, att, ly->post_ln, h, T, H, eps);
  void *ids, *wts;
  LT_TRY(route_bufs(e, T, &ids, &wts));
  return be->add_rmsnorm_route(be, x, att, ly->post_ln, h, T, H, eps, &ly->gate, ly->gate_bias, &m->route, ids, wts,
                               &ly->experts);
}

/* out [T, H] = the layer's MLP or MoE of h (a MoE layer's router already ran: post_attention). When
 * next_ln is given and the layer ends in its routed experts (no separate shared MLP), the op also does
 * the next layer's input step — x += out, h = rmsnorm(x) · next_ln — and sets *normed. */
static latte_status ffn(latte_engine *e, lt_fwd *f, int l, void *h, void *out, void *x, const float *next_ln,
                        int *normed) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  const lt_layer *ly = &m->layers[l];
  int T = f->num_tokens, H = m->cfg.hidden_size;
  *normed = 0;
  if (!ly->moe) return be->mlp(be, h, &ly->mlp, out, T);                               /* out [T, H] */
  int K = m->route.top_k;
  void *ids, *wts;
  LT_TRY(route_bufs(e, T, &ids, &wts));                                                /* ids, wts [T, K] */
  if (next_ln && (!ly->has_mlp || ly->experts.shared_folded)) {
    /* out [T, H] routed (+ folded shared); x += out; h = rmsnorm(x) · next_ln */
    LT_TRY(be->moe_experts_add_rmsnorm(be, h, &ly->experts, ids, wts, K, T, out, x, next_ln, h, m->cfg.rms_norm_eps));
    *normed = 1;
    return LATTE_OK;
  }
  LT_TRY(be->moe_experts(be, h, &ly->experts, ids, wts, K, T, out));                  /* out [T, H] routed */
  if (ly->has_mlp && !ly->experts.shared_folded) {
    void *sh;
    LT_TRY(buf(e, LT_BUF_SHARED, lt_dtype_size(be->act_dtype) * (size_t)T * H, &sh));
    LT_TRY(be->mlp(be, h, &ly->mlp, sh, T));                                          /* shared experts */
    LT_TRY(be->add(be, out, sh, (int64_t)T * H));
  }
  return LATTE_OK;
}

/* A run of consecutive sequences of one kind, as its own self-contained batch (arrays rebased). */
typedef struct {
  lt_fwd f;
  int row0;               /* first token row in the whole batch */
  int absorbed;
  int32_t *qo, *kvp, *kvt; /* rebased [n+1] arrays */
} lt_run;

#define LT_MAX_RUNS 3

/* Splits the batch into runs: in auto mode a decode sequence (one new token after a cached prefix)
 * takes the absorbed path and a prefill / chunk the extend path, so a sequence's arithmetic never
 * depends on what else is in the batch. */
static void free_runs(lt_run *runs, int n) {
  for (int i = 0; i < n; i++) free(runs[i].qo);
}

/* Sequence s takes the absorbed path: forced, or (auto) one new token after a cached prefix. */
static int is_decode(const lt_fwd *f, int s, int attn_mode) {
  int q = f->h_qo_indptr[s + 1] - f->h_qo_indptr[s];
  return attn_mode == 2 || (attn_mode == 0 && q == 1 && f->h_seq_lens[s] > 1);
}

/* Returns the number of runs (their qo arrays malloc'd), -1 when more than LT_MAX_RUNS would be
 * needed, -2 when out of memory; on failure nothing stays allocated. */
static int split_runs(const lt_fwd *f, int attn_mode, lt_run *runs) {
  int n = 0;
  for (int s = 0; s < f->num_seqs;) {
    int dec = is_decode(f, s, attn_mode);
    int e = s + 1;
    while (e < f->num_seqs && is_decode(f, e, attn_mode) == dec) e++;
    if (n == LT_MAX_RUNS) { free_runs(runs, n); return -1; }
    lt_run *r = &runs[n];
    int B = e - s;
    memset(r, 0, sizeof *r);
    r->qo = malloc(sizeof(int32_t) * (size_t)(3 * (B + 1)));
    if (!r->qo) { free_runs(runs, n); return -2; }
    n++;
    r->kvp = r->qo + B + 1;
    r->kvt = r->kvp + B + 1;
    for (int i = 0; i <= B; i++) {
      r->qo[i] = f->h_qo_indptr[s + i] - f->h_qo_indptr[s];
      r->kvp[i] = f->h_kv_indptr[s + i] - f->h_kv_indptr[s];
      r->kvt[i] = f->h_kv_tok_indptr[s + i] - f->h_kv_tok_indptr[s];
    }
    r->row0 = f->h_qo_indptr[s];
    r->absorbed = dec;
    lt_fwd *g = &r->f;
    g->num_seqs = B;
    g->num_tokens = r->qo[B];
    g->page_size = f->page_size;
    g->num_kv = r->kvt[B];
    for (int i = 0; i < B; i++) {
      if (r->qo[i + 1] - r->qo[i] > g->max_q_len) g->max_q_len = r->qo[i + 1] - r->qo[i];
      if (f->h_seq_lens[s + i] > g->max_seq_len) g->max_seq_len = f->h_seq_lens[s + i];
    }
    g->h_qo_indptr = r->qo;
    g->h_seq_lens = f->h_seq_lens + s;
    g->h_kv_indptr = r->kvp;
    g->h_kv_indices = f->h_kv_indices + f->h_kv_indptr[s];
    g->h_positions = f->h_positions + r->row0;
    g->h_out_slots = f->h_out_slots + r->row0;
    g->h_kv_tok_indptr = r->kvt;
    g->meta_slot = n;
    s = e;
  }
  return n;
}

/* The ops of one forward after set_batch: embed → layers → final norm → lm_head (→ ids: greedy 1
 * argmax, 2 a draw per row under the sampling parameters already uploaded to LT_BUF_SPARAMS), all on
 * the backend's stream with no host copy or synchronisation, so the call can be captured whole. */
static latte_status forward_ops(latte_engine *e, lt_fwd *f, lt_run *runs, int nr, int greedy) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  const lt_config *c = &m->cfg;
  size_t es = lt_dtype_size(be->act_dtype);
  int T = f->num_tokens, H = c->hidden_size, V = c->vocab_size, n = f->n_logits;
  void *x, *h, *att, *delta, *rows;
  float *dlogits;
  LT_TRY(buf(e, LT_BUF_X, es * (size_t)T * H, &x));
  LT_TRY(buf(e, LT_BUF_H, es * (size_t)T * H, &h));
  LT_TRY(buf(e, LT_BUF_ATT, es * (size_t)T * H, &att));
  LT_TRY(buf(e, LT_BUF_DELTA, es * (size_t)T * H, &delta));
  LT_TRY(be->embed(be, f, &m->embed, x));                                              /* x [T, H] residual */
  int normed = 0;  /* the last ffn op already did x += delta; h = rmsnorm(x) · in_ln */
  for (int l = 0; l < c->num_hidden_layers; l++) {
    const lt_layer *ly = &m->layers[l];
    if (l == 0) LT_TRY(be->rmsnorm(be, x, H, ly->in_ln, h, H, T, H, c->rms_norm_eps));
    else if (!normed) LT_TRY(be->add_rmsnorm(be, x, delta, ly->in_ln, h, T, H, c->rms_norm_eps)); /* x += ffn out */
    for (int r = 0; r < nr; r++) {
      size_t off = es * (size_t)runs[r].row0 * H;
      LT_TRY(attention(e, &runs[r].f, l, (char *)h + off, (char *)att + off, runs[r].absorbed));
    }
    LT_TRY(post_attention(e, f, l, x, att, h));                                       /* x += attn out */
    const float *next_ln = l + 1 < c->num_hidden_layers ? m->layers[l + 1].in_ln : NULL;
    LT_TRY(ffn(e, f, l, h, delta, x, next_ln, &normed));
  }
  if (c->num_hidden_layers > 0 && !normed) LT_TRY(be->add(be, x, delta, (int64_t)T * H));
  if (n <= 0) return LATTE_OK;
  LT_TRY(buf(e, LT_BUF_LROWS, es * (size_t)n * H, &rows));
  LT_TRY(buf(e, LT_BUF_LOGITS, sizeof(float) * (size_t)n * V, (void **)&dlogits));
  LT_TRY(be->gather_rows(be, x, f->d_logit_rows, n, H, rows));                         /* rows [n, H] */
  LT_TRY(be->rmsnorm(be, rows, H, m->final_ln, rows, H, n, H, c->rms_norm_eps));
  LT_TRY(be->linear_f32out(be, rows, &m->lm_head, dlogits, n));                        /* logits [n, V] */
  if (greedy) {
    int32_t *dids;
    LT_TRY(buf(e, LT_BUF_ARGMAX, sizeof(int32_t) * (size_t)n, (void **)&dids));
    if (greedy == 2) {
      lt_sample_params *dsp;   /* filled before the forward (lt_model_forward): no reallocation here */
      LT_TRY(buf(e, LT_BUF_SPARAMS, sizeof(lt_sample_params) * (size_t)n, (void **)&dsp));
      LT_TRY(be->sample_rows(be, dlogits, n, V, dsp, dids));                           /* ids [n] drawn */
    } else {
      LT_TRY(be->argmax_rows(be, dlogits, n, V, dids));                                /* ids [n] */
    }
  }
  return LATTE_OK;
}

/* Context bucket of a decode batch: the next power of two ≥ max(ctx, 256). Attention plans its grid
 * and scratch from the bucket, so every step of a bucket launches the same kernels. */
static int ctx_bucket(int ctx) {
  int b = 256;
  while (b < ctx && b < (1 << 30)) b *= 2;
  return b;
}

/* The engine's graph entry for a key (a free or evicted one when new). */
static lt_graph_ent *graph_entry(latte_engine *e, int B, int n, int ctx, int greedy) {
  lt_graph_ent *fr = NULL;
  for (int i = 0; i < LT_MAX_GRAPHS; i++) {
    lt_graph_ent *g = &e->graphs[i];
    if (g->used && g->B == B && g->n == n && g->ctx == ctx && g->greedy == greedy) return g;
    if (!g->used && !fr) fr = g;
  }
  if (!fr) {  /* table full: evict in rotation */
    fr = &e->graphs[e->graph_captures % LT_MAX_GRAPHS];
    if (fr->graph) e->m->be->graph_free(e->m->be, fr->graph);
  }
  memset(fr, 0, sizeof *fr);
  fr->used = 1; fr->B = B; fr->n = n; fr->ctx = ctx; fr->greedy = greedy;
  return fr;
}

/* A pure-decode forward through a graph: replay the key's graph; or, the second time a key is seen
 * (the first ran eagerly and sized every scratch buffer and GEMM plan), capture forward_ops and
 * launch the capture. *ran = 0 leaves the step to the eager path (first sight, failed capture). */
static latte_status graph_forward(latte_engine *e, lt_fwd *f, lt_run *runs, int nr, int greedy, int *ran) {
  lt_backend *be = e->m->be;
  lt_graph_ent *g = graph_entry(e, f->num_seqs, f->n_logits, f->plan_ctx, greedy);
  int stale = 0;
  *ran = 0;
  if (g->graph && g->buf_gen == e->buf_gen) {
    LT_TRY(be->graph_launch(be, g->graph, &stale));
    if (!stale) { e->graph_replays++; *ran = 1; return LATTE_OK; }
  }
  if (g->graph) { be->graph_free(be, g->graph); g->graph = NULL; }  /* buffers moved: recapture */
  if (!g->seen) { g->seen = 1; return LATTE_OK; }
  if (g->failed >= 2) return LATTE_OK;
  unsigned gen = e->buf_gen;
  LT_TRY(be->graph_begin(be));
  latte_status cs = forward_ops(e, f, runs, nr, greedy);
  void *gr = NULL;
  LT_TRY(be->graph_end(be, &gr));
  if (cs || !gr || e->buf_gen != gen) {  /* not capture-safe this time: run eagerly */
    if (gr) be->graph_free(be, gr);
    g->failed++;
    return LATTE_OK;
  }
  g->graph = gr;
  g->buf_gen = gen;
  e->graph_captures++;
  LT_TRY(be->graph_launch(be, gr, &stale));
  *ran = !stale;
  return LATTE_OK;
}

latte_status lt_model_forward(latte_engine *e, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows,
                              int attn_mode, float *logits, int32_t *greedy_ids, const lt_sample_params *sp) {
  latte_model *m = e->m;
  lt_backend *be = m->be;
  int V = m->cfg.vocab_size, n = f->n_logits;
  lt_run runs[LT_MAX_RUNS];
  int nr = split_runs(f, attn_mode, runs);
  if (nr == -1) nr = split_runs(f, 1, runs);  /* many alternating runs: one extend pass over the batch */
  if (nr < 0) return lt_err(LATTE_ERR_NOMEM, "forward: out of memory");
  /* decode runs (one new token per sequence) plan attention from a context bucket, graphs or not,
   * so replaying a graph computes exactly what the eager path does */
  for (int r = 0; r < nr; r++)
    if (runs[r].absorbed && runs[r].f.max_q_len == 1) runs[r].f.plan_ctx = ctx_bucket(runs[r].f.max_seq_len);
  const int decode = nr == 1 && runs[0].absorbed && runs[0].f.plan_ctx > 0;
  if (decode) f->plan_ctx = runs[0].f.plan_ctx;
  latte_status st = LATTE_OK;
  const int tail = !greedy_ids ? 0 : sp && n > 0 && be->sample_rows ? 2 : 1;
  if (tail == 2) {  /* the rows' sampling parameters, uploaded before any capture (graphs read them) */
    lt_sample_params *dsp;
    st = buf(e, LT_BUF_SPARAMS, sizeof(lt_sample_params) * (size_t)n, (void **)&dsp);
    if (!st) st = be->upload(be, dsp, sp, sizeof(lt_sample_params) * (size_t)n);
    if (st) { free_runs(runs, nr); return st; }
  }
  f->meta_slot = 0;
  st = be->set_batch(be, f, ids, logit_rows);
  for (int r = 0; r < nr && !st; r++) st = be->set_batch(be, &runs[r].f, ids + runs[r].row0, NULL);
  int ran = 0;
  if (!st && decode && e->graphs_on && be->graph_begin) st = graph_forward(e, f, runs, nr, tail, &ran);
  if (!st && !ran) st = forward_ops(e, f, runs, nr, tail);
  free_runs(runs, nr);
  if (st) return st;
  if (n <= 0) return be->sync(be);
  float *dlogits;  /* the buffers forward_ops used (already this size: no reallocation) */
  LT_TRY(buf(e, LT_BUF_LOGITS, sizeof(float) * (size_t)n * V, (void **)&dlogits));
  if (greedy_ids) {
    int32_t *dids;
    LT_TRY(buf(e, LT_BUF_ARGMAX, sizeof(int32_t) * (size_t)n, (void **)&dids));
    LT_TRY(be->download(be, greedy_ids, dids, sizeof(int32_t) * (size_t)n));
  }
  if (logits) LT_TRY(be->download(be, logits, dlogits, sizeof(float) * (size_t)n * V));
  return be->sync(be);
}
