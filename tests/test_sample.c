/* test_sample.c — the backend sampler's CPU twin (sample_rows, cpu_sample.c): the counter-based
 * uniform; frequencies of a 5-token toy distribution over a sweep of counters within 3 sigma, also
 * with a temperature; the keep sets of top-k, top-p and min-p; temperature 0 and top_k 1 == argmax;
 * the same (seed, counter) gives the same id; every output written (poisoned first). */
#include "testutil.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 20000, V = 5 };
static const double P[V] = {0.1, 0.2, 0.3, 0.15, 0.25};

/* Draws N ids from the toy row (logits log P) with counters 0..N-1; cnt[V] = frequencies. */
static int sweep(lt_backend *b, lt_sample_params base, int *cnt) {
  float *x = malloc(sizeof(float) * (size_t)N * V);
  lt_sample_params *p = malloc(sizeof *p * (size_t)N);
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
  int ok = x && p && ids;
  for (int i = 0; ok && i < N; i++) {
    for (int j = 0; j < V; j++) x[(size_t)i * V + j] = (float)log(P[j]);
    p[i] = base;
    p[i].counter = (uint64_t)i;
    ids[i] = -7;
  }
  if (ok) ok = b->sample_rows(b, x, N, V, p, ids) == LATTE_OK;
  memset(cnt, 0, sizeof(int) * V);
  for (int i = 0; ok && i < N; i++) {
    if (ids[i] < 0 || ids[i] >= V) { ok = 0; break; }
    cnt[ids[i]]++;
  }
  free(x); free(p); free(ids);
  return ok;
}

/* Frequencies against q[V] (normalised here; q = 0: never drawn) within 3 sigma. */
static int within(const int *cnt, const double *q, const char *what) {
  double s = 0;
  for (int j = 0; j < V; j++) s += q[j];
  int ok = 1;
  for (int j = 0; j < V; j++) {
    double pj = q[j] / s, mu = N * pj, sd = sqrt(N * pj * (1 - pj));
    int good = pj == 0 ? cnt[j] == 0 : fabs(cnt[j] - mu) <= 3 * sd;
    if (!good) fprintf(stderr, "%s: id %d drawn %d times, expected %.1f ± %.1f\n", what, j, cnt[j], mu, 3 * sd);
    ok &= good;
  }
  return ok;
}

int main(void) {
  lt_backend *b = NULL;
  if (lt_cpu_backend_create(0, 0, &b) || !b->sample_rows) { fprintf(stderr, "no cpu backend\n"); return 1; }

  /* the uniform: in [0, 1), mean 1/2, deterministic */
  double mean = 0;
  int in = 1;
  for (int i = 0; i < N; i++) {
    float u = lt_sample_uniform(1234, (uint64_t)i);
    in &= u >= 0 && u < 1;
    mean += u;
  }
  mean /= N;
  CHECK(in && fabs(mean - 0.5) < 3 * sqrt(1.0 / 12 / N), "uniform: mean %.4f", mean);
  CHECK(lt_sample_uniform(7, 3) == lt_sample_uniform(7, 3) && lt_sample_uniform(7, 3) != lt_sample_uniform(8, 3),
        "uniform: a function of (seed, counter)");

  int cnt[V];
  lt_sample_params base = {.temperature = 1.0f, .top_p = 1.0f, .seed = 42};
  CHECK(sweep(b, base, cnt) && within(cnt, P, "T=1"), "T=1: frequencies within 3 sigma");
  double q[V];
  for (int j = 0; j < V; j++) q[j] = P[j] * P[j];
  lt_sample_params t = base;
  t.temperature = 0.5f;
  CHECK(sweep(b, t, cnt) && within(cnt, q, "T=0.5"), "T=0.5: p^2 within 3 sigma");
  for (int j = 0; j < V; j++) q[j] = sqrt(P[j]);
  t.temperature = 2.0f;
  t.seed = 99;
  CHECK(sweep(b, t, cnt) && within(cnt, q, "T=2"), "T=2: sqrt(p) within 3 sigma");

  /* keep sets */
  t = base; t.top_k = 2;
  double k2[V] = {0, 0, 0.3, 0, 0.25};
  CHECK(sweep(b, t, cnt) && within(cnt, k2, "top_k=2"), "top_k=2 keeps {2, 4}");
  t = base; t.top_k = 4;
  double k4[V] = {0, 0.2, 0.3, 0.15, 0.25};
  CHECK(sweep(b, t, cnt) && within(cnt, k4, "top_k=4"), "top_k=4 keeps all but the least likely");
  t = base; t.top_p = 0.5f;
  CHECK(sweep(b, t, cnt) && within(cnt, k2, "top_p=0.5"), "top_p=0.5 keeps {2, 4} (0.55)");
  t = base; t.top_p = 0.56f;
  double p3[V] = {0, 0.2, 0.3, 0, 0.25};
  CHECK(sweep(b, t, cnt) && within(cnt, p3, "top_p=0.56"), "top_p=0.56 keeps {1, 2, 4} (0.75)");
  t = base; t.min_p = 0.6f;
  CHECK(sweep(b, t, cnt) && within(cnt, p3, "min_p=0.6"), "min_p=0.6 keeps p >= 0.18: {1, 2, 4}");
  t = base; t.min_p = 0.6f; t.top_k = 2;
  CHECK(sweep(b, t, cnt) && within(cnt, k2, "min_p+top_k"), "min_p=0.6 and top_k=2: the intersection");
  t = base; t.min_p = 1.0f;
  double one[V] = {0, 0, 1, 0, 0};
  CHECK(sweep(b, t, cnt) && within(cnt, one, "min_p=1"), "min_p=1: the argmax only");
  t = base; t.top_p = 1e-6f;
  CHECK(sweep(b, t, cnt) && within(cnt, one, "top_p=1e-6"), "top_p=1e-6: the argmax only");

  /* the threshold the bisection finds for top_k = 2: between 2/3 (id 1) and 5/6 (id 4) */
  float x5[V], thr = 0;
  double kept = 0;
  for (int j = 0; j < V; j++) x5[j] = (float)log(P[j]);
  t = base; t.top_k = 2;
  lt_cpu_sample_row(x5, V, &t, &thr, &kept);
  CHECK(thr > 2.0f / 3 && thr <= 0.25f / 0.3f + 1e-6f && fabs(kept - 0.55 / 0.3) < 1e-5, "top_k=2 threshold %g kept %g", thr, kept);

  /* temperature 0 and top_k 1 are the argmax, lowest index on ties; same (seed, counter), same id */
  enum { R = 16, VV = 3000 };
  float *x = malloc(sizeof(float) * R * VV);
  lt_sample_params ps[R];
  int32_t ids[R], ref[R], again[R];
  unsigned long long sd = 5;
  lt_rand_fill(x, (long)R * VV, 4.0f, &sd);
  x[3 * VV + 10] = x[3 * VV + 20] = 100.0f;   /* a tie */
  CHECK(b->argmax_rows(b, x, R, VV, ref) == LATTE_OK, "argmax_rows");
  for (int i = 0; i < R; i++) { ps[i] = base; ps[i].temperature = i % 2 ? 0.0f : 0.8f; ps[i].top_k = i % 2 ? 0 : 1; ids[i] = -7; }
  CHECK(b->sample_rows(b, x, R, VV, ps, ids) == LATTE_OK, "sample_rows");
  CHECK(!memcmp(ids, ref, sizeof ids) && ids[3] == 10, "temperature 0 / top_k 1 == argmax (ties: lowest index)");
  int spread = 0, same = 1;
  for (int i = 0; i < R; i++) { ps[i] = base; ps[i].seed = 77; ps[i].counter = (uint64_t)i; ids[i] = again[i] = -7; }
  CHECK(b->sample_rows(b, x, R, VV, ps, ids) == LATTE_OK && b->sample_rows(b, x, R, VV, ps, again) == LATTE_OK, "sample_rows");
  for (int i = 0; i < R; i++) { same &= ids[i] == again[i] && ids[i] >= 0 && ids[i] < VV; spread |= ids[i] != ref[i]; }
  CHECK(same && spread, "same (seed, counter), same ids; T=1 is not the argmax");
  free(x);
  b->destroy(b);
  return lt_test_done();
}
