/* testutil.c — implementations of the shared test helpers (see testutil.h). */
#include "testutil.h"
#include "backend/backend.h"
#include <math.h>
#include <stdlib.h>
int lt_test_pass, lt_test_fail;

int lt_test_done(void) {
  printf("%d passed, %d failed\n", lt_test_pass, lt_test_fail);
  return lt_test_fail ? 1 : 0;
}

const char *lt_fixture(const char *rel) {
  static char buf[4096];
  const char *d = getenv("LATTE_FIXTURES");
  snprintf(buf, sizeof buf, "%s/%s", d ? d : "tests/fixtures", rel);
  return buf;
}

int lt_test_skip_without_gpu(void) {
#ifndef LATTE_HAVE_CUDA
  printf("SKIP: built without CUDA\n");
  return 77;
#else
  if (lt_cuda_device_count() <= 0) { printf("SKIP: no CUDA GPU visible\n"); return 77; }
  return 0;
#endif
}

const char *lt_tmpdir(void) {
  const char *d = getenv("LATTE_TMP");
  return d ? d : "/tmp";
}

void lt_rand_fill(float *x, long n, float a, unsigned long long *s) {
  for (long i = 0; i < n; i++) {
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    x[i] = a * (2.0f * (float)((*s >> 11) * (1.0 / 9007199254740992.0)) - 1.0f);
  }
}

double lt_rel_err(const float *a, const float *b, long n) {
  double num = 0, den = 0;
  for (long i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    if (isnan(a[i])) return INFINITY;
    num += d * d; den += (double)b[i] * b[i];
  }
  return sqrt(num) / (sqrt(den) + 1e-30);
}

double lt_max_abs(const float *a, const float *b, long n) {
  double m = 0;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (isnan(a[i]) || isnan(b[i])) return INFINITY;
    if (d > m) m = d;
  }
  return m;
}
