/* cpu_sample.c — the CPU twin of the GPU sampler (cuda_sample.cu): per row, temperature, a keep
 * threshold found by the same fixed float bisection (top-k, top-p) raised to min-p, and an
 * index-order inverse-CDF draw from the counter-based uniform of backend.h. Sums in double. */
#include "backend/cpu/cpu_ops.h"
#include <math.h>

int32_t lt_cpu_sample_row(const float *x, int vocab, const lt_sample_params *p, float *thr, double *kept) {
  int best = 0;
  for (int j = 1; j < vocab; j++) if (x[j] > x[best]) best = j;
  if (thr) *thr = 1.0f;
  if (kept) *kept = 1.0;
  if (!(p->temperature > 0) || p->top_k == 1 || vocab <= 1) return best;
  const float m = x[best], it = 1.0f / p->temperature;
  double tot = 0;
  for (int j = 0; j < vocab; j++) tot += expf((x[j] - m) * it);
  const int k = p->top_k > 0 && p->top_k < vocab ? p->top_k : 0;
  const int use_p = p->top_p > 0 && p->top_p < 1;
  float t = 0.0f;
  if (k || use_p) {
    float lo = 0.0f, hi = 1.0f;
    for (int s = -1; s < LT_SAMPLE_BISECT; s++) {
      float mid = s < 0 ? 1.0f : 0.5f * (lo + hi);   /* step -1 tries t = 1 (only the maximum) */
      int cnt = 0;
      double sum = 0;
      for (int j = 0; j < vocab; j++) {
        float q = expf((x[j] - m) * it);
        if (q >= mid) { cnt++; sum += q; }
      }
      int ok = (!k || cnt >= k) && (!use_p || sum >= (double)p->top_p * tot);
      if (s < 0) { if (ok) { lo = 1.0f; break; } continue; }
      if (ok) lo = mid; else hi = mid;
    }
    t = lo;
  }
  if (p->min_p > t) t = p->min_p > 1.0f ? 1.0f : p->min_p;
  double ks = 0;
  int last = best;
  for (int j = 0; j < vocab; j++) {
    float q = expf((x[j] - m) * it);
    if (q >= t) { ks += q; last = j; }
  }
  if (thr) *thr = t;
  if (kept) *kept = ks;
  double target = (double)lt_sample_uniform(p->seed, p->counter) * ks, acc = 0;
  for (int j = 0; j < vocab; j++) {
    float q = expf((x[j] - m) * it);
    if (q >= t) {
      acc += q;
      if (acc > target) return j;
    }
  }
  return last;   /* rounding: the last kept id */
}

latte_status lt_cpu_sample_rows(lt_backend *b, const float *logits, int rows, int vocab, const lt_sample_params *p,
                                int32_t *ids) {
  #pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < rows; i++) ids[i] = lt_cpu_sample_row(logits + (int64_t)i * vocab, vocab, &p[i], NULL, NULL);
  return LATTE_OK;
}
