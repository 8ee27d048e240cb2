/* toolcall.c — the incremental content / reasoning / tool-call splitter (see toolcall.h). Text that
 * could be the start of a marker is held back until it is known; tool calls come out whole. Both the
 * DeepSeek-V3 form (function<｜tool▁sep｜>NAME\n```json\nARGS\n```) and the V3.1 form
 * (NAME<｜tool▁sep｜>ARGS) are read. */
#include "server/toolcall.h"
#include <stdlib.h>
#include <string.h>

#define T_THINK "<think>"
#define T_THINK_END "</think>"
#define T_CALLS_BEGIN "<｜tool▁calls▁begin｜>"
#define T_CALLS_END "<｜tool▁calls▁end｜>"
#define T_CALL_BEGIN "<｜tool▁call▁begin｜>"
#define T_CALL_END "<｜tool▁call▁end｜>"
#define T_SEP "<｜tool▁sep｜>"

enum { S_START, S_REASON, S_CONTENT, S_TOOLS, S_AFTER };

void lt_tc_init(lt_tc_parser *p, int parse_tools, int reasoning) {
  memset(p, 0, sizeof *p);
  p->parse_tools = parse_tools;
  p->state = reasoning == 2 ? S_REASON : reasoning == 1 ? S_START : S_CONTENT;
}

void lt_tc_free(lt_tc_parser *p) { lt_sbuf_free(&p->buf); }

void lt_tc_out_reset(lt_tc_out *o) {
  o->content.n = 0;
  o->reasoning.n = 0;
  for (int i = 0; i < o->n_calls; i++) { free(o->calls[i].name); free(o->calls[i].args); }
  o->n_calls = 0;
}

void lt_tc_out_free(lt_tc_out *o) {
  lt_tc_out_reset(o);
  lt_sbuf_free(&o->content);
  lt_sbuf_free(&o->reasoning);
  free(o->calls);
  memset(o, 0, sizeof *o);
}

static const char *find(const char *s, size_t n, const char *tag) {
  size_t k = strlen(tag);
  if (k > n) return NULL;
  for (size_t i = 0; i + k <= n; i++)
    if (s[i] == tag[0] && !memcmp(s + i, tag, k)) return s + i;
  return NULL;
}

/* Longest k < len(tag) with s[n-k..n) == tag[0..k): text that may still become the tag. */
static size_t partial_suffix(const char *s, size_t n, const char *tag) {
  size_t k = strlen(tag) - 1;
  if (k > n) k = n;
  for (; k > 0; k--)
    if (!memcmp(s + n - k, tag, k)) return k;
  return 0;
}

static int is_prefix_of(const char *s, size_t n, const char *tag) { return n < strlen(tag) && !memcmp(s, tag, n); }

static int starts_with(const char *s, size_t n, const char *tag) {
  size_t k = strlen(tag);
  return n >= k && !memcmp(s, tag, k);
}

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static char *dup_trim(const char *s, size_t n) {
  while (n && is_ws(*s)) { s++; n--; }
  while (n && is_ws(s[n - 1])) n--;
  char *r = malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}

/* Arguments: trimmed, without a ```json … ``` fence around them. */
static char *dup_args(const char *s, size_t n) {
  while (n && is_ws(*s)) { s++; n--; }
  while (n && is_ws(s[n - 1])) n--;
  if (starts_with(s, n, "```")) {
    s += 3; n -= 3;
    if (starts_with(s, n, "json")) { s += 4; n -= 4; }
    if (n >= 3 && !memcmp(s + n - 3, "```", 3)) n -= 3;
  }
  return dup_trim(s, n);
}

static void emit_call(lt_tc_parser *p, lt_tc_out *o, const char *inner, size_t n) {
  const char *sep = find(inner, n, T_SEP);
  char *name, *args;
  if (!sep) {
    name = dup_trim("", 0);
    args = dup_args(inner, n);
  } else {
    size_t tn = (size_t)(sep - inner);
    const char *rest = sep + strlen(T_SEP);
    size_t rn = n - tn - strlen(T_SEP);
    char *type = dup_trim(inner, tn);
    if (type && !strcmp(type, "function")) {      /* V3: function<sep>NAME\n```json\nARGS\n``` */
      const char *nl = memchr(rest, '\n', rn);
      size_t namelen = nl ? (size_t)(nl - rest) : rn;
      name = dup_trim(rest, namelen);
      args = nl ? dup_args(nl + 1, rn - namelen - 1) : dup_trim("", 0);
      free(type);
    } else {                                      /* V3.1: NAME<sep>ARGS */
      name = type;
      args = dup_args(rest, rn);
    }
  }
  if (o->n_calls == o->cap_calls) {
    int cap = o->cap_calls ? 2 * o->cap_calls : 4;
    lt_tool_call *c = realloc(o->calls, sizeof *c * (size_t)cap);
    if (!c) { free(name); free(args); o->oom = 1; return; }
    o->calls = c;
    o->cap_calls = cap;
  }
  if (!name || !args) { free(name); free(args); o->oom = 1; return; }
  o->calls[o->n_calls++] = (lt_tool_call){.index = p->n_calls++, .name = name, .args = args};
}

/* Drop the first k bytes of the held text. */
static void consume(lt_sbuf *b, size_t k) {
  memmove(b->p, b->p + k, b->n - k);
  b->n -= k;
}

void lt_tc_feed(lt_tc_parser *p, const char *s, size_t n, int final, lt_tc_out *o) {
  lt_sbuf *b = &p->buf;
  if (n) lt_sbuf_put(b, s, n);
  if (b->oom) { o->oom = 1; return; }
  for (;;) {
    const char *t = b->p;
    size_t len = b->n;
    if (p->state == S_START) {
      size_t ws = 0;
      while (ws < len && is_ws(t[ws])) ws++;
      if (starts_with(t + ws, len - ws, T_THINK)) { consume(b, ws + strlen(T_THINK)); p->state = S_REASON; continue; }
      if (!final && is_prefix_of(t + ws, len - ws, T_THINK)) return;
      p->state = S_CONTENT;
      continue;
    }
    if (p->state == S_REASON) {
      const char *e = find(t, len, T_THINK_END);
      if (e) {
        lt_sbuf_put(&o->reasoning, t, (size_t)(e - t));
        consume(b, (size_t)(e - t) + strlen(T_THINK_END));
        p->state = S_CONTENT;
        continue;
      }
      size_t keep = final ? 0 : partial_suffix(t, len, T_THINK_END);
      lt_sbuf_put(&o->reasoning, t, len - keep);
      consume(b, len - keep);
      return;
    }
    if (p->state == S_CONTENT) {
      const char *e = p->parse_tools ? find(t, len, T_CALLS_BEGIN) : NULL;
      if (e) {
        lt_sbuf_put(&o->content, t, (size_t)(e - t));
        consume(b, (size_t)(e - t) + strlen(T_CALLS_BEGIN));
        p->state = S_TOOLS;
        continue;
      }
      size_t keep = final || !p->parse_tools ? 0 : partial_suffix(t, len, T_CALLS_BEGIN);
      lt_sbuf_put(&o->content, t, len - keep);
      consume(b, len - keep);
      return;
    }
    if (p->state == S_TOOLS) {
      size_t ws = 0;
      while (ws < len && is_ws(t[ws])) ws++;
      if (ws) { consume(b, ws); continue; }
      if (!len) return;
      if (starts_with(t, len, T_CALLS_END)) { consume(b, strlen(T_CALLS_END)); p->state = S_AFTER; continue; }
      if (starts_with(t, len, T_CALL_BEGIN)) {
        size_t hb = strlen(T_CALL_BEGIN);
        const char *e = find(t + hb, len - hb, T_CALL_END);
        if (e) {
          emit_call(p, o, t + hb, (size_t)(e - t - hb));
          consume(b, (size_t)(e - t) + strlen(T_CALL_END));
          continue;
        }
        if (!final) return;
        lt_sbuf_put(&o->content, t, len);   /* an unterminated call stays text */
        consume(b, len);
        return;
      }
      if (!final && (is_prefix_of(t, len, T_CALLS_END) || is_prefix_of(t, len, T_CALL_BEGIN))) return;
      /* Text between calls that is no marker: keep it as content up to the next marker. */
      const char *nx = find(t + 1, len - 1, "<｜");
      size_t k = nx ? (size_t)(nx - t) : len;
      lt_sbuf_put(&o->content, t, k);
      consume(b, k);
      continue;
    }
    /* S_AFTER: whatever follows the calls is content. */
    lt_sbuf_put(&o->content, t, len);
    consume(b, len);
    return;
  }
}
