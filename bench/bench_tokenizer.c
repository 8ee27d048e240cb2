/* bench_tokenizer.c — tokenizer throughput: encodes a corpus file (bench/make_tok_corpus.py) as one
 * text, single-threaded, no special tokens; prints MB/s (first run = cold piece cache, and best of
 * REPS) and an FNV-1a checksum of the ids to compare with bench_tokenizer_hf.py; then the same
 * line by line (lines without their newlines, one encode call each), like HF's encode_batch.
 * Usage: bench_tokenizer CORPUS [TOKENIZER_JSON] [REPS] */
#include "text/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LATTE_SOURCE_DIR
#define LATTE_SOURCE_DIR "."
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS [TOKENIZER_JSON] [REPS]\n  (make CORPUS with bench/make_tok_corpus.py)\n", argv[0]);
    return 2;
  }
  const char *tokp = argc > 2 ? argv[2] : LATTE_SOURCE_DIR "/assets/tokenizers/deepseek-v3/tokenizer.json";
  int reps = argc > 3 ? atoi(argv[3]) : 3;
  if (reps < 1) reps = 1;
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)n + 1);
  if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
  fclose(f);
  double t0 = now();
  lt_tokenizer *t;
  if (lt_tok_load(tokp, &t) != LATTE_OK) { fprintf(stderr, "%s\n", latte_last_error()); return 1; }
  double load_s = now() - t0;
  printf("latte: tokenizer load %.3f s\n", load_s);
  for (int mode = 0; mode < 2; mode++) {
    double first = 0, best = 1e30;
    size_t total = 0;
    unsigned long long h = 0;
    for (int r = 0; r < reps; r++) {
      h = 1469598103934665603ull;
      total = 0;
      t0 = now();
      for (long off = 0; off <= n;) {
        long end = n;
        if (mode == 1) {
          const char *nl = memchr(text + off, '\n', (size_t)(n - off));
          end = nl ? (long)(nl - text) : n;
        }
        int32_t *ids; size_t ni;
        if (lt_tok_encode(t, text + off, (size_t)(end - off), 0, 1, &ids, &ni) != LATTE_OK) {
          fprintf(stderr, "%s\n", latte_last_error()); return 1;
        }
        for (size_t i = 0; i < ni; i++) h = (h ^ (unsigned long long)ids[i]) * 1099511628211ull;
        total += ni;
        free(ids);
        off = end + 1;
      }
      double dt = now() - t0;
      if (r == 0) first = dt;
      if (dt < best) best = dt;
    }
    double mb = (double)n / 1e6;
    printf("latte (%s): %ld bytes, %zu tokens, first %.3f s, best %.3f s, %.2f MB/s (best), "
           "%.2f MB/s (first), checksum %016llx\n", mode ? "lines" : "whole", n, total, first, best,
           mb / best, mb / first, h);
  }
  lt_tok_free(t);
  free(text);
  return 0;
}
