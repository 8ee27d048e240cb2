/* backend.h — the op table every backend fills (CPU reference, CUDA). The model (src/model/) is
 * written once in these ops and never knows which backend runs it; a backend never knows the model.
 * All ops are asynchronous on the backend's stream; they return a status for launch/argument errors. */
#ifndef LT_BACKEND_H
#define LT_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include "latte.h"
#include "io/safetensors.h"
#ifdef __cplusplus
extern "C" {
#endif

/* A 2-D weight W [n, k] (PyTorch Linear layout: y = x · Wᵀ), held by the backend. */
typedef struct {
  lt_dtype dtype;   /* BF16, F16, F32 or F8E4M3 */
  int64_t n, k;
  void *data;       /* backend memory (CPU: may point into the checkpoint's mmap) */
  float *scale;     /* F8E4M3: weight_scale_inv [ceil(n/bn), ceil(k/bk)], backend memory */
  int bn, bk;       /* FP8 block size (128, 128) */
  void *priv;       /* backend-private prepared form (e.g. a GEMM descriptor) */
} lt_weight;

/* Dense / shared-expert MLP: down(silu(gate(x)) * up(x)). */
typedef struct {
  lt_weight gate, up, down;   /* [I, H], [I, H], [H, I] */
  void *priv;
} lt_mlp_w;

/* Routed experts of one MoE layer, E experts of intermediate size I. */
typedef struct {
  int num_experts, inter, hidden;
  lt_weight *gate, *up, *down;  /* [E] each: [I, H], [I, H], [H, I] */
  void *priv;                   /* backend-private stacked form (CUDA: w13 [E, 2I, H], w2 [E, H, I]) */
  lt_mlp_w *shared;             /* the layer's shared experts (gate/up/down filled, mlp_new not yet
                                 * called), or NULL. moe_new may fold them into its own form: it then
                                 * sets shared_folded, owns (and may free) their weights, moe_experts
                                 * adds them, and the model neither calls mlp_new nor runs them. */
  int shared_folded;
} lt_moe_w;

/* Absorbed-MLA weights derived from kv_b_proj [H*(dn+dv), r]. */
typedef struct {
  int heads, dn, dv, r;
  void *w_kc;   /* [H, dn, r]: q~ = q_nope · w_kc */
  void *w_vc;   /* [H, dv, r]: o = o_lat · w_vcᵀ */
  void *priv;
} lt_mla_w;

/* Router configuration of one MoE layer. */
typedef struct {
  int num_experts, top_k, n_group, topk_group;
  int method;         /* lt_topk_method (io/config.h) */
  int sigmoid;        /* scoring: 1 sigmoid, 0 softmax */
  int norm_topk_prob;
  int scale_always;   /* V3 multiplies by routed_scaling_factor always; V2 only without renorm */
  float routed_scaling_factor;
} lt_route_cfg;

/* Forward-batch metadata as the backend sees it (see docs/batch.md). Pointers named d_* are in
 * backend memory (device memory on CUDA; the host arrays themselves on CPU); h_* are host copies. */
typedef struct {
  int num_seqs, num_tokens, n_logits, page_size;
  int max_q_len, max_seq_len;
  int64_t num_kv;        /* Σ seq_lens: tokens of context over the batch */
  const int32_t *h_qo_indptr, *h_seq_lens, *h_kv_indptr, *h_kv_indices, *h_positions, *h_out_slots;
  const int32_t *h_kv_tok_indptr;   /* [B+1] prefix sum of seq_lens */
  int32_t *d_ids, *d_positions, *d_qo_indptr, *d_seq_lens, *d_kv_indptr, *d_kv_indices;
  int32_t *d_out_slots;            /* [T] cache slot (page*page_size + offset) of each new token */
  int32_t *d_logit_rows;           /* [n_logits] */
  int32_t *d_kv_tok_indptr;        /* [B+1] */
  int meta_slot;                   /* which of the backend's metadata buffers set_batch fills (0..3):
                                    * the model keeps one per sub-batch of a mixed batch */
  int plan_ctx;                    /* > 0: a pure-decode batch whose every context is ≤ plan_ctx (a
                                    * bucket); ops size grids and scratch from it, never from h_*, so
                                    * the launches are the same for every step of the bucket (graphs) */
} lt_fwd;

/* RoPE table: cos/sin [max_pos, dr/2] (f32, backend memory), already scaled by YaRN's mscale. */
typedef struct {
  int max_pos, dim;
  float *cos, *sin;
} lt_rope;

/* Per-row sampling parameters of sample_rows. temperature <= 0 or top_k == 1: argmax (lowest index on
 * ties). Else p_i = exp((l_i - max) * (1/T)); the keep set is {i : p_i >= t} where t = max(t_kp, min_p)
 * and t_kp is the largest threshold (LT_SAMPLE_BISECT float bisection steps on [0, 1]) that keeps at
 * least top_k ids (top_k <= 0: off) and at least top_p of the total mass (top_p <= 0 or >= 1: off);
 * then u = lt_sample_uniform(seed, counter) and the id is the first, in index order, at which the
 * running kept mass exceeds u · (kept mass). The row is not hashed in: a request's draws depend on its
 * seed and counter only, whatever the batch it rides in. */
typedef struct lt_sample_params {
  float temperature, top_p, min_p;
  int32_t top_k;
  uint64_t seed;      /* per request */
  uint64_t counter;   /* per draw: tokens generated so far */
} lt_sample_params;

#define LT_SAMPLE_BISECT 32

#ifdef __CUDACC__
#define LT_SAMPLE_HD __host__ __device__
#else
#define LT_SAMPLE_HD
#endif
/* Uniform float in [0, 1) on a 24-bit grid from (seed, counter): splitmix64's finaliser. */
static inline LT_SAMPLE_HD float lt_sample_uniform(uint64_t seed, uint64_t counter) {
  uint64_t z = seed ^ (counter * 0x9E3779B97F4A7C15ull) ^ 0xD1B54A32D192ED03ull;
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)(z >> 40) * (1.0f / 16777216.0f);
}

typedef struct lt_backend lt_backend;
struct lt_backend {
  const char *name;
  lt_dtype act_dtype;   /* activations and latent cache: F32 on CPU, BF16 on CUDA */
  int w8a8;             /* quantise FP8 linears' inputs per token × 128 channels to e4m3 */
  void *ctx;

  void (*destroy)(lt_backend *b);
  /* memory */
  latte_status (*alloc)(lt_backend *b, size_t bytes, void **out);
  void (*dfree)(lt_backend *b, void *p);
  latte_status (*upload)(lt_backend *b, void *dst, const void *src, size_t bytes);
  latte_status (*download)(lt_backend *b, void *dst, const void *src, size_t bytes);
  latte_status (*sync)(lt_backend *b);
  /* free device memory in bytes (SIZE_MAX when unknown / host) */
  size_t (*mem_free)(lt_backend *b);

  /* weights, prepared once at load */
  latte_status (*weight_new)(lt_backend *b, const lt_st_tensor *w, const lt_st_tensor *scale_inv, lt_weight *out);
  void (*weight_free)(lt_backend *b, lt_weight *w);
  /* f32 copy of a 1-D tensor (norm weights, router bias) in backend memory */
  latte_status (*vec_new)(lt_backend *b, const lt_st_tensor *t, float **out);
  latte_status (*mlp_new)(lt_backend *b, lt_mlp_w *w);     /* gate/up/down already filled */
  void (*mlp_free)(lt_backend *b, lt_mlp_w *w);
  latte_status (*moe_new)(lt_backend *b, lt_moe_w *w);     /* experts already filled */
  void (*moe_free)(lt_backend *b, lt_moe_w *w);
  latte_status (*mla_new)(lt_backend *b, const lt_weight *kv_b, int heads, int dn, int dv, int r, lt_mla_w *out);
  void (*mla_free)(lt_backend *b, lt_mla_w *w);

  /* batch metadata: copies the host arrays of f (h_*) into backend memory (d_*) */
  latte_status (*set_batch)(lt_backend *b, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows);

  /* ---- ops; x, y are activations of act_dtype unless stated ---- */
  /* x [T, H] = emb[ids] */
  latte_status (*embed)(lt_backend *b, const lt_fwd *f, const lt_weight *emb, void *x);
  /* y[i, :dim] = x[i, :dim] / rms(x[i, :dim]) * w, rows of stride x_stride / y_stride elements */
  latte_status (*rmsnorm)(lt_backend *b, const void *x, int64_t x_stride, const float *w, void *y,
                          int64_t y_stride, int rows, int dim, float eps);
  /* resid [rows, dim] += delta; y = rmsnorm(resid) * w */
  latte_status (*add_rmsnorm)(lt_backend *b, void *resid, const void *delta, const float *w, void *y,
                              int rows, int dim, float eps);
  /* y [rows, n] = x [rows, k] (row stride x_stride) · Wᵀ; w8a8 applies to FP8 weights */
  latte_status (*linear)(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w, void *y, int rows);
  /* y1 [rows, w1->n] = x · W1ᵀ and y2 [rows, w2->n] = x · W2ᵀ: two linears over one x (w1->k == w2->k;
   * the model's q_proj or q_a_proj beside kv_a_proj_with_mqa), which a backend may run as one launch */
  latte_status (*linear_pair)(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                              const lt_weight *w2, void *y2, int rows);
  /* xn [rows, w->k] (row stride w->k) = rmsnorm(x [rows, w->k], row stride x_stride) · ln (eps); y [rows, w->n] =
   * xn · Wᵀ: a norm and the linear it feeds (the model's q_a_layernorm → q_b_proj); xn == x allowed (then
   * x_stride == w->k). A backend may fuse them (the CUDA one writes W's e4m3 input in the norm's launch). */
  latte_status (*rmsnorm_linear)(lt_backend *b, const void *x, int64_t x_stride, const float *ln, float eps,
                                 void *xn, const lt_weight *w, void *y, int rows);
  /* y [rows, n] (F32) = x [rows, k] · Wᵀ: the lm_head, fp32 output */
  latte_status (*linear_f32out)(lt_backend *b, const void *x, const lt_weight *w, float *y, int rows);
  /* y [n] += x [n] */
  latte_status (*add)(lt_backend *b, void *y, const void *x, int64_t n);
  /* out [n, dim] = x [rows[i], :] for i < n */
  latte_status (*gather_rows)(lt_backend *b, const void *x, const int32_t *rows, int n, int dim, void *out);
  /* RoPE on q's rope part in place (q [T, H, dn+dr], last dr of each head) and on kpe; writes
   * cache[out_slots[t]] = [c'[t, :r] | rope(kpe[t, :dr])], c' = c, or rmsnorm(c[t, :r]) · c_norm (eps)
   * when c_norm != NULL (the kv_a_layernorm folded in); c rows have stride c_stride, kpe rows kpe_stride. */
  latte_status (*rope_cache_write)(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads,
                                   int dn, int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                   const void *kpe, int64_t kpe_stride, int r, void *cache);
  /* rope_cache_write then mla_absorb_q of the rotated q (the absorbed-decode path): the cache write as
   * above, ql [T, H, r+dr] = absorb(q with its rope part rotated); q itself may be left unrotated */
  latte_status (*rope_absorb_q)(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads, int dn,
                                int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                const void *kpe, int64_t kpe_stride, int r, void *cache, const lt_mla_w *w,
                                void *ql);
  /* lat [num_kv, r+dr] = the context of every sequence, in order, gathered from the paged cache */
  latte_status (*gather_kv)(lt_backend *b, const lt_fwd *f, const void *cache, int width, void *lat);
  /* extend/prefill MHA: q [T, H, dn+dr], kvb [num_kv, H, dn+dv] (k_nope | v per head),
   * lat [num_kv, r+dr] (k_pe = lat[:, r:]); causal: new token i of sequence s attends context
   * tokens 0 .. seq_len - q_len + i. out [T, H, dv]. */
  latte_status (*attn_extend)(lt_backend *b, const lt_fwd *f, const void *q, const void *kvb, const void *lat,
                              void *out, int heads, int dn, int dr, int dv, int r, float scale);
  /* absorbed MLA: ql [T, H, r+dr]: ql[:, h, :r] = q_nope[:, h] · w_kc[h]; ql[:, h, r:] = q_pe */
  latte_status (*mla_absorb_q)(lt_backend *b, const void *q, const lt_mla_w *w, int dr, void *ql, int rows);
  /* absorbed MLA attention over the latent cache: K = [c | k_pe] (r+dr), V = c (r); causal as
   * attn_extend. out_lat [T, H, r]. */
  latte_status (*mla_decode)(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                             int heads, int r, int dr, float scale);
  /* out [T, H*dv] = per head out_lat[:, h] · w_vc[h]ᵀ */
  latte_status (*mla_out_v)(lt_backend *b, const void *out_lat, const lt_mla_w *w, void *out, int rows);
  /* mla_decode then mla_out_v in one op: out [T, H*dv] = per head attention(ql, cache)[:, h] · w_vc[h]ᵀ;
   * out_lat [T, H, r] is the op's scratch (the backend may leave it unwritten) */
  latte_status (*mla_decode_v)(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                               const lt_mla_w *w, void *out, int heads, int r, int dr, float scale);
  /* router: logits = x · gateᵀ in f32, scores, (grouped) top-k; ids [T, k] int32, weights [T, k] f32
   * (backend memory). bias: e_score_correction_bias [E] or NULL. experts: the layer's experts (or
   * NULL), whose moe_experts call with these ids and rows comes next: a backend may prepare that
   * call here (CUDA sorts the pairs by expert in the router's kernel) */
  latte_status (*moe_route)(lt_backend *b, const void *x, const lt_weight *gate, const float *bias,
                            const lt_route_cfg *cfg, int rows, int32_t *ids, float *weights,
                            const lt_moe_w *experts);
  /* add_rmsnorm then moe_route on its output: resid [rows, dim] += delta; y = rmsnorm(resid) · norm_w;
   * ids, weights = the router on y (as moe_route, x = y) */
  latte_status (*add_rmsnorm_route)(lt_backend *b, void *resid, const void *delta, const float *norm_w, void *y,
                                    int rows, int dim, float eps, const lt_weight *gate, const float *bias,
                                    const lt_route_cfg *cfg, int32_t *ids, float *weights, const lt_moe_w *experts);
  /* out [T, H] = Σ_j weights[t, j] · expert_{ids[t, j]}(x[t]) (+ shared(x[t]) when w->shared_folded) */
  latte_status (*moe_experts)(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                              const float *weights, int top_k, int rows, void *out);
  /* moe_experts into out [rows, H], then resid [rows, H] += out and y = rmsnorm(resid) · norm_w (eps): the
   * MoE output added to the residual stream and the next layer's input norm in one op. y may be x
   * (written after x is last read) */
  latte_status (*moe_experts_add_rmsnorm)(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                          const float *weights, int top_k, int rows, void *out, void *resid,
                                          const float *norm_w, void *y, float eps);
  /* out [rows, H] = mlp(x) */
  latte_status (*mlp)(lt_backend *b, const void *x, const lt_mlp_w *w, void *out, int rows);
  /* ids [rows] (int32, backend memory) = argmax of each row of logits [rows, vocab] (f32), lowest
   * index on ties: greedy sampling on the device, so a decode step copies back only the ids */
  latte_status (*argmax_rows)(lt_backend *b, const float *logits, int rows, int vocab, int32_t *ids);
  /* ids [rows] = one draw per row of logits [rows, vocab] (f32) under p [rows] (lt_sample_params,
   * backend memory): temperature / top-k / top-p / min-p with a counter-based generator; the same
   * algorithm on every backend (see lt_sample_params below and docs/sampling.md) */
  latte_status (*sample_rows)(lt_backend *b, const float *logits, int rows, int vocab,
                              const lt_sample_params *p, int32_t *ids);

  /* ---- graphs (optional: NULL where the backend has none, e.g. the CPU) ----
   * graph_begin starts capturing the stream: ops enqueued until graph_end are recorded, not run.
   * graph_end stops; *graph = an executable graph, or NULL when the capture failed (an op was not
   * capture-safe; the error is cleared, nothing ran). graph_launch replays it asynchronously; it
   * sets *stale (and runs nothing) when backend scratch the graph refers to was reallocated since.
   * set_batch is never captured: it refills the fixed metadata buffers a graph reads. */
  latte_status (*graph_begin)(lt_backend *b);
  latte_status (*graph_end)(lt_backend *b, void **graph);
  latte_status (*graph_launch)(lt_backend *b, void *graph, int *stale);
  void (*graph_free)(lt_backend *b, void *graph);
};

/* The fused ops above as their plain sequences of ops (the CPU backend's, and the CUDA backend's outside
 * the shapes its fused kernels serve). */
latte_status lt_linear_pair_seq(lt_backend *b, const void *x, int64_t x_stride, const lt_weight *w1, void *y1,
                                const lt_weight *w2, void *y2, int rows);
latte_status lt_rmsnorm_linear_seq(lt_backend *b, const void *x, int64_t x_stride, const float *ln, float eps,
                                   void *xn, const lt_weight *w, void *y, int rows);
latte_status lt_mla_decode_v_seq(lt_backend *b, const lt_fwd *f, const void *ql, const void *cache, void *out_lat,
                                 const lt_mla_w *w, void *out, int heads, int r, int dr, float scale);
latte_status lt_rope_absorb_q_seq(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *q, int heads, int dn,
                                 int dr, const void *c, int64_t c_stride, const float *c_norm, float eps,
                                 const void *kpe, int64_t kpe_stride, int r, void *cache, const lt_mla_w *w, void *ql);
latte_status lt_add_rmsnorm_route_seq(lt_backend *b, void *resid, const void *delta, const float *norm_w, void *y,
                                      int rows, int dim, float eps, const lt_weight *gate, const float *bias,
                                      const lt_route_cfg *cfg, int32_t *ids, float *weights,
                                      const lt_moe_w *experts);
latte_status lt_moe_experts_add_rmsnorm_seq(lt_backend *b, const void *x, const lt_moe_w *w, const int32_t *ids,
                                            const float *weights, int top_k, int rows, void *out, void *resid,
                                            const float *norm_w, void *y, float eps);

/* Backend constructors. lt_backend_create picks by name ("cpu", "cuda", NULL = $LATTE_BACKEND, else
 * cuda when a GPU is visible and built, else cpu). */
latte_status lt_backend_create(const char *name, int w8a8, int threads, lt_backend **out);
latte_status lt_cpu_backend_create(int w8a8, int threads, lt_backend **out);
#ifdef LATTE_HAVE_CUDA
latte_status lt_cuda_backend_create(int w8a8, lt_backend **out);
int lt_cuda_device_count(void);
#endif
#ifdef __cplusplus
}
#endif
#endif
