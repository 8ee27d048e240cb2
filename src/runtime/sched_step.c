/* sched_step.c — one scheduler step: take in submissions and cancels; plan (running decodes, then
 * prefill chunks in FCFS order under the token budget); get pages (evicting cached ones, preempting the
 * newest requests); one forward with decodes first; sample each finished row; emit events; retire. */
#include "runtime/sched_impl.h"
#include "base/err.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pages_for(const lt_sched *s, int tokens) { return (tokens + s->ps - 1) / s->ps; }
static int decoding(const lt_req *r) { return r->computed >= r->n_prompt; }

/* ---- request lists (ascending id) ---- */
static int list_insert(lt_req ***a, int *n, lt_req *r) {
  lt_req **b = realloc(*a, sizeof *b * (size_t)(*n + 1));
  if (!b) return -1;
  *a = b;
  int i = *n;
  while (i > 0 && b[i - 1]->id > r->id) { b[i] = b[i - 1]; i--; }
  b[i] = r;
  (*n)++;
  return 0;
}

static void list_remove(lt_req **a, int *n, lt_req *r) {
  for (int i = 0; i < *n; i++)
    if (a[i] == r) { memmove(a + i, a + i + 1, sizeof *a * (size_t)(*n - i - 1)); (*n)--; return; }
}

/* ---- pages ---- */

/* Makes at least need pages free, evicting unreferenced cached pages LRU; 1 on success. */
static int reserve(lt_sched *s, int need) {
  int missing = need - lt_pool_free_count(&s->pool);
  if (missing <= 0) return 1;
  /* an eviction walks the whole tree: take a slice of the pool at once so a full cache does not cost
   * one walk per page */
  int want = missing > s->num_pages / 64 ? missing : s->num_pages / 64;
  int got = lt_radix_evict(s->tree, want, s->evbuf);
  for (int i = 0; i < got; i++) lt_pool_release(&s->pool, s->evbuf[i]);
  return lt_pool_free_count(&s->pool) >= need;
}

/* Moves r's full, computed, private pages into the radix tree (shared from now on). A page whose
 * tokens are already cached under another page stays private, with everything after it, so the
 * request keeps reading exactly the latents it computed. */
static void share_pages(lt_sched *s, lt_req *r) {
  int full = r->computed / s->ps;
  if (full > r->n_pages) full = r->n_pages;
  while (!r->no_share && r->n_shared < full) {
    int i = r->n_shared;
    lt_radix_node *parent = i ? r->nodes[i - 1] : NULL;
    const int32_t *toks = r->toks + (size_t)i * s->ps;
    lt_radix_node *n = lt_radix_child(s->tree, parent, toks);
    if (n) { r->no_share = 1; break; }
    n = lt_radix_add(s->tree, parent, toks, r->pages[i]);
    if (!n) { r->no_share = 1; break; }
    lt_radix_ref(s->tree, n);
    r->nodes[i] = n;
    r->n_shared = i + 1;
  }
}

/* Caches what r computed, drops its references and private pages. */
static void release(lt_sched *s, lt_req *r) {
  share_pages(s, r);
  for (int i = 0; i < r->n_shared; i++) lt_radix_unref(s->tree, r->nodes[i]);
  for (int i = r->n_shared; i < r->n_pages; i++) lt_pool_release(&s->pool, r->pages[i]);
  r->n_pages = r->n_shared = 0;
  r->computed = 0;
  r->no_share = 0;
}

static int take_pages(lt_sched *s, lt_req *r, int need) {
  for (int i = 0; i < need; i++) {
    int32_t pg = lt_pool_alloc(&s->pool);
    if (pg < 0) return -1;   /* cannot happen after reserve() */
    r->pages[r->n_pages++] = pg;
  }
  return 0;
}

/* ---- events ---- */
static void emit(lt_req *r, int32_t token, const lt_sample_result *res, lt_finish why, const char *error) {
  if (!r->cb) return;
  lt_sched_event ev = {.req = r->id, .token = token, .finish = why, .prompt_tokens = r->n_prompt,
                       .cached_tokens = r->cached_tokens, .completion_tokens = r->len - r->n_prompt, .error = error};
  if (res) {
    ev.logprob = res->logprob;
    ev.n_top = r->sp.top_logprobs < res->n_top ? r->sp.top_logprobs : res->n_top;
    memcpy(ev.top_ids, res->top_ids, sizeof(int32_t) * (size_t)ev.n_top);
    memcpy(ev.top_logprobs, res->top_logprobs, sizeof(float) * (size_t)ev.n_top);
  }
  r->cb(r->user, &ev);
}

void lt_sched_finish(lt_sched *s, lt_req *r, lt_finish why, const char *error) {
  list_remove(s->run, &s->n_run, r);
  list_remove(s->wait, &s->n_wait, r);
  release(s, r);
  emit(r, -1, NULL, why, error);
  lt_sched_req_free(r);
}

static void preempt(lt_sched *s, lt_req *r) {
  list_remove(s->run, &s->n_run, r);
  release(s, r);
  r->step_q = 0;
  if (list_insert(&s->wait, &s->n_wait, r)) {  /* out of memory: never lose it silently */
    emit(r, -1, NULL, LT_FINISH_ERROR, "preempted and out of memory");
    lt_sched_req_free(r);
    return;
  }
  s->preemptions++;
}

/* ---- planning ---- */

/* Prompt tokens of r to prefill this step within budget. A prefill chunk of one token after a cached
 * prefix would take the decode (absorbed) path and round differently from the request run alone, so
 * chunks never leave a one-token tail and are never a single token after a prefix. */
static int chunk_len(const lt_req *r, int budget) {
  int rem = r->n_prompt - r->computed;
  int c = rem < budget ? rem : budget;
  if (c < rem && rem - c == 1) c--;
  if (c == 1 && r->computed > 0) c = 0;
  return c > 0 ? c : 0;
}

/* Walks the tree along r's tokens; returns the number of cached pages usable by r (nodes in out). */
static int match(lt_sched *s, lt_req *r, lt_radix_node **out) {
  int limit = r->len - 1;   /* the last token is always fed: its logits give the next one */
  int i = 0;
  lt_radix_node *parent = NULL;
  while ((i + 1) * s->ps <= limit && i < r->max_pages) {
    lt_radix_node *n = lt_radix_child(s->tree, parent, r->toks + (size_t)i * s->ps);
    if (!n) break;
    out[i++] = parent = n;
  }
  int matched = i * s->ps;
  if (i > 0 && matched < r->n_prompt && r->n_prompt - matched == 1) i--;   /* see chunk_len */
  return i;
}

/* 1 when r should wait for a running request still prefilling a longer common prefix (n > 1 and
 * repeated prompts share its pages instead of computing them twice). */
static int defer(const lt_sched *s, const lt_req *r, int matched_pages) {
  for (int k = 0; k < s->n_run; k++) {
    const lt_req *x = s->run[k];
    if (decoding(x)) continue;
    int lim = r->len - 1 < x->n_prompt ? r->len - 1 : x->n_prompt, l = 0;
    while (l < lim && r->toks[l] == x->toks[l]) l++;
    if (l / s->ps > matched_pages) return 1;
  }
  return 0;
}

static void plan_running(lt_sched *s, int *budget) {
  for (int i = 0; i < s->n_run; i++) {
    lt_req *r = s->run[i];
    r->step_q = 0;
    int q = decoding(r) ? 1 : chunk_len(r, *budget);
    if (q == 0) continue;
    int need = pages_for(s, r->computed + q) - r->n_pages, self = 0;
    while (need > 0 && !reserve(s, need)) {
      lt_req *v = s->run[s->n_run - 1];   /* the newest running request gives its pages back */
      if (v == r && s->n_run == 1) {       /* alone and still short: cannot happen after admission checks */
        lt_sched_finish(s, r, LT_FINISH_ERROR, "the KV pool cannot hold this request");
        self = 1;
        break;
      }
      if (decoding(v)) (*budget)++;
      preempt(s, v);
      if (v == r) { self = 1; break; }
    }
    if (self) break;   /* r was the newest: nothing after it is running */
    if (take_pages(s, r, need)) continue;
    r->step_q = q;
    if (!decoding(r)) *budget -= q;
  }
}

static void admit_waiting(lt_sched *s, int *budget) {
  lt_radix_node **nodes = NULL;
  int cap = 0;
  for (int w = 0; w < s->n_wait && s->n_run < s->o.max_running;) {
    lt_req *r = s->wait[w];
    if (pages_for(s, r->n_prompt + r->sp.max_tokens) > s->num_pages) {
      char msg[160];
      snprintf(msg, sizeof msg, "prompt of %d tokens + max_tokens %d needs %d KV pages; the pool has %d",
               r->n_prompt, r->sp.max_tokens, pages_for(s, r->n_prompt + r->sp.max_tokens), s->num_pages);
      lt_sched_finish(s, r, LT_FINISH_ERROR, msg);
      continue;
    }
    if (*budget <= 0) break;
    if (cap < r->max_pages) {
      lt_radix_node **nn = realloc(nodes, sizeof *nn * (size_t)r->max_pages);
      if (!nn) break;
      nodes = nn;
      cap = r->max_pages;
    }
    int m = match(s, r, nodes);
    if (defer(s, r, m)) { w++; continue; }
    int matched = m * s->ps;
    r->computed = matched;
    int q = matched >= r->n_prompt ? 1 : chunk_len(r, *budget);
    if (q == 0) { r->computed = 0; break; }
    for (int i = 0; i < m; i++) lt_radix_ref(s->tree, nodes[i]);   /* pinned: eviction cannot take them */
    int need = pages_for(s, matched + q) - m;
    if (!reserve(s, need)) {
      for (int i = 0; i < m; i++) lt_radix_unref(s->tree, nodes[i]);
      r->computed = 0;
      break;
    }
    if (list_insert(&s->run, &s->n_run, r)) {
      for (int i = 0; i < m; i++) lt_radix_unref(s->tree, nodes[i]);
      r->computed = 0;
      break;
    }
    list_remove(s->wait, &s->n_wait, r);
    for (int i = 0; i < m; i++) { r->nodes[i] = nodes[i]; r->pages[i] = lt_radix_page(nodes[i]); }
    r->n_pages = r->n_shared = m;
    r->no_share = 0;
    take_pages(s, r, need);
    r->step_q = q;
    *budget -= q;
    if (!r->admitted_once) {
      r->admitted_once = 1;
      r->cached_tokens = matched < r->n_prompt ? matched : r->n_prompt;
      s->prompt_total += (uint64_t)r->n_prompt;
      s->cached_total += (uint64_t)r->cached_tokens;
    }
  }
  free(nodes);
}

/* ---- the batch ---- */

/* Fills the batch arrays: decodes first, then prefill chunks (deepseek_forward.c runs each group on
 * its own attention path). Returns the number of sequences; *n_logits rows to sample. */
static int build(lt_sched *s, int *n_tokens, int *n_logits, int32_t **kvi, int *kvi_cap) {
  int B = 0, T = 0, P = 0, L = 0;
  s->b_qo[0] = s->b_kvp[0] = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < s->n_run; i++) {
      lt_req *r = s->run[i];
      if (r->step_q == 0 || decoding(r) != (pass == 0)) continue;
      int q = r->step_q, len = r->computed + q, np = pages_for(s, len);
      if (P + np > *kvi_cap) {
        int cap = (P + np) * 2;
        int32_t *k = realloc(*kvi, sizeof(int32_t) * (size_t)cap);
        if (!k) return -1;
        *kvi = k;
        *kvi_cap = cap;
      }
      for (int j = 0; j < q; j++) { s->b_ids[T + j] = r->toks[r->computed + j]; s->b_pos[T + j] = r->computed + j; }
      memcpy(*kvi + P, r->pages, sizeof(int32_t) * (size_t)np);
      s->b_req[B] = r;
      s->b_logit[B] = -1;
      if (len == r->len) { s->b_logit[B] = L; s->b_rows[L++] = T + q - 1; }
      s->b_sl[B] = len;
      T += q;
      P += np;
      B++;
      s->b_qo[B] = T;
      s->b_kvp[B] = P;
    }
  }
  *n_tokens = T;
  *n_logits = L;
  return B;
}

static int is_stop(const lt_sched *s, const lt_req *r, int32_t t) {
  if (!r->sp.ignore_eos && t == s->eos) return 1;
  for (int i = 0; i < r->sp.n_stop_ids; i++) if (r->stop[i] == t) return 1;
  return 0;
}

static void take_inputs(lt_sched *s) {
  pthread_mutex_lock(&s->mu);
  lt_req **in = s->in;
  int n_in = s->n_in;
  s->in = NULL;
  s->n_in = s->cap_in = 0;
  uint64_t *cancels = s->cancels;
  int n_cancel = s->n_cancel;
  s->cancels = NULL;
  s->n_cancel = s->cap_cancel = 0;
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < n_in; i++)
    if (list_insert(&s->wait, &s->n_wait, in[i])) {
      emit(in[i], -1, NULL, LT_FINISH_ERROR, "scheduler out of memory");
      lt_sched_req_free(in[i]);
    }
  free(in);
  for (int c = 0; c < n_cancel; c++) {
    lt_req *r = NULL;
    for (int i = 0; i < s->n_run && !r; i++) if (s->run[i]->id == cancels[c]) r = s->run[i];
    for (int i = 0; i < s->n_wait && !r; i++) if (s->wait[i]->id == cancels[c]) r = s->wait[i];
    if (r) lt_sched_finish(s, r, LT_FINISH_CANCELLED, NULL);
  }
  free(cancels);
}

void lt_sched_publish(lt_sched *s) {
  pthread_mutex_lock(&s->mu);
  lt_sched_stats *t = &s->snap;
  t->running = s->n_run;
  t->waiting = s->n_wait;
  t->pages_total = s->num_pages;
  t->pages_cached = lt_radix_num_unused(s->tree);
  t->pages_used = s->num_pages - lt_pool_free_count(&s->pool) - t->pages_cached;
  t->kv_usage = s->num_pages ? (double)t->pages_used / s->num_pages : 0;
  t->prompt_tokens_total = s->prompt_total;
  t->cached_tokens_total = s->cached_total;
  t->generation_tokens_total = s->gen_total;
  t->preemptions = s->preemptions;
  t->prefix_hit_rate = s->prompt_total ? (double)s->cached_total / (double)s->prompt_total : 0;
  pthread_mutex_unlock(&s->mu);
}

int lt_sched_step_impl(lt_sched *s) {
  take_inputs(s);
  int budget = s->o.step_tokens;
  for (int i = 0; i < s->n_run; i++) if (decoding(s->run[i])) budget--;
  plan_running(s, &budget);
  admit_waiting(s, &budget);

  int32_t *kvi = NULL;
  int kvi_cap = 0, T = 0, L = 0;
  int B = build(s, &T, &L, &kvi, &kvi_cap);
  if (B < 0) {   /* out of host memory: fail this step's requests rather than spin */
    for (int i = s->n_run - 1; i >= 0; i--)
      if (s->run[i]->step_q) lt_sched_finish(s, s->run[i], LT_FINISH_ERROR, "scheduler out of memory");
  } else if (B > 0) {
    latte_batch b = {.num_seqs = B, .num_tokens = T, .ids = s->b_ids, .positions = s->b_pos, .qo_indptr = s->b_qo,
                     .seq_lens = s->b_sl, .kv_indptr = s->b_kvp, .kv_indices = kvi, .n_logits = L,
                     .logit_rows = s->b_rows};
    /* rows without penalties and logprobs are drawn on the backend (greedy or temperature / top-k /
     * top-p / min-p, docs/sampling.md): only their ids cross back. Their generator is counter based
     * (the request's seeded state, tokens generated so far), so a request's text does not depend on
     * the batch. The others are sampled here from downloaded logits, with the request's own
     * generator; logits are copied back only when some row needs them. */
    int n_dev = 0, n_host = 0, any_draw = 0;
    for (int i = 0; i < B; i++) {
      const lt_req *r = s->b_req[i];
      int j = s->b_logit[i];
      if (j < 0) continue;
      const lt_sampling *sp = &r->sp;
      int dev = sp->frequency_penalty == 0 && sp->presence_penalty == 0 &&
                (sp->repetition_penalty == 0 || sp->repetition_penalty == 1) && sp->top_logprobs == 0 && !sp->want_logprob;
      s->b_dev[j] = (unsigned char)dev;
      s->b_temp[j] = dev ? sp->temperature : 0.0f;
      s->b_topp[j] = sp->top_p;
      s->b_minp[j] = sp->min_p;
      s->b_topk[j] = sp->top_k;
      s->b_seed[j] = r->smp.rng;
      s->b_ctr[j] = (uint64_t)(r->len - r->n_prompt);
      if (dev) { n_dev++; any_draw |= sp->temperature > 0 && sp->top_k != 1; }
      else n_host++;
    }
    if (n_dev > 0) b.greedy_ids = s->b_greedy;
    if (any_draw) {
      b.temperature = s->b_temp; b.top_p = s->b_topp; b.min_p = s->b_minp;
      b.top_k = s->b_topk; b.seed = s->b_seed; b.counter = s->b_ctr;
    }
    latte_status st = latte_forward(s->e, &b, n_host > 0 ? s->logits : NULL);
    if (st) {
      char msg[512];
      snprintf(msg, sizeof msg, "forward failed: %s", latte_last_error());
      for (int i = 0; i < B; i++) lt_sched_finish(s, s->b_req[i], LT_FINISH_ERROR, msg);
    } else {
      for (int i = 0; i < B; i++) s->b_req[i]->computed += s->b_req[i]->step_q;
      /* sampling is per request (its own generator), so rows can go in parallel */
      #pragma omp parallel for schedule(dynamic, 1) num_threads(s->n_scr)
      for (int i = 0; i < B; i++) {
        lt_req *r = s->b_req[i];
        int j = s->b_logit[i];
        if (j < 0) continue;
        if (s->b_dev[j]) {
          memset(&s->res[j], 0, sizeof s->res[j]);
          s->res[j].id = s->b_greedy[j];
          continue;
        }
        int tid = omp_get_thread_num();
        lt_sample_full(&r->smp, s->logits + (size_t)j * s->vocab, s->vocab, r->toks, r->n_prompt,
                       r->toks + r->n_prompt, r->len - r->n_prompt, r->sp.top_logprobs, s->scr[tid],
                       &s->res[j]);
      }
      for (int i = 0; i < B; i++) {
        lt_req *r = s->b_req[i];
        int j = s->b_logit[i];
        r->step_q = 0;
        share_pages(s, r);
        if (j < 0) continue;
        int32_t t = s->res[j].id;
        r->toks[r->len++] = t;
        s->gen_total++;
        lt_finish why = is_stop(s, r, t) ? LT_FINISH_STOP
                      : r->len - r->n_prompt >= r->sp.max_tokens ? LT_FINISH_LENGTH : LT_FINISH_NONE;
        emit(r, t, &s->res[j], why, NULL);
        if (why != LT_FINISH_NONE) {
          list_remove(s->run, &s->n_run, r);
          release(s, r);
          lt_sched_req_free(r);
        }
      }
    }
  }
  free(kvi);
  lt_sched_publish(s);
  pthread_mutex_lock(&s->mu);
  int left = s->n_run + s->n_wait + s->n_in;
  pthread_mutex_unlock(&s->mu);
  return left;
}
