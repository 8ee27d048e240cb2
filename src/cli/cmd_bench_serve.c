/* cmd_bench_serve.c — `latte bench serve`: a load generator for an OpenAI-compatible server (libcurl,
 * one thread per request): streamed /v1/completions with ignore_eos at a Poisson request rate or a
 * fixed concurrency; prints the metrics of sglang.bench_serving / vLLM benchmark_serving (throughputs,
 * mean/median/p99 TTFT, TPOT, ITL and end-to-end latency). */
#include "cli/args.h"
#include "cli/cli.h"
#include "base/json.h"
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void help(void) {
  printf("usage: latte bench serve --url URL --num-prompts N [--request-rate R | --max-concurrency C]\n"
         "         [--input-len L --output-len N [--random-range-ratio R] | --dataset FILE.jsonl] [--model NAME]\n"
         "         [--api-key KEY] [--seed S]\n"
         "Sends N streamed /v1/completions requests (temperature 0, ignore_eos) to URL (e.g. http://127.0.0.1:8000):\n"
         "Poisson arrivals at R requests/s (default: all at once), at most C in flight. Random prompts hold L random\n"
         "token ids (lengths uniform in [L*R, L] and [N*R, N] with --random-range-ratio R < 1, as sglang's\n"
         "random dataset); --dataset reads {\"prompt\": TEXT, \"output_len\": N} lines. Prints the usual serving metrics.\n");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  char *body;
  int out_len;
  /* results */
  int ok, prompt_tokens, output_tokens;
  double start, ttft, e2e;
  double *itl;
  int n_itl, cap_itl;
  double last;
  lt_sbuf line, err;
} bench_req;

typedef struct {
  const char *url, *api_key;
  sem_t *slots;
  bench_req *r;
} job;

static void on_data_line(bench_req *r, const char *s, size_t n) {
  if (n < 6 || memcmp(s, "data: ", 6)) return;
  s += 6; n -= 6;
  if (n == 6 && !memcmp(s, "[DONE]", 6)) return;
  lt_json_doc *d = NULL;
  if (lt_json_parse(s, n, &d)) return;
  const lt_json *root = lt_json_root(d);
  const lt_json *ch = lt_json_get(root, "choices"), *u = lt_json_get(root, "usage");
  if (lt_json_get(root, "error")) { lt_sbuf_put(&r->err, s, n); }
  if (ch && ch->type == LT_JARR && ch->len) {
    const char *t = lt_json_str(&ch->items[0], "text");
    if (t && *t) {
      double t_now = now_s();
      if (r->ttft < 0) r->ttft = t_now - r->start;
      else {
        if (r->n_itl == r->cap_itl) {
          r->cap_itl = r->cap_itl ? 2 * r->cap_itl : 64;
          r->itl = realloc(r->itl, sizeof(double) * (size_t)r->cap_itl);
        }
        if (r->itl) r->itl[r->n_itl++] = t_now - r->last;
      }
      r->last = t_now;
    }
  }
  int64_t v;
  if (u && u->type == LT_JOBJ) {
    if (lt_json_int(u, "completion_tokens", &v)) r->output_tokens = (int)v;
    if (lt_json_int(u, "prompt_tokens", &v)) r->prompt_tokens = (int)v;
  }
  lt_json_free(d);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
  bench_req *r = ud;
  size_t n = sz * nm;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      if (r->line.n) on_data_line(r, r->line.p, r->line.n);
      r->line.n = 0;
    } else if (p[i] != '\r') {
      lt_sbuf_putc(&r->line, p[i]);
    }
  }
  return n;
}

static void *run_one(void *arg) {
  job *j = arg;
  bench_req *r = j->r;
  if (j->slots) sem_wait(j->slots);
  char url[2048], auth[1100];
  snprintf(url, sizeof url, "%s/v1/completions", j->url);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  if (j->api_key) { snprintf(auth, sizeof auth, "Authorization: Bearer %s", j->api_key); h = curl_slist_append(h, auth); }
  r->ttft = -1;
  r->start = now_s();
  if (c) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r->e2e = now_s() - r->start;
    if (r->line.n) on_data_line(r, r->line.p, r->line.n);
    r->ok = rc == CURLE_OK && status == 200 && r->ttft >= 0 && !r->err.n;
    if (!r->ok && !r->err.n) lt_sbuf_printf(&r->err, "%s (HTTP %ld)", rc ? curl_easy_strerror(rc) : "no tokens", status);
    curl_easy_cleanup(c);
  }
  curl_slist_free_all(h);
  if (j->slots) sem_post(j->slots);
  return NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void stat3(const char *title, const char *abbr, double *v, int n) {
  double mean = 0, med = 0, p99 = 0;
  if (n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    for (int i = 0; i < n; i++) mean += v[i];
    mean /= n;
    med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    double pos = 0.99 * (n - 1);
    int lo = (int)pos;
    p99 = lo + 1 < n ? v[lo] + (pos - lo) * (v[lo + 1] - v[lo]) : v[lo];
  }
  printf("%s\n", title);
  char k[64];
  snprintf(k, sizeof k, "Mean %s (ms):", abbr);
  printf("%-40s %.2f\n", k, mean * 1e3);
  snprintf(k, sizeof k, "Median %s (ms):", abbr);
  printf("%-40s %.2f\n", k, med * 1e3);
  snprintf(k, sizeof k, "P99 %s (ms):", abbr);
  printf("%-40s %.2f\n", k, p99 * 1e3);
}

/* Model id from GET /v1/models (first entry). */
static char *fetch_model(const char *base, const char *api_key) {
  char url[2048], auth[1100];
  snprintf(url, sizeof url, "%s/v1/models", base);
  lt_sbuf body = {0};
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  struct curl_slist *h = NULL;
  if (api_key) { snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key); h = curl_slist_append(h, auth); }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, NULL);
  FILE *mem = open_memstream(&body.p, &body.n);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
  CURLcode rc = curl_easy_perform(c);
  fclose(mem);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  char *out = NULL;
  lt_json_doc *d = NULL;
  if (rc == CURLE_OK && !lt_json_parse(body.p, body.n, &d)) {
    const lt_json *data = lt_json_get(lt_json_root(d), "data");
    const char *id = data ? lt_json_str(lt_json_at(data, 0), "id") : NULL;
    if (id) out = strdup(id);
  }
  lt_json_free(d);
  free(body.p);
  return out;
}

int lt_cmd_bench_serve(int argc, char **argv) {
  const char *url = NULL, *dataset = NULL, *model = NULL, *api_key = NULL, *v;
  long num = 0, in_len = 128, out_len = 128, conc = 0, seed = 0;
  double rate = INFINITY, range_ratio = 1.0;
  int r;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(); return 0; }
    if ((r = lt_arg_val(argc, argv, &i, "--url", &url))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--dataset", &dataset))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--model", &model))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--api-key", &api_key))) { if (r < 0) return 2; continue; }
#define INTOPT(name, var, lo, hi) \
    if ((r = lt_arg_val(argc, argv, &i, name, &v))) { if (r < 0 || lt_parse_int(name, v, lo, hi, &var)) return 2; continue; }
    INTOPT("--num-prompts", num, 1, 1000000)
    INTOPT("--input-len", in_len, 1, 1 << 24)
    INTOPT("--output-len", out_len, 1, 1 << 24)
    INTOPT("--max-concurrency", conc, 1, 100000)
    INTOPT("--seed", seed, 0, 0x7fffffffL)
    if ((r = lt_arg_val(argc, argv, &i, "--random-range-ratio", &v))) {
      if (r < 0 || lt_parse_float("--random-range-ratio", v, 0, 1, &range_ratio)) return 2;
      continue;
    }
    if ((r = lt_arg_val(argc, argv, &i, "--request-rate", &v))) {
      if (r < 0 || lt_parse_float("--request-rate", v, 1e-6, 1e9, &rate)) return 2;
      continue;
    }
    lt_cli_error("bench serve: unknown option '%s' (try --help)", argv[i]);
    return 2;
  }
  if (!url) { lt_cli_error("bench serve: --url is required"); return 2; }
  if (!num) { lt_cli_error("bench serve: --num-prompts is required"); return 2; }
  size_t ul = strlen(url);
  char base[1900];
  snprintf(base, sizeof base, "%.*s", (int)(ul && url[ul - 1] == '/' ? ul - 1 : ul), url);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char *mname = model ? strdup(model) : fetch_model(base, api_key);
  if (!mname) { lt_cli_error("bench serve: cannot read the model name from %s/v1/models", base); curl_global_cleanup(); return 1; }

  bench_req *reqs = calloc((size_t)num, sizeof *reqs);
  job *jobs = calloc((size_t)num, sizeof *jobs);
  pthread_t *th = calloc((size_t)num, sizeof *th);
  int rc = 1;
  lt_json_doc *doc = NULL;
  char **lines = NULL;
  int n_lines = 0;
  if (!reqs || !jobs || !th) { lt_cli_error("out of memory"); goto done; }
  if (dataset) {
    FILE *f = fopen(dataset, "r");
    if (!f) { lt_cli_error("bench serve: cannot open %s", dataset); goto done; }
    char *ln = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&ln, &cap, f)) > 0) {
      if (got <= 1) continue;
      lines = realloc(lines, sizeof(char *) * (size_t)(n_lines + 1));
      lines[n_lines++] = strdup(ln);
    }
    free(ln);
    fclose(f);
    if (!n_lines) { lt_cli_error("bench serve: %s has no lines", dataset); goto done; }
  }
  unsigned long long st = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)seed;
#define NEXT() (st ^= st << 13, st ^= st >> 7, st ^= st << 17, st)
  for (long i = 0; i < num; i++) {
    lt_sbuf b = {0};
    int ol = (int)out_len;
    lt_sbuf_puts(&b, "{\"model\":");
    lt_sbuf_json_str(&b, mname, strlen(mname));
    lt_sbuf_puts(&b, ",\"prompt\":");
    if (dataset) {
      const char *ln = lines[i % n_lines];
      if (lt_json_parse(ln, strlen(ln), &doc)) { lt_cli_error("bench serve: %s line %ld: %s", dataset, i % n_lines + 1, latte_last_error()); goto done; }
      const lt_json *p = lt_json_get(lt_json_root(doc), "prompt");
      int64_t o;
      if (!p || p->type != LT_JSTR) { lt_cli_error("bench serve: %s line %ld: no \"prompt\" string", dataset, i % n_lines + 1); goto done; }
      lt_sbuf_json_str(&b, p->str, p->len);
      if (lt_json_int(lt_json_root(doc), "output_len", &o) && o > 0) ol = (int)o;
      lt_json_free(doc);
      doc = NULL;
    } else {
      /* as sglang's random dataset: lengths uniform in [len * ratio, len] */
      long il = in_len, lo = (long)(in_len * range_ratio), olo = (long)(out_len * range_ratio);
      if (range_ratio < 1) {
        il = lo + (long)(NEXT() % (unsigned long long)(in_len - lo + 1));
        ol = (int)(olo + (long)(NEXT() % (unsigned long long)(out_len - olo + 1)));
        if (il < 1) il = 1;
        if (ol < 1) ol = 1;
      }
      lt_sbuf_putc(&b, '[');
      for (long k = 0; k < il; k++) lt_sbuf_printf(&b, k ? ",%llu" : "%llu", 1000 + NEXT() % 99000);
      lt_sbuf_putc(&b, ']');
    }
    lt_sbuf_printf(&b, ",\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true,\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true}}", ol);
    if (b.oom) { lt_cli_error("out of memory"); goto done; }
    reqs[i].body = b.p;
    reqs[i].out_len = ol;
  }
  sem_t slots;
  if (conc) sem_init(&slots, 0, (unsigned)conc);
  printf("latte bench serve: %ld requests to %s (model %s), request rate %g/s, max concurrency %ld (0 = none)\n", num,
         base, mname, rate, conc);
  double t0 = now_s(), next = t0;
  long started = 0;
  for (long i = 0; i < num; i++) {
    if (isfinite(rate)) {
      double u = (double)(NEXT() >> 11) / 9007199254740992.0;
      next += -log(1 - u) / rate;
      double wait = next - now_s();
      if (wait > 0) { struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)}; nanosleep(&ts, NULL); }
    }
    jobs[i] = (job){.url = base, .api_key = api_key, .slots = conc ? &slots : NULL, .r = &reqs[i]};
    if (pthread_create(&th[i], NULL, run_one, &jobs[i])) { lt_cli_error("cannot start thread %ld", i); break; }
    started++;
  }
  for (long i = 0; i < started; i++) pthread_join(th[i], NULL);
  double dur = now_s() - t0;
  if (conc) sem_destroy(&slots);

  int ok = 0;
  long tin = 0, tout = 0, n_itl = 0;
  for (long i = 0; i < num; i++) if (reqs[i].ok) { ok++; tin += reqs[i].prompt_tokens; tout += reqs[i].output_tokens; n_itl += reqs[i].n_itl; }
  double *ttft = calloc((size_t)ok + 1, sizeof(double)), *tpot = calloc((size_t)ok + 1, sizeof(double));
  double *e2e = calloc((size_t)ok + 1, sizeof(double)), *itl = calloc((size_t)n_itl + 1, sizeof(double));
  int k = 0, kt = 0;
  long ki = 0;
  for (long i = 0; i < num; i++) {
    bench_req *q = &reqs[i];
    if (!q->ok) {
      if (i < 3 || ok == 0) fprintf(stderr, "latte: request %ld failed: %.*s\n", i, (int)q->err.n, q->err.p ? q->err.p : "");
      continue;
    }
    ttft[k] = q->ttft;
    e2e[k++] = q->e2e;
    if (q->output_tokens > 1) tpot[kt++] = (q->e2e - q->ttft) / (q->output_tokens - 1);
    for (int x = 0; x < q->n_itl; x++) itl[ki++] = q->itl[x];
  }
  printf("\n============ Serving Benchmark Result ============\n");
  printf("%-40s %s\n", "Backend:", "latte");
  if (isfinite(rate)) printf("%-40s %g\n", "Traffic request rate:", rate);
  else printf("%-40s %s\n", "Traffic request rate:", "inf");
  if (conc) printf("%-40s %ld\n", "Max request concurrency:", conc);
  else printf("%-40s %s\n", "Max request concurrency:", "not set");
  printf("%-40s %d\n", "Successful requests:", ok);
  printf("%-40s %ld\n", "Failed requests:", num - ok);
  printf("%-40s %.2f\n", "Benchmark duration (s):", dur);
  printf("%-40s %ld\n", "Total input tokens:", tin);
  printf("%-40s %ld\n", "Total generated tokens:", tout);
  printf("%-40s %.2f\n", "Request throughput (req/s):", ok / dur);
  printf("%-40s %.2f\n", "Input token throughput (tok/s):", tin / dur);
  printf("%-40s %.2f\n", "Output token throughput (tok/s):", tout / dur);
  printf("%-40s %.2f\n", "Total token throughput (tok/s):", (tin + tout) / dur);
  stat3("---------------Time to First Token----------------", "TTFT", ttft, k);
  stat3("-----Time per Output Token (excl. 1st token)------", "TPOT", tpot, kt);
  stat3("---------------Inter-token Latency----------------", "ITL", itl, (int)ki);
  stat3("----------------End-to-end Latency----------------", "E2E Latency", e2e, k);
  printf("==================================================\n");
  free(ttft); free(tpot); free(e2e); free(itl);
  rc = ok == num ? 0 : 1;
done:
  lt_json_free(doc);
  for (int i = 0; i < n_lines; i++) free(lines[i]);
  free(lines);
  for (long i = 0; reqs && i < num; i++) { free(reqs[i].body); free(reqs[i].itl); lt_sbuf_free(&reqs[i].line); lt_sbuf_free(&reqs[i].err); }
  free(reqs); free(jobs); free(th);
  free(mname);
  curl_global_cleanup();
  return rc;
}
