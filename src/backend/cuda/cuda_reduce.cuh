/* cuda_reduce.cuh — block-wide reductions shared by the CUDA kernels (norms, the RoPE cache write). */
#ifndef LT_CUDA_REDUCE_CUH
#define LT_CUDA_REDUCE_CUH

/* Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result. */
__device__ __forceinline__ float lt_block_sum(float v) {
  __shared__ float red[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();  /* red may still be read by a previous call */
  if (l == 0) red[w] = v;
  __syncthreads();
  int nw = blockDim.x >> 5;
  v = l < nw ? red[l] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

#endif
