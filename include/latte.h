/* latte.h — the public C API of latte, a latent-attention tensor engine for DeepSeek-family models.
 * Opaque handles, latte_ prefix. Every function that can fail returns a latte_status and leaves a
 * one-line message naming what was wrong in latte_last_error() (per thread). Never calls exit(). */
#ifndef LATTE_H
#define LATTE_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  LATTE_OK = 0,
  LATTE_ERR_IO,       /* file missing, unreadable, truncated */
  LATTE_ERR_FORMAT,   /* malformed safetensors / JSON / config */
  LATTE_ERR_INVALID,  /* bad argument: id out of range, bad option, prompt too long */
  LATTE_ERR_NOMEM,    /* host or device allocation failed */
  LATTE_ERR_BACKEND,  /* backend unavailable or a backend call failed */
  LATTE_ERR_UNSUPPORTED
} latte_status;

/* The message of the last failing call on this thread ("" if none). */
const char *latte_last_error(void);
const char *latte_status_str(latte_status s);

typedef struct latte_model latte_model;   /* weights + config on a backend */
typedef struct latte_engine latte_engine; /* a model + a paged latent KV pool */

typedef struct {
  const char *backend;  /* "cpu", "cuda", or NULL: $LATTE_BACKEND, else cuda when a GPU is visible */
  int w8a8;             /* quantise FP8 linears' inputs per token and 128 channels (as the GPU does) */
  int threads;          /* CPU threads; 0 = OpenMP default */
  int verbose;          /* print loading progress on stderr */
} latte_load_opts;

latte_status latte_model_load(const char *dir, const latte_load_opts *opts, latte_model **out);
void latte_model_free(latte_model *m);
int latte_model_vocab(const latte_model *m);
int latte_model_max_context(const latte_model *m);
const char *latte_model_backend(const latte_model *m);

typedef struct {
  int page_size;       /* tokens per KV page (1..256) */
  int num_pages;       /* pages in the pool; 0 = derive from max_tokens */
  int max_tokens;      /* most tokens (new, all sequences) one forward may carry */
  int max_seqs;        /* most sequences in one forward */
} latte_engine_opts;

latte_status latte_engine_new(latte_model *m, const latte_engine_opts *opts, latte_engine **out);
void latte_engine_free(latte_engine *e);
int latte_engine_page_size(const latte_engine *e);
int latte_engine_num_pages(const latte_engine *e);

/* One forward over a batch of sequences (SGLang-style metadata; see docs/batch.md).
 * B sequences; sequence i adds tokens ids[qo_indptr[i] .. qo_indptr[i+1]) to a context of
 * seq_lens[i] tokens in all (cached prefix + new). Its pages are kv_indices[kv_indptr[i] ..
 * kv_indptr[i+1]), in order. positions[t] is token t's rotary position. logit_rows lists the
 * n_logits token rows whose logits are written, F32 [n_logits, vocab], into logits. */
typedef struct {
  int num_seqs;
  int num_tokens;
  const int32_t *ids;         /* [num_tokens] */
  const int32_t *positions;   /* [num_tokens] */
  const int32_t *qo_indptr;   /* [num_seqs+1] */
  const int32_t *seq_lens;    /* [num_seqs] */
  const int32_t *kv_indptr;   /* [num_seqs+1] */
  const int32_t *kv_indices;  /* [kv_indptr[num_seqs]] page ids */
  int n_logits;
  const int32_t *logit_rows;  /* [n_logits] */
  int attn_mode;              /* 0 auto (extend for prefill, absorbed for decode), 1 extend, 2 absorbed */
  int32_t *greedy_ids;        /* optional [n_logits]: argmax of each logit row, computed on the backend;
                               * with it, logits may be NULL (then only the ids are copied back) */
  /* optional per-row sampling on the backend, used with greedy_ids: [n_logits] each, or NULL. When
   * temperature is given and some row's temperature > 0, greedy_ids receives a draw per row
   * (temperature; top_k 0 = off; top_p 0 or 1 = off; min_p 0 = off; NULL arrays mean off / 0) from a
   * counter-based generator: the same (seed, counter) gives the same id whatever the batch
   * (docs/sampling.md). Rows with temperature 0 (or top_k 1) stay argmax. */
  const float *temperature, *top_p, *min_p;
  const int32_t *top_k;
  const uint64_t *seed, *counter;
} latte_batch;

/* logits: F32 [n_logits, vocab] host memory, or NULL when only b->greedy_ids are wanted. */
latte_status latte_forward(latte_engine *e, const latte_batch *b, float *logits);

/* Convenience: run one sequence through an empty cache and return logits for every position. */
latte_status latte_logits_all(latte_model *m, const int32_t *ids, int n, int page_size, float *logits);
/* The same with the attention path chosen as latte_batch.attn_mode (0 auto, 1 extend, 2 absorbed). */
latte_status latte_logits_all_attn(latte_model *m, const int32_t *ids, int n, int page_size, int attn_mode,
                                   float *logits);

#ifdef __cplusplus
}
#endif
#endif
