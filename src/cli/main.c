/* main.c — the `latte` command: dispatches argv[1] to a subcommand (src/cli/cmd_*.c) and prints
 * usage. Every subcommand prints errors as one line "latte: ..." on stderr and exits non-zero. */
#include "cli/cli.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lt_cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("latte: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* The server lives in its own files; a build without them still links (weak) and says so. */
int lt_cmd_serve(int argc, char **argv) __attribute__((weak));
static int cmd_serve(int argc, char **argv) {
  if (!lt_cmd_serve) { lt_cli_error("serve: this build has no HTTP server"); return 1; }
  return lt_cmd_serve(argc, argv);
}

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } lt_cmd;

static const lt_cmd cmds[] = {
  {"serve", cmd_serve, "OpenAI-compatible HTTP server with continuous batching and a prefix cache"},
  {"generate", lt_cmd_generate, "generate tokens from a prompt (ids or text)"},
  {"logits", lt_cmd_logits, "write the logits of every prompt position to a safetensors file"},
  {"bench", lt_cmd_bench, "offline prefill/decode throughput on random ids; `bench serve`: HTTP load generator"},
  {"init-model", lt_cmd_init_model, "write a random-weight DeepSeek checkpoint (tiny, deepseek-v2-lite, deepseek-v3)"},
  {"tokenize", lt_cmd_tokenize, "text on stdin to token ids"},
  {"detokenize", lt_cmd_detokenize, "token ids on stdin to text"},
  {"chat-template", lt_cmd_chat_template, "render a conversation with the model's chat template"},
};

static void usage(FILE *o) {
  fprintf(o, "latte — a latent-attention tensor engine for DeepSeek models\n\nusage: latte COMMAND [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(o, "  %-14s %s\n", cmds[i].name, cmds[i].help);
  fprintf(o, "\nRun `latte COMMAND --help` for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
  lt_cli_error("unknown command '%s' (try latte --help)", argv[1]);
  return 2;
}
