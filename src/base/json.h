/* json.h — a small strict JSON reader (RFC 8259) and a string builder with JSON escaping.
 * Parsed values live in one arena owned by the lt_json_doc; strings are UTF-8 (validated),
 * NUL-terminated, with an explicit length (they may contain NUL). Objects keep key order. */
#ifndef LT_JSON_H
#define LT_JSON_H
#include <stddef.h>
#include <stdint.h>
#include "latte.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_JNULL, LT_JBOOL, LT_JNUM, LT_JSTR, LT_JARR, LT_JOBJ } lt_jtype;

typedef struct lt_json lt_json;
struct lt_json {
  lt_jtype type;
  int is_int;        /* LT_JNUM written without fraction/exponent and fits int64 */
  int boolean;       /* LT_JBOOL */
  double num;        /* LT_JNUM */
  int64_t inum;      /* LT_JNUM when is_int */
  const char *str;   /* LT_JSTR */
  size_t len;        /* LT_JSTR: bytes; LT_JARR/LT_JOBJ: element count */
  lt_json *items;    /* LT_JARR/LT_JOBJ: children [len] */
  const char **keys; /* LT_JOBJ: keys [len] (NUL-terminated) */
  size_t *key_lens;  /* LT_JOBJ: key byte lengths [len] */
};

typedef struct lt_json_doc lt_json_doc;

/* Parse text[0..len). On error returns LATTE_ERR_FORMAT with "line L, column C: what". */
latte_status lt_json_parse(const char *text, size_t len, lt_json_doc **out);
/* Read and parse a whole file; errors are prefixed with the path. */
latte_status lt_json_parse_file(const char *path, lt_json_doc **out);
const lt_json *lt_json_root(const lt_json_doc *d);
void lt_json_free(lt_json_doc *d);

const lt_json *lt_json_get(const lt_json *obj, const char *key); /* NULL if absent or not an object */
const lt_json *lt_json_at(const lt_json *arr, size_t i);          /* NULL if out of range */
int lt_json_is_null(const lt_json *v);                             /* absent or null */
/* Typed getters: return 1 and fill *out when present with the right type, else 0. */
int lt_json_num(const lt_json *obj, const char *key, double *out);
int lt_json_int(const lt_json *obj, const char *key, int64_t *out);
int lt_json_bool(const lt_json *obj, const char *key, int *out);
const char *lt_json_str(const lt_json *obj, const char *key); /* NULL if absent or not a string */

/* Growable byte buffer. */
typedef struct { char *p; size_t n, cap; int oom; } lt_sbuf;
void lt_sbuf_put(lt_sbuf *b, const void *s, size_t n);
void lt_sbuf_puts(lt_sbuf *b, const char *s);
void lt_sbuf_printf(lt_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lt_sbuf_putc(lt_sbuf *b, char c);
/* Append s[0..n) as a quoted JSON string (control chars, quotes, backslash escaped; bytes that are
 * not valid UTF-8 become U+FFFD). */
void lt_sbuf_json_str(lt_sbuf *b, const char *s, size_t n);
/* Append a value re-serialised compactly. */
void lt_sbuf_json_value(lt_sbuf *b, const lt_json *v);
void lt_sbuf_free(lt_sbuf *b);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s[0..n) does not start with one. */
int lt_utf8_len(const unsigned char *s, size_t n);
#ifdef __cplusplus
}
#endif
#endif
