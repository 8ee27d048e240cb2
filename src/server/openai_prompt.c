/* openai_prompt.c — prompt ids for a request: completion text (BOS per add_bos_token) and chat messages
 * rendered with the model's chat template. Text a client wrote (message content, completion prompts)
 * is encoded with special-token parsing off unless the server allows it, so "<｜User｜>" typed by a
 * user stays plain text; the template's own markers are parsed as special tokens. */
#include "server/server.h"
#include <stdlib.h>
#include <string.h>

int lt_text_prompt(lt_server *s, const char *text, size_t len, int32_t **ids, int *n, lt_srv_err *e) {
  int32_t *enc = NULL;
  size_t ne = 0;
  if (lt_tok_encode(s->tok, text, len, 1, s->o.allow_special, &enc, &ne))
    return lt_srv_fail(e, 400, "prompt", "cannot tokenize the prompt: %s", latte_last_error());
  int add_bos = s->add_bos && s->bos_id >= 0 && !(ne && enc[0] == s->bos_id);
  *ids = malloc(sizeof(int32_t) * (ne + 1));
  if (!*ids) { free(enc); return lt_srv_fail(e, 500, NULL, "out of memory"); }
  if (add_bos) (*ids)[0] = s->bos_id;
  memcpy(*ids + add_bos, enc, sizeof(int32_t) * ne);
  *n = (int)ne + add_bos;
  free(enc);
  return 0;
}

static const char *jname(const lt_json *v) {
  static const char *n[] = {"null", "boolean", "number", "string", "array", "object"};
  return n[v->type];
}

/* Messages re-serialised with content as a string (lists of text parts joined) and checked. */
static int normalise(const lt_json *msgs, lt_sbuf *o, lt_srv_err *e) {
  lt_sbuf_putc(o, '[');
  for (size_t i = 0; i < msgs->len; i++) {
    const lt_json *m = &msgs->items[i];
    if (m->type != LT_JOBJ) return lt_srv_fail(e, 400, "messages", "'messages[%zu]' must be an object, not %s", i, jname(m));
    const lt_json *role = lt_json_get(m, "role");
    if (!role || role->type != LT_JSTR)
      return lt_srv_fail(e, 400, "messages", "'messages[%zu].role' must be a string", i);
    if (strcmp(role->str, "system") && strcmp(role->str, "user") && strcmp(role->str, "assistant") &&
        strcmp(role->str, "tool") && strcmp(role->str, "developer"))
      return lt_srv_fail(e, 400, "messages", "'messages[%zu].role' = '%s' is not system, developer, user, assistant or tool", i, role->str);
    if (i) lt_sbuf_putc(o, ',');
    lt_sbuf_putc(o, '{');
    for (size_t k = 0; k < m->len; k++) {
      if (k) lt_sbuf_putc(o, ',');
      lt_sbuf_json_str(o, m->keys[k], m->key_lens[k]);
      lt_sbuf_putc(o, ':');
      const lt_json *v = &m->items[k];
      if (!strcmp(m->keys[k], "role") && !strcmp(v->str, "developer")) {
        lt_sbuf_puts(o, "\"system\"");
      } else if (!strcmp(m->keys[k], "content") && v->type == LT_JARR) {
        lt_sbuf text = {0};
        for (size_t p = 0; p < v->len; p++) {
          const lt_json *part = &v->items[p];
          const char *type = lt_json_str(part, "type");
          const lt_json *t = lt_json_get(part, "text");
          if (!type || strcmp(type, "text") || !t || t->type != LT_JSTR) {
            lt_sbuf_free(&text);
            return lt_srv_fail(e, 400, "messages", "'messages[%zu].content[%zu]': only {\"type\": \"text\", \"text\": ...} parts are supported", i, p);
          }
          lt_sbuf_put(&text, t->str, t->len);
        }
        lt_sbuf_json_str(o, text.p ? text.p : "", text.n);
        lt_sbuf_free(&text);
      } else if (!strcmp(m->keys[k], "content") && v->type != LT_JSTR && v->type != LT_JNULL) {
        return lt_srv_fail(e, 400, "messages", "'messages[%zu].content' must be a string, a list of text parts or null, not %s", i, jname(v));
      } else {
        lt_sbuf_json_value(o, v);
      }
    }
    lt_sbuf_putc(o, '}');
  }
  lt_sbuf_putc(o, ']');
  return o->oom ? lt_srv_fail(e, 500, NULL, "out of memory") : 0;
}

typedef struct { size_t a, b; } span;

static int span_cmp(const void *x, const void *y) {
  const span *p = x, *q = y;
  return p->a < q->a ? -1 : p->a > q->a;
}

/* Does encoding text with special-token parsing give other ids than without? */
static int has_special(lt_server *s, const char *t, size_t n) {
  int32_t *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  int diff = 1;
  if (!lt_tok_encode(s->tok, t, n, 0, 1, &a, &na) && !lt_tok_encode(s->tok, t, n, 0, 0, &b, &nb))
    diff = na != nb || memcmp(a, b, sizeof(int32_t) * na);
  free(a);
  free(b);
  return diff;
}

static int append_enc(lt_server *s, const char *t, size_t n, int parse_special, int32_t **ids, size_t *len, size_t *cap) {
  int32_t *enc = NULL;
  size_t ne = 0;
  if (!n) return 0;
  if (lt_tok_encode(s->tok, t, n, 0, parse_special, &enc, &ne)) return -1;
  if (*len + ne > *cap) {
    size_t c = (*len + ne) * 2 + 16;
    int32_t *p = realloc(*ids, sizeof(int32_t) * c);
    if (!p) { free(enc); return -1; }
    *ids = p;
    *cap = c;
  }
  memcpy(*ids + *len, enc, sizeof(int32_t) * ne);
  *len += ne;
  free(enc);
  return 0;
}

int lt_chat_prompt(lt_server *s, const lt_json *messages, const lt_json *tools, int32_t **ids, int *n, int *think_open,
                   lt_srv_err *e) {
  if (!s->tpl) return lt_srv_fail(e, 400, "messages", "the model has no chat template (use /v1/completions)");
  lt_sbuf js = {0};
  lt_json_doc *doc = NULL;
  char *text = NULL;
  size_t tlen = 0;
  span *sp = NULL;
  int nsp = 0, rc = -1;
  int32_t *out = NULL;
  size_t nout = 0, cap = 0;
  if (normalise(messages, &js, e)) goto done;
  if (lt_json_parse(js.p, js.n, &doc)) { lt_srv_fail(e, 500, NULL, "messages: %s", latte_last_error()); goto done; }
  const lt_json *msgs = lt_json_root(doc);
  if (lt_chat_render(s->tpl, msgs, tools, 1, s->bos_text, s->eos_text, &text, &tlen)) {
    lt_srv_fail(e, 400, "messages", "chat template: %s", latte_last_error());
    goto done;
  }
  /* Spans of the rendered text that are client content with special-token text in it. */
  if (!s->o.allow_special) {
    sp = calloc(msgs->len + 1, sizeof *sp);
    if (!sp) { lt_srv_fail(e, 500, NULL, "out of memory"); goto done; }
    for (size_t i = 0; i < msgs->len; i++) {
      const lt_json *c = lt_json_get(&msgs->items[i], "content");
      if (!c || c->type != LT_JSTR || !c->len || !has_special(s, c->str, c->len)) continue;
      for (size_t from = 0; from + c->len <= tlen;) {
        const char *hit = memmem(text + from, tlen - from, c->str, c->len);
        if (!hit) break;
        size_t a = (size_t)(hit - text), b = a + c->len;
        int overlap = 0;
        for (int k = 0; k < nsp; k++) overlap |= a < sp[k].b && sp[k].a < b;
        if (!overlap) { sp[nsp++] = (span){a, b}; break; }
        from = a + 1;
      }
    }
    qsort(sp, (size_t)nsp, sizeof *sp, span_cmp);
  }
  size_t at = 0;
  for (int k = 0; k <= nsp; k++) {
    size_t a = k < nsp ? sp[k].a : tlen;
    if (append_enc(s, text + at, a - at, 1, &out, &nout, &cap)) goto enc_fail;
    if (k < nsp) {
      if (append_enc(s, text + a, sp[k].b - a, 0, &out, &nout, &cap)) goto enc_fail;
      at = sp[k].b;
    }
  }
  if (!nout) { lt_srv_fail(e, 400, "messages", "the rendered prompt is empty"); goto done; }
  size_t t = tlen;
  while (t && (text[t - 1] == '\n' || text[t - 1] == ' ')) t--;
  *think_open = t >= 7 && !memcmp(text + t - 7, "<think>", 7);
  *ids = out;
  *n = (int)nout;
  out = NULL;
  rc = 0;
  goto done;
enc_fail:
  lt_srv_fail(e, 400, "messages", "cannot tokenize the prompt: %s", latte_last_error());
done:
  free(out);
  free(sp);
  free(text);
  lt_json_free(doc);
  lt_sbuf_free(&js);
  return rc;
}
