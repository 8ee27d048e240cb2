/* cmd_logits.c — `latte logits --model DIR --ids 5,17,42 --out FILE [--backend B] [--w8a8]
 * [--page-size P] [--attn extend|absorbed]`: one forward over an empty cache, every position's logits
 * written as a safetensors file with one tensor `logits` F32 [T, vocab]. */
#include "cli/args.h"
#include "cli/cli.h"
#include "io/safetensors.h"
#include "latte.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("usage: latte logits --model DIR --ids 5,17,42 --out FILE [--backend cpu|cuda] [--w8a8]\n"
         "                    [--page-size P] [--attn auto|extend|absorbed] [--threads N]\n"
         "Runs one forward pass over the ids (empty cache) and writes F32 logits [T, vocab] as the\n"
         "tensor `logits` of a safetensors file.\n");
}

int lt_cmd_logits(int argc, char **argv) {
  const char *model = NULL, *ids_s = NULL, *out = NULL, *backend = NULL, *v;
  long page = 64, threads = 0;
  int w8a8 = 0, attn = 0, r;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(); return 0; }
    if (!strcmp(argv[i], "--w8a8")) { w8a8 = 1; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--model", &model))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--ids", &ids_s))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--out", &out))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--backend", &backend))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--page-size", &v))) {
      if (r < 0 || lt_parse_int("--page-size", v, 1, 256, &page)) return 2;
      continue;
    }
    if ((r = lt_arg_val(argc, argv, &i, "--threads", &v))) {
      if (r < 0 || lt_parse_int("--threads", v, 0, 4096, &threads)) return 2;
      continue;
    }
    if ((r = lt_arg_val(argc, argv, &i, "--attn", &v))) {
      if (r < 0) return 2;
      if (!strcmp(v, "auto")) attn = 0;
      else if (!strcmp(v, "extend")) attn = 1;
      else if (!strcmp(v, "absorbed")) attn = 2;
      else { lt_cli_error("--attn: '%s' (expected auto, extend or absorbed)", v); return 2; }
      continue;
    }
    lt_cli_error("logits: unknown option '%s' (try --help)", argv[i]);
    return 2;
  }
  if (!model || !ids_s || !out) { lt_cli_error("logits: --model, --ids and --out are required"); return 2; }
  int32_t *ids;
  int n = lt_parse_ids(ids_s, &ids);
  if (n < 0) return 2;
  latte_load_opts lo = {.backend = backend, .w8a8 = w8a8, .threads = (int)threads};
  latte_model *m;
  if (latte_model_load(model, &lo, &m)) { lt_cli_error("%s", latte_last_error()); free(ids); return 1; }
  int V = latte_model_vocab(m);
  float *logits = malloc(sizeof(float) * (size_t)n * V);
  int rc = 1;
  if (!logits) lt_cli_error("out of memory for %d x %d logits", n, V);
  else if (latte_logits_all_attn(m, ids, n, (int)page, attn, logits)) {
    lt_cli_error("%s", latte_last_error());
  } else rc = 0;
  if (rc == 0) {
    lt_st_writer *w = lt_st_writer_new();
    int64_t shape[2] = {n, V};
    if (!w || lt_st_writer_add(w, "logits", LT_F32, 2, shape, logits, sizeof(float) * (size_t)n * V) ||
        lt_st_writer_write(w, out)) {
      lt_cli_error("%s", w ? latte_last_error() : "out of memory");
      rc = 1;
    }
    lt_st_writer_free(w);
  }
  free(logits);
  free(ids);
  latte_model_free(m);
  return rc;
}
