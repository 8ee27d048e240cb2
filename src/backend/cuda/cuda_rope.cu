/* cuda_rope.cu — DeepSeek RoPE on interleaved pairs (x[2i], x[2i+1]) fused with the write of
 * [c | rope(k_pe)] into the paged bf16 latent cache, and the gather of every sequence's context into
 * a dense [num_kv, width] array. Same semantics as cpu_rope.c; fp32 rotation, bf16 storage (the
 * arithmetic is in cuda_rope.cuh; rope_absorb_q, which fuses the cache write into the q absorption, is
 * in cuda_mla_absorb.cu). */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_rope.cuh"
#include <stdint.h>

typedef __nv_bfloat16 bf16;

static lt_cuda_ctx *ctx_of(lt_backend *b) { return (lt_cuda_ctx *)b->ctx; }

/* Grid (T, 1 + q blocks): block (t, 0) writes cache[out_slots[t]] = [c'[t, :r] | rope(kpe[t, :dr])]
 * (lt_rope_cache_row, cuda_rope.cuh: c' = c or, with cw, the RMSNorm of c times cw);
 * blocks (t, y ≥ 1) rotate blockDim.x of the heads·dr/2 pairs q[t, h, dn:dn+dr] in place (so a decode
 * token spreads over several SMs). 128 threads (the block sum of lt_rope_cache_c depends on it). */
__global__ void lt_k_rope_cache(lt_rope_cache_args a, bf16 *q, int heads, int dn) {
  LT_PDL_ENTER();
  const int t = blockIdx.x, dr = a.dr, half = dr / 2;
  if (blockIdx.y == 0) {
    lt_rope_cache_row(a, t);
    return;
  }
  const int i = (blockIdx.y - 1) * blockDim.x + threadIdx.x;
  if (i >= heads * half) return;
  const int h = i / half, p = i - h * half;
  const int64_t pos = a.positions[t];
  bf16 *x = q + ((int64_t)t * heads + h) * (dn + dr) + dn + 2 * p;
  const __nv_bfloat162 v = lt_rope_pair(__bfloat162float(x[0]), __bfloat162float(x[1]), a.cos[pos * half + p],
                                        a.sin[pos * half + p]);
  x[0] = v.x;
  x[1] = v.y;
}

extern "C" latte_status lt_cuda_rope_cache_write(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q,
                                                 int heads, int dn, int dr, const void *c, int64_t c_stride,
                                                 const float *c_norm, float eps, const void *kpe,
                                                 int64_t kpe_stride, int r, void *cache) {
  lt_cuda_ctx *cx = ctx_of(b);
  if (f->num_tokens <= 0) return LATTE_OK;
  if (dr % 2 || rope->dim != dr)
    return lt_err(LATTE_ERR_INVALID, "cuda rope: rope dim %d does not match qk_rope_head_dim %d", rope->dim, dr);
  const lt_rope_cache_args a = {f->d_positions, f->d_out_slots, rope->cos, rope->sin, (const bf16 *)c, c_stride,
                                c_norm, eps, (const bf16 *)kpe, kpe_stride, (bf16 *)cache, r, dr};
  const int qblocks = q ? (heads * (dr / 2) + 127) / 128 : 0;
  (void)lt_launch(lt_k_rope_cache, dim3((unsigned)f->num_tokens, (unsigned)(1 + qblocks)), 128, 0, cx->stream, a,
                  (bf16 *)q, heads, dn);
  LT_LAUNCH_CHECK("lt_k_rope_cache");
  return LATTE_OK;
}

/* One warp per context row j of the batch: finds its sequence s (binary search of the prefix sum
 * kv_tok_indptr [B+1]), its page and offset, and copies the cache row (width bf16). */
template <int VEC>
__global__ void lt_k_gather_kv(const int32_t *kv_tok_indptr, const int32_t *kv_indptr, const int32_t *kv_indices,
                               int nseq, int page_size, int64_t num_kv, const bf16 *cache, int width, bf16 *lat) {
  LT_PDL_ENTER();
  int64_t j = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (j >= num_kv) return;
  int lo = 0, hi = nseq - 1;  /* last s with kv_tok_indptr[s] <= j */
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (kv_tok_indptr[mid] <= j) lo = mid; else hi = mid - 1;
  }
  int64_t jj = j - kv_tok_indptr[lo];
  int64_t slot = (int64_t)kv_indices[kv_indptr[lo] + jj / page_size] * page_size + jj % page_size;
  const bf16 *src = cache + slot * width;
  bf16 *dst = lat + j * width;
  if (VEC == 8) {
    for (int i = lane; i < width / 8; i += 32) ((uint4 *)dst)[i] = ((const uint4 *)src)[i];
  } else {
    for (int i = lane; i < width; i += 32) dst[i] = src[i];
  }
}

extern "C" latte_status lt_cuda_gather_kv(lt_backend *b, const lt_fwd *f, const void *cache, int width, void *lat) {
  lt_cuda_ctx *cx = ctx_of(b);
  if (f->num_kv <= 0 || f->num_seqs <= 0) return LATTE_OK;
  const int warps = 8;
  unsigned nb = (unsigned)((f->num_kv + warps - 1) / warps);
  int vec = width % 8 == 0 && ((uintptr_t)cache & 15) == 0 && ((uintptr_t)lat & 15) == 0;
  if (vec)
    (void)lt_launch(lt_k_gather_kv<8>, nb, 32 * warps, 0, cx->stream, f->d_kv_tok_indptr, f->d_kv_indptr, f->d_kv_indices,
                                                         f->num_seqs, f->page_size, f->num_kv, (const bf16 *)cache,
                                                         width, (bf16 *)lat);
  else
    (void)lt_launch(lt_k_gather_kv<1>, nb, 32 * warps, 0, cx->stream, f->d_kv_tok_indptr, f->d_kv_indptr, f->d_kv_indices,
                                                         f->num_seqs, f->page_size, f->num_kv, (const bf16 *)cache,
                                                         width, (bf16 *)lat);
  LT_LAUNCH_CHECK("lt_k_gather_kv");
  return LATTE_OK;
}
