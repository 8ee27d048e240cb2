/* cuda_probe.cuh — timeline probes, for measuring only: compiled in with -DLT_PROBE_ON (a build of its own; every
 * macro here is empty otherwise). A probed kernel takes one more argument, probe_seq (low 8 bits: the call number
 * the host counts up; bit 8: record), and its blocks write %globaltimer at named points into the device buffer a
 * bench hands in (the translation unit's setter, LT_PROBE_DECL): slot [region][call % 16][block < 1024][point < 16],
 * point 7 holding blockIdx.x << 16 | (SM id + 1). A captured graph's replays overwrite the same slots, so the buffer
 * ends holding the last replay's timeline (`bench_gemm probe`, docs/cuda-gemm.md). */
#pragma once
#ifdef LT_PROBE_ON
#define LT_PROBE_ARG , int probe_seq
#define LT_PROBE_PASS(s) , (s)
/* once per translation unit: its buffer and the host setter `name` */
#define LT_PROBE_DECL(name)                           \
  static __device__ unsigned long long *lt_probe_buf; \
  extern "C" void name(void *p) { cudaMemcpyToSymbol(lt_probe_buf, &p, sizeof p); }
__device__ __forceinline__ unsigned long long lt_gtime() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ unsigned lt_smid() {
  unsigned s;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(s));
  return s;
}
#define LT_PROBE(region, blk, j)                                                                 \
  do {                                                                                           \
    if ((probe_seq & 256) && lt_probe_buf)                                                       \
      lt_probe_buf[((((size_t)(region)) * 16 + (probe_seq & 15)) * 1024 + (blk)) * 16 + (j)] =   \
          (j) == 7 ? ((unsigned long long)blockIdx.x << 16 | (lt_smid() + 1)) : lt_gtime();      \
  } while (0)
#else
#define LT_PROBE_ARG
#define LT_PROBE_PASS(s)
#define LT_PROBE_DECL(name)
#define LT_PROBE(region, blk, j) ((void)0)
#endif
