/* test_cuda_gemv.c — the bf16 decode GEMV (cuda_gemv_bf16.cu, lt_cuda_gemv_bf16) against the CPU
 * backend's linear / linear_f32out on bf16-rounded inputs: DeepSeek-V2-Lite and V3 projection shapes
 * and ragged ones (n = 1, 17, 100; k = 8, 24, 200, ...), rows 1..16 each, padded x row strides,
 * poisoned (0xFF) outputs, relative error ≤ 1e-2, two runs bitwise equal, every kernel variant forced
 * once (all with lt_gemv_bf16_force = 1), and *done = 0 with the output untouched wherever it
 * declines, for correctness reasons or where cuBLASLt measured as fast. linear_pair (one launch for
 * two weights over one x) against the CPU's: V2-Lite / V3 pairs and a ragged one, served and fallback
 * rows, mismatched k an error. `test_cuda_gemv small` (or LT_TEST_QUICK=1) leaves out the large real
 * shapes, e.g. under compute-sanitizer. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "io/safetensors.h"
#include "testutil.h"
#ifdef LATTE_HAVE_CUDA
#include <cuda_runtime.h>
#include "backend/cuda/cuda_ops.h"

/* cuda_gemv_bf16.cu */
latte_status lt_cuda_gemv_bf16(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows,
                               int out_f32, int *done);
latte_status lt_cuda_gemv_bf16_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                                    const lt_weight *w2, void *y2, int rows, int *done);
extern int lt_gemv_bf16_nt, lt_gemv_bf16_st, lt_gemv_bf16_fill4, lt_gemv_bf16_force;

static lt_backend *gpu, *cpu;
static unsigned long long seed = 0x5eedf00dULL;

#define OK(call) do { latte_status s_ = (call); CHECK(s_ == LATTE_OK, "%s: %s", #call, latte_last_error()); \
  if (s_) return; } while (0)

static float urand(void) {  /* uniform [-1, 1) */
  seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
  return (float)((seed >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}
static float bf16r(float v) { return lt_bf16_to_f32(lt_f32_to_bf16(v)); }
static void poison(void *d, size_t bytes) { cudaMemset(d, 0xFF, bytes); cudaDeviceSynchronize(); }
static int all_ff(const uint8_t *h, size_t n) {
  for (size_t i = 0; i < n; i++) if (h[i] != 0xFF) return 0;
  return 1;
}

typedef struct {
  int n, k;
  uint16_t *h;        /* host bf16 [n, k] */
  lt_weight wc, wg;   /* CPU and CUDA weights of the same bits */
} tw;

static int make_weight(tw *t, int n, int k) {
  memset(t, 0, sizeof *t);
  t->n = n; t->k = k;
  size_t nk = (size_t)n * k;
  t->h = malloc(nk * 2);
  if (!t->h) { CHECK(0, "out of host memory for %dx%d", n, k); return 1; }
  for (size_t i = 0; i < nk; i++) t->h[i] = lt_f32_to_bf16(0.05f * urand());
  lt_st_tensor wt = {.name = "w", .dtype = LT_BF16, .ndim = 2, .shape = {n, k}, .numel = (int64_t)nk,
                     .data = t->h, .nbytes = nk * 2};
  if (cpu->weight_new(cpu, &wt, NULL, &t->wc) || gpu->weight_new(gpu, &wt, NULL, &t->wg)) {
    CHECK(0, "weight_new %dx%d: %s", n, k, latte_last_error());
    return 1;
  }
  CHECK(t->wg.dtype == LT_BF16, "cuda weight dtype %d", (int)t->wg.dtype);
  return 0;
}
static void free_weight(tw *t) {
  cpu->weight_free(cpu, &t->wc);
  gpu->weight_free(gpu, &t->wg);
  free(t->h);
}

/* One CPU reference at 16 rows (a row's result depends on that row alone), then the GEMV at every
 * rows in 1..16 (or the listed ones): twice into two poisoned buffers, compared with the reference's
 * first rows and with each other. xpad: x row stride k + xpad (bf16 outputs only, as the lm_head's
 * x is contiguous). */
static void check_shape(tw *t, int xpad, int f32out, const int *rows_list, int nrows, const char *tag) {
  const int n = t->n, k = t->k, MR = 16;
  const int64_t xs = f32out ? k : k + xpad;
  float *x = malloc(sizeof(float) * (size_t)MR * xs);
  for (size_t i = 0; i < (size_t)MR * xs; i++) x[i] = bf16r(urand());
  for (int r = 0; r < MR; r++) x[(size_t)r * xs + (r * 37) % k] *= 8.0f;  /* an outlier per row */
  float *ref = malloc(sizeof(float) * (size_t)MR * n);
  latte_status s = f32out ? cpu->linear_f32out(cpu, x, &t->wc, ref, MR) : cpu->linear(cpu, x, xs, &t->wc, ref, MR);
  CHECK(!s, "cpu linear %dx%d: %s", n, k, latte_last_error());
  const size_t es = f32out ? 4 : 2, yb = (size_t)MR * n * es;
  void *dx = NULL, *dy[2] = {NULL, NULL};
  uint8_t *h[2] = {malloc(yb), malloc(yb)};
  float *hf = malloc(sizeof(float) * (size_t)MR * n);
  if (gpu->alloc(gpu, (size_t)MR * xs * 2, &dx) || lt_cuda_f32_to_act(gpu, x, dx, (size_t)MR * xs) ||
      gpu->alloc(gpu, yb, &dy[0]) || gpu->alloc(gpu, yb, &dy[1])) {
    CHECK(0, "gpu alloc: %s", latte_last_error());
    return;
  }
  double worst = 0.0;
  int fails = 0;
  for (int ri = 0; ri < nrows; ri++) {
    const int M = rows_list ? rows_list[ri] : ri + 1;
    const size_t ob = (size_t)M * n * es;
    for (int rep = 0; rep < 2; rep++) {
      poison(dy[rep], yb);
      int done = -1;
      s = lt_cuda_gemv_bf16(gpu, dx, xs, &t->wg, dy[rep], M, f32out, &done);
      CHECK(!s && done == 1, "gemv %dx%d rows %d: status %d done %d: %s", n, k, M, (int)s, done, latte_last_error());
      if (cudaDeviceSynchronize() != cudaSuccess) { CHECK(0, "gemv %dx%d rows %d: %s", n, k, M,
                                                          cudaGetErrorString(cudaGetLastError())); return; }
    }
    gpu->download(gpu, h[0], dy[0], yb);
    gpu->download(gpu, h[1], dy[1], yb);
    if (f32out) memcpy(hf, h[0], ob);
    else for (size_t i = 0; i < (size_t)M * n; i++) hf[i] = lt_bf16_to_f32(((uint16_t *)h[0])[i]);
    const double e = lt_rel_err(hf, ref, (long)M * n);
    if (!(e <= worst)) worst = e;
    const int same = memcmp(h[0], h[1], ob) == 0, rest = all_ff(h[0] + ob, yb - ob);
    CHECK(e <= 1e-2, "gemv%s n=%d k=%d rows=%d xs=%lld%s: rel err %.3e", f32out ? " f32" : "", n, k, M,
          (long long)xs, tag, e);
    CHECK(same, "gemv n=%d k=%d rows=%d%s: two runs differ", n, k, M, tag);
    CHECK(rest, "gemv n=%d k=%d rows=%d%s: wrote past row %d", n, k, M, tag, M);
    fails += !(e <= 1e-2) + !same + !rest;
  }
  printf("  gemv%s n=%-6d k=%-5d xs=%-5lld rows %s%-22s worst rel %.2e%s\n", f32out ? " f32" : "    ", n, k,
         (long long)xs, rows_list ? "(list)" : "1..16 ", tag, worst, fails ? "  FAIL" : "");
  gpu->dfree(gpu, dx); gpu->dfree(gpu, dy[0]); gpu->dfree(gpu, dy[1]);
  free(h[0]); free(h[1]); free(hf); free(x); free(ref);
}

static void test_shape(int n, int k, int xpad, int f32out) {
  tw t;
  if (make_weight(&t, n, k)) return;
  check_shape(&t, xpad, f32out, NULL, 16, "");
  free_weight(&t);
}

/* Declines: *done = 0, LATTE_OK, and the output left as it was. */
static void expect_decline(const void *dx, int64_t xs, const lt_weight *w, void *dy, size_t yb, int rows,
                           const char *why) {
  poison(dy, yb);
  int done = -1;
  latte_status s = lt_cuda_gemv_bf16(gpu, dx, xs, w, dy, rows, 0, &done);
  cudaDeviceSynchronize();
  uint8_t *h = malloc(yb);
  gpu->download(gpu, h, dy, yb);
  CHECK(s == LATTE_OK && done == 0, "declines %s: status %d done %d", why, (int)s, done);
  CHECK(all_ff(h, yb), "declines %s: output written", why);
  printf("  declines %-40s done %d\n", why, done);
  free(h);
}

static void test_declines(void) {
  tw t;
  if (make_weight(&t, 64, 256)) return;
  void *dx, *dy;
  const size_t yb = (size_t)32 * 64 * 2;
  OK(gpu->alloc(gpu, (size_t)32 * 512 * 2, &dx));
  OK(gpu->alloc(gpu, yb, &dy));
  cudaMemset(dx, 0, (size_t)32 * 512 * 2);
  expect_decline(dx, 256, &t.wg, dy, yb, 17, "rows 17");
  expect_decline(dx, 256, &t.wg, dy, yb, 0, "rows 0");
  expect_decline((const uint16_t *)dx + 1, 256, &t.wg, dy, yb, 4, "x not 16-byte aligned");
  expect_decline(dx, 259, &t.wg, dy, yb, 4, "x stride % 8 != 0");
  lt_weight w2 = t.wg;
  w2.data = (uint16_t *)t.wg.data + 1;
  w2.k = 248;
  expect_decline(dx, 256, &w2, dy, yb, 4, "W not 16-byte aligned");
  w2 = t.wg;
  w2.k = 252;  /* same bytes, viewed with k % 8 != 0 */
  expect_decline(dx, 256, &w2, dy, yb, 4, "k % 8 != 0");
  w2 = t.wg;
  w2.dtype = LT_F8E4M3;
  expect_decline(dx, 256, &w2, dy, yb, 4, "fp8 weight");
  gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
  free_weight(&t);
  /* where cuBLASLt measured as fast: rows > 8 at n > 1024, weights > 32 MB (not lm_head), lm_head rows > 4
   * (the weight's data is never touched on a decline: a small buffer stands in) */
  lt_gemv_bf16_force = 0;
  if (make_weight(&t, 2048, 64)) return;
  OK(gpu->alloc(gpu, (size_t)16 * 7168 * 2, &dx));
  OK(gpu->alloc(gpu, (size_t)16 * 2048 * 2, &dy));
  cudaMemset(dx, 0, (size_t)16 * 7168 * 2);
  expect_decline(dx, 64, &t.wg, dy, (size_t)16 * 2048 * 2, 16, "rows 16, n 2048 (cuBLASLt)");
  w2 = t.wg; w2.n = 7168; w2.k = 16384;
  expect_decline(dx, 16384, &w2, dy, (size_t)16 * 2048 * 2, 1, "235 MB weight (cuBLASLt)");
  w2 = t.wg; w2.n = 129280; w2.k = 7168;
  expect_decline(dx, 7168, &w2, dy, (size_t)16 * 2048 * 2, 8, "lm_head rows 8 (cuBLASLt)");
  gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
  free_weight(&t);
  lt_gemv_bf16_force = 1;
}

/* every variant (tiles per warp, ring depth, grid fill) on a ragged and a real shape */
static void test_variants(int small) {
  const int cfg[5][3] = {{1, 4, 4}, {1, 8, 4}, {2, 4, 4}, {1, 4, 1}, {2, 8, 16}};
  const int rows[4] = {1, 7, 9, 16};
  const int shapes[2][2] = {{100, 200}, {3072, 2048}};
  for (int si = 0; si < (small ? 1 : 2); si++) {
    tw t;
    if (make_weight(&t, shapes[si][0], shapes[si][1])) return;
    for (int c = 0; c < 5; c++) {
      lt_gemv_bf16_nt = cfg[c][0]; lt_gemv_bf16_st = cfg[c][1]; lt_gemv_bf16_fill4 = cfg[c][2];
      char tag[64];
      snprintf(tag, sizeof tag, " [nt %d st %d fill %d/4]", cfg[c][0], cfg[c][1], cfg[c][2]);
      check_shape(&t, 8, 0, rows, 4, tag);
    }
    lt_gemv_bf16_nt = lt_gemv_bf16_st = lt_gemv_bf16_fill4 = 0;
    free_weight(&t);
  }
}

/* ---- linear_pair: y1 = x · W1ᵀ, y2 = x · W2ᵀ in one launch where the GEMV serves both ---- */

/* bf16 device rows → f32, relative error against ref [rows, n]; 1e30 when the download fails */
static double rel_err_bf16(const uint16_t *h, const float *ref, long cnt) {
  float *f = malloc(sizeof(float) * (size_t)cnt);
  for (long i = 0; i < cnt; i++) f[i] = lt_bf16_to_f32(h[i]);
  const double e = lt_rel_err(f, ref, cnt);
  free(f);
  return e;
}

/* For each rows in the list: fresh random x [rows, k] (row stride k + xpad, bf16-rounded, an outlier
 * per row), the CPU backend's linear_pair as reference; the CUDA backend's linear_pair twice into
 * NaN-poisoned (0xFF) outputs of 16 rows: rel. error ≤ 1e-2 on both outputs, the two runs bitwise
 * equal, rows past `rows` untouched. Then lt_cuda_gemv_bf16_pair alone: *done must be want_done
 * (1: served as one launch, its bits those of linear_pair; 0: declined, outputs untouched). force:
 * lt_gemv_bf16_force for the whole check (0: the production rule). */
static void check_pair(tw *a, tw *b, int xpad, const int *rows_list, int nrows, int force, int want_done,
                       const char *tag) {
  const int n1 = a->n, n2 = b->n, k = a->k, MR = 16;
  const int64_t xs = k + xpad;
  lt_gemv_bf16_force = force;
  const size_t yb1 = (size_t)MR * n1 * 2, yb2 = (size_t)MR * n2 * 2;
  float *x = malloc(sizeof(float) * (size_t)MR * xs);
  float *r1 = malloc(sizeof(float) * (size_t)MR * n1), *r2 = malloc(sizeof(float) * (size_t)MR * n2);
  uint8_t *h1[3] = {malloc(yb1), malloc(yb1), malloc(yb1)}, *h2[3] = {malloc(yb2), malloc(yb2), malloc(yb2)};
  void *dx = NULL, *d1[3] = {NULL, NULL, NULL}, *d2[3] = {NULL, NULL, NULL};
  int bad = gpu->alloc(gpu, (size_t)MR * xs * 2, &dx) != LATTE_OK;
  for (int i = 0; i < 3; i++) bad |= gpu->alloc(gpu, yb1, &d1[i]) || gpu->alloc(gpu, yb2, &d2[i]);
  if (bad) { CHECK(0, "gpu alloc: %s", latte_last_error()); return; }
  double worst = 0.0;
  int fails = 0;
  for (int ri = 0; ri < nrows; ri++) {
    const int M = rows_list[ri];
    for (size_t i = 0; i < (size_t)MR * xs; i++) x[i] = bf16r(urand());
    for (int r = 0; r < M; r++) x[(size_t)r * xs + (r * 53 + ri) % k] *= 8.0f;
    latte_status s = cpu->linear_pair(cpu, x, xs, &a->wc, r1, &b->wc, r2, M);
    CHECK(!s, "cpu linear_pair: %s", latte_last_error());
    if (lt_cuda_f32_to_act(gpu, x, dx, (size_t)MR * xs)) { CHECK(0, "upload x: %s", latte_last_error()); break; }
    for (int rep = 0; rep < 3; rep++) {
      poison(d1[rep], yb1);
      poison(d2[rep], yb2);
      int done = -1;
      if (rep < 2) s = gpu->linear_pair(gpu, dx, xs, &a->wg, d1[rep], &b->wg, d2[rep], M);
      else s = lt_cuda_gemv_bf16_pair(gpu, dx, xs, &a->wg, d1[rep], &b->wg, d2[rep], M, &done);
      const cudaError_t ce = cudaDeviceSynchronize();
      CHECK(!s && ce == cudaSuccess, "linear_pair %d+%d k=%d rows=%d rep %d: status %d (%s), cuda %s", n1, n2, k, M,
            rep, (int)s, latte_last_error(), cudaGetErrorString(ce));
      if (rep == 2) {
        CHECK(done == want_done, "gemv_bf16_pair %d+%d k=%d rows=%d%s: done %d, want %d", n1, n2, k, M, tag, done,
              want_done);
        fails += done != want_done;
      }
      if (s || ce != cudaSuccess) { fails++; goto out; }
      gpu->download(gpu, h1[rep], d1[rep], yb1);
      gpu->download(gpu, h2[rep], d2[rep], yb2);
    }
    const size_t o1 = (size_t)M * n1 * 2, o2 = (size_t)M * n2 * 2;
    const double e1 = rel_err_bf16((const uint16_t *)h1[0], r1, (long)M * n1);
    const double e2 = rel_err_bf16((const uint16_t *)h2[0], r2, (long)M * n2);
    if (!(e1 <= worst)) worst = e1;
    if (!(e2 <= worst)) worst = e2;
    const int same = !memcmp(h1[0], h1[1], o1) && !memcmp(h2[0], h2[1], o2);
    const int rest = all_ff(h1[0] + o1, yb1 - o1) && all_ff(h2[0] + o2, yb2 - o2);
    /* the direct call: the bits linear_pair produced when served, untouched when declined */
    const int direct = want_done ? !memcmp(h1[0], h1[2], yb1) && !memcmp(h2[0], h2[2], yb2)
                                 : all_ff(h1[2], yb1) && all_ff(h2[2], yb2);
    CHECK(e1 <= 1e-2 && e2 <= 1e-2, "linear_pair %d+%d k=%d rows=%d xs=%lld%s: rel err %.3e / %.3e", n1, n2, k, M,
          (long long)xs, tag, e1, e2);
    CHECK(same, "linear_pair %d+%d k=%d rows=%d%s: two runs differ", n1, n2, k, M, tag);
    CHECK(rest, "linear_pair %d+%d k=%d rows=%d%s: wrote past row %d", n1, n2, k, M, tag, M);
    CHECK(direct, "gemv_bf16_pair %d+%d k=%d rows=%d%s: %s", n1, n2, k, M, tag,
          want_done ? "bits differ from linear_pair's" : "declined but wrote its outputs");
    fails += !(e1 <= 1e-2 && e2 <= 1e-2) + !same + !rest + !direct;
  }
out:
  printf("  pair n=%d+%-5d k=%-5d xs=%-5lld rows", n1, n2, k, (long long)xs);
  for (int ri = 0; ri < nrows; ri++) printf("%s%d", ri ? "," : " ", rows_list[ri]);
  printf(" %s%s: one launch %s, worst rel %.2e%s\n", force ? "[forced]" : "", tag, want_done ? "yes" : "no (seq)",
         worst, fails ? "  FAIL" : "");
  gpu->dfree(gpu, dx);
  for (int i = 0; i < 3; i++) { gpu->dfree(gpu, d1[i]); gpu->dfree(gpu, d2[i]); free(h1[i]); free(h2[i]); }
  free(x); free(r1); free(r2);
  lt_gemv_bf16_force = 1;
}

/* Pairs with mismatched k, or a weight the GEMV does not take: errors and declines. */
static void test_pair_errors(void) {
  tw a, b;
  if (make_weight(&a, 64, 256)) return;
  if (make_weight(&b, 32, 248)) { free_weight(&a); return; }
  void *dx, *d1, *d2;
  OK(gpu->alloc(gpu, (size_t)8 * 256 * 2, &dx));
  OK(gpu->alloc(gpu, (size_t)8 * 64 * 2, &d1));
  OK(gpu->alloc(gpu, (size_t)8 * 64 * 2, &d2));
  cudaMemset(dx, 0, (size_t)8 * 256 * 2);
  poison(d1, (size_t)8 * 64 * 2);
  poison(d2, (size_t)8 * 64 * 2);
  lt_gemv_bf16_force = 0;
  latte_status s = gpu->linear_pair(gpu, dx, 256, &a.wg, d1, &b.wg, d2, 4);
  CHECK(s == LATTE_ERR_INVALID, "linear_pair k 256 vs 248: status %d, want LATTE_ERR_INVALID", (int)s);
  printf("  pair k 256 vs 248: status %d (%s)\n", (int)s, s ? latte_last_error() : "no error");
  static float hx[4 * 256], hy1[4 * 64], hy2[4 * 32];
  s = cpu->linear_pair(cpu, hx, 256, &a.wc, hy1, &b.wc, hy2, 4);
  CHECK(s == LATTE_ERR_INVALID, "cpu linear_pair k 256 vs 248: status %d", (int)s);
  int done = -1;
  s = lt_cuda_gemv_bf16_pair(gpu, dx, 256, &b.wg, d1, &a.wg, d2, 4, &done);
  CHECK(s == LATTE_ERR_INVALID && done == 0, "gemv_bf16_pair k 248 vs 256: status %d done %d", (int)s, done);
  /* declines (nothing launched): an fp8 weight, x misaligned, rows 0 / 17 (forced) */
  lt_weight f8 = a.wg;
  f8.dtype = LT_F8E4M3;
  const struct { const void *x; const lt_weight *w2; int rows, force; const char *why; } dec[4] = {
      {dx, &f8, 4, 0, "fp8 second weight"}, {(const uint16_t *)dx + 1, &a.wg, 4, 0, "x not 16-byte aligned"},
      {dx, &a.wg, 0, 1, "rows 0"}, {dx, &a.wg, 17, 1, "rows 17 (forced)"}};
  for (int i = 0; i < 4; i++) {
    lt_gemv_bf16_force = dec[i].force;
    done = -1;
    s = lt_cuda_gemv_bf16_pair(gpu, dec[i].x, 256, &a.wg, d1, dec[i].w2, d2, dec[i].rows, &done);
    CHECK(s == LATTE_OK && done == 0, "gemv_bf16_pair %s: status %d done %d", dec[i].why, (int)s, done);
    printf("  pair declines %-30s done %d\n", dec[i].why, done);
  }
  cudaDeviceSynchronize();
  uint8_t h[8 * 64 * 2];
  gpu->download(gpu, h, d1, sizeof h);
  CHECK(all_ff(h, sizeof h), "pair errors / declines wrote y1");
  gpu->download(gpu, h, d2, sizeof h);
  CHECK(all_ff(h, sizeof h), "pair errors / declines wrote y2");
  lt_gemv_bf16_force = 1;
  gpu->dfree(gpu, dx); gpu->dfree(gpu, d1); gpu->dfree(gpu, d2);
  free_weight(&a);
  free_weight(&b);
}

/* V2-Lite q_proj + kv_a, ragged 1000 + 70 (k 512), V3 q_a + kv_a: rows 1..8 one launch under the
 * production rule, rows 12 the fallback (two linears), rows 9..16 forced through the pair kernel. */
static void test_pairs(int small) {
  const int r18[8] = {1, 2, 3, 4, 5, 6, 7, 8}, r12[1] = {12}, r916[2] = {9, 16}, r3[3] = {1, 4, 8};
  const int shapes[3][3] = {{3072, 576, 2048}, {1000, 70, 512}, {1536, 576, 7168}};
  for (int si = 0; si < (small ? 2 : 3); si++) {
    tw a, b;
    if (make_weight(&a, shapes[si][0], shapes[si][2])) return;
    if (make_weight(&b, shapes[si][1], shapes[si][2])) { free_weight(&a); return; }
    const int xpad = si == 1 ? 8 : 0;
    if (si == 2) check_pair(&a, &b, xpad, r3, 3, 0, 1, " (v3)");
    else check_pair(&a, &b, xpad, r18, 8, 0, 1, "");
    check_pair(&a, &b, xpad, r12, 1, 0, 0, "");
    check_pair(&a, &b, xpad, r916, 2, 1, 1, "");
    free_weight(&a);
    free_weight(&b);
  }
}

int main(int argc, char **argv) {
  int skip = lt_test_skip_without_gpu();
  if (skip) return skip;
  const int small = (argc > 1 && strcmp(argv[1], "small") == 0) || getenv("LT_TEST_QUICK") != NULL;
  if (lt_cuda_backend_create(0, &gpu) || lt_cpu_backend_create(0, 0, &cpu)) {
    printf("FAIL: backend create: %s\n", latte_last_error());
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  printf("device: %s%s\n", p.name, small ? " (small)" : "");
  lt_gemv_bf16_force = 1;  /* every shape, also where cuBLASLt measured faster */
  test_declines();
  /* ragged: partial 16-row tiles, partial 64-wide chunks, k below one chunk, strided x */
  const int rn[3] = {1, 17, 100}, rk[5] = {8, 24, 200, 520, 1032};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 5; j++) test_shape(rn[i], rk[j], (i + j) % 2 ? 8 : 0, 0);
  test_shape(100, 200, 0, 1);
  test_shape(1000, 1040, 16, 0);
  test_variants(small);
  test_pair_errors();
  test_pairs(small);
  /* real shapes: V2-Lite q_proj, kv_a, o_proj, lm_head (f32); V3 q_a, kv_a, q_b, o_proj, lm_head (f32) */
  const int real[9][3] = {{3072, 2048, 0}, {576, 2048, 0}, {2048, 2048, 0}, {102400, 2048, 1}, {1536, 7168, 0},
                          {576, 7168, 0},  {24576, 1536, 0}, {7168, 16384, 0}, {129280, 7168, 1}};
  for (int i = 0; i < 9; i++) {
    if (small && i != 1) continue;  /* small: V2-Lite kv_a only */
    test_shape(real[i][0], real[i][1], real[i][2] ? 0 : (i % 2 ? 64 : 0), real[i][2]);
  }
  gpu->destroy(gpu);
  cpu->destroy(cpu);
  return lt_test_done();
}
#else
int main(void) { return lt_test_skip_without_gpu(); }
#endif
