/* jinja_filters.c — the builtins templates call: filters (x|trim, x|tojson(indent=4), ...),
 * tests (x is defined, x is string, ...), methods on strings and dicts (s.split(), d.items()),
 * and globals (range, namespace, raise_exception, strftime_now), with Python's semantics. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/err.h"
#include "text/jinja_impl.h"

#define OOM(c) lt_jfail(c, "out of memory (render arena limit)")

static int is_pyspace(unsigned char ch) { return ch == ' ' || (ch >= 9 && ch <= 13) || (ch >= 0x1c && ch <= 0x1f); }

/* Find a keyword argument, else the positional one at index pos (or NULL). */
static lt_jv *arg(lt_jv *args, const char **kw, int nargs, int pos, const char *name) {
  for (int i = 0; i < nargs; i++) if (kw && kw[i] && !strcmp(kw[i], name)) return &args[i];
  int k = 0;
  for (int i = 0; i < nargs; i++) {
    if (kw && kw[i]) continue;
    if (k++ == pos) return &args[i];
  }
  return NULL;
}

static int need_str(lt_jctx *c, const lt_jv *v, const char *what) {
  if (v->type == LT_JV_STR) return 0;
  if (v->type == LT_JV_UNDEF) return lt_jfail(c, "'%s' is undefined", v->s ? v->s : "value");
  return lt_jfail(c, "%s expects a string, got %s", what, lt_jv_type_name(v));
}

static int strip(lt_jctx *c, const lt_jv *s, const lt_jv *chars, int left, int right, lt_jv *out) {
  size_t b = 0, e = s->n;
  if (chars && chars->type == LT_JV_STR) {
    /* strip any of the given (ASCII or multi-byte) characters */
    for (;;) {
      int hit = 0;
      for (size_t i = 0; left && i < chars->n && b < e;) {
        size_t cl = 1;
        while (i + cl < chars->n && ((unsigned char)chars->s[i + cl] & 0xC0) == 0x80) cl++;
        if (e - b >= cl && !memcmp(s->s + b, chars->s + i, cl)) { b += cl; hit = 1; break; }
        i += cl;
      }
      for (size_t i = 0; right && i < chars->n && b < e;) {
        size_t cl = 1;
        while (i + cl < chars->n && ((unsigned char)chars->s[i + cl] & 0xC0) == 0x80) cl++;
        if (e - b >= cl && !memcmp(s->s + e - cl, chars->s + i, cl)) { e -= cl; hit = 1; break; }
        i += cl;
      }
      if (!hit) break;
    }
  } else if (chars && chars->type != LT_JV_NONE) {
    return lt_jfail(c, "strip arg must be none or a string");
  } else {
    while (left && b < e && is_pyspace((unsigned char)s->s[b])) b++;
    while (right && e > b && is_pyspace((unsigned char)s->s[e - 1])) e--;
  }
  *out = lt_jv_str(s->s + b, e - b);
  return 0;
}

static int split(lt_jctx *c, const lt_jv *s, const lt_jv *sep, const lt_jv *maxsplit, lt_jv *out) {
  int64_t ms = maxsplit && maxsplit->type == LT_JV_INT ? maxsplit->i : -1;
  *out = lt_jv_list(c, 0);
  if (out->type != LT_JV_LIST) return OOM(c);
  if (!sep || sep->type == LT_JV_NONE) {
    size_t i = 0;
    for (;;) {
      while (i < s->n && is_pyspace((unsigned char)s->s[i])) i++;
      if (i >= s->n) break;
      size_t j = i;
      if (ms == 0) j = s->n;
      else while (j < s->n && !is_pyspace((unsigned char)s->s[j])) j++;
      if (lt_jlist_push(c, out, lt_jv_str(s->s + i, j - i))) return -1;
      if (ms > 0) ms--;
      i = j;
      if (j >= s->n) break;
    }
    return 0;
  }
  if (need_str(c, sep, "split")) return -1;
  if (sep->n == 0) return lt_jfail(c, "split: empty separator");
  size_t i = 0;
  for (;;) {
    const char *h = ms == 0 ? NULL : memmem(s->s + i, s->n - i, sep->s, sep->n);
    if (!h) { if (lt_jlist_push(c, out, lt_jv_str(s->s + i, s->n - i))) return -1; break; }
    size_t j = (size_t)(h - s->s);
    if (lt_jlist_push(c, out, lt_jv_str(s->s + i, j - i))) return -1;
    i = j + sep->n;
    if (ms > 0) ms--;
  }
  return 0;
}

static int replace(lt_jctx *c, const lt_jv *s, const lt_jv *old, const lt_jv *new_, const lt_jv *count, lt_jv *out) {
  if (need_str(c, old, "replace") || need_str(c, new_, "replace")) return -1;
  int64_t k = count && count->type == LT_JV_INT ? count->i : -1;
  lt_sbuf b = {0};
  size_t i = 0;
  if (old->n == 0) { /* Python inserts new_ between every character */
    size_t cps = lt_utf8_count(s->s, s->n);
    for (size_t cp = 0; cp <= cps; cp++) {
      if (k != 0) { lt_sbuf_put(&b, new_->s, new_->n); if (k > 0) k--; }
      if (cp < cps) {
        size_t a = lt_utf8_offset(s->s, s->n, cp), e = lt_utf8_offset(s->s, s->n, cp + 1);
        lt_sbuf_put(&b, s->s + a, e - a);
      }
    }
  } else {
    for (;;) {
      const char *h = k == 0 ? NULL : memmem(s->s + i, s->n - i, old->s, old->n);
      if (!h) { lt_sbuf_put(&b, s->s + i, s->n - i); break; }
      lt_sbuf_put(&b, s->s + i, (size_t)(h - s->s) - i);
      lt_sbuf_put(&b, new_->s, new_->n);
      i = (size_t)(h - s->s) + old->n;
      if (k > 0) k--;
      if (b.n > LT_J_MAX_OUT) break;
    }
  }
  if (b.n > LT_J_MAX_OUT || b.oom) { lt_sbuf_free(&b); return lt_jfail(c, "replace: result too large"); }
  *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
  lt_sbuf_free(&b);
  return out->type == LT_JV_STR ? 0 : OOM(c);
}

/* ASCII case mapping (Python maps all of Unicode; templates only need ASCII here). */
static int recase(lt_jctx *c, const lt_jv *s, int mode, lt_jv *out) {
  char *p = lt_ja_strdup(&c->a, s->s, s->n);
  if (!p) return OOM(c);
  int start = 1;
  for (size_t i = 0; i < s->n; i++) {
    unsigned char ch = (unsigned char)p[i];
    int alpha = isalpha(ch);
    if (mode == 0) p[i] = (char)tolower(ch);
    else if (mode == 1) p[i] = (char)toupper(ch);
    else if (mode == 2) p[i] = (char)(i == 0 ? toupper(ch) : tolower(ch));
    else { p[i] = (char)(start ? toupper(ch) : tolower(ch)); }
    start = !alpha && !(ch & 0x80);
  }
  *out = lt_jv_str(p, s->n);
  return 0;
}

static int to_list(lt_jctx *c, const lt_jv *v, lt_jv *out) {
  switch (v->type) {
  case LT_JV_LIST: *out = *v; return 0;
  case LT_JV_UNDEF: *out = lt_jv_list(c, 0); return out->type == LT_JV_LIST ? 0 : OOM(c);
  case LT_JV_DICT:
    *out = lt_jv_list(c, v->dict->n);
    if (out->type != LT_JV_LIST) return OOM(c);
    for (size_t i = 0; i < v->dict->n; i++)
      if (lt_jlist_push(c, out, lt_jv_str(v->dict->k[i], v->dict->kn[i]))) return -1;
    return 0;
  case LT_JV_STR:
    *out = lt_jv_list(c, 0);
    if (out->type != LT_JV_LIST) return OOM(c);
    for (size_t i = 0; i < v->n;) {
      size_t e = i + 1;
      while (e < v->n && ((unsigned char)v->s[e] & 0xC0) == 0x80) e++;
      if (lt_jlist_push(c, out, lt_jv_str(v->s + i, e - i))) return -1;
      i = e;
    }
    return 0;
  default: return lt_jfail(c, "'%s' object is not iterable", lt_jv_type_name(v));
  }
}

static int dict_items(lt_jctx *c, const lt_jv *v, lt_jv *out) {
  if (v->type == LT_JV_UNDEF) { *out = lt_jv_list(c, 0); return out->type == LT_JV_LIST ? 0 : OOM(c); }
  if (v->type != LT_JV_DICT && v->type != LT_JV_NS) return lt_jfail(c, "items: expected a mapping, got %s", lt_jv_type_name(v));
  *out = lt_jv_list(c, v->dict->n);
  if (out->type != LT_JV_LIST) return OOM(c);
  for (size_t i = 0; i < v->dict->n; i++) {
    lt_jv pair = lt_jv_list(c, 2);
    if (pair.type != LT_JV_LIST) return OOM(c);
    pair.list->v[0] = lt_jv_str(v->dict->k[i], v->dict->kn[i]);
    pair.list->v[1] = v->dict->v[i];
    pair.list->n = 2;
    if (lt_jlist_push(c, out, pair)) return -1;
  }
  return 0;
}

static int attr_of(lt_jctx *c, const lt_jv *item, const lt_jv *attr, lt_jv *out) {
  if (need_str(c, attr, "attribute")) return -1;
  /* dotted paths ("function.name") walk nested mappings */
  lt_jv cur = *item;
  size_t i = 0;
  while (i <= attr->n) {
    const char *dot = memchr(attr->s + i, '.', attr->n - i);
    size_t e = dot ? (size_t)(dot - attr->s) : attr->n;
    if (cur.type == LT_JV_DICT || cur.type == LT_JV_NS) {
      lt_jv *v = lt_jdict_get(cur.dict, attr->s + i, e - i);
      cur = v ? *v : lt_jv_undef("attribute");
    } else cur = lt_jv_undef("attribute");
    i = e + 1;
    if (!dot) break;
  }
  *out = cur;
  (void)c;
  return 0;
}

/* select/reject/selectattr/rejectattr/map */
static int select_like(lt_jctx *c, const char *name, lt_jv *val, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  lt_jv items;
  if (to_list(c, val, &items)) return -1;
  int by_attr = !strcmp(name, "selectattr") || !strcmp(name, "rejectattr");
  int reject = !strcmp(name, "reject") || !strcmp(name, "rejectattr");
  int is_map = !strcmp(name, "map");
  *out = lt_jv_list(c, 0);
  if (out->type != LT_JV_LIST) return OOM(c);
  if (is_map) {
    lt_jv *attr = arg(args, kw, nargs, 99, "attribute"), *def = arg(args, kw, nargs, 99, "default");
    lt_jv *filt = arg(args, kw, nargs, 0, "_");
    for (size_t i = 0; i < items.list->n; i++) {
      lt_jv r;
      if (attr) {
        if (attr_of(c, &items.list->v[i], attr, &r)) return -1;
        if (r.type == LT_JV_UNDEF && def) r = *def;
      } else if (filt && filt->type == LT_JV_STR) {
        if (lt_jfilter(c, filt->s, &items.list->v[i], args + 1, kw ? kw + 1 : NULL, nargs - 1, &r)) return -1;
      } else return lt_jfail(c, "map: expected a filter name or attribute=");
      if (lt_jlist_push(c, out, r)) return -1;
    }
    return 0;
  }
  int first = by_attr ? 1 : 0;
  lt_jv *attr = by_attr ? arg(args, kw, nargs, 0, "_") : NULL;
  lt_jv *test = nargs > first ? &args[first] : NULL;
  if (by_attr && !attr) return lt_jfail(c, "%s: missing attribute name", name);
  if (test && need_str(c, test, name)) return -1;
  for (size_t i = 0; i < items.list->n; i++) {
    lt_jv subject = items.list->v[i];
    if (attr && attr_of(c, &items.list->v[i], attr, &subject)) return -1;
    int ok;
    if (test) {
      if (lt_jtest(c, test->s, &subject, args + first + 1, nargs - first - 1, &ok)) return -1;
    } else ok = lt_jv_truthy(&subject);
    if (ok != reject && lt_jlist_push(c, out, items.list->v[i])) return -1;
  }
  return 0;
}

static int lower_cmp(const lt_jv *a, const lt_jv *b, int *r) {
  if (a->type == LT_JV_STR && b->type == LT_JV_STR) {
    size_t m = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < m; i++) {
      int x = tolower((unsigned char)a->s[i]), y = tolower((unsigned char)b->s[i]);
      if (x != y) { *r = x < y ? -1 : 1; return 0; }
    }
    *r = a->n < b->n ? -1 : a->n > b->n;
    return 0;
  }
  return lt_jv_compare(a, b, r);
}

static int to_json(lt_jctx *c, lt_jv *val, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  lt_jv *ea = arg(args, kw, nargs, 0, "ensure_ascii"), *ind = arg(args, kw, nargs, 1, "indent");
  lt_jv *sep = arg(args, kw, nargs, 2, "separators"), *sk = arg(args, kw, nargs, 3, "sort_keys");
  if (ea && lt_jv_truthy(ea)) return lt_jfail(c, "tojson: ensure_ascii=true is not supported");
  int indent = -1;
  if (ind && ind->type != LT_JV_NONE) {
    if (ind->type != LT_JV_INT || ind->i < 0 || ind->i > 64) return lt_jfail(c, "tojson: indent must be an integer 0..64");
    indent = (int)ind->i;
  }
  const char *isep = indent >= 0 ? "," : ", ", *ksep = ": ";
  if (sep && sep->type != LT_JV_NONE) {
    if (sep->type != LT_JV_LIST || sep->list->n != 2 || sep->list->v[0].type != LT_JV_STR || sep->list->v[1].type != LT_JV_STR)
      return lt_jfail(c, "tojson: separators must be a pair of strings");
    isep = lt_ja_strdup(&c->a, sep->list->v[0].s, sep->list->v[0].n);
    ksep = lt_ja_strdup(&c->a, sep->list->v[1].s, sep->list->v[1].n);
    if (!isep || !ksep) return OOM(c);
  }
  lt_sbuf b = {0};
  if (lt_jv_to_json(c, &b, val, indent, isep, ksep, sk && lt_jv_truthy(sk), 0)) { lt_sbuf_free(&b); return -1; }
  *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
  lt_sbuf_free(&b);
  return out->type == LT_JV_STR ? 0 : OOM(c);
}

static int indent_f(lt_jctx *c, const lt_jv *s, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  lt_jv *w = arg(args, kw, nargs, 0, "width"), *first = arg(args, kw, nargs, 1, "first");
  lt_jv *blank = arg(args, kw, nargs, 2, "blank");
  lt_sbuf pad = {0}, b = {0};
  if (w && w->type == LT_JV_STR) lt_sbuf_put(&pad, w->s, w->n);
  else { int64_t k = w && w->type == LT_JV_INT ? w->i : 4; for (int64_t i = 0; i < k && i < 256; i++) lt_sbuf_putc(&pad, ' '); }
  if (first && lt_jv_truthy(first)) lt_sbuf_put(&b, pad.p ? pad.p : "", pad.n);
  size_t i = 0, line = 0;
  while (i <= s->n) {
    const char *nl = memchr(s->s + i, '\n', s->n - i);
    size_t e = nl ? (size_t)(nl - s->s) : s->n;
    if (line > 0) {
      lt_sbuf_putc(&b, '\n');
      if (e > i || (blank && lt_jv_truthy(blank))) lt_sbuf_put(&b, pad.p ? pad.p : "", pad.n);
    }
    lt_sbuf_put(&b, s->s + i, e - i);
    line++;
    if (!nl) break;
    i = e + 1;
    if (i == s->n) break; /* a trailing newline ends the last line (splitlines) */
  }
  *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
  lt_sbuf_free(&pad);
  lt_sbuf_free(&b);
  return out->type == LT_JV_STR ? 0 : OOM(c);
}

int lt_jfilter(lt_jctx *c, const char *name, lt_jv *val, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  lt_jv s;
#define STRVAL() do { if (lt_jv_stringify(c, val, &s)) return -1; } while (0)
  if (!strcmp(name, "trim")) { STRVAL(); return strip(c, &s, arg(args, kw, nargs, 0, "chars"), 1, 1, out); }
  if (!strcmp(name, "length") || !strcmp(name, "count")) {
    switch (val->type) {
    case LT_JV_STR: *out = lt_jv_int((int64_t)lt_utf8_count(val->s, val->n)); return 0;
    case LT_JV_LIST: *out = lt_jv_int((int64_t)val->list->n); return 0;
    case LT_JV_DICT: case LT_JV_NS: *out = lt_jv_int((int64_t)val->dict->n); return 0;
    case LT_JV_UNDEF: *out = lt_jv_int(0); return 0;
    default: return lt_jfail(c, "object of type '%s' has no len()", lt_jv_type_name(val));
    }
  }
  if (!strcmp(name, "tojson")) return to_json(c, val, args, kw, nargs, out);
  if (!strcmp(name, "string")) return lt_jv_stringify(c, val, out);
  if (!strcmp(name, "safe")) { *out = *val; return 0; }
  if (!strcmp(name, "first") || !strcmp(name, "last")) {
    lt_jv l;
    if (to_list(c, val, &l)) return -1;
    if (!l.list->n) { *out = lt_jv_undef(name); return 0; }
    *out = l.list->v[name[0] == 'f' ? 0 : l.list->n - 1];
    return 0;
  }
  if (!strcmp(name, "join")) {
    lt_jv l, *d = arg(args, kw, nargs, 0, "d"), *attr = arg(args, kw, nargs, 1, "attribute");
    if (to_list(c, val, &l)) return -1;
    if (d && need_str(c, d, "join")) return -1;
    lt_sbuf b = {0};
    for (size_t i = 0; i < l.list->n; i++) {
      lt_jv item = l.list->v[i];
      if (attr && attr_of(c, &l.list->v[i], attr, &item)) { lt_sbuf_free(&b); return -1; }
      if (i && d) lt_sbuf_put(&b, d->s, d->n);
      if (lt_jv_to_str(c, &b, &item)) { lt_sbuf_free(&b); return -1; }
    }
    *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
    lt_sbuf_free(&b);
    return out->type == LT_JV_STR ? 0 : OOM(c);
  }
  if (!strcmp(name, "replace")) {
    STRVAL();
    lt_jv *o = arg(args, kw, nargs, 0, "old"), *n = arg(args, kw, nargs, 1, "new");
    if (!o || !n) return lt_jfail(c, "replace needs two arguments");
    return replace(c, &s, o, n, arg(args, kw, nargs, 2, "count"), out);
  }
  if (!strcmp(name, "lower")) { STRVAL(); return recase(c, &s, 0, out); }
  if (!strcmp(name, "upper")) { STRVAL(); return recase(c, &s, 1, out); }
  if (!strcmp(name, "capitalize")) { STRVAL(); return recase(c, &s, 2, out); }
  if (!strcmp(name, "title")) { STRVAL(); return recase(c, &s, 3, out); }
  if (!strcmp(name, "default") || !strcmp(name, "d")) {
    lt_jv *d = arg(args, kw, nargs, 0, "default_value"), *bo = arg(args, kw, nargs, 1, "boolean");
    int use = val->type == LT_JV_UNDEF || (bo && lt_jv_truthy(bo) && !lt_jv_truthy(val));
    *out = use ? (d ? *d : lt_jv_str("", 0)) : *val;
    return 0;
  }
  if (!strcmp(name, "list")) return to_list(c, val, out);
  if (!strcmp(name, "items")) return dict_items(c, val, out);
  if (!strcmp(name, "select") || !strcmp(name, "reject") || !strcmp(name, "selectattr") ||
      !strcmp(name, "rejectattr") || !strcmp(name, "map"))
    return select_like(c, name, val, args, kw, nargs, out);
  if (!strcmp(name, "int")) {
    lt_jv *d = arg(args, kw, nargs, 0, "default");
    if (val->type == LT_JV_INT || val->type == LT_JV_BOOL) { *out = lt_jv_int(val->type == LT_JV_INT ? val->i : val->b); return 0; }
    if (val->type == LT_JV_FLOAT && isfinite(val->f) && fabs(val->f) < 9e18) { *out = lt_jv_int((int64_t)val->f); return 0; }
    if (val->type == LT_JV_STR) {
      char buf[64];
      size_t n = val->n < 63 ? val->n : 63;
      memcpy(buf, val->s, n);
      buf[n] = 0;
      char *e;
      long long v = strtoll(buf, &e, 10);
      while (*e && is_pyspace((unsigned char)*e)) e++;
      if (e != buf && !*e) { *out = lt_jv_int(v); return 0; }
      double f = strtod(buf, &e);
      while (*e && is_pyspace((unsigned char)*e)) e++;
      if (e != buf && !*e && isfinite(f) && fabs(f) < 9e18) { *out = lt_jv_int((int64_t)f); return 0; }
    }
    *out = d ? *d : lt_jv_int(0);
    return 0;
  }
  if (!strcmp(name, "float")) {
    lt_jv *d = arg(args, kw, nargs, 0, "default");
    if (val->type == LT_JV_INT || val->type == LT_JV_BOOL || val->type == LT_JV_FLOAT) {
      *out = lt_jv_float(val->type == LT_JV_FLOAT ? val->f : val->type == LT_JV_INT ? (double)val->i : val->b);
      return 0;
    }
    if (val->type == LT_JV_STR) {
      char buf[64];
      size_t n = val->n < 63 ? val->n : 63;
      memcpy(buf, val->s, n);
      buf[n] = 0;
      char *e;
      double f = strtod(buf, &e);
      while (*e && is_pyspace((unsigned char)*e)) e++;
      if (e != buf && !*e) { *out = lt_jv_float(f); return 0; }
    }
    *out = d ? *d : lt_jv_float(0);
    return 0;
  }
  if (!strcmp(name, "abs")) {
    if (val->type == LT_JV_INT) { if (val->i == INT64_MIN) return lt_jfail(c, "integer overflow"); *out = lt_jv_int(val->i < 0 ? -val->i : val->i); return 0; }
    if (val->type == LT_JV_FLOAT) { *out = lt_jv_float(fabs(val->f)); return 0; }
    return lt_jfail(c, "bad operand type for abs(): '%s'", lt_jv_type_name(val));
  }
  if (!strcmp(name, "round")) {
    lt_jv *p = arg(args, kw, nargs, 0, "precision"), *m = arg(args, kw, nargs, 1, "method");
    if (val->type != LT_JV_INT && val->type != LT_JV_FLOAT) return lt_jfail(c, "round expects a number");
    double x = val->type == LT_JV_FLOAT ? val->f : (double)val->i, k = pow(10, p && p->type == LT_JV_INT ? (double)p->i : 0);
    const char *meth = m && m->type == LT_JV_STR ? m->s : "common";
    double r = !strcmp(meth, "floor") ? floor(x * k) / k : !strcmp(meth, "ceil") ? ceil(x * k) / k : round(x * k) / k;
    *out = lt_jv_float(r);
    return 0;
  }
  if (!strcmp(name, "reverse")) {
    if (val->type == LT_JV_STR) {
      lt_jv l;
      if (to_list(c, val, &l)) return -1;
      lt_sbuf b = {0};
      for (size_t i = l.list->n; i-- > 0;) lt_sbuf_put(&b, l.list->v[i].s, l.list->v[i].n);
      *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
      lt_sbuf_free(&b);
      return out->type == LT_JV_STR ? 0 : OOM(c);
    }
    lt_jv l;
    if (to_list(c, val, &l)) return -1;
    *out = lt_jv_list(c, l.list->n);
    if (out->type != LT_JV_LIST) return OOM(c);
    for (size_t i = l.list->n; i-- > 0;) if (lt_jlist_push(c, out, l.list->v[i])) return -1;
    return 0;
  }
  if (!strcmp(name, "sort") || !strcmp(name, "unique") || !strcmp(name, "min") || !strcmp(name, "max")) {
    lt_jv l, *attr = arg(args, kw, nargs, !strcmp(name, "sort") ? 2 : 1, "attribute");
    lt_jv *cs = arg(args, kw, nargs, !strcmp(name, "sort") ? 1 : 0, "case_sensitive");
    lt_jv *rev = !strcmp(name, "sort") ? arg(args, kw, nargs, 0, "reverse") : NULL;
    int sens = cs && lt_jv_truthy(cs);
    if (to_list(c, val, &l)) return -1;
    size_t n = l.list->n;
    lt_jv *keys = lt_ja_alloc(&c->a, (n + 1) * sizeof *keys), *vals = lt_ja_alloc(&c->a, (n + 1) * sizeof *vals);
    if (!keys || !vals) return OOM(c);
    for (size_t i = 0; i < n; i++) {
      vals[i] = l.list->v[i];
      keys[i] = vals[i];
      if (attr && attr_of(c, &vals[i], attr, &keys[i])) return -1;
    }
    *out = lt_jv_list(c, n);
    if (out->type != LT_JV_LIST) return OOM(c);
    if (!strcmp(name, "unique")) {
      for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) {
          int r;
          dup = sens ? lt_jv_equal(&keys[i], &keys[j]) : (!lower_cmp(&keys[i], &keys[j], &r) && r == 0);
        }
        if (!dup && lt_jlist_push(c, out, vals[i])) return -1;
      }
      return 0;
    }
    for (size_t i = 1; i < n; i++) /* stable insertion sort */
      for (size_t j = i; j > 0; j--) {
        int r;
        if ((sens ? lt_jv_compare(&keys[j - 1], &keys[j], &r) : lower_cmp(&keys[j - 1], &keys[j], &r)))
          return lt_jfail(c, "%s: cannot compare '%s' with '%s'", name, lt_jv_type_name(&keys[j - 1]), lt_jv_type_name(&keys[j]));
        if (rev && lt_jv_truthy(rev) ? r >= 0 : r <= 0) break;
        lt_jv t = keys[j]; keys[j] = keys[j - 1]; keys[j - 1] = t;
        t = vals[j]; vals[j] = vals[j - 1]; vals[j - 1] = t;
      }
    if (!strcmp(name, "min")) { *out = n ? vals[0] : lt_jv_undef("min"); return 0; }
    if (!strcmp(name, "max")) { *out = n ? vals[n - 1] : lt_jv_undef("max"); return 0; }
    for (size_t i = 0; i < n; i++) if (lt_jlist_push(c, out, vals[i])) return -1;
    return 0;
  }
  if (!strcmp(name, "sum")) {
    lt_jv l, *attr = arg(args, kw, nargs, 0, "attribute"), *st = arg(args, kw, nargs, 1, "start");
    if (to_list(c, val, &l)) return -1;
    lt_jv acc = st ? *st : lt_jv_int(0);
    for (size_t i = 0; i < l.list->n; i++) {
      lt_jv x = l.list->v[i];
      if (attr && attr_of(c, &l.list->v[i], attr, &x)) return -1;
      if (x.type == LT_JV_INT && acc.type == LT_JV_INT) {
        if (__builtin_add_overflow(acc.i, x.i, &acc.i)) return lt_jfail(c, "integer overflow in sum");
      } else if ((x.type == LT_JV_INT || x.type == LT_JV_FLOAT) && (acc.type == LT_JV_INT || acc.type == LT_JV_FLOAT)) {
        acc = lt_jv_float((acc.type == LT_JV_FLOAT ? acc.f : (double)acc.i) + (x.type == LT_JV_FLOAT ? x.f : (double)x.i));
      } else return lt_jfail(c, "sum: unsupported operand types '%s' and '%s'", lt_jv_type_name(&acc), lt_jv_type_name(&x));
    }
    *out = acc;
    return 0;
  }
  if (!strcmp(name, "indent")) { STRVAL(); return indent_f(c, &s, args, kw, nargs, out); }
  if (!strcmp(name, "e") || !strcmp(name, "escape")) {
    STRVAL();
    lt_sbuf b = {0};
    for (size_t i = 0; i < s.n; i++) {
      char ch = s.s[i];
      if (ch == '&') lt_sbuf_puts(&b, "&amp;");
      else if (ch == '<') lt_sbuf_puts(&b, "&lt;");
      else if (ch == '>') lt_sbuf_puts(&b, "&gt;");
      else if (ch == '"') lt_sbuf_puts(&b, "&#34;");
      else if (ch == '\'') lt_sbuf_puts(&b, "&#39;");
      else lt_sbuf_putc(&b, ch);
    }
    *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
    lt_sbuf_free(&b);
    return out->type == LT_JV_STR ? 0 : OOM(c);
  }
#undef STRVAL
  return lt_jfail(c, "unknown filter '%s'", name);
}

int lt_jtest(lt_jctx *c, const char *name, const lt_jv *v, lt_jv *args, int nargs, int *out) {
  lt_jv_type t = v->type;
  lt_jv *a = nargs > 0 ? &args[0] : NULL;
  if (!strcmp(name, "defined")) { *out = t != LT_JV_UNDEF; return 0; }
  if (!strcmp(name, "undefined")) { *out = t == LT_JV_UNDEF; return 0; }
  if (!strcmp(name, "none")) { *out = t == LT_JV_NONE; return 0; }
  if (!strcmp(name, "string")) { *out = t == LT_JV_STR; return 0; }
  if (!strcmp(name, "number")) { *out = t == LT_JV_INT || t == LT_JV_FLOAT || t == LT_JV_BOOL; return 0; }
  if (!strcmp(name, "integer")) { *out = t == LT_JV_INT; return 0; }
  if (!strcmp(name, "float")) { *out = t == LT_JV_FLOAT; return 0; }
  if (!strcmp(name, "boolean")) { *out = t == LT_JV_BOOL; return 0; }
  if (!strcmp(name, "true")) { *out = t == LT_JV_BOOL && v->b; return 0; }
  if (!strcmp(name, "false")) { *out = t == LT_JV_BOOL && !v->b; return 0; }
  if (!strcmp(name, "mapping")) { *out = t == LT_JV_DICT; return 0; }
  if (!strcmp(name, "iterable")) { *out = t == LT_JV_STR || t == LT_JV_LIST || t == LT_JV_DICT || t == LT_JV_UNDEF; return 0; }
  if (!strcmp(name, "sequence")) { *out = t == LT_JV_STR || t == LT_JV_LIST || t == LT_JV_DICT; return 0; }
  if (!strcmp(name, "callable")) { *out = t == LT_JV_FUNC; return 0; }
  if (!strcmp(name, "odd") || !strcmp(name, "even")) {
    if (t != LT_JV_INT) return lt_jfail(c, "test '%s' expects an integer", name);
    *out = (v->i % 2 != 0) == (name[0] == 'o');
    return 0;
  }
  if (!strcmp(name, "divisibleby")) {
    if (t != LT_JV_INT || !a || a->type != LT_JV_INT || a->i == 0) return lt_jfail(c, "test 'divisibleby' expects integers");
    *out = v->i % a->i == 0;
    return 0;
  }
  if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
    if (t != LT_JV_STR) { *out = 0; return 0; }
    int has = 0, ok = 1;
    for (size_t i = 0; i < v->n; i++) {
      unsigned char ch = (unsigned char)v->s[i];
      if (isalpha(ch)) { has = 1; if (name[0] == 'l' ? isupper(ch) : islower(ch)) ok = 0; }
    }
    *out = has && ok;
    return 0;
  }
  if (!a && (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "in") || !strcmp(name, "sameas")))
    return lt_jfail(c, "test '%s' needs an argument", name);
  if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==") || !strcmp(name, "sameas")) { *out = lt_jv_equal(v, a); return 0; }
  if (!strcmp(name, "ne") || !strcmp(name, "!=")) { if (!a) return lt_jfail(c, "test 'ne' needs an argument"); *out = !lt_jv_equal(v, a); return 0; }
  if (!strcmp(name, "lt") || !strcmp(name, "le") || !strcmp(name, "gt") || !strcmp(name, "ge") ||
      !strcmp(name, "lessthan") || !strcmp(name, "greaterthan")) {
    int r;
    if (!a || lt_jv_compare(v, a, &r)) return lt_jfail(c, "test '%s': values are not comparable", name);
    *out = name[0] == 'l' ? (name[1] == 'e' && name[2] == 0 ? r <= 0 : r < 0) : (name[1] == 'e' && name[2] == 0 ? r >= 0 : r > 0);
    return 0;
  }
  if (!strcmp(name, "in")) {
    if (a->type == LT_JV_STR) { *out = v->type == LT_JV_STR && (v->n == 0 || memmem(a->s, a->n, v->s, v->n)); return 0; }
    if (a->type == LT_JV_LIST) { *out = 0; for (size_t i = 0; i < a->list->n && !*out; i++) *out = lt_jv_equal(v, &a->list->v[i]); return 0; }
    if (a->type == LT_JV_DICT) { *out = v->type == LT_JV_STR && lt_jdict_get(a->dict, v->s, v->n); return 0; }
    return lt_jfail(c, "test 'in': argument is not a container");
  }
  return lt_jfail(c, "unknown test '%s'", name);
}

static const char *const str_methods[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith",
                                          "lower", "upper", "title", "capitalize", "replace", "find", "count",
                                          "join", "splitlines", "isdigit", "isspace", "isalpha", "isalnum", NULL};
static const char *const dict_methods[] = {"get", "items", "keys", "values", NULL};

int lt_jmethod_exists(const lt_jv *self, const char *name) {
  const char *const *m = self->type == LT_JV_STR ? str_methods : self->type == LT_JV_DICT ? dict_methods : NULL;
  for (int i = 0; m && m[i]; i++) if (!strcmp(m[i], name)) return 1;
  return 0;
}

static int starts_ends(lt_jctx *c, const lt_jv *s, const lt_jv *p, int ends, int *out) {
  if (p && p->type == LT_JV_LIST) {
    *out = 0;
    for (size_t i = 0; i < p->list->n && !*out; i++) if (starts_ends(c, s, &p->list->v[i], ends, out)) return -1;
    return 0;
  }
  if (!p || need_str(c, p, ends ? "endswith" : "startswith")) return p ? -1 : lt_jfail(c, "startswith/endswith needs an argument");
  *out = p->n <= s->n && !memcmp(ends ? s->s + s->n - p->n : s->s, p->s, p->n);
  return 0;
}

int lt_jmethod(lt_jctx *c, const lt_jv *self, const char *name, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  if (self->type == LT_JV_DICT) {
    if (!strcmp(name, "get")) {
      lt_jv *k = arg(args, kw, nargs, 0, "key"), *d = arg(args, kw, nargs, 1, "default");
      if (!k) return lt_jfail(c, "get expected at least 1 argument");
      lt_jv *v = k->type == LT_JV_STR ? lt_jdict_get(self->dict, k->s, k->n) : NULL;
      *out = v ? *v : d ? *d : lt_jv_none();
      return 0;
    }
    if (!strcmp(name, "items")) return dict_items(c, self, out);
    if (!strcmp(name, "keys")) return to_list(c, self, out);
    if (!strcmp(name, "values")) {
      *out = lt_jv_list(c, self->dict->n);
      if (out->type != LT_JV_LIST) return OOM(c);
      for (size_t i = 0; i < self->dict->n; i++) if (lt_jlist_push(c, out, self->dict->v[i])) return -1;
      return 0;
    }
  }
  if (self->type == LT_JV_STR) {
    lt_jv *a0 = arg(args, kw, nargs, 0, "_0"), *a1 = arg(args, kw, nargs, 1, "_1"), *a2 = arg(args, kw, nargs, 2, "_2");
    if (!strcmp(name, "strip")) return strip(c, self, a0, 1, 1, out);
    if (!strcmp(name, "lstrip")) return strip(c, self, a0, 1, 0, out);
    if (!strcmp(name, "rstrip")) return strip(c, self, a0, 0, 1, out);
    if (!strcmp(name, "split")) return split(c, self, arg(args, kw, nargs, 0, "sep"), arg(args, kw, nargs, 1, "maxsplit"), out);
    if (!strcmp(name, "rsplit")) {
      lt_jv *ms = arg(args, kw, nargs, 1, "maxsplit");
      if (ms && ms->type == LT_JV_INT && ms->i >= 0) return lt_jfail(c, "rsplit with maxsplit is not supported");
      return split(c, self, arg(args, kw, nargs, 0, "sep"), NULL, out);
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
      int r;
      if (starts_ends(c, self, a0, name[0] == 'e', &r)) return -1;
      *out = lt_jv_bool(r);
      return 0;
    }
    if (!strcmp(name, "lower")) return recase(c, self, 0, out);
    if (!strcmp(name, "upper")) return recase(c, self, 1, out);
    if (!strcmp(name, "capitalize")) return recase(c, self, 2, out);
    if (!strcmp(name, "title")) return recase(c, self, 3, out);
    if (!strcmp(name, "replace")) {
      if (!a0 || !a1) return lt_jfail(c, "replace needs two arguments");
      return replace(c, self, a0, a1, a2, out);
    }
    if (!strcmp(name, "find") || !strcmp(name, "count")) {
      if (!a0 || need_str(c, a0, name)) return a0 ? -1 : lt_jfail(c, "%s needs an argument", name);
      if (!strcmp(name, "find")) {
        const char *h = a0->n ? memmem(self->s, self->n, a0->s, a0->n) : self->s;
        *out = lt_jv_int(h ? (int64_t)lt_utf8_count(self->s, (size_t)(h - self->s)) : -1);
        return 0;
      }
      int64_t k = 0;
      if (!a0->n) k = (int64_t)lt_utf8_count(self->s, self->n) + 1;
      else for (size_t i = 0; i + a0->n <= self->n;) {
        const char *h = memmem(self->s + i, self->n - i, a0->s, a0->n);
        if (!h) break;
        k++;
        i = (size_t)(h - self->s) + a0->n;
      }
      *out = lt_jv_int(k);
      return 0;
    }
    if (!strcmp(name, "join")) {
      lt_jv l;
      if (!a0 || to_list(c, a0, &l)) return a0 ? -1 : lt_jfail(c, "join needs an argument");
      lt_sbuf b = {0};
      for (size_t i = 0; i < l.list->n; i++) {
        if (l.list->v[i].type != LT_JV_STR) { lt_sbuf_free(&b); return lt_jfail(c, "join: sequence item %zu: expected str", i); }
        if (i) lt_sbuf_put(&b, self->s, self->n);
        lt_sbuf_put(&b, l.list->v[i].s, l.list->v[i].n);
      }
      *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
      lt_sbuf_free(&b);
      return out->type == LT_JV_STR ? 0 : OOM(c);
    }
    if (!strcmp(name, "splitlines")) {
      lt_jv nl = lt_jv_str("\n", 1);
      if (split(c, self, &nl, NULL, out)) return -1;
      if (out->list->n && out->list->v[out->list->n - 1].n == 0) out->list->n--;
      return 0;
    }
    if (!strncmp(name, "is", 2)) {
      int ok = self->n > 0;
      for (size_t i = 0; i < self->n && ok; i++) {
        unsigned char ch = (unsigned char)self->s[i];
        ok = !strcmp(name, "isdigit") ? isdigit(ch) != 0 : !strcmp(name, "isspace") ? is_pyspace(ch)
           : !strcmp(name, "isalpha") ? isalpha(ch) != 0 : isalnum(ch) != 0;
      }
      *out = lt_jv_bool(ok);
      return 0;
    }
  }
  return lt_jfail(c, "'%s' object has no method '%s'", lt_jv_type_name(self), name);
}

static const char *const globals[] = {"range", "namespace", "raise_exception", "dict", "strftime_now", NULL};

int lt_jglobal_exists(const char *name) {
  for (int i = 0; globals[i]; i++) if (!strcmp(globals[i], name)) return 1;
  return 0;
}

int lt_jglobal_call(lt_jctx *c, const char *name, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  if (!strcmp(name, "raise_exception")) {
    lt_jv m = nargs ? args[0] : lt_jv_str("", 0), s;
    if (lt_jv_stringify(c, &m, &s)) return -1;
    lt_jfail(c, "%.*s", (int)(s.n > 600 ? 600 : s.n), s.s);
    return -1;
  }
  if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
    *out = lt_jv_dict(c, 0);
    if (out->type != LT_JV_DICT) return OOM(c);
    if (name[0] == 'n') out->type = LT_JV_NS;
    for (int i = 0; i < nargs; i++) {
      if (kw && kw[i]) { if (lt_jdict_set(c, out->dict, kw[i], strlen(kw[i]), args[i])) return -1; }
      else if (args[i].type == LT_JV_DICT || args[i].type == LT_JV_NS) {
        for (size_t k = 0; k < args[i].dict->n; k++)
          if (lt_jdict_set(c, out->dict, args[i].dict->k[k], args[i].dict->kn[k], args[i].dict->v[k])) return -1;
      } else return lt_jfail(c, "%s() takes keyword arguments or a mapping", name);
    }
    return 0;
  }
  if (!strcmp(name, "range")) {
    int64_t a = 0, b, st = 1;
    for (int i = 0; i < nargs; i++)
      if (args[i].type != LT_JV_INT) return lt_jfail(c, "range() arguments must be integers");
    if (nargs == 1) b = args[0].i;
    else if (nargs == 2 || nargs == 3) { a = args[0].i; b = args[1].i; if (nargs == 3) st = args[2].i; }
    else return lt_jfail(c, "range() takes 1 to 3 arguments");
    if (st == 0) return lt_jfail(c, "range() step must not be zero");
    double cnt = st > 0 ? ceil(((double)b - (double)a) / (double)st) : ceil(((double)a - (double)b) / (double)-st);
    if (cnt > LT_J_MAX_RANGE) return lt_jfail(c, "range() too large (more than %ld items)", LT_J_MAX_RANGE);
    *out = lt_jv_list(c, cnt > 0 ? (size_t)cnt : 0);
    if (out->type != LT_JV_LIST) return OOM(c);
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) if (lt_jlist_push(c, out, lt_jv_int(i))) return -1;
    return 0;
  }
  if (!strcmp(name, "strftime_now")) {
    if (!nargs || args[0].type != LT_JV_STR) return lt_jfail(c, "strftime_now expects a format string");
    char fmt[256], buf[512];
    size_t n = args[0].n < 255 ? args[0].n : 255;
    memcpy(fmt, args[0].s, n);
    fmt[n] = 0;
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    size_t k = strftime(buf, sizeof buf, fmt, &tmv);
    *out = lt_jv_strdup(c, buf, k);
    return out->type == LT_JV_STR ? 0 : OOM(c);
  }
  return lt_jfail(c, "'%s' is not callable", name);
}
