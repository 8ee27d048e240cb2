/* sampler.c — host-side sampling: softmax with temperature, then top-k / top-p / min-p truncation,
 * then an inverse-CDF draw from a splitmix64 generator. Greedy needs no generator. */
#include "runtime/sampler.h"
#include <math.h>
#include <stdlib.h>

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
static int cand_desc(const void *a, const void *b) {
  float x = ((const lt_cand *)a)->p, y = ((const lt_cand *)b)->p;
  if (x != y) return x < y ? 1 : -1;
  return ((const lt_cand *)a)->id - ((const lt_cand *)b)->id;
}

int lt_sample(lt_sampler *s, const float *logits, int n) {
  if (s->temperature <= 0 || s->top_k == 1) return lt_argmax(logits, n);
  lt_cand *c = malloc(sizeof(lt_cand) * (size_t)n);
  if (!c) return lt_argmax(logits, n);
  float m = logits[lt_argmax(logits, n)];
  double sum = 0;
  for (int i = 0; i < n; i++) { c[i].id = i; c[i].p = expf((logits[i] - m) / s->temperature); sum += c[i].p; }
  for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
  qsort(c, (size_t)n, sizeof *c, cand_desc);
  int k = n;
  if (s->top_k > 0 && s->top_k < k) k = s->top_k;
  if (s->min_p > 0) {
    int j = 1;
    while (j < k && c[j].p >= s->min_p * c[0].p) j++;
    k = j;
  }
  if (s->top_p > 0 && s->top_p < 1) {
    double acc = 0;
    int j = 0;
    while (j < k) { acc += c[j].p; j++; if (acc >= s->top_p) break; }
    k = j;
  }
  double tot = 0;
  for (int i = 0; i < k; i++) tot += c[i].p;
  double u = lt_sampler_uniform(s) * tot, acc = 0;
  int id = c[k - 1].id;
  for (int i = 0; i < k; i++) { acc += c[i].p; if (u < acc) { id = c[i].id; break; } }
  free(c);
  return id;
}
