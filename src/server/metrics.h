/* metrics.h — the server's Prometheus metrics: latency histograms (time to first token, inter-token
 * latency, end-to-end latency) and request counters kept here; token counters, queue lengths, KV
 * usage and the prefix-cache hit rate read from the scheduler when /metrics is scraped. */
#ifndef LT_METRICS_H
#define LT_METRICS_H
#include <pthread.h>
#include <stdint.h>
#include "base/json.h"
#include "runtime/scheduler.h"

#define LT_HIST_MAX_BUCKETS 24
typedef struct {
  int n;                               /* buckets (the +Inf bucket is implied) */
  double le[LT_HIST_MAX_BUCKETS];      /* upper bounds, seconds */
  uint64_t count[LT_HIST_MAX_BUCKETS]; /* per bucket (not cumulative) */
  uint64_t total;
  double sum;
} lt_hist;

typedef struct {
  pthread_mutex_t mu;
  lt_hist ttft, itl, e2e;
  uint64_t req_ok[3];                  /* finished: stop, length, abort */
  uint64_t req_err;                    /* answered with an error status */
} lt_metrics;

void lt_metrics_init(lt_metrics *m);
void lt_metrics_destroy(lt_metrics *m);
void lt_metrics_observe_ttft(lt_metrics *m, double s);
void lt_metrics_observe_itl(lt_metrics *m, double s);
void lt_metrics_observe_e2e(lt_metrics *m, double s);
void lt_metrics_count_finish(lt_metrics *m, int which);  /* 0 stop, 1 length, 2 abort */
void lt_metrics_count_error(lt_metrics *m);
/* Prometheus text exposition (version 0.0.4); sched may be NULL while loading. */
void lt_metrics_render(lt_metrics *m, lt_sched *sched, const char *model_name, lt_sbuf *out);
double lt_now(void);                   /* monotonic seconds */
#endif
