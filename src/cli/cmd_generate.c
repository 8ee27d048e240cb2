/* cmd_generate.c — `latte generate`: prefill the prompt into a fresh paged cache, then decode N
 * tokens one at a time with the chosen sampler. --ids gives raw ids (no EOS stop, --print-ids prints
 * the generated ids on one line); --prompt/--chat tokenize text and stream text, stopping at EOS. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/gen_text.h"
#include "latte.h"
#include "runtime/sampler.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("usage: latte generate --model DIR (--ids LIST | --prompt TEXT [--chat]) -n N\n"
         "         [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed S] [--print-ids]\n"
         "         [--ignore-eos] [--backend cpu|cuda] [--w8a8] [--page-size P] [--threads N]\n"
         "Temperature 0 (the default) is greedy. With --ids the prompt is raw token ids and generation\n"
         "never stops early; with --prompt the text is tokenized (--chat wraps it as one user message in\n"
         "the model's chat template), the output is streamed as text and stops at the EOS token.\n");
}

typedef struct {
  latte_engine *e;
  int32_t *pages;
  int len, page_size;
} lt_seq;

/* Runs tokens ids[0..n) at positions seq->len.. and returns the logits of the last one. */
static int step(lt_seq *s, const int32_t *ids, int n, float *logits) {
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
  if (!pos) return -1;
  for (int i = 0; i < n; i++) pos[i] = s->len + i;
  int L = s->len + n;
  int32_t qo[2] = {0, n}, sl[1] = {L}, kvp[2] = {0, (L + s->page_size - 1) / s->page_size}, row[1] = {n - 1};
  latte_batch b = {.num_seqs = 1, .num_tokens = n, .ids = ids, .positions = pos, .qo_indptr = qo, .seq_lens = sl,
                   .kv_indptr = kvp, .kv_indices = s->pages, .n_logits = 1, .logit_rows = row};
  latte_status st = latte_forward(s->e, &b, logits);
  free(pos);
  if (st) return -1;
  s->len = L;
  return 0;
}

int lt_cmd_generate(int argc, char **argv) {
  const char *model = NULL, *ids_s = NULL, *prompt = NULL, *backend = NULL, *v;
  long n_gen = 16, page = 64, topk = 0, threads = 0, seed = 0;
  double temp = 0, topp = 1, minp = 0;
  int w8a8 = 0, print_ids = 0, chat = 0, ignore_eos = 0, r;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(); return 0; }
    if (!strcmp(argv[i], "--w8a8")) { w8a8 = 1; continue; }
    if (!strcmp(argv[i], "--print-ids")) { print_ids = 1; continue; }
    if (!strcmp(argv[i], "--chat")) { chat = 1; continue; }
    if (!strcmp(argv[i], "--ignore-eos")) { ignore_eos = 1; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--model", &model))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--ids", &ids_s))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--prompt", &prompt))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--backend", &backend))) { if (r < 0) return 2; continue; }
#define INTOPT(name, var, lo, hi) \
    if ((r = lt_arg_val(argc, argv, &i, name, &v))) { if (r < 0 || lt_parse_int(name, v, lo, hi, &var)) return 2; continue; }
#define FLTOPT(name, var, lo, hi) \
    if ((r = lt_arg_val(argc, argv, &i, name, &v))) { if (r < 0 || lt_parse_float(name, v, lo, hi, &var)) return 2; continue; }
    INTOPT("-n", n_gen, 1, 1000000)
    INTOPT("--page-size", page, 1, 256)
    INTOPT("--top-k", topk, 0, 1000000000)
    INTOPT("--threads", threads, 0, 4096)
    INTOPT("--seed", seed, 0, 0x7fffffffffffffffL)
    FLTOPT("--temperature", temp, 0, 100)
    FLTOPT("--top-p", topp, 0, 1)
    FLTOPT("--min-p", minp, 0, 1)
    lt_cli_error("generate: unknown option '%s' (try --help)", argv[i]);
    return 2;
  }
  if (!model) { lt_cli_error("generate: --model is required"); return 2; }
  if (!!ids_s == !!prompt) { lt_cli_error("generate: give exactly one of --ids or --prompt"); return 2; }
  if (chat && !prompt) { lt_cli_error("generate: --chat needs --prompt"); return 2; }

  int32_t *ids = NULL;
  int n = 0;
  lt_gen_text *txt = NULL;
  if (ids_s) {
    n = lt_parse_ids(ids_s, &ids);
    if (n < 0) return 2;
  } else if (lt_gen_text_open(model, prompt, chat, &txt, &ids, &n)) {
    return 1;
  }
  latte_load_opts lo = {.backend = backend, .w8a8 = w8a8, .threads = (int)threads};
  latte_model *m = NULL;
  int rc = 1;
  float *logits = NULL;
  lt_seq s = {.page_size = (int)page};
  int32_t *out = malloc(sizeof(int32_t) * (size_t)n_gen);
  if (latte_model_load(model, &lo, &m)) { lt_cli_error("%s", latte_last_error()); goto done; }
  if ((long)n + n_gen > latte_model_max_context(m)) {
    lt_cli_error("prompt of %d tokens + %ld new tokens is longer than the model's context of %d", n, n_gen,
                 latte_model_max_context(m));
    goto done;
  }
  int total = n + (int)n_gen;
  latte_engine_opts eo = {.page_size = (int)page, .max_tokens = n, .max_seqs = 1,
                          .num_pages = (total + (int)page - 1) / (int)page};
  if (latte_engine_new(m, &eo, &s.e)) { lt_cli_error("%s", latte_last_error()); goto done; }
  s.pages = malloc(sizeof(int32_t) * (size_t)eo.num_pages);
  logits = malloc(sizeof(float) * (size_t)latte_model_vocab(m));
  if (!s.pages || !logits || !out) { lt_cli_error("out of memory"); goto done; }
  for (int p = 0; p < eo.num_pages; p++) s.pages[p] = p;
  lt_sampler smp = {.temperature = (float)temp, .top_k = (int)topk, .top_p = (float)topp, .min_p = (float)minp};
  lt_sampler_seed(&smp, (uint64_t)seed);
  if (step(&s, ids, n, logits)) { lt_cli_error("%s", latte_last_error()); goto done; }
  int ng = 0;
  for (; ng < n_gen; ng++) {
    int32_t id = lt_sample(&smp, logits, latte_model_vocab(m));
    out[ng] = id;
    if (txt) {
      if (!ignore_eos && lt_gen_text_is_eos(txt, id)) break;
      lt_gen_text_emit(txt, id);
    }
    if (ng + 1 < n_gen && step(&s, &id, 1, logits)) { lt_cli_error("%s", latte_last_error()); goto done; }
  }
  if (txt) lt_gen_text_finish(txt);
  if (print_ids) {
    for (int i = 0; i < ng; i++) printf(i ? " %d" : "%d", out[i]);
    printf("\n");
  } else if (!txt) {
    for (int i = 0; i < ng; i++) printf(i ? " %d" : "%d", out[i]);
    printf("\n");
  }
  rc = 0;
done:
  lt_gen_text_close(txt);
  free(out);
  free(logits);
  free(s.pages);
  latte_engine_free(s.e);
  latte_model_free(m);
  free(ids);
  return rc;
}
