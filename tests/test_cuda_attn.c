/* test_cuda_attn.c — the CUDA attention ops (mla_decode, mla_absorb_q, mla_out_v, mla_decode_v, rope_absorb_q,
 * attn_extend, and mla_new from bf16 and fp8 kv_b_proj) against their CPU twins on real DeepSeek shapes and
 * the tiny fixture dims: paged caches (page 1 and 64), mixed decode / chunked-prefill batches. ‖Δ‖/‖ref‖ ≤
 * 1e-2; the fused mla_decode_v and rope_absorb_q also bitwise against the CUDA ops they fuse, in sequence. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "io/safetensors.h"
#include "testutil.h"

#ifdef LATTE_HAVE_CUDA
latte_status lt_cuda_f32_to_act(lt_backend *b, const float *host, void *dev, size_t n);
latte_status lt_cuda_act_to_f32(lt_backend *b, const void *dev, float *host, size_t n);
/* tuning hooks of cuda_mla.cu / cuda_attn.cu: force a tile configuration (0 = automatic) */
void lt_cuda_mla_decode_variant(int v);
void lt_cuda_attn_extend_variant(int v);
/* cuda_mla_absorb.cu: rows at or below this take the streaming absorb_q / out_v kernels (-1 automatic: rows·H
 * ≤ 2048 for absorb_q, ≤ 512 for out_v, rows ≤ 32; 0 = always cuBLAS; n = rows ≤ min(n, 32)) */
extern int lt_cuda_mla_absorb_max_rows;
/* cuda_mla_absorb.cu: the number of rope_absorb_q calls that took the fused (one-launch) kernel */
extern long lt_cuda_rope_absorb_q_fused;
/* cuda_mla.cu: out_v's weight loads ahead of the PDL wait (0 none, 1 L2 prefetch, 2 registers: default), and
 * the number of mla_decode_v calls that took the fused combine + out_v kernel */
extern int lt_cuda_mla_out_v_prefetch;
extern long lt_cuda_mla_decode_v_fused;
/* cuda_mla.cu: mla_decode_v fuses while the split partials are at most this many bytes (0 = never) */
extern long lt_cuda_mla_fuse_max_part;
/* the path the op takes (for the printout only; mirrors cuda_mla.cu's rule, real dims) */
static const char *absorb_path(int H, int rows, int op) {
  int n = lt_cuda_mla_absorb_max_rows;
  if (n < 0) n = (op ? 512 : 2048) / H;
  if (n > 32) n = 32;
  return rows <= n ? "small" : "cuBLAS";
}

static const double TOL = 1e-2;
static unsigned long long seed = 0x5eed1234ULL;

/* x rounded to bf16 in place: both backends then see the same values */
static void round_bf16(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = lt_bf16_to_f32(lt_f32_to_bf16(x[i]));
}
static float *rand_bf16(size_t n, float a) {
  float *x = malloc(sizeof(float) * (n ? n : 1));
  lt_rand_fill(x, (long)n, a, &seed);
  round_bf16(x, n);
  return x;
}

/* device bf16 copy of host f32 values */
static void *to_dev(lt_backend *g, const float *x, size_t n) {
  void *d = NULL;
  if (g->alloc(g, sizeof(uint16_t) * (n ? n : 1), &d)) return NULL;
  if (lt_cuda_f32_to_act(g, x, d, n)) return NULL;
  return d;
}
/* 0xFF bytes: NaN in bf16, so an unwritten output element fails the comparison */
static int poison(lt_backend *g, void *d, size_t bytes) {
  unsigned char *h = malloc(bytes ? bytes : 1);
  memset(h, 0xFF, bytes);
  int s = g->upload(g, d, h, bytes);
  free(h);
  return s;
}

/* A batch: nseq sequences of (q_len, seq_len), paged with page size ps over a shuffled page pool. */
typedef struct {
  lt_fwd f;
  int32_t *qo, *sl, *kvp, *kvi, *pos, *slots, *kvt, *ids;
  int num_pages;
} batch;

static void batch_make(batch *bt, int nseq, const int *qlen, const int *slen, int ps) {
  memset(bt, 0, sizeof *bt);
  bt->qo = calloc(nseq + 1, 4); bt->sl = calloc(nseq, 4); bt->kvp = calloc(nseq + 1, 4); bt->kvt = calloc(nseq + 1, 4);
  int T = 0, np = 0, maxq = 0, maxs = 0;
  for (int s = 0; s < nseq; s++) {
    bt->qo[s + 1] = bt->qo[s] + qlen[s];
    bt->sl[s] = slen[s];
    np += (slen[s] + ps - 1) / ps;
    bt->kvp[s + 1] = np;
    bt->kvt[s + 1] = bt->kvt[s] + slen[s];
    if (qlen[s] > maxq) maxq = qlen[s];
    if (slen[s] > maxs) maxs = slen[s];
  }
  T = bt->qo[nseq];
  int pool = np + 3;  /* a few pages nobody uses */
  int *perm = malloc(sizeof(int) * pool);
  for (int i = 0; i < pool; i++) perm[i] = i;
  for (int i = pool - 1; i > 0; i--) {
    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
    int j = (int)(seed % (unsigned long long)(i + 1)), t = perm[i];
    perm[i] = perm[j]; perm[j] = t;
  }
  bt->kvi = malloc(sizeof(int32_t) * (np + 1));
  for (int i = 0; i < np; i++) bt->kvi[i] = perm[i];
  free(perm);
  bt->num_pages = pool;
  bt->pos = calloc(T + 1, 4); bt->slots = calloc(T + 1, 4); bt->ids = calloc(T + 1, 4);
  for (int s = 0; s < nseq; s++)
    for (int i = 0; i < qlen[s]; i++) {
      int t = bt->qo[s] + i, j = slen[s] - qlen[s] + i;
      bt->pos[t] = j;
      bt->slots[t] = bt->kvi[bt->kvp[s] + j / ps] * ps + j % ps;
    }
  lt_fwd *f = &bt->f;
  f->num_seqs = nseq; f->num_tokens = T; f->n_logits = 0; f->page_size = ps;
  f->max_q_len = maxq; f->max_seq_len = maxs; f->num_kv = bt->kvt[nseq];
  f->h_qo_indptr = bt->qo; f->h_seq_lens = bt->sl; f->h_kv_indptr = bt->kvp; f->h_kv_indices = bt->kvi;
  f->h_positions = bt->pos; f->h_out_slots = bt->slots; f->h_kv_tok_indptr = bt->kvt;
}
static void batch_free(batch *bt) {
  free(bt->qo); free(bt->sl); free(bt->kvp); free(bt->kvi); free(bt->pos); free(bt->slots); free(bt->kvt); free(bt->ids);
}

/* mla_decode on both backends; returns the relative error (or INFINITY on an op failure) */
static double run_mla_decode(lt_backend *cpu, lt_backend *g, const char *name, int H, int r, int dr, int ps,
                             int nseq, const int *qlen, const int *slen) {
  batch bt;
  batch_make(&bt, nseq, qlen, slen, ps);
  int T = bt.f.num_tokens, w = r + dr;
  size_t nq = (size_t)T * H * w, nc = (size_t)bt.num_pages * ps * w, no = (size_t)T * H * r;
  float *ql = rand_bf16(nq, 2.0f), *cache = rand_bf16(nc, 1.0f);
  float *ref = malloc(sizeof(float) * no), *got = malloc(sizeof(float) * no);
  float scale = 1.0f / sqrtf(192.0f);
  lt_fwd fc = bt.f, fg = bt.f;
  double err = INFINITY;
  void *dq = to_dev(g, ql, nq), *dc = to_dev(g, cache, nc), *dout = NULL;
  int ok = dq && dc && !g->alloc(g, no * 2, &dout);
  ok = ok && !cpu->set_batch(cpu, &fc, bt.ids, NULL) && !g->set_batch(g, &fg, bt.ids, NULL);
  ok = ok && !cpu->mla_decode(cpu, &fc, ql, cache, ref, H, r, dr, scale);
  ok = ok && !poison(g, dout, no * 2);
  ok = ok && !g->mla_decode(g, &fg, dq, dc, dout, H, r, dr, scale) && !g->sync(g);
  ok = ok && !lt_cuda_act_to_f32(g, dout, got, no);
  if (ok) err = lt_rel_err(got, ref, (long)no);
  printf("mla_decode  %-34s H=%3d r=%d dr=%d page=%2d T=%4d max_ctx=%5d  rel_err %.2e\n", name, H, r, dr, ps, T,
         bt.f.max_seq_len, err);
  if (!ok) fprintf(stderr, "  op failed: %s\n", latte_last_error());
  g->dfree(g, dq); g->dfree(g, dc); g->dfree(g, dout);
  free(ql); free(cache); free(ref); free(got);
  batch_free(&bt);
  return err;
}

static double run_extend(lt_backend *cpu, lt_backend *g, const char *name, int H, int dn, int dr, int dv, int r,
                         int nseq, const int *qlen, const int *slen) {
  batch bt;
  batch_make(&bt, nseq, qlen, slen, 64);
  int T = bt.f.num_tokens;
  int64_t nkv = bt.f.num_kv;
  size_t nq = (size_t)T * H * (dn + dr), nk = (size_t)nkv * H * (dn + dv), nl = (size_t)nkv * (r + dr);
  size_t no = (size_t)T * H * dv;
  float *q = rand_bf16(nq, 2.0f), *kvb = rand_bf16(nk, 1.0f), *lat = rand_bf16(nl, 1.0f);
  float *ref = malloc(sizeof(float) * no), *got = malloc(sizeof(float) * no);
  float scale = 1.0f / sqrtf((float)(dn + dr));
  lt_fwd fc = bt.f, fg = bt.f;
  double err = INFINITY;
  void *dq = to_dev(g, q, nq), *dk = to_dev(g, kvb, nk), *dl = to_dev(g, lat, nl), *dout = NULL;
  int ok = dq && dk && dl && !g->alloc(g, no * 2, &dout);
  ok = ok && !cpu->set_batch(cpu, &fc, bt.ids, NULL) && !g->set_batch(g, &fg, bt.ids, NULL);
  ok = ok && !cpu->attn_extend(cpu, &fc, q, kvb, lat, ref, H, dn, dr, dv, r, scale);
  ok = ok && !poison(g, dout, no * 2);
  ok = ok && !g->attn_extend(g, &fg, dq, dk, dl, dout, H, dn, dr, dv, r, scale) && !g->sync(g);
  ok = ok && !lt_cuda_act_to_f32(g, dout, got, no);
  if (ok) err = lt_rel_err(got, ref, (long)no);
  printf("attn_extend %-34s H=%3d dqk=%d+%d dv=%d T=%4d max_ctx=%5d  rel_err %.2e\n", name, H, dn, dr, dv, T,
         bt.f.max_seq_len, err);
  if (!ok) fprintf(stderr, "  op failed: %s\n", latte_last_error());
  g->dfree(g, dq); g->dfree(g, dk); g->dfree(g, dl); g->dfree(g, dout);
  free(q); free(kvb); free(lat); free(ref); free(got);
  batch_free(&bt);
  return err;
}

/* kv_b_proj [H(dn+dv), r] as bf16, or as e4m3 + f32 128×128 scales (fp8 = 1) */
static void make_kvb(lt_st_tensor *t, lt_st_tensor *sc, int H, int dn, int dv, int r, int fp8) {
  int64_t n = (int64_t)H * (dn + dv), k = r, sn = (n + 127) / 128, sk = (k + 127) / 128;
  memset(t, 0, sizeof *t);
  memset(sc, 0, sizeof *sc);
  t->name = "kv_b_proj.weight"; t->ndim = 2; t->shape[0] = n; t->shape[1] = k; t->numel = n * k;
  float *f = malloc(sizeof(float) * (size_t)(n * k));
  lt_rand_fill(f, (long)(n * k), fp8 ? 400.0f : 0.05f, &seed);
  if (!fp8) {
    uint16_t *h = malloc(2 * (size_t)(n * k));
    for (int64_t i = 0; i < n * k; i++) h[i] = lt_f32_to_bf16(f[i]);
    t->dtype = LT_BF16; t->data = h; t->nbytes = 2 * (size_t)(n * k);
  } else {
    uint8_t *h = malloc((size_t)(n * k));
    for (int64_t i = 0; i < n * k; i++) h[i] = lt_f32_to_fp8e4m3(f[i]);
    float *s = malloc(sizeof(float) * (size_t)(sn * sk));
    lt_rand_fill(s, (long)(sn * sk), 1e-4f, &seed);
    for (int64_t i = 0; i < sn * sk; i++) s[i] = fabsf(s[i]) + 5e-5f;
    t->dtype = LT_F8E4M3; t->data = h; t->nbytes = (size_t)(n * k);
    sc->name = "kv_b_proj.weight_scale_inv"; sc->dtype = LT_F32; sc->ndim = 2; sc->shape[0] = sn; sc->shape[1] = sk;
    sc->numel = sn * sk; sc->data = s; sc->nbytes = sizeof(float) * (size_t)(sn * sk);
  }
  free(f);
}

/* mla_new + absorb_q + out_v on both backends, rows tokens */
static void run_absorb(lt_backend *cpu, lt_backend *g, const char *name, int H, int dn, int dr, int dv, int r,
                       int rows, int fp8) {
  lt_st_tensor t, sc;
  make_kvb(&t, &sc, H, dn, dv, r, fp8);
  lt_weight wc, wg;
  lt_mla_w mc, mg;
  memset(&mc, 0, sizeof mc); memset(&mg, 0, sizeof mg);
  int ok = !cpu->weight_new(cpu, &t, fp8 ? &sc : NULL, &wc) && !g->weight_new(g, &t, fp8 ? &sc : NULL, &wg);
  ok = ok && !cpu->mla_new(cpu, &wc, H, dn, dv, r, &mc) && !g->mla_new(g, &wg, H, dn, dv, r, &mg);
  size_t nq = (size_t)rows * H * (dn + dr), nql = (size_t)rows * H * (r + dr), nol = (size_t)rows * H * r;
  size_t no = (size_t)rows * H * dv;
  float *q = rand_bf16(nq, 1.0f), *ol = rand_bf16(nol, 1.0f);
  float *ref = malloc(sizeof(float) * nql), *got = malloc(sizeof(float) * nql);
  float *ref2 = malloc(sizeof(float) * no), *got2 = malloc(sizeof(float) * no);
  void *dq = to_dev(g, q, nq), *dol = to_dev(g, ol, nol), *dql = NULL, *dout = NULL;
  ok = ok && dq && dol && !g->alloc(g, nql * 2, &dql) && !g->alloc(g, no * 2, &dout);
  double e1 = INFINITY, e2 = INFINITY;
  float *again = malloc(sizeof(float) * (nql > no ? nql : no));
  int same1 = 0, same2 = 0;  /* a second run (output poisoned again) gives the same bits */
  if (ok && !cpu->mla_absorb_q(cpu, q, &mc, dr, ref, rows) && !poison(g, dql, nql * 2) &&
      !g->mla_absorb_q(g, dq, &mg, dr, dql, rows) && !g->sync(g) && !lt_cuda_act_to_f32(g, dql, got, nql))
    e1 = lt_rel_err(got, ref, (long)nql);
  if (e1 != INFINITY && !poison(g, dql, nql * 2) && !g->mla_absorb_q(g, dq, &mg, dr, dql, rows) && !g->sync(g) &&
      !lt_cuda_act_to_f32(g, dql, again, nql))
    same1 = !memcmp(again, got, sizeof(float) * nql);
  if (ok && !cpu->mla_out_v(cpu, ol, &mc, ref2, rows) && !poison(g, dout, no * 2) &&
      !g->mla_out_v(g, dol, &mg, dout, rows) && !g->sync(g) && !lt_cuda_act_to_f32(g, dout, got2, no))
    e2 = lt_rel_err(got2, ref2, (long)no);
  if (e2 != INFINITY && !poison(g, dout, no * 2) && !g->mla_out_v(g, dol, &mg, dout, rows) && !g->sync(g) &&
      !lt_cuda_act_to_f32(g, dout, again, no))
    same2 = !memcmp(again, got2, sizeof(float) * no);
  if (e1 == INFINITY || e2 == INFINITY) fprintf(stderr, "  op failed: %s\n", latte_last_error());
  printf("mla_absorb_q %-33s H=%3d dn=%d dr=%d r=%d rows=%2d%s (%s)  rel_err %.2e%s\n", name, H, dn, dr, r, rows,
         fp8 ? " fp8" : "", absorb_path(H, rows, 0), e1, same1 ? "" : "  NOT DETERMINISTIC");
  printf("mla_out_v    %-33s H=%3d dv=%d r=%d rows=%2d%s (%s)  rel_err %.2e%s\n", name, H, dv, r, rows,
         fp8 ? " fp8" : "", absorb_path(H, rows, 1), e2, same2 ? "" : "  NOT DETERMINISTIC");
  CHECK(e1 <= TOL, "absorb_q %s rows %d: rel err %.3e", name, rows, e1);
  CHECK(e2 <= TOL, "out_v %s rows %d: rel err %.3e", name, rows, e2);
  CHECK(same1 && same2, "absorb_q / out_v %s rows %d: second run differs", name, rows);
  free(again);
  if (mc.w_kc) cpu->mla_free(cpu, &mc);
  if (mg.w_kc) g->mla_free(g, &mg);
  cpu->weight_free(cpu, &wc);
  g->weight_free(g, &wg);
  g->dfree(g, dq); g->dfree(g, dol); g->dfree(g, dql); g->dfree(g, dout);
  free(q); free(ol); free(ref); free(got); free(ref2); free(got2);
  free((void *)t.data); free((void *)sc.data);
}

/* mla_decode_v on a fresh random batch: CUDA against the CPU's sequence (mla_decode then mla_out_v), and
 * bitwise against CUDA mla_decode followed by CUDA mla_out_v on the same inputs, and the same bits under
 * each out_v prefetch mode. expect_fused: whether the CUDA op must take the fused kernel (a split decode
 * and out_v's streaming kernel) or the plain sequence. Outputs and out_lat are poisoned before each run. */
static void run_decode_v(lt_backend *cpu, lt_backend *g, const char *name, int H, int dn, int dv, int r, int dr,
                         int ps, int nseq, const int *qlen, const int *slen, int expect_fused) {
  batch bt;
  batch_make(&bt, nseq, qlen, slen, ps);
  const int T = bt.f.num_tokens, w = r + dr;
  lt_st_tensor t, sc;
  make_kvb(&t, &sc, H, dn, dv, r, 0);
  lt_weight wc, wg;
  lt_mla_w mc, mg;
  memset(&mc, 0, sizeof mc); memset(&mg, 0, sizeof mg);
  int ok = !cpu->weight_new(cpu, &t, NULL, &wc) && !g->weight_new(g, &t, NULL, &wg);
  ok = ok && !cpu->mla_new(cpu, &wc, H, dn, dv, r, &mc) && !g->mla_new(g, &wg, H, dn, dv, r, &mg);
  size_t nq = (size_t)T * H * w, nc = (size_t)bt.num_pages * ps * w, nol = (size_t)T * H * r, no = (size_t)T * H * dv;
  float *ql = rand_bf16(nq, 2.0f), *cache = rand_bf16(nc, 1.0f);
  float *olc = malloc(sizeof(float) * nol), *ref = malloc(sizeof(float) * no);
  float *got = malloc(sizeof(float) * no), *seqv = malloc(sizeof(float) * no), *again = malloc(sizeof(float) * no);
  const float scale = 1.0f / sqrtf((float)(dn + dr));
  lt_fwd fc = bt.f, fg = bt.f;
  void *dq = to_dev(g, ql, nq), *dc = to_dev(g, cache, nc), *dol = NULL, *dout = NULL;
  ok = ok && dq && dc && !g->alloc(g, nol * 2, &dol) && !g->alloc(g, no * 2, &dout);
  ok = ok && !cpu->set_batch(cpu, &fc, bt.ids, NULL) && !g->set_batch(g, &fg, bt.ids, NULL);
  ok = ok && !cpu->mla_decode_v(cpu, &fc, ql, cache, olc, &mc, ref, H, r, dr, scale);
  double err = INFINITY;
  long fused = -1;
  int same_seq = 0, same_modes = 1;
  if (ok) {  /* the fused op */
    long before = lt_cuda_mla_decode_v_fused;
    ok = !poison(g, dol, nol * 2) && !poison(g, dout, no * 2) &&
         !g->mla_decode_v(g, &fg, dq, dc, dol, &mg, dout, H, r, dr, scale) && !g->sync(g) &&
         !lt_cuda_act_to_f32(g, dout, got, no);
    fused = lt_cuda_mla_decode_v_fused - before;
    if (ok) err = lt_rel_err(got, ref, (long)no);
  }
  if (ok) {  /* the two ops one after the other */
    ok = !poison(g, dol, nol * 2) && !poison(g, dout, no * 2) &&
         !g->mla_decode(g, &fg, dq, dc, dol, H, r, dr, scale) && !g->mla_out_v(g, dol, &mg, dout, T) && !g->sync(g) &&
         !lt_cuda_act_to_f32(g, dout, seqv, no);
    same_seq = ok && !memcmp(got, seqv, sizeof(float) * no);
  }
  const int keep = lt_cuda_mla_out_v_prefetch;
  for (int m = 0; m <= 2 && ok; m++) {  /* each weight-prefetch mode, run again: the same bits */
    lt_cuda_mla_out_v_prefetch = m;
    ok = !poison(g, dol, nol * 2) && !poison(g, dout, no * 2) &&
         !g->mla_decode_v(g, &fg, dq, dc, dol, &mg, dout, H, r, dr, scale) && !g->sync(g) &&
         !lt_cuda_act_to_f32(g, dout, again, no);
    same_modes = same_modes && ok && !memcmp(again, got, sizeof(float) * no);
  }
  lt_cuda_mla_out_v_prefetch = keep;
  if (!ok) fprintf(stderr, "  op failed: %s\n", latte_last_error());
  printf("mla_decode_v %-33s H=%3d r=%d dv=%d page=%2d T=%3d max_ctx=%5d (%s)  rel_err %.2e%s%s\n", name, H, r, dv, ps,
         T, bt.f.max_seq_len, fused > 0 ? "fused" : "sequence", err, same_seq ? "" : "  DIFFERS FROM decode+out_v",
         same_modes ? "" : "  DIFFERS ACROSS RUNS");
  CHECK(err <= TOL, "mla_decode_v %s H=%d page=%d: rel err %.3e", name, H, ps, err);
  CHECK(same_seq, "mla_decode_v %s H=%d page=%d: not bitwise mla_decode + mla_out_v", name, H, ps);
  CHECK(same_modes, "mla_decode_v %s H=%d page=%d: bits differ between runs / prefetch modes", name, H, ps);
  CHECK((fused > 0) == (expect_fused != 0), "mla_decode_v %s H=%d page=%d: fused kernel %s", name, H, ps,
        expect_fused ? "expected, not taken" : "taken, not expected");
  if (mc.w_kc) cpu->mla_free(cpu, &mc);
  if (mg.w_kc) g->mla_free(g, &mg);
  cpu->weight_free(cpu, &wc);
  g->weight_free(g, &wg);
  g->dfree(g, dq); g->dfree(g, dc); g->dfree(g, dol); g->dfree(g, dout);
  free(ql); free(cache); free(olc); free(ref); free(got); free(seqv); free(again);
  free((void *)t.data);
  batch_free(&bt);
}

/* rope_absorb_q on a fresh random batch (positions up to slen − 1; c = kva[:, :r] normalised with weights
 * c_norm unless no_norm, k_pe = kva[:, r:]): CUDA against the CPU's sequence (rope_cache_write then
 * mla_absorb_q) — ql and the cache rows written, ‖Δ‖/‖ref‖ ≤ 1e-2, every other cache row untouched — and
 * bitwise (ql and the whole cache) against CUDA rope_cache_write followed by CUDA mla_absorb_q on the same
 * inputs; when fused, q must come back unwritten (the fused kernel leaves it unrotated). expect_fused:
 * whether the op must take the one-launch kernel (T ≤ absorb_q's streaming bound) or the sequence. ql and
 * the cache are poisoned before each run, q uploaded afresh. */
static void run_rope_absorb(lt_backend *cpu, lt_backend *g, const char *name, int H, int dn, int dr, int r, int ps,
                            int nseq, const int *qlen, const int *slen, int no_norm, int expect_fused) {
  enum { MAX_POS = 8192 };
  batch bt;
  batch_make(&bt, nseq, qlen, slen, ps);
  const int T = bt.f.num_tokens, w = r + dr, half = dr / 2, dv = 128;
  const float eps = 1e-6f;
  lt_st_tensor t, sc;
  make_kvb(&t, &sc, H, dn, dv, r, 0);
  lt_weight wc, wg;
  lt_mla_w mc, mg;
  memset(&mc, 0, sizeof mc); memset(&mg, 0, sizeof mg);
  int ok = !cpu->weight_new(cpu, &t, NULL, &wc) && !g->weight_new(g, &t, NULL, &wg);
  ok = ok && !cpu->mla_new(cpu, &wc, H, dn, dv, r, &mc) && !g->mla_new(g, &wg, H, dn, dv, r, &mg);
  /* RoPE table cos / sin [MAX_POS, dr/2], YaRN-like mscale 1.1 */
  float *cs = malloc(sizeof(float) * MAX_POS * half), *sn = malloc(sizeof(float) * MAX_POS * half);
  for (int p = 0; p < MAX_POS; p++)
    for (int i = 0; i < half; i++) {
      const double a = pow(10000.0, -2.0 * i / dr) * p;
      cs[p * half + i] = (float)(cos(a) * 1.1);
      sn[p * half + i] = (float)(sin(a) * 1.1);
    }
  lt_rope rc = {MAX_POS, dr, cs, sn}, rg = {MAX_POS, dr, NULL, NULL};
  ok = ok && !g->alloc(g, sizeof(float) * MAX_POS * half, (void **)&rg.cos) &&
       !g->alloc(g, sizeof(float) * MAX_POS * half, (void **)&rg.sin) &&
       !g->upload(g, rg.cos, cs, sizeof(float) * MAX_POS * half) && !g->upload(g, rg.sin, sn, sizeof(float) * MAX_POS * half);
  const size_t nq = (size_t)T * H * (dn + dr), nkva = (size_t)T * w, nql = (size_t)T * H * w;
  const size_t nc = (size_t)bt.num_pages * ps * w;
  float *q = rand_bf16(nq, 2.0f), *kva = rand_bf16(nkva, 1.5f), *nw = rand_bf16((size_t)r, 1.0f);
  float *cache = rand_bf16(nc, 1.0f), *qc = malloc(sizeof(float) * nq);
  memcpy(qc, q, sizeof(float) * nq);  /* the CPU op rotates its q in place */
  float *ref = malloc(sizeof(float) * nql), *got = malloc(sizeof(float) * nql), *gc = malloc(sizeof(float) * nc);
  float *refrow = malloc(sizeof(float) * (size_t)T * w), *gotrow = malloc(sizeof(float) * (size_t)T * w);
  unsigned char *written = calloc((size_t)bt.num_pages * ps, 1);
  for (int i = 0; i < T; i++) written[bt.slots[i]] = 1;
  const size_t bq = nq * 2, bql = nql * 2, bc = nc * 2;
  unsigned char *hq0 = malloc(bq), *hq = malloc(bq), *fql = malloc(bql), *fc = malloc(bc), *sql = malloc(bql),
                *scache = malloc(bc);
  void *dq = to_dev(g, q, nq), *dkva = to_dev(g, kva, nkva), *dql = NULL, *dcache = NULL, *dnw = NULL;
  ok = ok && dq && dkva && !g->alloc(g, bql, &dql) && !g->alloc(g, bc, &dcache) && !g->alloc(g, sizeof(float) * r, &dnw);
  ok = ok && !g->upload(g, dnw, nw, sizeof(float) * r) && !g->download(g, hq0, dq, bq);
  lt_fwd fcpu = bt.f, fg = bt.f;
  ok = ok && !cpu->set_batch(cpu, &fcpu, bt.ids, NULL) && !g->set_batch(g, &fg, bt.ids, NULL);
  const float *cn = no_norm ? NULL : nw;
  const float *dcn = no_norm ? NULL : (const float *)dnw;
  ok = ok && !cpu->rope_absorb_q(cpu, &fcpu, &rc, qc, H, dn, dr, kva, w, cn, eps, kva + r, w, r, cache, &mc, ref);
  double e_ql = INFINITY, e_rows = INFINITY;
  long fused = -1;
  int untouched = 1, same_seq = 0, q_kept = 1;
  if (ok) {  /* the fused op */
    const long before = lt_cuda_rope_absorb_q_fused;
    ok = !poison(g, dql, bql) && !poison(g, dcache, bc) &&
         !g->rope_absorb_q(g, &fg, &rg, dq, H, dn, dr, dkva, w, dcn, eps, (uint16_t *)dkva + r, w, r, dcache, &mg, dql) &&
         !g->sync(g) && !lt_cuda_act_to_f32(g, dql, got, nql) && !lt_cuda_act_to_f32(g, dcache, gc, nc) &&
         !g->download(g, fql, dql, bql) && !g->download(g, fc, dcache, bc) && !g->download(g, hq, dq, bq);
    fused = lt_cuda_rope_absorb_q_fused - before;
    if (fused > 0) q_kept = ok && !memcmp(hq, hq0, bq);
  }
  if (ok) {
    e_ql = lt_rel_err(got, ref, (long)nql);
    for (int i = 0; i < T; i++) {  /* the rows written: CPU cache vs GPU cache at out_slots[i] */
      memcpy(refrow + (size_t)i * w, cache + (size_t)bt.slots[i] * w, sizeof(float) * w);
      memcpy(gotrow + (size_t)i * w, gc + (size_t)bt.slots[i] * w, sizeof(float) * w);
    }
    e_rows = lt_rel_err(gotrow, refrow, (long)T * w);
    for (size_t s = 0; s < (size_t)bt.num_pages * ps && untouched; s++)
      if (!written[s])
        for (int j = 0; j < w && untouched; j++) untouched = isnan(gc[s * w + j]);  /* still the 0xFF poison */
  }
  if (ok) {  /* CUDA rope_cache_write then CUDA mla_absorb_q, the same inputs (q afresh: the first rotates it) */
    ok = !g->upload(g, dq, hq0, bq) && !poison(g, dql, bql) && !poison(g, dcache, bc) &&
         !g->rope_cache_write(g, &fg, &rg, dq, H, dn, dr, dkva, w, dcn, eps, (uint16_t *)dkva + r, w, r, dcache) &&
         !g->mla_absorb_q(g, dq, &mg, dr, dql, T) && !g->sync(g) && !g->download(g, sql, dql, bql) &&
         !g->download(g, scache, dcache, bc);
    same_seq = ok && !memcmp(fql, sql, bql) && !memcmp(fc, scache, bc);
  }
  if (!ok) fprintf(stderr, "  op failed: %s\n", latte_last_error());
  printf("rope_absorb_q %-32s H=%3d dn=%d dr=%d r=%d page=%2d T=%2d max_pos=%4d%s (%s)  rel_err ql %.2e rows %.2e%s%s%s\n",
         name, H, dn, dr, r, ps, T, bt.f.max_seq_len - 1, no_norm ? " no norm" : "", fused > 0 ? "fused" : "sequence",
         e_ql, e_rows, same_seq ? "" : "  DIFFERS FROM rope_cache_write+mla_absorb_q",
         untouched ? "" : "  OTHER CACHE ROWS WRITTEN", q_kept ? "" : "  q WRITTEN");
  CHECK(e_ql <= TOL, "rope_absorb_q %s page %d T %d: ql rel err %.3e", name, ps, T, e_ql);
  CHECK(e_rows <= TOL, "rope_absorb_q %s page %d T %d: cache rows rel err %.3e", name, ps, T, e_rows);
  CHECK(untouched, "rope_absorb_q %s page %d T %d: cache rows outside out_slots written", name, ps, T);
  CHECK(same_seq, "rope_absorb_q %s page %d T %d: not bitwise rope_cache_write + mla_absorb_q", name, ps, T);
  CHECK(q_kept, "rope_absorb_q %s page %d T %d: the fused kernel wrote q", name, ps, T);
  CHECK((fused > 0) == (expect_fused != 0), "rope_absorb_q %s page %d T %d: fused kernel %s", name, ps, T,
        expect_fused ? "expected, not taken" : "taken, not expected");
  if (mc.w_kc) cpu->mla_free(cpu, &mc);
  if (mg.w_kc) g->mla_free(g, &mg);
  cpu->weight_free(cpu, &wc);
  g->weight_free(g, &wg);
  g->dfree(g, dq); g->dfree(g, dkva); g->dfree(g, dql); g->dfree(g, dcache); g->dfree(g, dnw);
  g->dfree(g, rg.cos); g->dfree(g, rg.sin);
  free(cs); free(sn); free(q); free(kva); free(nw); free(cache); free(qc); free(ref); free(got); free(gc);
  free(refrow); free(gotrow); free(written); free(hq0); free(hq); free(fql); free(fc); free(sql); free(scache);
  free((void *)t.data);
  batch_free(&bt);
}
#endif

int main(int argc, char **argv) {
  int skip = lt_test_skip_without_gpu();
  if (skip) return skip;
  (void)argc; (void)argv;
#ifdef LATTE_HAVE_CUDA
  /* `test_cuda_attn absorb` runs only the absorb_q / out_v cases, `test_cuda_attn decode_v` only the
   * mla_decode_v cases, `test_cuda_attn rope_absorb` only the rope_absorb_q cases, `test_cuda_attn extend` only
   * the attn_extend cases (each short enough for compute-sanitizer) */
  const int only_ra = argc > 1 && !strcmp(argv[1], "rope_absorb"), only_ext = argc > 1 && !strcmp(argv[1], "extend");
  const int only_absorb = argc > 1 && !strcmp(argv[1], "absorb"), only_dv = argc > 1 && !strcmp(argv[1], "decode_v");
  lt_backend *cpu = NULL, *g = NULL, *cpu8 = NULL, *g8 = NULL;
  if (lt_cpu_backend_create(0, 0, &cpu) || lt_cuda_backend_create(0, &g) || lt_cpu_backend_create(1, 0, &cpu8) ||
      lt_cuda_backend_create(1, &g8)) {
    fprintf(stderr, "backend create: %s\n", latte_last_error());
    return 1;
  }
  double e;
  /* ---- absorbed MLA decode: mixed decode (q_len 1) and chunked prefill (q_len > 1 with a prefix) ---- */
  if (!only_absorb && !only_dv && !only_ra && !only_ext) {
    int ql[] = {1, 1, 1, 1, 7, 33, 1, 1};
    int sl[] = {1, 37, 1500, 4097, 300, 33, 64, 65};
    int ps_list[] = {64, 1};
    int h_list[] = {16, 128};
    /* every tile configuration of the fast path: 3, 4 (16-head blocks) at H = 16; at H = 128 also 1 (wgmma,
     * warp-specialised), 2, 5 (mma.sync) and 6 (wgmma, every warp the same job) — the 64-head blocks */
    const int vl16[] = {3, 4, 0}, vl128[] = {1, 2, 4, 5, 6, 0};
    for (int hi = 0; hi < 2; hi++)
      for (int pi = 0; pi < 2; pi++)
        for (const int *vp = hi == 0 ? vl16 : vl128; *vp; vp++) {
          const int v = *vp;
          char name[64];
          snprintf(name, sizeof name, "mixed decode+prefill, tiles %d", v);
          lt_cuda_mla_decode_variant(v);
          e = run_mla_decode(cpu, g, name, h_list[hi], 512, 64, ps_list[pi], 8, ql, sl);
          CHECK(e <= TOL, "mla_decode H=%d page=%d tiles %d: rel err %.3e", h_list[hi], ps_list[pi], v, e);
        }
    lt_cuda_mla_decode_variant(0);
    int ql2[] = {1, 1, 1, 1};
    int sl2[] = {1200, 1, 2000, 129};
    e = run_mla_decode(cpu, g, "decode only, page 64", 128, 512, 64, 64, 4, ql2, sl2);
    CHECK(e <= TOL, "mla_decode decode-only: rel err %.3e", e);
    int ql3[] = {1};
    int sl3[] = {9000};
    e = run_mla_decode(cpu, g, "one long sequence (many splits)", 16, 512, 64, 64, 1, ql3, sl3);
    CHECK(e <= TOL, "mla_decode long: rel err %.3e", e);
    e = run_mla_decode(cpu, g, "one long sequence (many splits)", 128, 512, 64, 64, 1, ql3, sl3);
    CHECK(e <= TOL, "mla_decode long H=128: rel err %.3e", e);
    e = run_mla_decode(cpu, g, "page 37 (odd page size)", 16, 512, 64, 37, 8, ql, sl);
    CHECK(e <= TOL, "mla_decode page 37: rel err %.3e", e);
    int ql4[] = {1, 3, 1, 5};
    int sl4[] = {1, 20, 300, 5};
    e = run_mla_decode(cpu, g, "tiny fixture dims (generic)", 4, 128, 32, 16, 4, ql4, sl4);
    CHECK(e <= TOL, "mla_decode tiny: rel err %.3e", e);
    e = run_mla_decode(cpu, g, "tiny fixture dims page 1", 4, 128, 32, 1, 4, ql4, sl4);
    CHECK(e <= TOL, "mla_decode tiny page 1: rel err %.3e", e);
    e = run_mla_decode(cpu, g, "H=32 (16-head blocks)", 32, 512, 64, 64, 4, ql4, sl4);
    CHECK(e <= TOL, "mla_decode H=32: rel err %.3e", e);
  }
  /* ---- q absorption and the value projection (V2-Lite 16 heads, V3 128 heads; fp8 kv_b) ---- */
  /* decode sizes on both sides of the automatic bound (streaming kernels at or below it, cuBLAS above: H = 16
   * both ops ≤ 32; H = 128 absorb_q ≤ 16, out_v ≤ 4); rows 5, 17 and 33 fill part of a 16-row tile */
  if (!only_dv && !only_ra && !only_ext) {
    const int rows_list[] = {1, 2, 5, 8, 16, 17, 33, 64};
    for (int i = 0; i < (int)(sizeof rows_list / sizeof rows_list[0]); i++) {
      run_absorb(cpu, g, "V2-Lite", 16, 128, 64, 128, 512, rows_list[i], 0);
      run_absorb(cpu, g, "V3", 128, 128, 64, 128, 512, rows_list[i], 0);
    }
  }
  if (!only_dv && !only_ra && !only_ext) {  /* the streaming kernels forced up to their 32-row limit at H = 128 (automatic: cuBLAS there) */
    const int rows_f[] = {5, 17, 32};
    lt_cuda_mla_absorb_max_rows = 32;
    for (int i = 0; i < 3; i++) run_absorb(cpu, g, "V3, streaming forced", 128, 128, 64, 128, 512, rows_f[i], 0);
    lt_cuda_mla_absorb_max_rows = -1;
  }
  if (!only_dv && !only_ra && !only_ext) {
    run_absorb(cpu, g, "V2-Lite", 16, 128, 64, 128, 512, 37, 0);
    run_absorb(cpu, g, "V3", 128, 128, 64, 128, 512, 70, 0);
    run_absorb(cpu8, g8, "V3 fp8 kv_b (--w8a8)", 128, 128, 64, 128, 512, 9, 1);
    run_absorb(cpu, g, "tiny", 4, 64, 32, 64, 128, 5, 0);
    run_absorb(cpu, g, "tiny", 4, 64, 32, 64, 128, 20, 0);
    /* ragged dims: absorb_q small path (dn 48, r 192); out_v falls back to cuBLAS (dv 40, r 192) */
    run_absorb(cpu, g, "ragged dims (out_v: cuBLAS)", 3, 48, 16, 40, 192, 7, 0);
  }
  if (!only_dv && !only_ra && !only_ext) {  /* the cuBLAS path at decode sizes too (the bench's baseline) */
    int keep = lt_cuda_mla_absorb_max_rows;
    lt_cuda_mla_absorb_max_rows = 0;
    run_absorb(cpu, g, "V2-Lite, cuBLAS forced", 16, 128, 64, 128, 512, 1, 0);
    run_absorb(cpu, g, "V3, cuBLAS forced", 128, 128, 64, 128, 512, 5, 0);
    lt_cuda_mla_absorb_max_rows = keep;
  }
  /* ---- mla_decode_v: the fused combine + out_v kernel where the decode splits, out_v streams (H = 16 at
   * rows ≤ 32, H = 128 at rows ≤ 4) and the partials T × splits × H × r × 4 B are ≤ 2 MiB (T·splits ≤ 64 at
   * H = 16, ≤ 8 at H = 128); the plain sequence elsewhere. Every context here splits into chunks of 64. ---- */
  if (!only_absorb && !only_ra && !only_ext) {
    const int ps_list[] = {64, 1}, h_list[] = {16, 128};
    const int q1[] = {1}, s40[] = {40}, s500[] = {500}, s3000[] = {3000};
    const int q8[] = {1, 1, 1, 1, 1, 1, 1, 1};
    const int s8a[] = {5, 100, 300, 512, 64, 65, 200, 450}, s8b[] = {5, 100, 700, 1500, 2500, 64, 65, 4097};
    const int qm[] = {1, 3, 1, 7, 1};  /* mixed lengths with chunked prefill, T 13 */
    const int sma[] = {1, 100, 256, 50, 129}, smb[] = {1, 300, 2000, 50, 129};
    for (int pi = 0; pi < 2; pi++)
      for (int hi = 0; hi < 2; hi++) {
        const int H = h_list[hi], ps = ps_list[pi], h16 = H == 16;
        run_decode_v(cpu, g, "T=1, one split (ctx 40)", H, 128, 128, 512, 64, ps, 1, q1, s40, 0);
        run_decode_v(cpu, g, "T=1, 8 splits (ctx 500)", H, 128, 128, 512, 64, ps, 1, q1, s500, 1);
        run_decode_v(cpu, g, "T=1, 47 splits (ctx 3000)", H, 128, 128, 512, 64, ps, 1, q1, s3000, h16);
        run_decode_v(cpu, g, "T=8 decode, ctx 5..512", H, 128, 128, 512, 64, ps, 8, q8, s8a, h16);
        run_decode_v(cpu, g, "T=8 decode, ctx 5..4097", H, 128, 128, 512, 64, ps, 8, q8, s8b, 0);
        run_decode_v(cpu, g, "mixed + chunked prefill, ctx<=256", H, 128, 128, 512, 64, ps, 5, qm, sma, h16);
        run_decode_v(cpu, g, "mixed + chunked prefill, ctx<=2000", H, 128, 128, 512, 64, ps, 5, qm, smb, 0);
      }
    const int q4[] = {1, 1, 1, 1}, s4[] = {100, 1, 128, 60};
    run_decode_v(cpu, g, "T=4 (out_v's H=128 bound)", 128, 128, 128, 512, 64, 64, 4, q4, s4, 1);
    int q32[32], s20[32], s32[32];  /* 20 rows: two 16-row tiles, the second partial; 32: both full */
    for (int i = 0; i < 32; i++) { q32[i] = 1; s20[i] = 20 + 9 * i; s32[i] = 1 + 4 * i; }
    run_decode_v(cpu, g, "T=20 decode, ctx 20..191", 16, 128, 128, 512, 64, 64, 20, q32, s20, 1);
    run_decode_v(cpu, g, "T=32 decode, ctx 1..125", 16, 128, 128, 512, 64, 1, 32, q32, s32, 1);
    const int qt[] = {1, 3, 1, 5}, st[] = {1, 20, 300, 5};  /* the generic decode kernel, clusters of 4 */
    run_decode_v(cpu, g, "tiny dims (generic decode)", 4, 64, 64, 128, 32, 16, 4, qt, st, 1);
    run_decode_v(cpu, g, "tiny dims page 1", 4, 64, 64, 128, 32, 1, 1, q1, st + 2, 1);
    {  /* fusion forced at any size (the bench's comparison) and switched off: the same bits */
      const long keep = lt_cuda_mla_fuse_max_part;
      lt_cuda_mla_fuse_max_part = 1L << 40;
      run_decode_v(cpu, g, "T=8 ctx 5..4097, fusion forced", 16, 128, 128, 512, 64, 64, 8, q8, s8b, 1);
      lt_cuda_mla_fuse_max_part = 0;
      run_decode_v(cpu, g, "T=1 ctx 500, fusion off", 16, 128, 128, 512, 64, 64, 1, q1, s500, 0);
      lt_cuda_mla_fuse_max_part = keep;
    }
  }
  /* ---- rope_absorb_q: one launch (the RoPE cache write in extra blocks of the streaming absorb_q kernel)
   * while T ≤ absorb_q's streaming bound (32 at H = 16, 16 at H = 128), the sequence above it; decode and
   * chunked-prefill tokens, positions up to 7000 ---- */
  if (!only_absorb && !only_dv && !only_ext) {
    const int q1[] = {1}, s1[] = {7000}, s1b[] = {1};
    const int q5[] = {1, 1, 3}, s5[] = {4097, 1, 300};                  /* T 5 */
    const int q32[] = {1, 20, 1, 10}, s32[] = {7000, 20, 1, 600};      /* T 32 */
    const int q33[] = {1, 20, 2, 10}, s33[] = {7000, 20, 65, 600};     /* T 33: above the bound */
    const int ps_list[] = {1, 64};
    for (int pi = 0; pi < 2; pi++) {
      const int ps = ps_list[pi];
      run_rope_absorb(cpu, g, "V2-Lite T=1 (pos 6999)", 16, 128, 64, 512, ps, 1, q1, s1, 0, 1);
      run_rope_absorb(cpu, g, "V2-Lite T=5 (pos <= 4096)", 16, 128, 64, 512, ps, 3, q5, s5, 0, 1);
      run_rope_absorb(cpu, g, "V2-Lite T=32 (pos <= 6999)", 16, 128, 64, 512, ps, 4, q32, s32, 0, 1);
      run_rope_absorb(cpu, g, "V2-Lite T=33 (above the bound)", 16, 128, 64, 512, ps, 4, q33, s33, 0, 0);
    }
    run_rope_absorb(cpu, g, "V2-Lite T=1 (pos 0)", 16, 128, 64, 512, 64, 1, q1, s1b, 0, 1);
    run_rope_absorb(cpu, g, "V2-Lite T=5, c not normalised", 16, 128, 64, 512, 64, 3, q5, s5, 1, 1);
    if (!only_ra) {
      run_rope_absorb(cpu, g, "V3 T=5", 128, 128, 64, 512, 64, 3, q5, s5, 0, 1);
      run_rope_absorb(cpu, g, "V3 T=32 (above its bound 16)", 128, 128, 64, 512, 64, 4, q32, s32, 0, 0);
      run_rope_absorb(cpu, g, "tiny dims T=5", 4, 64, 32, 128, 16, 3, q5, s5, 0, 1);
    }
  }
  /* ---- extend / prefill MHA: every kernel of the real dims (qk 128+64, v 128) forced in turn — the mma.sync
   * kernel with 64- and 128-row CTAs, the wgmma kernel's synchronous (2) and overlapped (1) schedules — then the
   * automatic choice (the wgmma kernel, overlapped); the tiny and generic dims take the mma.sync / generic
   * kernels ---- */
  if (!only_absorb && !only_dv && !only_ra) {
    int ql[] = {100, 64, 1, 130, 3, 65};
    int sl[] = {100, 200, 50, 1000, 3, 1089};
    int ql2[] = {700};
    int sl2[] = {700};
    /* long prefixes (1167, 2048, 1100), T = 663 (not a multiple of 64 or 128), a 129-token prefill */
    int ql3[] = {333, 1, 200, 129};
    int sl3[] = {1500, 2049, 1300, 129};
    const int vars[] = {64, 128, 2, 1, 0};
    for (int vi = 0; vi < 5; vi++) {
      const int v = vars[vi];
      char name[64];
      lt_cuda_attn_extend_variant(v);
      snprintf(name, sizeof name, "mixed prefill/prefix, kernel %d", v);
      e = run_extend(cpu, g, name, 16, 128, 64, 128, 512, 6, ql, sl);
      CHECK(e <= TOL, "attn_extend real dims kernel %d: rel err %.3e", v, e);
      snprintf(name, sizeof name, "one prefill 700, kernel %d", v);
      e = run_extend(cpu, g, name, 16, 128, 64, 128, 512, 1, ql2, sl2);
      CHECK(e <= TOL, "attn_extend prefill kernel %d: rel err %.3e", v, e);
      snprintf(name, sizeof name, "long prefixes T=663, kernel %d", v);
      e = run_extend(cpu, g, name, 16, 128, 64, 128, 512, 4, ql3, sl3);
      CHECK(e <= TOL, "attn_extend long prefix kernel %d: rel err %.3e", v, e);
      if (v == 64 || v == 128) {
        snprintf(name, sizeof name, "tiny fixture dims, BM %d", v);
        e = run_extend(cpu, g, name, 4, 64, 32, 64, 128, 6, ql, sl);
        CHECK(e <= TOL, "attn_extend tiny BM %d: rel err %.3e", v, e);
      }
    }
    lt_cuda_attn_extend_variant(0);
    e = run_extend(cpu, g, "generic dims 48+16/32", 2, 48, 16, 32, 64, 6, ql, sl);
    CHECK(e <= TOL, "attn_extend generic: rel err %.3e", e);
  }
  cpu->destroy(cpu); g->destroy(g); cpu8->destroy(cpu8); g8->destroy(g8);
  return lt_test_done();
#endif
}
