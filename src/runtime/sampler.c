/* sampler.c — host-side sampling: penalties, softmax with temperature, then top-k / top-p / min-p
 * truncation over candidates in descending probability (sorted lazily: only the head a draw reaches
 * is selected and sorted), then an inverse-CDF draw from a splitmix64 generator. */
#include "runtime/sampler.h"
#include "base/err.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void lt_sampler_seed(lt_sampler *s, uint64_t seed) { s->rng = seed * 0x2545F4914F6CDD1Dull + 1; }
double lt_sampler_uniform(lt_sampler *s) { return (splitmix64(&s->rng) >> 11) * (1.0 / 9007199254740992.0); }

int lt_argmax(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
  return best;
}

typedef struct { float p; int id; } lt_cand;

struct lt_sample_scratch {
  int n;
  float *x;        /* [n] penalised logits */
  lt_cand *c;      /* [n] candidates */
  int32_t *cnt;    /* [n] zeroed counters for the penalties */
};

latte_status lt_sample_scratch_new(int n, lt_sample_scratch **out) {
  *out = NULL;
  lt_sample_scratch *s = calloc(1, sizeof *s);
  if (!s) return lt_err(LATTE_ERR_NOMEM, "sampler: out of memory");
  s->n = n;
  s->x = malloc(sizeof(float) * (size_t)n);
  s->c = malloc(sizeof(lt_cand) * (size_t)n);
  s->cnt = calloc((size_t)n, sizeof(int32_t));
  if (!s->x || !s->c || !s->cnt) { lt_sample_scratch_free(s); return lt_err(LATTE_ERR_NOMEM, "sampler: out of memory"); }
  *out = s;
  return LATTE_OK;
}

void lt_sample_scratch_free(lt_sample_scratch *s) {
  if (!s) return;
  free(s->x);
  free(s->c);
  free(s->cnt);
  free(s);
}

/* candidate order: higher probability first, lower id first on ties (a total order) */
static inline int before(const lt_cand *a, const lt_cand *b) { return a->p > b->p || (a->p == b->p && a->id < b->id); }
static int cand_cmp(const void *a, const void *b) {
  return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Reorders c[lo..hi) so that c[lo..t) holds the t - lo first candidates (in any order): quickselect. */
static void select_head(lt_cand *c, int lo, int hi, int t) {
  while (hi - lo > 16 && t > lo && t < hi) {
    int mid = lo + (hi - lo) / 2;
    lt_cand a = c[lo], b = c[mid], d = c[hi - 1], piv;
    if (before(&a, &b)) piv = before(&b, &d) ? b : (before(&a, &d) ? d : a);
    else piv = before(&a, &d) ? a : (before(&b, &d) ? d : b);
    int i = lo, j = hi - 1;
    while (i <= j) {
      while (before(&c[i], &piv)) i++;
      while (before(&piv, &c[j])) j--;
      if (i <= j) { lt_cand tmp = c[i]; c[i] = c[j]; c[j] = tmp; i++; j--; }
    }
    if (t <= j) hi = j + 1;
    else if (t >= i) lo = i;
    else return;
  }
  if (t <= lo || t >= hi) return;
  for (int i = lo + 1; i < hi; i++) {  /* small range: insertion sort */
    lt_cand x = c[i];
    int j = i - 1;
    while (j >= lo && before(&x, &c[j])) { c[j + 1] = c[j]; j--; }
    c[j + 1] = x;
  }
}

/* Makes c[0..m) sorted (c[0..sorted) already is); grows geometrically; returns the new sorted length. */
static int sort_head(lt_cand *c, int n, int sorted, int m) {
  if (m <= sorted) return sorted;
  int grow = sorted > 64 ? sorted : 64, want = sorted + grow;
  if (want < m) want = m;
  if (want > n) want = n;
  select_head(c, sorted, n, want);
  qsort(c + sorted, (size_t)(want - sorted), sizeof *c, cand_cmp);
  return want;
}

/* c[0..n) holds normalised probabilities; truncation as top-k, then min-p, then top-p. */
static int draw(lt_sampler *s, lt_cand *c, int n) {
  int sorted = 0, k = n;
  if (s->top_k > 0 && s->top_k < k) k = s->top_k;
  if (s->min_p > 0) {
    sorted = sort_head(c, n, sorted, 1);
    int j = 1;
    while (j < k) {
      sorted = sort_head(c, n, sorted, j + 1);
      if (!(c[j].p >= s->min_p * c[0].p)) break;
      j++;
    }
    k = j;
  }
  if (s->top_p > 0 && s->top_p < 1) {
    double acc = 0;
    int j = 0;
    while (j < k) {
      sorted = sort_head(c, n, sorted, j + 1);
      acc += c[j].p;
      j++;
      if (acc >= s->top_p) break;
    }
    k = j;
  }
  double tot = 0;
  if (k < n) sorted = sort_head(c, n, sorted, k);
  for (int i = 0; i < k; i++) tot += c[i].p;
  double u = lt_sampler_uniform(s) * tot, acc = 0;
  for (int i = 0; i < k; i++) {
    sorted = sort_head(c, n, sorted, i + 1);
    acc += c[i].p;
    if (u < acc) return c[i].id;
  }
  sorted = sort_head(c, n, sorted, k);
  return c[k - 1].id;
}

void lt_apply_penalties(const lt_sampler *s, float *x, int n, const int32_t *prompt, int n_prompt,
                        const int32_t *gen, int n_gen, int32_t *cnt) {
  float rep = s->repetition_penalty;
  if (rep > 0 && rep != 1) {  /* HF: each distinct token seen in prompt + output, once */
    for (int pass = 0; pass < 2; pass++) {
      const int32_t *t = pass ? gen : prompt;
      int m = pass ? n_gen : n_prompt;
      for (int i = 0; i < m; i++) {
        int id = t[i];
        if (id < 0 || id >= n || cnt[id]) continue;
        cnt[id] = 1;
        x[id] = x[id] > 0 ? x[id] / rep : x[id] * rep;
      }
    }
    for (int i = 0; i < n_prompt; i++) if (prompt[i] >= 0 && prompt[i] < n) cnt[prompt[i]] = 0;
    for (int i = 0; i < n_gen; i++) if (gen[i] >= 0 && gen[i] < n) cnt[gen[i]] = 0;
  }
  if (s->frequency_penalty != 0 || s->presence_penalty != 0) {  /* OpenAI: over the output only */
    for (int i = 0; i < n_gen; i++) if (gen[i] >= 0 && gen[i] < n) cnt[gen[i]]++;
    for (int i = 0; i < n_gen; i++) {
      int id = gen[i];
      if (id < 0 || id >= n || cnt[id] <= 0) continue;
      x[id] -= (float)cnt[id] * s->frequency_penalty + s->presence_penalty;
      cnt[id] = 0;
    }
  }
}

void lt_sample_full(lt_sampler *s, const float *logits, int n, const int32_t *prompt, int n_prompt,
                    const int32_t *gen, int n_gen, int n_top, lt_sample_scratch *scr, lt_sample_result *out) {
  float *x = scr->x;
  memcpy(x, logits, sizeof(float) * (size_t)n);
  lt_apply_penalties(s, x, n, prompt, n_prompt, gen, n_gen, scr->cnt);
  int amax = lt_argmax(x, n);
  float m = x[amax], T = s->temperature > 0 ? s->temperature : 1.0f;
  /* v_i = (x_i - m) / T; logprob_i = v_i - log Σ exp(v) (greedy: T = 1, the raw logits) */
  double sum = 0;
  lt_cand *c = scr->c;
  for (int i = 0; i < n; i++) { c[i].id = i; c[i].p = expf((x[i] - m) / T); sum += c[i].p; }
  int id = amax;
  if (s->temperature > 0 && s->top_k != 1) {
    for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
    id = draw(s, c, n);
  }
  double lse = log(sum);
  out->id = id;
  out->logprob = (float)((x[id] - m) / T - lse);
  if (n_top > LT_MAX_TOP_LOGPROBS) n_top = LT_MAX_TOP_LOGPROBS;
  if (n_top > n) n_top = n;
  if (n_top < 0) n_top = 0;
  out->n_top = n_top;
  int k = 0;   /* insertion into the top list: strictly greater goes first, so lower ids win ties */
  for (int i = 0; i < n && n_top > 0; i++) {
    float v = x[i];
    if (k == n_top && !(v > x[out->top_ids[k - 1]])) continue;
    int j = k < n_top ? k++ : k - 1;
    while (j > 0 && v > x[out->top_ids[j - 1]]) { out->top_ids[j] = out->top_ids[j - 1]; j--; }
    out->top_ids[j] = i;
  }
  for (int j = 0; j < n_top; j++) out->top_logprobs[j] = (float)((x[out->top_ids[j]] - m) / T - lse);
}

int lt_sample(lt_sampler *s, const float *logits, int n) {
  if (s->temperature <= 0 || s->top_k == 1) return lt_argmax(logits, n);
  lt_sample_scratch *scr;
  if (lt_sample_scratch_new(n, &scr)) return lt_argmax(logits, n);
  lt_sampler plain = *s;   /* no penalties here: they need the token history */
  plain.repetition_penalty = 0;
  plain.frequency_penalty = plain.presence_penalty = 0;
  lt_sample_result r;
  lt_sample_full(&plain, logits, n, NULL, 0, NULL, 0, 0, scr, &r);
  s->rng = plain.rng;
  lt_sample_scratch_free(scr);
  return r.id;
}
