/* http.c — the HTTP side of the server on libmicrohttpd (one thread per connection): body
 * accumulation with a size cap (413), the API key check (401), routing to the endpoints, JSON error
 * objects, and streamed responses through MHD's content-reader callback (SSE). */
#include "server/server.h"
#include "base/err.h"
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct {
  lt_sbuf body;
  int too_large;
} conn_ctx;

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *ctype, const char *p, size_t n) {
  struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)(p ? p : ""), MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, lt_sbuf *b) {
  enum MHD_Result ok = b->oom ? send_buf(c, 500, "application/json", "{\"error\":{\"message\":\"out of memory\",\"type\":"
                                         "\"server_error\",\"param\":null,\"code\":500}}", 79)
                              : send_buf(c, status, "application/json", b->p, b->n);
  lt_sbuf_free(b);
  return ok;
}

static enum MHD_Result send_err(lt_server *s, struct MHD_Connection *c, const lt_srv_err *e) {
  lt_sbuf b = {0};
  lt_srv_err_json(e, &b);
  lt_metrics_count_error(&s->metrics);
  return send_json(c, e->status, &b);
}

static enum MHD_Result fail(lt_server *s, struct MHD_Connection *c, int status, const char *param, const char *code,
                            const char *msg) {
  lt_srv_err e;
  lt_srv_fail(&e, status, param, "%s", msg);
  if (code) snprintf(e.code, sizeof e.code, "%s", code);
  return send_err(s, c, &e);
}

static int auth_ok(lt_server *s, struct MHD_Connection *c) {
  if (!s->o.api_key) return 1;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
  h += 7;
  size_t a = strlen(h), b = strlen(s->o.api_key);
  unsigned diff = (unsigned)(a != b);
  for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned)(h[i] ^ s->o.api_key[i]);
  return diff == 0;
}

static int conn_fd(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci ? ci->connect_fd : -1;
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  lt_job *j = cls;
  for (;;) {
    if (j->out_off < j->out.n) {
      size_t k = j->out.n - j->out_off;
      if (k > max) k = max;
      memcpy(buf, j->out.p + j->out_off, k);
      j->out_off += k;
      return (ssize_t)k;
    }
    j->out.n = j->out_off = 0;
    if (j->stage == 1) return MHD_CONTENT_READER_END_OF_STREAM;
    if (j->all_done) {
      lt_resp_chunks(j, &j->out);
      lt_resp_final(j, &j->out);
      j->stage = 1;
      continue;
    }
    lt_job_pump(j, 0.25);
    lt_resp_chunks(j, &j->out);
    if (j->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (!j->out.n && lt_job_client_gone(j)) return MHD_CONTENT_READER_END_WITH_ERROR;
  }
}

static void sse_free(void *cls) { lt_job_finish(cls); }

static enum MHD_Result generate(lt_server *s, struct MHD_Connection *c, const lt_json *root, int chat) {
  lt_srv_err e;
  lt_oai_req *r = calloc(1, sizeof *r);
  if (!r) return fail(s, c, 500, NULL, NULL, "out of memory");
  if (lt_oai_parse(s, root, chat, r, &e)) {
    lt_oai_req_free(r);
    free(r);
    return send_err(s, c, &e);
  }
  int stream = r->stream;
  lt_job *j;
  if (lt_job_start(s, r, conn_fd(c), &j, &e)) return send_err(s, c, &e);
  if (stream) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_reader, j, sse_free);
    if (!resp) { lt_job_finish(j); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ok;
  }
  while (!j->all_done) {
    lt_job_pump(j, 0.25);
    if (!j->all_done && lt_job_client_gone(j)) { lt_job_finish(j); return MHD_NO; }
  }
  for (int i = 0; i < j->n_choices; i++)
    if (j->ch[i].finish_reason && !strcmp(j->ch[i].finish_reason, "error")) {
      lt_srv_fail(&e, 500, NULL, "generation failed: %s", j->ch[i].error ? j->ch[i].error : "unknown error");
      lt_job_finish(j);
      return send_err(s, c, &e);
    }
  lt_sbuf b = {0};
  lt_resp_full(j, &b);
  lt_job_finish(j);
  return send_json(c, 200, &b);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  lt_server *s = cls;
  conn_ctx *cc = *con_cls;
  if (!cc) {
    cc = calloc(1, sizeof *cc);
    if (!cc) return MHD_NO;
    *con_cls = cc;
    return MHD_YES;
  }
  if (*upload_size) {
    if (!cc->too_large) {
      if (cc->body.n + *upload_size > s->o.max_body) { cc->too_large = 1; lt_sbuf_free(&cc->body); }
      else lt_sbuf_put(&cc->body, upload, *upload_size);
    }
    *upload_size = 0;
    return MHD_YES;
  }
  int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
  int ready = atomic_load(&s->ready);
  if (!strcmp(url, "/health")) {
    if (!get) return fail(s, c, 405, NULL, NULL, "/health takes GET");
    if (!ready) return fail(s, c, 503, NULL, NULL, "the model is still loading");
    return send_buf(c, 200, "text/plain", "", 0);
  }
  if (!strcmp(url, "/metrics")) {
    if (!get) return fail(s, c, 405, NULL, NULL, "/metrics takes GET");
    lt_sbuf b = {0};
    lt_metrics_render(&s->metrics, ready ? s->sched : NULL, s->o.model_name, &b);
    enum MHD_Result ok = send_buf(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.n);
    lt_sbuf_free(&b);
    return ok;
  }
  int route = !strcmp(url, "/v1/models") ? 1 : !strcmp(url, "/v1/completions") ? 2 : !strcmp(url, "/v1/chat/completions") ? 3
            : !strcmp(url, "/tokenize") ? 4 : !strcmp(url, "/detokenize") ? 5 : 0;
  if (!route) {
    char msg[300];
    snprintf(msg, sizeof msg, "unknown path '%.200s'", url);
    return fail(s, c, 404, NULL, NULL, msg);
  }
  if (!auth_ok(s, c)) return fail(s, c, 401, NULL, "invalid_api_key", "missing or wrong API key (send Authorization: Bearer KEY)");
  if (route == 1 ? !get : !post) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s takes %s, not %.20s", url, route == 1 ? "GET" : "POST", method);
    return fail(s, c, 405, NULL, NULL, msg);
  }
  if (!ready) return fail(s, c, 503, NULL, NULL, "the model is still loading; retry when GET /health answers 200");
  if (route == 1) {
    lt_sbuf b = {0};
    lt_ep_models(s, &b);
    return send_json(c, 200, &b);
  }
  if (cc->too_large) {
    char msg[200];
    snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", s->o.max_body);
    return fail(s, c, 413, NULL, "request_too_large", msg);
  }
  lt_json_doc *doc = NULL;
  if (lt_json_parse(cc->body.p ? cc->body.p : "", cc->body.n, &doc)) {
    char msg[600];
    snprintf(msg, sizeof msg, "malformed JSON body: %s", latte_last_error());
    return fail(s, c, 400, NULL, NULL, msg);
  }
  const lt_json *root = lt_json_root(doc);
  enum MHD_Result ok;
  if (route == 2 || route == 3) {
    ok = generate(s, c, root, route == 3);
  } else {
    lt_srv_err e;
    lt_sbuf b = {0};
    if ((route == 4 ? lt_ep_tokenize : lt_ep_detokenize)(s, root, &b, &e)) { lt_sbuf_free(&b); ok = send_err(s, c, &e); }
    else ok = send_json(c, 200, &b);
  }
  lt_json_free(doc);
  return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  conn_ctx *cc = *con_cls;
  if (!cc) return;
  lt_sbuf_free(&cc->body);
  free(cc);
  *con_cls = NULL;
}

latte_status lt_server_start(const lt_server_opts *o, lt_server **out) {
  *out = NULL;
  lt_server *s = calloc(1, sizeof *s);
  if (!s) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  s->o = *o;
  if (!s->o.host) s->o.host = "127.0.0.1";
  if (!s->o.max_body) s->o.max_body = 32u << 20;
  if (!s->o.max_queue) s->o.max_queue = 4096;
  s->created = (long)time(NULL);
  s->bos_id = s->eos_id = -1;
  atomic_init(&s->next_id, 1);
  lt_metrics_init(&s->metrics);
  char port[16];
  snprintf(port, sizeof port, "%d", o->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int g = getaddrinfo(s->o.host, port, &hints, &ai);
  if (g || !ai) {
    lt_metrics_destroy(&s->metrics);
    free(s);
    return lt_err(LATTE_ERR_INVALID, "--host %s: %s", o->host, gai_strerror(g));
  }
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_LIMIT, 4096u,
                          MHD_OPTION_CONNECTION_TIMEOUT, 0u, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!s->d) {
    lt_metrics_destroy(&s->metrics);
    free(s);
    return lt_err(LATTE_ERR_IO, "cannot listen on %s:%d (port in use?)", o->host ? o->host : "127.0.0.1", o->port);
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : o->port;
  *out = s;
  return LATTE_OK;
}

void lt_server_free(lt_server *s) {
  if (!s) return;
  if (s->d) MHD_stop_daemon(s->d);
  lt_sched_free(s->sched);
  latte_model_free(s->m);
  lt_chat_template_free(s->tpl);
  lt_tok_free(s->tok);
  free(s->bos_text);
  free(s->eos_text);
  lt_metrics_destroy(&s->metrics);
  free(s);
}
