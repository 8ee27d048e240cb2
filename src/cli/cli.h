/* cli.h — the `latte` subcommands. Each returns the process exit code (0 ok, 1 error, 2 usage) and
 * prints errors as one line on stderr; main.c dispatches on argv[1]. */
#ifndef LT_CLI_H
#define LT_CLI_H
int lt_cmd_logits(int argc, char **argv);
int lt_cmd_generate(int argc, char **argv);
int lt_cmd_init_model(int argc, char **argv);
int lt_cmd_bench(int argc, char **argv);
int lt_cmd_tokenize(int argc, char **argv);
int lt_cmd_detokenize(int argc, char **argv);
int lt_cmd_chat_template(int argc, char **argv);
/* Print "latte: <msg>" on stderr. */
void lt_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
