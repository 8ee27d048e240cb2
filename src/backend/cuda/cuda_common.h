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
} lt_cuda_ctx;

/* Returns a device buffer of at least bytes for slot (grow-only; contents undefined). Growing
 * bumps scratch_gen; during a graph capture it fails instead (the caller falls back to eager). */
latte_status lt_cuda_scratch(lt_cuda_ctx *c, int slot, size_t bytes, void **out);

#define LT_CUDA_TRY(call) do { cudaError_t lt_e_ = (call); if (lt_e_ != cudaSuccess) \
  return lt_err(LATTE_ERR_BACKEND, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(lt_e_)); } while (0)
#define LT_LAUNCH_CHECK(what) do { cudaError_t lt_e_ = cudaGetLastError(); if (lt_e_ != cudaSuccess) \
  return lt_err(LATTE_ERR_BACKEND, "%s:%d: launch of %s: %s", __FILE__, __LINE__, what, cudaGetErrorString(lt_e_)); } while (0)
#define LT_CUBLAS_TRY(call) do { cublasStatus_t lt_b_ = (call); if (lt_b_ != CUBLAS_STATUS_SUCCESS) \
  return lt_err(LATTE_ERR_BACKEND, "%s:%d: %s: cuBLAS status %d", __FILE__, __LINE__, #call, (int)lt_b_); } while (0)

#ifdef __cplusplus
}
#endif
#endif
