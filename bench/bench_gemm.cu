/* bench_gemm.cu — floors and lt_cuda_linear timings: D2D copy bandwidth, cuBLASLt bf16 and FP8
 * 8192³ rates, then FP8 (our kernel vs cuBLASLt block-scaled) and bf16 linear at DeepSeek-V3 shapes
 * for M ∈ {1, 8, 16, 32, 64, 512, 4096} (FP8: previous split-K kernel, our split-free kernels, the
 * decode GEMV, cuBLASLt, automatic dispatch), then the mid-size FP8 kernel at M = 8..64 against the
 * dispatch before it, the wgmma FP8 kernel and cuBLASLt (`bench_gemm mid`: floors and that part only;
 * `bench_gemm wg`: floors and the wgmma kernel's knob sweep). CUDA events, median of many runs, rotating
 * buffers for small M; each group of 10 calls (LT_BENCH_GROUP) is one CUDA graph replay (`--stream`: stream
 * launches). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include "backend/cuda/cuda_ops.h"
#include "bench_util.cuh"

extern "C" int lt_cuda_gemm_force, lt_cuda_fp8_mid_on, lt_cuda_fp8_wg_on, lt_fp8_quant_skip, lt_fp8_wg_xin;
extern "C" int lt_gemv_fp8_st, lt_gemv_fp8_bps, lt_gemv_fp8_kmax;
extern "C" int lt_fp8_mid_cfg, lt_fp8_mid_s, lt_fp8_mid_xq, lt_fp8_mid_st;
extern "C" int lt_fp8_wg_cfg, lt_fp8_wg_s, lt_fp8_wg_st, lt_fp8_wg_tma, lt_fp8_tma_st, lt_fp8_tma_wide, lt_fp8_tma_wide_wg;
extern "C" int lt_fp8_quant_early, lt_fp8_tma_kw, lt_fp8_tma_kw_ring, lt_fp8_tma_kw_min;
extern "C" void lt_cuda_linear_release(lt_weight *w);

#define BK(x) do { cublasStatus_t e_ = (x); if (e_ != CUBLAS_STATUS_SUCCESS) { printf("cuBLAS %s: %d\n", #x, (int)e_); exit(1); } } while (0)

static cudaStream_t g_st;

/* 1: each timed group of 10 calls is one replay of a captured CUDA graph (as decode runs, and as the
 * issue's cuBLASLt figures were taken); 0 (`--stream`): stream launches, host launch overhead included */
static int g_graph = 1;

/* calls per timed group: 10, or LT_BENCH_GROUP (a longer graph spreads its launch over more calls) */
static int g_group = 10;

/* median time (ms) per call of `reps` groups of g_group back-to-back calls (as in a forward pass) */
static double time_med(run_fn fn, void *arg, int reps) { return lt_bench_time(g_st, fn, arg, reps, g_group, g_graph) / 1e3; }

/* The wgmma FP8 kernel's knobs from the environment (`prof`, `probe`): LT_BENCH_WG_CFG (warpgroups), _WG_S (K split),
 * _WG_TMA (1 TMA feed, 2 cp.async), _TMA_ST (TMA ring stages) */
static void wg_knobs_from_env() {
  if (getenv("LT_BENCH_WG_CFG")) lt_fp8_wg_cfg = atoi(getenv("LT_BENCH_WG_CFG"));
  if (getenv("LT_BENCH_WG_S")) lt_fp8_wg_s = atoi(getenv("LT_BENCH_WG_S"));
  if (getenv("LT_BENCH_WG_TMA")) lt_fp8_wg_tma = atoi(getenv("LT_BENCH_WG_TMA"));
  if (getenv("LT_BENCH_TMA_ST")) lt_fp8_tma_st = atoi(getenv("LT_BENCH_TMA_ST"));
}

/* ---- raw cuBLASLt dense GEMM (bf16 or FP8 per-tensor), 8192³ ---- */
struct dense_arg {
  cublasLtHandle_t lt; cublasLtMatmulDesc_t op; cublasLtMatrixLayout_t la, lb, lc, ld;
  cublasLtMatmulAlgo_t algo; void *A, *B, *C, *ws; size_t wss;
};
static void run_dense(void *p, int i) {
  dense_arg *d = (dense_arg *)p;
  float one = 1, zero = 0;
  BK(cublasLtMatmul(d->lt, d->op, &one, d->A, d->la, d->B, d->lb, &zero, d->C, d->lc, d->C, d->ld, &d->algo, d->ws,
                    d->wss, g_st));
}
static double dense_rate(cublasLtHandle_t lt, void *ws, size_t wss, int fp8) {
  const int n = 8192;
  dense_arg d;
  memset(&d, 0, sizeof d);
  d.lt = lt; d.ws = ws; d.wss = wss;
  size_t es = fp8 ? 1 : 2;
  CK(cudaMalloc(&d.A, (size_t)n * n * es));
  CK(cudaMalloc(&d.B, (size_t)n * n * es));
  CK(cudaMalloc(&d.C, (size_t)n * n * 2));
  CK(cudaMemset(d.A, 0x11, (size_t)n * n * es));
  CK(cudaMemset(d.B, 0x11, (size_t)n * n * es));
  cudaDataType_t t = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  BK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t T = CUBLAS_OP_T, N = CUBLAS_OP_N;
  BK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &T, sizeof T));
  BK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &N, sizeof N));
  BK(cublasLtMatrixLayoutCreate(&d.la, t, n, n, n));
  BK(cublasLtMatrixLayoutCreate(&d.lb, t, n, n, n));
  BK(cublasLtMatrixLayoutCreate(&d.lc, CUDA_R_16BF, n, n, n));
  BK(cublasLtMatrixLayoutCreate(&d.ld, CUDA_R_16BF, n, n, n));
  cublasLtMatmulPreference_t pref;
  BK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t w = wss;
  BK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &w, sizeof w));
  cublasLtMatmulHeuristicResult_t r;
  int nr = 0;
  BK(cublasLtMatmulAlgoGetHeuristic(lt, d.op, d.la, d.lb, d.lc, d.ld, pref, 1, &r, &nr));
  d.algo = r.algo;
  double ms = time_med(run_dense, &d, 20);
  cudaFree(d.A); cudaFree(d.B); cudaFree(d.C);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(d.la); cublasLtMatrixLayoutDestroy(d.lb); cublasLtMatrixLayoutDestroy(d.lc);
  cublasLtMatrixLayoutDestroy(d.ld); cublasLtMatmulDescDestroy(d.op);
  return 2.0 * n * n * (double)n / (ms * 1e-3);
}

/* ---- lt_cuda_linear ---- */
struct lin_arg { lt_backend *b; lt_weight *w; int nw; void **x; int nx; void *y; int M; };
static void run_lin(void *p, int i) {
  lin_arg *a = (lin_arg *)p;
  latte_status s = lt_cuda_linear(a->b, a->x[i % a->nx], a->w[i % a->nw].k, &a->w[i % a->nw], a->y, a->M);
  if (s) { printf("linear failed: %s\n", latte_last_error()); exit(1); }
}

/* FP8 weights [N, K] (e4m3 1.0, scales 1e-3), as many copies as rotate through > 4× L2 (at most 8) */
static lt_weight *fp8_weights(int N, int K, size_t l2, int *nw_out) {
  const size_t wbytes = (size_t)N * K;
  const int nw = (int)std::min<size_t>(8, std::max<size_t>(1, 4 * l2 / wbytes + 1));
  lt_weight *ws = (lt_weight *)calloc(nw, sizeof(lt_weight));
  const size_t sb = sizeof(float) * ((N + 127) / 128) * ((K + 127) / 128);
  float *h = (float *)malloc(sb);
  for (size_t j = 0; j < sb / 4; j++) h[j] = 1e-3f;
  for (int i = 0; i < nw; i++) {
    ws[i].n = N; ws[i].k = K; ws[i].dtype = LT_F8E4M3; ws[i].bn = ws[i].bk = 128;
    CK(cudaMalloc(&ws[i].data, wbytes));
    CK(cudaMemset(ws[i].data, 0x38, wbytes));
    CK(cudaMalloc(&ws[i].scale, sb));
    CK(cudaMemcpy(ws[i].scale, h, sb, cudaMemcpyHostToDevice));
  }
  free(h);
  *nw_out = nw;
  return ws;
}

/* The DeepSeek-V3 FP8 linear shapes every FP8 table times: N × K */
static const int shapes[5][2] = {{7168, 2048}, {2048, 7168}, {24576, 1536}, {7168, 16384}, {576, 7168}};

/* the bytes an FP8 linear of N × K at M rows must move: e4m3 weights, bf16 x, bf16 y */
static double lin_bytes(int N, int K, int M) { return (double)N * K + (double)M * K * 2 + (double)M * N * 2; }
/* % of the bytes bound at copy rate bw (bytes / s) that moving `bytes` in `us` µs reaches */
static double pct(double us, double bytes, double bw) { return 100.0 * bytes / (us * 1e-6) / bw; }
/* one table cell: µs and its % of the bytes bound at copy rate bw, or `none` where us < 0 or > 1e29 (not run) */
static void print_us(double us, double bytes, double bw, const char *none) {
  if (us < 0 || us > 1e29) printf(" %14s", none);
  else printf(" %7.1f (%3.0f%%)", us, pct(us, bytes, bw));
}

/* One shape's rotated FP8 weights, 4 activation buffers of `rows` rows (bf16 fill, or the bytes `byte`) and an
 * output of `rows` rows (f32-sized) */
struct fp8_set {
  lt_weight *ws;
  int nw;
  void *x[4];
  void *y;
  lin_arg lin(lt_backend *b, int M) { return lin_arg{b, ws, nw, x, 4, y, M}; }  /* lt_cuda_linear at M rows */
};
static fp8_set fp8_set_new(int N, int K, size_t l2, int rows, int byte) {
  fp8_set f;
  f.ws = fp8_weights(N, K, l2, &f.nw);
  for (int i = 0; i < 4; i++) {
    CK(cudaMalloc(&f.x[i], (size_t)rows * K * 2));
    if (byte >= 0) CK(cudaMemset(f.x[i], byte, (size_t)rows * K * 2));
    else fill(f.x[i], (size_t)rows * K, 1.0f, 17u + i);
  }
  CK(cudaMalloc(&f.y, (size_t)rows * N * 4));
  return f;
}
static void fp8_set_free(lt_backend *b, fp8_set &f) {
  for (int i = 0; i < 4; i++) CK(cudaFree(f.x[i]));
  CK(cudaFree(f.y));
  for (int i = 0; i < f.nw; i++) { lt_cuda_linear_release(&f.ws[i]); b->weight_free(b, &f.ws[i]); }
  free(f.ws);
}

/* µs per call of lt_cuda_linear under the current knobs; < 0 when the path declines (probe call) */
static double time_lin(lin_arg *a, int reps) {
  latte_status s = lt_cuda_linear(a->b, a->x[0], a->w[0].k, &a->w[0], a->y, a->M);
  CK(cudaStreamSynchronize(g_st));
  if (s) return -1.0;
  return time_med(run_lin, a, reps) * 1e3;
}

/* The mid-size FP8 kernel (cuda_gemm_fp8_mid.cu) at M = 8, 16, 32, 64: forced (force 5, automatic
 * knobs), the automatic dispatch without it and the wgmma kernel (split-free kernel or cuBLASLt), the
 * automatic dispatch now, cuBLASLt (force 2), the wgmma FP8 kernel (force 6, automatic knobs; cuda_gemm_fp8_wg.cu);
 * then its knobs swept (log), and the table last. */
static void bench_mid(lt_backend *b, const cudaDeviceProp &p, double bw) {
  const int Ms[4] = {8, 16, 32, 64}, Ss[6] = {1, 2, 3, 4, 6, 8};
  double res[5][4][8];  /* [shape][M][mid, before, auto, cublasLt, best swept, wg, wg alone, cublasLt alone] µs */
  double dec[5][3][4];  /* [shape][M = 1, 2, 4][auto, decode GEMV, wg + quant, wg alone] µs */
  int best[5][4][4];    /* the best sweep point: cfg, x place, ring slots, S */
  printf("\nfp8 mid-size kernel: knob sweep, us per call (cfg: 1 = 4 warps x 16 rows, 2 = 4 x 32, 3 = 8 x 16, 4 = 8 x 32; "
         "x: 1 in-block, 2 quant kernel; st: ring slots; columns S = 1 2 3 4 6 8; - = declined)\n");
  for (int si = 0; si < 5; si++) {
    const int N = shapes[si][0], K = shapes[si][1];
    fp8_set fs = fp8_set_new(N, K, (size_t)p.l2CacheSize, 64, -1);
    for (int mi = 0; mi < 4; mi++) {
      lin_arg a = fs.lin(b, Ms[mi]);
      const int forces[4] = {5, 0, 0, 2}, on[4] = {1, 0, 1, 1};
      for (int k = 0; k < 4; k++) {
        lt_cuda_gemm_force = forces[k];
        lt_cuda_fp8_mid_on = lt_cuda_fp8_wg_on = on[k];
        res[si][mi][k] = time_lin(&a, 30);
      }
      lt_cuda_fp8_wg_on = 1;
      lt_cuda_gemm_force = 6;
      res[si][mi][5] = time_lin(&a, 30);
      lt_fp8_wg_xin = 2;      /* not the in-block quantisation: */
      lt_fp8_quant_skip = 1;  /* the GEMM alone, x as the quantisation kernel last left it */
      res[si][mi][6] = time_lin(&a, 30);
      lt_cuda_gemm_force = 2;
      res[si][mi][7] = time_lin(&a, 30);
      lt_fp8_quant_skip = 0;
      lt_fp8_wg_xin = 0;
      lt_cuda_gemm_force = 5;
      lt_cuda_fp8_mid_on = 1;
      res[si][mi][4] = 1e30;
      for (int cfg = 1; cfg <= 4; cfg++)
        for (int xq = 1; xq <= 2; xq++)
          for (int st = 4; st <= 8; st += 4) {
            printf("%6dx%-6d M=%-2d cfg %d x %d st %d:", N, K, Ms[mi], cfg, xq, st);
            for (int s = 0; s < 6; s++) {
              lt_fp8_mid_cfg = cfg; lt_fp8_mid_xq = xq; lt_fp8_mid_st = st; lt_fp8_mid_s = Ss[s];
              const double us = time_lin(&a, 20);
              if (us < 0) { printf("     -"); continue; }
              printf(" %5.1f", us);
              if (us < res[si][mi][4]) {
                res[si][mi][4] = us;
                best[si][mi][0] = cfg; best[si][mi][1] = xq; best[si][mi][2] = st; best[si][mi][3] = Ss[s];
              }
            }
            printf("\n");
          }
      lt_fp8_mid_cfg = lt_fp8_mid_xq = lt_fp8_mid_st = lt_fp8_mid_s = 0;
      lt_cuda_gemm_force = 0;
    }
    for (int mi = 0; mi < 3; mi++) {  /* decode rows: the GEMV (quantising in its blocks) vs the wgmma kernel */
      lin_arg a = fs.lin(b, 1 << mi);
      lt_cuda_gemm_force = 0;
      dec[si][mi][0] = time_lin(&a, 30);
      lt_cuda_gemm_force = 4;
      dec[si][mi][1] = time_lin(&a, 30);
      lt_cuda_gemm_force = 6;
      lt_fp8_wg_xin = 2;  /* x quantised by lt_k_quant_rows first, not in the GEMM's blocks */
      dec[si][mi][2] = time_lin(&a, 30);
      lt_fp8_quant_skip = 1;
      dec[si][mi][3] = time_lin(&a, 30);
      lt_fp8_quant_skip = 0;
      lt_fp8_wg_xin = 0;
      lt_cuda_gemm_force = 0;
    }
    fp8_set_free(b, fs);
  }
  printf("\nfp8 5..64 rows, us per call (%% of the bytes bound: weights + x + y over the %.0f GB/s copy rate); "
         "before = automatic dispatch without the mid and wgmma kernels; best = best knob point swept (cfg/x/st/S)\n", bw / 1e9);
  printf("%-13s %3s %14s %14s %14s %14s %14s %14s %s\n", "N x K", "M", "mid (force 5)", "wg (force 6)", "before",
         "auto now", "cublasLt", "mid best", "knobs");
  for (int si = 0; si < 5; si++)
    for (int mi = 0; mi < 4; mi++) {
      const int N = shapes[si][0], K = shapes[si][1], M = Ms[mi];
      const double bytes = lin_bytes(N, K, M);
      printf("%6dx%-6d %3d", N, K, M);
      const int col[6] = {0, 5, 1, 2, 3, 4};
      for (int kc = 0; kc < 6; kc++) {
        print_us(res[si][mi][col[kc]], bytes, bw, "declined");
      }
      if (res[si][mi][4] < 1e29)
        printf(" %d/%d/%d/%d", best[si][mi][0], best[si][mi][1], best[si][mi][2], best[si][mi][3]);
      printf("\n");
    }
  printf("\ndecode rows, us per call (%% of the bytes bound): auto = the dispatch now (the wgmma kernel quantising x "
         "in its blocks); gemv = the decode GEMV (force 4); wg + quant = the wgmma kernel after lt_k_quant_rows; wg "
         "alone = x already quantised by the op before\n");
  printf("%-13s %3s %14s %14s %14s %14s\n", "N x K", "M", "auto", "gemv", "wg + quant", "wg alone");
  for (int si = 0; si < 5; si++)
    for (int mi = 0; mi < 3; mi++) {
      const int N = shapes[si][0], K = shapes[si][1], M = 1 << mi;
      const double bytes = lin_bytes(N, K, M);
      printf("%6dx%-6d %3d", N, K, M);
      for (int kc = 0; kc < 4; kc++) print_us(dec[si][mi][kc], bytes, bw, "-");
      printf("\n");
    }
  printf("\nthe GEMM alone (x already e4m3 + scales, as where the op before quantises; same bytes bound), us per call\n");
  printf("%-13s %3s %14s %14s %14s\n", "N x K", "M", "wg + quant", "wg alone", "cublasLt alone");
  for (int si = 0; si < 5; si++)
    for (int mi = 0; mi < 4; mi++) {
      const int N = shapes[si][0], K = shapes[si][1], M = Ms[mi];
      const double bytes = lin_bytes(N, K, M);
      printf("%6dx%-6d %3d", N, K, M);
      const int col[3] = {5, 6, 7};
      for (int kc = 0; kc < 3; kc++) {
        print_us(res[si][mi][col[kc]], bytes, bw, "declined");
      }
      printf("\n");
    }
  lt_cuda_fp8_mid_on = 1;
}

/* ---- read ceilings (`bench_gemm read`): what reading a weight matrix of N×K bytes costs at all, timed as
 * the linears are (graph replay of 10 calls over rotating copies, cold L2). Three access orders: the whole
 * matrix as one contiguous stream; the GEMM kernels' order (a block owns 128 rows × a K range and reads
 * 128 bytes of each of its rows per 128-wide K-group, rows K bytes apart); and the same
 * block decomposition over a tile-major copy (each block's 128 × range bytes contiguous: what a load-time
 * shuffle of W would give); and the contiguous stream again under PDL (successive calls' reads overlap, as the
 * linears' weight prologues do). Plus an empty kernel (the per-launch floor). */
__global__ void lt_bench_k_empty(int *out) { if (out && threadIdx.x == 1024) out[0] = 0; }

/* contiguous: grid-stride 16-byte loads, 4 in flight per thread; PDL: launched with programmatic serialisation,
 * it lets the next call launch at once and waits for the previous one only after its reads (as a linear whose
 * whole weight stream came before its wait would), so successive calls' reads overlap */
template <bool PDL>
__global__ void lt_bench_k_read_flat(const uint4 *w, size_t n16, unsigned *out) {
  if (PDL) LT_PDL_LAUNCH_NEXT();
  unsigned acc = 0;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n16; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int j = 0; j < 4; j++) v[j] = __ldcs(w + i + j * stride);
#pragma unroll
    for (int j = 0; j < 4; j++) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  }
  for (; i < n16; i += stride) { uint4 v = __ldcs(w + i); acc ^= v.x ^ v.y ^ v.z ^ v.w; }
  if (PDL) LT_PDL_WAIT();
  if (acc == 0x9e3779b9u) out[0] = acc;
}

/* block (tile, split): 128 rows × range bytes; 256 threads; thread t reads chunk t % 8 of rows t / 8 + 32 j
 * (j < 4) per 128-wide group; tiled = 0: row-major W (row stride k), 1: the block's bytes contiguous
 * (tile-major: tile, split, group, row; R = the tile's rows) */
__global__ void lt_bench_k_read_tiles(const unsigned char *w, int n, int k, int range, int tiled, unsigned *out) {
  const int tile = blockIdx.x, s = blockIdx.y, t = threadIdx.x, groups = range / 128;
  unsigned acc = 0;
  for (int g0 = 0; g0 < groups; g0 += 2) {
    uint4 v[8];
#pragma unroll
    for (int u = 0; u < 8; u++) {
      const int g = g0 + u / 4, r = t / 8 + 32 * (u % 4), row = tile * 128 + r;
      v[u] = make_uint4(0, 0, 0, 0);
      if (g < groups && row < n) {
        const int R = min(128, n - tile * 128);
        const size_t off = tiled ? ((size_t)tile * 128 * k + (size_t)s * R * range + ((size_t)g * R + r) * 128 + (t % 8) * 16)
                                 : ((size_t)row * k + (size_t)s * range + g * 128 + (t % 8) * 16);
        v[u] = __ldcs((const uint4 *)(w + off));
      }
    }
#pragma unroll
    for (int u = 0; u < 8; u++) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  if (acc == 0x9e3779b9u) out[0] = acc;
}

struct read_arg { lt_weight *w; int nw, mode, n, k, s, sms; unsigned *out; };
static void run_read(void *p, int i) {
  read_arg *a = (read_arg *)p;
  const unsigned char *w = a->w ? (const unsigned char *)a->w[i % a->nw].data : NULL;
  if (a->mode == 0) lt_bench_k_empty<<<1, 32, 0, g_st>>>((int *)a->out);
  else if (a->mode == 1) lt_bench_k_read_flat<false><<<a->sms * 4, 256, 0, g_st>>>((const uint4 *)w, (size_t)a->n * a->k / 16, a->out);
  else if (a->mode == 4) CK(lt_launch(lt_bench_k_read_flat<true>, a->sms * 4, 256, 0, g_st, (const uint4 *)w,
                                      (size_t)a->n * a->k / 16, a->out));
  else lt_bench_k_read_tiles<<<dim3((a->n + 127) / 128, a->s), 256, 0, g_st>>>(w, a->n, a->k, a->k / a->s, a->mode - 2, a->out);
  CK(cudaGetLastError());
}

static void bench_read(lt_backend *b, const cudaDeviceProp &p, double bw) {
  unsigned *out;
  CK(cudaMalloc(&out, 4));
  read_arg e = {NULL, 1, 0, 0, 0, 1, p.multiProcessorCount, out};
  const double t_empty = time_med(run_read, &e, 30) * 1e3;
  printf("\nread ceilings, us per call (graph replay of 10, rotating copies, cold L2; %% of the weight bytes over the "
         "%.0f GB/s copy rate); empty kernel: %.2f us\n", bw / 1e9, t_empty);
  printf("%-13s %6s %16s %4s %16s %16s %16s\n", "N x K", "MB", "flat", "S", "GEMM order", "tile-major", "flat, PDL");
  /* the linears' shapes, then two of the experts' size at one token (V2-Lite bf16, 6 routed + 2 shared experts:
   * gate_up 8 × 2816 rows × 4096 bytes, down 8 × 2048 rows × 2816 bytes) */
  static const int moe[2][2] = {{22528, 4096}, {16384, 2816}};
  for (int si = 0; si < 7; si++) {
    const int *sh = si < 5 ? shapes[si] : moe[si - 5];
    const int N = sh[0], K = sh[1], tiles = (N + 127) / 128;
    int nw;
    lt_weight *ws = fp8_weights(N, K, (size_t)p.l2CacheSize, &nw);
    int S = 1;  /* the largest split of K's groups with tiles · S ≤ SMs */
    for (int s = 1; s <= 8; s++)
      if ((K / 128) % s == 0 && tiles * s <= p.multiProcessorCount) S = s;
    double us[4];
    for (int m = 1; m <= 4; m++) {
      read_arg a = {ws, nw, m, N, K, S, p.multiProcessorCount, out};
      us[m - 1] = time_med(run_read, &a, 30) * 1e3;
    }
    printf("%6dx%-6d %6.1f", N, K, N * (double)K / 1e6);
    for (int m = 0; m < 4; m++) {
      if (m == 1) printf(" %4d", S);
      printf(" %7.2f (%4.0f%%)", us[m], pct(us[m], N * (double)K, bw));
    }
    printf("\n");
    for (int i = 0; i < nw; i++) b->weight_free(b, &ws[i]);
    free(ws);
  }
  CK(cudaFree(out));
}

/* The wgmma FP8 kernel (cuda_gemm_fp8_wg.cu, force 6) at M = 8, 16, 32, 64: automatic knobs, then its knobs
 * swept (warpgroups 1 / 2 × ring stages 4 / 6 / 8 × K split 1..8; log), and a table of automatic, best swept,
 * the mid-size kernel (force 5) and cuBLASLt (force 2) last. */
static void bench_wg(lt_backend *b, const cudaDeviceProp &p, double bw) {
  const int Ms[4] = {8, 16, 32, 64}, Ss[6] = {1, 2, 3, 4, 6, 8};
  double res[5][4][4];  /* [shape][M][wg auto, wg best swept, mid, cublasLt] µs */
  int best[5][4][3];    /* the best sweep point: warpgroups, stages, S */
  printf("\nfp8 wgmma kernel: knob sweep, us per call (wg: warpgroups per block; st: ring stages; columns S = 1 2 3 4 6 8; "
         "- = declined)\n");
  for (int si = 0; si < 5; si++) {
    const int N = shapes[si][0], K = shapes[si][1];
    fp8_set fs = fp8_set_new(N, K, (size_t)p.l2CacheSize, 64, -1);
    for (int mi = 0; mi < 4; mi++) {
      lin_arg a = fs.lin(b, Ms[mi]);
      const int forces[3] = {6, 5, 2}, slot[3] = {0, 2, 3};
      for (int k = 0; k < 3; k++) {
        lt_cuda_gemm_force = forces[k];
        res[si][mi][slot[k]] = time_lin(&a, 30);
      }
      lt_cuda_gemm_force = 6;
      res[si][mi][1] = 1e30;
      for (int wg = 1; wg <= 2; wg++)
        for (int st = 4; st <= 8; st += 2) {
          printf("%6dx%-6d M=%-2d wg %d st %d:", N, K, Ms[mi], wg, st);
          for (int s = 0; s < 6; s++) {
            lt_fp8_wg_cfg = wg; lt_fp8_wg_st = st; lt_fp8_wg_s = Ss[s];
            const double us = time_lin(&a, 20);
            if (us < 0) { printf("     -"); continue; }
            printf(" %5.1f", us);
            if (us < res[si][mi][1]) {
              res[si][mi][1] = us;
              best[si][mi][0] = wg; best[si][mi][1] = st; best[si][mi][2] = Ss[s];
            }
          }
          printf("\n");
        }
      lt_fp8_wg_cfg = lt_fp8_wg_st = lt_fp8_wg_s = 0;
      lt_cuda_gemm_force = 0;
    }
    fp8_set_free(b, fs);
  }
  printf("\nfp8 wgmma kernel, us per call (%% of the bytes bound: weights + x + y over the %.0f GB/s copy rate); "
         "best = best knob point swept (warpgroups/stages/S)\n", bw / 1e9);
  printf("%-13s %3s %14s %14s %14s %14s %s\n", "N x K", "M", "wg (force 6)", "wg best", "mid (force 5)", "cublasLt",
         "knobs");
  for (int si = 0; si < 5; si++)
    for (int mi = 0; mi < 4; mi++) {
      const int N = shapes[si][0], K = shapes[si][1], M = Ms[mi];
      const double bytes = lin_bytes(N, K, M);
      printf("%6dx%-6d %3d", N, K, M);
      for (int k = 0; k < 4; k++) print_us(res[si][mi][k], bytes, bw, "declined");
      if (res[si][mi][1] < 1e29) printf(" %d/%d/%d", best[si][mi][0], best[si][mi][1], best[si][mi][2]);
      printf("\n");
    }
}

/* The wgmma FP8 kernel's TMA feed (cuda_gemm_fp8_tma.cuh) against its cp.async feed at M = 1 .. 64: the cp.async
 * kernel as dispatched before (x quantised in its blocks where its rule says), the TMA kernel after the
 * quantisation launch, the automatic dispatch now, both kernels alone (x left quantised: lt_fp8_quant_skip), the TMA
 * kernel quantising x in its own blocks (where it can: ≤ 8 rows), then the TMA kernel's knobs swept (warpgroups 1 / 2 × ring stages auto / 4 / 8 × K split 1..8, x quantised first;
 * log) and the table last. */
static void bench_tma(lt_backend *b, const cudaDeviceProp &p, double bw) {
  const int Ms[7] = {1, 2, 4, 8, 16, 32, 64}, Ss[6] = {1, 2, 3, 4, 6, 8}, STs[3] = {0, 4, 8};
  double res[5][7][7];  /* [shape][M][cp.async before, TMA + quant, auto now, TMA alone, cp.async alone, TMA best,
                        * TMA with x quantised in its blocks] */
  int best[5][7][3];
  printf("\nfp8 wgmma kernel, TMA feed: knob sweep, us per call (wg: warpgroups; st: ring stages, 0 = auto; columns S = 1 2 3 "
         "4 6 8; - = declined)\n");
  lt_cuda_gemm_force = 6;
  for (int si = 0; si < 5; si++) {
    const int N = shapes[si][0], K = shapes[si][1];
    fp8_set fs = fp8_set_new(N, K, (size_t)p.l2CacheSize, 64, -1);
    for (int mi = 0; mi < 7; mi++) {
      lin_arg a = fs.lin(b, Ms[mi]);
      const int tma[6] = {2, 1, 0, 1, 2, 1}, xin[6] = {0, 2, 0, 2, 2, 1}, skip[6] = {0, 0, 0, 1, 1, 0};
      for (int k = 0; k < 6; k++) {
        lt_fp8_wg_tma = tma[k]; lt_fp8_wg_xin = xin[k]; lt_fp8_quant_skip = skip[k];
        res[si][mi][k < 5 ? k : 6] = time_lin(&a, 30);
      }
      lt_fp8_quant_skip = 0;
      lt_fp8_wg_tma = 1; lt_fp8_wg_xin = 2;
      res[si][mi][5] = 1e30;
      if (Ms[mi] == 2 || Ms[mi] == 4) continue;
      for (int wg = 1; wg <= 2; wg++)
        for (int sti = 0; sti < 3; sti++) {
          printf("%6dx%-6d M=%-2d wg %d st %d:", N, K, Ms[mi], wg, STs[sti]);
          for (int s = 0; s < 6; s++) {
            lt_fp8_wg_cfg = wg; lt_fp8_tma_st = STs[sti]; lt_fp8_wg_s = Ss[s];
            const double us = time_lin(&a, 20);
            if (us < 0) { printf("     -"); continue; }
            printf(" %5.1f", us);
            if (us < res[si][mi][5]) {
              res[si][mi][5] = us;
              best[si][mi][0] = wg; best[si][mi][1] = STs[sti]; best[si][mi][2] = Ss[s];
            }
          }
          printf("\n");
        }
      lt_fp8_wg_cfg = lt_fp8_tma_st = lt_fp8_wg_s = 0;
    }
    lt_fp8_wg_tma = lt_fp8_wg_xin = 0;
    fp8_set_free(b, fs);
  }
  lt_cuda_gemm_force = 0;
  printf("\nfp8 wgmma kernel, TMA vs cp.async feed, us per call (%% of the bytes bound: weights + x + y over the %.0f GB/s "
         "copy rate); alone = x left quantised (no quantisation launch); best = TMA knobs swept (warpgroups/stages/S)\n",
         bw / 1e9);
  printf("%-13s %3s %14s %14s %14s %14s %14s %14s %14s %s\n", "N x K", "M", "cp.async", "TMA + quant", "auto now",
         "TMA alone", "cp.async alone", "TMA best", "TMA x in-block", "knobs");
  for (int si = 0; si < 5; si++)
    for (int mi = 0; mi < 7; mi++) {
      const int N = shapes[si][0], K = shapes[si][1], M = Ms[mi];
      const double bytes = lin_bytes(N, K, M);
      printf("%6dx%-6d %3d", N, K, M);
      for (int k = 0; k < 7; k++) print_us(res[si][mi][k], bytes, bw, "-");
      if (res[si][mi][5] < 1e29) printf(" %d/%d/%d", best[si][mi][0], best[si][mi][1], best[si][mi][2]);
      printf("\n");
    }
}

/* ---- linear_pair (`bench_gemm pair`): V3's q_a_proj (1536 × 7168) beside kv_a_proj_with_mqa (576 × 7168) over
 * one x, as the model runs them, at 1..64 rows: both weights in one wgmma launch (the default), x quantised once
 * then one launch per weight (LATTE_FP8_PAIR=0), two plain linears (and LATTE_FP8_PREQUANT=0), and each weight
 * alone. Graph replay of 10 calls over rotating weights, cold L2; bound = both weights + x + y over the copy rate. */
extern "C" int lt_cuda_fp8_pair_one, lt_cuda_fp8_prequant_on;
struct pair_arg { lt_backend *b; fp8_set *s1, *s2; int M; };
static void run_pair(void *p, int i) {
  pair_arg *a = (pair_arg *)p;
  fp8_set *s1 = a->s1, *s2 = a->s2;
  latte_status s = a->b->linear_pair(a->b, s1->x[i % 4], s1->ws[0].k, &s1->ws[i % s1->nw], s1->y, &s2->ws[i % s2->nw],
                                     s2->y, a->M);
  if (s) { printf("linear_pair failed: %s\n", latte_last_error()); exit(1); }
}
static void bench_pair(lt_backend *b, const cudaDeviceProp &p, double bw) {
  const int N1 = 1536, N2 = 576, K = 7168, Ms[7] = {1, 2, 4, 8, 16, 32, 64};
  fp8_set s1 = fp8_set_new(N1, K, (size_t)p.l2CacheSize, 64, -1), s2 = fp8_set_new(N2, K, (size_t)p.l2CacheSize, 64, -1);
  printf("\nlinear_pair %d + %d x %d (V3 q_a_proj beside kv_a_proj_with_mqa), us per call (%% of the bytes bound: both "
         "weights + x + y over the %.0f GB/s copy rate)\n", N1, N2, K, bw / 1e9);
  printf("%3s %14s %14s %14s %14s %14s\n", "M", "one launch", "x once + 2", "two linears", "q_a alone", "kv_a alone");
  for (int mi = 0; mi < 7; mi++) {
    const int M = Ms[mi];
    pair_arg a = {b, &s1, &s2, M};
    double us[5], bytes[5];
    const int one[3] = {1, 0, 0}, pre[3] = {1, 1, 0};
    for (int f = 0; f < 3; f++) {
      lt_cuda_fp8_pair_one = one[f];
      lt_cuda_fp8_prequant_on = pre[f];
      run_pair(&a, 0);  /* eager first: scratch grows outside the graph capture */
      CK(cudaStreamSynchronize(g_st));
      us[f] = time_med(run_pair, &a, 30) * 1e3;
      bytes[f] = (double)(N1 + N2) * K + (double)M * K * 2 + (double)M * (N1 + N2) * 2;
    }
    lt_cuda_fp8_pair_one = lt_cuda_fp8_prequant_on = 1;
    lin_arg l1 = s1.lin(b, M), l2 = s2.lin(b, M);
    us[3] = time_lin(&l1, 30);
    us[4] = time_lin(&l2, 30);
    bytes[3] = (double)N1 * K + (double)M * K * 2 + (double)M * N1 * 2;
    bytes[4] = (double)N2 * K + (double)M * K * 2 + (double)M * N2 * 2;
    printf("%3d", M);
    for (int f = 0; f < 5; f++) print_us(us[f], bytes[f], bw, "-");
    printf("\n");
  }
  fp8_set_free(b, s1);
  fp8_set_free(b, s2);
}

#ifdef LT_PROBE_ON
/* ---- `bench_gemm probe N K M ...` (a build with -DLT_PROBE_ON only): the timeline of one graph replay of g_group
 * calls, from the probes of lt_k_quant_rows and the TMA FP8 kernel (cuda_probe.cuh): per call, µs from the
 * replay's first block start — the quantisation's first start / median wait return / last end; the GEMM's blocks,
 * first and last start, median wait return, median first full stage, median and last end of the MMA loop, median
 * block barrier after it, median and last end — and the steady-state phases averaged over the middle calls; the
 * automatic dispatch, then over x left quantised (QSKIP). The knob env of `prof` applies; LT_BENCH_PROBE=0 times
 * the probe build without recording. */
extern "C" void lt_probe_set_f8t(void *);
extern "C" void lt_probe_set_q(void *);
extern "C" int lt_probe_seq_f8t, lt_probe_seq_q, lt_probe_flags, lt_fp8_tma_cut;
static double pq(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[(size_t)(q * (v.size() - 1))];
}
static void bench_probe(lt_backend *b, const cudaDeviceProp &p, double bw, int N, int K, int M) {
  wg_knobs_from_env();
  /* 1 record the timeline (default); 0 not (the probe build's own time per call) */
  lt_probe_flags = getenv("LT_BENCH_PROBE") ? atoi(getenv("LT_BENCH_PROBE")) : 1;
  /* LT_BENCH_CUT: the TMA kernel's loop without its wgmma (2), x copies (4) or W copies (8) — what the loop waits on */
  lt_fp8_tma_cut = getenv("LT_BENCH_CUT") ? atoi(getenv("LT_BENCH_CUT")) : 0;
  const size_t cnt = (size_t)2 * 16 * 1024 * 16;
  unsigned long long *d, *h = (unsigned long long *)malloc(cnt * 8);
  CK(cudaMalloc(&d, cnt * 8));
  lt_probe_set_f8t(d);
  lt_probe_set_q(d);
  fp8_set f = fp8_set_new(N, K, (size_t)p.l2CacheSize, M, -1);
  for (int qs = 0; qs < 2; qs++) {
    lt_fp8_quant_skip = qs;
    lin_arg a = f.lin(b, M);
    LT(lt_cuda_linear(b, a.x[0], K, &a.w[0], a.y, M));
    CK(cudaStreamSynchronize(g_st));
    CK(cudaMemset(d, 0, cnt * 8));
    lt_probe_seq_f8t = lt_probe_seq_q = 0;
    const double us = time_med(run_lin, &a, 30) * 1e3;
    CK(cudaMemcpy(h, d, cnt * 8, cudaMemcpyDeviceToHost));
    unsigned long long t0 = ~0ull;
    for (size_t i = 0; i < cnt; i += 16)
      if (h[i] && h[i] < t0) t0 = h[i];
    printf("\nprobe %dx%d M=%d %s: %.2f us per call (%.0f%% of the bytes bound); us from the replay's first block\n", N, K,
           M, qs ? "x quantised (QSKIP)" : "auto", us, pct(us, lin_bytes(N, K, M), bw));
    printf("%4s | %6s %6s %6s | %5s %6s %6s %6s %6s %6s %6s %6s %6s %6s | %s\n", "call", "q.beg", "q.wait", "q.end", "blks",
           "g.beg0", "g.beg1", "g.wait", "g.1st", "g.mma", "g.mmax", "g.sync", "g.end", "g.endx",
           "SMs with 2 of its blocks: their median end");
    double ph[5] = {0, 0, 0, 0, 0}, prev_end = -1;
    int nph = 0;
    for (int j = 0; j < g_group && j < 16; j++) {
      std::vector<double> v[2][16], end2;
      std::vector<int> sm(1024, 0);
      for (int r = 0; r < 2; r++)
        for (int blk = 0; blk < 1024; blk++) {
          const unsigned long long *e = h + (((size_t)r * 16 + j) * 1024 + blk) * 16;
          if (!e[0]) continue;
          for (int q = 0; q < 16; q++)
            if (e[q] && q != 7) v[r][q].push_back((double)(e[q] - t0) / 1e3);
          if (r == 0 && e[7]) sm[(int)((e[7] & 0xffff) - 1) & 1023]++;
        }
      int two = 0;
      for (int blk = 0; blk < 1024; blk++) {
        const unsigned long long *e = h + ((size_t)j * 1024 + blk) * 16;
        if (e[0] && e[7] && e[5] && sm[(int)((e[7] & 0xffff) - 1) & 1023] > 1) end2.push_back((double)(e[5] - t0) / 1e3);
      }
      for (int s = 0; s < 1024; s++) two += sm[s] > 1;
      printf("%4d | %6.2f %6.2f %6.2f | %5zu %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f | %d: %.2f\n", j,
             pq(v[1][0], 0), pq(v[1][1], 0.5), pq(v[1][2], 1), v[0][0].size(), pq(v[0][0], 0), pq(v[0][0], 1),
             pq(v[0][1], 0.5), pq(v[0][2], 0.5), pq(v[0][3], 0.5), pq(v[0][3], 1), pq(v[0][4], 0.5), pq(v[0][5], 0.5),
             pq(v[0][5], 1), two, pq(end2, 0.5));
      if (j >= 2 && j + 1 < g_group && prev_end > 0) {  /* steady-state phases (µs) */
        ph[0] += pq(v[0][1], 0.5) - prev_end;          /* previous call's last block end → wait return */
        ph[1] += pq(v[0][2], 0.5) - pq(v[0][1], 0.5);  /* wait → first tile */
        ph[2] += pq(v[0][3], 0.5) - pq(v[0][2], 0.5);  /* first tile → last MMA */
        ph[3] += pq(v[0][5], 0.5) - pq(v[0][3], 0.5);  /* last MMA → end (epilogue) */
        ph[4] += pq(v[0][5], 1) - pq(v[0][5], 0.5);    /* median → last block end */
        nph++;
      }
      prev_end = pq(v[0][5], 1);
    }
    if (nph)
      printf("phases (median block, calls 2..%d, us): prev end -> wait %.2f, wait -> 1st tile %.2f, 1st -> last MMA %.2f, "
             "MMA -> end %.2f, median -> last end %.2f\n", g_group - 2, ph[0] / nph, ph[1] / nph, ph[2] / nph, ph[3] / nph,
             ph[4] / nph);
  }
  lt_fp8_quant_skip = 0;
  fp8_set_free(b, f);
  CK(cudaFree(d));
  free(h);
}
#endif

/* One shape's TMA-kernel knobs swept (`bench_gemm sweep N K M`): warpgroups 1 / 2 / 4 × ring stages (0 = auto) × K split,
 * with x quantised in the blocks where LT_BENCH_XIN=1 (≤ 8 rows, 1 warpgroup), else by the quantisation launch
 * (LT_BENCH_QSKIP=1: left quantised, the GEMM alone); the automatic dispatch and the cp.async kernel first, always
 * from bf16 x with the quantisation (neither knob applies to them). */
static void bench_sweep(lt_backend *b, const cudaDeviceProp &p, double bw, int N, int K, int M) {
  const int Ss[6] = {1, 2, 3, 4, 6, 8}, STs[8] = {0, 2, 3, 4, 6, 8, 12, 16};
  const int xin = getenv("LT_BENCH_XIN") ? atoi(getenv("LT_BENCH_XIN")) : 2;
  const int skip = getenv("LT_BENCH_QSKIP") ? atoi(getenv("LT_BENCH_QSKIP")) : 0;
  const double bytes = lin_bytes(N, K, M);
  fp8_set fs = fp8_set_new(N, K, (size_t)p.l2CacheSize, M, -1);
  lin_arg a = fs.lin(b, M);
  const double t_auto = time_lin(&a, 30);
  const int wide = lt_fp8_tma_wide, wide_wg = lt_fp8_tma_wide_wg;
  lt_fp8_tma_wide = 0;
  const double t_narrow = time_lin(&a, 30);
  lt_fp8_tma_wide = wide > 0 ? wide : 1;
  lt_fp8_tma_wide_wg = 4;
  const double t_wide4 = time_lin(&a, 30);
  lt_fp8_tma_wide = wide;
  lt_fp8_tma_wide_wg = wide_wg;
  lt_fp8_quant_skip = 1;
  const double t_auto_q = time_lin(&a, 30);
  lt_fp8_quant_skip = 0;
  lt_cuda_gemm_force = 6;
  lt_fp8_wg_tma = 2;
  const double t_cp = time_lin(&a, 30);
  printf("\nsweep %dx%d M=%d: auto %.2f us (%.0f%%), auto without the wide TMA plan %.2f us (%.0f%%), with its "
         "4-warpgroup form %.2f us (%.0f%%), cp.async kernel %.2f us (these four from bf16 x, quantisation included); "
         "auto over x already quantised %.2f us (%.0f%%); TMA kernel (xin %d, quant skip %d), us, columns S = 1 2 3 4 "
         "6 8\n", N, K, M, t_auto, pct(t_auto, bytes, bw), t_narrow, pct(t_narrow, bytes, bw), t_wide4,
         pct(t_wide4, bytes, bw), t_cp, t_auto_q, pct(t_auto_q, bytes, bw), xin, skip);
  lt_fp8_wg_tma = 1;
  lt_fp8_wg_xin = xin;
  lt_fp8_quant_skip = skip;
  double best = 1e30;
  /* LT_BENCH_AUTO_ONLY: the first line only; LT_BENCH_WG_MAX: warpgroups up to this (1, 2; default 4) */
  const int wg_max = getenv("LT_BENCH_AUTO_ONLY") ? 0 : getenv("LT_BENCH_WG_MAX") ? atoi(getenv("LT_BENCH_WG_MAX")) : 4;
  for (int wg = 1; wg <= wg_max; wg += wg)
    for (int sti = 0; sti < 8; sti++) {
      printf("wg %d st %2d:", wg, STs[sti]);
      for (int s = 0; s < 6; s++) {
        lt_fp8_wg_cfg = wg; lt_fp8_tma_st = STs[sti]; lt_fp8_wg_s = Ss[s];
        const double us = time_lin(&a, 20);
        if (us < 0) { printf("     -"); continue; }
        printf(" %5.2f", us);
        if (us < best) best = us;
      }
      printf("\n");
    }
  printf("best %.2f us (%.0f%%)\n", best, pct(best, bytes, bw));
  lt_fp8_wg_cfg = lt_fp8_tma_st = lt_fp8_wg_s = 0;
  lt_fp8_wg_tma = lt_fp8_wg_xin = lt_fp8_quant_skip = 0;
  lt_cuda_gemm_force = 0;
  fp8_set_free(b, fs);
}

/* bench_gemm [--stream] [mid | wg | tma | read | pair | prof N K M [force]]: everything; (read) the floors and the read
 * ceilings; (tma) the floors and the wgmma kernel's TMA feed against its cp.async feed;
 * (pair) the floors and linear_pair; (mid) the floors and the mid-size FP8 kernel's section
 * only; (wg) the floors and the wgmma FP8 kernel's sweep only; (prof) 20 calls of the mid-size kernel (force 5,
 * or the given force, e.g. 6) at one shape, nothing else (for ncu); (sweep N K M [N K M ...]) the TMA kernel's knobs
 * at those shapes */
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--stream")) {
      g_graph = 0;
      for (int j = i; j + 1 < argc; j++) argv[j] = argv[j + 1];
      argc--;
      break;
    }
  if (getenv("LT_BENCH_GROUP")) g_group = std::max(1, atoi(getenv("LT_BENCH_GROUP")));
  const int mid_only = argc > 1 && !strcmp(argv[1], "mid"), wg_only = argc > 1 && !strcmp(argv[1], "wg");
  const int read_only = argc > 1 && !strcmp(argv[1], "read"), pair_only = argc > 1 && !strcmp(argv[1], "pair");
  const int tma_only = argc > 1 && !strcmp(argv[1], "tma");
  lt_backend *b;
  if (lt_cuda_backend_create(1, &b)) { printf("backend: %s\n", latte_last_error()); return 1; }
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  g_st = c->stream;
  if (argc > 4 && !strcmp(argv[1], "prof")) {
    const int N = atoi(argv[2]), K = atoi(argv[3]), M = atoi(argv[4]);
    int nw;
    lt_weight *ws = fp8_weights(N, K, 0, &nw);
    void *x[1], *y;
    CK(cudaMalloc(&x[0], (size_t)M * K * 2));
    fill(x[0], (size_t)M * K, 1.0f, 5u);
    CK(cudaMalloc(&y, (size_t)M * N * 2));
    lt_cuda_gemm_force = argc > 5 ? atoi(argv[5]) : 5;
    wg_knobs_from_env();  /* the wgmma FP8 kernel's knobs, for profiling one configuration */
    if (getenv("LT_BENCH_XIN")) lt_fp8_wg_xin = atoi(getenv("LT_BENCH_XIN"));
    const int reps = getenv("LT_BENCH_REPS") ? atoi(getenv("LT_BENCH_REPS")) : 20;
    for (int i = 0; i < reps; i++) LT(lt_cuda_linear(b, x[0], K, &ws[0], y, M));
    CK(cudaStreamSynchronize(g_st));
    printf("prof %dx%d M=%d force %d: %d calls done\n", N, K, M, lt_cuda_gemm_force, reps);
    b->destroy(b);
    return 0;
  }
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  printf("device: %s, %d SMs, L2 %d MB; timing: %s %d calls%s\n", p.name, p.multiProcessorCount,
         p.l2CacheSize >> 20, g_graph ? "CUDA graph replay of" : "stream launches (--stream) in groups of", g_group,
         g_graph ? " (rotating weights, cold L2)" : "");

  const double bw = lt_bench_copy_bw(g_st, (size_t)2 << 30, 10);  /* 2 GiB copied: 4 GiB moved */
  double bf16_rate = dense_rate(c->lt, c->lt_ws, c->lt_ws_size, 0);
  double fp8_rate = dense_rate(c->lt, c->lt_ws, c->lt_ws_size, 1);
  printf("floors: D2D copy %.0f GB/s (read+write), cuBLASLt bf16 8192^3 %.0f TFLOP/s, fp8 (per-tensor) %.0f TFLOP/s\n",
         bw / 1e9, bf16_rate / 1e12, fp8_rate / 1e12);
  if (getenv("LT_BENCH_TMA_WIDE")) lt_fp8_tma_wide = atoi(getenv("LT_BENCH_TMA_WIDE"));  /* the wide TMA plan: 0 off, 2 pairs too */
  if (getenv("LT_BENCH_WIDE_WG")) lt_fp8_tma_wide_wg = atoi(getenv("LT_BENCH_WIDE_WG"));  /* ... its warpgroups, 2 or 4 */
  if (getenv("LT_BENCH_QEARLY")) lt_fp8_quant_early = atoi(getenv("LT_BENCH_QEARLY"));  /* ... launched early: 0 off */
  if (getenv("LT_BENCH_KW_RING")) lt_fp8_tma_kw_ring = atoi(getenv("LT_BENCH_KW_RING"));  /* the KW plan's ring */
  if (getenv("LT_BENCH_KW_MIN")) lt_fp8_tma_kw_min = atoi(getenv("LT_BENCH_KW_MIN"));  /* ... above these rows */
  if (getenv("LT_BENCH_KW")) lt_fp8_tma_kw = atoi(getenv("LT_BENCH_KW"));  /* K parts: 0 the KW plan, 1 off, 2, 4 */
#ifdef LT_PROBE_ON
  if (argc > 4 && !strcmp(argv[1], "probe")) {
    for (int i = 2; i + 2 < argc; i += 3) bench_probe(b, p, bw, atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]));
    b->destroy(b);
    return 0;
  }
#endif
  if (argc > 4 && !strcmp(argv[1], "sweep")) {
    for (int i = 2; i + 2 < argc; i += 3) bench_sweep(b, p, bw, atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]));
    b->destroy(b);
    return 0;
  }
  if (mid_only || wg_only || read_only || pair_only || tma_only) {
    if (mid_only) bench_mid(b, p, bw);
    else if (tma_only) bench_tma(b, p, bw);
    else if (wg_only) bench_wg(b, p, bw);
    else if (pair_only) bench_pair(b, p, bw);
    else bench_read(b, p, bw);
    b->destroy(b);
    return 0;
  }

  /* which FP8 scale-mode combinations this cuBLASLt offers at all (M = N = K = 1024, TN) */
  {
    const int modes[4][2] = {{CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F},
                             {CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F, CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F},
                             {CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F, CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F},
                             {CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F, CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F}};
    float *sc;
    CK(cudaMalloc(&sc, 1 << 20));
    for (int mi = 0; mi < 4; mi++)
      for (int dt = 0; dt < 2; dt++) {
        cublasLtMatmulDesc_t op;
        cublasLtMatrixLayout_t la, lb, lc;
        BK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        cublasOperation_t T = CUBLAS_OP_T, N = CUBLAS_OP_N;
        BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &T, sizeof T));
        BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &N, sizeof N));
        int32_t ma = modes[mi][0], mb = modes[mi][1];
        BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &ma, sizeof ma));
        BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mb, sizeof mb));
        BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sc, sizeof sc));
        BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sc, sizeof sc));
        BK(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, 1024, 1024, 1024));
        BK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, 1024, 1024, 1024));
        BK(cublasLtMatrixLayoutCreate(&lc, dt ? CUDA_R_32F : CUDA_R_16BF, 1024, 1024, 1024));
        cublasLtMatmulPreference_t pref;
        BK(cublasLtMatmulPreferenceCreate(&pref));
        uint64_t w = c->lt_ws_size;
        BK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &w, sizeof w));
        cublasLtMatmulHeuristicResult_t r;
        int nr = 0;
        cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(c->lt, op, la, lb, lc, lc, pref, 1, &r, &nr);
        printf("cuBLASLt fp8 scale modes A=%d B=%d D=%s: status %d, %d algos\n", ma, mb, dt ? "f32" : "bf16", (int)st, nr);
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatrixLayoutDestroy(la); cublasLtMatrixLayoutDestroy(lb); cublasLtMatrixLayoutDestroy(lc);
        cublasLtMatmulDescDestroy(op);
      }
    cudaFree(sc);
    printf("cuBLASLt version %zu\n", cublasLtGetVersion());
  }
  const int Ms[7] = {1, 8, 16, 32, 64, 512, 4096};
  /* FP8 paths: split-K = the previous small-M kernel (quantise, GEMM, split-K sum: 3 launches),
   * ours = our kernels (split-free: 1 launch at M ≤ 16, 2 above), gemv = the FP8 decode GEMV (M ≤ 16,
   * one launch), cublasLt, auto = linear's dispatch */
  const char *pnames[5] = {"split-K", "ours", "gemv", "cublasLt", "auto"};
  const int pforce[5] = {3, 1, 4, 2, 0};
  printf("\n%-6s %-13s %5s %-9s %9s %9s %9s %7s %7s\n", "dtype", "N x K", "M", "path", "us", "MB", "GFLOP",
         "%bw", "%mma");
  for (int si = 0; si < 5; si++) {
    const int N = shapes[si][0], K = shapes[si][1];
    for (int dt = 0; dt < 2; dt++) {  /* 0 fp8, 1 bf16 */
      const int fp8 = dt == 0;
      size_t wbytes = (size_t)N * K * (fp8 ? 1 : 2);
      /* rotate enough weight copies to exceed L2 several times */
      int nw = (int)std::min<size_t>(8, std::max<size_t>(1, (size_t)(4 * p.l2CacheSize) / wbytes + 1));
      lt_weight *ws = (lt_weight *)calloc(nw, sizeof(lt_weight));
      for (int i = 0; i < nw; i++) {
        ws[i].n = N; ws[i].k = K;
        ws[i].dtype = fp8 ? LT_F8E4M3 : LT_BF16;
        ws[i].bn = ws[i].bk = 128;
        CK(cudaMalloc(&ws[i].data, wbytes));
        CK(cudaMemset(ws[i].data, fp8 ? 0x38 : 0x3c, wbytes));  /* e4m3 1.0 / bf16 ~0.01 */
        if (fp8) {
          size_t sb = sizeof(float) * ((N + 127) / 128) * ((K + 127) / 128);
          float *h = (float *)malloc(sb);
          for (size_t j = 0; j < sb / 4; j++) h[j] = 1e-3f;
          CK(cudaMalloc(&ws[i].scale, sb));
          CK(cudaMemcpy(ws[i].scale, h, sb, cudaMemcpyHostToDevice));
          free(h);
        }
      }
      for (int mi = 0; mi < 7; mi++) {
        const int M = Ms[mi];
        if (!fp8 && (si == 4 || (M > 1 && M < 64))) continue;  /* bf16: the reference points only */
        int nx = M <= 64 ? 4 : 1;
        void *x[4], *y;
        for (int i = 0; i < nx; i++) {
          CK(cudaMalloc(&x[i], (size_t)M * K * 2));
          CK(cudaMemset(x[i], 0x3c, (size_t)M * K * 2));
        }
        CK(cudaMalloc(&y, (size_t)M * N * 2));
        lin_arg a = {b, ws, nw, x, nx, y, M};
        double flop = 2.0 * M * (double)N * K;
        double bytes = (double)wbytes + (double)M * K * 2 + (double)M * N * 2;
        for (int path = 0; path < (fp8 ? 5 : 1); path++) {
          if (fp8 && M > 64 && path < 2) continue;  /* our kernels at large M: ragged-k fallback only */
          if (fp8 && M > 16 && path == 2) continue; /* the FP8 decode GEMV: rows ≤ 16 */
          const char *pn = !fp8 ? "cublasLt" : pnames[path];
          lt_cuda_gemm_force = !fp8 ? 0 : pforce[path];
          /* probe: cuBLASLt may refuse (e.g. M = 1) */
          latte_status s = lt_cuda_linear(b, x[0], K, &ws[0], y, M);
          cudaStreamSynchronize(g_st);
          if (s) { printf("%-6s %6dx%-6d %5d %-9s refused (%s)\n", fp8 ? "fp8" : "bf16", N, K, M, pn, latte_last_error()); continue; }
          double ms = time_med(run_lin, &a, M >= 512 ? 5 : 30);
          double us = ms * 1e3;
          printf("%-6s %6dx%-6d %5d %-9s %9.1f %9.1f %9.1f %6.0f%% %6.0f%%\n", fp8 ? "fp8" : "bf16", N, K, M, pn, us,
                 bytes / 1e6, flop / 1e9, 100.0 * (bytes / (ms * 1e-3)) / bw, 100.0 * (flop / (ms * 1e-3)) /
                 (fp8 ? fp8_rate : bf16_rate));
        }
        lt_cuda_gemm_force = 0;
        for (int i = 0; i < nx; i++) cudaFree(x[i]);
        cudaFree(y);
      }
      for (int i = 0; i < nw; i++) { lt_cuda_linear_release(&ws[i]); b->weight_free(b, &ws[i]); }
      free(ws);
    }
  }
  /* the FP8 decode GEMV (gemv) against the split-free kernel (ours) at M = 1, 2, 4, 8, then the GEMV's
   * knobs (ring slots, blocks per SM aimed at, longest K range) at M = 1 */
  printf("\nfp8 decode sizes, us at M = 1 / 2 / 4 / 8; then gemv knobs (st, bps, kmax) at M = 1\n");
  for (int si = 0; si < 5; si++) {
    const int N = shapes[si][0], K = shapes[si][1];
    fp8_set fs = fp8_set_new(N, K, (size_t)p.l2CacheSize, 8, 0x3c);
    const int Md[4] = {1, 2, 4, 8};
    printf("%6dx%-6d", N, K);
    for (int pi = 0; pi < 2; pi++) {
      lt_cuda_gemm_force = pi ? 1 : 4;
      printf("  %s", pi ? "ours" : "gemv");
      for (int mi = 0; mi < 4; mi++) {
        lin_arg a = fs.lin(b, Md[mi]);
        printf(" %5.1f", time_med(run_lin, &a, 30) * 1e3);
      }
    }
    const int cfgs[5][3] = {{8, 2, 4096}, {4, 1, 4096}, {4, 4, 4096}, {4, 2, 2048}, {8, 4, 2048}};
    lt_cuda_gemm_force = 4;
    for (int ci = 0; ci < 5; ci++) {
      lt_gemv_fp8_st = cfgs[ci][0]; lt_gemv_fp8_bps = cfgs[ci][1]; lt_gemv_fp8_kmax = cfgs[ci][2];
      lin_arg a = fs.lin(b, 1);
      printf("  (%d,%d,%d) %5.1f", cfgs[ci][0], cfgs[ci][1], cfgs[ci][2], time_med(run_lin, &a, 30) * 1e3);
    }
    printf("\n");
    lt_cuda_gemm_force = 0; lt_gemv_fp8_st = lt_gemv_fp8_bps = lt_gemv_fp8_kmax = 0;
    fp8_set_free(b, fs);
  }
  bench_mid(b, p, bw);
  bench_pair(b, p, bw);
  bench_read(b, p, bw);
  printf("\n%%bw: bytes the op must move (weights + x + y) per second / D2D copy rate (read+write bytes per "
         "second); %%mma: FLOP/s / the 8192^3 cuBLASLt rate of the same dtype.\n");
  b->destroy(b);
  return 0;
}
