/* test_cuda_e2e.c — the whole model on the CUDA backend against Hugging Face's fp32 logits, on the
 * three fixtures, page sizes 1 and 64, greedy continuations with the paged cache (absorbed decode).
 * Tolerances: bf16 activations perturb the hidden state by ~0.4% per op, and these tiny fixtures route
 * tokens through top-k expert choices that such a perturbation can flip; one flip moves every later
 * position. Measured on the CPU backend with each op's output rounded to bf16 (no CUDA involved):
 * rel err 0.009 at one token, up to 0.14 (tiny-v3) / 0.23 (tiny-v3-fp8) / 0.022 (tiny-v2-lite) on longer
 * prompts — the same numbers the CUDA backend gives. So: a single-token prompt (no cross-token
 * mixing) must be within 2e-2; tiny-v2-lite within 3e-2 everywhere; the v3 fixtures within the
 * bf16-arithmetic envelope (0.25); and greedy tokens must agree on ≥ 75% of the steps whose reference
 * margin exceeds 0.1. Skipped (exit 77) without CUDA or a GPU. */
#include "testutil.h"
#include "io/safetensors.h"
#include "latte.h"
#include "runtime/sampler.h"
#include "backend/backend.h"
#include <stdlib.h>
#include <string.h>

#ifdef LATTE_HAVE_CUDA
static float *ref_f32(const lt_st_tensor *t) {
  float *x = malloc(sizeof(float) * (size_t)t->numel);
  lt_to_f32(t->dtype, t->data, x, (size_t)t->numel);
  return x;
}

static int g_agree, g_checked;

static void check_fixture(const char *name, int w8a8) {
  latte_load_opts lo = {.backend = "cuda", .w8a8 = w8a8};
  latte_model *m;
  latte_status s = latte_model_load(lt_fixture(name), &lo, &m);
  CHECK(s == LATTE_OK, "%s: load: %s", name, latte_last_error());
  if (s) return;
  char rp[4200];
  snprintf(rp, sizeof rp, "%s/reference.safetensors", lt_fixture(name));
  lt_st_set *r;
  if (lt_st_open_file(rp, &r)) { CHECK(0, "%s", latte_last_error()); latte_model_free(m); return; }
  int V = latte_model_vocab(m);
  for (int c = 0; c < 5; c++) {
    char nm[64];
    snprintf(nm, sizeof nm, "case%d.tokens", c);
    const lt_st_tensor *tt = lt_st_find(r, nm);
    snprintf(nm, sizeof nm, "case%d.%s", c, w8a8 ? "logits_w8a8" : "logits");
    const lt_st_tensor *lt = lt_st_find(r, nm);
    snprintf(nm, sizeof nm, "case%d.greedy", c);
    const lt_st_tensor *gt = lt_st_find(r, nm);
    snprintf(nm, sizeof nm, "case%d.margin", c);
    const lt_st_tensor *mt = lt_st_find(r, nm);
    int n = (int)tt->numel;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + 32));
    memcpy(ids, tt->data, sizeof(int32_t) * (size_t)n);
    float *want = ref_f32(lt), *got = malloc(sizeof(float) * (size_t)n * V);
    for (int ps = 1; ps <= 64; ps *= 64) {
      memset(got, 0xff, sizeof(float) * (size_t)n * V);  /* poison: NaN */
      s = latte_logits_all(m, ids, n, ps, got);
      CHECK(s == LATTE_OK, "%s case %d: %s", name, c, latte_last_error());
      double e = lt_rel_err(got, want, (long)n * V);
      double tol = n == 1 ? 2e-2 : !strcmp(name, "tiny-v2-lite") ? 3e-2 : 0.25;
      if (w8a8) tol = 0.5;  /* w8a8: fp8 roundings of bf16 activations flip too (see test_model.c) */
      printf("%s%s case %d page %d: rel err %.3g\n", name, w8a8 ? " w8a8" : "", c, ps, e);
      CHECK(e <= tol, "%s%s case %d page %d: rel err %.3g > %.3g", name, w8a8 ? " w8a8" : "", c, ps, e, tol);
    }
    if (!w8a8) {
      /* greedy with the cache: prefill, then one token per forward (absorbed MLA decode) */
      const int32_t *g = gt->data;
      float *margin = ref_f32(mt), *last = malloc(sizeof(float) * (size_t)V);
      int steps = (int)gt->numel, ps = 16, np = (n + steps + ps - 1) / ps;
      latte_engine_opts o = {.page_size = ps, .max_tokens = n, .max_seqs = 1, .num_pages = np};
      latte_engine *e;
      CHECK(latte_engine_new(m, &o, &e) == LATTE_OK, "%s", latte_last_error());
      int32_t *pages = malloc(sizeof(int32_t) * (size_t)np), *pos = malloc(sizeof(int32_t) * (size_t)n);
      for (int p = 0; p < np; p++) pages[p] = np - 1 - p;
      for (int i = 0; i < n; i++) pos[i] = i;
      int done = 0, q = n, agree = 0, checked = 0;
      for (int k = 0; k <= steps; k++) {
        int32_t qo[2] = {0, q}, sl[1] = {done + q}, kvp[2] = {0, np}, row[1] = {q - 1};
        latte_batch b = {.num_seqs = 1, .num_tokens = q, .ids = ids + done, .positions = pos, .qo_indptr = qo,
                         .seq_lens = sl, .kv_indptr = kvp, .kv_indices = pages, .n_logits = 1, .logit_rows = row};
        if (latte_forward(e, &b, last)) { CHECK(0, "decode: %s", latte_last_error()); break; }
        done += q;
        q = 1;
        pos[0] = done;
        if (k == steps) break;
        int next = lt_argmax(last, V);
        if (margin[k] > 0.1f) {
          checked++;
          agree += next == g[k];
        }
        if (next != g[k]) break;
        ids[done] = next;
      }
      printf("%s case %d: greedy %d/%d clear-margin steps agree\n", name, c, agree, checked);
      g_agree += agree;
      g_checked += checked;
      free(margin); free(last); free(pages); free(pos);
      latte_engine_free(e);
    }
    free(ids); free(want); free(got);
  }
  lt_st_close(r);
  latte_model_free(m);
}
#endif

int main(void) {
  int skip = lt_test_skip_without_gpu();
  if (skip) return skip;
#ifdef LATTE_HAVE_CUDA
  check_fixture("tiny-v3", 0);
  check_fixture("tiny-v2-lite", 0);
  check_fixture("tiny-v3-fp8", 0);
  check_fixture("tiny-v3-fp8", 1);
  printf("greedy: %d/%d clear-margin steps agree\n", g_agree, g_checked);
  CHECK(g_checked > 0 && g_agree * 4 >= g_checked * 3, "greedy agreement %d/%d below 75%%", g_agree, g_checked);
  return lt_test_done();
#endif
}
