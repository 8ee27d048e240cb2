/* stream.c — a request's generation job: its choices are submitted to the scheduler, whose callback
 * queues each token event and signals; the connection's thread drains the queues and turns tokens into
 * text (streaming detokenizer), holds back text that may begin a stop string, splits content /
 * reasoning / tool calls, and collects logprobs. A vanished client or a hit stop string cancels. */
#include "server/server.h"
#include "base/err.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static void on_event(void *user, const lt_sched_event *ev) {
  lt_choice *c = user;
  lt_job *j = c->job;
  pthread_mutex_lock(&j->mu);
  if (c->qn == c->qcap) {
    int cap = c->qcap ? 2 * c->qcap : 16;
    lt_qev *q = realloc(c->q, sizeof *q * (size_t)cap);
    if (q) { c->q = q; c->qcap = cap; }
  }
  if (c->qn < c->qcap) {
    lt_qev *q = &c->q[c->qn++];
    q->ev = *ev;
    q->ev.error = NULL;
    q->t = lt_now();
    q->err = ev->error ? strdup(ev->error) : NULL;
  } else if (ev->finish) {        /* out of memory: keep at least the end of the request */
    c->done = 1;
    c->finish_reason = "error";
  }
  if (ev->finish) c->sched_done = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
}

int lt_job_start(lt_server *s, lt_oai_req *req, int fd, lt_job **out, lt_srv_err *e) {
  *out = NULL;
  int nc = req->n_prompts * req->n;
  if (atomic_load(&s->inflight) + nc > s->o.max_queue) {
    lt_oai_req_free(req);
    free(req);
    return lt_srv_fail(e, 503, NULL, "the server is overloaded (%d requests in flight); retry later", atomic_load(&s->inflight));
  }
  lt_job *j = calloc(1, sizeof *j);
  lt_choice *ch = calloc((size_t)nc, sizeof *ch);
  if (!j || !ch) { free(j); free(ch); lt_oai_req_free(req); free(req); return lt_srv_fail(e, 500, NULL, "out of memory"); }
  j->srv = s;
  j->req = req;
  j->ch = ch;
  j->n_choices = nc;
  j->fd = fd;
  j->t_arrive = lt_now();
  j->created = (long)time(NULL);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  snprintf(j->id, sizeof j->id, "%s-%llx%08llx", req->chat ? "chatcmpl" : "cmpl", (unsigned long long)j->created,
           (unsigned long long)atomic_fetch_add(&s->next_id, 1));
  atomic_fetch_add(&s->inflight, nc);
  int failed = 0;
  for (int i = 0; i < nc; i++) {
    lt_choice *c = &ch[i];
    c->job = j;
    c->prompt_idx = i / req->n;
    c->ds = lt_detok_stream_new(s->tok, 1);
    lt_tc_init(&c->tc, req->parse_tools, !req->chat ? 0 : req->think_open ? 2 : 1);
    if (!c->ds) { lt_srv_fail(e, 500, NULL, "out of memory"); failed = 1; break; }
  }
  for (int i = 0; i < nc && !failed; i++) {
    lt_choice *c = &ch[i];
    lt_sampling sp = req->sp;
    if (sp.has_seed) sp.seed += (uint64_t)(i % req->n);   /* n choices with one seed still differ */
    c->id = lt_sched_submit(s->sched, req->prompts[c->prompt_idx], req->prompt_lens[c->prompt_idx], &sp, on_event, c);
    if (!c->id) { lt_srv_fail(e, 400, NULL, "%s", latte_last_error()); failed = 1; }
  }
  if (failed) {
    for (int i = 0; i < nc; i++) ch[i].done = 1;
    j->all_done = 1;
    lt_job_finish(j);
    return -1;
  }
  *out = j;
  return 0;
}

int lt_job_client_gone(const lt_job *j) {
  if (j->fd < 0) return 0;
  char b;
  ssize_t r = recv(j->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0) return 1;
  return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* A token's text for logprobs (special tokens shown as written). */
static char *tok_text(lt_server *s, int32_t id, size_t *len) {
  char *t = NULL;
  if (lt_tok_decode(s->tok, &id, 1, 0, &t, len)) { *len = 0; return strdup(""); }
  return t;
}

static void json_bytes(lt_sbuf *o, const char *t, size_t n) {
  lt_sbuf_putc(o, '[');
  for (size_t i = 0; i < n; i++) lt_sbuf_printf(o, i ? ",%u" : "%u", (unsigned char)t[i]);
  lt_sbuf_putc(o, ']');
}

static void add_logprobs(lt_choice *c, const lt_sched_event *ev) {
  lt_server *s = c->job->srv;
  size_t n;
  char *t = tok_text(s, ev->token, &n);
  if (!t) return;
  if (c->job->req->chat) {
    if (c->lp.n) lt_sbuf_putc(&c->lp, ',');
    lt_sbuf_puts(&c->lp, "{\"token\":");
    lt_sbuf_json_str(&c->lp, t, n);
    lt_sbuf_puts(&c->lp, ",\"logprob\":");
    lt_json_float(&c->lp, ev->logprob);
    lt_sbuf_puts(&c->lp, ",\"bytes\":");
    json_bytes(&c->lp, t, n);
    lt_sbuf_puts(&c->lp, ",\"top_logprobs\":[");
    for (int k = 0; k < ev->n_top; k++) {
      size_t m;
      char *u = tok_text(s, ev->top_ids[k], &m);
      if (!u) continue;
      if (k) lt_sbuf_putc(&c->lp, ',');
      lt_sbuf_puts(&c->lp, "{\"token\":");
      lt_sbuf_json_str(&c->lp, u, m);
      lt_sbuf_puts(&c->lp, ",\"logprob\":");
      lt_json_float(&c->lp, ev->top_logprobs[k]);
      lt_sbuf_puts(&c->lp, ",\"bytes\":");
      json_bytes(&c->lp, u, m);
      lt_sbuf_putc(&c->lp, '}');
      free(u);
    }
    lt_sbuf_puts(&c->lp, "]}");
  } else {
    const char *sep = c->n_lp ? "," : "";
    lt_sbuf_puts(&c->lp_tok, sep);
    lt_sbuf_json_str(&c->lp_tok, t, n);
    lt_sbuf_puts(&c->lp_val, sep);
    lt_json_float(&c->lp_val, ev->logprob);
    lt_sbuf_printf(&c->lp_off, "%s%zu", sep, c->text_off);
    lt_sbuf_puts(&c->lp_top, sep);
    lt_sbuf_putc(&c->lp_top, '{');
    for (int k = 0; k < ev->n_top; k++) {
      size_t m;
      char *u = tok_text(s, ev->top_ids[k], &m);
      if (!u) continue;
      if (k) lt_sbuf_putc(&c->lp_top, ',');
      lt_sbuf_json_str(&c->lp_top, u, m);
      lt_sbuf_putc(&c->lp_top, ':');
      lt_json_float(&c->lp_top, ev->top_logprobs[k]);
      free(u);
    }
    lt_sbuf_putc(&c->lp_top, '}');
    c->text_off += n;
  }
  c->n_lp++;
  free(t);
}

/* Longest k < len(stop) with the end of t equal to the start of stop. */
static size_t stop_partial(const char *t, size_t n, const char *stop) {
  size_t k = strlen(stop) - 1;
  if (k > n) k = n;
  for (; k > 0; k--)
    if (!memcmp(t + n - k, stop, k)) return k;
  return 0;
}

/* New text of a choice: stop strings first (held back while they may still match), then the parser. */
static void feed_text(lt_choice *c, const char *t, size_t n, int final) {
  lt_oai_req *r = c->job->req;
  lt_sbuf *h = &c->hold;
  lt_sbuf_put(h, t, n);
  size_t cut = h->n, keep = 0;
  int hit = 0;
  for (int i = 0; i < r->n_stops; i++) {
    const char *p = h->n ? memmem(h->p, h->n, r->stops[i], strlen(r->stops[i])) : NULL;
    if (p && (size_t)(p - h->p) < cut) { cut = (size_t)(p - h->p); hit = 1; }
  }
  if (!hit && !final)
    for (int i = 0; i < r->n_stops; i++) {
      size_t k = stop_partial(h->p, h->n, r->stops[i]);
      if (k > keep) keep = k;
    }
  if (!hit) cut = h->n - keep;
  lt_tc_feed(&c->tc, h->p, cut, final || hit, &c->out);
  if (hit) h->n = 0;
  else if (cut) { memmove(h->p, h->p + cut, h->n - cut); h->n -= cut; }
  if (hit) {
    c->done = 1;
    c->finish_reason = "stop";
    lt_sched_cancel(c->job->srv->sched, c->id);
  }
}

static void finish_reason(lt_choice *c, const lt_sched_event *ev, const char *err) {
  switch (ev->finish) {
  case LT_FINISH_STOP: c->finish_reason = "stop"; break;
  case LT_FINISH_LENGTH: c->finish_reason = "length"; break;
  case LT_FINISH_CANCELLED: c->finish_reason = "abort"; break;
  default:
    c->finish_reason = "error";
    free(c->error);
    c->error = strdup(err ? err : "generation failed");
  }
}

static void process(lt_choice *c, const lt_qev *q) {
  lt_job *j = c->job;
  lt_server *s = j->srv;
  const lt_sched_event *ev = &q->ev;
  if (c->done) return;
  c->prompt_tokens = ev->prompt_tokens;
  c->cached_tokens = ev->cached_tokens;
  c->completion_tokens = ev->completion_tokens;
  if (ev->token >= 0) {
    if (!j->first_token_seen) { j->first_token_seen = 1; lt_metrics_observe_ttft(&s->metrics, q->t - j->t_arrive); }
    else if (c->t_last > 0) lt_metrics_observe_itl(&s->metrics, q->t - c->t_last);
    c->t_last = q->t;
    if (j->t_end < q->t) j->t_end = q->t;
    if (c->n_ids == c->cap_ids) {
      int cap = c->cap_ids ? 2 * c->cap_ids : 64;
      int32_t *p = realloc(c->ids, sizeof(int32_t) * (size_t)cap);
      if (p) { c->ids = p; c->cap_ids = cap; }
    }
    if (c->n_ids < c->cap_ids) c->ids[c->n_ids++] = ev->token;
    int stop_tok = 0;
    if (ev->finish == LT_FINISH_STOP) {
      stop_tok = !j->req->sp.ignore_eos && ev->token == s->eos_id;
      for (int i = 0; i < j->req->sp.n_stop_ids; i++) stop_tok |= ev->token == j->req->sp.stop_ids[i];
    }
    if (!stop_tok) {
      if (j->req->want_logprobs) add_logprobs(c, ev);
      c->piece.n = 0;
      lt_detok_stream_push(c->ds, ev->token, &c->piece);
      if (c->piece.n) feed_text(c, c->piece.p, c->piece.n, 0);
    }
  }
  if (ev->finish && !c->done) {
    if (j->t_end < q->t) j->t_end = q->t;
    c->piece.n = 0;
    lt_detok_stream_flush(c->ds, &c->piece);
    feed_text(c, c->piece.p ? c->piece.p : "", c->piece.n, 1);
    if (!c->done) finish_reason(c, ev, q->err);
    c->done = 1;
  }
  if (c->done && !strcmp(c->finish_reason, "stop") && c->tc.n_calls > 0) c->finish_reason = "tool_calls";
}

void lt_job_pump(lt_job *j, double timeout_s) {
  int nc = j->n_choices;
  lt_qev **qs = calloc((size_t)nc, sizeof *qs);
  int *qn = calloc((size_t)nc, sizeof *qn);
  if (!qs || !qn) { free(qs); free(qn); return; }
  pthread_mutex_lock(&j->mu);
  int any = 0, live = 0;
  for (int i = 0; i < nc; i++) { any |= j->ch[i].qn > 0; live |= !j->ch[i].done; }
  if (!any && live) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(timeout_s * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
  }
  for (int i = 0; i < nc; i++) {
    qs[i] = j->ch[i].q;
    qn[i] = j->ch[i].qn;
    j->ch[i].q = NULL;
    j->ch[i].qn = j->ch[i].qcap = 0;
  }
  pthread_mutex_unlock(&j->mu);
  int all = 1;
  for (int i = 0; i < nc; i++) {
    for (int k = 0; k < qn[i]; k++) {
      process(&j->ch[i], &qs[i][k]);
      free(qs[i][k].err);
    }
    free(qs[i]);
    all &= j->ch[i].done;
  }
  j->all_done = all;
  free(qs);
  free(qn);
}

void lt_job_finish(lt_job *j) {
  lt_server *s = j->srv;
  for (int i = 0; i < j->n_choices; i++) {
    pthread_mutex_lock(&j->mu);
    int need = j->ch[i].id && !j->ch[i].sched_done;
    pthread_mutex_unlock(&j->mu);
    if (need) lt_sched_cancel(s->sched, j->ch[i].id);
  }
  pthread_mutex_lock(&j->mu);
  for (;;) {
    int wait = 0;
    for (int i = 0; i < j->n_choices; i++) wait |= j->ch[i].id && !j->ch[i].sched_done;
    if (!wait) break;
    pthread_cond_wait(&j->cv, &j->mu);
  }
  pthread_mutex_unlock(&j->mu);
  int submitted = 0;
  for (int i = 0; i < j->n_choices; i++) {
    lt_choice *c = &j->ch[i];
    if (c->id) {
      submitted = 1;
      const char *r = c->finish_reason ? c->finish_reason : "abort";
      lt_metrics_count_finish(&s->metrics, !strcmp(r, "length") ? 1 : !strcmp(r, "stop") || !strcmp(r, "tool_calls") ? 0 : 2);
    }
    for (int k = 0; k < c->qn; k++) free(c->q[k].err);
    free(c->q);
    free(c->error);
    lt_detok_stream_free(c->ds);
    lt_sbuf_free(&c->piece);
    lt_sbuf_free(&c->hold);
    lt_tc_free(&c->tc);
    lt_tc_out_free(&c->out);
    lt_sbuf_free(&c->lp);
    lt_sbuf_free(&c->lp_tok);
    lt_sbuf_free(&c->lp_val);
    lt_sbuf_free(&c->lp_top);
    lt_sbuf_free(&c->lp_off);
    free(c->ids);
  }
  if (submitted && j->first_token_seen) lt_metrics_observe_e2e(&s->metrics, j->t_end - j->t_arrive);
  atomic_fetch_sub(&s->inflight, j->n_choices);
  pthread_cond_destroy(&j->cv);
  pthread_mutex_destroy(&j->mu);
  lt_oai_req_free(j->req);
  free(j->req);
  lt_sbuf_free(&j->out);
  free(j->ch);
  free(j);
}
