/* jinja_value.c — runtime values of the Jinja interpreter (None, bool, int, float, str, list,
 * dict, namespace): construction from JSON, truthiness, equality and ordering, and the two ways
 * to print them that templates observe: Python str()/repr() and json.dumps() (HF's tojson). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/err.h"
#include "text/jinja_impl.h"

int lt_jfail(lt_jctx *c, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lt_err(LATTE_ERR_INVALID, "template error at line %d: %s", c->line, msg);
  return -1;
}

lt_jv lt_jv_undef(const char *name) { lt_jv v = {.type = LT_JV_UNDEF, .s = name}; return v; }
lt_jv lt_jv_none(void) { lt_jv v = {.type = LT_JV_NONE}; return v; }
lt_jv lt_jv_bool(int b) { lt_jv v = {.type = LT_JV_BOOL, .b = !!b}; return v; }
lt_jv lt_jv_int(int64_t i) { lt_jv v = {.type = LT_JV_INT, .i = i}; return v; }
lt_jv lt_jv_float(double f) { lt_jv v = {.type = LT_JV_FLOAT, .f = f}; return v; }
lt_jv lt_jv_str(const char *s, size_t n) { lt_jv v = {.type = LT_JV_STR, .s = s ? s : "", .n = n}; return v; }

lt_jv lt_jv_strdup(lt_jctx *c, const char *s, size_t n) {
  char *p = lt_ja_strdup(&c->a, s, n);
  if (!p) return lt_jv_undef(NULL);
  return lt_jv_str(p, n);
}

lt_jv lt_jv_list(lt_jctx *c, size_t cap) {
  lt_jv v = {.type = LT_JV_LIST};
  v.list = lt_ja_alloc(&c->a, sizeof *v.list);
  if (!v.list) return lt_jv_undef(NULL);
  if (cap) {
    v.list->v = lt_ja_alloc(&c->a, cap * sizeof *v.list->v);
    if (!v.list->v) return lt_jv_undef(NULL);
    v.list->cap = cap;
  }
  return v;
}

lt_jv lt_jv_dict(lt_jctx *c, size_t cap) {
  lt_jv v = {.type = LT_JV_DICT};
  v.dict = lt_ja_alloc(&c->a, sizeof *v.dict);
  if (!v.dict) return lt_jv_undef(NULL);
  (void)cap;
  return v;
}

int lt_jlist_push(lt_jctx *c, lt_jv *list, lt_jv v) {
  lt_jlist *l = list->list;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    lt_jv *nv = lt_ja_alloc(&c->a, cap * sizeof *nv);
    if (!nv) return lt_jfail(c, "out of memory (render arena limit)");
    if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
    l->v = nv;
    l->cap = cap;
  }
  l->v[l->n++] = v;
  return 0;
}

lt_jv *lt_jdict_get(const lt_jdict *d, const char *k, size_t kn) {
  for (size_t i = 0; i < d->n; i++)
    if (d->kn[i] == kn && !memcmp(d->k[i], k, kn)) return &d->v[i];
  return NULL;
}

int lt_jdict_set(lt_jctx *c, lt_jdict *d, const char *k, size_t kn, lt_jv v) {
  lt_jv *e = lt_jdict_get(d, k, kn);
  if (e) { *e = v; return 0; }
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 8;
    const char **nk = lt_ja_alloc(&c->a, cap * sizeof *nk);
    size_t *nkn = lt_ja_alloc(&c->a, cap * sizeof *nkn);
    lt_jv *nv = lt_ja_alloc(&c->a, cap * sizeof *nv);
    if (!nk || !nkn || !nv) return lt_jfail(c, "out of memory (render arena limit)");
    if (d->n) {
      memcpy(nk, d->k, d->n * sizeof *nk);
      memcpy(nkn, d->kn, d->n * sizeof *nkn);
      memcpy(nv, d->v, d->n * sizeof *nv);
    }
    d->k = nk; d->kn = nkn; d->v = nv; d->cap = cap;
  }
  d->k[d->n] = k;
  d->kn[d->n] = kn;
  d->v[d->n] = v;
  d->n++;
  return 0;
}

lt_jv lt_jv_from_json(lt_jctx *c, const lt_json *j) {
  if (!j) return lt_jv_undef(NULL);
  switch (j->type) {
  case LT_JNULL: return lt_jv_none();
  case LT_JBOOL: return lt_jv_bool(j->boolean);
  case LT_JNUM: return j->is_int ? lt_jv_int(j->inum) : lt_jv_float(j->num);
  case LT_JSTR: return lt_jv_str(j->str, j->len);
  case LT_JARR: {
    lt_jv l = lt_jv_list(c, j->len);
    if (l.type != LT_JV_LIST) return l;
    for (size_t i = 0; i < j->len; i++) {
      lt_jv e = lt_jv_from_json(c, &j->items[i]);
      if (c->a.oom) return lt_jv_undef(NULL);
      l.list->v[l.list->n++] = e;
    }
    return l;
  }
  case LT_JOBJ: {
    lt_jv d = lt_jv_dict(c, j->len);
    if (d.type != LT_JV_DICT) return d;
    for (size_t i = 0; i < j->len; i++) {
      lt_jv e = lt_jv_from_json(c, &j->items[i]);
      if (c->a.oom || lt_jdict_set(c, d.dict, j->keys[i], j->key_lens[i], e)) return lt_jv_undef(NULL);
    }
    return d;
  }
  }
  return lt_jv_undef(NULL);
}

const char *lt_jv_type_name(const lt_jv *v) {
  switch (v->type) {
  case LT_JV_UNDEF: return "undefined";
  case LT_JV_NONE: return "none";
  case LT_JV_BOOL: return "bool";
  case LT_JV_INT: return "int";
  case LT_JV_FLOAT: return "float";
  case LT_JV_STR: return "string";
  case LT_JV_LIST: return "list";
  case LT_JV_DICT: return "dict";
  case LT_JV_NS: return "namespace";
  case LT_JV_FUNC: return "function";
  }
  return "?";
}

int lt_jv_truthy(const lt_jv *v) {
  switch (v->type) {
  case LT_JV_UNDEF: case LT_JV_NONE: return 0;
  case LT_JV_BOOL: return v->b;
  case LT_JV_INT: return v->i != 0;
  case LT_JV_FLOAT: return v->f != 0.0;
  case LT_JV_STR: return v->n != 0;
  case LT_JV_LIST: return v->list->n != 0;
  case LT_JV_DICT: return v->dict->n != 0;
  case LT_JV_NS: case LT_JV_FUNC: return 1;
  }
  return 0;
}

static int is_num(const lt_jv *v) { return v->type == LT_JV_INT || v->type == LT_JV_FLOAT || v->type == LT_JV_BOOL; }
static double num_f(const lt_jv *v) { return v->type == LT_JV_FLOAT ? v->f : v->type == LT_JV_INT ? (double)v->i : v->b; }
static int64_t num_i(const lt_jv *v) { return v->type == LT_JV_INT ? v->i : v->b; }

int lt_jv_equal(const lt_jv *x, const lt_jv *y) {
  if (is_num(x) && is_num(y)) {
    if (x->type != LT_JV_FLOAT && y->type != LT_JV_FLOAT) return num_i(x) == num_i(y);
    return num_f(x) == num_f(y);
  }
  if (x->type != y->type) return 0;
  switch (x->type) {
  case LT_JV_UNDEF: case LT_JV_NONE: return 1;
  case LT_JV_STR: return x->n == y->n && !memcmp(x->s, y->s, x->n);
  case LT_JV_LIST:
    if (x->list->n != y->list->n) return 0;
    for (size_t i = 0; i < x->list->n; i++) if (!lt_jv_equal(&x->list->v[i], &y->list->v[i])) return 0;
    return 1;
  case LT_JV_DICT:
    if (x->dict->n != y->dict->n) return 0;
    for (size_t i = 0; i < x->dict->n; i++) {
      lt_jv *o = lt_jdict_get(y->dict, x->dict->k[i], x->dict->kn[i]);
      if (!o || !lt_jv_equal(&x->dict->v[i], o)) return 0;
    }
    return 1;
  case LT_JV_NS: return x->dict == y->dict;
  case LT_JV_FUNC: return x->s == y->s && x->bound == y->bound;
  default: return 0;
  }
}

int lt_jv_compare(const lt_jv *x, const lt_jv *y, int *cmp) {
  if (is_num(x) && is_num(y)) {
    if (x->type != LT_JV_FLOAT && y->type != LT_JV_FLOAT) {
      int64_t a = num_i(x), b = num_i(y);
      *cmp = a < b ? -1 : a > b;
    } else {
      double a = num_f(x), b = num_f(y);
      *cmp = a < b ? -1 : a > b;
    }
    return 0;
  }
  if (x->type == LT_JV_STR && y->type == LT_JV_STR) {
    size_t m = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->s, y->s, m);
    *cmp = r ? (r < 0 ? -1 : 1) : (x->n < y->n ? -1 : x->n > y->n);
    return 0;
  }
  if (x->type == LT_JV_LIST && y->type == LT_JV_LIST) {
    size_t m = x->list->n < y->list->n ? x->list->n : y->list->n;
    for (size_t i = 0; i < m; i++) {
      if (lt_jv_equal(&x->list->v[i], &y->list->v[i])) continue;
      return lt_jv_compare(&x->list->v[i], &y->list->v[i], cmp);
    }
    *cmp = x->list->n < y->list->n ? -1 : x->list->n > y->list->n;
    return 0;
  }
  return -1;
}

size_t lt_utf8_count(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
  return k;
}

size_t lt_utf8_offset(const char *s, size_t n, size_t cp) {
  size_t k = 0, i = 0;
  for (; i < n; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (k == cp) return i;
      k++;
    }
  }
  return n;
}

/* Python float repr: the shortest digits that round-trip, fixed notation for 1e-4 <= |x| < 1e16. */
static void float_repr(lt_sbuf *b, double f, int json) {
  if (isnan(f)) { lt_sbuf_puts(b, json ? "NaN" : "nan"); return; }
  if (isinf(f)) { lt_sbuf_puts(b, f < 0 ? (json ? "-Infinity" : "-inf") : (json ? "Infinity" : "inf")); return; }
  if (f == 0) { lt_sbuf_puts(b, signbit(f) ? "-0.0" : "0.0"); return; }
  char e[40];
  int p;
  for (p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, f);
    if (strtod(e, NULL) == f) break;
  }
  /* e = [-]d[.ddd]e[+-]XX */
  const char *q = e;
  int neg = 0;
  if (*q == '-') { neg = 1; q++; }
  char dig[24];
  int nd = 0;
  for (; *q && *q != 'e'; q++) if (*q != '.') dig[nd++] = *q;
  int ex = atoi(q + 1);
  while (nd > 1 && dig[nd - 1] == '0') nd--;
  if (neg) lt_sbuf_putc(b, '-');
  if (ex >= -4 && ex < 16) {
    if (ex < 0) {
      lt_sbuf_puts(b, "0.");
      for (int i = 0; i < -ex - 1; i++) lt_sbuf_putc(b, '0');
      lt_sbuf_put(b, dig, (size_t)nd);
    } else {
      for (int i = 0; i <= ex; i++) lt_sbuf_putc(b, i < nd ? dig[i] : '0');
      lt_sbuf_putc(b, '.');
      if (nd > ex + 1) lt_sbuf_put(b, dig + ex + 1, (size_t)(nd - ex - 1));
      else lt_sbuf_putc(b, '0');
    }
  } else {
    lt_sbuf_putc(b, dig[0]);
    if (nd > 1) { lt_sbuf_putc(b, '.'); lt_sbuf_put(b, dig + 1, (size_t)(nd - 1)); }
    lt_sbuf_printf(b, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
  }
}

/* Python repr() of a str. */
static void str_repr(lt_sbuf *b, const char *s, size_t n) {
  int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
  char q = has_sq && !has_dq ? '"' : '\'';
  lt_sbuf_putc(b, q);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == (unsigned char)q || ch == '\\') { lt_sbuf_putc(b, '\\'); lt_sbuf_putc(b, (char)ch); }
    else if (ch == '\n') lt_sbuf_puts(b, "\\n");
    else if (ch == '\r') lt_sbuf_puts(b, "\\r");
    else if (ch == '\t') lt_sbuf_puts(b, "\\t");
    else if (ch < 0x20 || ch == 0x7f) lt_sbuf_printf(b, "\\x%02x", ch);
    else if (ch == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
      lt_sbuf_printf(b, "\\x%02x", (unsigned char)s[i + 1]);
      i++;
    } else lt_sbuf_putc(b, (char)ch);
  }
  lt_sbuf_putc(b, q);
}

static int repr_v(lt_jctx *c, lt_sbuf *b, const lt_jv *v, int depth) {
  if (depth > LT_J_MAX_DEPTH) return lt_jfail(c, "value nested too deeply to print");
  switch (v->type) {
  case LT_JV_STR: str_repr(b, v->s, v->n); return 0;
  case LT_JV_LIST:
    lt_sbuf_putc(b, '[');
    for (size_t i = 0; i < v->list->n; i++) {
      if (i) lt_sbuf_puts(b, ", ");
      if (repr_v(c, b, &v->list->v[i], depth + 1)) return -1;
    }
    lt_sbuf_putc(b, ']');
    return 0;
  case LT_JV_DICT: case LT_JV_NS:
    if (v->type == LT_JV_NS) lt_sbuf_puts(b, "<Namespace ");
    lt_sbuf_putc(b, '{');
    for (size_t i = 0; i < v->dict->n; i++) {
      if (i) lt_sbuf_puts(b, ", ");
      str_repr(b, v->dict->k[i], v->dict->kn[i]);
      lt_sbuf_puts(b, ": ");
      if (repr_v(c, b, &v->dict->v[i], depth + 1)) return -1;
    }
    lt_sbuf_putc(b, '}');
    if (v->type == LT_JV_NS) lt_sbuf_putc(b, '>');
    return 0;
  case LT_JV_UNDEF: return lt_jfail(c, "'%s' is undefined", v->s ? v->s : "value");
  default: return lt_jv_to_str(c, b, v);
  }
}

int lt_jv_to_str(lt_jctx *c, lt_sbuf *b, const lt_jv *v) {
  switch (v->type) {
  case LT_JV_UNDEF: return 0;
  case LT_JV_NONE: lt_sbuf_puts(b, "None"); return 0;
  case LT_JV_BOOL: lt_sbuf_puts(b, v->b ? "True" : "False"); return 0;
  case LT_JV_INT: lt_sbuf_printf(b, "%lld", (long long)v->i); return 0;
  case LT_JV_FLOAT: float_repr(b, v->f, 0); return 0;
  case LT_JV_STR: lt_sbuf_put(b, v->s, v->n); return 0;
  case LT_JV_FUNC: lt_sbuf_printf(b, "<function %s>", v->s ? v->s : "?"); return 0;
  default: return repr_v(c, b, v, 0);
  }
}

int lt_jv_stringify(lt_jctx *c, const lt_jv *v, lt_jv *out) {
  if (v->type == LT_JV_STR) { *out = *v; return 0; }
  lt_sbuf b = {0};
  if (lt_jv_to_str(c, &b, v)) { lt_sbuf_free(&b); return -1; }
  if (b.oom) { lt_sbuf_free(&b); return lt_jfail(c, "out of memory"); }
  *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
  lt_sbuf_free(&b);
  if (out->type != LT_JV_STR) return lt_jfail(c, "out of memory (render arena limit)");
  return 0;
}

/* json.dumps string escaping with ensure_ascii=False. */
static void json_str(lt_sbuf *b, const char *s, size_t n) {
  lt_sbuf_putc(b, '"');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    const char *esc = NULL;
    char u[8];
    if (ch == '"') esc = "\\\"";
    else if (ch == '\\') esc = "\\\\";
    else if (ch == '\n') esc = "\\n";
    else if (ch == '\r') esc = "\\r";
    else if (ch == '\t') esc = "\\t";
    else if (ch == '\b') esc = "\\b";
    else if (ch == '\f') esc = "\\f";
    else if (ch < 0x20) { snprintf(u, sizeof u, "\\u%04x", ch); esc = u; }
    if (!esc) continue;
    lt_sbuf_put(b, s + run, i - run);
    lt_sbuf_puts(b, esc);
    run = i + 1;
  }
  lt_sbuf_put(b, s + run, n - run);
  lt_sbuf_putc(b, '"');
}

static void newline_indent(lt_sbuf *b, int indent, int level) {
  lt_sbuf_putc(b, '\n');
  for (int i = 0; i < indent * level; i++) lt_sbuf_putc(b, ' ');
}

static int key_cmp_idx(const lt_jdict *d, size_t a, size_t b) {
  size_t m = d->kn[a] < d->kn[b] ? d->kn[a] : d->kn[b];
  int r = memcmp(d->k[a], d->k[b], m);
  return r ? r : (d->kn[a] < d->kn[b] ? -1 : d->kn[a] > d->kn[b]);
}

int lt_jv_to_json(lt_jctx *c, lt_sbuf *b, const lt_jv *v, int indent, const char *item_sep,
                  const char *key_sep, int sort_keys, int level) {
  if (level > LT_J_MAX_DEPTH) return lt_jfail(c, "tojson: value nested too deeply");
  switch (v->type) {
  case LT_JV_NONE: lt_sbuf_puts(b, "null"); return 0;
  case LT_JV_BOOL: lt_sbuf_puts(b, v->b ? "true" : "false"); return 0;
  case LT_JV_INT: lt_sbuf_printf(b, "%lld", (long long)v->i); return 0;
  case LT_JV_FLOAT: float_repr(b, v->f, 1); return 0;
  case LT_JV_STR: json_str(b, v->s, v->n); return 0;
  case LT_JV_LIST:
    if (!v->list->n) { lt_sbuf_puts(b, "[]"); return 0; }
    lt_sbuf_putc(b, '[');
    for (size_t i = 0; i < v->list->n; i++) {
      if (i) lt_sbuf_puts(b, item_sep);
      if (indent >= 0) newline_indent(b, indent, level + 1);
      if (lt_jv_to_json(c, b, &v->list->v[i], indent, item_sep, key_sep, sort_keys, level + 1)) return -1;
    }
    if (indent >= 0) newline_indent(b, indent, level);
    lt_sbuf_putc(b, ']');
    return 0;
  case LT_JV_DICT: {
    const lt_jdict *d = v->dict;
    if (!d->n) { lt_sbuf_puts(b, "{}"); return 0; }
    size_t *ord = lt_ja_alloc(&c->a, d->n * sizeof *ord);
    if (!ord) return lt_jfail(c, "out of memory (render arena limit)");
    for (size_t i = 0; i < d->n; i++) ord[i] = i;
    if (sort_keys) /* insertion sort: stable, dicts are small */
      for (size_t i = 1; i < d->n; i++)
        for (size_t j = i; j > 0 && key_cmp_idx(d, ord[j - 1], ord[j]) > 0; j--) {
          size_t t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
        }
    lt_sbuf_putc(b, '{');
    for (size_t i = 0; i < d->n; i++) {
      if (i) lt_sbuf_puts(b, item_sep);
      if (indent >= 0) newline_indent(b, indent, level + 1);
      json_str(b, d->k[ord[i]], d->kn[ord[i]]);
      lt_sbuf_puts(b, key_sep);
      if (lt_jv_to_json(c, b, &d->v[ord[i]], indent, item_sep, key_sep, sort_keys, level + 1)) return -1;
    }
    if (indent >= 0) newline_indent(b, indent, level);
    lt_sbuf_putc(b, '}');
    return 0;
  }
  default:
    return lt_jfail(c, "tojson: object of type %s is not JSON serializable", lt_jv_type_name(v));
  }
}
