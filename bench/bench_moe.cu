/* bench_moe.cu — the CUDA MoE layer (router + routed experts + shared experts) of DeepSeek-V2-Lite
 * and V3 at TP8, bf16 and FP8 w8a8, against two floors measured in the same run: device copy
 * bandwidth (bytes of the experts actually touched) and a large cuBLAS bf16 GEMM rate (FLOPs); and
 * add_rmsnorm_route (one launch) against add_rmsnorm + moe_route, as graph replays. */
#include "backend/cuda/cuda_ops.h"
#include "io/config.h"
#include "io/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include "bench_util.cuh"
#define LK(x) do { if ((x) != LATTE_OK) { fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, latte_last_error()); exit(1); } } while (0)

static unsigned long long rs = 88172645463325252ull;
static float frand(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f; }

static double bw_gbs, gemm_tfs;
extern "C" int lt_cuda_route_norm_fused, lt_cuda_route_norm_smem;   /* cuda_route.cu: one launch on/off, its smem limit */
extern "C" int lt_cuda_gg_wgp, lt_cuda_ggp_mw, lt_cuda_ggp_st, lt_cuda_ggp_bm128, lt_cuda_ggp_fp8_bm, lt_cuda_ggp_fp8_128;  /* cuda_moe_wgp.cuh */
extern "C" int lt_cuda_gg_w_early;  /* cuda_moe.cu: lt_k_gg's W prologue before its PDL wait */
extern "C" int lt_cuda_gg_wg, lt_cuda_ggw_st, lt_cuda_ggw_want, lt_cuda_ggw_fine;   /* cuda_moe_wg.cuh: e4m3 grouped GEMM on wgmma
                                                                    (0 off / 1 auto / 2 forced), its knobs */

static void measure_floors(cudaStream_t st, cublasHandle_t h) {
  bw_gbs = lt_bench_copy_bw(st, (size_t)1 << 30, 10) / 1e9;   /* read + write */
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
  float ms;
  int N = 8192;
  void *A, *B, *C;
  CK(cudaMalloc(&A, (size_t)N * N * 2)); CK(cudaMalloc(&B, (size_t)N * N * 2)); CK(cudaMalloc(&C, (size_t)N * N * 2));
  fill(A, (size_t)N * N, 1.f, 1); fill(B, (size_t)N * N, 1.f, 2);  /* random data: zeros run faster */
  float one = 1, zero = 0;
  cublasSetStream(h, st);
  for (int it = 0; it < 2; it++) {
    CK(cudaEventRecord(e0, st));
    for (int i = 0; i < 5; i++)   /* C [N, N] = A [N, N] · B [N, N], bf16 in, f32 accumulate */
      if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, N, N, &one, A, CUDA_R_16BF, N, B, CUDA_R_16BF, N, &zero, C,
                       CUDA_R_16BF, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) { fprintf(stderr, "gemm failed\n"); exit(1); }
    CK(cudaEventRecord(e1, st)); CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms, e0, e1));
  }
  gemm_tfs = 2.0 * N * N * (double)N * 5 / (ms * 1e-3) / 1e12;
  CK(cudaFree(A)); CK(cudaFree(B)); CK(cudaFree(C));
}

typedef struct {
  const char *name;
  int H, E, K, I, shared_I, n_group, topk_group, method, sigmoid, norm, scale_always;
  float rsf;
} model_t;

/* a weight [n, k] from a window of a host pool (bf16 values, or e4m3 + scale 1/448) */
static void pool_weight(lt_backend *b, const void *pool, int fp8, int64_t n, int64_t k, const float *sc, lt_weight *w) {
  lt_st_tensor t, s;
  memset(&t, 0, sizeof t); memset(&s, 0, sizeof s);
  t.name = "w"; t.dtype = fp8 ? LT_F8E4M3 : LT_BF16; t.ndim = 2; t.shape[0] = n; t.shape[1] = k; t.numel = n * k;
  t.data = pool; t.nbytes = (size_t)(n * k) * (fp8 ? 1 : 2);
  s.name = "s"; s.dtype = LT_F32; s.ndim = 2; s.shape[0] = (n + 127) / 128; s.shape[1] = (k + 127) / 128;
  s.numel = s.shape[0] * s.shape[1]; s.data = sc; s.nbytes = sizeof(float) * (size_t)s.numel;
  LK(b->weight_new(b, &t, fp8 ? &s : NULL, w));
}

/* ---- add_rmsnorm_route vs add_rmsnorm + moe_route (the router given the experts, as the model runs it) ---- */
struct norm_route_arg {
  lt_backend *b;
  int mode;   /* 0 the op (whichever variant the knobs pick), 1 add_rmsnorm then moe_route, 2 add_rmsnorm, 3 moe_route */
  void *resid, *delta, *y;
  float *nw, *wts;
  int32_t *ids;
  int rows, H;
  const lt_weight *gate;
  const float *bias;
  const lt_route_cfg *cfg;
  const lt_moe_w *moe;
};
static void run_norm_route(void *p, int) {
  norm_route_arg *a = (norm_route_arg *)p;
  lt_backend *b = a->b;
  if (a->mode == 0)
    LK(b->add_rmsnorm_route(b, a->resid, a->delta, a->nw, a->y, a->rows, a->H, 1e-6f, a->gate, a->bias, a->cfg, a->ids,
                            a->wts, a->moe));
  if (a->mode == 1 || a->mode == 2) LK(b->add_rmsnorm(b, a->resid, a->delta, a->nw, a->y, a->rows, a->H, 1e-6f));
  if (a->mode == 1 || a->mode == 3) LK(b->moe_route(b, a->y, a->gate, a->bias, a->cfg, a->rows, a->ids, a->wts, a->moe));
}

/* µs per call (graph of 64 calls, median of 20 replays) at rows 1, 2, 8: the op with its one launch on
 * (lt_cuda_route_norm_fused = 1; where a block's rows exceed lt_cuda_route_norm_smem it is still the
 * sequence), the same with no limit but the device's, the sequence, and its two ops alone. Bytes: gate +
 * resid, delta read + resid, y written. */
static void bench_norm_route(lt_backend *b, const model_t *m, const lt_weight *gate, const float *bias,
                             const lt_route_cfg *rc, const lt_moe_w *moe) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const int H = m->H, E = m->E, K = m->K, rows_list[3] = {1, 2, 8};
  const int keep_smem = lt_cuda_route_norm_smem, keep_fused = lt_cuda_route_norm_fused;
  for (int ri = 0; ri < 3; ri++) {
    const int rows = rows_list[ri];
    norm_route_arg a;
    memset(&a, 0, sizeof a);
    a.b = b; a.rows = rows; a.H = H; a.gate = gate; a.bias = bias; a.cfg = rc; a.moe = moe;
    CK(cudaMalloc(&a.resid, (size_t)rows * H * 2)); CK(cudaMalloc(&a.delta, (size_t)rows * H * 2));
    CK(cudaMalloc(&a.y, (size_t)rows * H * 2)); CK(cudaMalloc(&a.nw, sizeof(float) * H));
    CK(cudaMalloc(&a.ids, sizeof(int32_t) * rows * K)); CK(cudaMalloc(&a.wts, sizeof(float) * rows * K));
    fill(a.resid, (size_t)rows * H, 1.f, 11); fill(a.delta, (size_t)rows * H, 0.05f, 12);
    std::vector<float> nwh(H);
    for (auto &v : nwh) v = 1.f + 0.1f * frand();
    CK(cudaMemcpy(a.nw, nwh.data(), sizeof(float) * H, cudaMemcpyHostToDevice));
    double us[5];
    for (int v = 0; v < 5; v++) {   /* the op, the op without limit, the sequence, add_rmsnorm, moe_route */
      a.mode = v < 2 ? 0 : v - 1;
      lt_cuda_route_norm_smem = v == 1 ? 1 << 30 : keep_smem;
      lt_cuda_route_norm_fused = 1;
      run_norm_route(&a, 0);   /* scratch grows outside the capture */
      CK(cudaStreamSynchronize(c->stream));
      us[v] = lt_bench_time(c->stream, run_norm_route, &a, 20, 64, 1);
    }
    lt_cuda_route_norm_smem = keep_smem;
    lt_cuda_route_norm_fused = keep_fused;
    const size_t rowsm = (size_t)H * (6 + 4 * (size_t)rows);
    const char *path = rowsm <= (size_t)keep_smem ? "one launch" : "sequence";
    const char *path_any = rowsm + 4096 <= (size_t)c->smem_optin ? "one launch" : "sequence";
    const double mb = ((double)E * H * 2 + 4.0 * rows * H * 2) / 1e6;
    printf("add_rmsnorm_route %-8s rows=%d | one launch on: %6.2f us (%s, %3zu KB smem) | no smem limit %6.2f us (%s) | "
           "add_rmsnorm + moe_route %6.2f us (%5.2f + %5.2f alone) | %.2f MB\n",
           m->name, rows, us[0], path, rowsm / 1024, us[1], path_any, us[2], us[3], us[4], mb);
    fflush(stdout);
    CK(cudaFree(a.resid)); CK(cudaFree(a.delta)); CK(cudaFree(a.y)); CK(cudaFree(a.nw)); CK(cudaFree(a.ids));
    CK(cudaFree(a.wts));
  }
}

static int only_m, route_norm_only;
static void bench_model(lt_backend *b, const model_t *m, int fp8, FILE *tab) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const int H = m->H, E = m->E, K = m->K, I = m->I, Is = m->shared_I;
  int64_t big = (int64_t)(I > Is ? I : Is) * H;
  size_t pool_n = (size_t)big + 3 * (size_t)E * 256 + 64;
  std::vector<uint8_t> pool(pool_n * 2);
  for (size_t i = 0; i < pool_n; i++) {
    float v = frand();
    if (fp8) pool[i] = lt_f32_to_fp8e4m3(v * 400.f);
    else ((uint16_t *)pool.data())[i] = lt_f32_to_bf16(v * 0.03f);
  }
  std::vector<float> sc((size_t)((big / 128 + 2) * 2 + 4096), 1.f / 448.f / 16.f);
  const int es = fp8 ? 1 : 2;
  std::vector<lt_weight> wg(3 * (size_t)E);
  for (int e = 0; e < E; e++)
    for (int q = 0; q < 3; q++)
      pool_weight(b, pool.data() + (size_t)(3 * e + q) * 256 * es, fp8, q < 2 ? I : H, q < 2 ? H : I, sc.data(),
                  &wg[(size_t)q * E + e]);
  lt_mlp_w sh;
  memset(&sh, 0, sizeof sh);
  pool_weight(b, pool.data(), fp8, Is, H, sc.data(), &sh.gate);
  pool_weight(b, pool.data() + 64 * es, fp8, Is, H, sc.data(), &sh.up);
  pool_weight(b, pool.data() + 128 * es, fp8, H, Is, sc.data(), &sh.down);
  lt_moe_w moe = {E, I, H, &wg[0], &wg[E], &wg[2 * (size_t)E], NULL, &sh, 0};
  LK(b->moe_new(b, &moe));   /* folds the shared experts into the stack when it can (as the model does) */
  if (!moe.shared_folded) LK(b->mlp_new(b, &sh));
  /* router gate bf16 [E, H] (random), bias */
  std::vector<uint16_t> gh((size_t)E * H);
  for (auto &v : gh) v = lt_f32_to_bf16(frand() * 0.05f);
  lt_weight gate;
  {
    lt_st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "gate"; t.dtype = LT_BF16; t.ndim = 2; t.shape[0] = E; t.shape[1] = H; t.numel = (int64_t)E * H;
    t.data = gh.data(); t.nbytes = gh.size() * 2;
    LK(b->weight_new(b, &t, NULL, &gate));
  }
  float *bias = NULL;
  if (m->sigmoid) {
    std::vector<float> bh(E);
    for (auto &v : bh) v = frand() * 0.01f;
    CK(cudaMalloc(&bias, sizeof(float) * E));
    CK(cudaMemcpy(bias, bh.data(), sizeof(float) * E, cudaMemcpyHostToDevice));
  }
  lt_route_cfg rc = {E, K, m->n_group, m->topk_group, m->method, m->sigmoid, m->norm, m->scale_always, m->rsf};
  if (!fp8 && (route_norm_only || !only_m)) bench_norm_route(b, m, &gate, bias, &rc, &moe);
  const int Ms[8] = {1, 4, 16, 64, 512, 1024, 2048, 4096};
  for (int mi = 0; mi < 8 && !route_norm_only; mi++) {
    int M = Ms[mi];
    if (only_m && M != only_m) continue;
    if (M >= 512 && !only_m) continue;  /* prefill only on request: bench_moe MODEL 512 (… 4096) */
    std::vector<float> xh((size_t)M * H);
    for (auto &v : xh) v = frand();
    void *x, *out, *sout;
    int32_t *ids;
    float *wts;
    CK(cudaMalloc(&x, (size_t)M * H * 2)); CK(cudaMalloc(&out, (size_t)M * H * 2)); CK(cudaMalloc(&sout, (size_t)M * H * 2));
    CK(cudaMalloc(&ids, sizeof(int32_t) * M * K)); CK(cudaMalloc(&wts, sizeof(float) * M * K));
    LK(lt_cuda_f32_to_act(b, xh.data(), x, xh.size()));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    float t_route = 0, t_exp = 0, t_sh = 0, t_all = 0, t_cmp[3][2] = {{0, 0}, {0, 0}, {0, 0}};
    const int iters = 20, keep_wg = lt_cuda_gg_wg, keep_wgp = lt_cuda_gg_wgp;
    /* parts 4..9: the experts, then the layer: bf16 with the prefill-size wgmma grouped GEMM off (4, 5) and on (6,
     * 7); fp8 with both wgmma kernels off (4, 5), the decode-size one forced and the prefill-size one at its default
     * (6, 7), and the decode-size one automatic with the prefill-size one off (8, 9: before it took e4m3) */
    for (int part = 0; part < (fp8 ? 10 : 8); part++) {
      if (part >= 4) {
        if (fp8) {
          lt_cuda_gg_wg = part < 6 ? 0 : part < 8 ? 2 : keep_wg;
          lt_cuda_gg_wgp = part < 6 || part >= 8 ? 0 : keep_wgp;
        } else {
          lt_cuda_gg_wgp = part < 6 ? 0 : 1;
        }
        if (part % 2 == 0) LK(b->moe_experts(b, x, &moe, ids, wts, K, M, out));  /* launch shapes settle */
        CK(cudaStreamSynchronize(c->stream));
      }
      for (int it = -2; it < iters; it++) {
        if (it == 0) CK(cudaEventRecord(e0, c->stream));
        /* parts: 0 router alone, 1 experts alone (their own sort), 2 shared MLP alone (when not
         * folded), 3 the layer as the model runs it (router sorts for the experts) */
        if (part == 0) LK(b->moe_route(b, x, &gate, bias, &rc, M, ids, wts, NULL));
        if (part == 3) LK(b->moe_route(b, x, &gate, bias, &rc, M, ids, wts, &moe));
        if (part >= 5 && part % 2) LK(b->moe_route(b, x, &gate, bias, &rc, M, ids, wts, &moe));
        if (part == 1 || part >= 3) LK(b->moe_experts(b, x, &moe, ids, wts, K, M, out));
        if ((part == 2 || part == 3 || (part >= 5 && part % 2)) && !moe.shared_folded) LK(b->mlp(b, x, &sh, sout, M));
        if ((part == 3 || (part >= 5 && part % 2)) && !moe.shared_folded) LK(b->add(b, out, sout, (int64_t)M * H));
      }
      CK(cudaEventRecord(e1, c->stream)); CK(cudaEventSynchronize(e1));
      float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
      float us = ms * 1e3f / iters;
      if (part == 0) t_route = us; else if (part == 1) t_exp = us; else if (part == 2) t_sh = us; else if (part == 3) t_all = us;
      else t_cmp[(part - 4) / 2][part & 1] = us;
    }
    lt_cuda_gg_wg = keep_wg;
    lt_cuda_gg_wgp = keep_wgp;
    std::vector<int32_t> idh((size_t)M * K);
    CK(cudaMemcpy(idh.data(), ids, sizeof(int32_t) * M * K, cudaMemcpyDeviceToHost));
    std::vector<char> used(E, 0);
    int touched = 0;
    for (auto v : idh) if (v >= 0 && v < E && !used[v]) { used[v] = 1; touched++; }
    double wexp = 3.0 * I * H * es + (fp8 ? 3.0 * I * H / 16384.0 * 4 : 0);
    double bytes_exp = touched * wexp + 2.0 * M * H * 2;
    double bytes_sh = 3.0 * Is * H * es + 2.0 * M * H * 2;
    double bytes_route = (double)E * H * 2 + (double)M * H * 2;
    double bytes = bytes_exp + bytes_sh + bytes_route;
    double fl_exp = 2.0 * M * K * 3.0 * I * H, fl_sh = 2.0 * M * 3.0 * Is * H, fl_route = 2.0 * M * E * H;
    double fl = fl_exp + fl_sh + fl_route;
    double t_bw = bytes / (bw_gbs * 1e9) * 1e6, t_fl = fl / (gemm_tfs * 1e12) * 1e6;
    double floor_us = t_bw > t_fl ? t_bw : t_fl;
    double eb = bytes_exp / (bw_gbs * 1e9) * 1e6, ef = fl_exp / (gemm_tfs * 1e12) * 1e6;
    double efloor = eb > ef ? eb : ef;
    fprintf(tab, "%-8s %-4s M=%-4d %-6s | route %7.1f us | experts %7.1f us (%3d touched, %7.1f MB, %6.1f GF; floor %6.1f us = %4.0f%%) | shared %6.1f us | layer %7.1f us: bw floor %6.1f us, flop floor %6.1f us -> %4.0f%% of floor\n",
            m->name, fp8 ? "fp8" : "bf16", M, "tiled", t_route, t_exp, touched, bytes_exp / 1e6, fl_exp / 1e9, efloor,
            100.0 * efloor / t_exp, t_sh, t_all, t_bw, t_fl, 100.0 * floor_us / t_all);
    if (fp8)
      fprintf(tab, "%-8s fp8  M=%-4d gg-cmp | experts: mma.sync %7.1f us (%4.0f%% of floor) vs wgmma %7.1f us (%4.0f%%) "
              "= %.2fx | layer: mma.sync %7.1f us (%4.0f%%) vs wgmma %7.1f us (%4.0f%%) | default: %s (st %d want %d fine %d)\n",
              m->name, M, t_cmp[0][0], 100.0 * efloor / t_cmp[0][0], t_cmp[1][0], 100.0 * efloor / t_cmp[1][0],
              t_cmp[0][0] / t_cmp[1][0], t_cmp[0][1], 100.0 * floor_us / t_cmp[0][1], t_cmp[1][1],
              100.0 * floor_us / t_cmp[1][1], keep_wg ? "wgmma where it serves" : "mma.sync", lt_cuda_ggw_st,
              lt_cuda_ggw_want, lt_cuda_ggw_fine);
    if (fp8)
      fprintf(tab, "%-8s fp8  M=%-4d gg-pre | experts: without the prefill-size kernel %7.1f us (%4.0f%%), with it (default) "
              "%7.1f us (%4.0f%%) = %.2fx | layer %7.1f vs %7.1f us | knobs: fp8 from %d-row tiles, bm128 above %d rows\n",
              m->name, M, t_cmp[2][0], 100.0 * efloor / t_cmp[2][0], t_exp, 100.0 * efloor / t_exp, t_cmp[2][0] / t_exp,
              t_cmp[2][1], t_all, lt_cuda_ggp_fp8_bm, lt_cuda_ggp_bm128);
    else
      fprintf(tab, "%-8s bf16 M=%-4d gg-cmp | experts: mma.sync %7.1f us (%4.0f%% of floor) vs wgmma prefill %7.1f us "
              "(%4.0f%%) = %.2fx | layer: %7.1f us (%4.0f%%) vs %7.1f us (%4.0f%%) | %.0f vs %.0f TFLOP/s in the experts "
              "| knobs: mw %d st %d bm128 above %d rows\n",
              m->name, M, t_cmp[0][0], 100.0 * efloor / t_cmp[0][0], t_cmp[1][0], 100.0 * efloor / t_cmp[1][0],
              t_cmp[0][0] / t_cmp[1][0], t_cmp[0][1], 100.0 * floor_us / t_cmp[0][1], t_cmp[1][1],
              100.0 * floor_us / t_cmp[1][1], fl_exp / (t_cmp[0][0] * 1e6), fl_exp / (t_cmp[1][0] * 1e6), lt_cuda_ggp_mw,
              lt_cuda_ggp_st, lt_cuda_ggp_bm128);
    fflush(tab);
    CK(cudaFree(x)); CK(cudaFree(out)); CK(cudaFree(sout)); CK(cudaFree(ids)); CK(cudaFree(wts));
    CK(cudaEventDestroy(e0)); CK(cudaEventDestroy(e1));
  }
  b->moe_free(b, &moe);
  b->mlp_free(b, &sh);
  for (auto &w : wg) b->weight_free(b, &w);
  b->weight_free(b, &sh.gate); b->weight_free(b, &sh.up); b->weight_free(b, &sh.down);
  b->weight_free(b, &gate);
  if (bias) CK(cudaFree(bias));
}

/* bench_moe [model [M]]: all of v2-lite / v3-tp8 and M in {1, 4, 16, 64} by default (M = 512, 1024, 2048 or 4096 on request), bf16
 * and fp8, and v3-full (the full-size V3 experts, fp8 only: 11 GB of weights); model "fp8": every model, fp8 only;
 * bench_moe route-norm: only add_rmsnorm_route (both models). fp8 rows add the experts and the layer with the
 * wgmma grouped GEMM off and forced (gg-cmp). */
int main(int argc, char **argv) {
  lt_backend *b;
  LK(lt_cuda_backend_create(1, &b));
  if (getenv("LT_BENCH_GG_EARLY")) lt_cuda_gg_w_early = atoi(getenv("LT_BENCH_GG_EARLY"));  /* mma.sync gg knobs */
  if (getenv("LT_BENCH_GGW_ST")) lt_cuda_ggw_st = atoi(getenv("LT_BENCH_GGW_ST"));       /* wgmma gg knobs (sweeps) */
  if (getenv("LT_BENCH_GGW_WANT")) lt_cuda_ggw_want = atoi(getenv("LT_BENCH_GGW_WANT"));
  if (getenv("LT_BENCH_GGW_FINE")) lt_cuda_ggw_fine = atoi(getenv("LT_BENCH_GGW_FINE"));
  if (getenv("LT_BENCH_GGP_MW")) lt_cuda_ggp_mw = atoi(getenv("LT_BENCH_GGP_MW"));  /* bf16 prefill kernel knobs */
  if (getenv("LT_BENCH_GGP_ST")) lt_cuda_ggp_st = atoi(getenv("LT_BENCH_GGP_ST"));
  if (getenv("LT_BENCH_GGP_BM128")) lt_cuda_ggp_bm128 = atoi(getenv("LT_BENCH_GGP_BM128"));
  if (getenv("LT_BENCH_GGP_FP8BM")) lt_cuda_ggp_fp8_bm = atoi(getenv("LT_BENCH_GGP_FP8BM"));
  if (getenv("LT_BENCH_GGP_FP8_128")) lt_cuda_ggp_fp8_128 = atoi(getenv("LT_BENCH_GGP_FP8_128"));
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, c->device));
  measure_floors(c->stream, c->blas);
  printf("device %s: copy bandwidth %.0f GB/s (D2D memcpy, 1 GiB, read+write), cuBLAS bf16 GEMM 8192^3 %.0f TFLOP/s\n",
         p.name, bw_gbs, gemm_tfs);
  model_t v2 = {"v2-lite", 2048, 64, 6, 1408, 2816, 1, 1, LT_TOPK_GREEDY, 0, 0, 0, 1.0f};
  model_t v3 = {"v3-tp8", 7168, 256, 8, 256, 256, 8, 4, LT_TOPK_NOAUX_TC, 1, 1, 1, 2.5f};
  model_t v3f = {"v3-full", 7168, 256, 8, 2048, 2048, 8, 4, LT_TOPK_NOAUX_TC, 1, 1, 1, 2.5f};
  const char *only = argc > 1 ? argv[1] : NULL;
  only_m = argc > 2 ? atoi(argv[2]) : 0;
  int fp8_only = 0;
  if (only && !strcmp(only, "route-norm")) { route_norm_only = 1; only = NULL; }
  if (only && !strcmp(only, "fp8")) { fp8_only = 1; only = NULL; }
  for (int fp8 = fp8_only; fp8 < (route_norm_only ? 1 : 2); fp8++) {
    if (!only || !strcmp(only, v2.name)) bench_model(b, &v2, fp8, stdout);
    if (!only || !strcmp(only, v3.name)) bench_model(b, &v3, fp8, stdout);
    if (fp8 && !route_norm_only && (!only || !strcmp(only, v3f.name))) bench_model(b, &v3f, fp8, stdout);
  }
  b->destroy(b);
  return 0;
}
