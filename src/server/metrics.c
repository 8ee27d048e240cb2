/* metrics.c — histograms and counters of the server and their Prometheus text (see metrics.h).
 * Metric names follow vLLM's (vllm:* → latte:*) so existing dashboards map one to one. */
#include "server/metrics.h"
#include <string.h>
#include <time.h>

double lt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void hist_init(lt_hist *h, const double *le, int n) {
  memset(h, 0, sizeof *h);
  h->n = n;
  memcpy(h->le, le, sizeof(double) * (size_t)n);
}

void lt_metrics_init(lt_metrics *m) {
  static const double ttft[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                                2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
  static const double itl[] = {0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15,
                               0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0};
  static const double e2e[] = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
                               60.0, 120.0, 240.0, 480.0, 960.0, 1920.0};
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
  hist_init(&m->ttft, ttft, (int)(sizeof ttft / sizeof ttft[0]));
  hist_init(&m->itl, itl, (int)(sizeof itl / sizeof itl[0]));
  hist_init(&m->e2e, e2e, (int)(sizeof e2e / sizeof e2e[0]));
}

void lt_metrics_destroy(lt_metrics *m) { pthread_mutex_destroy(&m->mu); }

static void observe(lt_metrics *m, lt_hist *h, double s) {
  if (s < 0) s = 0;
  pthread_mutex_lock(&m->mu);
  int b = 0;
  while (b < h->n && s > h->le[b]) b++;
  if (b < h->n) h->count[b]++;
  h->total++;
  h->sum += s;
  pthread_mutex_unlock(&m->mu);
}

void lt_metrics_observe_ttft(lt_metrics *m, double s) { observe(m, &m->ttft, s); }
void lt_metrics_observe_itl(lt_metrics *m, double s) { observe(m, &m->itl, s); }
void lt_metrics_observe_e2e(lt_metrics *m, double s) { observe(m, &m->e2e, s); }

void lt_metrics_count_finish(lt_metrics *m, int which) {
  pthread_mutex_lock(&m->mu);
  if (which >= 0 && which < 3) m->req_ok[which]++;
  pthread_mutex_unlock(&m->mu);
}

void lt_metrics_count_error(lt_metrics *m) {
  pthread_mutex_lock(&m->mu);
  m->req_err++;
  pthread_mutex_unlock(&m->mu);
}

static void render_hist(lt_sbuf *o, const char *name, const char *help, const lt_hist *h, const char *lbl) {
  lt_sbuf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (int b = 0; b < h->n; b++) {
    cum += h->count[b];
    lt_sbuf_printf(o, "%s_bucket{%s,le=\"%g\"} %llu\n", name, lbl, h->le[b], (unsigned long long)cum);
  }
  lt_sbuf_printf(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, lbl, (unsigned long long)h->total);
  lt_sbuf_printf(o, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, lbl, h->sum, name, lbl, (unsigned long long)h->total);
}

static void scalar(lt_sbuf *o, const char *name, const char *type, const char *help, const char *lbl, double v) {
  lt_sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s{%s} %.17g\n", name, help, name, type, name, lbl, v);
}

void lt_metrics_render(lt_metrics *m, lt_sched *sched, const char *model_name, lt_sbuf *o) {
  lt_sched_stats st;
  memset(&st, 0, sizeof st);
  if (sched) lt_sched_get_stats(sched, &st);
  /* The model name is a label value: escape backslash, quote and newline. */
  lt_sbuf lbl = {0};
  lt_sbuf_puts(&lbl, "model_name=\"");
  for (const char *c = model_name; *c; c++) {
    if (*c == '\\' || *c == '"') { lt_sbuf_putc(&lbl, '\\'); lt_sbuf_putc(&lbl, *c); }
    else if (*c == '\n') lt_sbuf_puts(&lbl, "\\n");
    else lt_sbuf_putc(&lbl, *c);
  }
  lt_sbuf_putc(&lbl, '"');
  const char *l = lbl.p ? lbl.p : "";
  scalar(o, "latte:num_requests_running", "gauge", "Requests in the running batch.", l, st.running);
  scalar(o, "latte:num_requests_waiting", "gauge", "Requests waiting to be scheduled.", l, st.waiting);
  scalar(o, "latte:kv_cache_usage_perc", "gauge", "KV-cache usage: 1 means 100 percent (pages referenced by requests).", l, st.kv_usage);
  scalar(o, "latte:kv_cache_pages_total", "gauge", "KV-cache pages in the pool.", l, st.pages_total);
  scalar(o, "latte:kv_cache_pages_used", "gauge", "KV-cache pages referenced by requests.", l, st.pages_used);
  scalar(o, "latte:kv_cache_pages_cached", "gauge", "KV-cache pages held only by the prefix cache.", l, st.pages_cached);
  scalar(o, "latte:prefix_cache_hit_rate", "gauge", "Prompt tokens served from the prefix cache / prompt tokens.", l, st.prefix_hit_rate);
  scalar(o, "latte:prompt_tokens_total", "counter", "Prefill tokens processed.", l, (double)st.prompt_tokens_total);
  scalar(o, "latte:prompt_tokens_cached_total", "counter", "Prompt tokens served from the prefix cache.", l, (double)st.cached_tokens_total);
  scalar(o, "latte:generation_tokens_total", "counter", "Generated tokens.", l, (double)st.generation_tokens_total);
  scalar(o, "latte:num_preemptions_total", "counter", "Requests preempted for lack of KV pages.", l, (double)st.preemptions);
  pthread_mutex_lock(&m->mu);
  static const char *reasons[3] = {"stop", "length", "abort"};
  lt_sbuf_puts(o, "# HELP latte:request_success_total Finished requests by finish reason.\n"
                  "# TYPE latte:request_success_total counter\n");
  for (int i = 0; i < 3; i++)
    lt_sbuf_printf(o, "latte:request_success_total{%s,finished_reason=\"%s\"} %llu\n", l, reasons[i],
                   (unsigned long long)m->req_ok[i]);
  scalar(o, "latte:request_error_total", "counter", "Requests answered with an error status.", l, (double)m->req_err);
  render_hist(o, "latte:time_to_first_token_seconds", "Time from arrival to the first generated token.", &m->ttft, l);
  render_hist(o, "latte:inter_token_latency_seconds", "Time between consecutive generated tokens.", &m->itl, l);
  render_hist(o, "latte:e2e_request_latency_seconds", "Time from arrival to the last token.", &m->e2e, l);
  pthread_mutex_unlock(&m->mu);
  lt_sbuf_free(&lbl);
}
