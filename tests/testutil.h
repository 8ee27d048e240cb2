/* testutil.h — tiny assertion helpers shared by the C tests: CHECK prints file:line and counts
 * failures; lt_test_done() prints "N passed, N failed" and returns the exit code. */
#ifndef LT_TESTUTIL_H
#define LT_TESTUTIL_H
#include <stdio.h>
extern int lt_test_pass, lt_test_fail;
#define CHECK(cond, ...) do { if (cond) lt_test_pass++; else { lt_test_fail++; \
  fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); \
  fputc('\n', stderr); } } while (0)
int lt_test_done(void);
/* Path of a fixture file: $LATTE_FIXTURES/rel (falls back to tests/fixtures). Static buffer. */
const char *lt_fixture(const char *rel);
/* A scratch directory for this test ($LATTE_TMP or /tmp). */
const char *lt_tmpdir(void);
/* Fill with uniform random values in [-a, a] from a seeded xorshift. */
void lt_rand_fill(float *x, long n, float a, unsigned long long *seed);
/* 0 when the CUDA backend can run here; else prints why ("SKIP: built without CUDA" / "SKIP: no CUDA GPU
 * visible") and returns 77, the code ctest reports as skipped. */
int lt_test_skip_without_gpu(void);
/* ||a-b|| / ||b|| and max |a-b|. */
double lt_rel_err(const float *a, const float *b, long n);
double lt_max_abs(const float *a, const float *b, long n);
#endif
