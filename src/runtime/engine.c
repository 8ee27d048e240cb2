/* engine.c — a model plus its paged latent KV pool ([num_pages, page_size, r + dr] per layer) and the
 * public forward: validates the SGLang-style batch metadata (one clear error naming the bad field),
 * derives per-token cache slots, and runs the model. Pages are handed out by the caller (runtime). */
#include "model/model.h"
#include "base/err.h"
#include <stdlib.h>
#include <string.h>

latte_status latte_engine_new(latte_model *m, const latte_engine_opts *opts, latte_engine **out) {
  *out = NULL;
  latte_engine_opts o = {.page_size = 64, .max_tokens = 4096, .max_seqs = 256};
  if (opts) {
    if (opts->page_size) o.page_size = opts->page_size;
    if (opts->max_tokens) o.max_tokens = opts->max_tokens;
    if (opts->max_seqs) o.max_seqs = opts->max_seqs;
    o.num_pages = opts->num_pages;
  }
  if (o.page_size < 1 || o.page_size > 256)
    return lt_err(LATTE_ERR_INVALID, "page_size %d out of range (1..256)", o.page_size);
  if (!o.num_pages) o.num_pages = (o.max_tokens + o.page_size - 1) / o.page_size + o.max_seqs;
  latte_engine *e = calloc(1, sizeof *e);
  if (!e) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  e->m = m;
  e->page_size = o.page_size;
  e->num_pages = o.num_pages;
  e->max_tokens = o.max_tokens;
  e->max_seqs = o.max_seqs;
  const char *gv = getenv("LATTE_GRAPHS");
  e->graphs_on = !(gv && !strcmp(gv, "0"));
  int L = m->cfg.num_hidden_layers;
  e->kv = calloc((size_t)(L > 0 ? L : 1), sizeof(void *));
  if (!e->kv) { free(e); return lt_err(LATTE_ERR_NOMEM, "out of memory"); }
  size_t per_layer = lt_dtype_size(m->be->act_dtype) * (size_t)o.num_pages * o.page_size *
                     (m->cfg.kv_lora_rank + m->cfg.qk_rope_head_dim);
  for (int l = 0; l < L; l++) {
    latte_status s = m->be->alloc(m->be, per_layer, &e->kv[l]);
    if (s) {
      latte_engine_free(e);
      return lt_err(s, "KV pool: cannot allocate %d pages of %d tokens (%.2f GB for %d layers)", o.num_pages,
                    o.page_size, per_layer * (double)L / 1e9, L);
    }
  }
  *out = e;
  return LATTE_OK;
}

void latte_engine_free(latte_engine *e) {
  if (!e) return;
  lt_backend *be = e->m->be;
  for (int i = 0; i < LT_MAX_GRAPHS; i++)
    if (e->graphs[i].graph && be->graph_free) be->graph_free(be, e->graphs[i].graph);
  for (int l = 0; l < e->m->cfg.num_hidden_layers; l++) be->dfree(be, e->kv[l]);
  for (int i = 0; i < LT_NBUF; i++) be->dfree(be, e->buf[i].p);
  free(e->kv);
  free(e);
}

int latte_engine_page_size(const latte_engine *e) { return e->page_size; }
int latte_engine_num_pages(const latte_engine *e) { return e->num_pages; }

latte_status latte_forward(latte_engine *e, const latte_batch *b, float *logits) {
  const lt_config *c = &e->m->cfg;
  int B = b->num_seqs, T = b->num_tokens, ps = e->page_size;
  if (B < 1 || T < 1) return lt_err(LATTE_ERR_INVALID, "batch: num_seqs %d / num_tokens %d must be positive", B, T);
  if (T > e->max_tokens) return lt_err(LATTE_ERR_INVALID, "batch: %d tokens exceed the engine's max_tokens %d", T, e->max_tokens);
  if (b->qo_indptr[0] != 0 || b->qo_indptr[B] != T)
    return lt_err(LATTE_ERR_INVALID, "batch: qo_indptr must run from 0 to num_tokens %d", T);
  if (b->kv_indptr[0] != 0) return lt_err(LATTE_ERR_INVALID, "batch: kv_indptr[0] must be 0");
  for (int t = 0; t < T; t++) {
    if (b->ids[t] < 0 || b->ids[t] >= c->vocab_size)
      return lt_err(LATTE_ERR_INVALID, "token id %d at position %d is out of range (vocab size %d)", b->ids[t], t, c->vocab_size);
    if (b->positions[t] < 0 || b->positions[t] >= e->m->rope.max_pos)
      return lt_err(LATTE_ERR_INVALID, "position %d is beyond the model's context of %d tokens", b->positions[t], e->m->rope.max_pos);
  }
  if (!logits && !b->greedy_ids && b->n_logits > 0)
    return lt_err(LATTE_ERR_INVALID, "batch: n_logits %d but neither logits nor greedy_ids to write them to", b->n_logits);
  for (int i = 0; i < b->n_logits; i++)
    if (b->logit_rows[i] < 0 || b->logit_rows[i] >= T)
      return lt_err(LATTE_ERR_INVALID, "batch: logit_rows[%d] = %d out of range", i, b->logit_rows[i]);
  /* per-row sampling parameters for the backend (only when some row draws) */
  lt_sample_params *sp = NULL;
  int draws = 0;
  for (int i = 0; b->greedy_ids && b->temperature && i < b->n_logits; i++) {
    float t = b->temperature[i];
    if (!(t >= 0) || t != t || t > 3.0e38f)
      return lt_err(LATTE_ERR_INVALID, "batch: temperature[%d] = %g must be a finite number >= 0", i, t);
    if (t > 0 && !(b->top_k && b->top_k[i] == 1)) draws = 1;
  }
  if (draws) {
    sp = calloc((size_t)b->n_logits, sizeof *sp);
    if (!sp) return lt_err(LATTE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < b->n_logits; i++) {
      sp[i].temperature = b->temperature[i];
      sp[i].top_p = b->top_p ? b->top_p[i] : 1.0f;
      sp[i].min_p = b->min_p ? b->min_p[i] : 0.0f;
      sp[i].top_k = b->top_k ? b->top_k[i] : 0;
      sp[i].seed = b->seed ? b->seed[i] : 0;
      sp[i].counter = b->counter ? b->counter[i] : 0;
    }
  }
  int32_t *kv_tok = malloc(sizeof(int32_t) * (size_t)(B + 1) + sizeof(int32_t) * (size_t)T);
  if (!kv_tok) { free(sp); return lt_err(LATTE_ERR_NOMEM, "out of memory"); }
  int32_t *slots = kv_tok + B + 1;
  lt_fwd f = {.num_seqs = B, .num_tokens = T, .n_logits = b->n_logits, .page_size = ps};
  kv_tok[0] = 0;
  latte_status s = LATTE_OK;
  for (int i = 0; i < B && !s; i++) {
    int q = b->qo_indptr[i + 1] - b->qo_indptr[i], L = b->seq_lens[i];
    int np = b->kv_indptr[i + 1] - b->kv_indptr[i];
    if (q < 1 || L < q) s = lt_err(LATTE_ERR_INVALID, "batch: sequence %d has %d new tokens but seq_len %d", i, q, L);
    else if ((int64_t)np * ps < L) s = lt_err(LATTE_ERR_INVALID, "batch: sequence %d has %d pages for %d tokens (page size %d)", i, np, L, ps);
    for (int p = 0; p < np && !s; p++) {
      int pg = b->kv_indices[b->kv_indptr[i] + p];
      if (pg < 0 || pg >= e->num_pages) s = lt_err(LATTE_ERR_INVALID, "batch: page %d of sequence %d out of range (pool of %d)", pg, i, e->num_pages);
    }
    if (s) break;
    kv_tok[i + 1] = kv_tok[i] + L;
    if (q > f.max_q_len) f.max_q_len = q;
    if (L > f.max_seq_len) f.max_seq_len = L;
    for (int j = 0; j < q; j++) {  /* new token j sits at context index L - q + j */
      int64_t ctx = L - q + j;
      slots[b->qo_indptr[i] + j] = b->kv_indices[b->kv_indptr[i] + ctx / ps] * ps + (int32_t)(ctx % ps);
    }
  }
  if (!s) {
    f.num_kv = kv_tok[B];
    f.h_qo_indptr = b->qo_indptr;
    f.h_seq_lens = b->seq_lens;
    f.h_kv_indptr = b->kv_indptr;
    f.h_kv_indices = b->kv_indices;
    f.h_positions = b->positions;
    f.h_out_slots = slots;
    f.h_kv_tok_indptr = kv_tok;
    s = lt_model_forward(e, &f, b->ids, b->logit_rows, b->attn_mode, logits, b->greedy_ids, sp);
  }
  free(kv_tok);
  free(sp);
  return s;
}

latte_status latte_logits_all(latte_model *m, const int32_t *ids, int n, int page_size, float *logits) {
  return latte_logits_all_attn(m, ids, n, page_size, 0, logits);
}

latte_status latte_logits_all_attn(latte_model *m, const int32_t *ids, int n, int page_size, int attn_mode,
                                   float *logits) {
  if (n < 1) return lt_err(LATTE_ERR_INVALID, "no input ids");
  latte_engine_opts o = {.page_size = page_size > 0 ? page_size : 64, .max_tokens = n, .max_seqs = 1};
  o.num_pages = (n + o.page_size - 1) / o.page_size;
  latte_engine *e;
  LT_TRY(latte_engine_new(m, &o, &e));
  int32_t *tmp = malloc(sizeof(int32_t) * (size_t)(3 * n + o.num_pages + 8));
  if (!tmp) { latte_engine_free(e); return lt_err(LATTE_ERR_NOMEM, "out of memory"); }
  int32_t *pos = tmp, *rows = tmp + n, *pages = tmp + 2 * n, *meta = pages + o.num_pages;
  for (int i = 0; i < n; i++) pos[i] = rows[i] = i;
  for (int p = 0; p < o.num_pages; p++) pages[p] = p;
  meta[0] = 0; meta[1] = n;                 /* qo_indptr */
  meta[2] = n;                              /* seq_lens */
  meta[3] = 0; meta[4] = o.num_pages;       /* kv_indptr */
  latte_batch b = {.num_seqs = 1, .num_tokens = n, .ids = ids, .positions = pos, .qo_indptr = meta,
                   .seq_lens = meta + 2, .kv_indptr = meta + 3, .kv_indices = pages, .n_logits = n,
                   .logit_rows = rows, .attn_mode = attn_mode};
  latte_status s = latte_forward(e, &b, logits);
  free(tmp);
  latte_engine_free(e);
  return s;
}
