/* scheduler.h — continuous batching over one engine: requests join and leave at every step; each step
 * mixes the decode tokens of running requests with prefill chunks of waiting ones under a token budget
 * (chunked prefill); KV pages come from a pool with a radix prefix cache (page-granular sharing,
 * reference counts, LRU eviction); when pages run out the newest requests are preempted and recomputed
 * later. A request's result does not depend on what else is in the batch. Thread-safe submit/cancel;
 * the scheduler runs on its own thread and reports tokens through a per-request callback. */
#ifndef LT_SCHEDULER_H
#define LT_SCHEDULER_H
#include <stdint.h>
#include "latte.h"

typedef struct lt_sched lt_sched;

typedef struct {
  int max_running;     /* cap on running requests (default 64) */
  int step_tokens;     /* token budget of one forward step (default 2048) */
  int page_size;       /* KV page size (default 64; CPU tests use small ones) */
  int num_pages;       /* pool size in pages; 0 = derive from mem_fraction (GPU) or 4096 tokens' worth */
  float mem_fraction;  /* share of free device memory for the KV pool when num_pages == 0 (default 0.85) */
  int max_context;     /* longest prompt + output (default: the model's context) */
} lt_sched_opts;

typedef struct {
  float temperature;          /* 0 = greedy */
  float top_p;                /* 1 = off */
  int top_k;                  /* 0 = off */
  float min_p;                /* 0 = off */
  float frequency_penalty, presence_penalty;  /* 0 = off (OpenAI semantics, over generated tokens) */
  float repetition_penalty;   /* 1 = off (HF semantics, over prompt + generated tokens) */
  uint64_t seed; int has_seed;  /* same seed → same tokens; without one a random seed */
  int max_tokens;             /* generated tokens cap (> 0) */
  const int32_t *stop_ids; int n_stop_ids;   /* finish (reason "stop") when generated; copied at submit */
  int ignore_eos;             /* else the model's EOS id finishes with reason "stop" */
  int top_logprobs;           /* 0..20: also report the top-n logprobs per token */
  int want_logprob;           /* the chosen token's logprob is reported (else it may be 0: a step whose
                               * rows are all plain greedy picks its ids on the backend, no logits copied) */
} lt_sampling;

typedef enum { LT_FINISH_NONE = 0, LT_FINISH_STOP, LT_FINISH_LENGTH, LT_FINISH_CANCELLED, LT_FINISH_ERROR } lt_finish;

/* One event per generated token (token >= 0), or a final event with token = -1 for cancel/error.
 * finish != LT_FINISH_NONE on the last event of the request; after it the callback is never called
 * again for that request. Called on the scheduler thread: keep it short (queue and signal). */
typedef struct {
  uint64_t req;
  int32_t token;
  float logprob;              /* log-softmax of the chosen token (after temperature) */
  int n_top;                  /* top_logprobs entries */
  int32_t top_ids[20];
  float top_logprobs[20];
  lt_finish finish;
  int prompt_tokens, cached_tokens, completion_tokens;   /* usage so far */
  const char *error;          /* LT_FINISH_ERROR: message */
} lt_sched_event;
typedef void (*lt_sched_cb)(void *user, const lt_sched_event *ev);

latte_status lt_sched_new(latte_model *m, const lt_sched_opts *opts, lt_sched **out);
/* Stops the thread (if started), cancels everything (callbacks get LT_FINISH_CANCELLED), frees. */
void lt_sched_free(lt_sched *s);
latte_status lt_sched_start(lt_sched *s);   /* runs the step loop on its own thread */
/* Queues a request (prompt copied). Returns its id (> 0), or 0 with latte_last_error() set when the
 * request is invalid (empty prompt, id out of range, prompt + max_tokens longer than max_context). */
uint64_t lt_sched_submit(lt_sched *s, const int32_t *prompt, int n, const lt_sampling *sp, lt_sched_cb cb,
                         void *user);
/* Cancels a request: its pages are released; its callback gets one final LT_FINISH_CANCELLED event
 * (unless it already finished). Safe from any thread, also for finished or unknown ids. */
void lt_sched_cancel(lt_sched *s, uint64_t req);
/* Runs one step on the caller's thread (for tests without lt_sched_start); returns the number of
 * requests still unfinished. */
int lt_sched_step(lt_sched *s);

typedef struct {
  int running, waiting;
  int pages_total, pages_used, pages_cached;   /* used = referenced by requests; cached = held by the radix tree only */
  double kv_usage;                             /* pages_used / pages_total */
  uint64_t prompt_tokens_total, cached_tokens_total, generation_tokens_total;
  uint64_t preemptions;
  double prefix_hit_rate;                      /* cached_tokens_total / prompt_tokens_total */
} lt_sched_stats;
void lt_sched_get_stats(lt_sched *s, lt_sched_stats *out);
int lt_sched_eos_id(const lt_sched *s);
#endif
