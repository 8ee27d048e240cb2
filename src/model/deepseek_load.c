/* deepseek_load.c — builds a latte_model from a checkpoint directory: config.json, every tensor the
 * config implies (shape-checked, one clear error naming a missing or misshapen tensor), weights handed
 * to the backend once. V3's extra multi-token-prediction layer (index num_hidden_layers) is skipped. */
#include "model/model.h"
#include "base/err.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  latte_model *m;
  int verbose;
  size_t bytes_done, bytes_total, n_done;
  double t0;
} lt_loader;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(lt_loader *L, const lt_st_tensor *t) {
  L->bytes_done += t->nbytes;
  L->n_done++;
  if (!L->verbose || (L->n_done % 64 && L->bytes_done != L->bytes_total)) return;
  double el = now_s() - L->t0;
  double left = L->bytes_done ? el * (double)(L->bytes_total - L->bytes_done) / (double)L->bytes_done : 0;
  fprintf(stderr, "\rlatte: loading %zu tensors, %.2f / %.2f GB, %.0f s left   ", L->n_done,
          L->bytes_done / 1e9, L->bytes_total / 1e9, left);
  if (L->bytes_done == L->bytes_total) fputc('\n', stderr);
}

static latte_status find(lt_loader *L, const lt_st_tensor **out, int ndim, int64_t d0, int64_t d1,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static latte_status find(lt_loader *L, const lt_st_tensor **out, int ndim, int64_t d0, int64_t d1,
                         const char *fmt, ...) {
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  const lt_st_tensor *t = lt_st_find(L->m->st, name);
  if (!t) return lt_err(LATTE_ERR_FORMAT, "%s: missing tensor '%s'", L->m->dir, name);
  int ok = t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
  if (!ok) {
    if (ndim == 1)
      return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s' has shape %s[%lld...], expected [%lld]", t->file, name,
                    t->ndim == 1 ? "" : "(not 1-D) ", (long long)t->shape[0], (long long)d0);
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld] (%d dims), expected [%lld, %lld]",
                  t->file, name, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0), t->ndim,
                  (long long)d0, (long long)d1);
  }
  *out = t;
  progress(L, t);
  return LATTE_OK;
}

/* A linear weight name.weight [n, k] (+ name.weight_scale_inv when FP8). */
static latte_status linear(lt_loader *L, lt_weight *w, int64_t n, int64_t k, const char *name) {
  const lt_st_tensor *t, *sc = NULL;
  LT_TRY(find(L, &t, 2, n, k, "%s.weight", name));
  if (t->dtype == LT_F8E4M3) {
    int bn = L->m->cfg.weight_block_n > 0 ? L->m->cfg.weight_block_n : 128;
    int bk = L->m->cfg.weight_block_k > 0 ? L->m->cfg.weight_block_k : 128;
    if (bn != 128 || bk != 128)
      return lt_err(LATTE_ERR_UNSUPPORTED, "%s: FP8 weight_block_size [%d, %d] (only [128, 128] is supported)", name, bn, bk);
    LT_TRY(find(L, &sc, 2, (n + 127) / 128, (k + 127) / 128, "%s.weight_scale_inv", name));
  }
  latte_status s = L->m->be->weight_new(L->m->be, t, sc, w);
  if (s) return lt_err_prefix(s, "%s", t->name);
  return LATTE_OK;
}

static latte_status vec(lt_loader *L, float **out, int64_t n, const char *fmt, int layer) {
  char name[256];
  snprintf(name, sizeof name, fmt, layer);
  const lt_st_tensor *t;
  LT_TRY(find(L, &t, 1, n, 0, "%s", name));
  return L->m->be->vec_new(L->m->be, t, out);
}

static latte_status mlp_weights(lt_loader *L, lt_mlp_w *w, int64_t hidden, int64_t inter, const char *prefix) {
  char n[256];
  snprintf(n, sizeof n, "%s.gate_proj", prefix);
  LT_TRY(linear(L, &w->gate, inter, hidden, n));
  snprintf(n, sizeof n, "%s.up_proj", prefix);
  LT_TRY(linear(L, &w->up, inter, hidden, n));
  snprintf(n, sizeof n, "%s.down_proj", prefix);
  return linear(L, &w->down, hidden, inter, n);
}

static latte_status mlp(lt_loader *L, lt_mlp_w *w, int64_t hidden, int64_t inter, const char *prefix) {
  LT_TRY(mlp_weights(L, w, hidden, inter, prefix));
  return L->m->be->mlp_new(L->m->be, w);
}

static latte_status load_layer(lt_loader *L, int l) {
  latte_model *m = L->m;
  const lt_config *c = &m->cfg;
  lt_layer *ly = &m->layers[l];
  int64_t H = c->hidden_size, nh = c->num_attention_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim;
  int64_t dv = c->v_head_dim, r = c->kv_lora_rank;
  char p[160], n[256];
  snprintf(p, sizeof p, "model.layers.%d", l);
  LT_TRY(vec(L, &ly->in_ln, H, "model.layers.%d.input_layernorm.weight", l));
  LT_TRY(vec(L, &ly->post_ln, H, "model.layers.%d.post_attention_layernorm.weight", l));
  if (c->q_lora_rank > 0) {
    snprintf(n, sizeof n, "%s.self_attn.q_a_proj", p);
    LT_TRY(linear(L, &ly->q_a, c->q_lora_rank, H, n));
    LT_TRY(vec(L, &ly->q_a_ln, c->q_lora_rank, "model.layers.%d.self_attn.q_a_layernorm.weight", l));
    snprintf(n, sizeof n, "%s.self_attn.q_b_proj", p);
    LT_TRY(linear(L, &ly->q_b, nh * (dn + dr), c->q_lora_rank, n));
  } else {
    snprintf(n, sizeof n, "%s.self_attn.q_proj", p);
    LT_TRY(linear(L, &ly->q_proj, nh * (dn + dr), H, n));
  }
  snprintf(n, sizeof n, "%s.self_attn.kv_a_proj_with_mqa", p);
  LT_TRY(linear(L, &ly->kv_a, r + dr, H, n));
  LT_TRY(vec(L, &ly->kv_a_ln, r, "model.layers.%d.self_attn.kv_a_layernorm.weight", l));
  snprintf(n, sizeof n, "%s.self_attn.kv_b_proj", p);
  LT_TRY(linear(L, &ly->kv_b, nh * (dn + dv), r, n));
  snprintf(n, sizeof n, "%s.self_attn.o_proj", p);
  LT_TRY(linear(L, &ly->o_proj, H, nh * dv, n));
  LT_TRY(m->be->mla_new(m->be, &ly->kv_b, (int)nh, (int)dn, (int)dv, (int)r, &ly->mla));

  ly->moe = lt_config_is_moe_layer(c, l);
  if (!ly->moe) {
    snprintf(n, sizeof n, "%s.mlp", p);
    ly->has_mlp = 1;
    return mlp(L, &ly->mlp, H, c->intermediate_size, n);
  }
  int E = c->n_routed_experts, I = c->moe_intermediate_size;
  snprintf(n, sizeof n, "%s.mlp.gate", p);
  LT_TRY(linear(L, &ly->gate, E, H, n));
  if (c->topk_method == LT_TOPK_NOAUX_TC)
    LT_TRY(vec(L, &ly->gate_bias, E, "model.layers.%d.mlp.gate.e_score_correction_bias", l));
  lt_moe_w *ex = &ly->experts;
  ex->num_experts = E; ex->inter = I; ex->hidden = (int)H;
  ex->gate = calloc((size_t)E, sizeof(lt_weight));
  ex->up = calloc((size_t)E, sizeof(lt_weight));
  ex->down = calloc((size_t)E, sizeof(lt_weight));
  if (!ex->gate || !ex->up || !ex->down) return lt_err(LATTE_ERR_NOMEM, "layer %d: out of memory", l);
  for (int e = 0; e < E; e++) {
    snprintf(n, sizeof n, "%s.mlp.experts.%d.gate_proj", p, e);
    LT_TRY(linear(L, &ex->gate[e], I, H, n));
    snprintf(n, sizeof n, "%s.mlp.experts.%d.up_proj", p, e);
    LT_TRY(linear(L, &ex->up[e], I, H, n));
    snprintf(n, sizeof n, "%s.mlp.experts.%d.down_proj", p, e);
    LT_TRY(linear(L, &ex->down[e], H, I, n));
  }
  if (c->n_shared_experts > 0) {  /* loaded first: the backend may fold them into the experts */
    snprintf(n, sizeof n, "%s.mlp.shared_experts", p);
    ly->has_mlp = 1;
    LT_TRY(mlp_weights(L, &ly->mlp, H, (int64_t)I * c->n_shared_experts, n));
    ex->shared = &ly->mlp;
  }
  LT_TRY(m->be->moe_new(m->be, ex));
  if (ly->has_mlp && !ex->shared_folded) LT_TRY(m->be->mlp_new(m->be, &ly->mlp));
  return LATTE_OK;
}

static latte_status check_config(const latte_model *m) {
  const lt_config *c = &m->cfg;
  if (c->qk_rope_head_dim % 2) return lt_err(LATTE_ERR_FORMAT, "%s/config.json: qk_rope_head_dim must be even", m->dir);
  if (c->n_routed_experts > 0) {
    if (c->num_experts_per_tok <= 0 || c->num_experts_per_tok > c->n_routed_experts)
      return lt_err(LATTE_ERR_FORMAT, "%s/config.json: num_experts_per_tok %d out of range", m->dir, c->num_experts_per_tok);
    int G = c->n_group > 0 ? c->n_group : 1;
    if (c->n_routed_experts % G || c->topk_group > G)
      return lt_err(LATTE_ERR_FORMAT, "%s/config.json: n_group %d / topk_group %d do not divide %d experts", m->dir,
                    c->n_group, c->topk_group, c->n_routed_experts);
  }
  return LATTE_OK;
}

static latte_status load_all(latte_model *m, int verbose) {
  const lt_config *c = &m->cfg;
  lt_loader L = {.m = m, .verbose = verbose, .t0 = now_s()};
  for (size_t i = 0; i < lt_st_count(m->st); i++) L.bytes_total += lt_st_at(m->st, i)->nbytes;
  LT_TRY(check_config(m));
  /* a model that cannot fit says so before anything is uploaded */
  size_t avail = m->be->mem_free(m->be);
  if (avail != SIZE_MAX) {
    double need = 0;
    for (size_t i = 0; i < lt_st_count(m->st); i++) {
      const lt_st_tensor *t = lt_st_at(m->st, i);
      int mtp = 0, l;
      if (sscanf(t->name, "model.layers.%d.", &l) == 1 && l >= c->num_hidden_layers) mtp = 1;
      if (!mtp) need += (double)t->nbytes * (t->dtype == LT_F8E4M3 && !m->be->w8a8 ? 2 : t->dtype == LT_F32 && t->ndim == 2 ? 0.5 : 1);
    }
    if (need > (double)avail)
      return lt_err(LATTE_ERR_NOMEM, "%s: the model needs %.2f GB of %s memory for its weights, but only %.2f GB is free",
                    m->dir, need / 1e9, m->be->name, avail / 1e9);
  }
  const lt_st_tensor *t;
  LT_TRY(find(&L, &t, 2, c->vocab_size, c->hidden_size, "model.embed_tokens.weight"));
  LT_TRY(m->be->weight_new(m->be, t, NULL, &m->embed));
  LT_TRY(vec(&L, &m->final_ln, c->hidden_size, "model.norm.weight%.0d", 0));
  if (c->tie_word_embeddings && !lt_st_find(m->st, "lm_head.weight")) {
    LT_TRY(m->be->weight_new(m->be, t, NULL, &m->lm_head));
  } else {
    LT_TRY(linear(&L, &m->lm_head, c->vocab_size, c->hidden_size, "lm_head"));
  }
  m->layers = calloc((size_t)c->num_hidden_layers, sizeof(lt_layer));
  if (!m->layers) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  for (int l = 0; l < c->num_hidden_layers; l++) LT_TRY(load_layer(&L, l));
  /* route config shared by all MoE layers */
  lt_route_cfg *rc = &m->route;
  rc->num_experts = c->n_routed_experts;
  rc->top_k = c->num_experts_per_tok;
  rc->n_group = c->n_group > 0 ? c->n_group : 1;
  rc->topk_group = c->topk_group > 0 ? c->topk_group : 1;
  rc->method = c->topk_method;
  rc->sigmoid = c->scoring_func == LT_SCORE_SIGMOID;
  rc->norm_topk_prob = c->norm_topk_prob;
  rc->scale_always = c->is_v3;
  rc->routed_scaling_factor = c->routed_scaling_factor;
  /* RoPE table, in backend memory */
  int max_pos = c->max_position_embeddings > 0 ? c->max_position_embeddings : 4096;
  float *cs, *sn;
  LT_TRY(lt_rope_build(c, max_pos, &cs, &sn));
  size_t bytes = sizeof(float) * (size_t)max_pos * (c->qk_rope_head_dim / 2);
  latte_status s = m->be->alloc(m->be, bytes, (void **)&m->rope.cos);
  if (!s) s = m->be->alloc(m->be, bytes, (void **)&m->rope.sin);
  if (!s) s = m->be->upload(m->be, m->rope.cos, cs, bytes);
  if (!s) s = m->be->upload(m->be, m->rope.sin, sn, bytes);
  free(cs);
  free(sn);
  m->rope.max_pos = max_pos;
  m->rope.dim = c->qk_rope_head_dim;
  m->softmax_scale = lt_config_softmax_scale(c);
  return s;
}

latte_status latte_model_load(const char *dir, const latte_load_opts *opts, latte_model **out) {
  latte_load_opts o = {0};
  if (opts) o = *opts;
  *out = NULL;
  latte_model *m = calloc(1, sizeof *m);
  if (!m) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  snprintf(m->dir, sizeof m->dir, "%s", dir);
  latte_status s = lt_config_load(dir, &m->cfg);
  if (!s) s = lt_backend_create(o.backend, o.w8a8, o.threads, &m->be);
  if (!s) s = lt_st_open_dir(dir, &m->st);
  if (!s) s = load_all(m, o.verbose);
  if (s) {
    latte_model_free(m);
    return s;
  }
  *out = m;
  return LATTE_OK;
}

static void free_w(lt_backend *be, lt_weight *w) {
  if (w->data || w->scale) be->weight_free(be, w);
}

void latte_model_free(latte_model *m) {
  if (!m) return;
  lt_backend *be = m->be;
  if (be) {
    if (m->layers) {
      for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        lt_layer *ly = &m->layers[l];
        be->dfree(be, ly->in_ln); be->dfree(be, ly->post_ln);
        be->dfree(be, ly->q_a_ln); be->dfree(be, ly->kv_a_ln); be->dfree(be, ly->gate_bias);
        free_w(be, &ly->q_a); free_w(be, &ly->q_b); free_w(be, &ly->q_proj);
        free_w(be, &ly->kv_a); free_w(be, &ly->kv_b); free_w(be, &ly->o_proj);
        if (ly->mla.w_kc) be->mla_free(be, &ly->mla);
        if (ly->has_mlp) be->mlp_free(be, &ly->mlp);
        free_w(be, &ly->mlp.gate); free_w(be, &ly->mlp.up); free_w(be, &ly->mlp.down);
        free_w(be, &ly->gate);
        lt_moe_w *ex = &ly->experts;
        if (ex->gate) {
          if (ex->priv) be->moe_free(be, ex);
          for (int e = 0; e < ex->num_experts; e++) {
            free_w(be, &ex->gate[e]); free_w(be, &ex->up[e]); free_w(be, &ex->down[e]);
          }
        }
        free(ex->gate); free(ex->up); free(ex->down);
      }
      free(m->layers);
    }
    free_w(be, &m->embed);
    free_w(be, &m->lm_head);
    be->dfree(be, m->final_ln);
    be->dfree(be, m->rope.cos);
    be->dfree(be, m->rope.sin);
    be->destroy(be);
  }
  lt_st_close(m->st);
  free(m);
}

int latte_model_vocab(const latte_model *m) { return m->cfg.vocab_size; }
int latte_model_max_context(const latte_model *m) { return m->rope.max_pos; }
const char *latte_model_backend(const latte_model *m) { return m->be->name; }
