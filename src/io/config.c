/* config.c — parse a DeepSeek-V2/V3 config.json into lt_config. Optional fields take the defaults
 * of Hugging Face's DeepseekV2Config / DeepseekV3Config; wrong types, missing required fields and
 * values the engine cannot run are errors naming config.json and the field. */
#include "io/config.h"
#include "base/err.h"
#include "base/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *path;
  const lt_json *obj;
  const char *prefix;   /* "" or "rope_scaling." for messages */
} lt_cfg_ctx;

static const char *lt_tname(const lt_json *v) {
  static const char *const n[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
  return n[v->type];
}

/* An integer field: absent (or null when null_ok) gives def; null gives null_val. */
static latte_status lt_cfg_int(const lt_cfg_ctx *c, const char *key, int required, int def, int null_val, int *out) {
  const lt_json *v = lt_json_get(c->obj, key);
  if (!v) {
    if (required) return lt_err(LATTE_ERR_FORMAT, "%s: missing required field '%s%s'", c->path, c->prefix, key);
    *out = def;
    return LATTE_OK;
  }
  if (v->type == LT_JNULL) {
    if (required) return lt_err(LATTE_ERR_FORMAT, "%s: field '%s%s' is null, expected an integer", c->path, c->prefix, key);
    *out = null_val;
    return LATTE_OK;
  }
  if (v->type != LT_JNUM || v->num != floor(v->num) || fabs(v->num) > 2147483647.0)
    return lt_err(LATTE_ERR_FORMAT, "%s: field '%s%s' is %s, expected an integer", c->path, c->prefix, key,
                  v->type == LT_JNUM ? "a non-integral or too large number" : lt_tname(v));
  *out = (int)v->num;
  return LATTE_OK;
}

static latte_status lt_cfg_num(const lt_cfg_ctx *c, const char *key, float def, float *out) {
  const lt_json *v = lt_json_get(c->obj, key);
  if (!v || v->type == LT_JNULL) { *out = def; return LATTE_OK; }
  if (v->type != LT_JNUM)
    return lt_err(LATTE_ERR_FORMAT, "%s: field '%s%s' is %s, expected a number", c->path, c->prefix, key, lt_tname(v));
  *out = (float)v->num;
  return LATTE_OK;
}

static latte_status lt_cfg_bool(const lt_cfg_ctx *c, const char *key, int def, int *out) {
  const lt_json *v = lt_json_get(c->obj, key);
  if (!v || v->type == LT_JNULL) { *out = def; return LATTE_OK; }
  if (v->type != LT_JBOOL)
    return lt_err(LATTE_ERR_FORMAT, "%s: field '%s%s' is %s, expected true or false", c->path, c->prefix, key, lt_tname(v));
  *out = v->boolean;
  return LATTE_OK;
}

/* A string field; *out = NULL when absent or null. */
static latte_status lt_cfg_str(const lt_cfg_ctx *c, const char *key, const char **out) {
  const lt_json *v = lt_json_get(c->obj, key);
  *out = NULL;
  if (!v || v->type == LT_JNULL) return LATTE_OK;
  if (v->type != LT_JSTR)
    return lt_err(LATTE_ERR_FORMAT, "%s: field '%s%s' is %s, expected a string", c->path, c->prefix, key, lt_tname(v));
  *out = v->str;
  return LATTE_OK;
}

/* bos/eos may be an integer, null (-1) or a list of integers (the first one). */
static latte_status lt_cfg_token(const lt_cfg_ctx *c, const char *key, int def, int *out) {
  const lt_json *v = lt_json_get(c->obj, key);
  if (v && v->type == LT_JARR) {
    if (v->len == 0) { *out = -1; return LATTE_OK; }
    const lt_json *e = &v->items[0];
    if (e->type != LT_JNUM || !e->is_int || e->inum < 0 || e->inum > 2147483647)
      return lt_err(LATTE_ERR_FORMAT, "%s: field '%s' must hold non-negative integers", c->path, key);
    *out = (int)e->inum;
    return LATTE_OK;
  }
  return lt_cfg_int(c, key, 0, def, -1, out);
}

static latte_status lt_cfg_rope(const char *path, const lt_json *rs, lt_config *o) {
  o->rope_yarn = 0;
  o->rope_factor = 1.0f;
  o->rope_beta_fast = 32.0f;
  o->rope_beta_slow = 1.0f;
  o->rope_mscale = 1.0f;
  o->rope_mscale_all_dim = 0.0f;
  o->rope_original_max_pos = 4096;
  if (!rs || rs->type == LT_JNULL) return LATTE_OK;
  if (rs->type != LT_JOBJ)
    return lt_err(LATTE_ERR_FORMAT, "%s: field 'rope_scaling' is %s, expected an object or null", path, lt_tname(rs));
  lt_cfg_ctx c = {path, rs, "rope_scaling."};
  const char *type, *rtype;
  LT_TRY(lt_cfg_str(&c, "type", &type));
  LT_TRY(lt_cfg_str(&c, "rope_type", &rtype));
  const char *t = rtype ? rtype : type;
  if (!t || !strcmp(t, "default") || !strcmp(t, "none")) return LATTE_OK;
  if (strcmp(t, "yarn"))
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: rope_scaling type '%s' is not supported (expected yarn)", path, t);
  o->rope_yarn = 1;
  LT_TRY(lt_cfg_num(&c, "factor", 1.0f, &o->rope_factor));
  LT_TRY(lt_cfg_int(&c, "original_max_position_embeddings", 0, 4096, 4096, &o->rope_original_max_pos));
  LT_TRY(lt_cfg_num(&c, "beta_fast", 32.0f, &o->rope_beta_fast));
  LT_TRY(lt_cfg_num(&c, "beta_slow", 1.0f, &o->rope_beta_slow));
  LT_TRY(lt_cfg_num(&c, "mscale", 1.0f, &o->rope_mscale));
  LT_TRY(lt_cfg_num(&c, "mscale_all_dim", 0.0f, &o->rope_mscale_all_dim));
  if (!(o->rope_factor > 0.0f) || o->rope_original_max_pos <= 0)
    return lt_err(LATTE_ERR_FORMAT, "%s: rope_scaling.factor and original_max_position_embeddings must be positive", path);
  return LATTE_OK;
}

static latte_status lt_cfg_quant(const char *path, const lt_json *q, lt_config *o) {
  o->fp8 = 0;
  o->weight_block_n = o->weight_block_k = 128;
  if (!q || q->type == LT_JNULL) return LATTE_OK;
  if (q->type != LT_JOBJ)
    return lt_err(LATTE_ERR_FORMAT, "%s: field 'quantization_config' is %s, expected an object", path, lt_tname(q));
  lt_cfg_ctx c = {path, q, "quantization_config."};
  const char *m, *fmt;
  LT_TRY(lt_cfg_str(&c, "quant_method", &m));
  if (!m || strcmp(m, "fp8"))
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: quantization_config.quant_method '%s' is not supported (expected fp8)",
                  path, m ? m : "(none)");
  LT_TRY(lt_cfg_str(&c, "fmt", &fmt));
  if (fmt && strcmp(fmt, "e4m3"))
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: quantization_config.fmt '%s' is not supported (expected e4m3)", path, fmt);
  const lt_json *bs = lt_json_get(q, "weight_block_size");
  if (bs && bs->type != LT_JNULL) {
    if (bs->type != LT_JARR || bs->len != 2 || bs->items[0].type != LT_JNUM || !bs->items[0].is_int ||
        bs->items[1].type != LT_JNUM || !bs->items[1].is_int || bs->items[0].inum <= 0 || bs->items[1].inum <= 0 ||
        bs->items[0].inum > 65536 || bs->items[1].inum > 65536)
      return lt_err(LATTE_ERR_FORMAT, "%s: field 'quantization_config.weight_block_size' must be [n, k] positive integers",
                    path);
    o->weight_block_n = (int)bs->items[0].inum;
    o->weight_block_k = (int)bs->items[1].inum;
  }
  o->fp8 = 1;
  return LATTE_OK;
}

static latte_status lt_cfg_check(const char *path, const lt_config *o) {
  struct { const char *name; int v, lo, hi; } r[] = {
    {"hidden_size", o->hidden_size, 1, 1 << 16},
    {"num_hidden_layers", o->num_hidden_layers, 1, 4096},
    {"num_attention_heads", o->num_attention_heads, 1, 4096},
    {"num_key_value_heads", o->num_key_value_heads, 1, 4096},
    {"vocab_size", o->vocab_size, 1, 1 << 24},
    {"intermediate_size", o->intermediate_size, 1, 1 << 20},
    {"kv_lora_rank", o->kv_lora_rank, 1, 1 << 16},
    {"qk_nope_head_dim", o->qk_nope_head_dim, 1, 1 << 12},
    {"qk_rope_head_dim", o->qk_rope_head_dim, 2, 1 << 12},
    {"v_head_dim", o->v_head_dim, 1, 1 << 12},
    {"q_lora_rank", o->q_lora_rank, 0, 1 << 16},
    {"max_position_embeddings", o->max_position_embeddings, 1, 1 << 30},
    {"n_routed_experts", o->n_routed_experts, 0, 1 << 16},
    {"n_shared_experts", o->n_shared_experts, 0, 1 << 10},
    {"moe_layer_freq", o->moe_layer_freq, 1, 4096},
    {"first_k_dense_replace", o->first_k_dense_replace, 0, 1 << 20},
    {"num_nextn_predict_layers", o->num_nextn_predict_layers, 0, 64},
  };
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    if (r[i].v < r[i].lo || r[i].v > r[i].hi)
      return lt_err(LATTE_ERR_FORMAT, "%s: field '%s' = %d is out of range [%d, %d]", path, r[i].name, r[i].v, r[i].lo,
                    r[i].hi);
  if (o->qk_rope_head_dim % 2)
    return lt_err(LATTE_ERR_FORMAT, "%s: field 'qk_rope_head_dim' = %d must be even", path, o->qk_rope_head_dim);
  if (o->n_routed_experts > 0) {
    if (o->moe_intermediate_size <= 0 || o->moe_intermediate_size > (1 << 20))
      return lt_err(LATTE_ERR_FORMAT, "%s: field 'moe_intermediate_size' = %d is out of range", path,
                    o->moe_intermediate_size);
    if (o->num_experts_per_tok < 1 || o->num_experts_per_tok > o->n_routed_experts)
      return lt_err(LATTE_ERR_FORMAT, "%s: field 'num_experts_per_tok' = %d must be in [1, n_routed_experts = %d]", path,
                    o->num_experts_per_tok, o->n_routed_experts);
    if (o->n_group < 1 || o->n_routed_experts % o->n_group)
      return lt_err(LATTE_ERR_FORMAT, "%s: field 'n_group' = %d must divide n_routed_experts = %d", path, o->n_group,
                    o->n_routed_experts);
    if (o->topk_group < 1 || o->topk_group > o->n_group)
      return lt_err(LATTE_ERR_FORMAT, "%s: field 'topk_group' = %d must be in [1, n_group = %d]", path, o->topk_group,
                    o->n_group);
  }
  if (!(o->rms_norm_eps > 0.0f) || !(o->rope_theta > 0.0f))
    return lt_err(LATTE_ERR_FORMAT, "%s: fields 'rms_norm_eps' and 'rope_theta' must be positive", path);
  return LATTE_OK;
}

static latte_status lt_cfg_parse(const char *path, const lt_json *root, lt_config *o) {
  if (root->type != LT_JOBJ) return lt_err(LATTE_ERR_FORMAT, "%s: top level is %s, expected an object", path, lt_tname(root));
  lt_cfg_ctx c = {path, root, ""};
  const char *mt, *s;
  LT_TRY(lt_cfg_str(&c, "model_type", &mt));
  if (!mt) return lt_err(LATTE_ERR_FORMAT, "%s: missing required field 'model_type'", path);
  if (strcmp(mt, "deepseek_v2") && strcmp(mt, "deepseek_v3"))
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: unknown model_type '%s' (expected deepseek_v2 or deepseek_v3)", path, mt);
  int v3 = o->is_v3 = !strcmp(mt, "deepseek_v3");

  LT_TRY(lt_cfg_int(&c, "hidden_size", 1, 0, 0, &o->hidden_size));
  LT_TRY(lt_cfg_int(&c, "num_hidden_layers", 1, 0, 0, &o->num_hidden_layers));
  LT_TRY(lt_cfg_int(&c, "num_attention_heads", 1, 0, 0, &o->num_attention_heads));
  LT_TRY(lt_cfg_int(&c, "vocab_size", 1, 0, 0, &o->vocab_size));
  LT_TRY(lt_cfg_int(&c, "kv_lora_rank", 1, 0, 0, &o->kv_lora_rank));
  LT_TRY(lt_cfg_int(&c, "qk_nope_head_dim", 1, 0, 0, &o->qk_nope_head_dim));
  LT_TRY(lt_cfg_int(&c, "qk_rope_head_dim", 1, 0, 0, &o->qk_rope_head_dim));
  LT_TRY(lt_cfg_int(&c, "v_head_dim", 1, 0, 0, &o->v_head_dim));
  LT_TRY(lt_cfg_int(&c, "intermediate_size", 1, 0, 0, &o->intermediate_size));

  LT_TRY(lt_cfg_int(&c, "num_key_value_heads", 0, o->num_attention_heads, o->num_attention_heads,
                    &o->num_key_value_heads));
  LT_TRY(lt_cfg_int(&c, "moe_intermediate_size", 0, v3 ? 2048 : 1407, 0, &o->moe_intermediate_size));
  LT_TRY(lt_cfg_int(&c, "n_shared_experts", 0, v3 ? 1 : 0, 0, &o->n_shared_experts));
  LT_TRY(lt_cfg_int(&c, "n_routed_experts", 0, v3 ? 256 : 0, 0, &o->n_routed_experts));
  LT_TRY(lt_cfg_int(&c, "num_experts_per_tok", 0, v3 ? 8 : 0, 0, &o->num_experts_per_tok));
  LT_TRY(lt_cfg_int(&c, "first_k_dense_replace", 0, v3 ? 3 : 0, 0, &o->first_k_dense_replace));
  LT_TRY(lt_cfg_int(&c, "moe_layer_freq", 0, 1, 1, &o->moe_layer_freq));
  LT_TRY(lt_cfg_int(&c, "q_lora_rank", 0, 1536, 0, &o->q_lora_rank));
  LT_TRY(lt_cfg_int(&c, "max_position_embeddings", 0, v3 ? 4096 : 2048, v3 ? 4096 : 2048, &o->max_position_embeddings));
  LT_TRY(lt_cfg_int(&c, "n_group", 0, v3 ? 8 : 1, 1, &o->n_group));
  LT_TRY(lt_cfg_int(&c, "topk_group", 0, v3 ? 4 : 1, 1, &o->topk_group));
  LT_TRY(lt_cfg_int(&c, "num_nextn_predict_layers", 0, v3 ? 1 : 0, 0, &o->num_nextn_predict_layers));
  LT_TRY(lt_cfg_num(&c, "rms_norm_eps", 1e-6f, &o->rms_norm_eps));
  LT_TRY(lt_cfg_num(&c, "rope_theta", 10000.0f, &o->rope_theta));
  LT_TRY(lt_cfg_num(&c, "routed_scaling_factor", v3 ? 2.5f : 1.0f, &o->routed_scaling_factor));
  LT_TRY(lt_cfg_bool(&c, "norm_topk_prob", v3 ? 1 : 0, &o->norm_topk_prob));
  LT_TRY(lt_cfg_bool(&c, "tie_word_embeddings", 0, &o->tie_word_embeddings));
  LT_TRY(lt_cfg_token(&c, "bos_token_id", v3 ? 0 : 100000, &o->bos_token_id));
  LT_TRY(lt_cfg_token(&c, "eos_token_id", v3 ? 1 : 100001, &o->eos_token_id));

  LT_TRY(lt_cfg_str(&c, "topk_method", &s));
  if (!s) o->topk_method = v3 ? LT_TOPK_NOAUX_TC : LT_TOPK_GREEDY;
  else if (!strcmp(s, "greedy")) o->topk_method = LT_TOPK_GREEDY;
  else if (!strcmp(s, "group_limited_greedy")) o->topk_method = LT_TOPK_GROUP_LIMITED;
  else if (!strcmp(s, "noaux_tc")) o->topk_method = LT_TOPK_NOAUX_TC;
  else
    return lt_err(LATTE_ERR_UNSUPPORTED,
                  "%s: field 'topk_method' = '%s' is not supported (expected greedy, group_limited_greedy or noaux_tc)",
                  path, s);
  LT_TRY(lt_cfg_str(&c, "scoring_func", &s));
  if (!s) o->scoring_func = v3 ? LT_SCORE_SIGMOID : LT_SCORE_SOFTMAX;
  else if (!strcmp(s, "softmax")) o->scoring_func = LT_SCORE_SOFTMAX;
  else if (!strcmp(s, "sigmoid")) o->scoring_func = LT_SCORE_SIGMOID;
  else
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: field 'scoring_func' = '%s' is not supported (expected softmax or sigmoid)",
                  path, s);
  LT_TRY(lt_cfg_str(&c, "hidden_act", &s));
  if (s && strcmp(s, "silu"))
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: field 'hidden_act' = '%s' is not supported (expected silu)", path, s);

  LT_TRY(lt_cfg_rope(path, lt_json_get(root, "rope_scaling"), o));
  LT_TRY(lt_cfg_quant(path, lt_json_get(root, "quantization_config"), o));
  return lt_cfg_check(path, o);
}

latte_status lt_config_load(const char *dir, lt_config *out) {
  memset(out, 0, sizeof *out);
  size_t n = strlen(dir) + sizeof "/config.json";
  char *path = malloc(n);
  if (!path) return lt_err(LATTE_ERR_NOMEM, "config.json: out of memory");
  snprintf(path, n, "%s/config.json", dir);
  lt_json_doc *doc;
  latte_status s = lt_json_parse_file(path, &doc);
  if (!s) {
    s = lt_cfg_parse(path, lt_json_root(doc), out);
    lt_json_free(doc);
  }
  free(path);
  return s;
}

int lt_config_is_moe_layer(const lt_config *c, int l) {
  return c->n_routed_experts > 0 && l >= c->first_k_dense_replace && c->moe_layer_freq > 0 &&
         l % c->moe_layer_freq == 0;
}

float lt_config_softmax_scale(const lt_config *c) {
  double s = 1.0 / sqrt((double)(c->qk_nope_head_dim + c->qk_rope_head_dim));
  if (c->rope_yarn && c->rope_factor > 1.0f && c->rope_mscale_all_dim != 0.0f) {
    double m = 0.1 * c->rope_mscale_all_dim * log(c->rope_factor) + 1.0;
    s *= m * m;
  }
  return (float)s;
}
