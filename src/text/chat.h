/* chat.h — chat templates: turn a list of messages (and optional tools) into the prompt text a
 * model was trained on, by rendering the model's Jinja chat_template as HF transformers does. */
#ifndef LT_CHAT_H
#define LT_CHAT_H
#include <stddef.h>
#include "latte.h"
#include "base/json.h"

typedef struct lt_chat_template lt_chat_template;

/* Parse once; a syntax error names line and column. */
latte_status lt_chat_template_new(const char *template_text, lt_chat_template **out);
void lt_chat_template_free(lt_chat_template *t);

/* messages: a JSON array of message objects; tools: a JSON array or NULL (passed as None).
 * bos_token/eos_token may be NULL (then undefined in the template). *out is malloc'd,
 * NUL-terminated. Thread-safe for concurrent renders of one template. */
latte_status lt_chat_render(const lt_chat_template *t, const lt_json *messages, const lt_json *tools,
                            int add_generation_prompt, const char *bos_token, const char *eos_token,
                            char **out, size_t *out_len);
#endif
