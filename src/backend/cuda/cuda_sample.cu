/* cuda_sample.cu — sampling on the GPU: the argmax of each logit row (greedy), so that a decode step
 * copies back only the chosen ids. One block per row; ties go to the lowest index, as on the CPU. */
#include "backend/cuda/cuda_ops.h"
#include <float.h>

__global__ void lt_k_argmax_rows(const float *logits, int vocab, int32_t *ids) {
  const float *x = logits + (size_t)blockIdx.x * vocab;
  float best = -FLT_MAX;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    float v = x[j];
    if (v > best || (v == best && j < bi)) { best = v; bi = j; }
  }
  for (int o = 16; o > 0; o >>= 1) {  /* warp reduce (value, index) */
    float ov = __shfl_xor_sync(0xffffffffu, best, o);
    int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
  }
  __shared__ float sv[32];
  __shared__ int si[32];
  int w = threadIdx.x / 32, l = threadIdx.x % 32;
  if (l == 0) { sv[w] = best; si[w] = bi; }
  __syncthreads();
  if (w == 0) {
    int nw = blockDim.x / 32;
    best = l < nw ? sv[l] : -FLT_MAX;
    bi = l < nw ? si[l] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) {
      float ov = __shfl_xor_sync(0xffffffffu, best, o);
      int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    if (l == 0) ids[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
  }
}

extern "C" latte_status lt_cuda_argmax_rows(lt_backend *b, const float *logits, int rows, int vocab, int32_t *ids) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  if (rows <= 0) return LATTE_OK;
  lt_k_argmax_rows<<<rows, 1024, 0, c->stream>>>(logits, vocab, ids);
  LT_LAUNCH_CHECK("argmax_rows");
  return LATTE_OK;
}
