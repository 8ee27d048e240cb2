/* cuda_tma.cuh — Hopper's tensor memory accelerator (TMA, sm_90a) and the shared-memory transaction barriers
 * (mbarrier) that tell a consumer a TMA copy has landed: the device-side PTX wrappers, and the host encoder of a
 * 2-D tiled tensor map (cuda_tma.cu). One elected producer thread issues `cp.async.bulk.tensor` copies of whole
 * tiles (the hardware applies the 128-byte swizzle the wgmma descriptors of cuda_wgmma.cuh expect; rows past the
 * tensor's end land as zeros), each completing bytes on a stage's FULL barrier; consumers wait on the FULL
 * barrier's phase and release the stage through its EMPTY barrier. Header-only device code (static inline). */
#ifndef LT_CUDA_TMA_CUH
#define LT_CUDA_TMA_CUH
#include <cuda.h>
#include <stdint.h>
#include "latte.h"

#ifdef __cplusplus
extern "C" {
#endif
/* m = a 2-D tiled tensor map over the row-major matrix at base: `rows` rows of `cols` elements of `dt`, rows
 * `row_bytes` apart (a multiple of 16, base 16-byte aligned), read in boxes of box_rows × box_cols elements
 * (box_cols · element size ≤ 128 with the 128-byte swizzle) swizzled as `sw`; elements outside the matrix read as
 * zeros. LATTE_ERR_BACKEND when the driver has no encoder or refuses the layout. */
latte_status lt_cuda_tmap_2d(CUtensorMap *m, const void *base, CUtensorMapDataType dt, uint64_t rows, uint64_t cols,
                             uint64_t row_bytes, uint32_t box_rows, uint32_t box_cols, CUtensorMapSwizzle sw);
#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include "backend/cuda/cuda_async.cuh"

/* barrier at bar (8-byte aligned shared memory) expecting `count` arrivals per phase; one thread, then
 * lt_mbar_init_fence() before any other thread or the TMA uses it */
static __device__ __forceinline__ void lt_mbar_init(uint64_t *bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(lt_smem_u32(bar)), "r"(count) : "memory");
}
static __device__ __forceinline__ void lt_mbar_init_fence(void) {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
/* one arrival that also announces `bytes` more to come from TMA copies completing on this barrier */
static __device__ __forceinline__ void lt_mbar_expect_tx(uint64_t *bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(lt_smem_u32(bar)), "r"(bytes)
               : "memory");
}
static __device__ __forceinline__ void lt_mbar_arrive(uint64_t *bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(lt_smem_u32(bar)) : "memory");
}
/* until the phase with this parity (0, 1, 0, … for the 1st, 2nd, 3rd completion) has completed */
static __device__ __forceinline__ void lt_mbar_wait(uint64_t *bar, uint32_t parity) {
  asm volatile("{\n.reg .pred p;\nLT_MBAR_WAIT:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
               "@!p bra LT_MBAR_WAIT;\n}\n" ::"r"(lt_smem_u32(bar)),
               "r"(parity)
               : "memory");
}
/* the box at (row r, column c) of tensor map m (a __grid_constant__ kernel parameter) → shared dst (1024-byte
 * aligned for the 128-byte swizzle), completing its bytes on bar */
static __device__ __forceinline__ void lt_tma_load_2d(void *dst, const CUtensorMap *m, uint64_t *bar, int r, int c) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n"
               ::"r"(lt_smem_u32(dst)), "l"((uint64_t)m), "r"(lt_smem_u32(bar)), "r"(c), "r"(r)
               : "memory");
}
/* an L2 policy under which what a load brings in is evicted first: for bytes read once per forward (weights), so
 * that streaming them does not push out of L2 what the next kernels read (activations, scales) */
static __device__ __forceinline__ uint64_t lt_l2_evict_first(void) {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}
/* lt_tma_load_2d under L2 policy `pol` (lt_l2_evict_first) */
static __device__ __forceinline__ void lt_tma_load_2d_pol(void *dst, const CUtensorMap *m, uint64_t *bar, int r, int c,
                                                          uint64_t pol) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
               " [%0], [%1, {%3, %4}], [%2], %5;\n"
               ::"r"(lt_smem_u32(dst)), "l"((uint64_t)m), "r"(lt_smem_u32(bar)), "r"(c), "r"(r), "l"(pol)
               : "memory");
}
static __device__ __forceinline__ void lt_tma_prefetch_desc(const CUtensorMap *m) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"((uint64_t)m) : "memory");
}
#endif
#endif
