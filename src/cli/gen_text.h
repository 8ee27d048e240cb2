/* gen_text.h — the text side of `latte generate`: tokenizes --prompt (wrapped in the chat template
 * with --chat), and streams generated ids back as text through the streaming detokenizer. */
#ifndef LT_GEN_TEXT_H
#define LT_GEN_TEXT_H
#include <stdint.h>
typedef struct lt_gen_text lt_gen_text;
/* 0 on success (ids malloc'd), -1 after printing an error. */
int lt_gen_text_open(const char *model_dir, const char *prompt, int chat, lt_gen_text **out, int32_t **ids, int *n);
int lt_gen_text_is_eos(const lt_gen_text *g, int32_t id);
void lt_gen_text_emit(lt_gen_text *g, int32_t id);    /* prints newly complete text to stdout */
void lt_gen_text_finish(lt_gen_text *g);              /* flushes and prints a newline */
void lt_gen_text_close(lt_gen_text *g);               /* NULL is fine */
#endif
