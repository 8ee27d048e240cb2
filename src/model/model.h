/* model.h — the DeepSeek-V2/V3 model as latte holds it: config, per-layer weights on a backend, RoPE
 * table; and the forward pass over one batch, written once in backend ops (deepseek_forward.c). */
#ifndef LT_MODEL_H
#define LT_MODEL_H
#include "backend/backend.h"
#include "io/config.h"
#include "io/safetensors.h"

typedef struct {
  float *in_ln, *post_ln;                 /* [hidden] */
  lt_weight q_a, q_b, q_proj;             /* q_a [qr, H]; q_b / q_proj [heads*(dn+dr), qr or H] */
  float *q_a_ln;                          /* [qr] */
  lt_weight kv_a, kv_b, o_proj;           /* kv_a [r+dr, H]; kv_b [heads*(dn+dv), r]; o [H, heads*dv] */
  float *kv_a_ln;                         /* [r] */
  lt_mla_w mla;                           /* w_kc / w_vc from kv_b */
  int moe;                                /* routed MoE layer (else dense MLP) */
  lt_mlp_w mlp;                           /* dense MLP, or the shared experts of a MoE layer */
  int has_mlp;
  lt_weight gate;                         /* router [E, H] */
  float *gate_bias;                       /* e_score_correction_bias [E] or NULL */
  lt_moe_w experts;
} lt_layer;

struct latte_model {
  lt_config cfg;
  lt_backend *be;
  lt_st_set *st;                          /* kept open: the CPU backend reads weights from its mmap */
  lt_weight embed, lm_head;
  float *final_ln;
  lt_layer *layers;
  lt_rope rope;
  float softmax_scale;
  lt_route_cfg route;
  char dir[1024];
};

void lt_rope_inv_freq(const lt_config *c, double *inv_freq, double *attn_factor);
latte_status lt_rope_build(const lt_config *c, int max_pos, float **cos_out, float **sin_out);

/* Scratch activations of one engine, grown on demand (backend memory). */
enum { LT_BUF_X, LT_BUF_H, LT_BUF_QA, LT_BUF_Q, LT_BUF_KVA, LT_BUF_LAT, LT_BUF_KVB, LT_BUF_O,
       LT_BUF_QL, LT_BUF_OL, LT_BUF_ATT, LT_BUF_DELTA, LT_BUF_SHARED, LT_BUF_IDS, LT_BUF_WTS, LT_BUF_LROWS,
       LT_BUF_LOGITS, LT_BUF_ARGMAX, LT_BUF_SPARAMS, LT_NBUF };
typedef struct { void *p; size_t cap; } lt_buf;

/* A pure-decode forward captured as a backend graph (docs/cuda-graphs.md), keyed by the launch
 * shape: B sequences of one new token each, n logit rows, the context bucket, and the tail on the
 * logits (greedy: 0 none, 1 argmax_rows, 2 sample_rows). */
enum { LT_MAX_GRAPHS = 32 };
typedef struct {
  int used, B, n, ctx, greedy;
  int seen;                /* the key ran once eagerly (scratch and GEMM plans sized): capture next */
  int failed;              /* capture failed: this key runs eagerly */
  void *graph;             /* backend graph, or NULL */
  unsigned buf_gen;        /* the engine's buf_gen at capture */
} lt_graph_ent;

struct latte_engine {
  latte_model *m;
  int page_size, num_pages, max_tokens, max_seqs;
  void **kv;               /* [layers] latent cache [num_pages * page_size, r + dr] of act_dtype */
  lt_buf buf[LT_NBUF];
  unsigned buf_gen;        /* bumped whenever a scratch buffer moves (graphs captured before are stale) */
  int graphs_on;           /* replay decode steps as graphs where the backend has them ($LATTE_GRAPHS=0: off) */
  lt_graph_ent graphs[LT_MAX_GRAPHS];
  long graph_replays, graph_captures;   /* counters (tests, diagnostics) */
};

/* Runs the model over a prepared batch; writes logits F32 [n_logits, vocab] to host memory. */
/* sp: host [n_logits] sampling parameters (with greedy_ids: sample_rows instead of argmax_rows), or NULL */
latte_status lt_model_forward(latte_engine *e, lt_fwd *f, const int32_t *ids, const int32_t *logit_rows,
                              int attn_mode, float *logits, int32_t *greedy_ids, const lt_sample_params *sp);
#endif
