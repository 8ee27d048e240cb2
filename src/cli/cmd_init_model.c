/* cmd_init_model.c — `latte init-model`: write a random-weight DeepSeek checkpoint (tiny,
 * deepseek-v2-lite or deepseek-v3 dimensions) in the Hugging Face layout for tests and benchmarks.
 * Parses the options and calls lt_init_model (src/io/init_model.c). */
#include "cli/cli.h"
#include "io/init_model.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void lt_init_usage(FILE *f) {
  fputs("usage: latte init-model --preset tiny|deepseek-v2-lite|deepseek-v3 --out DIR\n"
        "                        [--layers N] [--fp8] [--seed S]\n"
        "Write a checkpoint with random weights in the Hugging Face layout: config.json, safetensors\n"
        "(model-0000N-of-0000M.safetensors + model.safetensors.index.json when over 4 GiB) and the\n"
        "DeepSeek-V3 tokenizer files. The same seed gives byte-identical files.\n"
        "  --preset P   tiny (2 layers, hidden 128, vocab 129280), deepseek-v2-lite or deepseek-v3\n"
        "               (their real dimensions)\n"
        "  --layers N   keep only the first N decoder layers\n"
        "  --fp8        decoder linears in F8_E4M3 with 128x128 F32 weight_scale_inv (DeepSeek-V3 style)\n"
        "  --seed S     random seed (default 0)\n"
        "  --out DIR    output directory (created if missing)\n"
        "  --max-shard-size BYTES  split into shards of at most BYTES of data (default 4 GiB)\n", f);
}

static int lt_parse_u64(const char *s, unsigned long long *out) {
  char *end;
  if (!s || !*s || *s == '-') return 0;
  errno = 0;
  *out = strtoull(s, &end, 0);
  return !errno && !*end;
}

int lt_cmd_init_model(int argc, char **argv) {
  lt_init_opts o = {0};
  o.progress = -1;
  /* argv[0] is the subcommand name ("init-model") */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long n;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { lt_init_usage(stdout); return 0; }
    if (!strcmp(a, "--fp8")) { o.fp8 = 1; continue; }
    if (!strcmp(a, "--preset") || !strcmp(a, "--out") || !strcmp(a, "--layers") || !strcmp(a, "--seed") ||
        !strcmp(a, "--max-shard-size")) {
      if (!v) { lt_cli_error("init-model: %s needs a value (see latte init-model --help)", a); return 2; }
      i++;
      if (!strcmp(a, "--preset")) o.preset = v;
      else if (!strcmp(a, "--out")) o.out_dir = v;
      else if (!strcmp(a, "--layers")) {
        if (!lt_parse_u64(v, &n) || n < 1 || n > 4096) {
          lt_cli_error("init-model: --layers must be an integer in [1, 4096] (got '%s')", v);
          return 2;
        }
        o.layers = (int)n;
      } else if (!strcmp(a, "--max-shard-size")) {
        if (!lt_parse_u64(v, &n) || n == 0) {
          lt_cli_error("init-model: --max-shard-size must be a positive number of bytes (got '%s')", v);
          return 2;
        }
        o.shard_bytes = n;
      } else {
        if (!lt_parse_u64(v, &n)) { lt_cli_error("init-model: --seed must be a non-negative integer (got '%s')", v); return 2; }
        o.seed = n;
      }
      continue;
    }
    lt_cli_error("init-model: unknown option '%s' (see latte init-model --help)", a);
    return 2;
  }
  if (!o.preset) { lt_cli_error("init-model: --preset is required (tiny, deepseek-v2-lite or deepseek-v3)"); return 2; }
  if (!o.out_dir) { lt_cli_error("init-model: --out DIR is required"); return 2; }
  lt_config c;
  if (lt_init_preset_config(&o, &c) != LATTE_OK) { lt_cli_error("%s", latte_last_error()); return 2; }
  if (lt_init_model(&o) != LATTE_OK) { lt_cli_error("%s", latte_last_error()); return 1; }
  return 0;
}
