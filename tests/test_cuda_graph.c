/* test_cuda_graph.c — decode steps replayed as CUDA graphs compute exactly what the eager path does.
 * Two engines on one model, one with graphs off (LATTE_GRAPHS=0) and one with them on, run the same
 * script: three prompts of different lengths; greedy decode steps of the three together (graph keys
 * B=3 in two context buckets: one sequence crosses 256); a long prefill that grows the engine's
 * buffers and the backend's scratch (captured graphs go stale and are recaptured); more B=3 steps;
 * B=1 steps. Every step's logits and greedy ids must agree bit for bit, and the graph engine must
 * actually have captured and replayed. Also on a V3 fixture (grouped routing, q_lora). Skipped
 * (exit 77) without CUDA or a GPU. */
#include "testutil.h"
#include "latte.h"
#include "model/model.h"
#include <stdlib.h>
#include <string.h>

#ifdef LATTE_HAVE_CUDA
enum { PS = 16, MAXS = 4, PPS = 40, NPAGES = MAXS * PPS, MAXLEN = PPS * PS };

typedef struct {
  int32_t toks[MAXS][MAXLEN];
  int len[MAXS];            /* tokens in the cache */
  int32_t pages[NPAGES];
  float *rec;               /* every step's logits, appended */
  int32_t *rec_ids;
  long nrec, nids;
} script;

/* One forward over sequences seqs[0..B) each adding q[i] tokens (their next toks); records logits
 * and greedy ids of each sequence's last row; appends the greedy id as that sequence's next token. */
static int step(latte_engine *e, script *sc, int V, int B, const int *seqs, const int *q) {
  int32_t ids[1024], pos[1024], qo[MAXS + 1], sl[MAXS], kvp[MAXS + 1], kvi[NPAGES], rows[MAXS], g[MAXS];
  int T = 0, np = 0;
  qo[0] = kvp[0] = 0;
  for (int i = 0; i < B; i++) {
    int s = seqs[i];
    for (int j = 0; j < q[i]; j++) { ids[T] = sc->toks[s][sc->len[s] + j]; pos[T] = sc->len[s] + j; T++; }
    qo[i + 1] = T;
    sl[i] = sc->len[s] + q[i];
    int need = (sl[i] + PS - 1) / PS;
    for (int p = 0; p < need; p++) kvi[np++] = sc->pages[s * PPS + p];
    kvp[i + 1] = np;
    rows[i] = T - 1;
  }
  float *lg = malloc(sizeof(float) * (size_t)B * V);
  latte_batch b = {.num_seqs = B, .num_tokens = T, .ids = ids, .positions = pos, .qo_indptr = qo, .seq_lens = sl,
                   .kv_indptr = kvp, .kv_indices = kvi, .n_logits = B, .logit_rows = rows, .greedy_ids = g};
  latte_status s = latte_forward(e, &b, lg);
  CHECK(s == LATTE_OK, "forward: %s", latte_last_error());
  if (s) { free(lg); return 1; }
  sc->rec = realloc(sc->rec, sizeof(float) * (size_t)(sc->nrec + (long)B * V));
  memcpy(sc->rec + sc->nrec, lg, sizeof(float) * (size_t)B * V);
  sc->nrec += (long)B * V;
  sc->rec_ids = realloc(sc->rec_ids, sizeof(int32_t) * (size_t)(sc->nids + B));
  for (int i = 0; i < B; i++) {
    int sq = seqs[i];
    sc->rec_ids[sc->nids++] = g[i];
    sc->len[sq] += q[i];
    sc->toks[sq][sc->len[sq]] = g[i];  /* next input: the greedy continuation */
  }
  free(lg);
  return 0;
}

static void run_script(latte_model *m, int graphs, script *sc, long *caps, long *reps) {
  setenv("LATTE_GRAPHS", graphs ? "1" : "0", 1);
  latte_engine_opts o = {.page_size = PS, .max_tokens = 1024, .max_seqs = MAXS, .num_pages = NPAGES};
  latte_engine *e;
  latte_status s = latte_engine_new(m, &o, &e);
  CHECK(s == LATTE_OK, "engine: %s", latte_last_error());
  if (s) return;
  const int V = latte_model_vocab(m);
  memset(sc, 0, sizeof *sc);
  unsigned long long r = 12345;
  for (int i = 0; i < MAXS; i++)
    for (int j = 0; j < MAXLEN; j++) {
      r ^= r << 13; r ^= r >> 7; r ^= r << 17;
      sc->toks[i][j] = 3 + (int32_t)(r % (unsigned long long)(V - 3));
    }
  for (int p = 0; p < NPAGES; p++) sc->pages[p] = NPAGES - 1 - p;  /* scattered pages */
  const int plen[3] = {240, 17, 100};
  int fail = 0;
  for (int i = 0; i < 3 && !fail; i++) fail = step(e, sc, V, 1, &i, &plen[i]);
  const int three[3] = {0, 1, 2}, ones[3] = {1, 1, 1};
  for (int k = 0; k < 30 && !fail; k++) fail = step(e, sc, V, 3, three, ones);    /* seq 0 crosses 256 */
  const int big = 3, blen = 500;
  if (!fail) fail = step(e, sc, V, 1, &big, &blen);                               /* grows the buffers */
  for (int k = 0; k < 10 && !fail; k++) fail = step(e, sc, V, 3, three, ones);
  const int one = 1;
  for (int k = 0; k < 6 && !fail; k++) fail = step(e, sc, V, 1, &one, &one);
  *caps = e->graph_captures;
  *reps = e->graph_replays;
  latte_engine_free(e);
}

static void check_model(const char *name) {
  latte_load_opts lo = {.backend = "cuda"};
  latte_model *m;
  latte_status s = latte_model_load(lt_fixture(name), &lo, &m);
  CHECK(s == LATTE_OK, "%s: load: %s", name, latte_last_error());
  if (s) return;
  script *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
  long ca, ra, cb, rb;
  run_script(m, 0, a, &ca, &ra);
  run_script(m, 1, b, &cb, &rb);
  printf("%s: eager %ld captures / %ld replays; graphs %ld captures / %ld replays; %ld logits, %ld ids\n", name, ca, ra,
         cb, rb, a->nrec, a->nids);
  CHECK(ca == 0 && ra == 0, "%s: graphs ran with LATTE_GRAPHS=0", name);
  CHECK(cb >= 3 && rb >= 30, "%s: expected >= 3 captures and >= 30 replays, got %ld / %ld", name, cb, rb);
  CHECK(a->nrec == b->nrec && a->nids == b->nids && a->nrec > 0, "%s: runs of different length", name);
  if (a->nrec == b->nrec && a->nids == b->nids) {
    int same_ids = !memcmp(a->rec_ids, b->rec_ids, sizeof(int32_t) * (size_t)a->nids);
    int same_logits = !memcmp(a->rec, b->rec, sizeof(float) * (size_t)a->nrec);
    printf("%s: greedy ids %s, logits %s (max |diff| %.3g)\n", name, same_ids ? "identical" : "DIFFER",
           same_logits ? "identical" : "DIFFER", lt_max_abs(b->rec, a->rec, a->nrec));
    CHECK(same_ids, "%s: greedy ids differ with graphs", name);
    CHECK(same_logits, "%s: logits differ with graphs", name);
  }
  free(a->rec); free(a->rec_ids); free(b->rec); free(b->rec_ids);
  free(a); free(b);
  latte_model_free(m);
}
#endif

int main(void) {
  int skip = lt_test_skip_without_gpu();
  if (skip) return skip;
#ifdef LATTE_HAVE_CUDA
  check_model("tiny-v2-lite");
  check_model("tiny-v3");
  return lt_test_done();
#endif
}
