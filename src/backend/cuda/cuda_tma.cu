/* cuda_tma.cu — the host side of cuda_tma.cuh: cuTensorMapEncodeTiled, found once through the runtime's driver
 * entry point (no link against libcuda), wrapped for the 2-D row-major tiles the TMA kernels load. */
#include "backend/cuda/cuda_tma.cuh"
#include "backend/cuda/cuda_common.h"
#include <cudaTypedefs.h>

static PFN_cuTensorMapEncodeTiled_v12000 lt_tmap_encoder(void) {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void *p = NULL;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      p = NULL;
    return (PFN_cuTensorMapEncodeTiled_v12000)p;
  }();
  return fn;
}

extern "C" latte_status lt_cuda_tmap_2d(CUtensorMap *m, const void *base, CUtensorMapDataType dt, uint64_t rows,
                                        uint64_t cols, uint64_t row_bytes, uint32_t box_rows, uint32_t box_cols,
                                        CUtensorMapSwizzle sw) {
  PFN_cuTensorMapEncodeTiled_v12000 enc = lt_tmap_encoder();
  if (!enc) return lt_err(LATTE_ERR_BACKEND, "cuda: the driver offers no cuTensorMapEncodeTiled (TMA)");
  const cuuint64_t dims[2] = {cols, rows}, strides[1] = {row_bytes};
  const cuuint32_t box[2] = {box_cols, box_rows}, estr[2] = {1, 1};
  const CUresult r = enc(m, dt, 2, const_cast<void *>(base), dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, sw,
                         CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return lt_err(LATTE_ERR_BACKEND, "cuda: cuTensorMapEncodeTiled refused %llu x %llu (row %llu bytes, box %u x %u): "
                  "CUresult %d", (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)row_bytes,
                  box_rows, box_cols, (int)r);
  return LATTE_OK;
}
