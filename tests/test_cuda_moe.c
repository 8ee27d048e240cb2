/* test_cuda_moe.c — the CUDA router, routed experts and dense MLP against the CPU twins (cpu_moe.c)
 * at DeepSeek V2-Lite / V2 / V3 shapes, bf16 and FP8 (w8a8, ragged 128-blocks); CUDA outputs are
 * poisoned (0xFF = NaN) before each run.
 * "./test_cuda_moe small" (or LT_TEST_QUICK=1) runs only the tiny cases. fp8 cases run with the wgmma grouped
 * GEMM automatic, off and forced (lt_cuda_gg_wg); "blocky" cases vary the e4m3 scales block to block. */
#include "backend/backend.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef LATTE_HAVE_CUDA
latte_status lt_cuda_f32_to_act(lt_backend *b, const float *host, void *dev, size_t n);
latte_status lt_cuda_act_to_f32(lt_backend *b, const void *dev, float *host, size_t n);
#ifdef __cplusplus
extern "C" int lt_cuda_moe_norm_v8_rows;
extern "C" int lt_cuda_fold_shared, lt_cuda_route_fused, lt_cuda_route_fused_rows, lt_cuda_route_norm_fused, lt_cuda_route_norm_smem, lt_cuda_gg_wg,
    lt_cuda_ggw_fine, lt_cuda_gg_wgp, lt_cuda_ggp_fp8_128;
#else
extern int lt_cuda_fold_shared;        /* cuda_moe.cu: fold shared experts into the routed stack */
extern int lt_cuda_route_fused;        /* cuda_route.cu: router variant, 1 one launch / 0 two kernels */
extern int lt_cuda_route_fused_rows;   /* cuda_route.cu: the one launch up to this many rows */
extern int lt_cuda_moe_norm_v8_rows;   /* cuda_moe.cu: the combine + add + RMSNorm on 8 columns per thread from here */
extern int lt_cuda_route_norm_fused;   /* cuda_route.cu: add_rmsnorm_route in one launch (1) or two (0) */
extern int lt_cuda_route_norm_smem;    /* cuda_route.cu: the one launch's shared memory limit (bytes) */
extern int lt_cuda_gg_wg;              /* cuda_moe_wg.cuh: e4m3 grouped GEMM on wgmma: 0 off, 1 auto, 2 forced */
extern int lt_cuda_ggw_fine;           /* cuda_moe_wg.cuh: its partials per k32 step (1) or per 128-group (0) */
extern int lt_cuda_gg_wgp;             /* cuda_moe_wgp.cuh: bf16 grouped GEMM on wgmma at 64/128-row tiles (1) or not */
extern int lt_cuda_ggp_fp8_128;        /* cuda_moe_wgp.cuh: its e4m3 GEMMs at 128-row tiles too (1) or 64 only (0) */
#endif
/* the wgmma grouped-GEMM settings an fp8 case runs under: the decode-size kernel automatic, off, forced, and
 * forced with the other partial granularity (lt_cuda_ggw_fine); the prefill-size kernel off; the prefill-size
 * kernel's e4m3 128-row tiles allowed (lt_cuda_ggp_fp8_128) */
enum { GG_NV = 6 };
static const int gg_wg_vals[GG_NV] = {1, 0, 2, 2, 1, 1};
static const char *gg_wg_name[GG_NV] = {"", " [wgmma gg off]", " [wgmma gg forced]", " [wgmma gg forced, other partials]",
                                        " [wgmma prefill gg off]", " [e4m3 prefill gg at 128-row tiles]"};
static int gg_fine_default = -1;
static void gg_set(int v) {
  if (gg_fine_default < 0) gg_fine_default = lt_cuda_ggw_fine;
  lt_cuda_gg_wg = gg_wg_vals[v];
  lt_cuda_ggw_fine = v == 3 ? !gg_fine_default : gg_fine_default;
  lt_cuda_gg_wgp = v != 4;
  lt_cuda_ggp_fp8_128 = v == 5;
}
/* a bf16 case runs under the default and with the prefill-size wgmma grouped GEMM off (every GEMM on lt_k_gg) */
enum { GP_NV = 2 };
static const char *gp_name[GP_NV] = {"", " [wgmma prefill gg off]"};
static void gp_set(int v) { lt_cuda_gg_wgp = v == 0; }
/* variant v of a case: fp8 → gg_set, bf16 → gp_set; its name */
static int var_count(int fp8) { return fp8 ? GG_NV : GP_NV; }
static const char *var_set(int fp8, int v) {
  if (fp8) { gg_set(v); return gg_wg_name[v]; }
  gp_set(v);
  return gp_name[v];
}

static lt_backend *cpu, *gpu;
static unsigned long long seed = 0x9e3779b97f4a7c15ull;

static float bf16r(float v) { return lt_bf16_to_f32(lt_f32_to_bf16(v)); }
static double urand(void) { float f; lt_rand_fill(&f, 1, 1.0f, &seed); return 0.5 * (f + 1.0); }

/* random x [n] in [-1, 1], rounded to bf16 so that CPU and GPU see the same values */
static float *rand_act(long n) {
  float *x = (float *)malloc(sizeof(float) * (size_t)n);
  lt_rand_fill(x, n, 1.0f, &seed);
  for (long i = 0; i < n; i++) x[i] = bf16r(x[i]);
  return x;
}

/* device bf16 copy of host f32 activations */
static void *to_dev_act(const float *x, long n) {
  void *d = NULL;
  if (gpu->alloc(gpu, sizeof(uint16_t) * (size_t)n, &d) || lt_cuda_f32_to_act(gpu, x, d, (size_t)n)) return NULL;
  return d;
}
static void *to_dev(const void *x, size_t bytes) {
  void *d = NULL;
  if (gpu->alloc(gpu, bytes, &d) || gpu->upload(gpu, d, x, bytes)) return NULL;
  return d;
}
static void poison(void *d, size_t bytes) {
  void *h = malloc(bytes);
  memset(h, 0xFF, bytes);
  gpu->upload(gpu, d, h, bytes);
  free(h);
}

static void tensor(lt_st_tensor *t, const char *name, lt_dtype dt, int64_t n, int64_t k, const void *data) {
  memset(t, 0, sizeof *t);
  t->name = name; t->dtype = dt; t->ndim = 2; t->shape[0] = n; t->shape[1] = k; t->numel = n * k;
  t->data = data; t->nbytes = (size_t)(n * k) * lt_dtype_size(dt);
}

/* A weight [n, k] on both backends: bf16 of v, or v quantised to e4m3 per 128×128 block. Host
 * buffers (the CPU weight points into them) are returned in *keep, *keep2. */
static int make_weight(const char *name, const float *v, int64_t n, int64_t k, int fp8, lt_weight *wc, lt_weight *wg,
                       void **keep, void **keep2) {
  lt_st_tensor t, s;
  *keep2 = NULL;
  if (!fp8) {
    uint16_t *h = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)(n * k));
    for (int64_t i = 0; i < n * k; i++) h[i] = lt_f32_to_bf16(v[i]);
    tensor(&t, name, LT_BF16, n, k, h);
    *keep = h;
    return cpu->weight_new(cpu, &t, NULL, wc) || gpu->weight_new(gpu, &t, NULL, wg);
  }
  int64_t sn = (n + 127) / 128, sk = (k + 127) / 128;
  uint8_t *q = (uint8_t *)malloc((size_t)(n * k));
  float *sc = (float *)malloc(sizeof(float) * (size_t)(sn * sk));
  for (int64_t bi = 0; bi < sn; bi++)
    for (int64_t bj = 0; bj < sk; bj++) {
      float amax = 0;
      for (int64_t i = bi * 128; i < n && i < bi * 128 + 128; i++)
        for (int64_t j = bj * 128; j < k && j < bj * 128 + 128; j++) amax = fmaxf(amax, fabsf(v[i * k + j]));
      float s_ = amax > 0 ? amax / 448.0f : 1.0f;
      sc[bi * sk + bj] = s_;
      for (int64_t i = bi * 128; i < n && i < bi * 128 + 128; i++)
        for (int64_t j = bj * 128; j < k && j < bj * 128 + 128; j++) q[i * k + j] = lt_f32_to_fp8e4m3(v[i * k + j] / s_);
    }
  tensor(&t, name, LT_F8E4M3, n, k, q);
  memset(&s, 0, sizeof s);
  s.name = "scale_inv"; s.dtype = LT_F32; s.ndim = 2; s.shape[0] = sn; s.shape[1] = sk; s.numel = sn * sk;
  s.data = sc; s.nbytes = sizeof(float) * (size_t)(sn * sk);
  *keep = q;
  *keep2 = sc;
  return cpu->weight_new(cpu, &t, &s, wc) || gpu->weight_new(gpu, &t, &s, wg);
}

/* ---------------- router ---------------- */
static void check_route(const char *name, int E, int H, int K, int method, int sigmoid, int G, int TG, int norm,
                        int scale_always, float rsf, int use_bias, int T) {
  lt_route_cfg cfg = {E, K, G, TG, method, sigmoid, norm, scale_always, rsf};
  float *gw = (float *)malloc(sizeof(float) * (size_t)E * H);
  lt_rand_fill(gw, (long)E * H, 2.0f / sqrtf((float)H), &seed);
  for (long i = 0; i < (long)E * H; i++) gw[i] = bf16r(gw[i]);
  lt_weight gc, gg;
  void *k1, *k2;
  if (make_weight("gate", gw, E, H, 0, &gc, &gg, &k1, &k2)) { CHECK(0, "%s: gate: %s", name, latte_last_error()); return; }
  float *bias = NULL, *dbias = NULL;
  if (use_bias) {
    bias = (float *)malloc(sizeof(float) * (size_t)E);
    lt_rand_fill(bias, E, 0.05f, &seed);
    dbias = (float *)to_dev(bias, sizeof(float) * (size_t)E);
  }
  float *x = rand_act((long)T * H);
  int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)T * K), *gids = (int32_t *)malloc(sizeof(int32_t) * (size_t)T * K);
  float *w = (float *)malloc(sizeof(float) * (size_t)T * K), *gwt = (float *)malloc(sizeof(float) * (size_t)T * K);
  latte_status s = cpu->moe_route(cpu, x, &gc, bias, &cfg, T, ids, w, NULL);
  CHECK(s == LATTE_OK, "%s: cpu route: %s", name, latte_last_error());
  void *dx = to_dev_act(x, (long)T * H), *dids = NULL, *dw = NULL;
  gpu->alloc(gpu, sizeof(int32_t) * (size_t)T * K, &dids);
  gpu->alloc(gpu, sizeof(float) * (size_t)T * K, &dw);
  poison(dids, sizeof(int32_t) * (size_t)T * K);
  poison(dw, sizeof(float) * (size_t)T * K);
  s = gpu->moe_route(gpu, dx, &gg, dbias, &cfg, T, (int32_t *)dids, (float *)dw, NULL);
  CHECK(s == LATTE_OK, "%s: cuda route: %s", name, latte_last_error());
  gpu->download(gpu, gids, dids, sizeof(int32_t) * (size_t)T * K);
  gpu->download(gpu, gwt, dw, sizeof(float) * (size_t)T * K);
  /* ids as sets per token; a mismatch is accepted only as a near tie of choice = score + bias */
  int bad = 0, ties = 0;
  double maxw = 0;
  double *ch = (double *)malloc(sizeof(double) * (size_t)E);
  for (int t = 0; t < T; t++) {
    int same = 1;
    for (int j = 0; j < K && same; j++) {
      int found = 0;
      for (int q = 0; q < K; q++) if (gids[t * K + q] == ids[t * K + j]) found = 1;
      same = found;
    }
    if (same) {
      for (int j = 0; j < K; j++)
        for (int q = 0; q < K; q++)
          if (gids[t * K + q] == ids[t * K + j]) {
            double d = fabs((double)gwt[t * K + q] - w[t * K + j]);
            if (!(d <= maxw)) maxw = d;   /* NaN propagates */
          }
      continue;
    }
    double m = -1e300, sum = 0, kth = 1e300;
    for (int e = 0; e < E; e++) {
      double l = 0;
      for (int i = 0; i < H; i++) l += (double)x[(size_t)t * H + i] * gw[(size_t)e * H + i];
      ch[e] = l;
      if (l > m) m = l;
    }
    for (int e = 0; e < E; e++) { if (!sigmoid) { ch[e] = exp(ch[e] - m); sum += ch[e]; } }
    for (int e = 0; e < E; e++) ch[e] = (sigmoid ? 1.0 / (1.0 + exp(-ch[e])) : ch[e] / sum) + (bias ? bias[e] : 0);
    for (int j = 0; j < K; j++) if (ch[ids[t * K + j]] < kth) kth = ch[ids[t * K + j]];
    int tie = 1;
    for (int q = 0; q < K; q++) {
      int g = gids[t * K + q];
      if (g < 0 || g >= E || fabs(ch[g] - kth) > 1e-3) tie = 0;
    }
    if (tie) ties++; else bad++;
  }
  printf("route %-34s T=%4d: id mismatches %d (near ties %d), max |w - ref| %.2e\n", name, T, bad, ties, maxw);
  CHECK(bad == 0, "%s T=%d: %d tokens chose other experts", name, T, bad);
  CHECK(maxw <= 1e-3, "%s T=%d: weights differ by %.3e", name, T, maxw);
  free(ch); free(x); free(ids); free(gids); free(w); free(gwt); free(gw); free(bias); free(k1);
  gpu->dfree(gpu, dx); gpu->dfree(gpu, dids); gpu->dfree(gpu, dw); gpu->dfree(gpu, dbias);
  cpu->weight_free(cpu, &gc);
  gpu->weight_free(gpu, &gg);
}

/* ---------------- routed experts ---------------- */
/* distinct random experts per token, skewed so some experts get many tokens and some none */
static void rand_ids(int32_t *ids, float *w, int T, int K, int E) {
  for (int t = 0; t < T; t++)
    for (int j = 0; j < K; j++) {
      int e, dup;
      do {
        double u = urand();
        e = (int)(u * u * E) % E;
        dup = 0;
        for (int q = 0; q < j; q++) if (ids[t * K + q] == e) dup = 1;
      } while (dup);
      ids[t * K + j] = e;
      w[t * K + j] = (float)(0.1 + urand());
    }
}

static int dev_same(const void *a, const void *b, size_t bytes);

/* blocky cases: a factor 0.25 .. 1.75 per 128×128 weight block and per (row, 128 channels) of x, so that each
 * e4m3 scale differs from its neighbours and a scale read from the wrong block shows */
static float block_factor(long bi, long bj) { return 0.25f * (float)(1 + (3 * bi + 5 * bj) % 7); }

static void check_experts_b(const char *name, int E, int I, int H, int K, int fp8, const int *Ms, int nM, int blocky) {
  /* experts are windows into one random pool at distinct offsets (cheap, all different) */
  const int64_t mat = (int64_t)I * H, stride = 8 * 97;
  const int64_t pool_n = mat + (int64_t)3 * E * stride + 16;
  float *pool = (float *)malloc(sizeof(float) * (size_t)pool_n);
  lt_rand_fill(pool, (long)pool_n, 1.0f, &seed);
  lt_weight *wc = (lt_weight *)calloc((size_t)3 * E, sizeof(lt_weight)), *wg = (lt_weight *)calloc((size_t)3 * E, sizeof(lt_weight));
  void **keep = (void **)calloc((size_t)6 * E, sizeof(void *));
  float *tmp = (float *)malloc(sizeof(float) * (size_t)mat);
  int fail = 0;
  for (int e = 0; e < E && !fail; e++)
    for (int m = 0; m < 3 && !fail; m++) {
      float a = m < 2 ? 2.0f / sqrtf((float)H) : 2.0f / sqrtf((float)I);
      const float *src = pool + (int64_t)(3 * e + m) * stride;
      for (int64_t i = 0; i < mat; i++) tmp[i] = a * src[i];
      if (blocky) {
        const int64_t cols = m < 2 ? H : I;
        for (int64_t i = 0; i < mat; i++) tmp[i] *= block_factor(i / cols / 128 + e, i % cols / 128);
      }
      /* gate/up [I, H], down [H, I] */
      fail = make_weight("expert", tmp, m < 2 ? I : H, m < 2 ? H : I, fp8, &wc[m * E + e], &wg[m * E + e],
                         &keep[(3 * e + m) * 2], &keep[(3 * e + m) * 2 + 1]);
    }
  free(tmp);
  free(pool);
  lt_moe_w mc = {E, I, H, wc, wc + E, wc + 2 * E, NULL, NULL, 0}, mg = {E, I, H, wg, wg + E, wg + 2 * E, NULL, NULL, 0};
  if (fail || cpu->moe_new(cpu, &mc) || gpu->moe_new(gpu, &mg)) { CHECK(0, "%s: weights: %s", name, latte_last_error()); return; }
  for (int mi = 0; mi < nM; mi++) {
    int M = Ms[mi];
    float *x = rand_act((long)M * H), *ref = (float *)malloc(sizeof(float) * (size_t)M * H);
    float *out = (float *)malloc(sizeof(float) * (size_t)M * H), *w = (float *)malloc(sizeof(float) * (size_t)M * K);
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)M * K);
    if (blocky)
      for (long i = 0; i < (long)M * H; i++) x[i] = bf16r(x[i] * block_factor(i / H, i % H / 128 + 2));
    rand_ids(ids, w, M, K, E);
    latte_status s = cpu->moe_experts(cpu, x, &mc, ids, w, K, M, ref);
    CHECK(s == LATTE_OK, "%s: cpu experts: %s", name, latte_last_error());
    void *dx = to_dev_act(x, (long)M * H), *dids = to_dev(ids, sizeof(int32_t) * (size_t)M * K);
    void *dw = to_dev(w, sizeof(float) * (size_t)M * K), *dout = NULL, *dout2 = NULL;
    gpu->alloc(gpu, sizeof(uint16_t) * (size_t)M * H, &dout);
    gpu->alloc(gpu, sizeof(uint16_t) * (size_t)M * H, &dout2);
    for (int v = 0; v < var_count(fp8); v++) {
      const char *vn = var_set(fp8, v);
      poison(dout, sizeof(uint16_t) * (size_t)M * H);
      s = gpu->moe_experts(gpu, dx, &mg, (int32_t *)dids, (float *)dw, K, M, dout);
      CHECK(s == LATTE_OK, "%s: cuda experts: %s", name, latte_last_error());
      lt_cuda_act_to_f32(gpu, dout, out, (size_t)M * H);
      double err = lt_rel_err(out, ref, (long)M * H), tol = fp8 ? 2e-2 : 1e-2;
      /* a second run: bitwise the same (no atomics in any sum) */
      poison(dout2, sizeof(uint16_t) * (size_t)M * H);
      if (!s) s = gpu->moe_experts(gpu, dx, &mg, (int32_t *)dids, (float *)dw, K, M, dout2);
      const int same = !s && dev_same(dout, dout2, sizeof(uint16_t) * (size_t)M * H);
      printf("experts %-32s M=%4d: rel err %.3e (tol %.0e), rerun %s%s\n", name, M, err, tol,
             same ? "bitwise" : "DIFFERS", vn);
      CHECK(err <= tol, "%s%s M=%d: rel err %.3e", name, vn, M, err);
      CHECK(same, "%s%s M=%d: a second run differs", name, vn, M);
    }
    var_set(fp8, 0);
    free(x); free(ref); free(out); free(w); free(ids);
    gpu->dfree(gpu, dx); gpu->dfree(gpu, dids); gpu->dfree(gpu, dw); gpu->dfree(gpu, dout); gpu->dfree(gpu, dout2);
  }
  cpu->moe_free(cpu, &mc);
  gpu->moe_free(gpu, &mg);
  for (int i = 0; i < 3 * E; i++) { cpu->weight_free(cpu, &wc[i]); gpu->weight_free(gpu, &wg[i]); }
  for (int i = 0; i < 6 * E; i++) free(keep[i]);
  free(keep); free(wc); free(wg);
}

static void check_experts(const char *name, int E, int I, int H, int K, int fp8, const int *Ms, int nM) {
  check_experts_b(name, E, I, H, K, fp8, Ms, nM, 0);
}

/* bitwise equality of two device buffers of `bytes` bytes */
static int dev_same(const void *a, const void *b, size_t bytes) {
  uint8_t *ha = (uint8_t *)malloc(bytes), *hb = (uint8_t *)malloc(bytes);
  int eq = !gpu->download(gpu, ha, a, bytes) && !gpu->download(gpu, hb, b, bytes) && !memcmp(ha, hb, bytes);
  free(ha); free(hb);
  return eq;
}
/* bitwise equality of two device bf16 buffers of n elements */
static int dev_equal(const void *a, const void *b, long n) { return dev_same(a, b, sizeof(uint16_t) * (size_t)n); }

/* moe_experts_add_rmsnorm after a layer's moe_route (dids, dw): out, resid += out and y = rmsnorm(resid) · nw
 * against the CPU (ref_out = the CPU layer's output; CPU add_rmsnorm on it), and against the CUDA
 * moe_experts (dout, already run) then add_rmsnorm: out and resid bit for bit, y within 1e-3. The fused
 * call writes y over x (as the model does), so it runs last. */
static void check_add_rmsnorm(const char *name, const lt_moe_w *mg, void *dx, const int32_t *dids, const float *dw,
                              const void *dout, const float *ref_out, int M, int H, int K, int fp8) {
  const float eps = 1e-6f;
  const long n = (long)M * H;
  float *res = rand_act(n), *nw = (float *)malloc(sizeof(float) * (size_t)H);
  float *ref_res = (float *)malloc(sizeof(float) * (size_t)n), *ref_y = (float *)malloc(sizeof(float) * (size_t)n);
  float *o = (float *)malloc(sizeof(float) * (size_t)n), *r = (float *)malloc(sizeof(float) * (size_t)n);
  float *y = (float *)malloc(sizeof(float) * (size_t)n);
  for (int i = 0; i < H; i++) nw[i] = (float)(0.5 + urand());
  memcpy(ref_res, res, sizeof(float) * (size_t)n);
  latte_status s = cpu->add_rmsnorm(cpu, ref_res, ref_out, nw, ref_y, M, H, eps);
  float *dnw = (float *)to_dev(nw, sizeof(float) * (size_t)H);
  void *dres = to_dev_act(res, n), *dres2 = to_dev_act(res, n), *dy2 = NULL, *dout2 = NULL;
  gpu->alloc(gpu, sizeof(uint16_t) * (size_t)n, &dy2);
  gpu->alloc(gpu, sizeof(uint16_t) * (size_t)n, &dout2);
  poison(dy2, sizeof(uint16_t) * (size_t)n);
  poison(dout2, sizeof(uint16_t) * (size_t)n);
  if (!s) s = gpu->add_rmsnorm(gpu, dres2, dout, dnw, dy2, M, H, eps);  /* the unfused CUDA sequence */
  if (!s) s = gpu->moe_experts_add_rmsnorm(gpu, dx, mg, dids, dw, K, M, dout2, dres, dnw, dx, eps);
  if (!s) s = gpu->sync(gpu);
  CHECK(s == LATTE_OK, "%s M=%d: moe_experts_add_rmsnorm: %s", name, M, latte_last_error());
  lt_cuda_act_to_f32(gpu, dout2, o, (size_t)n);
  lt_cuda_act_to_f32(gpu, dres, r, (size_t)n);
  lt_cuda_act_to_f32(gpu, dx, y, (size_t)n);
  double tol = fp8 ? 2e-2 : 1e-2, eo = lt_rel_err(o, ref_out, n), er = lt_rel_err(r, ref_res, n), ey = lt_rel_err(y, ref_y, n);
  int same = dev_equal(dout2, dout, n) && dev_equal(dres, dres2, n);
  float *y2 = (float *)malloc(sizeof(float) * (size_t)n);
  lt_cuda_act_to_f32(gpu, dy2, y2, (size_t)n);
  double ey2 = lt_rel_err(y, y2, n);   /* only the order of the sum of squares differs */
  printf("layer+add_rmsnorm %-26s M=%4d: rel err out %.2e resid %.2e y %.2e (tol %.0e); vs unfused CUDA: out, resid "
         "%s, y %.1e\n", name, M, eo, er, ey, tol, same ? "bitwise" : "DIFFER", ey2);
  CHECK(eo <= tol && er <= tol && ey <= tol, "%s M=%d: fused add_rmsnorm rel err %.3e %.3e %.3e", name, M, eo, er, ey);
  CHECK(same, "%s M=%d: fused moe_experts_add_rmsnorm's out / resid differ from moe_experts + add_rmsnorm", name, M);
  CHECK(ey2 <= 1e-3, "%s M=%d: fused y vs add_rmsnorm's: rel err %.3e", name, M, ey2);
  free(res); free(nw); free(ref_res); free(ref_y); free(o); free(r); free(y); free(y2);
  gpu->dfree(gpu, dnw); gpu->dfree(gpu, dres); gpu->dfree(gpu, dres2); gpu->dfree(gpu, dy2); gpu->dfree(gpu, dout2);
}

/* add_rmsnorm_route (resid += delta; y = rmsnorm(resid) · nw; the router on y, given the layer's experts so
 * that it prepares their sort) then moe_experts on y, at M rows:
 * - against the CPU's add_rmsnorm_route (f32 throughout): resid and y within 1e-2; ids equal as sets to
 *   the CPU's, except where the CPU's router on the GPU's y (bf16) picks the GPU's set too (then the
 *   difference is y's bf16 rounding alone: counted, printed); that check is exact for every token; weights
 *   of the matching tokens within 1e-2;
 * - against the CUDA sequence add_rmsnorm, moe_route, moe_experts: resid, y, ids, weights and the layer
 *   output bit for bit.
 * The op runs with lt_cuda_route_norm_fused = 1 under its default shared-memory limit, then with no limit
 * but the device's (one launch also at V3 rows 3 .. 5); where a block's rows don't fit, it is the sequence. */
static void check_norm_route(const char *name, const lt_weight *gc, const lt_weight *gg, const float *bias,
                             const float *dbias, const lt_route_cfg *cfg, const lt_moe_w *mg, int M, int H, int K) {
  const float eps = 1e-6f;
  const long n = (long)M * H;
  const size_t ib = sizeof(int32_t) * (size_t)M * K, wb = sizeof(float) * (size_t)M * K, ab = sizeof(uint16_t) * (size_t)n;
  float *res = rand_act(n), *dl = rand_act(n), *nw = (float *)malloc(sizeof(float) * (size_t)H);
  for (int i = 0; i < H; i++) nw[i] = (float)(0.5 + urand());
  float *ref_res = (float *)malloc(sizeof(float) * (size_t)n), *ref_y = (float *)malloc(sizeof(float) * (size_t)n);
  float *gres = (float *)malloc(sizeof(float) * (size_t)n), *gy = (float *)malloc(sizeof(float) * (size_t)n);
  int32_t *ids = (int32_t *)malloc(ib), *ids2 = (int32_t *)malloc(ib), *gids = (int32_t *)malloc(ib);
  float *w = (float *)malloc(wb), *w2 = (float *)malloc(wb), *gw = (float *)malloc(wb);
  memcpy(ref_res, res, sizeof(float) * (size_t)n);
  latte_status s = cpu->add_rmsnorm_route(cpu, ref_res, dl, nw, ref_y, M, H, eps, gc, bias, cfg, ids, w, NULL);
  CHECK(s == LATTE_OK, "%s M=%d: cpu add_rmsnorm_route: %s", name, M, latte_last_error());
  float *dnw = (float *)to_dev(nw, sizeof(float) * (size_t)H);
  void *ddl = to_dev_act(dl, n), *sres = to_dev_act(res, n), *sy = NULL, *sids = NULL, *sw = NULL, *sout = NULL;
  gpu->alloc(gpu, ab, &sy); gpu->alloc(gpu, ib, &sids); gpu->alloc(gpu, wb, &sw); gpu->alloc(gpu, ab, &sout);
  poison(sy, ab); poison(sids, ib); poison(sw, wb); poison(sout, ab);
  /* the CUDA sequence */
  if (!s) s = gpu->add_rmsnorm(gpu, sres, ddl, dnw, sy, M, H, eps);
  if (!s) s = gpu->moe_route(gpu, sy, gg, dbias, cfg, M, (int32_t *)sids, (float *)sw, mg);
  if (!s) s = gpu->moe_experts(gpu, sy, mg, (int32_t *)sids, (float *)sw, K, M, sout);
  CHECK(s == LATTE_OK, "%s M=%d: cuda add_rmsnorm, moe_route, moe_experts: %s", name, M, latte_last_error());
  const int keep_fused = lt_cuda_route_norm_fused, keep_smem = lt_cuda_route_norm_smem;
  lt_cuda_route_norm_fused = 1;
  for (int big = 0; big < 2 && !s; big++) {
    lt_cuda_route_norm_smem = big ? 1 << 30 : keep_smem;
    void *dres = to_dev_act(res, n), *dy = NULL, *dids = NULL, *dw = NULL, *dout = NULL;
    gpu->alloc(gpu, ab, &dy); gpu->alloc(gpu, ib, &dids); gpu->alloc(gpu, wb, &dw); gpu->alloc(gpu, ab, &dout);
    poison(dy, ab); poison(dids, ib); poison(dw, wb); poison(dout, ab);
    s = gpu->add_rmsnorm_route(gpu, dres, ddl, dnw, dy, M, H, eps, gg, dbias, cfg, (int32_t *)dids, (float *)dw, mg);
    if (!s) s = gpu->moe_experts(gpu, dy, mg, (int32_t *)dids, (float *)dw, K, M, dout);
    if (!s) s = gpu->sync(gpu);
    CHECK(s == LATTE_OK, "%s M=%d: cuda add_rmsnorm_route + moe_experts: %s", name, M, latte_last_error());
    lt_cuda_act_to_f32(gpu, dres, gres, (size_t)n);
    lt_cuda_act_to_f32(gpu, dy, gy, (size_t)n);
    gpu->download(gpu, gids, dids, ib);
    gpu->download(gpu, gw, dw, wb);
    /* the CPU's router on the GPU's y */
    if (!s) s = cpu->moe_route(cpu, gy, gc, bias, cfg, M, ids2, w2, NULL);
    CHECK(s == LATTE_OK, "%s M=%d: cpu moe_route: %s", name, M, latte_last_error());
    int bad = 0, rounding = 0, bad2 = 0;
    double maxw = 0;
    for (int t = 0; t < M; t++) {
      int same = 1, same2 = 1;
      for (int j = 0; j < K; j++) {
        int f1 = 0, f2 = 0;
        for (int q = 0; q < K; q++) { f1 |= gids[t * K + q] == ids[t * K + j]; f2 |= gids[t * K + q] == ids2[t * K + j]; }
        same &= f1;
        same2 &= f2;
      }
      bad2 += !same2;
      if (!same) { if (same2) rounding++; else bad++; continue; }
      for (int j = 0; j < K; j++)
        for (int q = 0; q < K; q++)
          if (gids[t * K + q] == ids[t * K + j]) {
            double d = fabs((double)gw[t * K + q] - w[t * K + j]);
            if (!(d <= maxw)) maxw = d;   /* NaN propagates */
          }
    }
    const double er = lt_rel_err(gres, ref_res, n), ey = lt_rel_err(gy, ref_y, n);
    const int b_res = dev_equal(dres, sres, n), b_y = dev_equal(dy, sy, n), b_ids = dev_same(dids, sids, ib),
              b_w = dev_same(dw, sw, wb), b_out = dev_equal(dout, sout, n);
    printf("add_rmsnorm_route %-26s M=%4d %s: vs CPU: rel err resid %.2e y %.2e, id mismatches %d (+%d from y's "
           "rounding), max |w - ref| %.1e; vs CUDA sequence: resid %s y %s ids %s w %s layer out %s\n",
           name, M, big ? "smem any" : "smem dflt", er, ey, bad, rounding, maxw, b_res ? "=" : "DIFFER",
           b_y ? "=" : "DIFFER", b_ids ? "=" : "DIFFER", b_w ? "=" : "DIFFER", b_out ? "=" : "DIFFER");
    CHECK(er <= 1e-2 && ey <= 1e-2, "%s M=%d: add_rmsnorm_route resid / y rel err %.3e / %.3e", name, M, er, ey);
    CHECK(bad == 0 && bad2 == 0, "%s M=%d: %d tokens chose other experts than the CPU (%d on the GPU's y)", name, M, bad,
          bad2);
    CHECK(maxw <= 1e-2, "%s M=%d: weights differ from the CPU's by %.3e", name, M, maxw);
    CHECK(b_res && b_y && b_ids && b_w && b_out, "%s M=%d (%s): add_rmsnorm_route differs from the CUDA sequence", name,
          M, big ? "smem any" : "smem default");
    gpu->dfree(gpu, dres); gpu->dfree(gpu, dy); gpu->dfree(gpu, dids); gpu->dfree(gpu, dw); gpu->dfree(gpu, dout);
  }
  lt_cuda_route_norm_fused = keep_fused;
  lt_cuda_route_norm_smem = keep_smem;
  free(res); free(dl); free(nw); free(ref_res); free(ref_y); free(gres); free(gy);
  free(ids); free(ids2); free(gids); free(w); free(w2); free(gw);
  gpu->dfree(gpu, dnw); gpu->dfree(gpu, ddl); gpu->dfree(gpu, sres); gpu->dfree(gpu, sy); gpu->dfree(gpu, sids);
  gpu->dfree(gpu, sw); gpu->dfree(gpu, sout);
}

/* ---------------- the whole MoE layer: router + routed + shared experts ----------------
 * GPU: moe_route given the experts (the fused router sorts the pairs for moe_experts) then
 * moe_experts, whose stack holds the shared experts folded in (when foldable; else mlp + add).
 * CPU twin: route, experts, mlp, add. Router ids must match as sets (no near ties expected). Then
 * add_rmsnorm_route on fresh inputs (check_norm_route) and moe_experts_add_rmsnorm (folded only). */
static void check_layer(const char *name, int E, int I, int H, int K, int ns, int fp8, int v3, const int *Ms, int nM) {
  const int Is = ns * I;
  lt_route_cfg cfg = v3 ? (lt_route_cfg){E, K, 8, 4, LT_TOPK_NOAUX_TC, 1, 1, 1, 2.5f}
                        : (lt_route_cfg){E, K, 1, 1, LT_TOPK_GREEDY, 0, 0, 0, 1.0f};
  const int nw = 3 * E + 4;
  lt_weight *wc = (lt_weight *)calloc((size_t)nw, sizeof(lt_weight)), *wg = (lt_weight *)calloc((size_t)nw, sizeof(lt_weight));
  void **keep = (void **)calloc((size_t)2 * nw, sizeof(void *));
  float *tmp = (float *)malloc(sizeof(float) * (size_t)(Is > E ? Is : E) * H);
  int fail = 0;
  for (int i = 0; i < nw - 1 && !fail; i++) {  /* experts (gate, up, down) ×E, shared gate, up, down */
    int q = i < 3 * E ? i / E : i - 3 * E, n = q < 2 ? (i < 3 * E ? I : Is) : H, k = q < 2 ? H : (i < 3 * E ? I : Is);
    lt_rand_fill(tmp, (long)n * k, 2.0f / sqrtf((float)k), &seed);
    fail = make_weight("w", tmp, n, k, fp8, &wc[i], &wg[i], &keep[2 * i], &keep[2 * i + 1]);
  }
  lt_rand_fill(tmp, (long)E * H, 2.0f / sqrtf((float)H), &seed);   /* router gate, bf16 */
  for (long i = 0; i < (long)E * H; i++) tmp[i] = bf16r(tmp[i]);
  if (!fail) fail = make_weight("gate", tmp, E, H, 0, &wc[nw - 1], &wg[nw - 1], &keep[2 * nw - 2], &keep[2 * nw - 1]);
  float *bias = NULL, *dbias = NULL;
  if (v3) {
    bias = (float *)malloc(sizeof(float) * (size_t)E);
    lt_rand_fill(bias, E, 0.05f, &seed);
    dbias = (float *)to_dev(bias, sizeof(float) * (size_t)E);
  }
  lt_mlp_w sc, sg;
  memset(&sc, 0, sizeof sc); memset(&sg, 0, sizeof sg);
  sc.gate = wc[3 * E]; sc.up = wc[3 * E + 1]; sc.down = wc[3 * E + 2];
  sg.gate = wg[3 * E]; sg.up = wg[3 * E + 1]; sg.down = wg[3 * E + 2];
  lt_moe_w mc = {E, I, H, wc, wc + E, wc + 2 * E, NULL, NULL, 0}, mg = {E, I, H, wg, wg + E, wg + 2 * E, NULL, &sg, 0};
  if (fail || cpu->moe_new(cpu, &mc) || cpu->mlp_new(cpu, &sc) || gpu->moe_new(gpu, &mg) ||
      (!mg.shared_folded && gpu->mlp_new(gpu, &sg))) {
    CHECK(0, "%s: weights: %s", name, latte_last_error());
    return;
  }
  wg[3 * E] = sg.gate; wg[3 * E + 1] = sg.up; wg[3 * E + 2] = sg.down;   /* moe_new / mlp_new freed what they took */
  printf("layer %s: shared experts %s\n", name, mg.shared_folded ? "folded into the routed stack" : "a separate MLP");
  for (int mi = 0; mi < nM; mi++) {
    int M = Ms[mi];
    float *x = rand_act((long)M * H), *ref = (float *)malloc(sizeof(float) * (size_t)M * H);
    float *sh = (float *)malloc(sizeof(float) * (size_t)M * H), *out = (float *)malloc(sizeof(float) * (size_t)M * H);
    float *w = (float *)malloc(sizeof(float) * (size_t)M * K);
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)M * K), *gids = (int32_t *)malloc(sizeof(int32_t) * (size_t)M * K);
    latte_status s = cpu->moe_route(cpu, x, &wc[nw - 1], bias, &cfg, M, ids, w, &mc);
    if (!s) s = cpu->moe_experts(cpu, x, &mc, ids, w, K, M, ref);
    if (!s) s = cpu->mlp(cpu, x, &sc, sh, M);
    CHECK(s == LATTE_OK, "%s: cpu layer: %s", name, latte_last_error());
    for (long i = 0; i < (long)M * H; i++) ref[i] += sh[i];
    for (int v = 0; v < (fp8 ? GG_NV : 1); v++) {
    gg_set(v);
    void *dx = to_dev_act(x, (long)M * H), *dids = NULL, *dw = NULL, *dout = NULL, *dsh = NULL;
    gpu->alloc(gpu, sizeof(int32_t) * (size_t)M * K, &dids);
    gpu->alloc(gpu, sizeof(float) * (size_t)M * K, &dw);
    gpu->alloc(gpu, sizeof(uint16_t) * (size_t)M * H, &dout);
    gpu->alloc(gpu, sizeof(uint16_t) * (size_t)M * H, &dsh);
    poison(dids, sizeof(int32_t) * (size_t)M * K);
    poison(dout, sizeof(uint16_t) * (size_t)M * H);
    s = gpu->moe_route(gpu, dx, &wg[nw - 1], dbias, &cfg, M, (int32_t *)dids, (float *)dw, &mg);
    if (!s) s = gpu->moe_experts(gpu, dx, &mg, (int32_t *)dids, (float *)dw, K, M, dout);
    if (!s && !mg.shared_folded) s = gpu->mlp(gpu, dx, &sg, dsh, M);
    if (!s && !mg.shared_folded) s = gpu->add(gpu, dout, dsh, (int64_t)M * H);
    CHECK(s == LATTE_OK, "%s: cuda layer: %s", name, latte_last_error());
    gpu->download(gpu, gids, dids, sizeof(int32_t) * (size_t)M * K);
    lt_cuda_act_to_f32(gpu, dout, out, (size_t)M * H);
    int bad = 0;
    for (int t = 0; t < M; t++)
      for (int j = 0; j < K; j++) {
        int found = 0;
        for (int q = 0; q < K; q++) found |= gids[t * K + q] == ids[t * K + j];
        bad += !found;
      }
    double err = lt_rel_err(out, ref, (long)M * H), tol = fp8 ? 2e-2 : 1e-2;
    printf("layer %-34s M=%4d: router id mismatches %d, rel err %.3e (tol %.0e)%s\n", name, M, bad, err, tol,
           gg_wg_name[v]);
    CHECK(bad == 0, "%s M=%d: %d routed ids differ from the CPU's", name, M, bad);
    CHECK(err <= tol, "%s%s M=%d: rel err %.3e", name, gg_wg_name[v], M, err);
    if (!s) check_norm_route(name, &wc[nw - 1], &wg[nw - 1], bias, dbias, &cfg, &mg, M, H, K);
    if (mg.shared_folded && !s) check_add_rmsnorm(name, &mg, dx, (int32_t *)dids, (float *)dw, dout, ref, M, H, K, fp8);
    gpu->dfree(gpu, dx); gpu->dfree(gpu, dids); gpu->dfree(gpu, dw); gpu->dfree(gpu, dout); gpu->dfree(gpu, dsh);
    }
    gg_set(0);
    free(x); free(ref); free(sh); free(out); free(w); free(ids); free(gids);
  }
  cpu->moe_free(cpu, &mc); cpu->mlp_free(cpu, &sc);
  gpu->moe_free(gpu, &mg); gpu->mlp_free(gpu, &sg);
  for (int i = 0; i < nw; i++) { cpu->weight_free(cpu, &wc[i]); gpu->weight_free(gpu, &wg[i]); }
  for (int i = 0; i < 2 * nw; i++) free(keep[i]);
  free(keep); free(wc); free(wg); free(tmp); free(bias);
  gpu->dfree(gpu, dbias);
}

/* ---------------- dense MLP ---------------- */
static void check_mlp(const char *name, int H, int I, int fp8, const int *Ms, int nM) {
  lt_mlp_w mc, mg;
  memset(&mc, 0, sizeof mc);
  memset(&mg, 0, sizeof mg);
  void *keep[6];
  float *v = (float *)malloc(sizeof(float) * (size_t)I * H);
  lt_rand_fill(v, (long)I * H, 2.0f / sqrtf((float)H), &seed);
  int fail = make_weight("gate", v, I, H, fp8, &mc.gate, &mg.gate, &keep[0], &keep[1]);
  lt_rand_fill(v, (long)I * H, 2.0f / sqrtf((float)H), &seed);
  fail |= make_weight("up", v, I, H, fp8, &mc.up, &mg.up, &keep[2], &keep[3]);
  lt_rand_fill(v, (long)I * H, 2.0f / sqrtf((float)I), &seed);
  fail |= make_weight("down", v, H, I, fp8, &mc.down, &mg.down, &keep[4], &keep[5]);
  free(v);
  if (fail || cpu->mlp_new(cpu, &mc) || gpu->mlp_new(gpu, &mg)) { CHECK(0, "%s: weights: %s", name, latte_last_error()); return; }
  for (int mi = 0; mi < nM; mi++) {
    int M = Ms[mi];
    float *x = rand_act((long)M * H), *ref = (float *)malloc(sizeof(float) * (size_t)M * H);
    float *out = (float *)malloc(sizeof(float) * (size_t)M * H);
    latte_status s = cpu->mlp(cpu, x, &mc, ref, M);
    CHECK(s == LATTE_OK, "%s: cpu mlp: %s", name, latte_last_error());
    void *dx = to_dev_act(x, (long)M * H), *dout = NULL;
    gpu->alloc(gpu, sizeof(uint16_t) * (size_t)M * H, &dout);
    for (int v = 0; v < var_count(fp8); v++) {
      const char *vn = var_set(fp8, v);
      poison(dout, sizeof(uint16_t) * (size_t)M * H);
      s = gpu->mlp(gpu, dx, &mg, dout, M);
      CHECK(s == LATTE_OK, "%s: cuda mlp: %s", name, latte_last_error());
      lt_cuda_act_to_f32(gpu, dout, out, (size_t)M * H);
      double err = lt_rel_err(out, ref, (long)M * H), tol = fp8 ? 2e-2 : 1e-2;
      printf("mlp %-36s M=%4d: rel err %.3e (tol %.0e)%s\n", name, M, err, tol, vn);
      CHECK(err <= tol, "%s%s M=%d: rel err %.3e", name, vn, M, err);
    }
    var_set(fp8, 0);
    free(x); free(ref); free(out);
    gpu->dfree(gpu, dx); gpu->dfree(gpu, dout);
  }
  cpu->mlp_free(cpu, &mc);
  gpu->mlp_free(gpu, &mg);
  cpu->weight_free(cpu, &mc.gate); cpu->weight_free(cpu, &mc.up); cpu->weight_free(cpu, &mc.down);
  gpu->weight_free(gpu, &mg.gate); gpu->weight_free(gpu, &mg.up); gpu->weight_free(gpu, &mg.down);
  for (int i = 0; i < 6; i++) free(keep[i]);
}
#endif

int main(int argc, char **argv) {
  int skip = lt_test_skip_without_gpu();
  if (skip) return skip;
#ifndef LATTE_HAVE_CUDA
  (void)argc; (void)argv;
#else
  int small = (argc > 1 && !strcmp(argv[1], "small")) || getenv("LT_TEST_QUICK") != NULL;
  if (lt_cpu_backend_create(1, 0, &cpu) || lt_cuda_backend_create(1, &gpu)) {
    printf("FAIL: backends: %s\n", latte_last_error());
    return 1;
  }
  /* router: V2-Lite (softmax greedy 64/top-6), V2 (group_limited_greedy 160/top-6, 8 groups keep 3,
   * scale 16), V3 (sigmoid noaux_tc 256/top-8, 8 groups keep 4, bias, renorm, scale 2.5) */
  const int Ts[] = {1, 5, 33, 300};
  for (int i = small ? 1 : 0; i < (small ? 3 : 4); i++) {
    check_route("v2-lite softmax greedy 64/6", 64, 2048, 6, LT_TOPK_GREEDY, 0, 1, 1, 0, 0, 1.0f, 0, Ts[i]);
    check_route("v2 softmax group-limited 160/6 g8k3", 160, small ? 512 : 5120, 6, LT_TOPK_GROUP_LIMITED, 0, 8, 3, 0, 0,
                16.0f, 0, Ts[i]);
    check_route("v3 sigmoid noaux_tc 256/8 g8k4", 256, small ? 512 : 7168, 8, LT_TOPK_NOAUX_TC, 1, 8, 4, 1, 1, 2.5f, 1,
                Ts[i]);
  }
  /* the two-kernel router at T = 1 too, and the one launch at 5 rows (defaults: one launch up to 4 rows) */
  lt_cuda_route_fused = 0;
  check_route("v2-lite softmax greedy 64/6 [two kernels]", 64, 2048, 6, LT_TOPK_GREEDY, 0, 1, 1, 0, 0, 1.0f, 0, Ts[0]);
  lt_cuda_route_fused = 1;
  const int fused_rows = lt_cuda_route_fused_rows;
  lt_cuda_route_fused_rows = 32;
  check_route("v2-lite softmax greedy 64/6 [one launch]", 64, 2048, 6, LT_TOPK_GREEDY, 0, 1, 1, 0, 0, 1.0f, 0, Ts[1]);
  check_route("v3 sigmoid noaux_tc 256/8 g8k4 [one launch]", 256, small ? 512 : 7168, 8, LT_TOPK_NOAUX_TC, 1, 8, 4, 1,
              1, 2.5f, 1, Ts[1]);
  lt_cuda_route_fused_rows = fused_rows;
  const int Ms[] = {1, 5, 8, 64, 300}, Ms_small[] = {1, 5, 8, 40};
  check_experts("tiny e8 I96 H256 top2 bf16", 8, 96, 256, 2, 0, Ms_small, 4);
  /* prefill sizes: 50 and 175 rows per expert (the bf16 wgmma kernel's 64- and 128-row tiles; I 96: its down GEMM
   * (K 96) stays on lt_k_gg) */
  const int Mp[] = {200, 700};
  check_experts("tiny e8 I128 H256 top2 bf16 prefill", 8, 128, 256, 2, 0, Mp, 2);
  check_experts("tiny e8 I96 H256 top2 bf16 prefill", 8, 96, 256, 2, 0, Mp, 2);
  check_experts("tiny e8 I128 H256 top2 fp8 prefill", 8, 128, 256, 2, 1, Mp, 2);  /* 175 rows: e4m3 on it */
  check_experts_b("tiny e8 I256 H384 top2 fp8 blocky prefill", 8, 256, 384, 2, 1, Mp + 1, 1, 1);
  check_experts("tiny e8 I96 H256 top2 fp8", 8, 96, 256, 2, 1, Ms_small, 4);
  check_experts_b("tiny e16 I256 H384 top4 fp8 blocky", 16, 256, 384, 4, 1, Ms_small, 4, 1);
  const int Mm[] = {1, 4, 8, 37, 300};
  check_mlp("tiny H256 I512 bf16", 256, 512, 0, Mm, 5);
  check_mlp("tiny H256 I96 fp8 (ragged)", 256, 96, 1, Mm, 5);
  check_mlp("tiny H256 I96 bf16", 256, 96, 0, Mm, 5);
  check_mlp("tiny H256 I256 fp8", 256, 256, 1, Mm, 5);  /* 300 rows: the e4m3 prefill kernel, dense */
  /* whole layers: shared experts folded (I % 128 == 0 or bf16) and not (ragged fp8) */
  const int Ml[] = {1, 5, 32, 33, 200};
  check_layer("tiny e8 I96 H256 top2 +2 shared bf16", 8, 96, 256, 2, 2, 0, 0, Ml, 5);
  check_layer("tiny e8 I96 H256 top2 +2 shared fp8", 8, 96, 256, 2, 2, 1, 0, Ml, 5);
  check_layer("tiny e16 I128 H256 top4 +1 shared fp8 v3", 16, 128, 256, 4, 1, 1, 1, Ml, 5);
  lt_cuda_fold_shared = 0;
  check_layer("tiny e8 I96 H256 top2 +2 shared bf16 unfolded", 8, 96, 256, 2, 2, 0, 0, Ml, 5);
  lt_cuda_fold_shared = 1;
  lt_cuda_route_fused = 0;
  check_layer("tiny e8 I96 H256 top2 +2 shared bf16 [two-kernel router]", 8, 96, 256, 2, 2, 0, 0, Ml, 5);
  lt_cuda_route_fused = 1;
  lt_cuda_route_fused_rows = 32;
  check_layer("tiny e8 I96 H256 top2 +2 shared bf16 [one-launch router to 32 rows]", 8, 96, 256, 2, 2, 0, 0, Ml, 5);
  check_layer("tiny e16 I128 H256 top4 +1 shared fp8 v3 [one-launch router to 32 rows]", 16, 128, 256, 4, 1, 1, 1, Ml, 5);
  lt_cuda_route_fused_rows = fused_rows;
  const int v8_rows = lt_cuda_moe_norm_v8_rows;  /* its 8-column combine from 32 rows (default: prefill only) */
  lt_cuda_moe_norm_v8_rows = 32;
  check_layer("tiny e8 I96 H256 top2 +2 shared bf16 [8-column combine]", 8, 96, 256, 2, 2, 0, 0, Ml, 5);
  check_layer("tiny e16 I128 H256 top4 +1 shared fp8 v3 [8-column combine]", 16, 128, 256, 4, 1, 1, 1, Ml, 5);
  lt_cuda_moe_norm_v8_rows = v8_rows;
  if (!small) {
    check_layer("v2-lite E64 I1408 H2048 top6 +2 shared bf16", 64, 1408, 2048, 6, 2, 0, 0, Ml, 5);
    check_layer("v2-lite E64 I1408 H2048 top6 +2 shared fp8", 64, 1408, 2048, 6, 2, 1, 0, Ml, 5);
    check_layer("v3-tp8 E256 I256 H7168 top8 +1 shared bf16", 256, 256, 7168, 8, 1, 0, 1, Ml, 5);
    check_layer("v3-tp8 E256 I256 H7168 top8 +1 shared fp8", 256, 256, 7168, 8, 1, 1, 1, Ml, 5);
    check_experts("v2-lite E64 I1408 H2048 top6 bf16", 64, 1408, 2048, 6, 0, Ms, 5);
    const int Mv[] = {600, 1600};  /* 56 and 150 rows per expert */
    check_experts("v2-lite E64 I1408 H2048 top6 bf16 prefill", 64, 1408, 2048, 6, 0, Mv, 2);
    check_experts("v2-lite E64 I1408 H2048 top6 fp8 prefill", 64, 1408, 2048, 6, 1, Mv + 1, 1);
    check_experts("v2-lite E64 I1408 H2048 top6 fp8", 64, 1408, 2048, 6, 1, Ms, 5);
    check_experts("v3-tp8 E256 I256 H7168 top8 bf16", 256, 256, 7168, 8, 0, Ms, 5);
    check_experts("v3-tp8 E256 I256 H7168 top8 fp8", 256, 256, 7168, 8, 1, Ms, 5);
    check_mlp("v2-lite dense H2048 I10944 bf16", 2048, 10944, 0, Mm, 5);
    check_mlp("v2-lite dense H2048 I10944 fp8", 2048, 10944, 1, Mm, 5);
    check_mlp("v3 shared H7168 I2048 fp8", 7168, 2048, 1, Mm, 5);
    /* full-size V3 experts (each w13 4096×7168, w2 7168×2048), fewer of them */
    const int Mf[] = {1, 4, 16, 64};
    check_experts_b("v3 full E16 I2048 H7168 top8 fp8 blocky", 16, 2048, 7168, 8, 1, Mf, 4, 1);
  }
  gpu->destroy(gpu);
  cpu->destroy(cpu);
  return lt_test_done();
#endif
}
