/* chat.c — chat-template rendering on top of the Jinja interpreter, with the variables HF's
 * apply_chat_template passes: messages, tools (None when absent), add_generation_prompt,
 * bos_token, eos_token. */
#include <stdlib.h>
#include <string.h>
#include "base/err.h"
#include "text/chat.h"
#include "text/jinja.h"

struct lt_chat_template { lt_jinja *j; };

latte_status lt_chat_template_new(const char *template_text, lt_chat_template **out) {
  *out = NULL;
  if (!template_text) return lt_err(LATTE_ERR_INVALID, "chat template: no template text");
  lt_chat_template *t = calloc(1, sizeof *t);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  latte_status s = lt_jinja_parse(template_text, strlen(template_text), &t->j);
  if (s != LATTE_OK) { free(t); return lt_err_prefix(s, "chat template"); }
  *out = t;
  return LATTE_OK;
}

void lt_chat_template_free(lt_chat_template *t) {
  if (!t) return;
  lt_jinja_free(t->j);
  free(t);
}

latte_status lt_chat_render(const lt_chat_template *t, const lt_json *messages, const lt_json *tools,
                            int add_generation_prompt, const char *bos_token, const char *eos_token,
                            char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!messages || messages->type != LT_JARR) return lt_err(LATTE_ERR_INVALID, "chat template: \"messages\" must be an array");
  for (size_t i = 0; i < messages->len; i++)
    if (messages->items[i].type != LT_JOBJ)
      return lt_err(LATTE_ERR_INVALID, "chat template: messages[%zu] must be an object", i);
  if (tools && tools->type != LT_JARR && tools->type != LT_JNULL)
    return lt_err(LATTE_ERR_INVALID, "chat template: \"tools\" must be an array");
  lt_jinja_var v[5];
  size_t n = 0;
  v[n++] = (lt_jinja_var){.name = "messages", .kind = LT_JVAR_JSON, .json = messages};
  if (tools && tools->type == LT_JARR) v[n++] = (lt_jinja_var){.name = "tools", .kind = LT_JVAR_JSON, .json = tools};
  else v[n++] = (lt_jinja_var){.name = "tools", .kind = LT_JVAR_NONE};
  v[n++] = (lt_jinja_var){.name = "add_generation_prompt", .kind = LT_JVAR_BOOL, .boolean = !!add_generation_prompt};
  if (bos_token) v[n++] = (lt_jinja_var){.name = "bos_token", .kind = LT_JVAR_STR, .str = bos_token};
  if (eos_token) v[n++] = (lt_jinja_var){.name = "eos_token", .kind = LT_JVAR_STR, .str = eos_token};
  latte_status s = lt_jinja_render(t->j, v, n, out, out_len);
  if (s != LATTE_OK) return lt_err_prefix(s, "chat template");
  return LATTE_OK;
}
