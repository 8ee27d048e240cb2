/* server.h — the OpenAI-compatible HTTP server (libmicrohttpd, one thread per connection) over the
 * continuous-batching scheduler: shared state, the parsed request, the per-request generation job
 * and the functions each part (http.c, openai_*.c, stream.c, endpoints.c) offers the others. */
#ifndef LT_SERVER_H
#define LT_SERVER_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "latte.h"
#include "base/json.h"
#include "runtime/scheduler.h"
#include "server/metrics.h"
#include "server/toolcall.h"
#include "text/chat.h"
#include "text/tokenizer.h"

typedef struct {
  const char *host;          /* default 127.0.0.1 */
  int port;                  /* default 8000; 0 = any free port */
  const char *api_key;       /* NULL: no authentication */
  const char *model_name;    /* the name clients send in "model" */
  const char *model_dir;
  int allow_special;         /* special-token text in prompts/user content is parsed as special tokens */
  size_t max_body;           /* bytes; larger bodies get 413 */
  int max_queue;             /* most unfinished requests (choices) before new ones get 503 */
} lt_server_opts;

typedef struct lt_server lt_server;
struct lt_server {
  lt_server_opts o;
  struct MHD_Daemon *d;
  int port;                   /* bound port */
  atomic_int ready;           /* 0 loading, 1 serving */
  latte_model *m;
  lt_sched *sched;
  lt_tokenizer *tok;
  lt_chat_template *tpl;      /* NULL: the model has no chat template */
  char *bos_text, *eos_text;
  int add_bos;
  int32_t bos_id, eos_id;
  int max_context;
  lt_metrics metrics;
  atomic_int inflight;        /* choices submitted and not yet finished */
  atomic_ullong next_id;
  long created;
};

/* Starts listening (health answers 503 until lt_server_load finishes). */
latte_status lt_server_start(const lt_server_opts *o, lt_server **out);
/* Loads tokenizer, chat template, model and scheduler, then marks the server ready. */
latte_status lt_server_load(lt_server *s, const latte_load_opts *lo, const lt_sched_opts *so);
/* Stops listening, cancels everything and frees. */
void lt_server_free(lt_server *s);

/* ---- errors: OpenAI error objects ---- */
typedef struct {
  int status;                 /* HTTP status */
  char param[64];             /* offending field, "" if none */
  char code[48];              /* machine-readable code, "" for null */
  char msg[768];
} lt_srv_err;
/* Fills e and returns -1. */
int lt_srv_fail(lt_srv_err *e, int status, const char *param, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* {"error": {"message", "type", "param", "code"}} for e. */
void lt_srv_err_json(const lt_srv_err *e, lt_sbuf *out);

/* ---- a parsed /v1/completions or /v1/chat/completions request ---- */
typedef struct {
  int chat;
  int n_prompts;              /* completions may batch prompts; chat has 1 */
  int32_t **prompts;
  int *prompt_lens;
  int n;                      /* choices per prompt */
  lt_sampling sp;             /* sp.stop_ids points into stop_ids */
  int32_t *stop_ids;
  char **stops;               /* stop strings */
  int n_stops;
  int stream, include_usage;
  int want_logprobs, top_logprobs;
  int parse_tools;            /* tools given and tool_choice != "none" */
  int think_open;             /* the rendered prompt ends inside <think> */
  int return_token_ids;
} lt_oai_req;

/* Parses and validates the body; renders chat messages and tokenizes. 0 or -1 with e filled. */
int lt_oai_parse(lt_server *s, const lt_json *root, int chat, lt_oai_req *r, lt_srv_err *e);
void lt_oai_req_free(lt_oai_req *r);
/* Checks "model" (absent is fine): 0, or -1 with a 404 in e. */
int lt_oai_check_model(lt_server *s, const lt_json *root, lt_srv_err *e);

/* Chat prompt: messages (+tools) → ids with the model's template. User content is plain text unless
 * allow_special. *think_open tells whether the prompt ends with an open <think>. */
int lt_chat_prompt(lt_server *s, const lt_json *messages, const lt_json *tools, int32_t **ids, int *n,
                   int *think_open, lt_srv_err *e);
/* Completion prompt text → ids (BOS per add_bos_token, special tokens per allow_special). */
int lt_text_prompt(lt_server *s, const char *text, size_t len, int32_t **ids, int *n, lt_srv_err *e);

/* ---- a generation job: the request's choices running in the scheduler ---- */
typedef struct {
  lt_sched_event ev;
  double t;                   /* when the scheduler reported it (lt_now) */
  char *err;
} lt_qev;

typedef struct {
  struct lt_job *job;
  uint64_t id;                /* scheduler request id, 0 if not submitted */
  int prompt_idx;
  /* filled by the scheduler thread, under job->mu */
  lt_qev *q;
  int qn, qcap;
  int sched_done;
  /* consumer side (the connection's thread) */
  int done;                   /* no more output */
  const char *finish_reason;  /* "stop", "length", "tool_calls", "abort", "error" */
  char *error;
  lt_detok_stream *ds;
  lt_sbuf piece, hold;        /* new text of one token; text held back for stop strings */
  lt_tc_parser tc;
  lt_tc_out out;              /* content / reasoning / tool calls not yet sent (all of it when not streaming) */
  lt_sbuf lp;                 /* logprob entries not yet sent, JSON items joined by ',' (chat), see stream.c */
  lt_sbuf lp_tok, lp_val, lp_top, lp_off;  /* completions logprobs columns */
  int n_lp;
  size_t text_off;
  int32_t *ids;
  int n_ids, cap_ids;
  int prompt_tokens, cached_tokens, completion_tokens;
  double t_last;
  int role_sent, finish_sent;
} lt_choice;

typedef struct lt_job {
  lt_server *srv;
  lt_oai_req *req;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n_choices;
  lt_choice *ch;
  double t_arrive, t_end;
  int first_token_seen;
  int fd;                     /* client socket (disconnect checks), -1 if unknown */
  char id[64];
  long created;
  int all_done;
  lt_sbuf out;                /* SSE bytes not yet handed to MHD */
  size_t out_off;
  int stage;                  /* streaming: 0 generating, 1 [DONE] queued */
} lt_job;

/* Submits every choice. 0, or -1 with e filled (nothing left running). Takes ownership of req. */
int lt_job_start(lt_server *s, lt_oai_req *req, int fd, lt_job **out, lt_srv_err *e);
/* Waits up to timeout_s for events and processes them; sets job->all_done when every choice ended. */
void lt_job_pump(lt_job *j, double timeout_s);
int lt_job_client_gone(const lt_job *j);
/* Cancels unfinished choices, waits for the scheduler to let go of them, records metrics, frees. */
void lt_job_finish(lt_job *j);

/* ---- responses ---- */
void lt_resp_full(const lt_job *j, lt_sbuf *out);       /* the non-streamed JSON body */
void lt_resp_chunks(lt_job *j, lt_sbuf *out);           /* SSE chunks for what is new; clears it */
void lt_resp_final(lt_job *j, lt_sbuf *out);            /* usage chunk (if asked) and data: [DONE] */
void lt_json_float(lt_sbuf *b, double v);               /* finite JSON number */

/* ---- other endpoints: 200 with body, or -1 with e ---- */
int lt_ep_models(lt_server *s, lt_sbuf *out);
int lt_ep_tokenize(lt_server *s, const lt_json *root, lt_sbuf *out, lt_srv_err *e);
int lt_ep_detokenize(lt_server *s, const lt_json *root, lt_sbuf *out, lt_srv_err *e);
#endif
