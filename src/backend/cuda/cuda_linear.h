/* cuda_linear.h — the CUDA backend's internal linear-layer pieces that more than one file calls (C linkage):
 * the decode GEMVs and FP8 kernels lt_cuda_linear dispatches to (each *done = 0 where it declines), the FP8
 * activation quantisation into the GEMM scratch, and the wgmma FP8 kernel over x already quantised — so an
 * op that produces a linear's input (RMSNorm) can write e4m3 x itself and skip the quantisation launch. */
#ifndef LT_CUDA_LINEAR_H
#define LT_CUDA_LINEAR_H
#include "backend/cuda/cuda_common.h"
#ifdef __cplusplus
extern "C" {
#endif
/* cuda_gemv_bf16.cu: y = x · Wᵀ for bf16 W at decode rows */
latte_status lt_cuda_gemv_bf16(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows,
                               int out_f32, int *done);
/* cuda_gemv_fp8.cu: the same for e4m3 W (w8a8) */
latte_status lt_cuda_gemv_fp8(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows,
                              int out_f32, int *done);
/* cuda_gemm_fp8_mid.cu: e4m3 W (w8a8) at 1..64 rows, one kernel (the x quantisation inside, or ours first) */
latte_status lt_cuda_fp8_mid(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows,
                             int out_f32, int *done);
/* cuda_gemm_fp8_wg.cu: e4m3 W (w8a8) at 1..64 rows on wgmma, after lt_k_quant_rows; k % 128 == 0 */
latte_status lt_cuda_fp8_wg(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows,
                            int out_f32, int *done);
/* whether the wgmma FP8 kernel serves W at rows, and it run over quantised x (xq [rows, k] e4m3, row stride
 * k; xqs [k/128][rows]) */
int lt_cuda_fp8_wg_serves(lt_backend *b, const lt_weight *w, int rows);
latte_status lt_cuda_fp8_wg_q(lt_backend *b, const uint8_t *xq, const float *xqs, const lt_weight *w, void *y,
                              int rows, int out_f32);
/* the same for two weights of one k over the same x in one launch (linear_pair; bf16 outputs) */
latte_status lt_cuda_fp8_wg_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                                 const lt_weight *w2, void *y2, int rows, int *done);
/* cuda_gemm.cu: the GEMM scratch for rows × k quantised (xq [rows, kq], kq = k rounded up to 128; scales
 * [kq/128][rows]), and x [rows, k] (row stride xs) quantised into it by one launch of lt_k_quant_rows */
latte_status lt_cuda_fp8_xq_buf(lt_cuda_ctx *c, int rows, int k, uint8_t **xq, float **xsc);
latte_status lt_cuda_fp8_quant_x(lt_cuda_ctx *c, const void *x, int64_t xs, int rows, int k, uint8_t **xq,
                                 float **xsc);
/* ... early != 0: the launch lets the next kernel launch at its entry (a next kernel that reads only weights
 * before its PDL wait: the wide TMA plan) */
latte_status lt_cuda_fp8_quant_x_early(lt_cuda_ctx *c, const void *x, int64_t xs, int rows, int k, uint8_t **xq,
                                       float **xsc, int early);
/* cuda_gemm.cu: 1 when lt_cuda_linear would give e4m3 W at rows to the wgmma kernel (the automatic dispatch
 * or force 6) — where a producer may hand it quantised x instead */
int lt_cuda_fp8_wg_takes(lt_backend *b, const lt_weight *w, int rows);
/* cuda_gemm.cu: linear_pair for two e4m3 weights the wgmma kernel takes: one launch (lt_cuda_fp8_wg_pair), or
 * with lt_cuda_fp8_pair_one = 0 x quantised once then two launches (*done = 0 else) */
latte_status lt_cuda_fp8_pair(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                              const lt_weight *w2, void *y2, int rows, int *done);
#ifdef __cplusplus
}
#endif
#endif
