/* jinja.h — a small Jinja2 interpreter for chat templates: parse a template once, render it many
 * times (concurrently) with variables taken from JSON. Semantics follow Jinja2 3.1 as HF
 * transformers configures it (trim_blocks, lstrip_blocks, HF's tojson and raise_exception). */
#ifndef LT_JINJA_H
#define LT_JINJA_H
#include <stddef.h>
#include "latte.h"
#include "base/json.h"

typedef struct lt_jinja lt_jinja;

/* Parse template text. A syntax error returns LATTE_ERR_FORMAT naming line and column. */
latte_status lt_jinja_parse(const char *text, size_t len, lt_jinja **out);
void lt_jinja_free(lt_jinja *t);

/* One template variable: a JSON value, a string, a boolean or None. */
typedef enum { LT_JVAR_JSON, LT_JVAR_STR, LT_JVAR_BOOL, LT_JVAR_NONE } lt_jvar_kind;
typedef struct {
  const char *name;
  lt_jvar_kind kind;
  const lt_json *json; /* LT_JVAR_JSON */
  const char *str;     /* LT_JVAR_STR (NUL-terminated UTF-8) */
  int boolean;         /* LT_JVAR_BOOL */
} lt_jinja_var;

/* Render; *out is malloc'd and NUL-terminated (the caller frees it). Runtime errors
 * (raise_exception, a bad operand type, a limit hit) return LATTE_ERR_INVALID with the message
 * and template line. Thread-safe: a parsed template is never modified by rendering. */
latte_status lt_jinja_render(const lt_jinja *t, const lt_jinja_var *vars, size_t nvars, char **out,
                             size_t *out_len);
#endif
