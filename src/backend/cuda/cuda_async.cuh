/* cuda_async.cuh — cp.async (global → shared, bypassing L1) helpers shared by the streaming kernels, and the
 * shared-window address they and the wgmma / TMA code take. */
#ifndef LT_CUDA_ASYNC_CUH
#define LT_CUDA_ASYNC_CUH
#include <stdint.h>

/* the shared-window address of a generic pointer into shared memory */
__device__ __forceinline__ uint32_t lt_smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes global → shared, asynchronous; zeros when !ok (src-size 0: nothing read, src must still be
 * a valid address) */
__device__ __forceinline__ void lt_cp16(void *dst, const void *src, bool ok) {
  asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(
                   (uint32_t)__cvta_generic_to_shared(dst)),
               "l"(src), "r"(ok ? 16 : 0)
               : "memory");
}
/* 4 bytes global → shared (through L1), asynchronous; zeros when !ok, as lt_cp16 */
__device__ __forceinline__ void lt_cp4(void *dst, const void *src, bool ok) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"((uint32_t)__cvta_generic_to_shared(dst)),
               "l"(src), "r"(ok ? 4 : 0)
               : "memory");
}
__device__ __forceinline__ void lt_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
/* wait until at most N of this thread's committed groups are still in flight */
template <int N>
__device__ __forceinline__ void lt_cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

/* A cp.async ring's weight prologue (the wgmma kernels of cuda_gemm_fp8_wg.cu and cuda_moe_wg.cuh): K-groups
 * 0 .. ST−2 of this thread's 4 W rows (row j: 16 bytes from wsrc[j] + 128·group, zeros where !wok[j]) into
 * stage group's slot at dst0 + RS·128·j, one committed group per stage (empty past ng) */
template <int ST, int RS>
__device__ __forceinline__ void lt_cp_ring_w4(uint8_t *ring, int stage, int dst0, const uint8_t *const (&wsrc)[4],
                                              const bool (&wok)[4], int ng) {
#pragma unroll
  for (int s = 0; s < ST - 1; s++) {
    if (s < ng) {
      uint8_t *d = ring + s * stage + dst0;
#pragma unroll
      for (int j = 0; j < 4; j++) lt_cp16(d + j * RS * 128, wsrc[j] + s * 128, wok[j]);
    }
    lt_cp_commit();
  }
}

#endif
