/* json.c — strict recursive-descent JSON parser into an arena, and the lt_sbuf string builder.
 * Depth is capped (LT_JSON_MAX_DEPTH) so hostile input cannot overflow the stack. */
#include "base/json.h"
#include "base/err.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_JSON_MAX_DEPTH 256

typedef struct lt_chunk { struct lt_chunk *next; size_t used, cap; char data[]; } lt_chunk;
struct lt_json_doc { lt_chunk *chunks; lt_json root; };

typedef struct {
  const char *s, *end, *p;
  lt_json_doc *doc;
  char err[160];
  int depth;
} lt_jp;

static void *arena_alloc(lt_json_doc *d, size_t n) {
  n = (n + 15) & ~(size_t)15;
  lt_chunk *c = d->chunks;
  if (!c || c->used + n > c->cap) {
    size_t cap = n > (1u << 20) ? n : (1u << 20);
    c = malloc(sizeof(lt_chunk) + cap);
    if (!c) return NULL;
    c->next = d->chunks; c->used = 0; c->cap = cap;
    d->chunks = c;
  }
  void *r = c->data + c->used;
  c->used += n;
  return r;
}

static int jp_fail(lt_jp *j, const char *msg) {
  if (!j->err[0]) snprintf(j->err, sizeof j->err, "%s", msg);
  return -1;
}

static void skip_ws(lt_jp *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

int lt_utf8_len(const unsigned char *s, size_t n) {
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int len; unsigned min;
  if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; c &= 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; c &= 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; c &= 0x07; }
  else return 0;
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  return len;
}

static int put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

static int hex4(lt_jp *j, unsigned *out) {
  if (j->end - j->p < 4) return jp_fail(j, "truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = j->p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return jp_fail(j, "bad hex digit in \\u escape");
  }
  j->p += 4;
  *out = v;
  return 0;
}

/* Parses a string at j->p (on the opening quote). */
static int parse_str(lt_jp *j, const char **out, size_t *outlen) {
  j->p++;
  const char *q = j->p;
  size_t raw = 0;
  int simple = 1;
  while (q < j->end && *q != '"') {
    if (*q == '\\') { simple = 0; q++; }
    q++; raw++;
  }
  if (q >= j->end) return jp_fail(j, "unterminated string");
  char *o = arena_alloc(j->doc, (size_t)(q - j->p) + 1);
  if (!o) return jp_fail(j, "out of memory");
  size_t n = 0;
  (void)raw; (void)simple;
  while (*j->p != '"') {
    unsigned char c = (unsigned char)*j->p;
    if (c < 0x20) return jp_fail(j, "control character in string");
    if (c == '\\') {
      j->p++;
      char e = *j->p++;
      switch (e) {
      case '"': o[n++] = '"'; break;
      case '\\': o[n++] = '\\'; break;
      case '/': o[n++] = '/'; break;
      case 'b': o[n++] = '\b'; break;
      case 'f': o[n++] = '\f'; break;
      case 'n': o[n++] = '\n'; break;
      case 'r': o[n++] = '\r'; break;
      case 't': o[n++] = '\t'; break;
      case 'u': {
        unsigned cp;
        if (hex4(j, &cp)) return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
            j->p += 2;
            if (hex4(j, &lo)) return -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else { n += (size_t)put_utf8(o + n, 0xFFFD); cp = lo >= 0xD800 && lo <= 0xDFFF ? 0xFFFD : lo; }
          } else cp = 0xFFFD;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) cp = 0xFFFD;
        n += (size_t)put_utf8(o + n, cp);
        break;
      }
      default: j->p--; return jp_fail(j, "bad escape in string");
      }
    } else if (c < 0x80) {
      o[n++] = (char)c; j->p++;
    } else {
      int l = lt_utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
      if (!l) return jp_fail(j, "invalid UTF-8 in string");
      memcpy(o + n, j->p, (size_t)l); n += (size_t)l; j->p += l;
    }
  }
  j->p++;
  o[n] = 0;
  *out = o; *outlen = n;
  return 0;
}

static int parse_value(lt_jp *j, lt_json *v);

static int parse_num(lt_jp *j, lt_json *v) {
  const char *st = j->p;
  int isint = 1;
  if (j->p < j->end && *j->p == '-') j->p++;
  if (j->p >= j->end) return jp_fail(j, "bad number");
  if (*j->p == '0') j->p++;
  else if (*j->p >= '1' && *j->p <= '9') while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  else return jp_fail(j, "bad number");
  if (j->p < j->end && *j->p == '.') {
    isint = 0; j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jp_fail(j, "bad number");
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    isint = 0; j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jp_fail(j, "bad number");
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  }
  char buf[64];
  size_t n = (size_t)(j->p - st);
  if (n >= sizeof buf) { isint = 0; }
  char *tmp = n < sizeof buf ? buf : malloc(n + 1);
  if (!tmp) return jp_fail(j, "out of memory");
  memcpy(tmp, st, n); tmp[n] = 0;
  v->type = LT_JNUM;
  v->num = strtod(tmp, NULL);
  if (isint) {
    errno = 0;
    long long x = strtoll(tmp, NULL, 10);
    if (errno == 0) { v->is_int = 1; v->inum = x; }
  }
  if (tmp != buf) free(tmp);
  return 0;
}

typedef struct { lt_json v; const char *k; size_t kl; } lt_jtmp;

static int parse_container(lt_jp *j, lt_json *v, int obj) {
  if (++j->depth > LT_JSON_MAX_DEPTH) return jp_fail(j, "nesting too deep");
  j->p++;
  size_t cap = 8, n = 0;
  lt_jtmp *tmp = malloc(cap * sizeof *tmp);
  if (!tmp) return jp_fail(j, "out of memory");
  skip_ws(j);
  char close = obj ? '}' : ']';
  if (j->p < j->end && *j->p == close) { j->p++; goto done; }
  for (;;) {
    if (n == cap) {
      cap *= 2;
      lt_jtmp *t2 = realloc(tmp, cap * sizeof *tmp);
      if (!t2) { free(tmp); return jp_fail(j, "out of memory"); }
      tmp = t2;
    }
    memset(&tmp[n], 0, sizeof tmp[n]);
    skip_ws(j);
    if (obj) {
      if (j->p >= j->end || *j->p != '"') { free(tmp); return jp_fail(j, "expected a string key"); }
      if (parse_str(j, &tmp[n].k, &tmp[n].kl)) { free(tmp); return -1; }
      skip_ws(j);
      if (j->p >= j->end || *j->p != ':') { free(tmp); return jp_fail(j, "expected ':' after key"); }
      j->p++;
    }
    if (parse_value(j, &tmp[n].v)) { free(tmp); return -1; }
    n++;
    skip_ws(j);
    if (j->p < j->end && *j->p == ',') { j->p++; continue; }
    if (j->p < j->end && *j->p == close) { j->p++; break; }
    free(tmp);
    return jp_fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
done:
  v->type = obj ? LT_JOBJ : LT_JARR;
  v->len = n;
  v->items = arena_alloc(j->doc, n * sizeof(lt_json) + 1);
  if (obj) {
    v->keys = arena_alloc(j->doc, n * sizeof(char *) + 1);
    v->key_lens = arena_alloc(j->doc, n * sizeof(size_t) + 1);
  }
  if (!v->items || (obj && (!v->keys || !v->key_lens))) { free(tmp); return jp_fail(j, "out of memory"); }
  for (size_t i = 0; i < n; i++) {
    v->items[i] = tmp[i].v;
    if (obj) { v->keys[i] = tmp[i].k; v->key_lens[i] = tmp[i].kl; }
  }
  free(tmp);
  j->depth--;
  return 0;
}

static int lit(lt_jp *j, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return jp_fail(j, "unexpected character");
  j->p += n;
  return 0;
}

static int parse_value(lt_jp *j, lt_json *v) {
  memset(v, 0, sizeof *v);
  skip_ws(j);
  if (j->p >= j->end) return jp_fail(j, "unexpected end of input");
  switch (*j->p) {
  case '{': return parse_container(j, v, 1);
  case '[': return parse_container(j, v, 0);
  case '"': v->type = LT_JSTR; return parse_str(j, &v->str, &v->len);
  case 't': v->type = LT_JBOOL; v->boolean = 1; return lit(j, "true");
  case 'f': v->type = LT_JBOOL; v->boolean = 0; return lit(j, "false");
  case 'n': v->type = LT_JNULL; return lit(j, "null");
  default: return parse_num(j, v);
  }
}

latte_status lt_json_parse(const char *text, size_t len, lt_json_doc **out) {
  *out = NULL;
  lt_json_doc *d = calloc(1, sizeof *d);
  if (!d) return lt_err(LATTE_ERR_NOMEM, "out of memory parsing JSON");
  lt_jp j = {.s = text, .end = text + len, .p = text, .doc = d};
  int rc = parse_value(&j, &d->root);
  if (!rc) {
    skip_ws(&j);
    if (j.p != j.end) rc = jp_fail(&j, "trailing characters after JSON value");
  }
  if (rc) {
    int line = 1, col = 1;
    for (const char *q = text; q < j.p && q < j.end; q++) {
      if (*q == '\n') { line++; col = 1; } else col++;
    }
    lt_json_free(d);
    return lt_err(LATTE_ERR_FORMAT, "line %d, column %d: %s", line, col, j.err);
  }
  *out = d;
  return LATTE_OK;
}

latte_status lt_json_parse_file(const char *path, lt_json_doc **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return lt_err(LATTE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END)) { fclose(f); return lt_err(LATTE_ERR_IO, "%s: cannot seek", path); }
  long sz = ftell(f);
  rewind(f);
  if (sz < 0) { fclose(f); return lt_err(LATTE_ERR_IO, "%s: cannot size", path); }
  char *buf = malloc((size_t)sz + 1);
  if (!buf) { fclose(f); return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", path); }
  size_t got = fread(buf, 1, (size_t)sz, f);
  fclose(f);
  if (got != (size_t)sz) { free(buf); return lt_err(LATTE_ERR_IO, "%s: short read", path); }
  latte_status s = lt_json_parse(buf, (size_t)sz, out);
  free(buf);
  if (s) return lt_err_prefix(s, "%s", path);
  return LATTE_OK;
}

const lt_json *lt_json_root(const lt_json_doc *d) { return &d->root; }

void lt_json_free(lt_json_doc *d) {
  if (!d) return;
  lt_chunk *c = d->chunks;
  while (c) { lt_chunk *n = c->next; free(c); c = n; }
  free(d);
}

const lt_json *lt_json_get(const lt_json *o, const char *key) {
  if (!o || o->type != LT_JOBJ) return NULL;
  size_t kl = strlen(key);
  for (size_t i = o->len; i-- > 0;)  /* last duplicate wins, as in Python */
    if (o->key_lens[i] == kl && !memcmp(o->keys[i], key, kl)) return &o->items[i];
  return NULL;
}

const lt_json *lt_json_at(const lt_json *a, size_t i) {
  if (!a || a->type != LT_JARR || i >= a->len) return NULL;
  return &a->items[i];
}

int lt_json_is_null(const lt_json *v) { return !v || v->type == LT_JNULL; }

int lt_json_num(const lt_json *o, const char *key, double *out) {
  const lt_json *v = lt_json_get(o, key);
  if (!v || v->type != LT_JNUM) return 0;
  *out = v->num;
  return 1;
}

int lt_json_int(const lt_json *o, const char *key, int64_t *out) {
  const lt_json *v = lt_json_get(o, key);
  if (!v || v->type != LT_JNUM) return 0;
  if (v->is_int) { *out = v->inum; return 1; }
  if (v->num == floor(v->num) && fabs(v->num) < 9e15) { *out = (int64_t)v->num; return 1; }
  return 0;
}

int lt_json_bool(const lt_json *o, const char *key, int *out) {
  const lt_json *v = lt_json_get(o, key);
  if (!v || v->type != LT_JBOOL) return 0;
  *out = v->boolean;
  return 1;
}

const char *lt_json_str(const lt_json *o, const char *key) {
  const lt_json *v = lt_json_get(o, key);
  return v && v->type == LT_JSTR ? v->str : NULL;
}

/* ---- string builder ---- */

static int sbuf_grow(lt_sbuf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->n + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) { b->oom = 1; return -1; }
  b->p = p; b->cap = cap;
  return 0;
}

void lt_sbuf_put(lt_sbuf *b, const void *s, size_t n) {
  if (sbuf_grow(b, n)) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
void lt_sbuf_puts(lt_sbuf *b, const char *s) { lt_sbuf_put(b, s, strlen(s)); }
void lt_sbuf_putc(lt_sbuf *b, char c) { lt_sbuf_put(b, &c, 1); }

void lt_sbuf_printf(lt_sbuf *b, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n > 0 && !sbuf_grow(b, (size_t)n)) {
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap2);
    b->n += (size_t)n;
  }
  va_end(ap2);
}

void lt_sbuf_json_str(lt_sbuf *b, const char *s, size_t n) {
  lt_sbuf_putc(b, '"');
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') { lt_sbuf_put(b, "\\\"", 2); i++; }
    else if (c == '\\') { lt_sbuf_put(b, "\\\\", 2); i++; }
    else if (c == '\n') { lt_sbuf_put(b, "\\n", 2); i++; }
    else if (c == '\r') { lt_sbuf_put(b, "\\r", 2); i++; }
    else if (c == '\t') { lt_sbuf_put(b, "\\t", 2); i++; }
    else if (c < 0x20 || c == 0x7f) { lt_sbuf_printf(b, "\\u%04x", c); i++; }
    else if (c < 0x80) { lt_sbuf_putc(b, (char)c); i++; }
    else {
      int l = lt_utf8_len((const unsigned char *)s + i, n - i);
      if (l) { lt_sbuf_put(b, s + i, (size_t)l); i += (size_t)l; }
      else { lt_sbuf_put(b, "\xEF\xBF\xBD", 3); i++; }
    }
  }
  lt_sbuf_putc(b, '"');
}

void lt_sbuf_json_value(lt_sbuf *b, const lt_json *v) {
  switch (v->type) {
  case LT_JNULL: lt_sbuf_puts(b, "null"); break;
  case LT_JBOOL: lt_sbuf_puts(b, v->boolean ? "true" : "false"); break;
  case LT_JNUM:
    if (v->is_int) lt_sbuf_printf(b, "%lld", (long long)v->inum);
    else lt_sbuf_printf(b, "%.17g", v->num);
    break;
  case LT_JSTR: lt_sbuf_json_str(b, v->str, v->len); break;
  case LT_JARR:
    lt_sbuf_putc(b, '[');
    for (size_t i = 0; i < v->len; i++) { if (i) lt_sbuf_putc(b, ','); lt_sbuf_json_value(b, &v->items[i]); }
    lt_sbuf_putc(b, ']');
    break;
  case LT_JOBJ:
    lt_sbuf_putc(b, '{');
    for (size_t i = 0; i < v->len; i++) {
      if (i) lt_sbuf_putc(b, ',');
      lt_sbuf_json_str(b, v->keys[i], v->key_lens[i]);
      lt_sbuf_putc(b, ':');
      lt_sbuf_json_value(b, &v->items[i]);
    }
    lt_sbuf_putc(b, '}');
    break;
  }
}

void lt_sbuf_free(lt_sbuf *b) { free(b->p); b->p = NULL; b->n = b->cap = 0; b->oom = 0; }
