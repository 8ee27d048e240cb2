/* test_scheduler.c — the continuous-batching scheduler on the CPU fixture model: 64 mixed greedy
 * requests equal each request run alone (also with a pool so small that requests are preempted), the
 * prefix cache, cancel, seeded sampling, penalties and truncation, stop ids, logprobs, validation,
 * and 8 threads submitting to the scheduler thread. */
#include "testutil.h"
#include "latte.h"
#include "runtime/scheduler.h"
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define MAXG 64
static latte_model *M;
static int V;

/* ---- reference: one sequence alone, straight through latte_forward, whole-prompt prefill ---- */
static int ref_greedy(const int32_t *p, int n, int max_tokens, int32_t *out, float *lp0) {
  int ps = 4, total = n + max_tokens, np = (total + ps - 1) / ps;
  latte_engine_opts o = {.page_size = ps, .num_pages = np, .max_tokens = n, .max_seqs = 1};
  latte_engine *e;
  if (latte_engine_new(M, &o, &e)) return -1;
  int32_t *pages = malloc(sizeof(int32_t) * (size_t)np), *pos = malloc(sizeof(int32_t) * (size_t)total);
  float *lg = malloc(sizeof(float) * (size_t)V);
  for (int i = 0; i < np; i++) pages[i] = i;
  for (int i = 0; i < total; i++) pos[i] = i;
  int len = 0, rc = 0;
  const int32_t *feed = p;
  int q = n;
  for (int g = 0; g < max_tokens && !rc; g++) {
    int32_t qo[2] = {0, q}, sl[1] = {len + q}, kvp[2] = {0, np}, row[1] = {q - 1};
    latte_batch b = {.num_seqs = 1, .num_tokens = q, .ids = feed, .positions = pos + len, .qo_indptr = qo,
                     .seq_lens = sl, .kv_indptr = kvp, .kv_indices = pages, .n_logits = 1, .logit_rows = row};
    if (latte_forward(e, &b, lg)) { rc = -1; break; }
    len += q;
    int best = 0;
    for (int i = 1; i < V; i++) if (lg[i] > lg[best]) best = i;
    if (g == 0 && lp0) {  /* log-softmax of the first chosen token */
      double s = 0;
      for (int i = 0; i < V; i++) s += exp((double)lg[i] - lg[best]);
      *lp0 = (float)(-log(s));
    }
    out[g] = best;
    feed = &out[g];
    q = 1;
  }
  free(pages); free(pos); free(lg);
  latte_engine_free(e);
  return rc;
}

/* ---- collecting events ---- */
typedef struct {
  int32_t toks[MAXG];
  lt_sched_event ev[MAXG];
  int n, events_after_finish, n_final;
  lt_finish fin;
  int cached, prompt, completion;
  char err[256];
} coll;

static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ccv = PTHREAD_COND_INITIALIZER;
static int n_finished;

static void on_event(void *user, const lt_sched_event *ev) {
  coll *c = user;
  pthread_mutex_lock(&cmu);
  if (c->fin != LT_FINISH_NONE) c->events_after_finish++;
  if (ev->token >= 0 && c->n < MAXG) { c->ev[c->n] = *ev; c->toks[c->n++] = ev->token; }
  if (ev->token < 0) c->n_final++;
  c->cached = ev->cached_tokens;
  c->prompt = ev->prompt_tokens;
  c->completion = ev->completion_tokens;
  if (ev->finish != LT_FINISH_NONE) {
    c->fin = ev->finish;
    if (ev->error) snprintf(c->err, sizeof c->err, "%s", ev->error);
    n_finished++;
    pthread_cond_broadcast(&ccv);
  }
  pthread_mutex_unlock(&cmu);
}

static void make_prompt(int32_t *p, int n, unsigned seed) {
  unsigned x = seed * 2654435761u + 12345;
  for (int i = 0; i < n; i++) { x = x * 1103515245u + 12345; p[i] = 2 + (int)((x >> 8) % (unsigned)(V - 2)); }
}

static lt_sampling greedy(int max_tokens) {
  return (lt_sampling){.max_tokens = max_tokens, .ignore_eos = 1, .top_p = 1, .repetition_penalty = 1};
}

static int drain(lt_sched *s, int max_steps) {
  int steps = 0;
  while (lt_sched_step(s) > 0 && steps < max_steps) steps++;
  return steps;
}

/* 64 greedy requests at once (prompts 1..150, chunked prefill under a 256-token budget) vs alone. */
static void test_mixed(int num_pages, int expect_preempt) {
  enum { N = 64 };
  static int32_t prompts[N][160], ref[N][MAXG];
  static int len[N], mt[N];
  static coll c[N];
  for (int i = 0; i < N; i++) {
    len[i] = 1 + (i * 37) % 150;
    mt[i] = 1 + (i * 7) % 24;
    make_prompt(prompts[i], len[i], (unsigned)i);
    if (num_pages == 0) CHECK(ref_greedy(prompts[i], len[i], mt[i], ref[i], NULL) == 0, "reference %d", i);
  }
  if (num_pages != 0) for (int i = 0; i < N; i++) ref_greedy(prompts[i], len[i], mt[i], ref[i], NULL);
  lt_sched_opts o = {.max_running = 64, .step_tokens = 256, .page_size = 4, .num_pages = num_pages ? num_pages : 4096};
  lt_sched *s;
  CHECK(lt_sched_new(M, &o, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  memset(c, 0, sizeof c);
  for (int i = 0; i < N; i++) {
    lt_sampling sp = greedy(mt[i]);
    CHECK(lt_sched_submit(s, prompts[i], len[i], &sp, on_event, &c[i]) > 0, "%s", latte_last_error());
  }
  int steps = drain(s, 10000);
  lt_sched_stats st;
  lt_sched_get_stats(s, &st);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int ok = c[i].fin == LT_FINISH_LENGTH && c[i].n == mt[i] && !memcmp(c[i].toks, ref[i], sizeof(int32_t) * (size_t)mt[i]);
    if (!ok) bad++;
    CHECK(ok, "request %d (prompt %d, max_tokens %d): finish %d, %d tokens, first %d vs ref %d", i, len[i], mt[i],
          c[i].fin, c[i].n, c[i].toks[0], ref[i][0]);
    CHECK(c[i].events_after_finish == 0 && c[i].completion == mt[i] && c[i].prompt == len[i], "request %d usage", i);
  }
  printf("mixed (pool %d pages): %d steps, %d mismatches, %llu preemptions, %llu generated\n", st.pages_total, steps,
         bad, (unsigned long long)st.preemptions, (unsigned long long)st.generation_tokens_total);
  CHECK(st.running == 0 && st.waiting == 0 && st.pages_used == 0, "idle at the end: %d %d %d", st.running, st.waiting,
        st.pages_used);
  int total_gen = 0, total_prompt = 0;
  for (int i = 0; i < N; i++) { total_gen += mt[i]; total_prompt += len[i]; }
  CHECK(st.generation_tokens_total == (uint64_t)total_gen, "generated %llu", (unsigned long long)st.generation_tokens_total);
  CHECK(st.prompt_tokens_total == (uint64_t)total_prompt, "prompt tokens %llu", (unsigned long long)st.prompt_tokens_total);
  /* the budget forces chunking: at least total tokens / 256 steps */
  CHECK(steps >= (total_prompt + total_gen) / 256, "%d steps", steps);
  if (expect_preempt) CHECK(st.preemptions > 0, "a pool of %d pages must preempt", num_pages);
  else CHECK(st.preemptions == 0, "no preemption with a large pool");
  lt_sched_free(s);
}

/* A repeated long prefix comes from the cache; identical prompts submitted together share pages. */
static void test_prefix_cache(void) {
  lt_sched_opts o = {.max_running = 8, .step_tokens = 64, .page_size = 4, .num_pages = 512};
  lt_sched *s;
  CHECK(lt_sched_new(M, &o, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  int32_t a[110], b[110], ra[MAXG], rb[MAXG];
  make_prompt(a, 110, 7);
  memcpy(b, a, sizeof(int32_t) * 100);
  make_prompt(b + 100, 10, 8);
  ref_greedy(a, 110, 12, ra, NULL);
  ref_greedy(b, 110, 12, rb, NULL);
  coll ca = {0}, cb = {0};
  lt_sampling sp = greedy(12);
  lt_sched_submit(s, a, 110, &sp, on_event, &ca);
  drain(s, 1000);
  lt_sched_stats st;
  lt_sched_get_stats(s, &st);
  CHECK(st.pages_cached > 0 && st.pages_used == 0, "finished pages stay cached: %d cached, %d used", st.pages_cached,
        st.pages_used);
  lt_sched_submit(s, b, 110, &sp, on_event, &cb);
  drain(s, 1000);
  CHECK(ca.cached == 0 && !memcmp(ca.toks, ra, sizeof(int32_t) * 12), "first request: cached %d", ca.cached);
  CHECK(cb.cached == 100, "second request: 100 prompt tokens from the cache, got %d", cb.cached);
  CHECK(cb.n == 12 && !memcmp(cb.toks, rb, sizeof(int32_t) * 12), "cached prefix gives the same tokens");
  lt_sched_get_stats(s, &st);
  CHECK(st.cached_tokens_total == 100 && fabs(st.prefix_hit_rate - 100.0 / 220) < 1e-9, "hit rate %g", st.prefix_hit_rate);

  /* n = 3: the same prompt three times at once; the later two wait for the first's pages */
  int32_t p[50], rp[MAXG];
  make_prompt(p, 50, 9);
  ref_greedy(p, 50, 10, rp, NULL);
  coll cn[3];
  memset(cn, 0, sizeof cn);
  sp = greedy(10);
  for (int i = 0; i < 3; i++) lt_sched_submit(s, p, 50, &sp, on_event, &cn[i]);
  drain(s, 1000);
  for (int i = 0; i < 3; i++)
    CHECK(cn[i].n == 10 && !memcmp(cn[i].toks, rp, sizeof(int32_t) * 10), "n=3 copy %d equals the reference", i);
  CHECK(cn[0].cached == 0 && cn[1].cached == 48 && cn[2].cached == 48, "shared prompt pages: %d %d %d", cn[0].cached,
        cn[1].cached, cn[2].cached);
  lt_sched_free(s);
}

static void test_cancel(void) {
  lt_sched_opts o = {.max_running = 4, .step_tokens = 64, .page_size = 4, .num_pages = 256};
  lt_sched *s;
  CHECK(lt_sched_new(M, &o, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  lt_sched_stats st0, st;
  lt_sched_get_stats(s, &st0);
  int32_t p[30];
  make_prompt(p, 30, 11);
  coll c = {0}, w = {0};
  lt_sampling sp = greedy(60);
  uint64_t id = lt_sched_submit(s, p, 30, &sp, on_event, &c);
  for (int i = 0; i < 6; i++) lt_sched_step(s);
  lt_sched_get_stats(s, &st);
  /* step 1 prefills and samples, steps 2..6 decode: 6 tokens, latents for 35 + room for the 36th */
  CHECK(c.n == 6 && st.pages_used == (30 + 6 + 3) / 4 && st.running == 1, "mid-generation: %d tokens, %d pages", c.n,
        st.pages_used);
  lt_sched_cancel(s, id);
  lt_sched_cancel(s, 999999);   /* unknown: ignored */
  int left = lt_sched_step(s);
  lt_sched_get_stats(s, &st);
  CHECK(left == 0 && st.pages_used == st0.pages_used && st.running == 0, "after cancel: %d pages used (before %d)",
        st.pages_used, st0.pages_used);
  CHECK(c.fin == LT_FINISH_CANCELLED && c.n_final == 1 && c.n == 6, "cancel event: finish %d, %d final", c.fin, c.n_final);
  lt_sched_cancel(s, id);       /* finished: ignored, no second event */
  lt_sched_step(s);
  CHECK(c.events_after_finish == 0, "no event after the final one");
  /* cancel while waiting; and lt_sched_free cancels whatever is left */
  coll c2 = {0}, c3 = {0};
  uint64_t id2 = lt_sched_submit(s, p, 30, &sp, on_event, &c2);
  lt_sched_submit(s, p, 30, &sp, on_event, &w);
  lt_sched_submit(s, p, 30, &sp, on_event, &c3);
  lt_sched_cancel(s, id2);
  lt_sched_step(s);
  CHECK(c2.fin == LT_FINISH_CANCELLED && c2.n == 0, "cancelled while waiting");
  lt_sched_free(s);
  CHECK(w.fin == LT_FINISH_CANCELLED && c3.fin == LT_FINISH_CANCELLED && w.n_final == 1, "free cancels the rest");
}

/* Runs one request alone in s to completion. */
static void run1(lt_sched *s, const int32_t *p, int n, const lt_sampling *sp, coll *c) {
  memset(c, 0, sizeof *c);
  CHECK(lt_sched_submit(s, p, n, sp, on_event, c) > 0, "%s", latte_last_error());
  drain(s, 1000);
}

static void test_sampling(void) {
  lt_sched_opts o = {.max_running = 16, .step_tokens = 128, .page_size = 4, .num_pages = 1024};
  lt_sched *s;
  CHECK(lt_sched_new(M, &o, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  int32_t p[40], ref[MAXG];
  make_prompt(p, 40, 21);
  float lp0 = 0;
  ref_greedy(p, 40, 32, ref, &lp0);
  static coll a, b, c, d, e[8];
  lt_sampling sp = greedy(32);
  sp.temperature = 1.0f;
  sp.seed = 42;
  sp.has_seed = 1;
  run1(s, p, 40, &sp, &a);
  run1(s, p, 40, &sp, &b);
  CHECK(a.n == 32 && !memcmp(a.toks, b.toks, sizeof a.toks), "same seed, same tokens");
  sp.seed = 43;
  run1(s, p, 40, &sp, &c);
  CHECK(memcmp(a.toks, c.toks, sizeof a.toks) != 0, "another seed, other tokens");
  /* the seeded request among 7 others (greedy and sampled) gives the same tokens */
  sp.seed = 42;
  memset(e, 0, sizeof e);
  int32_t q[7][60];
  for (int i = 0; i < 7; i++) {
    make_prompt(q[i], 20 + 5 * i, 100 + i);
    lt_sampling o2 = greedy(10 + i);
    o2.temperature = (float)(i % 2);
    lt_sched_submit(s, q[i], 20 + 5 * i, &o2, on_event, &e[i]);
  }
  lt_sched_submit(s, p, 40, &sp, on_event, &e[7]);
  drain(s, 1000);
  CHECK(!memcmp(a.toks, e[7].toks, sizeof a.toks), "seeded sampling does not depend on the batch");
  CHECK(memcmp(a.toks, ref, sizeof(int32_t) * 32) != 0, "temperature 1 differs from greedy");

  /* top_k = 1, min_p = 1, a tiny top_p: all greedy */
  lt_sampling g = sp;
  g.top_k = 1;
  run1(s, p, 40, &g, &d);
  CHECK(!memcmp(d.toks, ref, sizeof(int32_t) * 32), "top_k=1 == greedy");
  g = sp; g.min_p = 1.0f;
  run1(s, p, 40, &g, &d);
  CHECK(!memcmp(d.toks, ref, sizeof(int32_t) * 32), "min_p=1 == greedy");
  g = sp; g.top_p = 1e-6f;
  run1(s, p, 40, &g, &d);
  CHECK(!memcmp(d.toks, ref, sizeof(int32_t) * 32), "top_p=1e-6 == greedy");

  /* truncation seen through top_logprobs (the same post-temperature distribution) */
  g = sp; g.temperature = 3.0f; g.top_k = 3; g.top_logprobs = 20;
  run1(s, p, 40, &g, &d);
  int ok = d.n == 32, spread = 0;
  for (int i = 0; i < d.n; i++) {
    int r = -1;
    for (int j = 0; j < d.ev[i].n_top; j++) if (d.ev[i].top_ids[j] == d.toks[i]) r = j;
    ok &= r >= 0 && r < 3;
    spread |= r > 0;
  }
  CHECK(ok && spread, "top_k=3: every token among the 3 most likely, not always the first");
  g = sp; g.temperature = 2.0f; g.min_p = 0.3f; g.top_logprobs = 1;
  run1(s, p, 40, &g, &d);
  ok = d.n == 32;
  for (int i = 0; i < d.n; i++) ok &= d.ev[i].logprob >= d.ev[i].top_logprobs[0] + logf(0.3f) - 1e-5f;
  CHECK(ok, "min_p=0.3: every token at least 0.3 x the most likely");
  /* the fixture's distribution is flat (the top 20 hold ~3% at T=2): a nucleus of 2% fits in them */
  spread = 0;
  g = sp; g.temperature = 2.0f; g.top_p = 0.02f; g.top_logprobs = 20;
  run1(s, p, 40, &g, &d);
  ok = d.n == 32;
  for (int i = 0; i < d.n; i++) {
    double before = 0;
    int found = 0;
    for (int j = 0; j < d.ev[i].n_top && !found; j++) {
      if (d.ev[i].top_ids[j] == d.toks[i]) found = 1;
      else before += exp(d.ev[i].top_logprobs[j]);
    }
    ok &= found && before < 0.02 + 1e-6;
    spread |= before > 0;
  }
  CHECK(ok && spread, "top_p=0.02: the mass before every chosen token is under 0.02, not always the first");

  /* penalties */
  g = greedy(40);
  g.repetition_penalty = 1e6f;
  run1(s, p, 40, &g, &d);
  ok = d.n == 40;
  for (int i = 0; i < d.n; i++) {
    for (int j = 0; j < i; j++) ok &= d.toks[j] != d.toks[i];
    for (int j = 0; j < 40; j++) ok &= p[j] != d.toks[i];
  }
  int greedy_repeats = 0;
  int32_t r40[40];
  ref_greedy(p, 40, 40, r40, NULL);
  for (int i = 0; i < 40; i++) for (int j = 0; j < i; j++) greedy_repeats += r40[i] == r40[j];
  CHECK(ok, "repetition_penalty 1e6: no token repeats the prompt or itself");
  g = greedy(40);
  g.presence_penalty = 1e4f;
  run1(s, p, 40, &g, &d);
  ok = d.n == 40;
  for (int i = 0; i < d.n; i++) for (int j = 0; j < i; j++) ok &= d.toks[j] != d.toks[i];
  CHECK(ok, "presence_penalty: no repeats in the output (plain greedy repeats %d times)", greedy_repeats);
  CHECK(greedy_repeats > 0, "the fixture's greedy output repeats (so the penalty tests mean something)");
  g = greedy(40);
  g.frequency_penalty = 1e4f;
  run1(s, p, 40, &g, &d);
  ok = d.n == 40;
  for (int i = 0; i < d.n; i++) for (int j = 0; j < i; j++) ok &= d.toks[j] != d.toks[i];
  CHECK(ok, "frequency_penalty: no repeats in the output");

  /* stop ids: finish at the first occurrence of ref[5] */
  int k = 0;
  while (ref[k] != ref[5]) k++;
  g = greedy(32);
  int32_t stop[2] = {V - 1 == ref[5] ? V - 2 : V - 1, ref[5]};
  g.stop_ids = stop;
  g.n_stop_ids = 2;
  run1(s, p, 40, &g, &d);
  CHECK(d.fin == LT_FINISH_STOP && d.n == k + 1 && !memcmp(d.toks, ref, sizeof(int32_t) * (size_t)(k + 1)),
        "stop id: finish %d after %d tokens (expected %d)", d.fin, d.n, k + 1);
  CHECK(lt_sched_eos_id(s) == 1, "eos id %d", lt_sched_eos_id(s));

  /* logprobs: greedy top-1, sorted, <= 0, the first equals the reference log-softmax */
  g = greedy(16);
  g.top_logprobs = 5;
  run1(s, p, 40, &g, &d);
  ok = d.n == 16;
  for (int i = 0; i < d.n; i++) {
    const lt_sched_event *ev = &d.ev[i];
    ok &= ev->n_top == 5 && ev->top_ids[0] == ev->token && ev->logprob == ev->top_logprobs[0] && ev->logprob <= 0;
    for (int j = 1; j < 5; j++) ok &= ev->top_logprobs[j] <= ev->top_logprobs[j - 1];
  }
  CHECK(ok, "greedy logprobs: top-1 is the token, sorted, <= 0");
  CHECK(fabsf(d.ev[0].logprob - lp0) < 1e-4f, "first logprob %g vs reference %g", d.ev[0].logprob, lp0);
  g = sp; g.temperature = 0.7f; g.top_logprobs = 3;
  run1(s, p, 40, &g, &d);
  ok = d.n == 32;
  for (int i = 0; i < d.n; i++) {
    ok &= d.ev[i].logprob <= 0 && d.ev[i].logprob <= d.ev[i].top_logprobs[0];
    for (int j = 0; j < 3; j++) if (d.ev[i].top_ids[j] == d.toks[i]) ok &= d.ev[i].top_logprobs[j] == d.ev[i].logprob;
  }
  CHECK(ok, "sampled logprobs consistent with top_logprobs");
  lt_sched_free(s);
}

static void test_validation(void) {
  lt_sched_opts o = {.max_running = 4, .step_tokens = 64, .page_size = 4, .num_pages = 8, .max_context = 4096};
  lt_sched *s;
  CHECK(lt_sched_new(M, &o, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  static int32_t p[5000];
  make_prompt(p, 5000, 3);
  lt_sampling sp = greedy(100);
  CHECK(lt_sched_submit(s, p, 0, &sp, on_event, NULL) == 0 && strstr(latte_last_error(), "empty prompt"), "empty: %s",
        latte_last_error());
  int32_t bad[3] = {5, V, 7};
  CHECK(lt_sched_submit(s, bad, 3, &sp, on_event, NULL) == 0 &&
        !strcmp(latte_last_error(), "prompt token 1 (id 2048) is out of range (vocab size 2048)"), "range: %s",
        latte_last_error());
  bad[1] = -1;
  CHECK(lt_sched_submit(s, bad, 3, &sp, on_event, NULL) == 0, "negative id");
  CHECK(lt_sched_submit(s, p, 5000, &sp, on_event, NULL) == 0 &&
        !strcmp(latte_last_error(), "prompt of 5000 tokens + max_tokens 100 exceeds the context of 4096 tokens"),
        "context: %s", latte_last_error());
  lt_sampling x = greedy(0);
  CHECK(lt_sched_submit(s, p, 5, &x, on_event, NULL) == 0 && strstr(latte_last_error(), "max_tokens"), "max_tokens 0");
  x = greedy(4); x.temperature = -1;
  CHECK(lt_sched_submit(s, p, 5, &x, on_event, NULL) == 0 && strstr(latte_last_error(), "temperature"), "temperature");
  x = greedy(4); x.top_logprobs = 21;
  CHECK(lt_sched_submit(s, p, 5, &x, on_event, NULL) == 0 && strstr(latte_last_error(), "top_logprobs"), "top_logprobs");
  x = greedy(4); x.top_p = 1.5f;
  CHECK(lt_sched_submit(s, p, 5, &x, on_event, NULL) == 0 && strstr(latte_last_error(), "top_p"), "top_p");
  x = greedy(4); x.n_stop_ids = 2;
  CHECK(lt_sched_submit(s, p, 5, &x, on_event, NULL) == 0 && strstr(latte_last_error(), "stop_ids"), "stop_ids");
  /* valid, but larger than the whole pool (8 pages of 4): an error event, and the scheduler goes on */
  coll big = {0}, small = {0};
  x = greedy(10);
  CHECK(lt_sched_submit(s, p, 30, &x, on_event, &big) > 0, "too big for the pool is still a valid request");
  lt_sched_submit(s, p, 10, &x, on_event, &small);
  drain(s, 100);
  CHECK(big.fin == LT_FINISH_ERROR && big.n_final == 1 && strstr(big.err, "pool"), "pool error: %d '%s'", big.fin, big.err);
  CHECK(small.fin == LT_FINISH_LENGTH && small.n == 10, "the next request still runs");
  lt_sched_free(s);
  lt_sched_opts b1 = {.page_size = 300};
  CHECK(lt_sched_new(M, &b1, &s) != LATTE_OK && strstr(latte_last_error(), "page_size"), "bad page size");
  lt_sched_opts b2 = {.max_context = 1 << 30};
  CHECK(lt_sched_new(M, &b2, &s) != LATTE_OK && strstr(latte_last_error(), "max_context"), "bad max_context");
}

/* ---- the scheduler thread with 8 submitting threads ---- */
typedef struct { lt_sched *s; int t; coll c[4]; int32_t p[4][80]; int n[4], mt[4]; } th_arg;

static void *submitter(void *arg) {
  th_arg *a = arg;
  for (int k = 0; k < 4; k++) {
    lt_sampling sp = greedy(a->mt[k]);
    if (lt_sched_submit(a->s, a->p[k], a->n[k], &sp, on_event, &a->c[k]) == 0) return (void *)1;
  }
  return NULL;
}

static void test_threads(void) {
  lt_sched_opts o = {.max_running = 16, .step_tokens = 96, .page_size = 4, .num_pages = 200};
  lt_sched *s;
  CHECK(lt_sched_new(M, &o, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  CHECK(lt_sched_start(s) == LATTE_OK, "start: %s", latte_last_error());
  static th_arg a[8];
  static int32_t ref[8][4][MAXG];
  memset(a, 0, sizeof a);
  for (int t = 0; t < 8; t++)
    for (int k = 0; k < 4; k++) {
      a[t].s = s;
      a[t].n[k] = 3 + (t * 4 + k) * 2;
      a[t].mt[k] = 2 + (t + k) % 9;
      make_prompt(a[t].p[k], a[t].n[k], (unsigned)(500 + t * 4 + k));
      ref_greedy(a[t].p[k], a[t].n[k], a[t].mt[k], ref[t][k], NULL);
    }
  pthread_mutex_lock(&cmu);
  n_finished = 0;
  pthread_mutex_unlock(&cmu);
  pthread_t th[8];
  for (int t = 0; t < 8; t++) pthread_create(&th[t], NULL, submitter, &a[t]);
  int fails = 0;
  for (int t = 0; t < 8; t++) { void *r; pthread_join(th[t], &r); fails += r != NULL; }
  CHECK(fails == 0, "all submits accepted");
  pthread_mutex_lock(&cmu);
  while (n_finished < 32) pthread_cond_wait(&ccv, &cmu);
  pthread_mutex_unlock(&cmu);
  int ok = 1;
  for (int t = 0; t < 8; t++)
    for (int k = 0; k < 4; k++)
      ok &= a[t].c[k].fin == LT_FINISH_LENGTH && a[t].c[k].n == a[t].mt[k] &&
            !memcmp(a[t].c[k].toks, ref[t][k], sizeof(int32_t) * (size_t)a[t].mt[k]);
  CHECK(ok, "32 requests from 8 threads equal their references");
  /* the snapshot is published after the step's events: wait for the idle one */
  lt_sched_stats st;
  for (int i = 0; i < 100000; i++) {
    lt_sched_get_stats(s, &st);
    if (st.running == 0 && st.waiting == 0) break;
    sched_yield();
  }
  CHECK(st.running == 0 && st.pages_used == 0, "idle: %d running, %d pages used", st.running, st.pages_used);
  lt_sched_free(s);
}

int main(void) {
  latte_load_opts lo = {.backend = "cpu"};
  if (latte_model_load(lt_fixture("tiny-v3"), &lo, &M)) {
    fprintf(stderr, "cannot load tiny-v3: %s\n", latte_last_error());
    return 1;
  }
  V = latte_model_vocab(M);
  test_validation();
  test_cancel();
  test_prefix_cache();
  test_sampling();
  test_mixed(0, 0);
  test_mixed(120, 1);
  test_threads();
  latte_model_free(M);
  return lt_test_done();
}
