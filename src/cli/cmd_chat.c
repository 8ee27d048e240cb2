/* cmd_chat.c — `latte chat-template --model DIR [--add-generation-prompt]`: read
 * {"messages": [...], "tools": [...]} JSON on stdin, render the model's chat template from
 * DIR/tokenizer_config.json and print the prompt on stdout exactly (no added newline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/json.h"
#include "cli/cli.h"
#include "latte.h"
#include "text/chat.h"
#include "text/tokconfig.h"

static const char lt_chat_usage[] =
    "usage: latte chat-template --model DIR [--add-generation-prompt]\n"
    "  Reads {\"messages\": [...], \"tools\": [...]} (tools optional) as JSON on stdin and prints\n"
    "  the prompt rendered with DIR/tokenizer_config.json's chat_template on stdout, exactly.\n"
    "  --model DIR               model directory holding tokenizer_config.json\n"
    "  --add-generation-prompt   end with the assistant turn's opening (add_generation_prompt)\n";

static int read_all(FILE *f, char **out, size_t *len) {
  size_t cap = 65536, n = 0;
  char *p = malloc(cap);
  if (!p) return -1;
  for (;;) {
    if (n == cap) {
      if (cap > ((size_t)1 << 30)) { free(p); return -2; }
      char *q = realloc(p, cap * 2);
      if (!q) { free(p); return -1; }
      p = q;
      cap *= 2;
    }
    size_t k = fread(p + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  if (ferror(f)) { free(p); return -1; }
  *out = p;
  *len = n;
  return 0;
}

int lt_cmd_chat_template(int argc, char **argv) {
  const char *model = NULL;
  int agp = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(lt_chat_usage, stdout); return 0; }
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    else if (!strcmp(argv[i], "--add-generation-prompt")) agp = 1;
    else if (!strcmp(argv[i], "chat-template") && i == 1) continue;
    else { lt_cli_error("chat-template: unknown or incomplete option '%s' (see --help)", argv[i]); return 2; }
  }
  if (!model) { lt_cli_error("chat-template: --model DIR is required (see --help)"); return 2; }
  lt_tok_config cfg;
  if (lt_tok_config_load(model, &cfg) != LATTE_OK) { lt_cli_error("%s", latte_last_error()); return 1; }
  if (!cfg.chat_template) {
    lt_cli_error("%s/tokenizer_config.json: no chat_template", model);
    lt_tok_config_free(&cfg);
    return 1;
  }
  int rc = 1;
  char *in = NULL, *out = NULL;
  size_t in_len = 0, out_len = 0;
  lt_json_doc *doc = NULL;
  lt_chat_template *t = NULL;
  int r = read_all(stdin, &in, &in_len);
  if (r) { lt_cli_error(r == -2 ? "stdin: input too large" : "stdin: read failed"); goto done; }
  if (lt_json_parse(in, in_len, &doc) != LATTE_OK) { lt_cli_error("stdin: %s", latte_last_error()); goto done; }
  const lt_json *root = lt_json_root(doc);
  const lt_json *msgs = lt_json_get(root, "messages"), *tools = lt_json_get(root, "tools");
  if (!msgs || msgs->type != LT_JARR) { lt_cli_error("stdin: expected an object with a \"messages\" array"); goto done; }
  if (tools && tools->type != LT_JARR && tools->type != LT_JNULL) { lt_cli_error("stdin: \"tools\" must be an array"); goto done; }
  if (lt_chat_template_new(cfg.chat_template, &t) != LATTE_OK ||
      lt_chat_render(t, msgs, tools, agp, cfg.bos_token, cfg.eos_token, &out, &out_len) != LATTE_OK) {
    lt_cli_error("%s", latte_last_error());
    goto done;
  }
  if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) { lt_cli_error("stdout: write failed"); goto done; }
  rc = 0;
done:
  free(out);
  lt_chat_template_free(t);
  lt_json_free(doc);
  free(in);
  lt_tok_config_free(&cfg);
  return rc;
}
