/* cuda_backend.cu — the CUDA backend's table: device memory, the stream and cuBLASLt handle, weight
 * upload (bf16 as is; F16/F32 → bf16; FP8 kept as e4m3 + f32 block scales with --w8a8, else
 * dequantised to bf16 once), batch metadata upload, grow-only scratch, and f32 ↔ bf16 helpers. */
#include "backend/cuda/cuda_ops.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

static lt_cuda_ctx *ctx_of(lt_backend *b) { return (lt_cuda_ctx *)b->ctx; }

extern "C" int lt_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
  return n;
}

extern "C" latte_status lt_cuda_scratch(lt_cuda_ctx *c, int slot, size_t bytes, void **out) {
  if (slot < 0 || slot >= LT_CUDA_SCRATCH_SLOTS) return lt_err(LATTE_ERR_INVALID, "cuda scratch slot %d", slot);
  if (c->scratch_cap[slot] < bytes) {
    if (c->scratch[slot]) {
      LT_CUDA_TRY(cudaStreamSynchronize(c->stream));
      LT_CUDA_TRY(cudaFree(c->scratch[slot]));
    }
    c->scratch[slot] = NULL;
    c->scratch_cap[slot] = 0;
    size_t cap = bytes < 256 ? 256 : bytes + bytes / 4;
    if (cudaMalloc(&c->scratch[slot], cap) != cudaSuccess) {
      cudaGetLastError();
      return lt_err(LATTE_ERR_NOMEM, "cuda: cannot allocate %zu bytes of scratch", cap);
    }
    c->scratch_cap[slot] = cap;
  }
  *out = c->scratch[slot];
  return LATTE_OK;
}

static void cu_destroy(lt_backend *b) {
  if (!b) return;
  lt_cuda_ctx *c = ctx_of(b);
  if (c) {
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < LT_CUDA_SCRATCH_SLOTS; i++) cudaFree(c->scratch[i]);
    cudaFree(c->lt_ws);
    if (c->lt) cublasLtDestroy(c->lt);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
  }
  free(b);
}

static latte_status cu_alloc(lt_backend *b, size_t bytes, void **out) {
  *out = NULL;
  if (cudaMalloc(out, bytes ? bytes : 16) != cudaSuccess) {
    cudaGetLastError();
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    return lt_err(LATTE_ERR_NOMEM, "cuda: cannot allocate %.3f GB (%.3f GB free of %.3f GB)", bytes / 1e9, fr / 1e9, tot / 1e9);
  }
  return LATTE_OK;
}
static void cu_dfree(lt_backend *b, void *p) { if (p) cudaFree(p); }
static latte_status cu_upload(lt_backend *b, void *dst, const void *src, size_t n) {
  if (n) LT_CUDA_TRY(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, ctx_of(b)->stream));
  LT_CUDA_TRY(cudaStreamSynchronize(ctx_of(b)->stream));
  return LATTE_OK;
}
static latte_status cu_download(lt_backend *b, void *dst, const void *src, size_t n) {
  if (n) LT_CUDA_TRY(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, ctx_of(b)->stream));
  LT_CUDA_TRY(cudaStreamSynchronize(ctx_of(b)->stream));
  return LATTE_OK;
}
static latte_status cu_sync(lt_backend *b) {
  LT_CUDA_TRY(cudaStreamSynchronize(ctx_of(b)->stream));
  return LATTE_OK;
}
static size_t cu_mem_free(lt_backend *b) {
  size_t fr = 0, tot = 0;
  if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) { cudaGetLastError(); return 0; }
  return fr;
}

/* host f32 → bf16 (round to nearest even) */
static void f32_to_bf16_host(const float *x, uint16_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = lt_f32_to_bf16(x[i]);
}

/* Uploads rows of any float dtype as bf16, converting in chunks on the host. */
static latte_status upload_as_bf16(lt_backend *b, const lt_st_tensor *t, const float *scale, int64_t n, int64_t k,
                                   void *dst) {
  const int64_t chunk_rows = (1 << 22) / (k > 0 ? k : 1) + 1;
  float *f = (float *)malloc(sizeof(float) * (size_t)(chunk_rows * k));
  uint16_t *h = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)(chunk_rows * k));
  if (!f || !h) { free(f); free(h); return lt_err(LATTE_ERR_NOMEM, "%s: out of host memory", t->name); }
  latte_status s = LATTE_OK;
  size_t es = lt_dtype_size(t->dtype);
  int64_t sk = (k + 127) / 128;
  for (int64_t r0 = 0; r0 < n && !s; r0 += chunk_rows) {
    int64_t nr = n - r0 < chunk_rows ? n - r0 : chunk_rows;
    lt_to_f32(t->dtype, (const uint8_t *)t->data + (size_t)(r0 * k) * es, f, (size_t)(nr * k));
    if (scale)  /* FP8 weight-only: value = e4m3 × scale of its 128×128 block */
      for (int64_t i = 0; i < nr; i++)
        for (int64_t j = 0; j < k; j++) f[i * k + j] *= scale[((r0 + i) / 128) * sk + j / 128];
    f32_to_bf16_host(f, h, (size_t)(nr * k));
    s = cu_upload(b, (uint16_t *)dst + r0 * k, h, sizeof(uint16_t) * (size_t)(nr * k));
  }
  free(f);
  free(h);
  return s;
}

static latte_status cu_weight_new(lt_backend *b, const lt_st_tensor *t, const lt_st_tensor *sc, lt_weight *w) {
  memset(w, 0, sizeof *w);
  if (t->ndim != 2) return lt_err(LATTE_ERR_FORMAT, "%s: expected a 2-D weight, got %d dims", t->name, t->ndim);
  w->n = t->shape[0];
  w->k = t->shape[1];
  int64_t sn = (w->n + 127) / 128, sk = (w->k + 127) / 128;
  float *hs = NULL;
  if (t->dtype == LT_F8E4M3) {
    if (!sc) return lt_err(LATTE_ERR_FORMAT, "%s: FP8 weight without weight_scale_inv", t->name);
    hs = (float *)malloc(sizeof(float) * (size_t)(sn * sk));
    if (!hs) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", t->name);
    lt_to_f32(sc->dtype, sc->data, hs, (size_t)(sn * sk));
  }
  latte_status s;
  if (t->dtype == LT_F8E4M3 && b->w8a8) {
    w->dtype = LT_F8E4M3;
    w->bn = w->bk = 128;
    s = cu_alloc(b, (size_t)t->nbytes, &w->data);
    if (!s) s = cu_upload(b, w->data, t->data, (size_t)t->nbytes);
    if (!s) s = cu_alloc(b, sizeof(float) * (size_t)(sn * sk), (void **)&w->scale);
    if (!s) s = cu_upload(b, w->scale, hs, sizeof(float) * (size_t)(sn * sk));
  } else if (t->dtype == LT_BF16) {
    w->dtype = LT_BF16;
    s = cu_alloc(b, (size_t)t->nbytes, &w->data);
    if (!s) s = cu_upload(b, w->data, t->data, (size_t)t->nbytes);
  } else if (t->dtype == LT_F16 || t->dtype == LT_F32 || t->dtype == LT_F8E4M3) {
    w->dtype = LT_BF16;
    s = cu_alloc(b, sizeof(uint16_t) * (size_t)(w->n * w->k), &w->data);
    if (!s) s = upload_as_bf16(b, t, hs, w->n, w->k, w->data);
  } else {
    s = lt_err(LATTE_ERR_FORMAT, "%s: unsupported weight dtype %s", t->name, lt_dtype_name(t->dtype));
  }
  free(hs);
  return s;
}

static void cu_weight_free(lt_backend *b, lt_weight *w) {
  if (w->priv) lt_cuda_linear_release(w);  /* device buffers the GEMM prepared */
  cudaFree(w->data);
  cudaFree(w->scale);
  if (w->priv) free(w->priv);
  w->data = NULL; w->scale = NULL; w->priv = NULL;
}

static latte_status cu_vec_new(lt_backend *b, const lt_st_tensor *t, float **out) {
  float *h = (float *)malloc(sizeof(float) * (size_t)t->numel + 4);
  if (!h) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", t->name);
  lt_to_f32(t->dtype, t->data, h, (size_t)t->numel);
  latte_status s = cu_alloc(b, sizeof(float) * (size_t)t->numel, (void **)out);
  if (!s) s = cu_upload(b, *out, h, sizeof(float) * (size_t)t->numel);
  free(h);
  return s;
}

/* Packs every metadata array into one host buffer and one device scratch buffer (one copy). */
static latte_status cu_set_batch(lt_backend *b, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows) {
  lt_cuda_ctx *c = ctx_of(b);
  int B = f->num_seqs, T = f->num_tokens;
  int np = f->h_kv_indptr[B];
  size_t n = (size_t)T /*ids*/ + T /*pos*/ + (B + 1) + B + (B + 1) + np + T /*slots*/ + f->n_logits + (B + 1);
  int32_t *dev;
  if (f->meta_slot < 0 || f->meta_slot > 3) return lt_err(LATTE_ERR_INVALID, "set_batch: meta_slot %d", f->meta_slot);
  int slot = f->meta_slot == 0 ? LT_SCR_MISC : LT_SCR_META1 + f->meta_slot - 1;
  LT_TRY(lt_cuda_scratch(c, slot, n * sizeof(int32_t), (void **)&dev));
  int32_t *h = (int32_t *)malloc(n * sizeof(int32_t));
  if (!h) return lt_err(LATTE_ERR_NOMEM, "set_batch: out of memory");
  size_t o = 0;
#define PUT(field, src, cnt) do { memcpy(h + o, src, sizeof(int32_t) * (size_t)(cnt)); f->field = dev + o; o += (size_t)(cnt); } while (0)
  PUT(d_ids, ids, T);
  PUT(d_positions, f->h_positions, T);
  PUT(d_qo_indptr, f->h_qo_indptr, B + 1);
  PUT(d_seq_lens, f->h_seq_lens, B);
  PUT(d_kv_indptr, f->h_kv_indptr, B + 1);
  PUT(d_kv_indices, f->h_kv_indices, np);
  PUT(d_out_slots, f->h_out_slots, T);
  PUT(d_logit_rows, logit_rows, f->n_logits);
  PUT(d_kv_tok_indptr, f->h_kv_tok_indptr, B + 1);
#undef PUT
  latte_status s = LATTE_OK;
  cudaError_t e = cudaMemcpyAsync(dev, h, n * sizeof(int32_t), cudaMemcpyHostToDevice, c->stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
  if (e != cudaSuccess) s = lt_err(LATTE_ERR_BACKEND, "set_batch: %s", cudaGetErrorString(e));
  free(h);
  return s;
}

extern "C" latte_status lt_cuda_backend_create(int w8a8, lt_backend **out) {
  *out = NULL;
  lt_backend *b = (lt_backend *)calloc(1, sizeof *b);
  lt_cuda_ctx *c = (lt_cuda_ctx *)calloc(1, sizeof *c);
  if (!b || !c) { free(b); free(c); return lt_err(LATTE_ERR_NOMEM, "cuda backend: out of memory"); }
  b->ctx = c;
  b->destroy = cu_destroy;
  latte_status s = LATTE_OK;
  cudaDeviceProp p;
  if (cudaGetDevice(&c->device) != cudaSuccess || cudaGetDeviceProperties(&p, c->device) != cudaSuccess) {
    cudaGetLastError();
    cu_destroy(b);
    return lt_err(LATTE_ERR_BACKEND, "cuda backend: no usable CUDA device");
  }
  c->sm_count = p.multiProcessorCount;
  c->smem_optin = (int)p.sharedMemPerBlockOptin;
  c->l2_bytes = (size_t)p.l2CacheSize;
  c->w8a8 = w8a8;
  c->lt_ws_size = 64u << 20;
  if (cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking) != cudaSuccess ||
      cudaMalloc(&c->lt_ws, c->lt_ws_size) != cudaSuccess) {
    cudaGetLastError();
    s = lt_err(LATTE_ERR_BACKEND, "cuda backend: cannot create stream / workspace");
  }
  if (!s && (cublasLtCreate(&c->lt) != CUBLAS_STATUS_SUCCESS || cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS))
    s = lt_err(LATTE_ERR_BACKEND, "cuda backend: cannot create cuBLAS handles");
  if (!s && cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS)
    s = lt_err(LATTE_ERR_BACKEND, "cuda backend: cublasSetStream failed");
  if (s) { cu_destroy(b); return s; }
  b->name = "cuda";
  b->act_dtype = LT_BF16;
  b->w8a8 = w8a8;
  b->alloc = cu_alloc;
  b->dfree = cu_dfree;
  b->upload = cu_upload;
  b->download = cu_download;
  b->sync = cu_sync;
  b->mem_free = cu_mem_free;
  b->weight_new = cu_weight_new;
  b->weight_free = cu_weight_free;
  b->vec_new = cu_vec_new;
  b->set_batch = cu_set_batch;
  b->mlp_new = lt_cuda_mlp_new;
  b->mlp_free = lt_cuda_mlp_free;
  b->moe_new = lt_cuda_moe_new;
  b->moe_free = lt_cuda_moe_free;
  b->mla_new = lt_cuda_mla_new;
  b->mla_free = lt_cuda_mla_free;
  b->embed = lt_cuda_embed;
  b->rmsnorm = lt_cuda_rmsnorm;
  b->add_rmsnorm = lt_cuda_add_rmsnorm;
  b->linear = lt_cuda_linear;
  b->linear_f32out = lt_cuda_linear_f32out;
  b->add = lt_cuda_add;
  b->gather_rows = lt_cuda_gather_rows;
  b->rope_cache_write = lt_cuda_rope_cache_write;
  b->gather_kv = lt_cuda_gather_kv;
  b->attn_extend = lt_cuda_attn_extend;
  b->mla_absorb_q = lt_cuda_mla_absorb_q;
  b->mla_decode = lt_cuda_mla_decode;
  b->mla_out_v = lt_cuda_mla_out_v;
  b->moe_route = lt_cuda_moe_route;
  b->moe_experts = lt_cuda_moe_experts;
  b->mlp = lt_cuda_mlp;
  b->argmax_rows = lt_cuda_argmax_rows;
  *out = b;
  return LATTE_OK;
}

/* ---- f32 ↔ bf16 between host f32 and device activations (tests, logits) ---- */
__global__ void lt_k_f32_to_bf16(const float *x, __nv_bfloat16 *y, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = __float2bfloat16(x[i]);
}
__global__ void lt_k_bf16_to_f32(const __nv_bfloat16 *x, float *y, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = __bfloat162float(x[i]);
}

extern "C" latte_status lt_cuda_f32_to_act(lt_backend *b, const float *host, void *dev, size_t n) {
  lt_cuda_ctx *c = ctx_of(b);
  float *tmp;
  if (!n) return LATTE_OK;
  LT_TRY(cu_alloc(b, n * sizeof(float), (void **)&tmp));
  latte_status s = cu_upload(b, tmp, host, n * sizeof(float));
  if (!s) {
    lt_k_f32_to_bf16<<<(unsigned)((n + 255) / 256), 256, 0, c->stream>>>(tmp, (__nv_bfloat16 *)dev, n);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) s = lt_err(LATTE_ERR_BACKEND, "f32_to_act: %s", cudaGetErrorString(e));
  }
  cudaFree(tmp);
  return s;
}

extern "C" latte_status lt_cuda_act_to_f32(lt_backend *b, const void *dev, float *host, size_t n) {
  lt_cuda_ctx *c = ctx_of(b);
  float *tmp;
  if (!n) return LATTE_OK;
  LT_TRY(cu_alloc(b, n * sizeof(float), (void **)&tmp));
  lt_k_bf16_to_f32<<<(unsigned)((n + 255) / 256), 256, 0, c->stream>>>((const __nv_bfloat16 *)dev, tmp, n);
  cudaError_t e = cudaGetLastError();
  latte_status s = LATTE_OK;
  if (e != cudaSuccess) s = lt_err(LATTE_ERR_BACKEND, "act_to_f32: %s", cudaGetErrorString(e));
  if (!s) s = cu_download(b, host, tmp, n * sizeof(float));
  cudaFree(tmp);
  return s;
}
