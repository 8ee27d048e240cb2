/* cuda_common.h — shared state and checking macros of the CUDA backend: the stream, cuBLASLt handle
 * and workspace, device properties, grow-only scratch slots, and LT_CUDA_TRY / LT_LAUNCH_CHECK that
 * turn every failing CUDA call or launch into a latte_status with file, line and CUDA's message. */
#ifndef LT_CUDA_COMMON_H
#define LT_CUDA_COMMON_H
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cublasLt.h>
#include <cublas_v2.h>
#include "backend/backend.h"
#include "base/err.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { LT_CUDA_SCRATCH_SLOTS = 16 };
/* Scratch slots: each op family owns its slot numbers so they never alias within one op. */
enum {
  LT_SCR_GEMM_A = 0,    /* quantised activations (fp8) + scales */
  LT_SCR_GEMM_B = 1,
  LT_SCR_ATTN = 2,      /* split-KV partial outputs / LSE */
  LT_SCR_ATTN2 = 3,
  LT_SCR_MOE0 = 4,      /* sorted token ids, expert offsets */
  LT_SCR_MOE1 = 5,      /* gate_up output */
  LT_SCR_MOE2 = 6,
  LT_SCR_MOE3 = 7,
  LT_SCR_MLP = 8,       /* dense MLP intermediate */
  LT_SCR_MLP2 = 9,
  LT_SCR_ROUTE = 10,    /* router logits f32 */
  LT_SCR_MISC = 11,     /* batch metadata (meta_slot 0) */
  LT_SCR_META1 = 12     /* 12..14: batch metadata of meta_slots 1..3 */
};

typedef struct {
  cudaStream_t stream;
  cublasLtHandle_t lt;
  cublasHandle_t blas;
  void *lt_ws;            /* cuBLASLt workspace */
  size_t lt_ws_size;
  int device, sm_count, smem_optin;
  size_t l2_bytes;
  int w8a8;
  void *scratch[LT_CUDA_SCRATCH_SLOTS];
  size_t scratch_cap[LT_CUDA_SCRATCH_SLOTS];
  /* graphs (cuda_backend.cu, docs/cuda-graphs.md) */
  uint64_t scratch_gen;   /* bumped on every scratch reallocation: graphs captured before are stale */
  int capturing;          /* inside graph_begin .. graph_end: scratch must not grow */
  void *blas_ws;          /* fixed cuBLAS workspace (no allocation inside a capture) */
  size_t blas_ws_size;
  int32_t *meta_host[4];  /* pinned staging of set_batch, one per meta_slot */
  size_t meta_host_cap[4];
  cudaEvent_t meta_ev[4]; /* the staging's last copy: waited on before it is rewritten */
  /* last-block counters of single-pass kernels (zeroed at creation; each kernel that takes one
   * resets it before it ends, so graph replays find it zero): LT_CTR_* index them */
  unsigned *counters;
  /* moe_route prepared the sort of these ids for the next moe_experts (cuda_moe.cu) */
  const void *moe_prep_ids, *moe_prep_ffn;
  int moe_prep_rows, moe_prep_k;
} lt_cuda_ctx;

enum { LT_CTR_ROUTE = 0,
       LT_CTR_ROUTE_NORM = 1,   /* 1..4: one per 8-row group of add_rmsnorm_route (rows ≤ 32) */
       LT_CTR_COUNT = 1024 };

/* Returns a device buffer of at least bytes for slot (grow-only; contents undefined). Growing
 * bumps scratch_gen; during a graph capture it fails instead (the caller falls back to eager). */
latte_status lt_cuda_scratch(lt_cuda_ctx *c, int slot, size_t bytes, void **out);

#define LT_CUDA_TRY(call) do { cudaError_t lt_e_ = (call); if (lt_e_ != cudaSuccess) \
  return lt_err(LATTE_ERR_BACKEND, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(lt_e_)); } while (0)
#define LT_LAUNCH_CHECK(what) do { cudaError_t lt_e_ = cudaGetLastError(); if (lt_e_ != cudaSuccess) \
  return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of %s: %s", __FILE__, __LINE__, what, cudaGetErrorString(lt_e_)); } while (0)
#define LT_CUBLAS_TRY(call) do { cublasStatus_t lt_b_ = (call); if (lt_b_ != CUBLAS_STATUS_SUCCESS) \
  return lt_err(LATTE_ERR_BACKEND, "%s:%d: %s: cuBLAS status %d", __FILE__, __LINE__, #call, (int)lt_b_); } while (0)

/* Programmatic dependent launch (PDL, docs/cuda-graphs.md): latte's kernels are launched with
 * lt_launch (then checked with LT_LAUNCH_CHECK), which lets the next kernel in the stream be scheduled before this one ends; every
 * kernel begins with LT_PDL_ENTER(): it waits until the previous kernel's grid has finished and its
 * writes are visible (griddepcontrol.wait; a no-op when launched without the attribute), then lets
 * the following kernel launch (griddepcontrol.launch_dependents). The wait comes before any global
 * access and before any early return, so "kernel N finished" still implies "kernels < N finished".
 * lt_cuda_pdl = 0 (LATTE_PDL=0) launches without the attribute. */
extern int lt_cuda_pdl;

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#define LT_PDL_ENTER() do { asm volatile("griddepcontrol.wait;" ::: "memory"); \
                            asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); } while (0)
/* LT_PDL_ENTER's halves, for kernels that first fetch data NO kernel ever writes (weights, read-only
 * after load): LT_PDL_LAUNCH_NEXT() at entry, the weight prefetch (into shared memory or L2), then
 * LT_PDL_WAIT() before anything else global and before any return. The weight stream then overlaps
 * the previous kernel's tail. */
#define LT_PDL_LAUNCH_NEXT() asm volatile("griddepcontrol.launch_dependents;" ::: "memory")
#define LT_PDL_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
/* Prefetches [p, p + bytes) into L2 (bulk prefetch; p and bytes multiples of 16). */
__device__ __forceinline__ void lt_prefetch_l2(const void *p, unsigned bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
}

/* kern<<<grid, block, smem, stream>>>(args...) with the PDL attribute (when lt_cuda_pdl). */
template <typename... KA, typename... A>
static inline cudaError_t lt_launch(void (*kern)(KA...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                                    A... args) {
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  at[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg;
  cfg.gridDim = grid; cfg.blockDim = block; cfg.dynamicSmemBytes = smem; cfg.stream = st;
  cfg.attrs = at; cfg.numAttrs = lt_cuda_pdl ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kern, ((KA)args)...);
}
#endif
#endif
