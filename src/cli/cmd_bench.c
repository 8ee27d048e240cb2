/* cmd_bench.c — `latte bench`: offline throughput on random token ids — prefill tokens/s (prompts
 * in chunks of --step-tokens) and decode tokens/s at each batch size (one token per sequence per
 * forward, absorbed MLA over the paged cache, greedy ids picked on the backend) — plus the bytes of
 * weights a decode step must read (the batch-1 floor). Each batch size first runs the same prefill and
 * decode --warmup times untimed (default 1: first-use costs — kernel loading, scratch growth, CUDA
 * graph capture — stay out of the numbers, as llama-bench and vLLM's benchmarks do).
 * `latte bench serve ...` is the HTTP load generator (cmd_bench_serve.c). */
#include "cli/args.h"
#include "cli/cli.h"
#include "latte.h"
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lt_cmd_bench_serve(int argc, char **argv) __attribute__((weak));

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Bytes of a weight from its shape and dtype (a backend may have moved its data into a stacked form). */
static double wbytes(const lt_weight *w) {
  double b = (double)w->n * w->k * (w->dtype == LT_F8E4M3 ? 1 : w->dtype == LT_F32 ? 4 : 2);
  if (w->dtype == LT_F8E4M3) b += 4.0 * ((w->n + 127) / 128) * ((w->k + 127) / 128);
  return b;
}

/* Bytes of weights one decode token reads: attention, dense / shared MLPs, top-k experts, lm_head. */
static double active_bytes(const latte_model *m) {
  const lt_config *c = &m->cfg;
  double b = wbytes(&m->lm_head) + 2.0 * c->hidden_size;
  for (int l = 0; l < c->num_hidden_layers; l++) {
    const lt_layer *ly = &m->layers[l];
    b += wbytes(&ly->q_a) + wbytes(&ly->q_b) + wbytes(&ly->q_proj) + wbytes(&ly->kv_a) + wbytes(&ly->o_proj);
    b += 2.0 * ly->mla.heads * (ly->mla.dn + ly->mla.dv) * (double)ly->mla.r;  /* w_kc + w_vc (bf16) */
    if (ly->has_mlp) b += wbytes(&ly->mlp.gate) + wbytes(&ly->mlp.up) + wbytes(&ly->mlp.down);
    if (ly->moe) {
      b += wbytes(&ly->gate);
      if (ly->experts.gate && ly->experts.num_experts > 0)
        b += c->num_experts_per_tok * (wbytes(&ly->experts.gate[0]) + wbytes(&ly->experts.up[0]) +
                                       wbytes(&ly->experts.down[0]));
    }
  }
  return b;
}

static void help(void) {
  printf("usage: latte bench --model DIR [--backend cpu|cuda] [--w8a8] [--batch 1,32,128] [--input-len 512]\n"
         "                   [--output-len 32] [--step-tokens 8192] [--page-size 64] [--seed S] [--warmup 1]\n"
         "       latte bench serve --url URL ... (HTTP load generator; see latte bench serve --help)\n"
         "Random token ids; prints prefill and decode tokens/s per batch size, each timed after --warmup\n"
         "untimed runs of the same work.\n");
}

int lt_cmd_bench(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "serve")) {
    if (!lt_cmd_bench_serve) { lt_cli_error("bench serve: this build has no HTTP load generator"); return 1; }
    return lt_cmd_bench_serve(argc - 1, argv + 1);
  }
  const char *model = NULL, *backend = NULL, *batches = "1,32,128", *v;
  long in_len = 512, out_len = 32, step = 8192, page = 64, seed = 1, warmup = 1;
  int w8a8 = 0, r;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(); return 0; }
    if (!strcmp(argv[i], "--w8a8")) { w8a8 = 1; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--model", &model))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--backend", &backend))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--batch", &batches))) { if (r < 0) return 2; continue; }
#define INTOPT(name, var, lo, hi) \
    if ((r = lt_arg_val(argc, argv, &i, name, &v))) { if (r < 0 || lt_parse_int(name, v, lo, hi, &var)) return 2; continue; }
    INTOPT("--input-len", in_len, 1, 1 << 20)
    INTOPT("--output-len", out_len, 1, 1 << 20)
    INTOPT("--step-tokens", step, 1, 1 << 20)
    INTOPT("--page-size", page, 1, 256)
    INTOPT("--seed", seed, 0, 1L << 40)
    INTOPT("--warmup", warmup, 0, 100)
    lt_cli_error("bench: unknown option '%s' (try --help)", argv[i]);
    return 2;
  }
  if (!model) { lt_cli_error("bench: --model is required"); return 2; }
  int32_t *bs;
  int nb = lt_parse_ids(batches, &bs);
  if (nb < 0) return 2;
  for (int i = 0; i < nb; i++)
    if (bs[i] < 1 || bs[i] > 65536) {
      lt_cli_error("bench: --batch sizes must be 1..65536 (got %d)", bs[i]);
      free(bs);
      return 2;
    }
  latte_load_opts lo = {.backend = backend, .w8a8 = w8a8, .verbose = 1};
  latte_model *m;
  double t0 = now_s();
  if (latte_model_load(model, &lo, &m)) { lt_cli_error("%s", latte_last_error()); free(bs); return 1; }
  double ab = active_bytes(m);
  printf("model %s on %s%s: loaded in %.1f s; a decode token reads %.3f GB of weights (batch-1 floor)\n", model,
         latte_model_backend(m), w8a8 ? " (w8a8)" : "", now_s() - t0, ab / 1e9);
  printf("%6s %9s %9s %14s %14s %12s\n", "batch", "in_len", "out_len", "prefill tok/s", "decode tok/s", "ms/step");
  int V = latte_model_vocab(m), rc = 0;
  uint64_t rng = (uint64_t)seed * 2654435761u + 1;
  for (int bi = 0; bi < nb && !rc; bi++) {
    int B = bs[bi], L = (int)(in_len + out_len);
    int ppseq = (L + (int)page - 1) / (int)page;
    int chunk = (int)step < B * (int)in_len ? (int)step : B * (int)in_len;
    if (chunk < B) chunk = B;
    latte_engine_opts eo = {.page_size = (int)page, .num_pages = B * ppseq, .max_tokens = chunk, .max_seqs = B};
    latte_engine *e;
    if (latte_engine_new(m, &eo, &e)) { lt_cli_error("%s", latte_last_error()); rc = 1; break; }
    size_t nt = (size_t)B * L;
    int32_t *ids = malloc(sizeof(int32_t) * nt), *pages = malloc(sizeof(int32_t) * (size_t)B * ppseq);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)chunk), *qo = malloc(sizeof(int32_t) * (size_t)(B + 1));
    int32_t *sl = malloc(sizeof(int32_t) * (size_t)B), *kvp = malloc(sizeof(int32_t) * (size_t)(B + 1));
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)B), *tok = malloc(sizeof(int32_t) * (size_t)chunk);
    int32_t *next = malloc(sizeof(int32_t) * (size_t)B);  /* greedy ids on the device: no logits copied */
    for (size_t i = 0; i < nt; i++) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; ids[i] = 3 + (int32_t)(rng % (uint64_t)(V - 3)); }
    for (int i = 0; i < B * ppseq; i++) pages[i] = i;
    double tp = 0, td = 0;
    for (int it = 0; it <= warmup && !rc; it++) {  /* the last iteration is the timed one */
      /* prefill: whole prompts, several sequences per forward up to the chunk size */
      double tp0 = now_s();
      for (int s0 = 0; s0 < B && !rc;) {
        int nseq = chunk / (int)in_len;
        if (nseq < 1) nseq = 1;
        if (nseq > B - s0) nseq = B - s0;
        for (int off = 0; off < in_len && !rc;) {  /* a prompt longer than the chunk goes in pieces */
          int q = nseq == 1 ? (in_len - off < chunk ? (int)in_len - off : chunk) : (int)in_len;
          int T = 0;
          qo[0] = 0;
          for (int i = 0; i < nseq; i++) {
            int s = s0 + i;
            for (int j = 0; j < q; j++) { tok[T] = ids[(size_t)s * L + off + j]; pos[T] = off + j; T++; }
            qo[i + 1] = T;
            sl[i] = off + q;
            kvp[i] = i * ppseq;
            rows[i] = T - 1;
          }
          kvp[nseq] = nseq * ppseq;
          latte_batch b = {.num_seqs = nseq, .num_tokens = T, .ids = tok, .positions = pos, .qo_indptr = qo,
                           .seq_lens = sl, .kv_indptr = kvp, .kv_indices = pages + (size_t)s0 * ppseq,
                           .n_logits = nseq, .logit_rows = rows, .greedy_ids = next};
          if (latte_forward(e, &b, NULL)) { lt_cli_error("%s", latte_last_error()); rc = 1; }
          off += q;
        }
        s0 += nseq;
      }
      tp = now_s() - tp0;
      /* decode: every sequence one token per step */
      double td0 = now_s();
      for (int k = 0; k < out_len && !rc; k++) {
        qo[0] = 0;
        for (int i = 0; i < B; i++) {
          tok[i] = ids[(size_t)i * L + in_len + k];
          pos[i] = (int)in_len + k;
          qo[i + 1] = i + 1;
          sl[i] = (int)in_len + k + 1;
          kvp[i] = i * ppseq;
          rows[i] = i;
        }
        kvp[B] = B * ppseq;
        latte_batch b = {.num_seqs = B, .num_tokens = B, .ids = tok, .positions = pos, .qo_indptr = qo, .seq_lens = sl,
                         .kv_indptr = kvp, .kv_indices = pages, .n_logits = B, .logit_rows = rows,
                         .greedy_ids = next};
        if (latte_forward(e, &b, NULL)) { lt_cli_error("%s", latte_last_error()); rc = 1; }
      }
      td = now_s() - td0;
    }
    if (!rc)
      printf("%6d %9ld %9ld %14.1f %14.1f %12.3f\n", B, in_len, out_len, B * (double)in_len / tp,
             B * (double)out_len / td, 1e3 * td / out_len);
    fflush(stdout);
    free(ids); free(pages); free(pos); free(qo); free(sl); free(kvp); free(rows); free(tok); free(next);
    latte_engine_free(e);
  }
  free(bs);
  latte_model_free(m);
  return rc;
}
