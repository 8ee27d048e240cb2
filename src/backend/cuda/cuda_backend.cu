/* cuda_backend.cu — the CUDA backend's table: device memory, the stream and cuBLASLt handle, weight
 * upload (bf16 as is; F16/F32 → bf16; FP8 kept as e4m3 + f32 block scales with --w8a8, else
 * dequantised to bf16 once), batch metadata upload (pinned, asynchronous), grow-only scratch, stream
 * capture into CUDA graphs (docs/cuda-graphs.md), and f32 ↔ bf16 helpers. */
#include "backend/cuda/cuda_ops.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

static lt_cuda_ctx *ctx_of(lt_backend *b) { return (lt_cuda_ctx *)b->ctx; }

int lt_cuda_pdl = 1;  /* cuda_common.h: LATTE_PDL=0 turns programmatic dependent launch off */
extern "C" int lt_cuda_mla_min_chunk, lt_cuda_gg_want_pct, lt_cuda_gg_w_early, lt_cuda_route_fused, lt_cuda_moe_norm_fused,
    lt_cuda_gemv_fp8_on, lt_cuda_route_norm_fused, lt_cuda_fp8_mid_on, lt_cuda_fp8_wg_on, lt_cuda_fp8_prequant_on,
    lt_cuda_gg_wg, lt_fp8_wg_xin, lt_fp8_wg_tma, lt_fp8_tma_kw, lt_cuda_fp8_pair_one, lt_cuda_gg_wgp, lt_cuda_moe_norm_v8_rows,
    lt_cuda_mla_full_chunk, lt_cuda_ggp_fp8_128, lt_fp8_wg_min_groups, lt_fp8_tma_spare, lt_fp8_tma_small;

/* *var = the integer in environment variable name, when it is set and ≥ lo */
extern "C" void lt_cuda_attn_extend_variant(int v);  /* cuda_attn.cu */

static void env_int(const char *name, int lo, int *var) {
  const char *v = getenv(name);
  if (v && *v && atoi(v) >= lo) *var = atoi(v);
}

extern "C" int lt_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
  return n;
}

extern "C" latte_status lt_cuda_scratch(lt_cuda_ctx *c, int slot, size_t bytes, void **out) {
  if (slot < 0 || slot >= LT_CUDA_SCRATCH_SLOTS) return lt_err(LATTE_ERR_INVALID, "cuda scratch slot %d", slot);
  if (c->scratch_cap[slot] < bytes) {
    if (c->capturing)
      return lt_err(LATTE_ERR_BACKEND, "cuda scratch slot %d cannot grow to %zu bytes inside a graph capture", slot, bytes);
    c->scratch_gen++;
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
    for (int i = 0; i < 4; i++) {
      if (c->meta_host[i]) cudaFreeHost(c->meta_host[i]);
      if (c->meta_ev[i]) cudaEventDestroy(c->meta_ev[i]);
    }
    cudaFree(c->blas_ws);
    cudaFree(c->lt_ws);
    cudaFree(c->counters);
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

/* Packs every metadata array into the slot's pinned staging buffer and copies it to the slot's
 * device scratch with one asynchronous copy (no synchronisation: the ops that read it follow on the
 * stream). kv_indices go last, so for a fixed (B, T, n_logits) every other array keeps its device
 * address from step to step — what a captured graph reads. With plan_ctx the buffer is sized for
 * the bucket's pages up front, so a growing context does not reallocate it. */
static latte_status cu_set_batch(lt_backend *b, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows) {
  lt_cuda_ctx *c = ctx_of(b);
  int B = f->num_seqs, T = f->num_tokens;
  int np = f->h_kv_indptr[B];
  size_t fixed = (size_t)T /*ids*/ + T /*pos*/ + (B + 1) + B + (B + 1) + T /*slots*/ + f->n_logits + (B + 1);
  size_t n = fixed + np, cap = n;
  if (f->plan_ctx > 0 && f->page_size > 0) {
    size_t want = fixed + (size_t)B * ((size_t)f->plan_ctx / f->page_size + 2);
    if (want > cap) cap = want;
  }
  int32_t *dev = NULL;
  if (f->meta_slot < 0 || f->meta_slot > 3) return lt_err(LATTE_ERR_INVALID, "set_batch: meta_slot %d", f->meta_slot);
  const int ms = f->meta_slot;
  int slot = ms == 0 ? LT_SCR_MISC : LT_SCR_META1 + ms - 1;
  LT_TRY(lt_cuda_scratch(c, slot, cap * sizeof(int32_t), (void **)&dev));
  if (!c->meta_ev[ms]) LT_CUDA_TRY(cudaEventCreateWithFlags(&c->meta_ev[ms], cudaEventDisableTiming));
  LT_CUDA_TRY(cudaEventSynchronize(c->meta_ev[ms]));  /* the previous copy out of the staging is done */
  if (c->meta_host_cap[ms] < n) {
    if (c->meta_host[ms]) LT_CUDA_TRY(cudaFreeHost(c->meta_host[ms]));
    c->meta_host[ms] = NULL;
    c->meta_host_cap[ms] = 0;
    size_t hc = cap < 1024 ? 1024 : cap + cap / 4;
    if (cudaMallocHost((void **)&c->meta_host[ms], hc * sizeof(int32_t)) != cudaSuccess) {
      cudaGetLastError();
      return lt_err(LATTE_ERR_NOMEM, "set_batch: cannot allocate %zu bytes of pinned memory", hc * sizeof(int32_t));
    }
    c->meta_host_cap[ms] = hc;
  }
  int32_t *h = c->meta_host[ms];
  size_t o = 0;
#define PUT(field, src, cnt) do { if (cnt) memcpy(h + o, src, sizeof(int32_t) * (size_t)(cnt)); f->field = dev + o; o += (size_t)(cnt); } while (0)
  PUT(d_ids, ids, T);
  PUT(d_positions, f->h_positions, T);
  PUT(d_qo_indptr, f->h_qo_indptr, B + 1);
  PUT(d_seq_lens, f->h_seq_lens, B);
  PUT(d_kv_indptr, f->h_kv_indptr, B + 1);
  PUT(d_out_slots, f->h_out_slots, T);
  PUT(d_logit_rows, logit_rows, f->n_logits);
  PUT(d_kv_tok_indptr, f->h_kv_tok_indptr, B + 1);
  PUT(d_kv_indices, f->h_kv_indices, np);
#undef PUT
  LT_CUDA_TRY(cudaMemcpyAsync(dev, h, n * sizeof(int32_t), cudaMemcpyHostToDevice, c->stream));
  LT_CUDA_TRY(cudaEventRecord(c->meta_ev[ms], c->stream));
  return LATTE_OK;
}

/* ---- graphs: stream capture of a whole decode forward, replayed per step ---- */
typedef struct {
  cudaGraphExec_t exec;
  uint64_t gen;   /* scratch_gen at capture */
} lt_cuda_graph;

static latte_status cu_graph_begin(lt_backend *b) {
  lt_cuda_ctx *c = ctx_of(b);
  if (c->capturing) return lt_err(LATTE_ERR_INVALID, "graph_begin: already capturing");
  LT_CUDA_TRY(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
  c->capturing = 1;
  return LATTE_OK;
}

static latte_status cu_graph_end(lt_backend *b, void **graph) {
  lt_cuda_ctx *c = ctx_of(b);
  *graph = NULL;
  if (!c->capturing) return lt_err(LATTE_ERR_INVALID, "graph_end: not capturing");
  c->capturing = 0;
  cudaGraph_t g = NULL;
  cudaError_t e = cudaStreamEndCapture(c->stream, &g);
  if (e != cudaSuccess || !g) {  /* invalidated by a capture-unsafe call: not fatal, run eagerly */
    cudaGetLastError();
    if (g) cudaGraphDestroy(g);
    return LATTE_OK;
  }
  cudaGraphExec_t x = NULL;
  e = cudaGraphInstantiate(&x, g, 0);
  cudaGraphDestroy(g);
  if (e != cudaSuccess) { cudaGetLastError(); return LATTE_OK; }
  lt_cuda_graph *h = (lt_cuda_graph *)malloc(sizeof *h);
  if (!h) { cudaGraphExecDestroy(x); return lt_err(LATTE_ERR_NOMEM, "graph_end: out of memory"); }
  h->exec = x;
  h->gen = c->scratch_gen;
  *graph = h;
  return LATTE_OK;
}

static latte_status cu_graph_launch(lt_backend *b, void *graph, int *stale) {
  lt_cuda_ctx *c = ctx_of(b);
  lt_cuda_graph *h = (lt_cuda_graph *)graph;
  *stale = h->gen != c->scratch_gen;
  if (*stale) return LATTE_OK;
  LT_CUDA_TRY(cudaGraphLaunch(h->exec, c->stream));
  return LATTE_OK;
}

static void cu_graph_free(lt_backend *b, void *graph) {
  lt_cuda_graph *h = (lt_cuda_graph *)graph;
  if (!h) return;
  cudaGraphExecDestroy(h->exec);
  free(h);
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
  /* measuring switches (README): PDL on/off, the MLA's smallest KV split, the grouped GEMM's split-K
   * threshold in % blocks per SM, the router variant */
  env_int("LATTE_PDL", 0, &lt_cuda_pdl);
  env_int("LATTE_MLA_MIN_CHUNK", 32, &lt_cuda_mla_min_chunk);
  env_int("LATTE_MLA_FULL_CHUNK", 0, &lt_cuda_mla_full_chunk);
  env_int("LATTE_GG_WANT", 1, &lt_cuda_gg_want_pct);
  env_int("LATTE_GG_EARLY", 0, &lt_cuda_gg_w_early);
  env_int("LATTE_ROUTE", 0, &lt_cuda_route_fused);
  env_int("LATTE_MOE_NORM_FUSED", 0, &lt_cuda_moe_norm_fused);
  env_int("LATTE_MOE_NORM_V8", 1, &lt_cuda_moe_norm_v8_rows);
  env_int("LATTE_GEMV_FP8", 0, &lt_cuda_gemv_fp8_on);
  env_int("LATTE_FP8_MID", 0, &lt_cuda_fp8_mid_on);
  env_int("LATTE_FP8_WG", 0, &lt_cuda_fp8_wg_on);
  env_int("LATTE_FP8_PREQUANT", 0, &lt_cuda_fp8_prequant_on);
  env_int("LATTE_FP8_PAIR", 0, &lt_cuda_fp8_pair_one);
  int xin = 1;  /* LATTE_FP8_XIN=0: the wgmma FP8 kernel never quantises x in its blocks (lt_k_quant_rows first) */
  env_int("LATTE_FP8_XIN", 0, &xin);
  lt_fp8_wg_xin = xin ? 0 : 2;
  int tma = 1;  /* LATTE_FP8_TMA=0: the wgmma FP8 kernel is never fed by the TMA (cuda_gemm_fp8_tma.cuh) */
  env_int("LATTE_FP8_TMA", 0, &tma);
  lt_fp8_wg_tma = tma ? 0 : 2;
  /* 0 auto (the KW plan at 17..64 rows), 1 off, 2 / 4 K parts wherever the TMA FP8 kernel can */
  env_int("LATTE_FP8_TMA_KW", 0, &lt_fp8_tma_kw);
  env_int("LATTE_FP8_MIN_GROUPS", 0, &lt_fp8_wg_min_groups);  /* the FP8 K split's floor of K-groups per rank */
  env_int("LATTE_FP8_TMA_SPARE", 0, &lt_fp8_tma_spare);  /* 0: the TMA FP8 ring may fill 2 blocks' SM share */
  env_int("LATTE_FP8_TMA_SMALL", 0, &lt_fp8_tma_small);        /* 1: the TMA FP8 kernel at ≤ 16 rows too */
  env_int("LATTE_GG_WG", 0, &lt_cuda_gg_wg);
  env_int("LATTE_GG_WGP", 0, &lt_cuda_gg_wgp);
  env_int("LATTE_GGP_FP8_128", 0, &lt_cuda_ggp_fp8_128);
  int ext = -1;  /* LATTE_EXTEND_KERNEL: the extend attention kernel (lt_cuda_attn_extend_variant's values) */
  env_int("LATTE_EXTEND_KERNEL", 0, &ext);
  if (ext >= 0) lt_cuda_attn_extend_variant(ext);
  env_int("LATTE_ROUTE_NORM_FUSED", 0, &lt_cuda_route_norm_fused);
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
  c->blas_ws_size = 32u << 20;  /* cuBLAS's recommendation for Hopper; fixed so captures never allocate */
  if (!s && cudaMalloc(&c->blas_ws, c->blas_ws_size) != cudaSuccess) {
    cudaGetLastError();
    s = lt_err(LATTE_ERR_BACKEND, "cuda backend: cannot allocate the cuBLAS workspace");
  }
  if (!s && cublasSetWorkspace(c->blas, c->blas_ws, c->blas_ws_size) != CUBLAS_STATUS_SUCCESS)
    s = lt_err(LATTE_ERR_BACKEND, "cuda backend: cublasSetWorkspace failed");
  if (!s && (cudaMalloc((void **)&c->counters, sizeof(unsigned) * LT_CTR_COUNT) != cudaSuccess ||
             cudaMemset(c->counters, 0, sizeof(unsigned) * LT_CTR_COUNT) != cudaSuccess)) {
    cudaGetLastError();
    s = lt_err(LATTE_ERR_BACKEND, "cuda backend: cannot allocate the kernel counters");
  }
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
  b->linear_pair = lt_cuda_linear_pair;
  b->rmsnorm_linear = lt_cuda_rmsnorm_linear;
  b->linear_f32out = lt_cuda_linear_f32out;
  b->add = lt_cuda_add;
  b->gather_rows = lt_cuda_gather_rows;
  b->rope_cache_write = lt_cuda_rope_cache_write;
  b->gather_kv = lt_cuda_gather_kv;
  b->rope_absorb_q = lt_cuda_rope_absorb_q;
  b->attn_extend = lt_cuda_attn_extend;
  b->mla_absorb_q = lt_cuda_mla_absorb_q;
  b->mla_decode = lt_cuda_mla_decode;
  b->mla_out_v = lt_cuda_mla_out_v;
  b->mla_decode_v = lt_cuda_mla_decode_v;
  b->moe_route = lt_cuda_moe_route;
  b->moe_experts = lt_cuda_moe_experts;
  b->add_rmsnorm_route = lt_cuda_add_rmsnorm_route;
  b->moe_experts_add_rmsnorm = lt_cuda_moe_experts_add_rmsnorm;
  b->mlp = lt_cuda_mlp;
  b->argmax_rows = lt_cuda_argmax_rows;
  b->sample_rows = lt_cuda_sample_rows;
  b->graph_begin = cu_graph_begin;
  b->graph_end = cu_graph_end;
  b->graph_launch = cu_graph_launch;
  b->graph_free = cu_graph_free;
  *out = b;
  return LATTE_OK;
}

/* ---- f32 ↔ bf16 between host f32 and device activations (tests, logits) ---- */
__global__ void lt_k_f32_to_bf16(const float *x, __nv_bfloat16 *y, size_t n) {
  LT_PDL_ENTER();
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = __float2bfloat16(x[i]);
}
__global__ void lt_k_bf16_to_f32(const __nv_bfloat16 *x, float *y, size_t n) {
  LT_PDL_ENTER();
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
    (void)lt_launch(lt_k_f32_to_bf16, (unsigned)((n + 255) / 256), 256, 0, c->stream, tmp, (__nv_bfloat16 *)dev, n);
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
  (void)lt_launch(lt_k_bf16_to_f32, (unsigned)((n + 255) / 256), 256, 0, c->stream, (const __nv_bfloat16 *)dev, tmp, n);
  cudaError_t e = cudaGetLastError();
  latte_status s = LATTE_OK;
  if (e != cudaSuccess) s = lt_err(LATTE_ERR_BACKEND, "act_to_f32: %s", cudaGetErrorString(e));
  if (!s) s = cu_download(b, host, tmp, n * sizeof(float));
  cudaFree(tmp);
  return s;
}
