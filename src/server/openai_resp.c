/* openai_resp.c — OpenAI response bodies from a job's choices: the whole chat.completion /
 * text_completion object, the SSE chunks (chat.completion.chunk deltas; text_completion pieces) and
 * the closing usage chunk and "data: [DONE]". */
#include "server/server.h"
#include <math.h>
#include <string.h>

void lt_json_float(lt_sbuf *b, double v) {
  if (!isfinite(v)) v = v > 0 ? 3.4e38 : -9999.0;   /* JSON has no infinities */
  lt_sbuf_printf(b, "%.9g", v);
}

static void head(const lt_job *j, lt_sbuf *o, const char *object) {
  lt_sbuf_puts(o, "{\"id\":");
  lt_sbuf_json_str(o, j->id, strlen(j->id));
  lt_sbuf_printf(o, ",\"object\":\"%s\",\"created\":%ld,\"model\":", object, j->created);
  lt_sbuf_json_str(o, j->srv->o.model_name, strlen(j->srv->o.model_name));
}

static void usage(const lt_job *j, lt_sbuf *o) {
  long p = 0, c = 0, k = 0;
  const lt_oai_req *r = j->req;
  for (int i = 0; i < j->n_choices; i++) {
    const lt_choice *ch = &j->ch[i];
    c += ch->completion_tokens;
    if (i % r->n == 0) { p += r->prompt_lens[ch->prompt_idx]; k += ch->cached_tokens; }
  }
  lt_sbuf_printf(o, "\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld,"
                    "\"prompt_tokens_details\":{\"cached_tokens\":%ld}}", p, c, p + c, k);
}

static void str_or_null(lt_sbuf *o, const lt_sbuf *s) {
  if (s->n) lt_sbuf_json_str(o, s->p, s->n);
  else lt_sbuf_puts(o, "null");
}

static void tool_calls(const lt_job *j, const lt_choice *c, lt_sbuf *o, int with_index) {
  lt_sbuf_puts(o, "\"tool_calls\":[");
  for (int k = 0; k < c->out.n_calls; k++) {
    const lt_tool_call *t = &c->out.calls[k];
    if (k) lt_sbuf_putc(o, ',');
    lt_sbuf_putc(o, '{');
    if (with_index) lt_sbuf_printf(o, "\"index\":%d,", t->index);
    lt_sbuf_printf(o, "\"id\":\"call_%s_%d_%d\",\"type\":\"function\",\"function\":{\"name\":", j->id + (j->req->chat ? 9 : 5),
                   (int)(c - j->ch), t->index);
    lt_sbuf_json_str(o, t->name, strlen(t->name));
    lt_sbuf_puts(o, ",\"arguments\":");
    lt_sbuf_json_str(o, t->args, strlen(t->args));
    lt_sbuf_puts(o, "}}");
  }
  lt_sbuf_putc(o, ']');
}

static void logprobs(const lt_job *j, const lt_choice *c, lt_sbuf *o) {
  if (!j->req->want_logprobs) { lt_sbuf_puts(o, "null"); return; }
  if (j->req->chat) {
    lt_sbuf_puts(o, "{\"content\":[");
    if (c->lp.n) lt_sbuf_put(o, c->lp.p, c->lp.n);
    lt_sbuf_puts(o, "]}");
    return;
  }
  const lt_sbuf *cols[4] = {&c->lp_tok, &c->lp_val, &c->lp_top, &c->lp_off};
  const char *names[4] = {"tokens", "token_logprobs", "top_logprobs", "text_offset"};
  lt_sbuf_putc(o, '{');
  for (int i = 0; i < 4; i++) {
    lt_sbuf_printf(o, "%s\"%s\":[", i ? "," : "", names[i]);
    if (cols[i]->n) lt_sbuf_put(o, cols[i]->p, cols[i]->n);
    lt_sbuf_putc(o, ']');
  }
  lt_sbuf_putc(o, '}');
}

static void token_ids(const lt_choice *c, lt_sbuf *o) {
  lt_sbuf_puts(o, ",\"token_ids\":[");
  for (int i = 0; i < c->n_ids; i++) lt_sbuf_printf(o, i ? ",%d" : "%d", c->ids[i]);
  lt_sbuf_putc(o, ']');
}

static const char *reason(const lt_choice *c) { return c->finish_reason ? c->finish_reason : "abort"; }

void lt_resp_full(const lt_job *j, lt_sbuf *o) {
  const lt_oai_req *r = j->req;
  head(j, o, r->chat ? "chat.completion" : "text_completion");
  lt_sbuf_puts(o, ",\"choices\":[");
  for (int i = 0; i < j->n_choices; i++) {
    const lt_choice *c = &j->ch[i];
    if (i) lt_sbuf_putc(o, ',');
    lt_sbuf_printf(o, "{\"index\":%d,", i);
    if (r->chat) {
      lt_sbuf_puts(o, "\"message\":{\"role\":\"assistant\",\"content\":");
      if (c->out.content.n || !c->out.n_calls) lt_sbuf_json_str(o, c->out.content.p ? c->out.content.p : "", c->out.content.n);
      else lt_sbuf_puts(o, "null");
      lt_sbuf_puts(o, ",\"reasoning_content\":");
      str_or_null(o, &c->out.reasoning);
      if (c->out.n_calls) { lt_sbuf_putc(o, ','); tool_calls(j, c, o, 0); }
      lt_sbuf_puts(o, "},");
    } else {
      lt_sbuf_puts(o, "\"text\":");
      lt_sbuf_json_str(o, c->out.content.p ? c->out.content.p : "", c->out.content.n);
      lt_sbuf_putc(o, ',');
    }
    lt_sbuf_puts(o, "\"logprobs\":");
    logprobs(j, c, o);
    lt_sbuf_printf(o, ",\"finish_reason\":\"%s\"", reason(c));
    if (r->return_token_ids) token_ids(c, o);
    lt_sbuf_putc(o, '}');
  }
  lt_sbuf_puts(o, "],");
  usage(j, o);
  lt_sbuf_putc(o, '}');
}

static void reset_delta(lt_choice *c) {
  lt_tc_out_reset(&c->out);
  c->lp.n = c->lp_tok.n = c->lp_val.n = c->lp_top.n = c->lp_off.n = 0;
  c->n_lp = 0;
}

void lt_resp_chunks(lt_job *j, lt_sbuf *o) {
  const lt_oai_req *r = j->req;
  for (int i = 0; i < j->n_choices; i++) {
    lt_choice *c = &j->ch[i];
    if (c->finish_sent) continue;
    int fin = c->done;
    int has = c->out.content.n || c->out.reasoning.n || c->out.n_calls || c->n_lp;
    if (r->chat && !c->role_sent) {
      lt_sbuf_puts(o, "data: ");
      head(j, o, "chat.completion.chunk");
      lt_sbuf_printf(o, ",\"choices\":[{\"index\":%d,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                        "\"finish_reason\":null}]}", i);
      lt_sbuf_puts(o, "\n\n");
      c->role_sent = 1;
    }
    if (!has && !fin) continue;
    if (fin && c->finish_reason && !strcmp(c->finish_reason, "error")) {
      lt_srv_err e;
      lt_srv_fail(&e, 500, NULL, "%s", c->error ? c->error : "generation failed");
      lt_sbuf_puts(o, "data: ");
      lt_srv_err_json(&e, o);
      lt_sbuf_puts(o, "\n\n");
    }
    lt_sbuf_puts(o, "data: ");
    head(j, o, r->chat ? "chat.completion.chunk" : "text_completion");
    lt_sbuf_printf(o, ",\"choices\":[{\"index\":%d,", i);
    if (r->chat) {
      lt_sbuf_puts(o, "\"delta\":{");
      int f = 0;
      if (c->out.content.n) { lt_sbuf_puts(o, "\"content\":"); lt_sbuf_json_str(o, c->out.content.p, c->out.content.n); f = 1; }
      if (c->out.reasoning.n) {
        lt_sbuf_puts(o, f ? ",\"reasoning_content\":" : "\"reasoning_content\":");
        lt_sbuf_json_str(o, c->out.reasoning.p, c->out.reasoning.n);
        f = 1;
      }
      if (c->out.n_calls) { if (f) lt_sbuf_putc(o, ','); tool_calls(j, c, o, 1); }
      lt_sbuf_puts(o, "},");
    } else {
      lt_sbuf_puts(o, "\"text\":");
      lt_sbuf_json_str(o, c->out.content.p ? c->out.content.p : "", c->out.content.n);
      lt_sbuf_putc(o, ',');
    }
    lt_sbuf_puts(o, "\"logprobs\":");
    if (c->n_lp) logprobs(j, c, o);
    else lt_sbuf_puts(o, "null");
    if (fin) { lt_sbuf_printf(o, ",\"finish_reason\":\"%s\"", reason(c)); c->finish_sent = 1; }
    else lt_sbuf_puts(o, ",\"finish_reason\":null");
    if (r->return_token_ids && fin) token_ids(c, o);
    lt_sbuf_puts(o, "}]}\n\n");
    reset_delta(c);
  }
}

void lt_resp_final(lt_job *j, lt_sbuf *o) {
  if (j->req->include_usage) {
    lt_sbuf_puts(o, "data: ");
    head(j, o, j->req->chat ? "chat.completion.chunk" : "text_completion");
    lt_sbuf_puts(o, ",\"choices\":[],");
    usage(j, o);
    lt_sbuf_puts(o, "}\n\n");
  }
  lt_sbuf_puts(o, "data: [DONE]\n\n");
}
