/* endpoints.c — the small endpoints: GET /v1/models, POST /tokenize ({"prompt"} or {"messages"} →
 * {"count", "max_model_len", "tokens"}) and POST /detokenize ({"tokens"} → {"prompt"}), as vLLM. */
#include "server/server.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lt_ep_models(lt_server *s, lt_sbuf *o) {
  lt_sbuf_puts(o, "{\"object\":\"list\",\"data\":[{\"id\":");
  lt_sbuf_json_str(o, s->o.model_name, strlen(s->o.model_name));
  lt_sbuf_printf(o, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"latte\",\"root\":", s->created);
  lt_sbuf_json_str(o, s->o.model_dir, strlen(s->o.model_dir));
  lt_sbuf_printf(o, ",\"parent\":null,\"max_model_len\":%d}]}", s->max_context);
  return 0;
}

static int only_fields(const lt_json *root, const char *const *allowed, lt_srv_err *e) {
  if (root->type != LT_JOBJ) return lt_srv_fail(e, 400, NULL, "the request body must be a JSON object");
  for (size_t i = 0; i < root->len; i++) {
    int ok = 0;
    for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(root->keys[i], *a);
    if (!ok) return lt_srv_fail(e, 400, root->keys[i], "unknown field '%s'", root->keys[i]);
  }
  return 0;
}

int lt_ep_tokenize(lt_server *s, const lt_json *root, lt_sbuf *o, lt_srv_err *e) {
  static const char *const fields[] = {"model", "prompt", "messages", "add_special_tokens", "add_generation_prompt", "tools", NULL};
  if (only_fields(root, fields, e) || lt_oai_check_model(s, root, e)) return -1;
  const lt_json *p = lt_json_get(root, "prompt"), *m = lt_json_get(root, "messages");
  int32_t *ids = NULL;
  int n = 0, think;
  if (!!p == !!m) return lt_srv_fail(e, 400, "prompt", "give exactly one of 'prompt' or 'messages'");
  if (p) {
    if (p->type != LT_JSTR) return lt_srv_fail(e, 400, "prompt", "'prompt' must be a string");
    int add = 1;
    const lt_json *a = lt_json_get(root, "add_special_tokens");
    if (a && a->type != LT_JBOOL) return lt_srv_fail(e, 400, "add_special_tokens", "'add_special_tokens' must be a boolean");
    if (a) add = a->boolean;
    if (add) {
      if (lt_text_prompt(s, p->str, p->len, &ids, &n, e)) return -1;
    } else {
      size_t nn = 0;
      if (lt_tok_encode(s->tok, p->str, p->len, 0, s->o.allow_special, &ids, &nn))
        return lt_srv_fail(e, 400, "prompt", "%s", latte_last_error());
      n = (int)nn;
    }
  } else {
    if (m->type != LT_JARR) return lt_srv_fail(e, 400, "messages", "'messages' must be a list");
    const lt_json *t = lt_json_get(root, "tools");
    if (lt_chat_prompt(s, m, lt_json_is_null(t) ? NULL : t, &ids, &n, &think, e)) return -1;
  }
  lt_sbuf_printf(o, "{\"count\":%d,\"max_model_len\":%d,\"tokens\":[", n, s->max_context);
  for (int i = 0; i < n; i++) lt_sbuf_printf(o, i ? ",%d" : "%d", ids[i]);
  lt_sbuf_puts(o, "]}");
  free(ids);
  return 0;
}

int lt_ep_detokenize(lt_server *s, const lt_json *root, lt_sbuf *o, lt_srv_err *e) {
  static const char *const fields[] = {"model", "tokens", NULL};
  if (only_fields(root, fields, e) || lt_oai_check_model(s, root, e)) return -1;
  const lt_json *t = lt_json_get(root, "tokens");
  if (!t || t->type != LT_JARR) return lt_srv_fail(e, 400, "tokens", "'tokens' must be a list of token ids");
  int32_t *ids = malloc(sizeof(int32_t) * (t->len + 1));
  if (!ids) return lt_srv_fail(e, 500, NULL, "out of memory");
  int V = lt_tok_vocab_size(s->tok);
  for (size_t i = 0; i < t->len; i++) {
    const lt_json *x = &t->items[i];
    if (x->type != LT_JNUM || !x->is_int || x->inum < 0 || x->inum >= V) {
      free(ids);
      return lt_srv_fail(e, 400, "tokens", "'tokens[%zu]' must be a token id in [0, %d)", i, V);
    }
    ids[i] = (int32_t)x->inum;
  }
  char *text = NULL;
  size_t len = 0;
  if (lt_tok_decode(s->tok, ids, t->len, 0, &text, &len)) {
    free(ids);
    return lt_srv_fail(e, 400, "tokens", "%s", latte_last_error());
  }
  lt_sbuf_puts(o, "{\"prompt\":");
  lt_sbuf_json_str(o, text, len);
  lt_sbuf_putc(o, '}');
  free(text);
  free(ids);
  return 0;
}
