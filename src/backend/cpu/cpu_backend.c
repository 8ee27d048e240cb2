/* cpu_backend.c — the CPU reference backend: memory (plain malloc), weight preparation (zero-copy
 * views of the checkpoint's mmap; FP8 scales copied), batch metadata, and the op table. */
#include "backend/cpu/cpu_ops.h"
#include "base/err.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void cpu_destroy(lt_backend *b) {
  if (!b) return;
  free(b->ctx);
  free(b);
}

static latte_status cpu_alloc(lt_backend *b, size_t bytes, void **out) {
  *out = malloc(bytes ? bytes : 1);
  if (!*out) return lt_err(LATTE_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
  return LATTE_OK;
}
static void cpu_dfree(lt_backend *b, void *p) { free(p); }
static latte_status cpu_copy(lt_backend *b, void *dst, const void *src, size_t bytes) {
  if (bytes) memcpy(dst, src, bytes);
  return LATTE_OK;
}
static latte_status cpu_sync(lt_backend *b) { return LATTE_OK; }
static size_t cpu_mem_free(lt_backend *b) { return SIZE_MAX; }

static latte_status cpu_weight_new(lt_backend *b, const lt_st_tensor *t, const lt_st_tensor *sc, lt_weight *w) {
  memset(w, 0, sizeof *w);
  if (t->ndim != 2) return lt_err(LATTE_ERR_FORMAT, "%s: expected a 2-D weight, got %d dims", t->name, t->ndim);
  if (t->dtype != LT_BF16 && t->dtype != LT_F16 && t->dtype != LT_F32 && t->dtype != LT_F8E4M3)
    return lt_err(LATTE_ERR_FORMAT, "%s: unsupported weight dtype %s", t->name, lt_dtype_name(t->dtype));
  w->dtype = t->dtype;
  w->n = t->shape[0];
  w->k = t->shape[1];
  w->data = (void *)t->data;
  if (t->dtype == LT_F8E4M3) {
    w->bn = w->bk = 128;
    int64_t sn = (w->n + 127) / 128, sk = (w->k + 127) / 128;
    if (!sc) return lt_err(LATTE_ERR_FORMAT, "%s: FP8 weight without weight_scale_inv", t->name);
    if (sc->ndim != 2 || sc->shape[0] != sn || sc->shape[1] != sk)
      return lt_err(LATTE_ERR_FORMAT, "%s_scale_inv: shape must be [%lld, %lld]", t->name, (long long)sn, (long long)sk);
    w->scale = malloc((size_t)(sn * sk) * sizeof(float));
    if (!w->scale) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", t->name);
    lt_to_f32(sc->dtype, sc->data, w->scale, (size_t)(sn * sk));
  }
  return LATTE_OK;
}
static void cpu_weight_free(lt_backend *b, lt_weight *w) { free(w->scale); w->scale = NULL; }

static latte_status cpu_vec_new(lt_backend *b, const lt_st_tensor *t, float **out) {
  *out = malloc((size_t)t->numel * sizeof(float) + 1);
  if (!*out) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", t->name);
  lt_to_f32(t->dtype, t->data, *out, (size_t)t->numel);
  return LATTE_OK;
}

static latte_status cpu_mlp_new(lt_backend *b, lt_mlp_w *w) { return LATTE_OK; }
static void cpu_mlp_free(lt_backend *b, lt_mlp_w *w) {}
static latte_status cpu_moe_new(lt_backend *b, lt_moe_w *w) { return LATTE_OK; }
static void cpu_moe_free(lt_backend *b, lt_moe_w *w) {}

/* The CPU reads host arrays directly: d_* alias h_*; ids/logit_rows are kept as given. */
static latte_status cpu_set_batch(lt_backend *b, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows) {
  f->d_ids = (int32_t *)ids;
  f->d_positions = (int32_t *)f->h_positions;
  f->d_qo_indptr = (int32_t *)f->h_qo_indptr;
  f->d_seq_lens = (int32_t *)f->h_seq_lens;
  f->d_kv_indptr = (int32_t *)f->h_kv_indptr;
  f->d_kv_indices = (int32_t *)f->h_kv_indices;
  f->d_out_slots = (int32_t *)f->h_out_slots;
  f->d_logit_rows = (int32_t *)logit_rows;
  f->d_kv_tok_indptr = (int32_t *)f->h_kv_tok_indptr;
  return LATTE_OK;
}

latte_status lt_cpu_backend_create(int w8a8, int threads, lt_backend **out) {
  lt_backend *b = calloc(1, sizeof *b);
  lt_cpu_ctx *c = calloc(1, sizeof *c);
  if (!b || !c) { free(b); free(c); return lt_err(LATTE_ERR_NOMEM, "cpu backend: out of memory"); }
  c->threads = threads > 0 ? threads : omp_get_max_threads();
  for (int i = 0; i < 256; i++) c->fp8_lut[i] = lt_fp8e4m3_to_f32((uint8_t)i);
  const char *qb = getenv("LATTE_CPU_W8A8_BF16");  /* a diagnostic: see lt_cpu_ctx */
  c->quant_bf16 = qb && !strcmp(qb, "1");
  openblas_set_num_threads(1);  /* we parallelise over weight chunks with OpenMP ourselves */
  b->name = "cpu";
  b->act_dtype = LT_F32;
  b->w8a8 = w8a8;
  b->ctx = c;
  b->destroy = cpu_destroy;
  b->alloc = cpu_alloc;
  b->dfree = cpu_dfree;
  b->upload = cpu_copy;
  b->download = cpu_copy;
  b->sync = cpu_sync;
  b->mem_free = cpu_mem_free;
  b->weight_new = cpu_weight_new;
  b->weight_free = cpu_weight_free;
  b->vec_new = cpu_vec_new;
  b->mlp_new = cpu_mlp_new;
  b->mlp_free = cpu_mlp_free;
  b->moe_new = cpu_moe_new;
  b->moe_free = cpu_moe_free;
  b->mla_new = lt_cpu_mla_new;
  b->mla_free = lt_cpu_mla_free;
  b->set_batch = cpu_set_batch;
  b->embed = lt_cpu_embed;
  b->rmsnorm = lt_cpu_rmsnorm;
  b->add_rmsnorm = lt_cpu_add_rmsnorm;
  b->linear = lt_cpu_linear;
  b->linear_pair = lt_linear_pair_seq;
  b->rmsnorm_linear = lt_rmsnorm_linear_seq;
  b->linear_f32out = lt_cpu_linear_f32out;
  b->add = lt_cpu_add;
  b->gather_rows = lt_cpu_gather_rows;
  b->rope_cache_write = lt_cpu_rope_cache_write;
  b->gather_kv = lt_cpu_gather_kv;
  b->rope_absorb_q = lt_rope_absorb_q_seq;
  b->attn_extend = lt_cpu_attn_extend;
  b->mla_absorb_q = lt_cpu_mla_absorb_q;
  b->mla_decode = lt_cpu_mla_decode;
  b->mla_out_v = lt_cpu_mla_out_v;
  b->mla_decode_v = lt_mla_decode_v_seq;
  b->moe_route = lt_cpu_moe_route;
  b->moe_experts = lt_cpu_moe_experts;
  b->add_rmsnorm_route = lt_add_rmsnorm_route_seq;
  b->moe_experts_add_rmsnorm = lt_moe_experts_add_rmsnorm_seq;
  b->mlp = lt_cpu_mlp;
  b->argmax_rows = lt_cpu_argmax_rows;
  b->sample_rows = lt_cpu_sample_rows;
  *out = b;
  return LATTE_OK;
}
