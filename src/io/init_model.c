/* init_model.c — random-weight DeepSeek checkpoints for `latte init-model`: the preset configs, the
 * tensor plan (Hugging Face names and shapes), seeded parallel generation streamed shard by shard
 * through the safetensors writer, config.json, the shard index and the tokenizer files. */
#include "io/init_model.h"
#include "base/err.h"
#include "base/json.h"
#include "io/safetensors.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LT_IM_CHUNK 65536u          /* elements per RNG stream: chunk c of tensor t is seeded from (seed, t, c) */
#define LT_IM_SLAB (1u << 25)       /* elements generated per write */
#define LT_IM_BLOCK 128             /* FP8 weight block (rows and columns) */

/* ---- presets ---- */

typedef struct {
  const char *name, *model_type;
  int vocab, hidden, inter, moe_inter, layers, heads, q_lora, kv_lora, nope, rope, v;
  int routed, topk, shared, first_dense, freq, n_group, topk_group, norm_topk, max_pos;
  const char *topk_method, *scoring;
  double eps, theta, routed_scale;
  double factor, beta_fast, beta_slow, mscale, mscale_all;
  int orig_max_pos;
} lt_im_preset;

static const lt_im_preset lt_presets[] = {
  {"tiny", "deepseek_v3", 129280, 128, 256, 64, 2, 4, 96, 64, 32, 16, 32,
   8, 2, 1, 1, 1, 2, 1, 1, 4096, "noaux_tc", "sigmoid", 1e-6, 10000, 2.5, 40, 32, 1, 1.0, 1.0, 4096},
  {"deepseek-v2-lite", "deepseek_v2", 129280, 2048, 10944, 1408, 27, 16, 0, 512, 128, 64, 128,
   64, 6, 2, 1, 1, 1, 1, 0, 163840, "greedy", "softmax", 1e-6, 10000, 1.0, 40, 32, 1, 0.707, 0.707, 4096},
  {"deepseek-v3", "deepseek_v3", 129280, 7168, 18432, 2048, 61, 128, 1536, 512, 128, 64, 128,
   256, 8, 1, 3, 1, 8, 4, 1, 163840, "noaux_tc", "sigmoid", 1e-6, 10000, 2.5, 40, 32, 1, 1.0, 1.0, 4096},
};

static latte_status lt_im_find_preset(const lt_init_opts *o, lt_im_preset *p) {
  for (size_t i = 0; i < sizeof lt_presets / sizeof lt_presets[0]; i++)
    if (o->preset && !strcmp(o->preset, lt_presets[i].name)) {
      *p = lt_presets[i];
      if (o->layers < 0) return lt_err(LATTE_ERR_INVALID, "init-model: --layers must be positive (got %d)", o->layers);
      if (o->layers > 0) {
        p->layers = o->layers;
        if (p->first_dense > o->layers) p->first_dense = o->layers;
      }
      return LATTE_OK;
    }
  return lt_err(LATTE_ERR_INVALID, "init-model: unknown preset '%s' (expected tiny, deepseek-v2-lite or deepseek-v3)",
                o->preset ? o->preset : "(none)");
}

latte_status lt_init_preset_config(const lt_init_opts *o, lt_config *c) {
  lt_im_preset p;
  LT_TRY(lt_im_find_preset(o, &p));
  memset(c, 0, sizeof *c);
  c->is_v3 = !strcmp(p.model_type, "deepseek_v3");
  c->vocab_size = p.vocab;
  c->hidden_size = p.hidden;
  c->intermediate_size = p.inter;
  c->moe_intermediate_size = p.moe_inter;
  c->num_hidden_layers = p.layers;
  c->num_attention_heads = c->num_key_value_heads = p.heads;
  c->n_shared_experts = p.shared;
  c->n_routed_experts = p.routed;
  c->num_experts_per_tok = p.topk;
  c->first_k_dense_replace = p.first_dense;
  c->moe_layer_freq = p.freq;
  c->q_lora_rank = p.q_lora;
  c->kv_lora_rank = p.kv_lora;
  c->qk_nope_head_dim = p.nope;
  c->qk_rope_head_dim = p.rope;
  c->v_head_dim = p.v;
  c->max_position_embeddings = p.max_pos;
  c->rms_norm_eps = (float)p.eps;
  c->rope_theta = (float)p.theta;
  c->routed_scaling_factor = (float)p.routed_scale;
  c->topk_method = !strcmp(p.topk_method, "noaux_tc") ? LT_TOPK_NOAUX_TC : LT_TOPK_GREEDY;
  c->scoring_func = !strcmp(p.scoring, "sigmoid") ? LT_SCORE_SIGMOID : LT_SCORE_SOFTMAX;
  c->n_group = p.n_group;
  c->topk_group = p.topk_group;
  c->norm_topk_prob = p.norm_topk;
  c->bos_token_id = 0;
  c->eos_token_id = 1;
  c->rope_yarn = 1;
  c->rope_factor = (float)p.factor;
  c->rope_beta_fast = (float)p.beta_fast;
  c->rope_beta_slow = (float)p.beta_slow;
  c->rope_mscale = (float)p.mscale;
  c->rope_mscale_all_dim = (float)p.mscale_all;
  c->rope_original_max_pos = p.orig_max_pos;
  c->fp8 = o->fp8 ? 1 : 0;
  c->weight_block_n = c->weight_block_k = LT_IM_BLOCK;
  return LATTE_OK;
}

/* ---- config.json ---- */

/* Shortest decimal that reads back as v; integral values get ".0" (as Python writes floats). */
static void lt_put_float(lt_sbuf *b, double v) {
  char s[48];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, v);
    if (strtod(s, NULL) == v) break;
  }
  if (!strpbrk(s, ".eEn")) strcat(s, ".0");
  lt_sbuf_puts(b, s);
}

static void lt_config_json(const lt_im_preset *p, int fp8, lt_sbuf *b) {
  int v3 = !strcmp(p->model_type, "deepseek_v3");
  lt_sbuf_printf(b, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n",
                 v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM", p->model_type);
  lt_sbuf_printf(b, "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n"
                 "  \"moe_intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n  \"first_k_dense_replace\": %d,\n"
                 "  \"moe_layer_freq\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
                 "  \"n_shared_experts\": %d,\n  \"n_routed_experts\": %d,\n  \"num_experts_per_tok\": %d,\n"
                 "  \"n_group\": %d,\n  \"topk_group\": %d,\n  \"routed_scaling_factor\": ",
                 p->vocab, p->hidden, p->inter, p->moe_inter, p->layers, p->first_dense, p->freq, p->heads, p->heads,
                 p->shared, p->routed, p->topk, p->n_group, p->topk_group);
  lt_put_float(b, p->routed_scale);
  lt_sbuf_printf(b, ",\n  \"norm_topk_prob\": %s,\n  \"scoring_func\": \"%s\",\n  \"topk_method\": \"%s\",\n",
                 p->norm_topk ? "true" : "false", p->scoring, p->topk_method);
  lt_sbuf_printf(b, "  \"kv_lora_rank\": %d,\n", p->kv_lora);
  if (p->q_lora) lt_sbuf_printf(b, "  \"q_lora_rank\": %d,\n", p->q_lora);
  else lt_sbuf_puts(b, "  \"q_lora_rank\": null,\n");
  lt_sbuf_printf(b, "  \"qk_nope_head_dim\": %d,\n  \"qk_rope_head_dim\": %d,\n  \"v_head_dim\": %d,\n"
                 "  \"hidden_act\": \"silu\",\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": ",
                 p->nope, p->rope, p->v, p->max_pos);
  lt_put_float(b, p->eps);
  lt_sbuf_puts(b, ",\n  \"rope_theta\": ");
  lt_put_float(b, p->theta);
  lt_sbuf_puts(b, ",\n  \"rope_scaling\": {\n    \"type\": \"yarn\",\n    \"rope_type\": \"yarn\",\n    \"factor\": ");
  lt_put_float(b, p->factor);
  lt_sbuf_printf(b, ",\n    \"original_max_position_embeddings\": %d,\n    \"beta_fast\": ", p->orig_max_pos);
  lt_put_float(b, p->beta_fast);
  lt_sbuf_puts(b, ",\n    \"beta_slow\": ");
  lt_put_float(b, p->beta_slow);
  lt_sbuf_puts(b, ",\n    \"mscale\": ");
  lt_put_float(b, p->mscale);
  lt_sbuf_puts(b, ",\n    \"mscale_all_dim\": ");
  lt_put_float(b, p->mscale_all);
  lt_sbuf_puts(b, "\n  },\n  \"tie_word_embeddings\": false,\n  \"attention_bias\": false,\n"
               "  \"attention_dropout\": 0.0,\n  \"bos_token_id\": 0,\n  \"eos_token_id\": 1,\n"
               "  \"initializer_range\": 0.02,\n");
  if (v3) lt_sbuf_puts(b, "  \"num_nextn_predict_layers\": 0,\n");
  if (fp8)
    lt_sbuf_printf(b, "  \"quantization_config\": {\n    \"activation_scheme\": \"dynamic\",\n    \"fmt\": \"e4m3\",\n"
                   "    \"quant_method\": \"fp8\",\n    \"weight_block_size\": [%d, %d]\n  },\n",
                   LT_IM_BLOCK, LT_IM_BLOCK);
  lt_sbuf_puts(b, "  \"torch_dtype\": \"bfloat16\",\n  \"use_cache\": true\n}\n");
}

/* ---- tensor plan ---- */

typedef enum { LT_IM_RAND, LT_IM_FP8W, LT_IM_FP8S } lt_im_kind;

typedef struct {
  char name[112];
  lt_dtype dt;
  int ndim;
  int64_t shape[2];
  lt_im_kind kind;   /* LT_IM_FP8S follows its LT_IM_FP8W and is produced with it */
  float center, a;   /* values: center + U(-a, a) */
  int shard;
} lt_im_tensor;

typedef struct {
  lt_im_tensor *t;
  size_t n, cap;
  int oom;
} lt_im_plan;

static lt_im_tensor *lt_im_push(lt_im_plan *p, lt_dtype dt, int64_t d0, int64_t d1, float center, float a,
                                const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static lt_im_tensor *lt_im_push(lt_im_plan *p, lt_dtype dt, int64_t d0, int64_t d1, float center, float a,
                                const char *fmt, ...) {
  if (p->oom) return NULL;
  if (p->n == p->cap) {
    size_t nc = p->cap ? 2 * p->cap : 256;
    lt_im_tensor *t = realloc(p->t, nc * sizeof *t);
    if (!t) { p->oom = 1; return NULL; }
    p->t = t;
    p->cap = nc;
  }
  lt_im_tensor *t = &p->t[p->n++];
  memset(t, 0, sizeof *t);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->name, sizeof t->name, fmt, ap);
  va_end(ap);
  t->dt = dt;
  t->ndim = d1 > 0 ? 2 : 1;
  t->shape[0] = d0;
  t->shape[1] = d1 > 0 ? d1 : 0;
  t->center = center;
  t->a = a;
  return t;
}

/* A linear [n, k] (out, in): uniform with std 1/sqrt(k); FP8 adds its block scales. */
static void lt_im_linear(lt_im_plan *p, int fp8, int64_t n, int64_t k, const char *name) {
  float a = sqrtf(3.0f / (float)k);
  lt_im_tensor *t = lt_im_push(p, fp8 ? LT_F8E4M3 : LT_BF16, n, k, 0.0f, a, "%s.weight", name);
  if (!t || !fp8) return;
  t->kind = LT_IM_FP8W;
  t = lt_im_push(p, LT_F32, (n + LT_IM_BLOCK - 1) / LT_IM_BLOCK, (k + LT_IM_BLOCK - 1) / LT_IM_BLOCK, 0, 0,
                 "%s.weight_scale_inv", name);
  if (t) t->kind = LT_IM_FP8S;
}

static void lt_im_norm(lt_im_plan *p, int64_t n, const char *name) {
  lt_im_push(p, LT_BF16, n, 0, 1.0f, 0.1f, "%s.weight", name);
}

static void lt_im_mlp(lt_im_plan *p, int fp8, int64_t h, int64_t inter, const char *pre) {
  char nm[112];
  snprintf(nm, sizeof nm, "%s.gate_proj", pre);
  lt_im_linear(p, fp8, inter, h, nm);
  snprintf(nm, sizeof nm, "%s.up_proj", pre);
  lt_im_linear(p, fp8, inter, h, nm);
  snprintf(nm, sizeof nm, "%s.down_proj", pre);
  lt_im_linear(p, fp8, h, inter, nm);
}

static latte_status lt_im_make_plan(const lt_config *c, lt_im_plan *p) {
  int fp8 = c->fp8;
  int64_t h = c->hidden_size, nh = c->num_attention_heads, dqk = c->qk_nope_head_dim + c->qk_rope_head_dim;
  char pre[64], nm[112];
  lt_im_push(p, LT_BF16, c->vocab_size, h, 0.0f, sqrtf(3.0f), "model.embed_tokens.weight");
  for (int l = 0; l < c->num_hidden_layers; l++) {
    snprintf(pre, sizeof pre, "model.layers.%d", l);
    snprintf(nm, sizeof nm, "%s.input_layernorm", pre);
    lt_im_norm(p, h, nm);
    if (c->q_lora_rank) {
      snprintf(nm, sizeof nm, "%s.self_attn.q_a_proj", pre);
      lt_im_linear(p, fp8, c->q_lora_rank, h, nm);
      snprintf(nm, sizeof nm, "%s.self_attn.q_a_layernorm", pre);
      lt_im_norm(p, c->q_lora_rank, nm);
      snprintf(nm, sizeof nm, "%s.self_attn.q_b_proj", pre);
      lt_im_linear(p, fp8, nh * dqk, c->q_lora_rank, nm);
    } else {
      snprintf(nm, sizeof nm, "%s.self_attn.q_proj", pre);
      lt_im_linear(p, fp8, nh * dqk, h, nm);
    }
    snprintf(nm, sizeof nm, "%s.self_attn.kv_a_proj_with_mqa", pre);
    lt_im_linear(p, fp8, c->kv_lora_rank + c->qk_rope_head_dim, h, nm);
    snprintf(nm, sizeof nm, "%s.self_attn.kv_a_layernorm", pre);
    lt_im_norm(p, c->kv_lora_rank, nm);
    snprintf(nm, sizeof nm, "%s.self_attn.kv_b_proj", pre);
    lt_im_linear(p, fp8, nh * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank, nm);
    snprintf(nm, sizeof nm, "%s.self_attn.o_proj", pre);
    lt_im_linear(p, fp8, h, nh * c->v_head_dim, nm);
    snprintf(nm, sizeof nm, "%s.post_attention_layernorm", pre);
    lt_im_norm(p, h, nm);
    if (lt_config_is_moe_layer(c, l)) {
      int64_t e = c->n_routed_experts, mi = c->moe_intermediate_size;
      lt_im_push(p, LT_BF16, e, h, 0.0f, sqrtf(3.0f / (float)h), "%s.mlp.gate.weight", pre);
      if (c->is_v3) lt_im_push(p, LT_F32, e, 0, 0.0f, 0.01f, "%s.mlp.gate.e_score_correction_bias", pre);
      for (int x = 0; x < e; x++) {
        snprintf(nm, sizeof nm, "%s.mlp.experts.%d", pre, x);
        lt_im_mlp(p, fp8, h, mi, nm);
      }
      if (c->n_shared_experts) {
        snprintf(nm, sizeof nm, "%s.mlp.shared_experts", pre);
        lt_im_mlp(p, fp8, h, mi * c->n_shared_experts, nm);
      }
    } else {
      snprintf(nm, sizeof nm, "%s.mlp", pre);
      lt_im_mlp(p, fp8, h, c->intermediate_size, nm);
    }
  }
  lt_im_norm(p, h, "model.norm");
  lt_im_push(p, LT_BF16, c->vocab_size, h, 0.0f, sqrtf(3.0f / (float)h), "lm_head.weight");
  if (p->oom) return lt_err(LATTE_ERR_NOMEM, "init-model: out of memory for the tensor plan");
  return LATTE_OK;
}

static uint64_t lt_im_bytes(const lt_im_tensor *t) {
  return (uint64_t)t->shape[0] * (uint64_t)(t->ndim == 2 ? t->shape[1] : 1) * lt_dtype_size(t->dt);
}

static uint64_t lt_im_numel(const lt_im_tensor *t) {
  return (uint64_t)t->shape[0] * (uint64_t)(t->ndim == 2 ? t->shape[1] : 1);
}

/* ---- generation ---- */

static inline uint64_t lt_mix64(uint64_t z) {   /* splitmix64 finaliser */
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline uint64_t lt_chunk_seed(uint64_t seed, uint64_t tidx, uint64_t chunk) {
  return lt_mix64(lt_mix64(lt_mix64(seed) ^ tidx) ^ (chunk * 0xd1b54a32d192ed03ull));
}

/* Elements [start, start+n) of tensor tidx's value stream, center + U(-a, a), written as dt (F32/BF16). */
static void lt_im_fill(uint64_t seed, uint64_t tidx, uint64_t start, size_t n, float center, float a, lt_dtype dt,
                       void *out) {
  const size_t blk = 16384;
  long nb = (long)((n + blk - 1) / blk);
#pragma omp parallel for schedule(static)
  for (long bi = 0; bi < nb; bi++) {
    size_t i0 = (size_t)bi * blk, i1 = i0 + blk < n ? i0 + blk : n;
    uint64_t cur = UINT64_MAX, base = 0;
    for (size_t i = i0; i < i1; i++) {
      uint64_t idx = start + i, c = idx / LT_IM_CHUNK;
      if (c != cur) { cur = c; base = lt_chunk_seed(seed, tidx, c); }
      uint64_t r = lt_mix64(base + (idx % LT_IM_CHUNK) * 0x9e3779b97f4a7c15ull);
      float u = (float)(r >> 40) * (1.0f / 16777216.0f);   /* [0, 1) */
      float v = center + a * (2.0f * u - 1.0f);
      if (dt == LT_BF16) ((uint16_t *)out)[i] = lt_f32_to_bf16(v);
      else ((float *)out)[i] = v;
    }
  }
}

typedef struct {
  uint64_t seed;
  int progress;
  uint64_t done, total, next_report;
  void *buf;       /* LT_IM_SLAB * 4 bytes */
  float *fbuf;     /* FP8 slabs in f32: LT_IM_SLAB floats */
} lt_im_gen;

static void lt_im_report(lt_im_gen *g, const char *file) {
  if (!g->progress || g->done < g->next_report) return;
  fprintf(stderr, "init-model: %.2f / %.2f GiB (%s)\n", g->done / 1073741824.0, g->total / 1073741824.0, file);
  g->next_report = g->done + (1ull << 31);
}

static latte_status lt_im_write_rand(lt_im_gen *g, lt_st_writer *w, const lt_im_tensor *t, uint64_t tidx) {
  uint64_t n = lt_im_numel(t), esz = lt_dtype_size(t->dt);
  for (uint64_t s = 0; s < n; s += LT_IM_SLAB) {
    size_t k = (size_t)(n - s < LT_IM_SLAB ? n - s : LT_IM_SLAB);
    lt_im_fill(g->seed, tidx, s, k, t->center, t->a, t->dt, g->buf);
    LT_TRY(lt_st_writer_append(w, g->buf, k * esz));
    g->done += k * esz;
  }
  return LATTE_OK;
}

/* An FP8 weight [N, K] and then its scales [ceil(N/128), ceil(K/128)], scale = block amax / 448. */
static latte_status lt_im_write_fp8(lt_im_gen *g, lt_st_writer *w, const lt_im_tensor *t, uint64_t tidx) {
  int64_t N = t->shape[0], K = t->shape[1], nbn = (N + LT_IM_BLOCK - 1) / LT_IM_BLOCK,
          nbk = (K + LT_IM_BLOCK - 1) / LT_IM_BLOCK;
  float *scale = malloc((size_t)(nbn * nbk) * sizeof *scale);
  if (!scale) return lt_err(LATTE_ERR_NOMEM, "init-model: out of memory");
  int64_t rows = (int64_t)(LT_IM_SLAB / (uint64_t)K) / LT_IM_BLOCK * LT_IM_BLOCK;
  if (rows < LT_IM_BLOCK) rows = LT_IM_BLOCK;   /* K <= 2^18 always holds for these presets */
  uint8_t *q = g->buf;
  latte_status st = LATTE_OK;
  for (int64_t r0 = 0; r0 < N && !st; r0 += rows) {
    int64_t r1 = r0 + rows < N ? r0 + rows : N;
    lt_im_fill(g->seed, tidx, (uint64_t)(r0 * K), (size_t)((r1 - r0) * K), t->center, t->a, LT_F32, g->fbuf);
    long nblk = (long)(((r1 - r0 + LT_IM_BLOCK - 1) / LT_IM_BLOCK) * nbk);
#pragma omp parallel for schedule(static)
    for (long b = 0; b < nblk; b++) {
      int64_t br = r0 / LT_IM_BLOCK + b / nbk, bc = b % nbk;
      int64_t ra = br * LT_IM_BLOCK, rb = ra + LT_IM_BLOCK < r1 ? ra + LT_IM_BLOCK : r1;
      int64_t ca = bc * LT_IM_BLOCK, cb = ca + LT_IM_BLOCK < K ? ca + LT_IM_BLOCK : K;
      float amax = 0.0f;
      for (int64_t r = ra; r < rb; r++)
        for (int64_t c = ca; c < cb; c++) amax = fmaxf(amax, fabsf(g->fbuf[(r - r0) * K + c]));
      float s = amax > 0.0f ? amax / 448.0f : 1.0f;
      scale[br * nbk + bc] = s;
      for (int64_t r = ra; r < rb; r++)
        for (int64_t c = ca; c < cb; c++) q[(r - r0) * K + c] = lt_f32_to_fp8e4m3(g->fbuf[(r - r0) * K + c] / s);
    }
    st = lt_st_writer_append(w, q, (size_t)((r1 - r0) * K));
    g->done += (uint64_t)((r1 - r0) * K);
  }
  if (!st) st = lt_st_writer_append(w, scale, (size_t)(nbn * nbk) * sizeof *scale);
  g->done += (uint64_t)(nbn * nbk) * sizeof *scale;
  free(scale);
  return st;
}

/* ---- files ---- */

static latte_status lt_mkdir_p(const char *dir) {
  char *p = strdup(dir);
  if (!p) return lt_err(LATTE_ERR_NOMEM, "init-model: out of memory");
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == 0) {
      char c = *s;
      *s = 0;
      if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        latte_status e = lt_err(LATTE_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
        free(p);
        return e;
      }
      *s = c;
      if (!c) break;
    }
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return lt_err(LATTE_ERR_IO, "%s: not a directory", dir);
  return LATTE_OK;
}

static latte_status lt_write_text(const char *path, const char *s, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return lt_err(LATTE_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  size_t k = fwrite(s, 1, n, f);
  if (fclose(f) != 0 || k != n) return lt_err(LATTE_ERR_IO, "%s: write failed", path);
  return LATTE_OK;
}

static latte_status lt_copy_file(const char *src, const char *dst) {
  FILE *in = fopen(src, "rb");
  if (!in) return lt_err(LATTE_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
  FILE *out = fopen(dst, "wb");
  if (!out) { fclose(in); return lt_err(LATTE_ERR_IO, "%s: cannot create: %s", dst, strerror(errno)); }
  char buf[1 << 16];
  size_t k;
  int bad = 0;
  while ((k = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, k, out) != k) { bad = 1; break; }
  bad |= ferror(in);
  fclose(in);
  if (fclose(out) != 0 || bad) return lt_err(LATTE_ERR_IO, "%s: copy from %s failed", dst, src);
  return LATTE_OK;
}

static void lt_im_copy_tokenizer(const lt_init_opts *o) {
  const char *assets = o->assets_dir ? o->assets_dir : getenv("LATTE_ASSETS");
#ifdef LATTE_SOURCE_DIR
  if (!assets) assets = LATTE_SOURCE_DIR "/assets";
#endif
  if (!assets) {
    fprintf(stderr, "latte: warning: no assets directory (set LATTE_ASSETS); tokenizer files not copied\n");
    return;
  }
  const char *files[2] = {"tokenizer.json", "tokenizer_config.json"};
  for (int i = 0; i < 2; i++) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/tokenizers/deepseek-v3/%s", assets, files[i]);
    snprintf(dst, sizeof dst, "%s/%s", o->out_dir, files[i]);
    struct stat st;
    if (stat(src, &st) != 0) {
      fprintf(stderr, "latte: warning: %s not found; not copied into %s\n", src, o->out_dir);
      continue;
    }
    if (lt_copy_file(src, dst) != LATTE_OK) fprintf(stderr, "latte: warning: %s\n", latte_last_error());
  }
}

/* ---- the checkpoint ---- */

static latte_status lt_im_write_shards(const lt_init_opts *o, lt_im_plan *p, int nshards, lt_im_gen *g) {
  char path[4096], fname[64];
  latte_status st = LATTE_OK;
  size_t i = 0;
  for (int sh = 0; sh < nshards && !st; sh++) {
    if (nshards == 1) snprintf(fname, sizeof fname, "model.safetensors");
    else snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", sh + 1, nshards);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, fname);
    lt_st_writer *w = lt_st_writer_new();
    if (!w) return lt_err(LATTE_ERR_NOMEM, "init-model: out of memory");
    size_t first = i;
    st = lt_st_writer_meta(w, "format", "pt");
    for (; !st && i < p->n && p->t[i].shard == sh; i++)
      st = lt_st_writer_add(w, p->t[i].name, p->t[i].dt, p->t[i].ndim, p->t[i].shape, NULL, lt_im_bytes(&p->t[i]));
    if (!st) st = lt_st_writer_begin(w, path);
    for (size_t j = first; !st && j < i; j++) {
      const lt_im_tensor *t = &p->t[j];
      if (t->kind == LT_IM_RAND) st = lt_im_write_rand(g, w, t, j);
      else if (t->kind == LT_IM_FP8W) st = lt_im_write_fp8(g, w, t, j);   /* also writes j+1, its scales */
      lt_im_report(g, fname);
    }
    if (!st) st = lt_st_writer_finish(w);
    lt_st_writer_free(w);
    if (!st && g->progress)
      fprintf(stderr, "init-model: wrote %s (%.2f / %.2f GiB)\n", path, g->done / 1073741824.0, g->total / 1073741824.0);
  }
  return st;
}

static latte_status lt_im_write_index(const lt_init_opts *o, const lt_im_plan *p, int nshards, uint64_t total) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", o->out_dir);
  if (nshards == 1) {   /* a stale index would shadow model.safetensors */
    if (unlink(path) != 0 && errno != ENOENT) return lt_err(LATTE_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return LATTE_OK;
  }
  lt_sbuf b = {0};
  lt_sbuf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %" PRIu64 "\n  },\n  \"weight_map\": {\n", total);
  for (size_t i = 0; i < p->n; i++) {
    lt_sbuf_puts(&b, "    ");
    lt_sbuf_json_str(&b, p->t[i].name, strlen(p->t[i].name));
    lt_sbuf_printf(&b, ": \"model-%05d-of-%05d.safetensors\"%s\n", p->t[i].shard + 1, nshards, i + 1 < p->n ? "," : "");
  }
  lt_sbuf_puts(&b, "  }\n}\n");
  latte_status st = b.oom ? lt_err(LATTE_ERR_NOMEM, "init-model: out of memory") : lt_write_text(path, b.p, b.n);
  lt_sbuf_free(&b);
  return st;
}

latte_status lt_init_model(const lt_init_opts *o) {
  lt_im_preset pr;
  lt_config c;
  if (!o->out_dir || !*o->out_dir) return lt_err(LATTE_ERR_INVALID, "init-model: no output directory");
  LT_TRY(lt_im_find_preset(o, &pr));
  LT_TRY(lt_init_preset_config(o, &c));
  lt_im_plan p = {0};
  latte_status st = lt_im_make_plan(&c, &p);
  lt_im_gen g = {0};
  if (st) goto done;
  /* shards: consecutive tensors up to the limit; an FP8 weight stays with its scales */
  uint64_t limit = o->shard_bytes ? o->shard_bytes : (4ull << 30), total = 0, cur = 0;
  int sh = 0;
  for (size_t i = 0; i < p.n; i++) {
    uint64_t b = lt_im_bytes(&p.t[i]);
    if (p.t[i].kind == LT_IM_FP8W && i + 1 < p.n) b += lt_im_bytes(&p.t[i + 1]);
    if (p.t[i].kind != LT_IM_FP8S) {
      if (cur > 0 && cur + b > limit) { sh++; cur = 0; }
      cur += b;
    }
    p.t[i].shard = sh;
    total += lt_im_bytes(&p.t[i]);
  }
  int nshards = sh + 1;
  if ((st = lt_mkdir_p(o->out_dir))) goto done;
  g.seed = o->seed;
  g.total = total;
  g.progress = o->progress < 0 ? total > (1ull << 30) : o->progress;
  g.next_report = 1ull << 31;
  g.buf = malloc((size_t)LT_IM_SLAB * 4);
  g.fbuf = c.fp8 ? malloc((size_t)LT_IM_SLAB * sizeof(float)) : NULL;
  if (!g.buf || (c.fp8 && !g.fbuf)) { st = lt_err(LATTE_ERR_NOMEM, "init-model: out of memory for the write buffers"); goto done; }
  if (g.progress)
    fprintf(stderr, "init-model: %s%s, %d layers, %zu tensors, %.2f GiB in %d file%s -> %s\n", pr.name,
            c.fp8 ? " fp8" : "", c.num_hidden_layers, p.n, total / 1073741824.0, nshards, nshards > 1 ? "s" : "",
            o->out_dir);
  lt_sbuf cfg = {0};
  lt_config_json(&pr, c.fp8, &cfg);
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", o->out_dir);
  st = cfg.oom ? lt_err(LATTE_ERR_NOMEM, "init-model: out of memory") : lt_write_text(path, cfg.p, cfg.n);
  lt_sbuf_free(&cfg);
  if (!st) st = lt_im_write_shards(o, &p, nshards, &g);
  if (!st) st = lt_im_write_index(o, &p, nshards, total);
  if (!st) lt_im_copy_tokenizer(o);
done:
  free(g.buf);
  free(g.fbuf);
  free(p.t);
  return st;
}
