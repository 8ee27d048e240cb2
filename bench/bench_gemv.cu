/* bench_gemv.cu — the bf16 decode GEMV (cuda_gemv_bf16.cu) against cuBLASLt (lt_cuda_linear /
 * lt_cuda_linear_f32out, which take cuBLASLt for bf16 weights) at the DeepSeek-V2-Lite and V3
 * projection shapes, rows ∈ {1, 2, 4, 8, 16}: the D2D copy bandwidth first (read + write bytes), then
 * the median µs per call (CUDA events around groups of back-to-back launches, weights rotated over
 * more than 4× the L2 so that it does not serve them) and % of the bytes floor (weights + x + y over
 * the copy bandwidth). Timed as CUDA-graph replays (decode runs in graphs); also sweeps the GEMV's
 * tuning knobs and times plain stream launches; those per-variant numbers go to stderr. The pair
 * (linear_pair: q_proj / q_a beside kv_a over one x) as one launch against its two launches, first.
 * `bench_gemv pair`: only the pair; `bench_gemv quick`: the pair, then the automatic GEMV and
 * cuBLASLt at four shapes, rows 1, 4, 8 (an A/B of kernel builds in a few seconds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include "backend/cuda/cuda_ops.h"
#include "bench_util.cuh"

extern "C" latte_status lt_cuda_gemv_bf16(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y,
                                          int rows, int out_f32, int *done);
extern "C" latte_status lt_cuda_gemv_bf16_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1,
                                               void *y1, const lt_weight *w2, void *y2, int rows, int *done);
extern "C" int lt_gemv_bf16_nt, lt_gemv_bf16_st, lt_gemv_bf16_fill4, lt_gemv_bf16_kmax, lt_gemv_bf16_force,
    lt_gemv_bf16_off;


static cudaStream_t g_st;

/* median µs per call: reps replays of a CUDA graph of `group` back-to-back calls (as decode runs them) */
static double time_graph(run_fn fn, void *arg, int reps, int group) { return lt_bench_time(g_st, fn, arg, reps, group, 1); }

/* median µs per call of reps groups of `group` stream launches */
static double time_med(run_fn fn, void *arg, int reps, int group) { return lt_bench_time(g_st, fn, arg, reps, group, 0); }

/* random bf16 in [-0.05, 0.05) from a hash of the index */
__global__ void fill_bf16(__nv_bfloat16 *p, size_t n, unsigned salt) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ (unsigned)(i >> 32) * 40503u ^ salt;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
    p[i] = __float2bfloat16(((float)(h & 0xffffff) / 16777216.0f - 0.5f) * 0.1f);
  }
}

struct lin_arg {
  lt_backend *b;
  lt_weight *w;
  int nw, M, f32, ours;
  void *x, *y;
};
static void run_lin(void *p, int i) {
  lin_arg *a = (lin_arg *)p;
  lt_weight *w = &a->w[i % a->nw];
  latte_status s;
  if (a->ours) {
    int done = 0;
    s = lt_cuda_gemv_bf16(a->b, a->x, w->k, w, a->y, a->M, a->f32, &done);
    if (!s && !done) { printf("gemv declined rows %d n %lld k %lld\n", a->M, (long long)w->n, (long long)w->k); exit(1); }
  } else {
    lt_gemv_bf16_off = 1;  /* lt_cuda_linear tries the GEMV first: make it decline, leaving cuBLASLt */
    if (a->f32) s = lt_cuda_linear_f32out(a->b, a->x, w, (float *)a->y, a->M);
    else s = lt_cuda_linear(a->b, a->x, w->k, w, a->y, a->M);
    lt_gemv_bf16_off = 0;
  }
  if (s) { printf("linear failed: %s\n", latte_last_error()); exit(1); }
}

/* ---- the pair: y1 = x · W1ᵀ, y2 = x · W2ᵀ over one x ---- */
enum { PAIR_ONE = 0, PAIR_TWO_GEMV = 1, PAIR_TWO_CUBLAS = 2 };
struct pair_arg {
  lt_backend *b;
  lt_weight *w1, *w2;  /* nw pairs, rotated */
  int nw, M, how;
  void *x, *y1, *y2;
};
static int g_pair_declined;
static void run_pair(void *p, int i) {
  pair_arg *a = (pair_arg *)p;
  const lt_weight *w1 = &a->w1[i % a->nw], *w2 = &a->w2[i % a->nw];
  latte_status s = LATTE_OK;
  int d1 = 1, d2 = 1;
  if (a->how == PAIR_ONE) {  /* one launch: both weights' row tiles in one grid */
    s = lt_cuda_gemv_bf16_pair(a->b, a->x, w1->k, w1, a->y1, w2, a->y2, a->M, &d1);
    if (!s && !d1) g_pair_declined = 1;
  } else if (a->how == PAIR_TWO_GEMV) {  /* what linear_pair ran before: two GEMV launches */
    s = lt_cuda_gemv_bf16(a->b, a->x, w1->k, w1, a->y1, a->M, 0, &d1);
    if (!s) s = lt_cuda_gemv_bf16(a->b, a->x, w1->k, w2, a->y2, a->M, 0, &d2);
    if (!s && !(d1 && d2)) { printf("gemv declined in the pair, rows %d\n", a->M); exit(1); }
  } else {  /* two cuBLASLt launches (linear_pair's fallback with the GEMV off) */
    lt_gemv_bf16_off = 1;
    s = lt_cuda_linear_pair(a->b, a->x, w1->k, w1, a->y1, w2, a->y2, a->M);
    lt_gemv_bf16_off = 0;
  }
  if (s) { printf("pair failed: %s\n", latte_last_error()); exit(1); }
}

/* The pair at rows 1, 4, 8: one launch vs two GEMV launches vs two cuBLASLt launches, graph replays
 * over weights rotated through > 4 × L2; floor = both weights' bytes / copy bandwidth. */
static void bench_pair(lt_backend *b, const cudaDeviceProp &p, double bw, const char *name, int n1, int n2, int K,
                       void *x, void *y) {
  const size_t wb1 = (size_t)n1 * K * 2, wb2 = (size_t)n2 * K * 2;
  const size_t s1 = (wb1 + 255) / 256 * 256, s2 = (wb2 + 255) / 256 * 256;
  const int nw = (int)(4.0 * p.l2CacheSize / (double)(wb1 + wb2)) + 1;
  char *buf;
  CK(cudaMalloc(&buf, (s1 + s2) * nw));
  fill_bf16<<<4096, 256, 0, g_st>>>((__nv_bfloat16 *)buf, (s1 + s2) * nw / 2, 777u + n1);
  CK(cudaGetLastError());
  lt_weight *w1 = (lt_weight *)calloc(nw, sizeof(lt_weight)), *w2 = (lt_weight *)calloc(nw, sizeof(lt_weight));
  for (int i = 0; i < nw; i++) {
    w1[i].dtype = w2[i].dtype = LT_BF16;
    w1[i].n = n1; w2[i].n = n2;
    w1[i].k = w2[i].k = K;
    w1[i].data = buf + (s1 + s2) * i;
    w2[i].data = buf + (s1 + s2) * i + s1;
  }
  const double floor_us = (double)(wb1 + wb2) / bw * 1e6;
  const int group = std::max(20, nw), reps = 50;
  printf("\npair %s: %d x %d + %d x %d bf16, %d rotated pairs; floor = (%.1f + %.1f) MB / copy BW = %.2f us\n", name,
         n1, K, n2, K, nw, wb1 / 1e6, wb2 / 1e6, floor_us);
  printf("%4s %8s %10s %10s %10s %8s %8s %8s %9s\n", "rows", "floor us", "1 launch", "2 gemv", "2 cublas", "%flr 1",
         "%flr 2g", "%flr 2c", "1 vs 2g");
  const int rows[3] = {1, 4, 8};
  for (int ri = 0; ri < 3; ri++) {
    pair_arg a = {b, w1, w2, nw, rows[ri], PAIR_TWO_CUBLAS, x, y, (char *)y + (size_t)16 * n1 * 2};
    for (int i = 0; i < nw; i++) run_pair(&a, i);  /* cuBLASLt plans built outside the timing */
    const double t_cub = time_graph(run_pair, &a, reps, group);
    a.how = PAIR_TWO_GEMV;
    run_pair(&a, 0);
    const double t_two = time_graph(run_pair, &a, reps, group);
    a.how = PAIR_ONE;
    g_pair_declined = 0;
    run_pair(&a, 0);
    if (g_pair_declined) {
      printf("%4d %8.2f %10s %10.2f %10.2f %8s %7.1f%% %7.1f%%   (pair declined)\n", rows[ri], floor_us, "-", t_two,
             t_cub, "-", 100 * floor_us / t_two, 100 * floor_us / t_cub);
      continue;
    }
    const double t_one = time_graph(run_pair, &a, reps, group);
    printf("%4d %8.2f %10.2f %10.2f %10.2f %7.1f%% %7.1f%% %7.1f%% %8.2fx\n", rows[ri], floor_us, t_one, t_two, t_cub,
           100 * floor_us / t_one, 100 * floor_us / t_two, 100 * floor_us / t_cub, t_two / t_one);
  }
  for (int i = 0; i < nw; i++) {
    lt_cuda_linear_release(&w1[i]); free(w1[i].priv);
    lt_cuda_linear_release(&w2[i]); free(w2[i].priv);
  }
  free(w1); free(w2);
  CK(cudaFree(buf));
}

int main(int argc, char **argv) {
  const int pair_only = argc > 1 && !strcmp(argv[1], "pair"), quick = argc > 1 && !strcmp(argv[1], "quick");
  lt_backend *b;
  if (lt_cuda_backend_create(0, &b)) { printf("backend: %s\n", latte_last_error()); return 1; }
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  g_st = c->stream;
  lt_gemv_bf16_force = 1;  /* time the GEMV at every shape, also where it declines by default */
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  printf("device: %s, %d SMs, L2 %d MB\n", p.name, p.multiProcessorCount, p.l2CacheSize >> 20);

  const double bw = lt_bench_copy_bw(g_st, (size_t)1 << 30, 20);  /* 1 GiB copied: 2 GiB moved */
  printf("floor: D2D copy %.0f GB/s (read + write)\n", bw / 1e9);

  struct { const char *name; int n, k, f32; } shapes[9] = {
      {"v2l q_proj", 3072, 2048, 0},    {"v2l kv_a", 576, 2048, 0},   {"v2l o_proj", 2048, 2048, 0},
      {"v2l lm_head", 102400, 2048, 1}, {"v3 q_a", 1536, 7168, 0},    {"v3 kv_a", 576, 7168, 0},
      {"v3 q_b", 24576, 1536, 0},       {"v3 o_proj", 7168, 16384, 0}, {"v3 lm_head", 129280, 7168, 1}};
  const int rows_all[5] = {1, 2, 4, 8, 16}, rows_quick[3] = {1, 4, 8};
  const int *rows = quick ? rows_quick : rows_all, nrows = quick ? 3 : 5;
  /* knob sweep: {nt, st, fill4, kmax}; all 0 is the automatic choice */
  const int var[8][4] = {{0, 0, 0, 0},  {1, 4, 4, -1}, {1, 4, 2, 0}, {1, 8, 1, 0},
                         {1, 8, 1, -1}, {2, 4, 1, 0},  {1, 4, 1, 2048}, {1, 4, 8, 0}};
  const int nvar = quick ? 1 : 8;
  void *x, *y;
  CK(cudaMalloc(&x, (size_t)16 * 16384 * 2));
  CK(cudaMalloc(&y, (size_t)16 * 129280 * 4));
  fill_bf16<<<256, 256, 0, g_st>>>((__nv_bfloat16 *)x, (size_t)16 * 16384, 7u);
  CK(cudaGetLastError());
  bench_pair(b, p, bw, "V2-Lite q_proj + kv_a", 3072, 576, 2048, x, y);
  bench_pair(b, p, bw, "V3 q_a + kv_a", 1536, 576, 7168, x, y);
  if (pair_only) {
    cudaFree(x);
    cudaFree(y);
    b->destroy(b);
    return 0;
  }
  char table[9 * 5][160];
  int nt = 0;
  fprintf(stderr, "%-12s %5s %-14s %9s %7s\n", "shape", "rows", "variant", "us", "%floor");
  for (int si = 0; si < 9; si++) {
    if (quick && si != 0 && si != 1 && si != 4 && si != 5) continue;  /* V2-Lite q_proj, kv_a; V3 q_a, kv_a */
    const int N = shapes[si].n, K = shapes[si].k, f32 = shapes[si].f32;
    const size_t wb = (size_t)N * K * 2, stride = (wb + 255) / 256 * 256;
    const int nw = (int)std::max<size_t>(1, (size_t)(4.0 * p.l2CacheSize / wb) + 1);  /* nw · wb > 4 × L2 */
    char *buf;
    CK(cudaMalloc(&buf, stride * nw));
    fill_bf16<<<4096, 256, 0, g_st>>>((__nv_bfloat16 *)buf, stride * nw / 2, 1234u + si);
    CK(cudaGetLastError());
    lt_weight *ws = (lt_weight *)calloc(nw, sizeof(lt_weight));
    for (int i = 0; i < nw; i++) {
      ws[i].dtype = LT_BF16;
      ws[i].n = N;
      ws[i].k = K;
      ws[i].data = buf + stride * i;
    }
    /* a graph of group calls covers every rotated weight; about 0.12 s of work per measurement */
    const double est_us = 2.0 * wb / bw * 1e6 + 3.0;
    const int group = std::max(20, nw), reps = (int)std::min(50.0, std::max(5.0, 0.12e6 / (est_us * group)));
    for (int ri = 0; ri < nrows; ri++) {
      const int M = rows[ri];
      const double bytes = (double)wb + 2.0 * M * K + (double)M * N * (f32 ? 4 : 2);
      const double floor_us = bytes / bw * 1e6;
      lin_arg a = {b, ws, nw, M, f32, 0, x, y};
      for (int i = 0; i < nw; i++) run_lin(&a, i);  /* cuBLASLt plans built outside the timing */
      const double t_cub = time_graph(run_lin, &a, reps, group);
      fprintf(stderr, "%-12s %5d %-14s %9.2f %6.1f%%\n", shapes[si].name, M, "cublasLt", t_cub, 100 * floor_us / t_cub);
      a.ours = 1;
      double t_auto = 0, t_best = 1e30;
      int best = 0;
      for (int v = 0; v < nvar; v++) {
        lt_gemv_bf16_nt = var[v][0]; lt_gemv_bf16_st = var[v][1]; lt_gemv_bf16_fill4 = var[v][2];
        lt_gemv_bf16_kmax = var[v][3];
        run_lin(&a, 0);  /* first use of a variant sets its shared-memory limit: outside the capture */
        const double t = time_graph(run_lin, &a, reps, group);
        if (v == 0) t_auto = t;
        if (t < t_best) { t_best = t; best = v; }
        char vn[32];
        snprintf(vn, sizeof vn, v ? "nt%d st%d f%d k%d" : "auto", var[v][0], var[v][1], var[v][2], var[v][3]);
        fprintf(stderr, "%-12s %5d %-14s %9.2f %6.1f%%\n", shapes[si].name, M, vn, t, 100 * floor_us / t);
      }
      lt_gemv_bf16_nt = lt_gemv_bf16_st = lt_gemv_bf16_fill4 = lt_gemv_bf16_kmax = 0;
      if (!quick) {  /* stream launches (host launch overhead included), for comparison */
        a.ours = 0;
        const double s_cub = time_med(run_lin, &a, reps, 20);
        a.ours = 1;
        const double s_our = time_med(run_lin, &a, reps, 20);
        fprintf(stderr, "%-12s %5d stream launches: cublasLt %.2f us, gemv %.2f us\n", shapes[si].name, M, s_cub,
                s_our);
      }
      snprintf(table[nt++], sizeof table[0], "%-12s %6d x %-6d %4d %8.2f %8.2f %8.2f %6.1f%% %6.1f%% %7.2fx   %8.2f nt%d st%d f%d k%d",
               shapes[si].name, N, K, M, floor_us, t_cub, t_auto, 100 * floor_us / t_cub, 100 * floor_us / t_auto,
               t_cub / t_auto, t_best, var[best][0], var[best][1], var[best][2], var[best][3]);
    }
    for (int i = 0; i < nw; i++) { lt_cuda_linear_release(&ws[i]); free(ws[i].priv); }
    free(ws);
    CK(cudaFree(buf));
  }
  printf("\n%-12s %15s %4s %8s %8s %8s %7s %7s %8s   %8s %s\n", "shape", "n x k", "rows", "floor", "cublas", "gemv",
         "%flr", "%flr", "speedup", "best us", "best variant");
  printf("%-12s %15s %4s %8s %8s %8s %7s %7s %8s\n", "", "", "", "us", "us", "us", "cublas", "gemv", "");
  for (int i = 0; i < nt; i++) printf("%s\n", table[i]);
  cudaFree(x);
  cudaFree(y);
  b->destroy(b);
  return 0;
}
