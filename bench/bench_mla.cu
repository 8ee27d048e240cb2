/* bench_mla.cu — floors and timings of the CUDA attention ops: device copy bandwidth and the bf16
 * cuBLAS GEMM rate, then absorbed-MLA decode (B × context × heads, page 64) and one prefill extend,
 * each as time (median of CUDA-event runs), bytes / FLOPs, fraction of the floors; every decode tile
 * configuration and every extend kernel is run on the same inputs and its output compared with the reference
 * configuration's. `bench_mla extend`: the floors and the extend only. */
#include "backend/cuda/cuda_ops.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <vector>
#include <algorithm>
#include "bench_util.cuh"

/* tuning hooks of cuda_mla.cu / cuda_attn.cu (force a tile configuration; 0 = automatic) */
extern "C" void lt_cuda_mla_decode_variant(int v);
extern "C" void lt_cuda_attn_extend_variant(int v);
extern "C" int lt_cuda_mla_split_rule;


/* argv[1] (optional): the H=128 variants to run, the reference first (default 51623: 5, 1, 6, 2, 3); or
 * "extend": the floors and the prefill extend only */
int main(int argc, char **argv) {
  const int only_ext = argc > 1 && !strcmp(argv[1], "extend");
  setvbuf(stdout, NULL, _IOLBF, 0);  /* every line out, also when a run is cut short */
  lt_backend *b = NULL;
  LT(lt_cuda_backend_create(0, &b));
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  cudaStream_t st = c->stream;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, c->device));
  printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  float ms;

  /* ---- floor 1: device-to-device copy of 2 GiB (read + write counted) ---- */
  const double bw = lt_bench_copy_bw(st, (size_t)2 << 30, 5);

  /* ---- floor 2: bf16 GEMM 8192³ through cuBLAS (cublasGemmEx → cuBLASLt kernels), fp32 accumulate ---- */
  const int G = 8192;
  void *ga, *gb, *gc;
  CK(cudaMalloc(&ga, (size_t)G * G * 2));
  CK(cudaMalloc(&gb, (size_t)G * G * 2));
  CK(cudaMalloc(&gc, (size_t)G * G * 2));
  fill(ga, (size_t)G * G, 1.f, 1);
  fill(gb, (size_t)G * G, 1.f, 2);
  const float one = 1.f, zero = 0.f;
  std::vector<float> tv;
  for (int i = 0; i < 8; i++) {
    CK(cudaEventRecord(e0, st));
    /* C [G, G] = A [G, G] · B [G, G] */
    if (cublasGemmEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, G, G, G, &one, ga, CUDA_R_16BF, G, gb, CUDA_R_16BF, G, &zero,
                     gc, CUDA_R_16BF, G, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) {
      fprintf(stderr, "gemm failed\n");
      return 1;
    }
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (i > 1) tv.push_back(ms);
  }
  double mm = 2.0 * G * G * (double)G / (median(tv) * 1e-3);
  CK(cudaFree(ga)); CK(cudaFree(gb)); CK(cudaFree(gc));
  printf("floors: copy bandwidth %.0f GB/s (2 GB D2D, read+write), bf16 GEMM %.0f TFLOP/s (8192^3)\n", bw / 1e9,
         mm / 1e12);

  /* ---- MLA decode, page 64 ---- */
  const int R = 512, DR = 64, W = R + DR, PS = 64;
  const int Bs[] = {1, 32, 64, 128}, Cs[] = {1024, 4096, 16384}, Hs[] = {16, 128};
  size_t max_rows = (size_t)128 * 16384;
  void *cache, *ql, *out;
  CK(cudaMalloc(&cache, max_rows * W * 2));
  CK(cudaMalloc(&ql, (size_t)128 * 128 * W * 2));
  CK(cudaMalloc(&out, (size_t)128 * 128 * R * 2));
  fill(cache, max_rows * W, 1.f, 3);
  fill(ql, (size_t)128 * 128 * W, 2.f, 4);
  /* tile configurations of cuda_mla.cu per H, the reference first: each variant's output is compared with
   * the reference's (rel = ‖out − ref‖ / ‖ref‖ over the bf16 outputs; the reference is checked against the
   * CPU by test_cuda_attn). H=128: 5 = mma.sync (the kernel before wgmma), 1 = warp-specialised wgmma,
   * 6 = wgmma with every warp the same job, 2 and 3 as before. */
  int V16[] = {3, 4}, V128[8] = {5, 1, 6, 2, 3}, n128 = 5;
  if (argc > 1 && !only_ext) {
    n128 = 0;
    for (const char *a = argv[1]; *a && n128 < 8; a++)
      if (*a >= '1' && *a <= '9') V128[n128++] = *a - '0';
  }
  printf("\n%-5s %-5s %-4s %-6s %10s %10s %9s %9s %9s %9s\n", "heads", "tiles", "B", "ctx", "time_us", "MB", "GB/s",
         "%copy", "TFLOP/s", "rel_ref");
  char summary[4096];
  int so = 0;
  std::vector<__nv_bfloat16> hout, href;
  int mismatches = 0;  /* outputs off the reference's by more than 1e-2: the bench exits 1 */
  for (int hi = 0; hi < (only_ext ? 0 : 2); hi++)
    for (int bi = 0; bi < 4; bi++)
      for (int ci = 0; ci < 3; ci++) {
        int B = Bs[bi], C = Cs[ci], H = Hs[hi];
        int pages_per = C / PS, np = B * pages_per;
        std::vector<int32_t> qo(B + 1), sl(B), kvp(B + 1), kvi(np), pos(B), slots(B), kvt(B + 1), ids(B);
        srand(7);
        for (int i = 0; i < np; i++) kvi[i] = i;
        for (int i = np - 1; i > 0; i--) std::swap(kvi[i], kvi[rand() % (i + 1)]);
        for (int s = 0; s <= B; s++) { qo[s] = s; kvp[s] = s * pages_per; kvt[s] = s * C; }
        for (int s = 0; s < B; s++) { sl[s] = C; pos[s] = C - 1; slots[s] = kvi[s * pages_per + pages_per - 1] * PS + PS - 1; }
        lt_fwd f;
        memset(&f, 0, sizeof f);
        f.num_seqs = B; f.num_tokens = B; f.page_size = PS; f.max_q_len = 1; f.max_seq_len = C; f.num_kv = (int64_t)B * C;
        f.h_qo_indptr = qo.data(); f.h_seq_lens = sl.data(); f.h_kv_indptr = kvp.data(); f.h_kv_indices = kvi.data();
        f.h_positions = pos.data(); f.h_out_slots = slots.data(); f.h_kv_tok_indptr = kvt.data();
        LT(b->set_batch(b, &f, ids.data(), NULL));
        const float scale = 1.f / sqrtf(192.f);
        const size_t n_out = (size_t)B * H * R;
        /* H=128: the reference and the next variant again under split rule 0 (tiles shown as "v/r0"; the
         * default for 64 heads is rule 1, cuda_mla.cu) */
        const int nv = H == 16 ? 2 : n128, nr0 = H == 128 && n128 > 1 ? 2 : 0;
        for (int vi = 0; vi < nv + nr0; vi++) {
          const int var = H == 16 ? V16[vi] : V128[vi < nv ? vi : vi - nv];
          lt_cuda_mla_decode_variant(var);
          lt_cuda_mla_split_rule = vi < nv ? -1 : 0;
          char tag[16];
          snprintf(tag, sizeof tag, vi < nv ? "%d" : "%d/r0", var);
          CK(cudaMemset(out, 0xFF, n_out * 2));  /* poison: every element must be written */
          tv.clear();
          for (int i = 0; i < 13; i++) {
            CK(cudaEventRecord(e0, st));
            LT(b->mla_decode(b, &f, ql, cache, out, H, R, DR, scale));
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms, e0, e1));
            if (i > 2) tv.push_back(ms);
          }
          CK(cudaGetLastError());
          hout.resize(n_out);
          CK(cudaMemcpy(hout.data(), out, n_out * 2, cudaMemcpyDeviceToHost));
          double rel = 0.0;
          if (vi == 0) {
            href = hout;
          } else {
            double num = 0.0, den = 0.0;
            for (size_t i = 0; i < n_out; i++) {
              double x = __bfloat162float(hout[i]), r = __bfloat162float(href[i]);
              num += (x - r) * (x - r);
              den += r * r;
            }
            rel = den > 0.0 ? sqrt(num / den) : INFINITY;
            if (!(rel <= 1e-2)) {
              mismatches++;
              fprintf(stderr, "MISMATCH: H=%d tiles %s B=%d ctx=%d: rel %.3e vs tiles %d\n", H, tag, B, C, rel,
                      H == 16 ? V16[0] : V128[0]);
            }
          }
          double t = median(tv) * 1e-3;
          double bytes = (double)B * C * W * 2 + (double)B * H * W * 2 + (double)B * H * R * 2;
          double flops = 2.0 * B * H * (double)C * (W + R);
          printf("%-5d %-5s %-4d %-6d %10.1f %10.1f %9.0f %8.1f%% %9.1f %9.2e\n", H, tag, B, C, t * 1e6, bytes / 1e6,
                 bytes / t / 1e9, 100.0 * bytes / t / bw, flops / t / 1e12, rel);
          if (B == 64 && C == 4096)
            so += snprintf(summary + so, sizeof summary - so,
                           "mla_decode H=%d tiles %s B=64 ctx=4096: %.1f us, %.1f%% of copy bandwidth, %.1f TFLOP/s\n",
                           H, tag, t * 1e6, 100.0 * bytes / t / bw, flops / t / 1e12);
        }
        lt_cuda_mla_split_rule = -1;
      }
  lt_cuda_mla_decode_variant(0);
  CK(cudaFree(cache)); CK(cudaFree(ql)); CK(cudaFree(out));

  /* ---- prefill extend: one sequence of 4096, H = 16, qk 128+64, v 128, on the same inputs through each kernel
   * of cuda_attn.cu (lt_cuda_attn_extend_variant): mma.sync with 64- and 128-row CTAs (the reference), the wgmma
   * kernel's synchronous (2) and overlapped (1) schedules, and the automatic choice (0); each output poisoned
   * first and compared with the reference's ---- */
  {
    const int T = 4096, H = 16, DN = 128, DV = 128;
    const int EV[] = {128, 64, 2, 1, 0};
    const char *ename[] = {"mma.sync BM=128", "mma.sync BM=64", "wgmma sync", "wgmma overlapped", "automatic"};
    void *q, *kvb, *lat, *o;
    const size_t n_o = (size_t)T * H * DV;
    CK(cudaMalloc(&q, (size_t)T * H * (DN + DR) * 2));
    CK(cudaMalloc(&kvb, (size_t)T * H * (DN + DV) * 2));
    CK(cudaMalloc(&lat, (size_t)T * W * 2));
    CK(cudaMalloc(&o, n_o * 2));
    fill(q, (size_t)T * H * (DN + DR), 1.f, 5);
    fill(kvb, (size_t)T * H * (DN + DV), 1.f, 6);
    fill(lat, (size_t)T * W, 1.f, 7);
    int32_t qo[2] = {0, T}, sl[1] = {T}, kvp[2] = {0, T / PS}, kvt[2] = {0, T};
    std::vector<int32_t> kvi(T / PS), pos(T), slots(T), ids(T);
    for (int i = 0; i < T / PS; i++) kvi[i] = i;
    for (int i = 0; i < T; i++) { pos[i] = i; slots[i] = i; }
    lt_fwd f;
    memset(&f, 0, sizeof f);
    f.num_seqs = 1; f.num_tokens = T; f.page_size = PS; f.max_q_len = T; f.max_seq_len = T; f.num_kv = T;
    f.h_qo_indptr = qo; f.h_seq_lens = sl; f.h_kv_indptr = kvp; f.h_kv_indices = kvi.data();
    f.h_positions = pos.data(); f.h_out_slots = slots.data(); f.h_kv_tok_indptr = kvt;
    LT(b->set_batch(b, &f, ids.data(), NULL));
    const double flops = 2.0 * H * ((double)T * (T + 1) / 2) * (DN + DR + DV);  /* causal: Σ_i (i+1) pairs */
    printf("\nattn_extend T=4096 H=16 qk 192 v 128 causal, %.1f GFLOP; GEMM rate of this run %.0f TFLOP/s\n",
           flops / 1e9, mm / 1e12);
    printf("%-18s %10s %9s %8s %9s\n", "kernel", "time_us", "TFLOP/s", "%GEMM", "rel_ref");
    std::vector<__nv_bfloat16> eo(n_o), eref;
    for (int vi = 0; vi < 5; vi++) {
      lt_cuda_attn_extend_variant(EV[vi]);
      CK(cudaMemset(o, 0xFF, n_o * 2));  /* poison: every element must be written */
      tv.clear();
      for (int i = 0; i < 13; i++) {
        CK(cudaEventRecord(e0, st));
        LT(b->attn_extend(b, &f, q, kvb, lat, o, H, DN, DR, DV, R, 1.f / sqrtf(192.f)));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (i > 2) tv.push_back(ms);
      }
      CK(cudaGetLastError());
      CK(cudaMemcpy(eo.data(), o, n_o * 2, cudaMemcpyDeviceToHost));
      double rel = 0.0;
      if (vi == 0) {
        eref = eo;
      } else {
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < n_o; i++) {
          double x = __bfloat162float(eo[i]), r = __bfloat162float(eref[i]);
          num += (x - r) * (x - r);
          den += r * r;
        }
        rel = den > 0.0 ? sqrt(num / den) : INFINITY;
        if (!(rel <= 1e-2)) {
          mismatches++;
          fprintf(stderr, "MISMATCH: attn_extend %s: rel %.3e vs %s\n", ename[vi], rel, ename[0]);
        }
      }
      const double t = median(tv) * 1e-3;
      printf("%-18s %10.1f %9.1f %7.1f%% %9.2e\n", ename[vi], t * 1e6, flops / t / 1e12, 100.0 * flops / t / mm, rel);
      so += snprintf(summary + so, sizeof summary - so,
                     "attn_extend %s T=4096 H=16: %.1f us, %.1f TFLOP/s (%.1f%% of GEMM), rel %.2e\n", ename[vi],
                     t * 1e6, flops / t / 1e12, 100.0 * flops / t / mm, rel);
    }
    lt_cuda_attn_extend_variant(0);
    CK(cudaFree(q)); CK(cudaFree(kvb)); CK(cudaFree(lat)); CK(cudaFree(o));
  }
  printf("\n== summary (%s) ==\ncopy %.0f GB/s, GEMM %.0f TFLOP/s\n%s", prop.name, bw / 1e9, mm / 1e12, summary);
  b->destroy(b);
  if (mismatches) fprintf(stderr, "%d outputs off the reference (MISMATCH above)\n", mismatches);
  return mismatches ? 1 : 0;
}
