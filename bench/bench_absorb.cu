/* bench_absorb.cu — decode-size MLA absorption (mla_absorb_q) and output projection (mla_out_v): the
 * cuBLAS strided-batched path (lt_cuda_mla_absorb_max_rows = 0) against the streaming small-row kernels
 * of cuda_mla_absorb.cu / cuda_mla.cu, at H = 16 (V2-Lite) and 128 (V3), dn = dv = 128, dr = 64, r = 512,
 * rows 1..32; then mla_decode_v at the V2-Lite decode shape (H = 16, T = 1 and 32, contexts 512 / 1024 /
 * 4096): the fused combine + out_v kernel against mla_decode + mla_out_v, under each out_v weight-prefetch
 * mode; then rope_absorb_q at the V2-Lite decode shape (T = 1 and 8): the one-launch kernel against
 * rope_cache_write + mla_absorb_q.
 * Copy bandwidth is measured first in the same run; each op's time is the median over 30 CUDA-event-timed
 * replays of a graph of 64 back-to-back calls (per call = replay / 64), the weights (and KV caches)
 * rotating over sets that together are several times the L2, and is compared with the bytes floor
 * (weights + activations once, over the copy bandwidth). */
#include "backend/cuda/cuda_ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include <algorithm>
#include "bench_util.cuh"

extern "C" int lt_cuda_mla_absorb_max_rows;  /* cuda_mla_absorb.cu: -1 automatic, 0 = always cuBLAS, 32 = streaming */
extern "C" long lt_cuda_rope_absorb_q_fused;  /* cuda_mla_absorb.cu: rope_absorb_q calls that took the fused kernel */
/* cuda_mla.cu: out_v's weight loads ahead of the PDL wait (0 none, 1 L2 prefetch, 2 into registers), and the
 * count of mla_decode_v calls that took the fused combine + out_v kernel */
extern "C" int lt_cuda_mla_out_v_prefetch;
extern "C" long lt_cuda_mla_decode_v_fused;
/* cuda_mla.cu: mla_decode_v fuses while the split partials are at most this many bytes (0 = never) */
extern "C" long lt_cuda_mla_fuse_max_part;


/* references for the same graph-of-64 timing: an empty kernel, and a pure read of n16 × 16 bytes with
 * 16-byte loads, 8 in flight per thread, one word written per block. bench/ targets are built for nvcc's
 * default architecture (no griddepcontrol), so these are launched without PDL. */
__global__ void k_empty(int *sink) {
  if (threadIdx.x == 0 && blockIdx.x == 0 && sink == NULL) sink[0] = 0;
}
__global__ void __launch_bounds__(128) k_stream(const uint4 *w, size_t n16, unsigned *sink) {
  size_t i = (size_t)blockIdx.x * 1024 + threadIdx.x;
  unsigned acc = 0;
  uint4 v[8];
#pragma unroll
  for (int j = 0; j < 8; j++) v[j] = i + 128 * j < n16 ? __ldg(w + i + 128 * j) : make_uint4(0, 0, 0, 0);
#pragma unroll
  for (int j = 0; j < 8; j++) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;
}
/* per-launch µs of a graph of CALLS launches; kernel 0 empty (132 blocks), 1 stream (blocks of 16 KB) */
enum { CALLS = 64, REPS = 30, DN = 128, DR = 64, DV = 128, R = 512, MAXROWS = 32 };

/* median µs per call over REPS timed replays (after 3 warm-ups) of a graph of CALLS calls; frees it */
static double replay_us(lt_backend *b, void *graph, cudaEvent_t e0, cudaEvent_t e1) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  std::vector<float> tv;
  float ms;
  int stale = 0;
  for (int i = 0; i < REPS + 3; i++) {
    CK(cudaEventRecord(e0, c->stream));
    LT(b->graph_launch(b, graph, &stale));
    CK(cudaEventRecord(e1, c->stream));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (stale) { fprintf(stderr, "graph stale\n"); exit(1); }
    if (i >= 3) tv.push_back(ms);
  }
  b->graph_free(b, graph);
  return median(tv) * 1e3 / CALLS;
}

static double time_ref(lt_backend *b, int kind, const void *wbuf, size_t set_bytes, int nsets, unsigned *sink,
                       cudaEvent_t e0, cudaEvent_t e1);


typedef struct {
  lt_backend *b;
  std::vector<lt_mla_w> sets;
  void *q, *ql, *ol, *out;
} bench_ctx;

/* per-call µs of op (0 absorb_q, 1 out_v) at rows, with the knob at max_rows */
static double time_op(bench_ctx *x, int op, int rows, int max_rows, cudaEvent_t e0, cudaEvent_t e1) {
  lt_backend *b = x->b;
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  lt_cuda_mla_absorb_max_rows = max_rows;
  /* eager warm-up over every set (cuBLAS heuristics, module load) */
  for (size_t i = 0; i < x->sets.size(); i++) {
    if (op == 0) LT(b->mla_absorb_q(b, x->q, &x->sets[i], DR, x->ql, rows));
    else LT(b->mla_out_v(b, x->ol, &x->sets[i], x->out, rows));
  }
  CK(cudaStreamSynchronize(c->stream));
  void *graph = NULL;
  LT(b->graph_begin(b));
  for (int i = 0; i < CALLS; i++) {
    const lt_mla_w *w = &x->sets[i % x->sets.size()];
    if (op == 0) LT(b->mla_absorb_q(b, x->q, w, DR, x->ql, rows));
    else LT(b->mla_out_v(b, x->ol, w, x->out, rows));
  }
  LT(b->graph_end(b, &graph));
  if (!graph) { fprintf(stderr, "graph capture failed (op %d rows %d)\n", op, rows); exit(1); }
  return replay_us(b, graph, e0, e1);
}

static double time_ref(lt_backend *b, int kind, const void *wbuf, size_t set_bytes, int nsets, unsigned *sink,
                       cudaEvent_t e0, cudaEvent_t e1) {
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  const size_t n16 = set_bytes / 16;
  const unsigned blocks = kind == 0 ? 132u : (unsigned)((n16 + 1023) / 1024);
  void *graph = NULL;
  const int pdl = lt_cuda_pdl;
  lt_cuda_pdl = 0;  /* plain launches (see above) */
  LT(b->graph_begin(b));
  for (int i = 0; i < CALLS; i++) {
    if (kind == 0) CK(lt_launch(k_empty, blocks, 128, 0, c->stream, (int *)sink));
    else CK(lt_launch(k_stream, blocks, 128, 0, c->stream, (const uint4 *)((const char *)wbuf + set_bytes * (i % nsets)),
                      n16, sink));
  }
  LT(b->graph_end(b, &graph));
  lt_cuda_pdl = pdl;
  if (!graph) { fprintf(stderr, "graph capture failed (reference %d)\n", kind); exit(1); }
  return replay_us(b, graph, e0, e1);
}


/* ---- mla_decode_v: fused combine + out_v against mla_decode + mla_out_v (V2-Lite decode) ---- */
enum { DV_H = 16, DV_W = R + DR, DV_PS = 64 };
typedef struct {
  lt_backend *b;
  lt_fwd f;
  std::vector<int32_t> qo, sl, kvp, kvi, pos, slots, kvt, ids;
  std::vector<void *> caches;   /* KV cache sets (the same page table), rotated per call */
  std::vector<lt_mla_w> ws;     /* w_vc sets, rotated per call */
  void *ql, *ol, *out;
} dv_ctx;

/* T decode tokens (one per sequence), each at context ctx, pages of 64 shuffled over the pool */
static void dv_batch(dv_ctx *x, int T, int ctx) {
  const int per = (ctx + DV_PS - 1) / DV_PS, np = T * per;
  x->qo.assign(T + 1, 0); x->sl.assign(T, ctx); x->kvp.assign(T + 1, 0); x->kvi.resize(np);
  x->pos.assign(T, ctx - 1); x->slots.resize(T); x->kvt.assign(T + 1, 0); x->ids.assign(T, 0);
  srand(11);
  for (int i = 0; i < np; i++) x->kvi[i] = i;
  for (int i = np - 1; i > 0; i--) std::swap(x->kvi[i], x->kvi[rand() % (i + 1)]);
  for (int s = 0; s <= T; s++) { x->qo[s] = s; x->kvp[s] = s * per; x->kvt[s] = s * ctx; }
  for (int s = 0; s < T; s++) x->slots[s] = x->kvi[s * per + (ctx - 1) / DV_PS] * DV_PS + (ctx - 1) % DV_PS;
  lt_fwd &f = x->f;
  memset(&f, 0, sizeof f);
  f.num_seqs = T; f.num_tokens = T; f.page_size = DV_PS; f.max_q_len = 1; f.max_seq_len = ctx;
  f.num_kv = (int64_t)T * ctx;
  f.h_qo_indptr = x->qo.data(); f.h_seq_lens = x->sl.data(); f.h_kv_indptr = x->kvp.data(); f.h_kv_indices = x->kvi.data();
  f.h_positions = x->pos.data(); f.h_out_slots = x->slots.data(); f.h_kv_tok_indptr = x->kvt.data();
  LT(x->b->set_batch(x->b, &f, x->ids.data(), NULL));
}

/* one call of kind k: 0 mla_decode alone, 1 mla_decode + mla_out_v, 2 mla_decode_v; set i of the rotation */
static void dv_call(dv_ctx *x, int k, int i) {
  lt_backend *b = x->b;
  void *cache = x->caches[i % x->caches.size()];
  const lt_mla_w *w = &x->ws[i % x->ws.size()];
  const float scale = 1.f / sqrtf(192.f);
  if (k == 2) {
    LT(b->mla_decode_v(b, &x->f, x->ql, cache, x->ol, w, x->out, DV_H, R, DR, scale));
  } else {
    LT(b->mla_decode(b, &x->f, x->ql, cache, x->ol, DV_H, R, DR, scale));
    if (k == 1) LT(b->mla_out_v(b, x->ol, w, x->out, x->f.num_tokens));
  }
}

/* per-call µs of kind k (graph of CALLS calls, median of REPS replays) */
static double dv_time(dv_ctx *x, int k, cudaEvent_t e0, cudaEvent_t e1) {
  lt_backend *b = x->b;
  for (size_t i = 0; i < x->caches.size() + x->ws.size(); i++) dv_call(x, k, (int)i);  /* warm-up, scratch */
  CK(cudaStreamSynchronize(((lt_cuda_ctx *)b->ctx)->stream));
  void *graph = NULL;
  LT(b->graph_begin(b));
  for (int i = 0; i < CALLS; i++) dv_call(x, k, i);
  LT(b->graph_end(b, &graph));
  if (!graph) { fprintf(stderr, "graph capture failed (decode_v kind %d)\n", k); exit(1); }
  return replay_us(b, graph, e0, e1);
}

/* the V2-Lite decode shapes; appends the markdown rows to table */
static void bench_decode_v(lt_backend *b, double bw, int sms, cudaEvent_t e0, cudaEvent_t e1, char *table, size_t cap) {
  dv_ctx x;
  x.b = b;
  const size_t wel = (size_t)DV_H * DV * R, wbytes = wel * 2;
  const int nw = (int)((((size_t)128 << 20) + wbytes - 1) / wbytes);
  void *wbuf;
  CK(cudaMalloc(&wbuf, wbytes * nw));
  fill(wbuf, wel * nw, 0.05f, 21);
  for (int s = 0; s < nw; s++) {
    lt_mla_w w;
    memset(&w, 0, sizeof w);
    w.heads = DV_H; w.dn = DN; w.dv = DV; w.r = R;
    w.w_vc = (char *)wbuf + wbytes * s;
    x.ws.push_back(w);
  }
  CK(cudaMalloc(&x.ql, (size_t)32 * DV_H * DV_W * 2));
  CK(cudaMalloc(&x.ol, (size_t)32 * DV_H * R * 2));
  CK(cudaMalloc(&x.out, (size_t)32 * DV_H * DV * 2));
  fill(x.ql, (size_t)32 * DV_H * DV_W, 2.f, 22);
  const int keep_pre = lt_cuda_mla_out_v_prefetch;
  const long keep_part = lt_cuda_mla_fuse_max_part;
  size_t to = strlen(table);
  to += snprintf(table + to, cap - to,
                 "\n| T | ctx | splits | partials MB | MB | floor us | decode us | decode + out_v us (prefetch 0 / 1 / 2) | "
                 "fused decode_v us (prefetch 0 / 1 / 2) | decode_v us (defaults) | fuses by default |\n"
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  printf("mla_decode_v, H=%d, page %d, w_vc sets %d x %.1f MB; fused = lt_cuda_mla_fuse_max_part forced up\n", DV_H,
         DV_PS, nw, wbytes / 1e6);
  printf("%-3s %-5s %-6s %7s %7s %8s %9s %23s %23s %9s %6s\n", "T", "ctx", "splits", "part_MB", "MB", "floor_us",
         "decode_us", "dec+out_v_us pre0/1/2", "fused_us pre0/1/2", "default", "fuses");
  const int Ts[] = {1, 32}, Cs[] = {512, 1024, 4096};
  for (int ti = 0; ti < 2; ti++)
    for (int ci = 0; ci < 3; ci++) {
      const int T = Ts[ti], C = Cs[ci];
      const size_t set_bytes = (size_t)T * C * DV_W * 2;
      const int nc = (int)((((size_t)128 << 20) + set_bytes - 1) / set_bytes);
      void *cbuf;
      CK(cudaMalloc(&cbuf, set_bytes * nc));
      fill(cbuf, set_bytes / 2 * nc, 1.f, 23);
      x.caches.clear();
      for (int s = 0; s < nc; s++) x.caches.push_back((char *)cbuf + set_bytes * s);
      dv_batch(&x, T, C);
      /* splits as cuda_mla.cu plans them (16-head tiles of 32 KV rows, 2 CTAs per SM, 64-token minimum) */
      long chunk = ((long)T * C + 4L * sms - 1) / (4L * sms);
      if (chunk < 64) chunk = 64;
      chunk = (chunk + 31) / 32 * 32;
      const long splits = (C + chunk - 1) / chunk;
      const double part_mb = (double)T * splits * DV_H * R * 4 / 1e6;
      const double bytes = (double)set_bytes + 2.0 * DV_H * DV * R + 2.0 * T * DV_H * DV_W + 2.0 * T * DV_H * DV;
      const double floor_us = bytes / bw * 1e6;
      const double td = dv_time(&x, 0, e0, e1);
      double ts[3], tf[3];
      for (int m = 0; m < 3; m++) {
        lt_cuda_mla_out_v_prefetch = m;
        ts[m] = dv_time(&x, 1, e0, e1);
        lt_cuda_mla_fuse_max_part = 1L << 40;
        tf[m] = dv_time(&x, 2, e0, e1);
        lt_cuda_mla_fuse_max_part = keep_part;
      }
      lt_cuda_mla_out_v_prefetch = keep_pre;
      const long before = lt_cuda_mla_decode_v_fused;
      const double tdef = dv_time(&x, 2, e0, e1);
      const int fuses = lt_cuda_mla_decode_v_fused != before;
      printf("%-3d %-5d %-6ld %7.2f %7.2f %8.2f %9.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %9.2f %6s\n", T, C, splits,
             part_mb, bytes / 1e6, floor_us, td, ts[0], ts[1], ts[2], tf[0], tf[1], tf[2], tdef, fuses ? "yes" : "no");
      to += snprintf(table + to, cap - to,
                     "| %d | %d | %ld | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | %.2f | %s |\n",
                     T, C, splits, part_mb, bytes / 1e6, floor_us, td, ts[0], ts[1], ts[2], tf[0], tf[1], tf[2], tdef,
                     fuses ? "yes" : "no");
      CK(cudaFree(cbuf));
    }
  printf("(defaults: prefetch mode %d, fusion up to %ld bytes of partials)\n\n", keep_pre, keep_part);
  CK(cudaFree(wbuf));
  CK(cudaFree(x.ql)); CK(cudaFree(x.ol)); CK(cudaFree(x.out));
}

/* ---- rope_absorb_q: the one-launch kernel against rope_cache_write + mla_absorb_q (V2-Lite decode) ---- */
typedef struct {
  dv_ctx *x;                    /* the batch: positions, out_slots */
  std::vector<lt_mla_w> ws;     /* w_kc sets, rotated per call */
  lt_rope rope;
  void *q, *kva, *ql, *cache;
  float *cnorm;
} ra_ctx;

/* one call of kind k: 0 rope_cache_write alone, 1 mla_absorb_q alone, 2 the two in sequence, 3 rope_absorb_q;
 * set i of the rotation. c = kva[:, :r] (normalised with cnorm), k_pe = kva[:, r:], as the model calls it. */
static void ra_call(ra_ctx *y, int k, int i) {
  lt_backend *b = y->x->b;
  const lt_fwd *f = &y->x->f;
  const lt_mla_w *w = &y->ws[i % y->ws.size()];
  const void *kpe = (const char *)y->kva + 2 * R;
  if (k == 3) {
    LT(b->rope_absorb_q(b, f, &y->rope, y->q, DV_H, DN, DR, y->kva, DV_W, y->cnorm, 1e-6f, kpe, DV_W, R, y->cache, w,
                        y->ql));
    return;
  }
  if (k != 1) LT(b->rope_cache_write(b, f, &y->rope, y->q, DV_H, DN, DR, y->kva, DV_W, y->cnorm, 1e-6f, kpe, DV_W, R,
                                     y->cache));
  if (k != 0) LT(b->mla_absorb_q(b, y->q, w, DR, y->ql, f->num_tokens));
}

/* per-call µs of kind k (graph of CALLS calls, median of REPS replays) */
static double ra_time(ra_ctx *y, int k, cudaEvent_t e0, cudaEvent_t e1) {
  lt_backend *b = y->x->b;
  for (size_t i = 0; i < y->ws.size(); i++) ra_call(y, k, (int)i);  /* warm-up */
  CK(cudaStreamSynchronize(((lt_cuda_ctx *)b->ctx)->stream));
  void *graph = NULL;
  LT(b->graph_begin(b));
  for (int i = 0; i < CALLS; i++) ra_call(y, k, i);
  LT(b->graph_end(b, &graph));
  if (!graph) { fprintf(stderr, "graph capture failed (rope_absorb_q kind %d)\n", k); exit(1); }
  return replay_us(b, graph, e0, e1);
}

/* V2-Lite (H = 16) at T = 1 and 8 decode tokens, context 512 (positions 511); appends the markdown rows */
static void bench_rope_absorb(lt_backend *b, double bw, cudaEvent_t e0, cudaEvent_t e1, char *table, size_t cap) {
  enum { CTX = 512, MAXT = 8 };
  dv_ctx x;
  x.b = b;
  ra_ctx y;
  y.x = &x;
  const size_t wel = (size_t)DV_H * DN * R, wbytes = wel * 2;
  const int nw = (int)((((size_t)128 << 20) + wbytes - 1) / wbytes);
  void *wbuf;
  CK(cudaMalloc(&wbuf, wbytes * nw));
  fill(wbuf, wel * nw, 0.05f, 31);
  for (int s = 0; s < nw; s++) {
    lt_mla_w w;
    memset(&w, 0, sizeof w);
    w.heads = DV_H; w.dn = DN; w.dv = DV; w.r = R;
    w.w_kc = (char *)wbuf + wbytes * s;
    y.ws.push_back(w);
  }
  std::vector<float> cs((size_t)CTX * DR / 2), sn(cs.size()), cn(R, 1.0f);
  for (int p = 0; p < CTX; p++)
    for (int i = 0; i < DR / 2; i++) {
      const double a = pow(10000.0, -2.0 * i / DR) * p;
      cs[(size_t)p * DR / 2 + i] = (float)cos(a);
      sn[(size_t)p * DR / 2 + i] = (float)sin(a);
    }
  y.rope.max_pos = CTX; y.rope.dim = DR;
  CK(cudaMalloc(&y.rope.cos, cs.size() * 4));
  CK(cudaMalloc(&y.rope.sin, sn.size() * 4));
  CK(cudaMalloc(&y.cnorm, R * 4));
  CK(cudaMemcpy(y.rope.cos, cs.data(), cs.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(y.rope.sin, sn.data(), sn.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(y.cnorm, cn.data(), R * 4, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&y.q, (size_t)MAXT * DV_H * (DN + DR) * 2));
  CK(cudaMalloc(&y.kva, (size_t)MAXT * DV_W * 2));
  CK(cudaMalloc(&y.ql, (size_t)MAXT * DV_H * DV_W * 2));
  CK(cudaMalloc(&y.cache, (size_t)MAXT * CTX * DV_W * 2));  /* every page of the batch */
  fill(y.q, (size_t)MAXT * DV_H * (DN + DR), 1.f, 32);
  fill(y.kva, (size_t)MAXT * DV_W, 1.f, 33);
  size_t to = strlen(table);
  to += snprintf(table + to, cap - to,
                 "\n| T | MB | floor us | rope_cache_write us | mla_absorb_q us | sequence us | fused rope_absorb_q us | "
                 "saved us | fused |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  printf("rope_absorb_q, H=%d, context %d (positions %d), w_kc sets %d x %.1f MB\n", DV_H, CTX, CTX - 1, nw, wbytes / 1e6);
  printf("%-3s %7s %8s %9s %9s %9s %9s %8s %6s\n", "T", "MB", "floor_us", "rope_us", "absorb_us", "seq_us", "fused_us",
         "saved", "fused");
  const int Ts[] = {1, 8};
  for (int ti = 0; ti < 2; ti++) {
    const int T = Ts[ti];
    dv_batch(&x, T, CTX);
    /* weights + q + ql + the kva rows read + the cache rows written */
    const double bytes = 2.0 * DV_H * DN * R + 2.0 * T * DV_H * (DN + DR) + 2.0 * T * DV_H * DV_W + 2.0 * 2 * T * DV_W;
    const double floor_us = bytes / bw * 1e6;
    const double tr = ra_time(&y, 0, e0, e1), ta = ra_time(&y, 1, e0, e1), tseq = ra_time(&y, 2, e0, e1);
    const long before = lt_cuda_rope_absorb_q_fused;
    const double tf = ra_time(&y, 3, e0, e1);
    const int fuses = lt_cuda_rope_absorb_q_fused != before;
    printf("%-3d %7.2f %8.2f %9.2f %9.2f %9.2f %9.2f %8.2f %6s\n", T, bytes / 1e6, floor_us, tr, ta, tseq, tf, tseq - tf,
           fuses ? "yes" : "no");
    to += snprintf(table + to, cap - to, "| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n", T, bytes / 1e6,
                   floor_us, tr, ta, tseq, tf, tseq - tf, fuses ? "yes" : "no");
  }
  printf("\n");
  CK(cudaFree(wbuf));
  CK(cudaFree(y.rope.cos)); CK(cudaFree(y.rope.sin)); CK(cudaFree(y.cnorm));
  CK(cudaFree(y.q)); CK(cudaFree(y.kva)); CK(cudaFree(y.ql)); CK(cudaFree(y.cache));
}

int main(void) {
  lt_backend *b = NULL;
  LT(lt_cuda_backend_create(0, &b));
  lt_cuda_ctx *c = (lt_cuda_ctx *)b->ctx;
  cudaStream_t st = c->stream;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, c->device));
  printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  const int default_rows = lt_cuda_mla_absorb_max_rows;

  /* ---- floor: device-to-device copy of 2 GiB (read + write counted) ---- */
  const double bw = lt_bench_copy_bw(st, (size_t)2 << 30, 5);
  printf("copy bandwidth %.0f GB/s (2 GB D2D, read+write); default lt_cuda_mla_absorb_max_rows = %d (-1: automatic)\n", bw / 1e9,
         default_rows);
  printf("per call: median of %d replays of a graph of %d calls, weights rotating over >= 128 MB\n\n", REPS, CALLS);

  const int Hs[] = {16, 128}, Rows[] = {1, 4, 8, 16, 32};
  char table[16384];
  int to = 0;
  to += snprintf(table + to, sizeof table - to,
                 "| H | rows | op | MB | floor us | cuBLAS us | streaming us | speedup | streaming %% of floor | default us |\n");
  to += snprintf(table + to, sizeof table - to, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  unsigned *sink;
  CK(cudaMalloc(&sink, 1 << 20));
  for (int hi = 0; hi < 2; hi++) {
    const int H = Hs[hi];
    const size_t wel = (size_t)H * DN * R;  /* elements of w_kc (= w_vc) */
    const size_t set_bytes = 2 * wel * 2;
    const int nsets = (int)((((size_t)256 << 20) + set_bytes - 1) / set_bytes);
    bench_ctx x;
    x.b = b;
    void *wbuf;
    CK(cudaMalloc(&wbuf, set_bytes * nsets));
    fill(wbuf, 2 * wel * nsets, 0.05f, 11 + H);
    for (int s = 0; s < nsets; s++) {
      lt_mla_w w;
      memset(&w, 0, sizeof w);
      w.heads = H; w.dn = DN; w.dv = DV; w.r = R;
      w.w_kc = (char *)wbuf + set_bytes * s;
      w.w_vc = (char *)w.w_kc + wel * 2;
      x.sets.push_back(w);
    }
    CK(cudaMalloc(&x.q, (size_t)MAXROWS * H * (DN + DR) * 2));
    CK(cudaMalloc(&x.ql, (size_t)MAXROWS * H * (R + DR) * 2));
    CK(cudaMalloc(&x.ol, (size_t)MAXROWS * H * R * 2));
    CK(cudaMalloc(&x.out, (size_t)MAXROWS * H * DV * 2));
    fill(x.q, (size_t)MAXROWS * H * (DN + DR), 1.f, 3);
    fill(x.ol, (size_t)MAXROWS * H * R, 1.f, 4);
    printf("H=%d: %d weight sets of %.1f MB\n", H, nsets, set_bytes / 1e6);
    {
      double te = time_ref(b, 0, wbuf, set_bytes / 2, 2 * nsets, sink, e0, e1);
      double ts = time_ref(b, 1, wbuf, set_bytes / 2, 2 * nsets, sink, e0, e1);
      printf("references: empty kernel (no PDL) %.2f us/launch; pure 16-byte read (no PDL) of %.2f MB %.2f us (%.0f%% of copy bw)\n",
             te, set_bytes / 2 / 1e6, ts, 100.0 * (set_bytes / 2) / (ts * 1e-6) / bw);
      to += snprintf(table + to, sizeof table - to,
                     "| %d | — | references (no PDL): empty kernel / pure read of one weight | %.2f | %.2f | — | %.2f / %.2f | — | %.0f%% | — |\n",
                     H, set_bytes / 2 / 1e6, (set_bytes / 2) / bw * 1e6, te, ts, 100.0 * (set_bytes / 2) / bw * 1e6 / ts);
    }
    printf("%-4s %-5s %-9s %8s %9s %10s %8s %8s %8s %8s %10s\n", "H", "rows", "op", "MB", "floor_us", "cublas_us",
           "strm_us", "speedup", "%floor", "cublas%", "default_us");
    for (int ri = 0; ri < 5; ri++)
      for (int op = 0; op < 2; op++) {
        const int T = Rows[ri];
        double bytes = op == 0 ? 2.0 * H * DN * R + 2.0 * T * H * (DN + DR) + 2.0 * T * H * (R + DR)
                               : 2.0 * H * DV * R + 2.0 * T * H * R + 2.0 * T * H * DV;
        double floor_us = bytes / bw * 1e6;
        double tc = time_op(&x, op, T, 0, e0, e1);
        double ts = time_op(&x, op, T, MAXROWS, e0, e1);
        double td = time_op(&x, op, T, -1, e0, e1);  /* the automatic bound */
        const char *name = op == 0 ? "absorb_q" : "out_v";
        printf("%-4d %-5d %-9s %8.2f %9.2f %10.2f %8.2f %7.2fx %7.1f%% %7.1f%% %10.2f\n", H, T, name, bytes / 1e6, floor_us,
               tc, ts, tc / ts, 100.0 * floor_us / ts, 100.0 * floor_us / tc, td);
        to += snprintf(table + to, sizeof table - to, "| %d | %d | %s | %.2f | %.2f | %.2f | %.2f | %.2fx | %.0f%% | %.2f |\n",
                       H, T, name, bytes / 1e6, floor_us, tc, ts, tc / ts, 100.0 * floor_us / ts, td);
      }
    printf("\n");
    CK(cudaFree(wbuf));
    CK(cudaFree(x.q)); CK(cudaFree(x.ql)); CK(cudaFree(x.ol)); CK(cudaFree(x.out));
  }
  lt_cuda_mla_absorb_max_rows = default_rows;
  bench_decode_v(b, bw, prop.multiProcessorCount, e0, e1, table, sizeof table);
  bench_rope_absorb(b, bw, e0, e1, table, sizeof table);
  CK(cudaFree(sink));
  printf("summary (%s, copy bandwidth %.0f GB/s):\n%s", prop.name, bw / 1e9, table);
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  b->destroy(b);
  return 0;
}
