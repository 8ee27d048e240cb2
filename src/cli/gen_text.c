/* gen_text.c — text prompts for `latte generate`: loads DIR/tokenizer.json and tokenizer_config.json,
 * encodes the prompt (BOS per add_bos_token; with --chat, rendered as one user message by the chat
 * template, whose special tokens are parsed), and streams generated ids as UTF-8-safe text. */
#include "cli/gen_text.h"
#include "cli/cli.h"
#include "base/json.h"
#include "text/chat.h"
#include "text/tokconfig.h"
#include "text/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lt_gen_text {
  lt_tokenizer *tok;
  lt_detok_stream *ds;
  int32_t eos;
  lt_sbuf out;
};

static char *render_chat(const lt_tok_config *tc, const char *prompt) {
  if (!tc->chat_template) { lt_cli_error("--chat: the model has no chat_template in tokenizer_config.json"); return NULL; }
  lt_sbuf js = {0};
  lt_sbuf_puts(&js, "[{\"role\":\"user\",\"content\":");
  lt_sbuf_json_str(&js, prompt, strlen(prompt));
  lt_sbuf_puts(&js, "}]");
  lt_json_doc *doc = NULL;
  lt_chat_template *t = NULL;
  char *text = NULL;
  size_t len;
  if (js.oom || lt_json_parse(js.p, js.n, &doc) || lt_chat_template_new(tc->chat_template, &t) ||
      lt_chat_render(t, lt_json_root(doc), NULL, 1, tc->bos_token, tc->eos_token, &text, &len)) {
    lt_cli_error("chat template: %s", latte_last_error());
    text = NULL;
  }
  lt_chat_template_free(t);
  lt_json_free(doc);
  lt_sbuf_free(&js);
  return text;
}

int lt_gen_text_open(const char *dir, const char *prompt, int chat, lt_gen_text **out, int32_t **ids, int *n) {
  *out = NULL;
  lt_gen_text *g = calloc(1, sizeof *g);
  lt_tok_config tc = {0};
  char path[4096];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  if (!g) { lt_cli_error("out of memory"); return -1; }
  if (lt_tok_load(path, &g->tok) || lt_tok_config_load(dir, &tc)) {
    lt_cli_error("%s", latte_last_error());
    lt_tok_config_free(&tc);
    lt_gen_text_close(g);
    return -1;
  }
  char *text = chat ? render_chat(&tc, prompt) : NULL;
  int rc = -1;
  size_t nids = 0;
  int32_t *enc = NULL;
  if (chat && !text) goto fail;
  const char *src = chat ? text : prompt;
  if (lt_tok_encode(g->tok, src, strlen(src), 1, chat, &enc, &nids)) { lt_cli_error("%s", latte_last_error()); goto fail; }
  int32_t bos = tc.bos_token ? lt_tok_token_id(g->tok, tc.bos_token) : -1;
  int add_bos = !chat && tc.add_bos_token && bos >= 0 && !(nids && enc[0] == bos);
  *ids = malloc(sizeof(int32_t) * (nids + 1));
  if (!*ids) { lt_cli_error("out of memory"); goto fail; }
  if (add_bos) (*ids)[0] = bos;
  memcpy(*ids + add_bos, enc, sizeof(int32_t) * nids);
  *n = (int)nids + add_bos;
  if (!*n) { lt_cli_error("--prompt: the prompt is empty"); free(*ids); *ids = NULL; goto fail; }
  g->eos = tc.eos_token ? lt_tok_token_id(g->tok, tc.eos_token) : -1;
  g->ds = lt_detok_stream_new(g->tok, 1);
  if (!g->ds) { lt_cli_error("out of memory"); free(*ids); *ids = NULL; goto fail; }
  rc = 0;
fail:
  free(enc);
  free(text);
  lt_tok_config_free(&tc);
  if (rc) lt_gen_text_close(g);
  else *out = g;
  return rc;
}

int lt_gen_text_is_eos(const lt_gen_text *g, int32_t id) { return g && id == g->eos; }

void lt_gen_text_emit(lt_gen_text *g, int32_t id) {
  g->out.n = 0;
  if (lt_detok_stream_push(g->ds, id, &g->out) == LATTE_OK && g->out.n) {
    fwrite(g->out.p, 1, g->out.n, stdout);
    fflush(stdout);
  }
}

void lt_gen_text_finish(lt_gen_text *g) {
  g->out.n = 0;
  lt_detok_stream_flush(g->ds, &g->out);
  if (g->out.n) fwrite(g->out.p, 1, g->out.n, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

void lt_gen_text_close(lt_gen_text *g) {
  if (!g) return;
  lt_detok_stream_free(g->ds);
  lt_tok_free(g->tok);
  lt_sbuf_free(&g->out);
  free(g);
}
