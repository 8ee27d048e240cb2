/* sched_impl.h — the scheduler's internals shared by scheduler.c (public API, thread, queues) and
 * sched_step.c (one step: plan, pages, batch, forward, sampling, events). Not a public header. */
#ifndef LT_SCHED_IMPL_H
#define LT_SCHED_IMPL_H
#include <pthread.h>
#include "runtime/scheduler.h"
#include "runtime/page_pool.h"
#include "runtime/radix.h"
#include "runtime/sampler.h"

typedef struct {
  uint64_t id;
  lt_sched_cb cb;
  void *user;
  lt_sampling sp;            /* sp.stop_ids points at stop below */
  int32_t *stop;
  lt_sampler smp;            /* generator state survives preemption: same seed, same tokens */
  int32_t *toks;             /* [n_prompt + max_tokens] prompt then generated */
  int n_prompt, len;
  int computed;              /* tokens whose latents are in the cache (this admission) */
  int cached_tokens;         /* prompt tokens served by the prefix cache at first admission */
  int admitted_once;
  int32_t *pages;            /* [max_pages] page table */
  lt_radix_node **nodes;     /* [max_pages] tree nodes of the shared pages pages[0..n_shared) */
  int n_pages, n_shared, max_pages;
  int step_q;                /* tokens fed in the step being built (0 = not in it) */
  int no_share;              /* a page of ours duplicates a cached one: keep the rest private */
} lt_req;

struct lt_sched {
  latte_model *m;
  latte_engine *e;
  lt_sched_opts o;
  int ps, vocab, eos, max_ctx, num_pages;
  lt_page_pool pool;
  lt_radix *tree;

  pthread_mutex_t mu;        /* guards the fields down to snap */
  pthread_cond_t cv;
  pthread_t th;
  int started, stop;
  lt_req **in;               /* submitted, not yet seen by a step */
  int n_in, cap_in;
  uint64_t *cancels;
  int n_cancel, cap_cancel;
  uint64_t next_id, seed_ctr;
  lt_sched_stats snap;       /* as of the end of the last step */

  pthread_mutex_t step_mu;   /* one step at a time; everything below belongs to the stepping thread */
  lt_req **run;              /* running, ascending id (oldest first) */
  int n_run;
  lt_req **wait;             /* waiting, ascending id (FCFS; preempted requests go back in order) */
  int n_wait;
  uint64_t preemptions, prompt_total, cached_total, gen_total;
  /* batch buffers, sized for max_running sequences and step_tokens tokens */
  int32_t *b_ids, *b_pos, *b_qo, *b_sl, *b_kvp, *b_kvi, *b_rows;
  lt_req **b_req;            /* [max_running] request of each sequence */
  int *b_logit;              /* [max_running] logit row index of each sequence or -1 */
  float *logits;             /* [max_running, vocab] */
  int32_t *b_greedy;         /* [max_running] ids picked on the backend (rows without penalties / logprobs) */
  /* [max_running] per logit row: the backend's sampling parameters, and whether the row is drawn on
   * the backend (1) or by the host sampler from downloaded logits (0) */
  float *b_temp, *b_topp, *b_minp;
  int32_t *b_topk;
  uint64_t *b_seed, *b_ctr;
  unsigned char *b_dev;
  lt_sample_scratch **scr;   /* one per OpenMP thread */
  int n_scr;
  lt_sample_result *res;     /* [max_running] */
  int32_t *evbuf;            /* [num_pages] pages coming back from eviction */
};

/* sched_step.c */
int lt_sched_step_impl(lt_sched *s);
/* Finishes r (event with token -1 when token < 0), releases its pages, frees it. */
void lt_sched_finish(lt_sched *s, lt_req *r, lt_finish why, const char *error);
void lt_sched_req_free(lt_req *r);
void lt_sched_publish(lt_sched *s);   /* refresh the stats snapshot (takes mu) */
#endif
