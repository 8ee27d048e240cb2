/* scheduler.c — the scheduler's public side: options and the engine it owns, request validation and
 * the submission / cancellation queues (any thread, under one mutex), statistics, and the step thread
 * that sleeps while idle. The step itself is in sched_step.c. */
#include "runtime/sched_impl.h"
#include "model/model.h"
#include "base/err.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void free_bufs(lt_sched *s) {
  free(s->b_ids); free(s->b_pos); free(s->b_qo); free(s->b_sl); free(s->b_kvp); free(s->b_kvi);
  free(s->b_rows); free(s->b_req); free(s->b_logit); free(s->logits); free(s->b_greedy); free(s->res); free(s->evbuf);
  free(s->b_temp); free(s->b_topp); free(s->b_minp); free(s->b_topk); free(s->b_seed); free(s->b_ctr); free(s->b_dev);
  for (int i = 0; i < s->n_scr; i++) lt_sample_scratch_free(s->scr[i]);
  free(s->scr);
}

/* Frees everything a scheduler owns (also a half-built one: unset members are NULL / zero). */
static void destroy(lt_sched *s) {
  free(s->run);
  free(s->wait);
  free(s->cancels);
  free_bufs(s);
  lt_radix_free(s->tree);
  lt_pool_destroy(&s->pool);
  latte_engine_free(s->e);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->step_mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

latte_status lt_sched_new(latte_model *m, const lt_sched_opts *opts, lt_sched **out) {
  *out = NULL;
  if (!m) return lt_err(LATTE_ERR_INVALID, "scheduler: no model");
  int ctx = latte_model_max_context(m);
  lt_sched_opts o = {.max_running = 64, .step_tokens = 2048, .page_size = 64, .mem_fraction = 0.85f, .max_context = ctx};
  if (opts) {
    if (opts->max_running) o.max_running = opts->max_running;
    if (opts->step_tokens) o.step_tokens = opts->step_tokens;
    if (opts->page_size) o.page_size = opts->page_size;
    if (opts->mem_fraction != 0) o.mem_fraction = opts->mem_fraction;
    if (opts->max_context) o.max_context = opts->max_context;
    o.num_pages = opts->num_pages;
  }
  if (o.max_running < 1) return lt_err(LATTE_ERR_INVALID, "scheduler: max_running %d must be positive", o.max_running);
  if (o.step_tokens < 3) return lt_err(LATTE_ERR_INVALID, "scheduler: step_tokens %d must be at least 3", o.step_tokens);
  if (o.page_size < 1 || o.page_size > 256) return lt_err(LATTE_ERR_INVALID, "scheduler: page_size %d out of range (1..256)", o.page_size);
  if (o.num_pages < 0) return lt_err(LATTE_ERR_INVALID, "scheduler: num_pages %d is negative", o.num_pages);
  if (!(o.mem_fraction > 0 && o.mem_fraction <= 1))
    return lt_err(LATTE_ERR_INVALID, "scheduler: mem_fraction %g out of range (0, 1]", o.mem_fraction);
  if (o.max_context < 2 || o.max_context > ctx)
    return lt_err(LATTE_ERR_INVALID, "scheduler: max_context %d out of range (2..%d, the model's context)", o.max_context, ctx);
  /* the oldest prefilling request always gets >= 3 tokens of budget next to max_running - 1 decodes */
  if (o.max_running > o.step_tokens - 2) o.max_running = o.step_tokens - 2;
  if (o.num_pages == 0) {
    const lt_config *c = &m->cfg;
    double per_page = (double)lt_dtype_size(m->be->act_dtype) * o.page_size * (c->kv_lora_rank + c->qk_rope_head_dim) *
                      (c->num_hidden_layers > 0 ? c->num_hidden_layers : 1);
    size_t fr = m->be->mem_free ? m->be->mem_free(m->be) : SIZE_MAX;
    double n = fr == SIZE_MAX ? (4096.0 + o.page_size - 1) / o.page_size : o.mem_fraction * (double)fr / per_page;
    if (n > 1e8) n = 1e8;
    o.num_pages = (int)n;
    if (o.num_pages < 1) return lt_err(LATTE_ERR_NOMEM, "scheduler: no device memory left for the KV pool");
  }
  lt_sched *s = calloc(1, sizeof *s);
  if (!s) return lt_err(LATTE_ERR_NOMEM, "scheduler: out of memory");
  s->m = m;
  s->o = o;
  s->ps = o.page_size;
  s->vocab = latte_model_vocab(m);
  s->eos = m->cfg.eos_token_id;
  s->max_ctx = o.max_context;
  s->num_pages = o.num_pages;
  s->next_id = 1;
  s->seed_ctr = mix64((uint64_t)(uintptr_t)s ^ (uint64_t)time(NULL));
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->step_mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  latte_engine_opts eo = {.page_size = o.page_size, .num_pages = o.num_pages, .max_tokens = o.step_tokens,
                          .max_seqs = o.max_running};
  latte_status st = latte_engine_new(m, &eo, &s->e);
  if (!st) st = lt_pool_init(&s->pool, o.num_pages);
  if (!st) st = lt_radix_new(o.page_size, &s->tree);
  if (!st) {
    int R = o.max_running, T = o.step_tokens;
    s->b_ids = malloc(sizeof(int32_t) * (size_t)T);
    s->b_pos = malloc(sizeof(int32_t) * (size_t)T);
    s->b_qo = malloc(sizeof(int32_t) * (size_t)(R + 1));
    s->b_kvp = malloc(sizeof(int32_t) * (size_t)(R + 1));
    s->b_sl = malloc(sizeof(int32_t) * (size_t)R);
    s->b_rows = malloc(sizeof(int32_t) * (size_t)R);
    s->b_req = malloc(sizeof(lt_req *) * (size_t)R);
    s->b_logit = malloc(sizeof(int) * (size_t)R);
    s->res = malloc(sizeof(lt_sample_result) * (size_t)R);
    s->logits = malloc(sizeof(float) * (size_t)R * s->vocab);
    s->b_greedy = malloc(sizeof(int32_t) * (size_t)R);
    s->b_temp = malloc(sizeof(float) * (size_t)R);
    s->b_topp = malloc(sizeof(float) * (size_t)R);
    s->b_minp = malloc(sizeof(float) * (size_t)R);
    s->b_topk = malloc(sizeof(int32_t) * (size_t)R);
    s->b_seed = malloc(sizeof(uint64_t) * (size_t)R);
    s->b_ctr = malloc(sizeof(uint64_t) * (size_t)R);
    s->b_dev = malloc((size_t)R);
    s->evbuf = malloc(sizeof(int32_t) * (size_t)o.num_pages);
    s->n_scr = omp_get_max_threads();
    if (s->n_scr < 1) s->n_scr = 1;
    s->scr = calloc((size_t)s->n_scr, sizeof *s->scr);
    if (!s->b_greedy || !s->b_ids || !s->b_pos || !s->b_qo || !s->b_kvp || !s->b_sl || !s->b_rows || !s->b_req || !s->b_logit ||
        !s->res || !s->logits || !s->evbuf || !s->scr || !s->b_temp || !s->b_topp || !s->b_minp || !s->b_topk ||
        !s->b_seed || !s->b_ctr || !s->b_dev)
      st = lt_err(LATTE_ERR_NOMEM, "scheduler: out of memory");
    for (int i = 0; i < s->n_scr && !st; i++) st = lt_sample_scratch_new(s->vocab, &s->scr[i]);
  }
  if (st) {
    destroy(s);
    return st;
  }
  lt_sched_publish(s);
  *out = s;
  return LATTE_OK;
}

void lt_sched_req_free(lt_req *r) {
  if (!r) return;
  free(r->stop);
  free(r->toks);
  free(r->pages);
  free(r->nodes);
  free(r);
}

void lt_sched_free(lt_sched *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (s->started) pthread_join(s->th, NULL);
  pthread_mutex_lock(&s->step_mu);
  pthread_mutex_lock(&s->mu);
  lt_req **in = s->in;
  int n_in = s->n_in;
  s->in = NULL;
  s->n_in = 0;
  pthread_mutex_unlock(&s->mu);
  /* everything still alive gets its final event, oldest first */
  while (s->n_run > 0) lt_sched_finish(s, s->run[0], LT_FINISH_CANCELLED, NULL);
  while (s->n_wait > 0) lt_sched_finish(s, s->wait[0], LT_FINISH_CANCELLED, NULL);
  for (int i = 0; i < n_in; i++) {
    lt_req *r = in[i];
    lt_sched_event ev = {.req = r->id, .token = -1, .finish = LT_FINISH_CANCELLED, .prompt_tokens = r->n_prompt};
    if (r->cb) r->cb(r->user, &ev);
    lt_sched_req_free(r);
  }
  free(in);
  pthread_mutex_unlock(&s->step_mu);
  destroy(s);
}

static void *loop(void *arg) {
  lt_sched *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    if (s->n_in == 0 && s->n_cancel == 0 && s->snap.running == 0 && s->snap.waiting == 0) {
      pthread_cond_wait(&s->cv, &s->mu);
      continue;
    }
    pthread_mutex_unlock(&s->mu);
    lt_sched_step(s);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

latte_status lt_sched_start(lt_sched *s) {
  pthread_mutex_lock(&s->mu);
  int already = s->started;
  if (!already) {
    if (pthread_create(&s->th, NULL, loop, s)) {
      pthread_mutex_unlock(&s->mu);
      return lt_err(LATTE_ERR_BACKEND, "scheduler: cannot start its thread");
    }
    s->started = 1;
  }
  pthread_mutex_unlock(&s->mu);
  if (already) return lt_err(LATTE_ERR_INVALID, "scheduler: already started");
  return LATTE_OK;
}

static latte_status check(const lt_sched *s, const int32_t *prompt, int n, const lt_sampling *sp) {
  if (!prompt || n <= 0) return lt_err(LATTE_ERR_INVALID, "empty prompt");
  if (!sp) return lt_err(LATTE_ERR_INVALID, "no sampling parameters");
  for (int i = 0; i < n; i++)
    if (prompt[i] < 0 || prompt[i] >= s->vocab)
      return lt_err(LATTE_ERR_INVALID, "prompt token %d (id %d) is out of range (vocab size %d)", i, prompt[i], s->vocab);
  if (sp->max_tokens <= 0) return lt_err(LATTE_ERR_INVALID, "max_tokens %d must be positive", sp->max_tokens);
  if ((int64_t)n + sp->max_tokens > s->max_ctx)
    return lt_err(LATTE_ERR_INVALID, "prompt of %d tokens + max_tokens %d exceeds the context of %d tokens", n,
                  sp->max_tokens, s->max_ctx);
  if (!(sp->temperature >= 0) || !isfinite(sp->temperature))
    return lt_err(LATTE_ERR_INVALID, "temperature %g must be a finite number >= 0", sp->temperature);
  if (!(sp->top_p >= 0 && sp->top_p <= 1)) return lt_err(LATTE_ERR_INVALID, "top_p %g out of range [0, 1]", sp->top_p);
  if (sp->top_k < 0) return lt_err(LATTE_ERR_INVALID, "top_k %d must be >= 0", sp->top_k);
  if (!(sp->min_p >= 0 && sp->min_p <= 1)) return lt_err(LATTE_ERR_INVALID, "min_p %g out of range [0, 1]", sp->min_p);
  if (!(sp->repetition_penalty >= 0) || !isfinite(sp->repetition_penalty))
    return lt_err(LATTE_ERR_INVALID, "repetition_penalty %g must be >= 0 (0 or 1 = off)", sp->repetition_penalty);
  if (!isfinite(sp->frequency_penalty) || !isfinite(sp->presence_penalty))
    return lt_err(LATTE_ERR_INVALID, "frequency_penalty / presence_penalty must be finite");
  if (sp->top_logprobs < 0 || sp->top_logprobs > LT_MAX_TOP_LOGPROBS)
    return lt_err(LATTE_ERR_INVALID, "top_logprobs %d out of range (0..%d)", sp->top_logprobs, LT_MAX_TOP_LOGPROBS);
  if (sp->n_stop_ids < 0 || (sp->n_stop_ids > 0 && !sp->stop_ids))
    return lt_err(LATTE_ERR_INVALID, "stop_ids: %d ids but no array", sp->n_stop_ids);
  return LATTE_OK;
}

uint64_t lt_sched_submit(lt_sched *s, const int32_t *prompt, int n, const lt_sampling *sp, lt_sched_cb cb,
                         void *user) {
  if (!s) { lt_err(LATTE_ERR_INVALID, "no scheduler"); return 0; }
  if (check(s, prompt, n, sp)) return 0;
  lt_req *r = calloc(1, sizeof *r);
  int total = n + sp->max_tokens;
  if (r) {
    r->max_pages = (total + s->ps - 1) / s->ps;
    r->toks = malloc(sizeof(int32_t) * (size_t)total);
    r->pages = malloc(sizeof(int32_t) * (size_t)r->max_pages);
    r->nodes = malloc(sizeof(lt_radix_node *) * (size_t)r->max_pages);
    r->stop = malloc(sizeof(int32_t) * (size_t)(sp->n_stop_ids + 1));
  }
  if (!r || !r->toks || !r->pages || !r->nodes || !r->stop) {
    lt_sched_req_free(r);
    lt_err(LATTE_ERR_NOMEM, "submit: out of memory");
    return 0;
  }
  memcpy(r->toks, prompt, sizeof(int32_t) * (size_t)n);
  if (sp->n_stop_ids) memcpy(r->stop, sp->stop_ids, sizeof(int32_t) * (size_t)sp->n_stop_ids);
  r->sp = *sp;
  r->sp.stop_ids = r->stop;
  r->n_prompt = r->len = n;
  r->cb = cb;
  r->user = user;
  r->smp = (lt_sampler){.temperature = sp->temperature, .top_k = sp->top_k, .top_p = sp->top_p, .min_p = sp->min_p,
                        .repetition_penalty = sp->repetition_penalty, .frequency_penalty = sp->frequency_penalty,
                        .presence_penalty = sp->presence_penalty};
  pthread_mutex_lock(&s->mu);
  if (s->n_in == s->cap_in) {
    int cap = s->cap_in ? 2 * s->cap_in : 16;
    lt_req **a = realloc(s->in, sizeof *a * (size_t)cap);
    if (!a) {
      pthread_mutex_unlock(&s->mu);
      lt_sched_req_free(r);
      lt_err(LATTE_ERR_NOMEM, "submit: out of memory");
      return 0;
    }
    s->in = a;
    s->cap_in = cap;
  }
  r->id = s->next_id++;
  uint64_t seed = sp->has_seed ? sp->seed : mix64(s->seed_ctr += 0x9E3779B97F4A7C15ull ^ (uint64_t)clock());
  lt_sampler_seed(&r->smp, seed);
  s->in[s->n_in++] = r;
  uint64_t id = r->id;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return id;
}

void lt_sched_cancel(lt_sched *s, uint64_t req) {
  if (!s || req == 0) return;
  pthread_mutex_lock(&s->mu);
  if (s->n_cancel == s->cap_cancel) {
    int cap = s->cap_cancel ? 2 * s->cap_cancel : 16;
    uint64_t *a = realloc(s->cancels, sizeof *a * (size_t)cap);
    if (!a) { pthread_mutex_unlock(&s->mu); return; }
    s->cancels = a;
    s->cap_cancel = cap;
  }
  s->cancels[s->n_cancel++] = req;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

int lt_sched_step(lt_sched *s) {
  pthread_mutex_lock(&s->step_mu);
  int n = lt_sched_step_impl(s);
  pthread_mutex_unlock(&s->step_mu);
  return n;
}

void lt_sched_get_stats(lt_sched *s, lt_sched_stats *out) {
  pthread_mutex_lock(&s->mu);
  *out = s->snap;
  out->waiting += s->n_in;
  pthread_mutex_unlock(&s->mu);
}

int lt_sched_eos_id(const lt_sched *s) { return s->eos; }
