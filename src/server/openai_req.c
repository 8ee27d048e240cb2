/* openai_req.c — reads a /v1/completions or /v1/chat/completions body into an lt_oai_req: strict
 * validation (unknown fields, wrong types and out-of-range values are 400 naming the field), the
 * sampling parameters, stop strings / ids, logprobs, n, streaming options, tools; then the prompt ids. */
#include "server/server.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const completion_fields[] = {
  "model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "min_p", "frequency_penalty",
  "presence_penalty", "repetition_penalty", "seed", "stop", "stop_token_ids", "ignore_eos", "logprobs", "n",
  "stream", "stream_options", "user", "echo", "best_of", "suffix", "logit_bias", "return_token_ids", NULL};
static const char *const chat_fields[] = {
  "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
  "frequency_penalty", "presence_penalty", "repetition_penalty", "seed", "stop", "stop_token_ids", "ignore_eos",
  "logprobs", "top_logprobs", "n", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
  "user", "logit_bias", "return_token_ids", NULL};

static const char *jtype_name(const lt_json *v) {
  static const char *n[] = {"null", "boolean", "number", "string", "array", "object"};
  return n[v->type];
}

/* Optional number in [lo, hi]; null counts as absent. 1 present, 0 absent, -1 error. */
static int opt_num(const lt_json *root, const char *key, double lo, double hi, double *out, lt_srv_err *e) {
  const lt_json *v = lt_json_get(root, key);
  if (lt_json_is_null(v)) return 0;
  if (v->type != LT_JNUM) return lt_srv_fail(e, 400, key, "'%s' must be a number, not %s", key, jtype_name(v));
  if (!(v->num >= lo && v->num <= hi)) return lt_srv_fail(e, 400, key, "'%s' = %g is out of range [%g, %g]", key, v->num, lo, hi);
  *out = v->num;
  return 1;
}

static int opt_int(const lt_json *root, const char *key, int64_t lo, int64_t hi, int64_t *out, lt_srv_err *e) {
  const lt_json *v = lt_json_get(root, key);
  if (lt_json_is_null(v)) return 0;
  if (v->type != LT_JNUM || !v->is_int)
    return lt_srv_fail(e, 400, key, "'%s' must be an integer, not %s", key, v->type == LT_JNUM ? "a fraction" : jtype_name(v));
  if (v->inum < lo || v->inum > hi)
    return lt_srv_fail(e, 400, key, "'%s' = %lld is out of range [%lld, %lld]", key, (long long)v->inum, (long long)lo, (long long)hi);
  *out = v->inum;
  return 1;
}

static int opt_bool(const lt_json *root, const char *key, int *out, lt_srv_err *e) {
  const lt_json *v = lt_json_get(root, key);
  if (lt_json_is_null(v)) return 0;
  if (v->type != LT_JBOOL) return lt_srv_fail(e, 400, key, "'%s' must be a boolean, not %s", key, jtype_name(v));
  *out = v->boolean;
  return 1;
}

static int check_fields(const lt_json *root, const char *const *allowed, lt_srv_err *e) {
  for (size_t i = 0; i < root->len; i++) {
    int ok = 0;
    for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(root->keys[i], *a);
    if (!ok) return lt_srv_fail(e, 400, root->keys[i], "unknown field '%s' (strict validation: remove it)", root->keys[i]);
  }
  return 0;
}

static int parse_stop(const lt_json *root, lt_oai_req *r, lt_srv_err *e) {
  const lt_json *v = lt_json_get(root, "stop");
  if (lt_json_is_null(v)) return 0;
  size_t n = v->type == LT_JSTR ? 1 : v->type == LT_JARR ? v->len : 0;
  if (v->type != LT_JSTR && v->type != LT_JARR)
    return lt_srv_fail(e, 400, "stop", "'stop' must be a string or a list of strings, not %s", jtype_name(v));
  if (n > 16) return lt_srv_fail(e, 400, "stop", "'stop' has %zu strings; at most 16", n);
  r->stops = calloc(n ? n : 1, sizeof(char *));
  if (!r->stops) return lt_srv_fail(e, 500, NULL, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const lt_json *s = v->type == LT_JSTR ? v : &v->items[i];
    if (s->type != LT_JSTR) return lt_srv_fail(e, 400, "stop", "'stop[%zu]' must be a string, not %s", i, jtype_name(s));
    if (!s->len) return lt_srv_fail(e, 400, "stop", "'stop' strings must not be empty");
    if (memchr(s->str, 0, s->len)) return lt_srv_fail(e, 400, "stop", "'stop' strings must not contain NUL");
    r->stops[i] = strdup(s->str);
    if (!r->stops[i]) return lt_srv_fail(e, 500, NULL, "out of memory");
    r->n_stops++;
  }
  return 0;
}

static int parse_stop_ids(lt_server *s, const lt_json *root, lt_oai_req *r, lt_srv_err *e) {
  const lt_json *v = lt_json_get(root, "stop_token_ids");
  if (lt_json_is_null(v)) return 0;
  if (v->type != LT_JARR) return lt_srv_fail(e, 400, "stop_token_ids", "'stop_token_ids' must be a list of integers, not %s", jtype_name(v));
  r->stop_ids = malloc(sizeof(int32_t) * (v->len ? v->len : 1));
  if (!r->stop_ids) return lt_srv_fail(e, 500, NULL, "out of memory");
  int V = latte_model_vocab(s->m);
  for (size_t i = 0; i < v->len; i++) {
    const lt_json *x = &v->items[i];
    if (x->type != LT_JNUM || !x->is_int || x->inum < 0 || x->inum >= V)
      return lt_srv_fail(e, 400, "stop_token_ids", "'stop_token_ids[%zu]' must be a token id in [0, %d)", i, V);
    r->stop_ids[i] = (int32_t)x->inum;
  }
  r->sp.stop_ids = r->stop_ids;
  r->sp.n_stop_ids = (int)v->len;
  return 0;
}

/* Completion prompt: a string, a list of ids, or a list of either (a batch). */
static int parse_prompts(lt_server *s, const lt_json *root, lt_oai_req *r, lt_srv_err *e) {
  const lt_json *p = lt_json_get(root, "prompt");
  if (!p) return lt_srv_fail(e, 400, "prompt", "'prompt' is required");
  int batch = p->type == LT_JARR && p->len > 0 && (p->items[0].type == LT_JSTR || p->items[0].type == LT_JARR);
  size_t np = batch ? p->len : 1;
  if (p->type != LT_JSTR && p->type != LT_JARR)
    return lt_srv_fail(e, 400, "prompt", "'prompt' must be a string, a list of token ids or a list of those, not %s", jtype_name(p));
  if (np > 64) return lt_srv_fail(e, 400, "prompt", "'prompt' holds %zu prompts; at most 64", np);
  r->prompts = calloc(np, sizeof(int32_t *));
  r->prompt_lens = calloc(np, sizeof(int));
  if (!r->prompts || !r->prompt_lens) return lt_srv_fail(e, 500, NULL, "out of memory");
  r->n_prompts = (int)np;
  int V = latte_model_vocab(s->m);
  for (size_t i = 0; i < np; i++) {
    const lt_json *x = batch ? &p->items[i] : p;
    if (x->type == LT_JSTR) {
      if (lt_text_prompt(s, x->str, x->len, &r->prompts[i], &r->prompt_lens[i], e)) return -1;
    } else if (x->type == LT_JARR) {
      r->prompts[i] = malloc(sizeof(int32_t) * (x->len ? x->len : 1));
      if (!r->prompts[i]) return lt_srv_fail(e, 500, NULL, "out of memory");
      for (size_t k = 0; k < x->len; k++) {
        const lt_json *t = &x->items[k];
        if (t->type != LT_JNUM || !t->is_int || t->inum < 0 || t->inum >= V)
          return lt_srv_fail(e, 400, "prompt", "'prompt' token %zu must be a token id in [0, %d)", k, V);
        r->prompts[i][k] = (int32_t)t->inum;
      }
      r->prompt_lens[i] = (int)x->len;
    } else {
      return lt_srv_fail(e, 400, "prompt", "'prompt[%zu]' must be a string or a list of token ids, not %s", i, jtype_name(x));
    }
    if (r->prompt_lens[i] == 0) return lt_srv_fail(e, 400, "prompt", "'prompt' is empty");
  }
  return 0;
}

static int parse_tools(const lt_json *root, lt_oai_req *r, lt_srv_err *e) {
  const lt_json *t = lt_json_get(root, "tools");
  if (!lt_json_is_null(t)) {
    if (t->type != LT_JARR) return lt_srv_fail(e, 400, "tools", "'tools' must be a list, not %s", jtype_name(t));
    for (size_t i = 0; i < t->len; i++) {
      const lt_json *f = lt_json_get(&t->items[i], "function");
      if (t->items[i].type != LT_JOBJ || !f || f->type != LT_JOBJ || !lt_json_str(f, "name"))
        return lt_srv_fail(e, 400, "tools", "'tools[%zu]' must be {\"type\": \"function\", \"function\": {\"name\": ...}}", i);
    }
  }
  const lt_json *c = lt_json_get(root, "tool_choice");
  int none = 0;
  if (!lt_json_is_null(c)) {
    if (c->type == LT_JSTR) {
      if (strcmp(c->str, "none") && strcmp(c->str, "auto") && strcmp(c->str, "required"))
        return lt_srv_fail(e, 400, "tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or a function object");
      none = !strcmp(c->str, "none");
    } else if (c->type != LT_JOBJ) {
      return lt_srv_fail(e, 400, "tool_choice", "'tool_choice' must be a string or an object, not %s", jtype_name(c));
    }
  }
  int ptc;
  if (opt_bool(root, "parallel_tool_calls", &ptc, e) < 0) return -1;
  r->parse_tools = !lt_json_is_null(t) && t->len > 0 && !none;
  return 0;
}

int lt_oai_check_model(lt_server *s, const lt_json *root, lt_srv_err *e) {
  const lt_json *m = lt_json_get(root, "model");
  if (lt_json_is_null(m)) return 0;
  if (m->type != LT_JSTR) return lt_srv_fail(e, 400, "model", "'model' must be a string, not %s", jtype_name(m));
  if (strcmp(m->str, s->o.model_name)) {
    lt_srv_fail(e, 404, "model", "The model '%s' does not exist (this server serves '%s')", m->str, s->o.model_name);
    strcpy(e->code, "model_not_found");
    return -1;
  }
  return 0;
}

int lt_oai_parse(lt_server *s, const lt_json *root, int chat, lt_oai_req *r, lt_srv_err *e) {
  memset(r, 0, sizeof *r);
  r->chat = chat;
  if (root->type != LT_JOBJ) return lt_srv_fail(e, 400, NULL, "the request body must be a JSON object, not %s", jtype_name(root));
  if (check_fields(root, chat ? chat_fields : completion_fields, e)) return -1;
  if (lt_oai_check_model(s, root, e)) return -1;
  double d;
  int64_t k;
  int rc, b = 0;
  r->sp.top_p = 1;
  r->sp.repetition_penalty = 1;
  r->sp.temperature = 1;   /* the OpenAI default */
  if ((rc = opt_num(root, "temperature", 0, 100, &d, e)) < 0) return -1;
  if (rc) r->sp.temperature = (float)d;
  if ((rc = opt_num(root, "top_p", 1e-9, 1, &d, e)) < 0) return -1;
  if (rc) r->sp.top_p = (float)d;
  if ((rc = opt_int(root, "top_k", -1, 1 << 30, &k, e)) < 0) return -1;
  if (rc) r->sp.top_k = k < 0 ? 0 : (int)k;
  if ((rc = opt_num(root, "min_p", 0, 1, &d, e)) < 0) return -1;
  if (rc) r->sp.min_p = (float)d;
  if ((rc = opt_num(root, "frequency_penalty", -2, 2, &d, e)) < 0) return -1;
  if (rc) r->sp.frequency_penalty = (float)d;
  if ((rc = opt_num(root, "presence_penalty", -2, 2, &d, e)) < 0) return -1;
  if (rc) r->sp.presence_penalty = (float)d;
  if ((rc = opt_num(root, "repetition_penalty", 1e-6, 100, &d, e)) < 0) return -1;
  if (rc) r->sp.repetition_penalty = (float)d;
  if ((rc = opt_int(root, "seed", INT64_MIN, INT64_MAX, &k, e)) < 0) return -1;
  if (rc) { r->sp.seed = (uint64_t)k; r->sp.has_seed = 1; }
  int64_t max_tokens = 0;
  if ((rc = opt_int(root, "max_tokens", 1, INT32_MAX, &max_tokens, e)) < 0) return -1;
  if (chat) {
    int64_t mct;
    if ((rc = opt_int(root, "max_completion_tokens", 1, INT32_MAX, &mct, e)) < 0) return -1;
    if (rc) max_tokens = mct;
  }
  if ((rc = opt_bool(root, "ignore_eos", &b, e)) < 0) return -1;
  if (rc) r->sp.ignore_eos = b;
  int64_t n = 1;
  if (opt_int(root, "n", 1, 16, &n, e) < 0) return -1;
  r->n = (int)n;
  if ((rc = opt_bool(root, "stream", &b, e)) < 0) return -1;
  if (rc) r->stream = b;
  const lt_json *so = lt_json_get(root, "stream_options");
  if (!lt_json_is_null(so)) {
    if (so->type != LT_JOBJ) return lt_srv_fail(e, 400, "stream_options", "'stream_options' must be an object, not %s", jtype_name(so));
    for (size_t i = 0; i < so->len; i++)
      if (strcmp(so->keys[i], "include_usage") && strcmp(so->keys[i], "continuous_usage_stats"))
        return lt_srv_fail(e, 400, "stream_options", "unknown field 'stream_options.%s'", so->keys[i]);
    if (opt_bool(so, "include_usage", &r->include_usage, e) < 0) { strcpy(e->param, "stream_options"); return -1; }
    if (!r->stream) return lt_srv_fail(e, 400, "stream_options", "'stream_options' is only allowed with \"stream\": true");
  }
  if (chat) {
    if ((rc = opt_bool(root, "logprobs", &b, e)) < 0) return -1;
    if (rc) r->want_logprobs = b;
    if ((rc = opt_int(root, "top_logprobs", 0, 20, &k, e)) < 0) return -1;
    if (rc) {
      if (!r->want_logprobs && k > 0) return lt_srv_fail(e, 400, "top_logprobs", "'top_logprobs' needs \"logprobs\": true");
      r->top_logprobs = (int)k;
    }
  } else {
    if ((rc = opt_int(root, "logprobs", 0, 20, &k, e)) < 0) return -1;
    if (rc) { r->want_logprobs = 1; r->top_logprobs = (int)k; }
  }
  r->sp.top_logprobs = r->top_logprobs;
  r->sp.want_logprob = r->want_logprobs;
  if ((rc = opt_bool(root, "return_token_ids", &b, e)) < 0) return -1;
  if (rc) r->return_token_ids = b;
  if (!chat) {
    if ((rc = opt_bool(root, "echo", &b, e)) < 0) return -1;
    if (rc && b) return lt_srv_fail(e, 400, "echo", "'echo' is not supported");
    if ((rc = opt_int(root, "best_of", 1, 16, &k, e)) < 0) return -1;
    if (rc && k != r->n) return lt_srv_fail(e, 400, "best_of", "'best_of' must equal 'n' (best_of sampling is not supported)");
    const lt_json *sfx = lt_json_get(root, "suffix");
    if (!lt_json_is_null(sfx)) return lt_srv_fail(e, 400, "suffix", "'suffix' is not supported");
  }
  const lt_json *lb = lt_json_get(root, "logit_bias");
  if (!lt_json_is_null(lb) && (lb->type != LT_JOBJ || lb->len))
    return lt_srv_fail(e, 400, "logit_bias", "'logit_bias' is not supported (only null or {})");
  const lt_json *u = lt_json_get(root, "user");
  if (!lt_json_is_null(u) && u->type != LT_JSTR) return lt_srv_fail(e, 400, "user", "'user' must be a string, not %s", jtype_name(u));
  if (parse_stop(root, r, e) || parse_stop_ids(s, root, r, e)) return -1;

  if (chat) {
    if (parse_tools(root, r, e)) return -1;
    const lt_json *msgs = lt_json_get(root, "messages");
    if (!msgs) return lt_srv_fail(e, 400, "messages", "'messages' is required");
    if (msgs->type != LT_JARR || !msgs->len)
      return lt_srv_fail(e, 400, "messages", "'messages' must be a non-empty list of message objects");
    r->prompts = calloc(1, sizeof(int32_t *));
    r->prompt_lens = calloc(1, sizeof(int));
    if (!r->prompts || !r->prompt_lens) return lt_srv_fail(e, 500, NULL, "out of memory");
    r->n_prompts = 1;
    const lt_json *tools = lt_json_get(root, "tools");
    if (lt_chat_prompt(s, msgs, lt_json_is_null(tools) ? NULL : tools, &r->prompts[0], &r->prompt_lens[0], &r->think_open, e))
      return -1;
  } else if (parse_prompts(s, root, r, e)) {
    return -1;
  }
  int ctx = s->max_context;
  for (int i = 0; i < r->n_prompts; i++) {
    int len = r->prompt_lens[i];
    if (len >= ctx) {
      lt_srv_fail(e, 413, chat ? "messages" : "prompt", "This model's maximum context length is %d tokens; the prompt has %d tokens",
                  ctx, len);
      strcpy(e->code, "context_length_exceeded");
      return -1;
    }
    if (max_tokens && len + max_tokens > ctx)
      return lt_srv_fail(e, 400, chat && lt_json_get(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
                         "This model's maximum context length is %d tokens; the prompt has %d tokens and %lld were "
                         "requested for the completion", ctx, len, (long long)max_tokens);
  }
  if (max_tokens) {
    r->sp.max_tokens = (int)max_tokens;
  } else {
    int shortest = ctx;
    for (int i = 0; i < r->n_prompts; i++) if (r->prompt_lens[i] < shortest) shortest = r->prompt_lens[i];
    r->sp.max_tokens = ctx - shortest;    /* the rest of the context (as vLLM) */
    if (!chat && r->sp.max_tokens > 16) r->sp.max_tokens = 16;   /* OpenAI completions default */
    for (int i = 0; i < r->n_prompts; i++)
      if (r->prompt_lens[i] + r->sp.max_tokens > ctx) r->sp.max_tokens = ctx - r->prompt_lens[i];
  }
  return 0;
}

void lt_oai_req_free(lt_oai_req *r) {
  if (!r) return;
  for (int i = 0; i < r->n_prompts; i++) free(r->prompts ? r->prompts[i] : NULL);
  free(r->prompts);
  free(r->prompt_lens);
  for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
  free(r->stops);
  free(r->stop_ids);
  memset(r, 0, sizeof *r);
}
