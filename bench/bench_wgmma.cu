/* bench_wgmma.cu — what one K-group costs the wgmma FP8 linear's consumer warpgroup with its operands already in
 * shared memory (no copies, no barriers): 4 wgmma m64nNk32 e4m3 into a partial, then how the partial meets the
 * accumulator. Schedules: (group) wait for each group's wgmma, scale its partial in — the TMA / cp.async kernels'
 * loop; (pair) two groups into two partials, one wait; (pipelined) group i + 1 issued before waiting for group i;
 * (no wait) every group straight into one accumulator, no scale, one wait at the end — the tensor pipe's rate.
 * One block per SM (the shared memory says so), 1 / 2 / 4 consumer warpgroups, N = 64 / 32 / 16 tokens; prints
 * clocks per group per warpgroup (clock64, mean over all warpgroups) and the kernel's rate.
 * docs/cuda-gemm.md ("Two K parts", twelfth session). */
#include <stdio.h>
#include <stdint.h>
#include "backend/cuda/cuda_wgmma.cuh"
#include "bench_util.cuh"

enum { LT_BW_G = 64, LT_BW_SMEM = 4 * 8192 + 8192 + 1024 + 1024 + 100000 /* > half an SM: one block each */ };

/* one block: each consumer warpgroup runs LT_BW_G K-groups of [64 rows] × [NN tokens] × 128 under schedule MODE */
template <int NN, int MODE>
__global__ void __launch_bounds__(512, 1) lt_bw_k(float *out, long long *clk) {
  extern __shared__ __align__(1024) uint8_t lt_bw_sm[];
  uint8_t *base = lt_bw_sm + ((1024 - ((uint32_t)__cvta_generic_to_shared(lt_bw_sm) & 1023u)) & 1023u);
  const int tid = threadIdx.x, wg = tid >> 7, t = tid & 3;
  /* A: 4 warpgroups × [64 rows][128 B], B: [64 rows][128 B], then token scales; e4m3 1.0 (0x38) with zeros */
  for (int i = tid; i < (5 * 8192 + 1024) / 4; i += blockDim.x) ((uint32_t *)base)[i] = 0x38383838u * ((i & 7) != 3);
  lt_fence_proxy_async();
  __syncthreads();
  const uint32_t sa = (uint32_t)__cvta_generic_to_shared(base);
  const uint64_t da = lt_wg_desc(sa + wg * 8192, 16, 1024), db = lt_wg_desc(sa + 4 * 8192, 16, 1024);
  const float *sx = (const float *)(base + 5 * 8192) + 2 * t;
  constexpr int N8 = NN / 8;
  float acc[N8][4], p0[N8][4], p1[N8][4];
  lt_wg_zero(acc);
  const long long c0 = clock64();
  if (MODE == 0) {  /* group: [4 wgmma → p0, wait 0, acc += p0 · s] per group */
    for (int g = 0; g < LT_BW_G; g++) {
      lt_wg_fp8_group<NN>(p0, da + 2 * (g & 1), db);
      lt_wg_fp8_scale_add<N8>(acc, p0, 1.0f + g, 1.0f, sx);
    }
  } else if (MODE == 1) {  /* pair: [4 → p0, 4 → p1, wait 0, scale both] per two groups */
    for (int g = 0; g < LT_BW_G; g += 2) {
      lt_wg_keep_all(p0);
      lt_wg_keep_all(p1);
      lt_wg_fence();
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&p0[0][0], da + 2 * j, db + 2 * j, j);
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&p1[0][0], da + 2 * j + 2, db + 2 * j, j);
      lt_wg_commit();
      lt_wg_wait<0>();
      lt_wg_keep_all(p0);
      lt_wg_keep_all(p1);
      lt_wg_fp8_scale_add<N8>(acc, p0, 1.0f + g, 1.0f, sx);
      lt_wg_fp8_scale_add<N8>(acc, p1, 2.0f + g, 1.0f, sx);
    }
  } else if (MODE == 2) {  /* pipelined: group i + 1 in flight while group i is scaled in */
    lt_wg_keep_all(p0);
    lt_wg_fence();
#pragma unroll
    for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&p0[0][0], da + 2 * j, db + 2 * j, j);
    lt_wg_commit();
    for (int g = 0; g < LT_BW_G; g += 2) {
      lt_wg_keep_all(p1);
      lt_wg_fence();
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&p1[0][0], da + 2 * j + 2, db + 2 * j, j);
      lt_wg_commit();
      lt_wg_wait<1>();
      lt_wg_keep_all(p0);
      lt_wg_fp8_scale_add<N8>(acc, p0, 1.0f + g, 1.0f, sx);
      lt_wg_keep_all(p0);
      lt_wg_fence();
      if (g + 2 < LT_BW_G) {
#pragma unroll
        for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&p0[0][0], da + 2 * j, db + 2 * j, j);
      }
      lt_wg_commit();
      lt_wg_wait<1>();
      lt_wg_keep_all(p1);
      lt_wg_fp8_scale_add<N8>(acc, p1, 2.0f + g, 1.0f, sx);
    }
    lt_wg_wait<0>();
  } else {  /* no wait: the tensor pipe's rate for these shapes */
    lt_wg_fence();
    for (int g = 0; g < LT_BW_G; g++) {
#pragma unroll
      for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&acc[0][0], da + 2 * j, db + 2 * j, 1);
      lt_wg_commit();
    }
    lt_wg_wait<0>();
    lt_wg_keep_all(acc);
  }
  const long long c1 = clock64();
  float s = 0.0f;
  for (int i = 0; i < N8; i++)
    for (int e = 0; e < 4; e++) s += acc[i][e];
  out[blockIdx.x * blockDim.x + tid] = s;  /* (keeps the arithmetic) */
  if ((tid & 127) == 0) clk[blockIdx.x * 4 + wg] = c1 - c0;
}

static const char *lt_bw_names[4] = {"group", "pair", "pipelined", "no wait"};

template <int NN, int MODE>
static void lt_bw_run(int sms, int wgs, float *out, long long *clk) {
  CK(cudaFuncSetAttribute(lt_bw_k<NN, MODE>, cudaFuncAttributeMaxDynamicSharedMemorySize, LT_BW_SMEM));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int it = 0; it < 3; it++) lt_bw_k<NN, MODE><<<sms, wgs * 128, LT_BW_SMEM>>>(out, clk);
  CK(cudaGetLastError());
  CK(cudaEventRecord(e0));
  lt_bw_k<NN, MODE><<<sms, wgs * 128, LT_BW_SMEM>>>(out, clk);
  CK(cudaGetLastError());
  CK(cudaEventRecord(e1));
  CK(cudaDeviceSynchronize());
  float ms;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  std::vector<long long> h((size_t)sms * 4);
  CK(cudaMemcpy(h.data(), clk, h.size() * sizeof(long long), cudaMemcpyDeviceToHost));
  double m = 0;
  for (int b = 0; b < sms; b++)
    for (int w = 0; w < wgs; w++) m += (double)h[(size_t)b * 4 + w];
  m /= (double)sms * wgs;
  const double flop = 2.0 * 64 * NN * 128 * LT_BW_G * wgs * sms;  /* [64, NN] · [NN, 128]ᵀ per group, warpgroup */
  printf("N %2d  warpgroups %d  %-9s  %7.1f clk per group per warpgroup  kernel %7.2f us  %6.1f TFLOP/s\n", NN, wgs,
         lt_bw_names[MODE], m / LT_BW_G, ms * 1e3, flop / (ms * 1e-3) / 1e12);
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
}

int main(void) {
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  printf("device: %s, %d SMs; %d K-groups per warpgroup, operands resident in shared memory\n", p.name,
         p.multiProcessorCount, LT_BW_G);
  float *out;
  long long *clk;
  CK(cudaMalloc(&out, (size_t)p.multiProcessorCount * 512 * sizeof(float)));
  CK(cudaMalloc(&clk, (size_t)p.multiProcessorCount * 4 * sizeof(long long)));
  const int sms = p.multiProcessorCount;
  for (int wg = 1; wg <= 4; wg *= 2) {
    lt_bw_run<64, 0>(sms, wg, out, clk); lt_bw_run<64, 1>(sms, wg, out, clk);
    lt_bw_run<64, 2>(sms, wg, out, clk); lt_bw_run<64, 3>(sms, wg, out, clk);
    lt_bw_run<32, 0>(sms, wg, out, clk); lt_bw_run<32, 1>(sms, wg, out, clk);
    lt_bw_run<32, 2>(sms, wg, out, clk); lt_bw_run<32, 3>(sms, wg, out, clk);
    lt_bw_run<16, 0>(sms, wg, out, clk); lt_bw_run<16, 3>(sms, wg, out, clk);
  }
  CK(cudaFree(out));
  CK(cudaFree(clk));
  return 0;
}
