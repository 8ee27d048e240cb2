/* test_cuda_core.c — the CUDA backend's core ops (embed, rmsnorm, add_rmsnorm, add, gather_rows,
 * rope_cache_write, gather_kv, linear bf16 / FP8 w8a8, linear_f32out, rmsnorm_linear and linear_pair over FP8
 * weights) against their CPU twins on
 * bf16-rounded inputs, with poisoned outputs, real DeepSeek shapes and ragged FP8 blocks; every FP8
 * path (split-free fused / unfused, split-K, cuBLASLt, decode GEMV, mid-size kernel, wgmma kernel) is also
 * forced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "io/safetensors.h"
#include "testutil.h"
#ifdef LATTE_HAVE_CUDA
#include <cuda_runtime.h>
#include "backend/cuda/cuda_ops.h"

extern int lt_cuda_gemm_force;
extern int lt_fp8_mid_cfg, lt_fp8_mid_s, lt_fp8_mid_xq, lt_fp8_mid_st;  /* cuda_gemm_fp8_mid.cu's knobs */
extern int lt_fp8_wg_cfg, lt_fp8_wg_s, lt_fp8_wg_st, lt_fp8_wg_xin;  /* cuda_gemm_fp8_wg.cu's knobs */
extern int lt_fp8_wg_tma, lt_fp8_tma_st, lt_fp8_tma_launches;       /* ... and its TMA kernel's */
extern int lt_fp8_tma_wide_wg, lt_fp8_tma_wide_runs;  /* the wide TMA plan's warpgroups (2, 4; 0 auto), its runs */
extern int lt_fp8_tma_kw, lt_fp8_tma_kw_runs;  /* the TMA kernel's K parts (2: two warpgroups), its KW ≥ 2 runs */
extern int lt_fp8_tma_kwplan_runs;              /* launches of the automatic KW plan (17..64 rows) */
extern int lt_cuda_fp8_wg_on;
extern int lt_cuda_fp8_prequant_on;  /* cuda_norm.cu: LATTE_FP8_PREQUANT */
extern int lt_cuda_fp8_pair_one;     /* cuda_gemm.cu: LATTE_FP8_PAIR */
/* f32 output of the wgmma FP8 kernel vs the CPU's w8a8: native FP8 wgmma keeps ~14 bits when it adds the
 * aligned products of a k32 step (DeepSeek-V3 report §3.5.2; cuBLASLt's block-scaled FP8, the same
 * instructions, measured 1.6e-4 in this suite: 1536×2048 M = 300 f32 out, H200), so not the 2e-6 of the
 * other kernels (on sm_90 their mma.sync e4m3 is unpacked to f16 and run as HMMA with fp32 accumulation:
 * exact products, fp32 sums). An indexing error shows as O(1). */
#define LT_WG_F32_TOL 1e-3
static lt_backend *gpu, *cpu, *cpu8;
static unsigned long long seed = 0x1234abcdULL;

#define OK(call) do { latte_status s_ = (call); CHECK(s_ == LATTE_OK, "%s: %s", #call, latte_last_error()); \
  if (s_) return; } while (0)

static void round_bf16(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = lt_bf16_to_f32(lt_f32_to_bf16(x[i]));
}
static float *rnd(size_t n, float a) {
  float *x = malloc(n * sizeof(float));
  lt_rand_fill(x, (long)n, a, &seed);
  round_bf16(x, n);
  return x;
}
/* device bf16 copy of host f32 (already bf16-rounded) */
static void *dev_act(const float *h, size_t n) {
  void *d = NULL;
  if (gpu->alloc(gpu, (n ? n : 1) * 2, &d) || lt_cuda_f32_to_act(gpu, h, d, n)) return NULL;
  return d;
}
static void *dev_copy(const void *h, size_t bytes) {
  void *d = NULL;
  if (gpu->alloc(gpu, bytes, &d) || gpu->upload(gpu, d, h, bytes)) return NULL;
  return d;
}
static void poison(void *d, size_t bytes) { cudaMemset(d, 0xFF, bytes); cudaDeviceSynchronize(); }
/* 1 when both device buffers download and hold the same bytes */
static int dev_same(const void *a, const void *b, size_t bytes) {
  uint8_t *ha = malloc(bytes), *hb = malloc(bytes);
  const int same = ha && hb && !gpu->download(gpu, ha, a, bytes) && !gpu->download(gpu, hb, b, bytes) &&
                   !memcmp(ha, hb, bytes);
  free(ha); free(hb);
  return same;
}
static double cmp_act(const char *what, const void *d, const float *ref, size_t n, double tol) {
  float *h = malloc(n * sizeof(float));
  latte_status s = lt_cuda_act_to_f32(gpu, d, h, n);
  double e = s ? INFINITY : lt_rel_err(h, ref, (long)n);
  printf("  %-58s rel %.2e (tol %.0e)\n", what, e, tol);
  CHECK(e <= tol, "%s: rel err %.3e > %.1e", what, e, tol);
  free(h);
  return e;
}

/* ---------------- embed ---------------- */
static void test_embed(int V, int H) {
  int T = 9;
  float *e = rnd((size_t)V * H, 1.0f);
  uint16_t *eb = malloc((size_t)V * H * 2);
  for (size_t i = 0; i < (size_t)V * H; i++) eb[i] = lt_f32_to_bf16(e[i]);
  lt_st_tensor t = {.name = "emb", .dtype = LT_BF16, .ndim = 2, .shape = {V, H}, .numel = (int64_t)V * H,
                    .data = eb, .nbytes = (size_t)V * H * 2};
  lt_weight wc, wg;
  int32_t ids[9] = {0, 5, V - 1, 17, 17, 3, 100 % V, 2, 1};
  OK(cpu->weight_new(cpu, &t, NULL, &wc));
  OK(gpu->weight_new(gpu, &t, NULL, &wg));
  lt_fwd fc = {0}, fg = {0};
  int32_t qo[2] = {0, T}, sl[1] = {T}, kvp[2] = {0, T}, kvi[9], pos[9], slots[9], kvt[2] = {0, T};
  for (int i = 0; i < T; i++) { kvi[i] = i; pos[i] = i; slots[i] = i; }
  fc.num_seqs = 1; fc.num_tokens = T; fc.page_size = 1; fc.num_kv = T;
  fc.h_qo_indptr = qo; fc.h_seq_lens = sl; fc.h_kv_indptr = kvp; fc.h_kv_indices = kvi; fc.h_positions = pos;
  fc.h_out_slots = slots; fc.h_kv_tok_indptr = kvt;
  fg = fc;
  OK(cpu->set_batch(cpu, &fc, ids, NULL));
  OK(gpu->set_batch(gpu, &fg, ids, NULL));
  float *ref = malloc((size_t)T * H * sizeof(float));
  void *dx;
  OK(gpu->alloc(gpu, (size_t)T * H * 2, &dx));
  poison(dx, (size_t)T * H * 2);
  OK(cpu->embed(cpu, &fc, &wc, ref));
  OK(gpu->embed(gpu, &fg, &wg, dx));
  char what[128];
  snprintf(what, sizeof what, "embed V=%d H=%d T=%d", V, H, T);
  cmp_act(what, dx, ref, (size_t)T * H, 0.0);
  gpu->dfree(gpu, dx);
  gpu->weight_free(gpu, &wg);
  cpu->weight_free(cpu, &wc);
  free(e); free(eb); free(ref);
}

/* ---------------- rmsnorm (strided, in place), add_rmsnorm, add, gather_rows ---------------- */
static void test_norms(int rows, int dim) {
  char what[128];
  int64_t xs = dim + 64;  /* strided input rows, as q_a / kv_a slices */
  float *x = rnd((size_t)rows * xs, 2.0f), *w = rnd(dim, 1.0f);
  for (int i = 0; i < dim; i++) w[i] += 1.0f;
  float *ref = malloc((size_t)(rows > 5 ? rows : 5) * xs * sizeof(float));
  void *dx = dev_act(x, (size_t)rows * xs), *dy, *dw = dev_copy(w, dim * sizeof(float));
  OK(gpu->alloc(gpu, (size_t)rows * dim * 2, &dy));
  poison(dy, (size_t)rows * dim * 2);
  OK(cpu->rmsnorm(cpu, x, xs, w, ref, dim, rows, dim, 1e-6f));
  OK(gpu->rmsnorm(gpu, dx, xs, dw, dy, dim, rows, dim, 1e-6f));
  snprintf(what, sizeof what, "rmsnorm rows=%d dim=%d x_stride=%lld", rows, dim, (long long)xs);
  cmp_act(what, dy, ref, (size_t)rows * dim, 1e-2);
  /* in place, contiguous */
  float *xc = rnd((size_t)rows * dim, 3.0f);
  void *dxc = dev_act(xc, (size_t)rows * dim);
  OK(cpu->rmsnorm(cpu, xc, dim, w, ref, dim, rows, dim, 1e-6f));
  OK(gpu->rmsnorm(gpu, dxc, dim, dw, dxc, dim, rows, dim, 1e-6f));
  snprintf(what, sizeof what, "rmsnorm in place rows=%d dim=%d", rows, dim);
  cmp_act(what, dxc, ref, (size_t)rows * dim, 1e-2);
  /* add_rmsnorm */
  float *r = rnd((size_t)rows * dim, 4.0f), *d = rnd((size_t)rows * dim, 1.0f);
  void *dr = dev_act(r, (size_t)rows * dim), *dd = dev_act(d, (size_t)rows * dim);
  poison(dy, (size_t)rows * dim * 2);
  OK(cpu->add_rmsnorm(cpu, r, d, w, ref, rows, dim, 1e-6f));
  OK(gpu->add_rmsnorm(gpu, dr, dd, dw, dy, rows, dim, 1e-6f));
  snprintf(what, sizeof what, "add_rmsnorm y rows=%d dim=%d", rows, dim);
  cmp_act(what, dy, ref, (size_t)rows * dim, 1e-2);
  snprintf(what, sizeof what, "add_rmsnorm resid rows=%d dim=%d", rows, dim);
  cmp_act(what, dr, r, (size_t)rows * dim, 1e-2);
  /* add (vector and odd-length scalar path) */
  OK(cpu->add(cpu, r, d, (int64_t)rows * dim));
  OK(gpu->add(gpu, dr, dd, (int64_t)rows * dim));
  snprintf(what, sizeof what, "add n=%d", rows * dim);
  cmp_act(what, dr, r, (size_t)rows * dim, 1e-2);
  OK(cpu->add(cpu, r, d, dim - 3));
  OK(gpu->add(gpu, dr, dd, dim - 3));
  snprintf(what, sizeof what, "add n=%d", dim - 3);
  cmp_act(what, dr, r, (size_t)rows * dim, 1e-2);
  /* gather_rows (fresh bf16 data: r above holds f32 sums the GPU stored as bf16) */
  float *gx = rnd((size_t)rows * dim, 1.0f);
  void *dgx = dev_act(gx, (size_t)rows * dim);
  int n = 5;
  int32_t sel[5] = {rows - 1, 0, rows / 2, rows - 1, 1 % rows};
  int32_t *dsel = dev_copy(sel, sizeof sel);
  void *dg;
  OK(gpu->alloc(gpu, (size_t)n * dim * 2, &dg));
  poison(dg, (size_t)n * dim * 2);
  OK(cpu->gather_rows(cpu, gx, sel, n, dim, ref));
  OK(gpu->gather_rows(gpu, dgx, dsel, n, dim, dg));
  snprintf(what, sizeof what, "gather_rows n=%d dim=%d", n, dim);
  cmp_act(what, dg, ref, (size_t)n * dim, 0.0);
  gpu->dfree(gpu, dx); gpu->dfree(gpu, dy); gpu->dfree(gpu, dw); gpu->dfree(gpu, dxc); gpu->dfree(gpu, dr);
  gpu->dfree(gpu, dd); gpu->dfree(gpu, dsel); gpu->dfree(gpu, dg); gpu->dfree(gpu, dgx);
  free(gx); free(x); free(w); free(ref); free(xc); free(r); free(d);
}

/* ---------------- rope_cache_write + gather_kv over a mixed batch ---------------- */
static void test_rope(int heads, int page_size) {
  const int dn = 128, dr = 64, r = 512, W = r + dr, max_pos = 4096;
  /* prefill (new), decode, extend, decode, prefill(long) */
  int B = 5, qlen[5] = {5, 1, 3, 1, 70}, slen[5] = {5, 37, 70, 130, 70};
  int32_t qo[6], sl[5], kvp[6], kvt[6], kvi[64], pos[256], slots[256];
  int T = 0, np = 0, nkv = 0;
  qo[0] = kvp[0] = kvt[0] = 0;
  int npages_total = 0;
  for (int s = 0; s < B; s++) npages_total += (slen[s] + page_size - 1) / page_size;
  /* pages handed out in a scrambled order */
  int *perm = malloc(sizeof(int) * npages_total);
  for (int i = 0; i < npages_total; i++) perm[i] = i;
  for (int i = npages_total - 1; i > 0; i--) {
    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
    int j = (int)(seed % (unsigned long long)(i + 1)), t = perm[i];
    perm[i] = perm[j]; perm[j] = t;
  }
  int32_t *kvix = malloc(sizeof(int32_t) * npages_total);
  for (int s = 0; s < B; s++) {
    int pages = (slen[s] + page_size - 1) / page_size;
    for (int p = 0; p < pages; p++) { kvix[np] = perm[np]; np++; }
    kvp[s + 1] = np;
    sl[s] = slen[s];
    kvt[s + 1] = kvt[s] + slen[s];
    for (int i = 0; i < qlen[s]; i++) {
      int j = slen[s] - qlen[s] + i;
      pos[T] = j;
      slots[T] = kvix[kvp[s] + j / page_size] * page_size + j % page_size;
      T++;
    }
    qo[s + 1] = T;
  }
  nkv = kvt[B];
  (void)kvi;
  lt_fwd fc = {0};
  fc.num_seqs = B; fc.num_tokens = T; fc.page_size = page_size; fc.num_kv = nkv; fc.n_logits = 0;
  fc.max_q_len = 70; fc.max_seq_len = 130;
  fc.h_qo_indptr = qo; fc.h_seq_lens = sl; fc.h_kv_indptr = kvp; fc.h_kv_indices = kvix; fc.h_positions = pos;
  fc.h_out_slots = slots; fc.h_kv_tok_indptr = kvt;
  lt_fwd fg = fc;
  int32_t *ids = calloc(T, sizeof(int32_t));
  OK(cpu->set_batch(cpu, &fc, ids, NULL));
  OK(gpu->set_batch(gpu, &fg, ids, NULL));
  /* rope table */
  float *cs = malloc(sizeof(float) * max_pos * (dr / 2)), *sn = malloc(sizeof(float) * max_pos * (dr / 2));
  for (int p = 0; p < max_pos; p++)
    for (int i = 0; i < dr / 2; i++) {
      double f = pow(10000.0, -2.0 * i / dr) * p;
      cs[p * (dr / 2) + i] = (float)(cos(f) * 1.1);
      sn[p * (dr / 2) + i] = (float)(sin(f) * 1.1);
    }
  lt_rope rc = {max_pos, dr, cs, sn}, rg = {max_pos, dr, dev_copy(cs, sizeof(float) * max_pos * (dr / 2)),
                                           dev_copy(sn, sizeof(float) * max_pos * (dr / 2))};
  size_t qn = (size_t)T * heads * (dn + dr), cn = (size_t)npages_total * page_size * W;
  float *q = rnd(qn, 2.0f), *c = rnd((size_t)T * r, 1.0f), *kva = rnd((size_t)T * W, 1.5f), *cache = rnd(cn, 1.0f);
  void *dq = dev_act(q, qn), *dc = dev_act(c, (size_t)T * r), *dkva = dev_act(kva, (size_t)T * W);
  void *dcache = dev_act(cache, cn);
  /* pass 0: c given normalised (rows of r); pass 1: the kv_a_layernorm folded in, c = kva's first r
   * values (rows of W), normalised inside with weights nw */
  float *nw = rnd((size_t)r, 1.0f);
  float *dnw = (float *)dev_copy(nw, sizeof(float) * r);
  char what[128];
  for (int pass = 0; pass < 2; pass++) {
    OK(cpu->rope_cache_write(cpu, &fc, &rc, q, heads, dn, dr, pass ? kva : c, pass ? W : r, pass ? nw : NULL, 1e-6f,
                             kva + r, W, r, cache));
    OK(gpu->rope_cache_write(gpu, &fg, &rg, dq, heads, dn, dr, pass ? dkva : dc, pass ? W : r, pass ? dnw : NULL,
                             1e-6f, (uint16_t *)dkva + r, W, r, dcache));
    snprintf(what, sizeof what, "rope q heads=%d page=%d T=%d%s", heads, page_size, T, pass ? " (2nd)" : "");
    cmp_act(what, dq, q, qn, 1e-2);
    snprintf(what, sizeof what, "rope cache write heads=%d page=%d%s", heads, page_size, pass ? " + kv norm" : "");
    cmp_act(what, dcache, cache, cn, 1e-2);
  }
  gpu->dfree(gpu, dnw);
  free(nw);
  float *lat = malloc(sizeof(float) * (size_t)nkv * W);
  void *dlat;
  OK(gpu->alloc(gpu, (size_t)nkv * W * 2, &dlat));
  poison(dlat, (size_t)nkv * W * 2);
  OK(cpu->gather_kv(cpu, &fc, cache, W, lat));
  OK(gpu->gather_kv(gpu, &fg, dcache, W, dlat));
  snprintf(what, sizeof what, "gather_kv page=%d num_kv=%d", page_size, nkv);
  cmp_act(what, dlat, lat, (size_t)nkv * W, 1e-2);
  gpu->dfree(gpu, dq); gpu->dfree(gpu, dc); gpu->dfree(gpu, dkva); gpu->dfree(gpu, dcache); gpu->dfree(gpu, dlat);
  gpu->dfree(gpu, rg.cos); gpu->dfree(gpu, rg.sin);
  free(perm); free(kvix); free(ids); free(cs); free(sn); free(q); free(c); free(kva); free(cache); free(lat);
}

/* ---------------- linear ---------------- */
typedef struct {
  int n, k, fp8;
  void *wdata;
  float *sc;
  lt_weight wc, wg;
} tw;

static int make_weight(tw *t, int n, int k, int fp8) {
  memset(t, 0, sizeof *t);
  t->n = n; t->k = k; t->fp8 = fp8;
  size_t nk = (size_t)n * k;
  lt_st_tensor wt = {.name = "w", .ndim = 2, .shape = {n, k}, .numel = (int64_t)nk};
  lt_st_tensor st = {.name = "w_scale_inv", .dtype = LT_F32, .ndim = 2};
  if (fp8) {
    uint8_t *q = malloc(nk);
    for (size_t i = 0; i < nk; i++) {  /* sign, exponent 4..10, any mantissa: ±2^-3 .. 2^3 */
      seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
      uint32_t u = (uint32_t)(seed >> 20);
      q[i] = (uint8_t)((u & 0x80) | ((4 + (u >> 8) % 7) << 3) | (u & 7));
    }
    int64_t sn = (n + 127) / 128, sk = (k + 127) / 128;
    t->sc = malloc(sizeof(float) * sn * sk);
    for (int64_t i = 0; i < sn * sk; i++) {
      seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
      t->sc[i] = (0.5f + (float)((seed >> 40) % 1000) / 1000.0f) * 1e-2f;
    }
    wt.dtype = LT_F8E4M3; wt.data = q; wt.nbytes = nk;
    st.shape[0] = sn; st.shape[1] = sk; st.numel = sn * sk; st.data = t->sc; st.nbytes = sizeof(float) * sn * sk;
    t->wdata = q;
  } else {
    float *f = rnd(nk, 0.05f);
    uint16_t *h = malloc(nk * 2);
    for (size_t i = 0; i < nk; i++) h[i] = lt_f32_to_bf16(f[i]);
    free(f);
    wt.dtype = LT_BF16; wt.data = h; wt.nbytes = nk * 2;
    t->wdata = h;
  }
  lt_backend *c = fp8 ? cpu8 : cpu;
  if (c->weight_new(c, &wt, fp8 ? &st : NULL, &t->wc) || gpu->weight_new(gpu, &wt, fp8 ? &st : NULL, &t->wg)) {
    CHECK(0, "weight_new %dx%d: %s", n, k, latte_last_error());
    return 1;
  }
  CHECK(t->wg.dtype == (fp8 ? LT_F8E4M3 : LT_BF16), "cuda weight dtype");
  return 0;
}
static void free_weight(tw *t) {
  lt_backend *c = t->fp8 ? cpu8 : cpu;
  c->weight_free(c, &t->wc);
  gpu->weight_free(gpu, &t->wg);
  free(t->wdata); free(t->sc);
}

/* y = x · Wᵀ on both backends (x: M rows, row stride k + xs_pad, outliers per row; y poisoned first),
 * relative error ≤ tol (< 0: the default, 2e-2 FP8 / 1e-2 bf16) */
static void run_linear_tol(tw *t, int M, int xs_pad, int f32out, const char *tag, double tol) {
  int n = t->n, k = t->k;
  int64_t xs = f32out ? k : k + xs_pad;
  lt_backend *c = t->fp8 ? cpu8 : cpu;
  float *x = rnd((size_t)M * xs, 1.0f);
  for (int i = 0; i < M; i++) x[(size_t)i * xs + (i * 37) % k] *= 8.0f;  /* outliers per row */
  float *ref = malloc(sizeof(float) * (size_t)M * n);
  void *dx = dev_act(x, (size_t)M * xs), *dy;
  size_t yb = (size_t)M * n * (f32out ? 4 : 2);
  if (gpu->alloc(gpu, yb, &dy)) { CHECK(0, "alloc"); return; }
  poison(dy, yb);
  latte_status s1, s2;
  if (f32out) {
    s1 = c->linear_f32out(c, x, &t->wc, ref, M);
    s2 = gpu->linear_f32out(gpu, dx, &t->wg, dy, M);
  } else {
    s1 = c->linear(c, x, xs, &t->wc, ref, M);
    s2 = gpu->linear(gpu, dx, xs, &t->wg, dy, M);
  }
  CHECK(!s1 && !s2, "linear %dx%d M=%d: %s", n, k, M, latte_last_error());
  double e;
  if (tol < 0) tol = t->fp8 ? 2e-2 : 1e-2;
  char what[160];
  snprintf(what, sizeof what, "linear%s %s n=%d k=%d M=%d%s%s", f32out ? "_f32out" : "", t->fp8 ? "fp8" : "bf16", n,
           k, M, xs != k ? " strided" : "", tag);
  if (f32out) {
    float *h = malloc(yb);
    gpu->download(gpu, h, dy, yb);
    e = lt_rel_err(h, ref, (long)M * n);
    printf("  %-58s rel %.2e (tol %.0e)\n", what, e, tol);
    CHECK(e <= tol, "%s: rel err %.3e", what, e);
    free(h);
  } else {
    cmp_act(what, dy, ref, (size_t)M * n, tol);
  }
  gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
  free(x); free(ref);
}

static void run_linear(tw *t, int M, int xs_pad, int f32out, const char *tag) {
  run_linear_tol(t, M, xs_pad, f32out, tag, -1.0);
}

/* Two forced runs of linear at M rows (bf16 out, y poisoned before each) give the same bytes. */
static void check_deterministic(tw *t, int M, const char *what) {
  float *x = rnd((size_t)M * t->k, 1.0f);
  void *dx = dev_act(x, (size_t)M * t->k), *dy = NULL;
  const size_t yb = (size_t)M * t->n * 2;
  uint16_t *h1 = malloc(yb), *h2 = malloc(yb);
  int ok = dx && !gpu->alloc(gpu, yb, &dy);
  if (ok) { poison(dy, yb); ok = !gpu->linear(gpu, dx, t->k, &t->wg, dy, M) && !gpu->download(gpu, h1, dy, yb); }
  if (ok) { poison(dy, yb); ok = !gpu->linear(gpu, dx, t->k, &t->wg, dy, M) && !gpu->download(gpu, h2, dy, yb); }
  CHECK(ok && !memcmp(h1, h2, yb), "%s n=%d k=%d M=%d: two runs differ (or failed: %s)", what, t->n, t->k, M,
        latte_last_error());
  if (ok) printf("  %s n=%d k=%d M=%d: two runs bitwise equal\n", what, t->n, t->k, M);
  free(h1); free(h2); free(x);
  if (dx) gpu->dfree(gpu, dx);
  if (dy) gpu->dfree(gpu, dy);
}

/* ---- FP8 linears fed x quantised by another op: rmsnorm_linear (the norm's launch writes the e4m3 input)
 * and linear_pair (x quantised once for both weights; or both weights in one launch). Each run on the GPU
 * unfused (lt_cuda_fp8_prequant_on = 0: the norm, then each linear quantising its own input) and fused — bit
 * for bit equal outputs (same quantised bytes into the same GEMM; the one-launch pair at a forced common K
 * split); against the CPU's w8a8 (its rmsnorm rounded to bf16, what the GPU quantises) within 4e-3 (bf16
 * output), outputs poisoned first. ---- */
static void test_rmsnorm_linear(int n, int k, int rows) {
  tw t;
  if (make_weight(&t, n, k, 1)) return;
  float *x = rnd((size_t)rows * k, 2.0f), *ln = rnd(k, 1.0f);
  for (int i = 0; i < k; i++) ln[i] += 1.0f;
  float *xn = malloc(sizeof(float) * rows * k), *ref = malloc(sizeof(float) * rows * n);
  CHECK(!cpu->rmsnorm(cpu, x, k, ln, xn, k, rows, k, 1e-6f), "cpu rmsnorm");
  round_bf16(xn, (size_t)rows * k);
  CHECK(!cpu8->linear(cpu8, xn, k, &t.wc, ref, rows), "cpu linear: %s", latte_last_error());
  void *dw = dev_copy(ln, sizeof(float) * k), *dx[2] = {NULL, NULL}, *dy[2] = {NULL, NULL};
  const size_t yb = (size_t)rows * n * 2, xb = (size_t)rows * k * 2;
  char what[160];
  for (int f = 0; f < 2; f++) {  /* x normalised in place (xn == x), as the model's q_a_layernorm */
    lt_cuda_fp8_prequant_on = f;
    dx[f] = dev_act(x, (size_t)rows * k);
    CHECK(dx[f] && !gpu->alloc(gpu, yb, &dy[f]), "alloc");
    if (!dx[f] || !dy[f]) break;
    poison(dy[f], yb);
    latte_status s = gpu->rmsnorm_linear(gpu, dx[f], k, dw, 1e-6f, dx[f], &t.wg, dy[f], rows);
    CHECK(!s && !gpu->sync(gpu), "rmsnorm_linear n=%d k=%d rows=%d: %s", n, k, rows, latte_last_error());
    snprintf(what, sizeof what, "rmsnorm_linear fp8 n=%d k=%d rows=%d %s", n, k, rows, f ? "fused" : "unfused");
    cmp_act(what, dy[f], ref, (size_t)rows * n, 4e-3);
    snprintf(what, sizeof what, "  its xn (in place) n=%d k=%d rows=%d %s", n, k, rows, f ? "fused" : "unfused");
    cmp_act(what, dx[f], xn, (size_t)rows * k, 1e-2);
  }
  lt_cuda_fp8_prequant_on = 1;
  if (dy[0] && dy[1]) {
    const int same = dev_same(dy[0], dy[1], yb) && dev_same(dx[0], dx[1], xb);
    CHECK(same, "rmsnorm_linear n=%d k=%d rows=%d: fused and unfused bits differ (or a download failed)", n, k, rows);
    if (same) printf("  rmsnorm_linear n=%d k=%d rows=%d: fused == unfused, bit for bit\n", n, k, rows);
  }
  for (int f = 0; f < 2; f++) { gpu->dfree(gpu, dx[f]); gpu->dfree(gpu, dy[f]); }
  gpu->dfree(gpu, dw);
  free(x); free(ln); free(xn); free(ref);
  free_weight(&t);
}

/* linear_pair's three GPU forms: 0 two plain linears, 1 x quantised once then one launch per weight, 2 one
 * launch for both weights (lt_cuda_fp8_wg_pair); outputs poisoned first */
static int run_pair(int mode, void *dx, int k, tw *a, void *y1, size_t b1, tw *b, void *y2, size_t b2, int rows) {
  lt_cuda_fp8_prequant_on = mode >= 1;
  lt_cuda_fp8_pair_one = mode == 2;
  poison(y1, b1);
  poison(y2, b2);
  latte_status s = gpu->linear_pair(gpu, dx, k, &a->wg, y1, &b->wg, y2, rows);
  lt_cuda_fp8_prequant_on = lt_cuda_fp8_pair_one = 1;
  CHECK(!s && !gpu->sync(gpu), "linear_pair fp8 %lld+%lld k=%d rows=%d mode %d: %s", (long long)a->wg.n,
        (long long)b->wg.n, k, rows, mode, latte_last_error());
  return !s;
}

static void test_fp8_pair(int n1, int n2, int k, int rows) {
  static const char *form[3] = {"seq", "x once", "one launch"};
  tw a, b;
  if (make_weight(&a, n1, k, 1)) return;
  if (make_weight(&b, n2, k, 1)) { free_weight(&a); return; }
  float *x = rnd((size_t)rows * k, 1.0f), *r1 = malloc(sizeof(float) * rows * n1), *r2 = malloc(sizeof(float) * rows * n2);
  CHECK(!cpu8->linear_pair(cpu8, x, k, &a.wc, r1, &b.wc, r2, rows), "cpu linear_pair: %s", latte_last_error());
  void *dx = dev_act(x, (size_t)rows * k), *d[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
  const size_t b1 = (size_t)rows * n1 * 2, b2 = (size_t)rows * n2 * 2;
  char what[160];
  int ok = dx != NULL;
  for (int f = 0; f < 3 && ok; f++) {
    ok = !gpu->alloc(gpu, b1, &d[f][0]) && !gpu->alloc(gpu, b2, &d[f][1]);
    CHECK(ok, "alloc");
    if (ok && run_pair(f, dx, k, &a, d[f][0], b1, &b, d[f][1], b2, rows)) {
      snprintf(what, sizeof what, "linear_pair fp8 %d+%d k=%d rows=%d %s: y1", n1, n2, k, rows, form[f]);
      cmp_act(what, d[f][0], r1, (size_t)rows * n1, 4e-3);
      snprintf(what, sizeof what, "linear_pair fp8 %d+%d k=%d rows=%d %s: y2", n1, n2, k, rows, form[f]);
      cmp_act(what, d[f][1], r2, (size_t)rows * n2, 4e-3);
    }
  }
  if (ok) {
    int same = dev_same(d[0][0], d[1][0], b1) && dev_same(d[0][1], d[1][1], b2);
    CHECK(same, "linear_pair fp8 %d+%d k=%d rows=%d: x once and seq bits differ (or a download failed)", n1, n2, k,
          rows);
    if (same) printf("  linear_pair fp8 %d+%d k=%d rows=%d: x once == seq, bit for bit\n", n1, n2, k, rows);
    /* one launch == one launch per weight at the same K split (the automatic split counts both weights' tiles) */
    lt_fp8_wg_s = k / 128 < 3 ? k / 128 : 3;
    same = run_pair(1, dx, k, &a, d[1][0], b1, &b, d[1][1], b2, rows) &&
           run_pair(2, dx, k, &a, d[2][0], b1, &b, d[2][1], b2, rows) && dev_same(d[1][0], d[2][0], b1) &&
           dev_same(d[1][1], d[2][1], b2);
    lt_fp8_wg_s = 0;
    CHECK(same, "linear_pair fp8 %d+%d k=%d rows=%d: one launch and x once bits differ at one K split", n1, n2, k, rows);
    if (same) printf("  linear_pair fp8 %d+%d k=%d rows=%d: one launch == x once at one K split, bit for bit\n", n1,
                     n2, k, rows);
  }
  for (int f = 0; f < 3; f++) { gpu->dfree(gpu, d[f][0]); gpu->dfree(gpu, d[f][1]); }
  gpu->dfree(gpu, dx);
  free(x); free(r1); free(r2);
  free_weight(&a);
  free_weight(&b);
}

/* The wgmma FP8 kernel (forced) with x quantised inside its blocks (lt_fp8_wg_xin = 1: wherever it can, ≤ 8
 * rows, x rows 16-byte aligned) and by lt_k_quant_rows first (2): the same quantised bytes, so the same bits;
 * x row stride k + pad (pad 3: unaligned rows, the in-block path declines), bf16 or f32 output. */
static void check_wg_xin(tw *t, int M, int pad, int f32) {
  const int64_t xs = t->k + pad;
  float *x = rnd((size_t)M * xs, 1.0f);
  void *dx = dev_act(x, (size_t)M * xs), *dy = NULL;
  const size_t yb = (size_t)M * t->n * (f32 ? 4 : 2);
  uint8_t *h[2] = {malloc(yb), malloc(yb)};
  int ok = dx && !gpu->alloc(gpu, yb, &dy);
  for (int v = 0; v < 2 && ok; v++) {
    lt_fp8_wg_xin = v ? 2 : 1;
    lt_fp8_wg_tma = 2;  /* the in-block quantisation is the cp.async kernel's: compare it with its own kernel */
    poison(dy, yb);
    ok = !(f32 ? gpu->linear_f32out(gpu, dx, &t->wg, (float *)dy, M) : gpu->linear(gpu, dx, xs, &t->wg, dy, M)) &&
         !gpu->download(gpu, h[v], dy, yb);
  }
  lt_fp8_wg_xin = 0;
  lt_fp8_wg_tma = 0;
  const int same = ok && !memcmp(h[0], h[1], yb);
  CHECK(same, "fp8 wg n=%d k=%d M=%d x stride k+%d%s: x quantised in the blocks vs "
        "first: bits differ (or failed: %s)", t->n, t->k, M, pad, f32 ? " f32" : "", latte_last_error());
  if (same) printf("  fp8 wg n=%d k=%d M=%d x stride k+%d%s: x quantised in the blocks == first, bit for bit\n", t->n,
                 t->k, M, pad, f32 ? " f32 out" : "");
  free(h[0]); free(h[1]); free(x);
  if (dx) gpu->dfree(gpu, dx);
  if (dy) gpu->dfree(gpu, dy);
}

/* The wgmma FP8 kernel's two feeds (forced, x quantised first): the TMA kernel (lt_fp8_wg_tma = 1, ring of st
 * stages; 0 = automatic) and the cp.async kernel (2) at the same warpgroups (wg) and K split (S; 0 = automatic):
 * the same bits, and the TMA kernel must have run (its launch counter). Its values against the CPU: the
 * run_linear_tol cases, which take it by default. */
static void check_wg_tma(tw *t, int M, int wg, int S, int st, int f32, int qx) {
  float *x = rnd((size_t)M * t->k, 1.0f);
  void *dx = dev_act(x, (size_t)M * t->k), *dy = NULL;
  const size_t yb = (size_t)M * t->n * (f32 ? 4 : 2);
  uint8_t *h[2] = {malloc(yb), malloc(yb)};
  int ok = dx && !gpu->alloc(gpu, yb, &dy), ran = 0;
  lt_fp8_wg_cfg = wg; lt_fp8_wg_s = S; lt_fp8_tma_st = st;
  for (int v = 0; v < 2 && ok; v++) {
    lt_fp8_wg_tma = v ? 2 : 1;
    lt_fp8_wg_xin = !v && qx ? 1 : 2;  /* qx: the TMA kernel quantises x in its blocks (≤ 8 rows) */
    const int n0 = lt_fp8_tma_launches;
    poison(dy, yb);
    ok = !(f32 ? gpu->linear_f32out(gpu, dx, &t->wg, (float *)dy, M) : gpu->linear(gpu, dx, t->k, &t->wg, dy, M)) &&
         !gpu->download(gpu, h[v], dy, yb);
    if (v == 0) ran = lt_fp8_tma_launches > n0;
  }
  lt_fp8_wg_cfg = lt_fp8_wg_s = lt_fp8_tma_st = lt_fp8_wg_xin = lt_fp8_wg_tma = 0;
  const int same = ok && ran && !memcmp(h[0], h[1], yb);
  CHECK(same, "fp8 wg n=%d k=%d M=%d wg %d S %d ST %d%s%s: TMA vs cp.async kernel: bits differ, or the TMA kernel "
        "did not run (ran %d; %s)", t->n, t->k, M, wg, S, st, f32 ? " f32" : "", qx ? " x in-block" : "", ran,
        latte_last_error());
  if (same) printf("  fp8 wg n=%d k=%d M=%d wg %d S %d ST %d%s%s: TMA kernel == cp.async kernel, bit for bit\n", t->n,
                   t->k, M, wg, S, st, f32 ? " f32 out" : "", qx ? " (TMA: x quantised in its blocks)" : "");
  free(h[0]); free(h[1]); free(x);
  if (dx) gpu->dfree(gpu, dx);
  if (dy) gpu->dfree(gpu, dy);
}

/* The TMA kernel with its K-groups dealt out to kw (2 or 4) consumer warpgroups per 64 rows (lt_fp8_tma_kw = kw;
 * its own sum order, so against the CPU): forced warpgroups wg, K split S and ring st (made a multiple of kw), and
 * the KW ≥ 2 launch counter must move. */
static void check_wg_kw(tw *t, int M, int wg, int S, int st, int f32, int kw) {
  char tag[96];
  snprintf(tag, sizeof tag, " [TMA, %d K parts, wg %d S %d ST %d]", kw, wg, S, st);
  lt_fp8_wg_tma = 1; lt_fp8_wg_cfg = wg; lt_fp8_wg_s = S; lt_fp8_tma_st = st; lt_fp8_tma_kw = kw; lt_fp8_wg_xin = 2;
  const int n0 = lt_fp8_tma_kw_runs;
  run_linear_tol(t, M, 0, f32, tag, f32 ? LT_WG_F32_TOL : 4e-3);
  CHECK(lt_fp8_tma_kw_runs == n0 + 1, "fp8 wg n=%d k=%d M=%d%s: ran %d times with %d K parts, not once", t->n, t->k,
        M, tag, lt_fp8_tma_kw_runs - n0, kw);
  lt_fp8_wg_tma = lt_fp8_wg_cfg = lt_fp8_wg_s = lt_fp8_tma_st = lt_fp8_tma_kw = lt_fp8_wg_xin = 0;
}

static void test_linear_shape(int n, int k, int fp8, const int *Ms, int nm) {
  tw t;
  if (make_weight(&t, n, k, fp8)) return;
  for (int i = 0; i < nm; i++) run_linear(&t, Ms[i], i == 1 ? 64 : 0, 0, "");
  free_weight(&t);
}

int main(void) {
  int skip = lt_test_skip_without_gpu();
  if (skip) return skip;
  if (lt_cuda_backend_create(1, &gpu) || lt_cpu_backend_create(0, 0, &cpu) || lt_cpu_backend_create(1, 0, &cpu8)) {
    printf("FAIL: backend create: %s\n", latte_last_error());
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  printf("device: %s\n", p.name);
  test_embed(1000, 2048);
  test_embed(517, 7168);
  int dims[4] = {2048, 7168, 512, 1536};
  for (int i = 0; i < 4; i++) test_norms(7, dims[i]);
  test_norms(3, 100);  /* unaligned scalar paths */
  for (int ps = 0; ps < 2; ps++) { test_rope(16, ps ? 64 : 1); test_rope(128, ps ? 64 : 1); }

  const int Ms[4] = {1, 7, 64, 512};
  /* FP8 (automatic dispatch): 1..64 rows the wgmma kernel where k % 128 == 0; else M = 1 the decode GEMV,
   * 7..16 the mid-size kernel, 17..64 the mid-size kernel at rows · n · k ≤ 2^29, else cuBLASLt; M = 7
   * (second entry) with a padded row stride */
  const int Ms8[8] = {1, 7, 8, 16, 17, 33, 64, 512};
  /* ragged fixtures (bf16 and fp8) */
  int rag[3][2] = {{160, 256}, {384, 192}, {256, 96}};
  for (int i = 0; i < 3; i++) {
    test_linear_shape(rag[i][0], rag[i][1], 0, Ms, 4);
    test_linear_shape(rag[i][0], rag[i][1], 1, Ms8, 8);
  }
  /* each FP8 path forced on the ragged fixtures: split-free (fused at M ≤ 16, else after the
   * quantisation kernel), the split-K kernel; an odd x row stride (unaligned rows: scalar x loads) */
  for (int i = 0; i < 3; i++) {
    tw t;
    if (make_weight(&t, rag[i][0], rag[i][1], 1)) continue;
    lt_cuda_gemm_force = 1;
    run_linear(&t, 3, 3, 0, " [split-free, x stride k+3]");
    run_linear(&t, 16, 0, 0, " [split-free]");
    run_linear(&t, 40, 0, 0, " [split-free]");
    run_linear(&t, 64, 8, 0, " [split-free]");
    lt_cuda_gemm_force = 3;
    run_linear(&t, 7, 0, 0, " [split-K]");
    lt_cuda_gemm_force = 0;
    free_weight(&t);
  }
  /* real shapes: V2-Lite and V3 (LT_TEST_QUICK=1 skips them, e.g. under compute-sanitizer) */
  int quick = getenv("LT_TEST_QUICK") != NULL;
  int real[][2] = {{2048, 2048}, {1536, 7168}, {24576, 1536}, {576, 7168}, {7168, 16384}, {2048, 7168}};
  for (int i = 0; i < (quick ? 0 : 6); i++) test_linear_shape(real[i][0], real[i][1], 1, Ms8, 8);
  for (int i = 0; i < (quick ? 0 : 4); i++) test_linear_shape(real[i][0], real[i][1], 0, Ms, 4);
  /* our FP8 kernel at M = 512 too, and cuBLASLt at M = 64 */
  {
    tw t;
    if (!make_weight(&t, 576, 7168, 1)) {
      lt_cuda_gemm_force = 1; run_linear(&t, 512, 0, 0, " [own kernel]");
      run_linear(&t, 1, 0, 0, " [split-free, K split over a cluster]");
      run_linear(&t, 64, 0, 0, " [split-free]");
      run_linear(&t, 33, 0, 1, " [split-free]");
      lt_cuda_gemm_force = 3; run_linear(&t, 8, 0, 0, " [split-K]");
      lt_cuda_gemm_force = 2; run_linear(&t, 64, 0, 0, " [cuBLASLt]");
      lt_cuda_gemm_force = 0;
      free_weight(&t);
    }
  }
  /* the FP8 decode GEMV forced (force 4): ragged fixtures and real shapes, strided x, f32 output, one
   * launch twice bitwise equal, and its declines (rows > 16, odd x stride) reported as errors */
  {
    int g8[][2] = {{160, 256}, {384, 192}, {256, 96}, {7168, 2048}, {576, 7168}};
    for (int i = 0; i < (quick ? 3 : 5); i++) {
      tw t;
      if (make_weight(&t, g8[i][0], g8[i][1], 1)) continue;
      lt_cuda_gemm_force = 4;
      run_linear(&t, 1, 0, 0, " [fp8 gemv]");
      run_linear(&t, 5, 64, 0, " [fp8 gemv]");
      run_linear(&t, 16, 0, 0, " [fp8 gemv]");
      run_linear(&t, 9, 0, 1, " [fp8 gemv]");
      if (i == 0) {
        void *dx = NULL, *dy = NULL;
        float *x = rnd((size_t)17 * t.k, 1.0f);
        dx = dev_act(x, (size_t)17 * t.k);
        gpu->alloc(gpu, (size_t)17 * t.n * 2, &dy);
        uint16_t *h1 = malloc((size_t)8 * t.n * 2), *h2 = malloc((size_t)8 * t.n * 2);
        int ok = !gpu->linear(gpu, dx, t.k, &t.wg, dy, 8) && !gpu->download(gpu, h1, dy, (size_t)8 * t.n * 2) &&
                 !gpu->linear(gpu, dx, t.k, &t.wg, dy, 8) && !gpu->download(gpu, h2, dy, (size_t)8 * t.n * 2);
        CHECK(ok && !memcmp(h1, h2, (size_t)8 * t.n * 2), "fp8 gemv: two runs differ (or failed: %s)", latte_last_error());
        CHECK(gpu->linear(gpu, dx, t.k, &t.wg, dy, 17) != LATTE_OK, "fp8 gemv forced at 17 rows should decline");
        CHECK(gpu->linear(gpu, dx, t.k + 3, &t.wg, dy, 4) != LATTE_OK, "fp8 gemv forced with x stride k+3 should decline");
        printf("  fp8 gemv: deterministic over two runs; declines 17 rows and an odd x stride\n");
        free(h1); free(h2); free(x);
        gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
      }
      lt_cuda_gemm_force = 0;
      free_weight(&t);
    }
  }
  /* the mid-size FP8 kernel forced (force 5): ragged fixtures and real shapes at rows 5 (x stride k + 64), 8,
   * 16, 33 (x stride k + 8), 64 with bf16 output within its rounding (4e-3) and f32 output at 2e-6 from the
   * CPU's w8a8; every block shape and x quantisation place once with a forced K split and ring depth
   * (f32 out); two runs bitwise equal; its declines (65 rows, odd x stride) reported as errors */
  {
    int f5[][2] = {{160, 256}, {384, 192}, {256, 96}, {7168, 2048}, {576, 7168}};
    const int M5[5] = {5, 8, 16, 33, 64}, pad5[5] = {64, 0, 0, 8, 0};
    for (int i = 0; i < (quick ? 3 : 5); i++) {
      tw t;
      if (make_weight(&t, f5[i][0], f5[i][1], 1)) continue;
      lt_cuda_gemm_force = 5;
      for (int j = 0; j < 5; j++) run_linear_tol(&t, M5[j], pad5[j], 0, " [fp8 mid]", 4e-3);
      run_linear_tol(&t, 33, 0, 1, " [fp8 mid]", 2e-6);
      run_linear_tol(&t, 64, 0, 1, " [fp8 mid]", 2e-6);
      for (int cfg = 1; cfg <= 4; cfg++)
        for (int xq = 1; xq <= 2; xq++) {
          char tag[96];
          lt_fp8_mid_cfg = cfg; lt_fp8_mid_xq = xq; lt_fp8_mid_s = cfg + xq - 1; lt_fp8_mid_st = xq == 1 && cfg < 4 ? 8 : 4;
          snprintf(tag, sizeof tag, " [fp8 mid cfg %d x %s S %d ST %d]", cfg, xq == 1 ? "in-block" : "quant",
                   lt_fp8_mid_s, lt_fp8_mid_st);
          run_linear_tol(&t, cfg == 4 ? 64 : 9 + 8 * cfg, 0, 1, tag, 2e-6);
        }
      lt_fp8_mid_cfg = lt_fp8_mid_xq = lt_fp8_mid_s = lt_fp8_mid_st = 0;
      if (i == 0 || i == 3) {
        check_deterministic(&t, 64, "fp8 mid");
        check_deterministic(&t, 16, "fp8 mid");
        float *x = rnd((size_t)65 * (t.k + 3), 1.0f);
        void *dx = dev_act(x, (size_t)65 * (t.k + 3)), *dy = NULL;
        gpu->alloc(gpu, (size_t)65 * t.n * 2, &dy);
        CHECK(gpu->linear(gpu, dx, t.k, &t.wg, dy, 65) != LATTE_OK, "fp8 mid forced at 65 rows should decline");
        CHECK(gpu->linear(gpu, dx, t.k + 3, &t.wg, dy, 8) != LATTE_OK, "fp8 mid forced with x stride k+3 should decline");
        printf("  fp8 mid: declines 65 rows and an odd x stride\n");
        free(x);
        gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
      }
      lt_cuda_gemm_force = 0;
      free_weight(&t);
    }
  }
  /* the wgmma FP8 kernel forced (force 6): the fixture with k % 128 == 0 and the real shapes at rows 5 (x stride
   * k + 64), 8, 16, 17 (x stride k + 3: lt_k_quant_rows reads any stride), 33 (x stride k + 8), 64 with bf16
   * output within 4e-3, f32 output within LT_WG_F32_TOL of the CPU's w8a8, both block shapes with forced K
   * splits and ring depths (f32 out), two runs bitwise equal, the automatic dispatch with it switched on;
   * its declines (k % 128 != 0 by design, 65 rows) reported as errors */
  {
    int f6[][2] = {{160, 256}, {384, 192}, {256, 96}, {7168, 2048}, {576, 7168}};
    const int M6[6] = {5, 8, 16, 17, 33, 64}, pad6[6] = {64, 0, 0, 3, 8, 0};
    /* knob points: warpgroups, K split, ring stages, rows */
    const int kn6[6][4] = {{1, 1, 4, 24}, {1, 3, 8, 41}, {2, 2, 6, 57}, {2, 5, 4, 9}, {1, 8, 6, 64}, {4, 2, 4, 33}};
    for (int i = 0; i < (quick ? 3 : 5); i++) {
      tw t;
      if (make_weight(&t, f6[i][0], f6[i][1], 1)) continue;
      lt_cuda_gemm_force = 6;
      if (t.k % 128 != 0) {  /* not served: the tiles are whole 128-byte swizzle rows of a K-group */
        float *x = rnd((size_t)17 * t.k, 1.0f);
        void *dx = dev_act(x, (size_t)17 * t.k), *dy = NULL;
        gpu->alloc(gpu, (size_t)17 * t.n * 2, &dy);
        CHECK(gpu->linear(gpu, dx, t.k, &t.wg, dy, 17) != LATTE_OK, "fp8 wg forced at k %d should decline", t.k);
        printf("  fp8 wg: declines n=%d k=%d (k %% 128 != 0)\n", t.n, t.k);
        free(x);
        gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
      } else {
        for (int j = 0; j < 6; j++) run_linear_tol(&t, M6[j], pad6[j], 0, " [fp8 wg]", 4e-3);
        run_linear_tol(&t, 1, 0, 0, " [fp8 wg]", 4e-3);
        run_linear_tol(&t, 3, 8, 1, " [fp8 wg]", LT_WG_F32_TOL);
        check_wg_xin(&t, 1, 0, 0);
        check_wg_xin(&t, 3, 8, 0);
        check_wg_xin(&t, 8, 0, 1);
        check_wg_xin(&t, 5, 3, 0);
        /* TMA kernel vs cp.async kernel: rows, warpgroups (4: 256 weight rows per block), K split, ring depth (2
         * and 3: the stages wrap many times; 0: automatic), f32 out */
        const int tk[9][5] = {{1, 1, 0, 0, 0}, {8, 1, 2, 2, 0}, {17, 2, 0, 3, 1}, {33, 1, 3, 0, 0}, {64, 2, 1, 2, 1},
                              {64, 1, 0, 0, 0}, {64, 4, 0, 0, 0}, {40, 4, 2, 3, 1}, {9, 4, 3, 2, 0}};
        for (int q = 0; q < 9; q++) check_wg_tma(&t, tk[q][0], tk[q][1], tk[q][2], tk[q][3], tk[q][4], 0);
        /* ... with two or four K parts per 64 rows (33..64 rows, 1 or 2 row warpgroups (four parts: 1); rings 2,
         * 3 → 2, 6 → 4, automatic) */
        const int tw2[7][6] = {{40, 1, 0, 0, 0, 2}, {64, 2, 1, 3, 1, 2}, {33, 1, 3, 2, 1, 2}, {57, 2, 0, 0, 0, 2},
                               {64, 1, 1, 0, 0, 4}, {40, 1, 2, 6, 1, 4}, {57, 1, 0, 0, 1, 4}};
        for (int q = 0; q < 7; q++)
          check_wg_kw(&t, tw2[q][0], tw2[q][1], tw2[q][2], tw2[q][3], tw2[q][4], tw2[q][5]);
        /* ... and with x quantised inside the TMA kernel's blocks: rows 1, 5, 8, automatic and forced splits */
        const int tq[4][4] = {{1, 0, 0, 0}, {5, 2, 3, 0}, {8, 0, 0, 1}, {3, 1, 2, 1}};
        for (int q = 0; q < 4; q++) check_wg_tma(&t, tq[q][0], 1, tq[q][1], tq[q][2], tq[q][3], 1);
        run_linear_tol(&t, 33, 0, 1, " [fp8 wg]", LT_WG_F32_TOL);
        run_linear_tol(&t, 64, 0, 1, " [fp8 wg]", LT_WG_F32_TOL);
        for (int q = 0; q < 6; q++) {
          char tag[96];
          lt_fp8_wg_cfg = kn6[q][0]; lt_fp8_wg_s = kn6[q][1]; lt_fp8_wg_st = kn6[q][2];
          snprintf(tag, sizeof tag, " [fp8 wg %d warpgroups S %d ST %d]", kn6[q][0], kn6[q][1], kn6[q][2]);
          run_linear_tol(&t, kn6[q][3], 0, 1, tag, LT_WG_F32_TOL);
        }
        lt_fp8_wg_cfg = lt_fp8_wg_s = lt_fp8_wg_st = 0;
        if (i == 0 || i == 3) {
          check_deterministic(&t, 64, "fp8 wg");
          check_deterministic(&t, 17, "fp8 wg");
          /* the wide TMA plan (57..64 rows, ≥ 16 tiles of 128 rows: 7168 × 2048) in its 4-warpgroup form too */
          for (int wwg = 2; wwg <= 4; wwg += 2) {
            char tag[64];
            lt_fp8_tma_wide_wg = wwg;
            const int n0 = lt_fp8_tma_wide_runs;
            snprintf(tag, sizeof tag, " [wide plan, %d warpgroups]", wwg);
            run_linear_tol(&t, 64, 0, 0, tag, 4e-3);
            run_linear_tol(&t, 59, 0, 1, tag, LT_WG_F32_TOL);
            CHECK(t.n < 2048 || lt_fp8_tma_wide_runs == n0 + 2, "fp8 wg n=%d: the wide plan (%d warpgroups) ran %d "
                  "times, not 2", t.n, wwg, lt_fp8_tma_wide_runs - n0);
          }
          lt_fp8_tma_wide_wg = 0;
          /* the KW plan (automatic at 17..64 rows over 16..SMs tiles of 64 rows: 64-row blocks, two K parts; K
           * split 1 at 7168 × 2048; not at 160 × 256) */
          const int nk = lt_fp8_tma_kwplan_runs;
          run_linear_tol(&t, 64, 0, 0, " [KW plan]", 4e-3);
          run_linear_tol(&t, 40, 8, 0, " [KW plan] strided", 4e-3);
          run_linear_tol(&t, 57, 0, 1, " [KW plan]", LT_WG_F32_TOL);
          run_linear_tol(&t, 24, 3, 0, " [KW plan] strided", 4e-3);
          run_linear_tol(&t, 17, 0, 1, " [KW plan]", LT_WG_F32_TOL);
          CHECK(lt_fp8_tma_kwplan_runs == nk + (t.n >= 1024 ? 5 : 0), "fp8 wg n=%d: the KW plan ran %d times, not %d",
                t.n, lt_fp8_tma_kwplan_runs - nk, t.n >= 1024 ? 5 : 0);
          float *x = rnd((size_t)65 * t.k, 1.0f);
          void *dx = dev_act(x, (size_t)65 * t.k), *dy = NULL;
          gpu->alloc(gpu, (size_t)65 * t.n * 2, &dy);
          CHECK(gpu->linear(gpu, dx, t.k, &t.wg, dy, 65) != LATTE_OK, "fp8 wg forced at 65 rows should decline");
          printf("  fp8 wg: declines 65 rows\n");
          free(x);
          gpu->dfree(gpu, dx); gpu->dfree(gpu, dy);
          lt_cuda_gemm_force = 0;
          /* the automatic dispatch tries it first at 1..64 rows (default); LATTE_FP8_WG=0 turns it off */
          run_linear_tol(&t, 40, 0, 0, " [automatic]", 4e-3);
          run_linear_tol(&t, 1, 0, 0, " [automatic]", 4e-3);
          run_linear_tol(&t, 12, 3, 0, " [automatic] strided", 4e-3);
          lt_cuda_fp8_wg_on = 0;
          run_linear_tol(&t, 40, 0, 0, " [automatic, fp8 wg off]", 4e-3);
          run_linear_tol(&t, 1, 0, 0, " [automatic, fp8 wg off]", 4e-3);
          lt_cuda_fp8_wg_on = 1;
        }
      }
      lt_cuda_gemm_force = 0;
      free_weight(&t);
    }
  }
  /* FP8 linears fed pre-quantised x, and the pair in one launch (2 rows: x quantised inside its blocks) */
  {
    const int pr[4] = {2, 5, 16, 64};
    for (int i = 0; i < 4; i++) {
      test_rmsnorm_linear(160, 256, pr[i]);
      test_fp8_pair(160, 96, 256, pr[i]);
    }
    for (int i = 0; i < (quick ? 2 : 4); i++) {
      test_rmsnorm_linear(24576, 1536, pr[i]);  /* V3's q_a_layernorm → q_b_proj */
      const int w0 = lt_fp8_tma_wide_runs + lt_fp8_tma_kwplan_runs;
      test_fp8_pair(1536, 576, 7168, pr[i]);    /* V3's q_a_proj beside kv_a_proj_with_mqa */
      CHECK(pr[i] < 33 || lt_fp8_tma_wide_runs + lt_fp8_tma_kwplan_runs > w0,
            "linear_pair 1536+576 rows %d: neither the KW nor the wide TMA plan ran", pr[i]);
    }
  }
  /* lm_head-like f32 output (bf16) and FP8 f32 output */
  {
    tw t;
    if (!make_weight(&t, 3000, 2048, 0)) { run_linear(&t, 7, 0, 1, ""); run_linear(&t, 1, 0, 1, ""); free_weight(&t); }
    if (!make_weight(&t, 384, 192, 1)) {
      run_linear(&t, 7, 0, 1, ""); run_linear(&t, 300, 0, 1, "");
      lt_cuda_gemm_force = 1; run_linear(&t, 20, 0, 1, " [split-free]"); lt_cuda_gemm_force = 0;
      free_weight(&t);
    }
    if (!make_weight(&t, 1536, 2048, 1)) { run_linear(&t, 300, 0, 1, ""); free_weight(&t); }
  }
  gpu->destroy(gpu);
  cpu->destroy(cpu);
  cpu8->destroy(cpu8);
  return lt_test_done();
}
#else
int main(void) { return lt_test_skip_without_gpu(); }
#endif
