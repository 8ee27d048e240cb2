/* tokconfig.h — the parts of a model's tokenizer_config.json that prompt building needs:
 * bos/eos token text, whether to add them, and the chat template. */
#ifndef LT_TOKCONFIG_H
#define LT_TOKCONFIG_H
#include "latte.h"

typedef struct {
  char *bos_token, *eos_token; /* malloc'd or NULL */
  int add_bos_token, add_eos_token;
  char *chat_template;         /* malloc'd or NULL; a named list yields its "default" entry */
} lt_tok_config;

/* Read model_dir/tokenizer_config.json. A missing file is not an error (all fields NULL/0). */
latte_status lt_tok_config_load(const char *model_dir, lt_tok_config *out);
void lt_tok_config_free(lt_tok_config *c);
#endif
