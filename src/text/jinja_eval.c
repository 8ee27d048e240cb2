/* jinja_eval.c — the tree-walking evaluator: expressions to values, statements to output text,
 * with Jinja2's scoping (each for-loop iteration is its own scope; namespace() objects carry
 * state out of loops) and limits on depth, steps, arena bytes and output size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/err.h"
#include "text/jinja_impl.h"

static int eval(lt_jctx *c, const lt_jnode *n, lt_jv *out);
static int exec_list(lt_jctx *c, const lt_jnode *n);

static lt_jv *lookup(lt_jctx *c, const char *name) {
  size_t n = strlen(name);
  for (lt_jframe *f = c->top; f; f = f->up) {
    lt_jv *v = lt_jdict_get(&f->vars, name, n);
    if (v) return v;
  }
  return NULL;
}

static int push_frame(lt_jctx *c) {
  lt_jframe *f = lt_ja_alloc(&c->a, sizeof *f);
  if (!f) return lt_jfail(c, "out of memory (render arena limit)");
  f->up = c->top;
  c->top = f;
  return 0;
}

static int undef_fail(lt_jctx *c, const lt_jv *v) {
  return lt_jfail(c, "'%s' is undefined", v->s ? v->s : "value");
}

static int64_t as_index(const lt_jv *v) { return v->type == LT_JV_BOOL ? v->b : v->i; }

/* Python slice index adjustment (PySlice_AdjustIndices). */
static int64_t slice_bound(const lt_jv *v, int64_t len, int64_t step, int lower) {
  if (!v || v->type == LT_JV_NONE) return lower ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
  int64_t i = as_index(v);
  if (i < 0) { i += len; if (i < 0) i = step < 0 ? -1 : 0; }
  else if (i >= len) i = step < 0 ? len - 1 : len;
  return i;
}

static int do_slice(lt_jctx *c, const lt_jv *obj, lt_jv *parts[3], lt_jv *out) {
  for (int k = 0; k < 3; k++)
    if (parts[k] && parts[k]->type != LT_JV_NONE && parts[k]->type != LT_JV_INT && parts[k]->type != LT_JV_BOOL)
      return lt_jfail(c, "slice indices must be integers or none");
  int64_t step = parts[2] && parts[2]->type != LT_JV_NONE ? as_index(parts[2]) : 1;
  if (step == 0) return lt_jfail(c, "slice step cannot be zero");
  int64_t len;
  if (obj->type == LT_JV_LIST) len = (int64_t)obj->list->n;
  else if (obj->type == LT_JV_STR) len = (int64_t)lt_utf8_count(obj->s, obj->n);
  else if (obj->type == LT_JV_UNDEF) return undef_fail(c, obj);
  else return lt_jfail(c, "cannot slice a %s", lt_jv_type_name(obj));
  int64_t a = slice_bound(parts[0], len, step, 1), b = slice_bound(parts[1], len, step, 0);
  if (obj->type == LT_JV_LIST) {
    *out = lt_jv_list(c, 0);
    if (out->type != LT_JV_LIST) return lt_jfail(c, "out of memory");
    for (int64_t i = a; step > 0 ? i < b : i > b; i += step)
      if (lt_jlist_push(c, out, obj->list->v[i])) return -1;
    return 0;
  }
  if (step == 1) {
    if (b < a) b = a;
    size_t s = lt_utf8_offset(obj->s, obj->n, (size_t)a), e = lt_utf8_offset(obj->s, obj->n, (size_t)b);
    *out = lt_jv_str(obj->s + s, e - s);
    return 0;
  }
  lt_sbuf sb = {0};
  for (int64_t i = a; step > 0 ? i < b : i > b; i += step) {
    size_t s = lt_utf8_offset(obj->s, obj->n, (size_t)i), e = lt_utf8_offset(obj->s, obj->n, (size_t)i + 1);
    lt_sbuf_put(&sb, obj->s + s, e - s);
  }
  *out = lt_jv_strdup(c, sb.p ? sb.p : "", sb.n);
  lt_sbuf_free(&sb);
  return 0;
}

static int get_item(lt_jctx *c, const lt_jv *obj, const lt_jv *key, lt_jv *out) {
  switch (obj->type) {
  case LT_JV_UNDEF: return undef_fail(c, obj);
  case LT_JV_DICT: case LT_JV_NS:
    if (key->type == LT_JV_STR) {
      lt_jv *v = lt_jdict_get(obj->dict, key->s, key->n);
      *out = v ? *v : lt_jv_undef(key->s);
      return 0;
    }
    break;
  case LT_JV_LIST:
    if (key->type == LT_JV_INT || key->type == LT_JV_BOOL) {
      int64_t i = as_index(key), n = (int64_t)obj->list->n;
      if (i < 0) i += n;
      *out = (i >= 0 && i < n) ? obj->list->v[i] : lt_jv_undef("list index");
      return 0;
    }
    break;
  case LT_JV_STR:
    if (key->type == LT_JV_INT || key->type == LT_JV_BOOL) {
      int64_t i = as_index(key), n = (int64_t)lt_utf8_count(obj->s, obj->n);
      if (i < 0) i += n;
      if (i < 0 || i >= n) { *out = lt_jv_undef("string index"); return 0; }
      size_t s = lt_utf8_offset(obj->s, obj->n, (size_t)i), e = lt_utf8_offset(obj->s, obj->n, (size_t)i + 1);
      *out = lt_jv_str(obj->s + s, e - s);
      return 0;
    }
    break;
  default: break;
  }
  *out = lt_jv_undef(key->type == LT_JV_STR ? key->s : "item");
  return 0;
}

static int bind_method(lt_jctx *c, const lt_jv *obj, const char *name, lt_jv *out) {
  lt_jv *self = lt_ja_alloc(&c->a, sizeof *self);
  if (!self) return lt_jfail(c, "out of memory (render arena limit)");
  *self = *obj;
  *out = (lt_jv){.type = LT_JV_FUNC, .s = name, .bound = self};
  return 0;
}

static int get_attr(lt_jctx *c, const lt_jv *obj, const char *name, lt_jv *out) {
  if (obj->type == LT_JV_UNDEF) return undef_fail(c, obj);
  if (obj->type == LT_JV_DICT || obj->type == LT_JV_NS) {
    lt_jv *v = lt_jdict_get(obj->dict, name, strlen(name));
    if (v) { *out = *v; return 0; }
  }
  if (lt_jmethod_exists(obj, name)) return bind_method(c, obj, name, out);
  *out = lt_jv_undef(name);
  return 0;
}

static int eval_args(lt_jctx *c, const lt_jnode *n, lt_jv **args) {
  *args = lt_ja_alloc(&c->a, sizeof **args * (size_t)(n->nargs + 1));
  if (!*args) return lt_jfail(c, "out of memory (render arena limit)");
  for (int i = 0; i < n->nargs; i++) if (eval(c, n->args[i], &(*args)[i])) return -1;
  return 0;
}

static int call_value(lt_jctx *c, const lt_jv *f, lt_jv *args, const char **kw, int nargs, lt_jv *out) {
  if (f->type == LT_JV_FUNC && f->bound) return lt_jmethod(c, f->bound, f->s, args, kw, nargs, out);
  if (f->type == LT_JV_FUNC) return lt_jglobal_call(c, f->s, args, kw, nargs, out);
  if (f->type == LT_JV_UNDEF) return undef_fail(c, f);
  return lt_jfail(c, "'%s' object is not callable", lt_jv_type_name(f));
}

static int eval_call(lt_jctx *c, const lt_jnode *n, lt_jv *out) {
  const lt_jnode *fn = n->a;
  lt_jv *args;
  if (fn->kind == LT_JN_ATTR) {
    lt_jv obj;
    if (eval(c, fn->a, &obj)) return -1;
    if (obj.type == LT_JV_UNDEF) return undef_fail(c, &obj);
    if (eval_args(c, n, &args)) return -1;
    c->line = n->line;
    if (lt_jmethod_exists(&obj, fn->s)) return lt_jmethod(c, &obj, fn->s, args, n->kw, n->nargs, out);
    lt_jv f;
    if (get_attr(c, &obj, fn->s, &f)) return -1;
    if (f.type == LT_JV_UNDEF) return lt_jfail(c, "'%s' object has no attribute '%s'", lt_jv_type_name(&obj), fn->s);
    return call_value(c, &f, args, n->kw, n->nargs, out);
  }
  lt_jv f;
  if (eval(c, fn, &f)) return -1;
  if (eval_args(c, n, &args)) return -1;
  c->line = n->line;
  return call_value(c, &f, args, n->kw, n->nargs, out);
}

static const char *py_type(const lt_jv *v) {
  switch (v->type) {
  case LT_JV_NONE: return "NoneType";
  case LT_JV_STR: return "str";
  case LT_JV_DICT: return "dict";
  default: return lt_jv_type_name(v);
  }
}

static int is_num(const lt_jv *v) { return v->type == LT_JV_INT || v->type == LT_JV_FLOAT || v->type == LT_JV_BOOL; }
static double fnum(const lt_jv *v) { return v->type == LT_JV_FLOAT ? v->f : v->type == LT_JV_INT ? (double)v->i : v->b; }
static int64_t inum(const lt_jv *v) { return v->type == LT_JV_INT ? v->i : v->b; }

static int repeat(lt_jctx *c, const lt_jv *seq, int64_t k, lt_jv *out) {
  if (k < 0) k = 0;
  size_t unit = seq->type == LT_JV_STR ? seq->n : seq->list->n;
  if (unit && (uint64_t)k > LT_J_MAX_OUT / unit) return lt_jfail(c, "repetition result too large");
  if (seq->type == LT_JV_STR) {
    char *p = lt_ja_alloc(&c->a, unit * (size_t)k + 1);
    if (!p) return lt_jfail(c, "out of memory (render arena limit)");
    for (int64_t i = 0; i < k; i++) memcpy(p + (size_t)i * unit, seq->s, unit);
    *out = lt_jv_str(p, unit * (size_t)k);
    return 0;
  }
  *out = lt_jv_list(c, unit * (size_t)k);
  if (out->type != LT_JV_LIST) return lt_jfail(c, "out of memory (render arena limit)");
  for (int64_t i = 0; i < k; i++)
    for (size_t j = 0; j < unit; j++) if (lt_jlist_push(c, out, seq->list->v[j])) return -1;
  return 0;
}

static int arith(lt_jctx *c, int op, const lt_jv *x, const lt_jv *y, lt_jv *out) {
  static const char *const sym[] = {"+", "-", "*", "/", "//", "%", "**"};
  if (x->type == LT_JV_UNDEF) return undef_fail(c, x);
  if (y->type == LT_JV_UNDEF) return undef_fail(c, y);
  if (is_num(x) && is_num(y)) {
    int fl = x->type == LT_JV_FLOAT || y->type == LT_JV_FLOAT || op == LT_OP_DIV;
    if (op == LT_OP_POW && !fl && inum(y) < 0) fl = 1;
    if (!fl) {
      int64_t a = inum(x), b = inum(y), r;
      switch (op) {
      case LT_OP_ADD: if (__builtin_add_overflow(a, b, &r)) goto ovf; break;
      case LT_OP_SUB: if (__builtin_sub_overflow(a, b, &r)) goto ovf; break;
      case LT_OP_MUL: if (__builtin_mul_overflow(a, b, &r)) goto ovf; break;
      case LT_OP_FLOORDIV: case LT_OP_MOD:
        if (b == 0) return lt_jfail(c, "integer division or modulo by zero");
        if (a == INT64_MIN && b == -1) goto ovf;
        {
          int64_t q = a / b, m = a % b;
          if (m != 0 && ((m < 0) != (b < 0))) { q--; m += b; }
          r = op == LT_OP_FLOORDIV ? q : m;
        }
        break;
      case LT_OP_POW:
        r = 1;
        for (int64_t i = 0; i < b; i++) if (__builtin_mul_overflow(r, a, &r)) goto ovf;
        break;
      default: return lt_jfail(c, "bad operator");
      }
      *out = lt_jv_int(r);
      return 0;
    ovf:
      return lt_jfail(c, "integer overflow in '%s'", sym[op]);
    }
    double a = fnum(x), b = fnum(y), r;
    switch (op) {
    case LT_OP_ADD: r = a + b; break;
    case LT_OP_SUB: r = a - b; break;
    case LT_OP_MUL: r = a * b; break;
    case LT_OP_DIV: if (b == 0) return lt_jfail(c, "division by zero"); r = a / b; break;
    case LT_OP_FLOORDIV: if (b == 0) return lt_jfail(c, "float floor division by zero"); r = floor(a / b); break;
    case LT_OP_MOD:
      if (b == 0) return lt_jfail(c, "float modulo by zero");
      r = fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      break;
    case LT_OP_POW: r = pow(a, b); break;
    default: return lt_jfail(c, "bad operator");
    }
    *out = lt_jv_float(r);
    return 0;
  }
  if (op == LT_OP_ADD && x->type == LT_JV_STR && y->type == LT_JV_STR) {
    char *p = lt_ja_alloc(&c->a, x->n + y->n + 1);
    if (!p) return lt_jfail(c, "out of memory (render arena limit)");
    memcpy(p, x->s, x->n);
    memcpy(p + x->n, y->s, y->n);
    *out = lt_jv_str(p, x->n + y->n);
    return 0;
  }
  if (op == LT_OP_ADD && x->type == LT_JV_LIST && y->type == LT_JV_LIST) {
    *out = lt_jv_list(c, x->list->n + y->list->n);
    if (out->type != LT_JV_LIST) return lt_jfail(c, "out of memory (render arena limit)");
    for (size_t i = 0; i < x->list->n; i++) if (lt_jlist_push(c, out, x->list->v[i])) return -1;
    for (size_t i = 0; i < y->list->n; i++) if (lt_jlist_push(c, out, y->list->v[i])) return -1;
    return 0;
  }
  if (op == LT_OP_MUL && (x->type == LT_JV_STR || x->type == LT_JV_LIST) && (y->type == LT_JV_INT || y->type == LT_JV_BOOL))
    return repeat(c, x, inum(y), out);
  if (op == LT_OP_MUL && (y->type == LT_JV_STR || y->type == LT_JV_LIST) && (x->type == LT_JV_INT || x->type == LT_JV_BOOL))
    return repeat(c, y, inum(x), out);
  return lt_jfail(c, "unsupported operand types for %s: '%s' and '%s'", sym[op], py_type(x), py_type(y));
}

static int contains(lt_jctx *c, const lt_jv *item, const lt_jv *box, int *res) {
  switch (box->type) {
  case LT_JV_UNDEF: *res = 0; return 0;
  case LT_JV_STR:
    if (item->type != LT_JV_STR) return lt_jfail(c, "'in <string>' requires string as left operand, not %s", py_type(item));
    *res = item->n == 0 || (item->n <= box->n && memmem(box->s, box->n, item->s, item->n) != NULL);
    return 0;
  case LT_JV_LIST:
    *res = 0;
    for (size_t i = 0; i < box->list->n && !*res; i++) *res = lt_jv_equal(item, &box->list->v[i]);
    return 0;
  case LT_JV_DICT: case LT_JV_NS:
    *res = item->type == LT_JV_STR && lt_jdict_get(box->dict, item->s, item->n) != NULL;
    return 0;
  default:
    return lt_jfail(c, "argument of type '%s' is not iterable", py_type(box));
  }
}

static int eval_binop(lt_jctx *c, const lt_jnode *n, lt_jv *out) {
  lt_jv x, y;
  if (eval(c, n->a, &x) || eval(c, n->b, &y)) return -1;
  c->line = n->line;
  switch (n->op) {
  case LT_OP_CONCAT: {
    lt_sbuf b = {0};
    if (lt_jv_to_str(c, &b, &x) || lt_jv_to_str(c, &b, &y)) { lt_sbuf_free(&b); return -1; }
    *out = lt_jv_strdup(c, b.p ? b.p : "", b.n);
    lt_sbuf_free(&b);
    return out->type == LT_JV_STR ? 0 : lt_jfail(c, "out of memory (render arena limit)");
  }
  case LT_OP_EQ: *out = lt_jv_bool(lt_jv_equal(&x, &y)); return 0;
  case LT_OP_NE: *out = lt_jv_bool(!lt_jv_equal(&x, &y)); return 0;
  case LT_OP_LT: case LT_OP_GT: case LT_OP_LE: case LT_OP_GE: {
    int r;
    if (x.type == LT_JV_UNDEF) return undef_fail(c, &x);
    if (y.type == LT_JV_UNDEF) return undef_fail(c, &y);
    if (lt_jv_compare(&x, &y, &r))
      return lt_jfail(c, "cannot compare '%s' with '%s'", py_type(&x), py_type(&y));
    int v = n->op == LT_OP_LT ? r < 0 : n->op == LT_OP_GT ? r > 0 : n->op == LT_OP_LE ? r <= 0 : r >= 0;
    *out = lt_jv_bool(v);
    return 0;
  }
  case LT_OP_IN: case LT_OP_NOTIN: {
    int r = 0;
    if (contains(c, &x, &y, &r)) return -1;
    *out = lt_jv_bool(n->op == LT_OP_IN ? r : !r);
    return 0;
  }
  default: return arith(c, n->op, &x, &y, out);
  }
}

static int eval(lt_jctx *c, const lt_jnode *n, lt_jv *out) {
  if (++c->depth > LT_J_MAX_DEPTH) return lt_jfail(c, "expression evaluation nested too deeply");
  c->line = n->line;
  int rc = 0;
  switch (n->kind) {
  case LT_JN_STR: *out = lt_jv_str(n->s, n->n); break;
  case LT_JN_INT: *out = lt_jv_int(n->i); break;
  case LT_JN_FLOAT: *out = lt_jv_float(n->f); break;
  case LT_JN_BOOL: *out = lt_jv_bool(n->flag); break;
  case LT_JN_NONE: *out = lt_jv_none(); break;
  case LT_JN_NAME: {
    lt_jv *v = lookup(c, n->s);
    if (v) *out = *v;
    else if (lt_jglobal_exists(n->s)) *out = (lt_jv){.type = LT_JV_FUNC, .s = n->s};
    else *out = lt_jv_undef(n->s);
    break;
  }
  case LT_JN_LIST:
    *out = lt_jv_list(c, (size_t)n->nargs);
    if (out->type != LT_JV_LIST) { rc = lt_jfail(c, "out of memory (render arena limit)"); break; }
    for (int i = 0; i < n->nargs && !rc; i++) {
      lt_jv e;
      rc = eval(c, n->args[i], &e) || lt_jlist_push(c, out, e);
    }
    break;
  case LT_JN_DICT:
    *out = lt_jv_dict(c, 0);
    if (out->type != LT_JV_DICT) { rc = lt_jfail(c, "out of memory (render arena limit)"); break; }
    for (int i = 0; i + 1 < n->nargs && !rc; i += 2) {
      lt_jv k, v;
      if ((rc = eval(c, n->args[i], &k) || eval(c, n->args[i + 1], &v))) break;
      if (k.type != LT_JV_STR) { rc = lt_jfail(c, "dict keys must be strings (got %s)", lt_jv_type_name(&k)); break; }
      rc = lt_jdict_set(c, out->dict, k.s, k.n, v);
    }
    break;
  case LT_JN_ATTR: {
    lt_jv o;
    rc = eval(c, n->a, &o) || get_attr(c, &o, n->s, out);
    break;
  }
  case LT_JN_ITEM: {
    lt_jv o, k;
    rc = eval(c, n->a, &o) || eval(c, n->b, &k) || get_item(c, &o, &k, out);
    break;
  }
  case LT_JN_SLICE: {
    lt_jv o, pv[3], *pp[3] = {NULL, NULL, NULL};
    if ((rc = eval(c, n->a, &o))) break;
    for (int k = 0; k < 3 && !rc; k++)
      if (n->args[k]) { rc = eval(c, n->args[k], &pv[k]); pp[k] = &pv[k]; }
    if (!rc) rc = do_slice(c, &o, pp, out);
    break;
  }
  case LT_JN_CALL: rc = eval_call(c, n, out); break;
  case LT_JN_FILTER: {
    lt_jv v, *args;
    if ((rc = eval(c, n->a, &v) || eval_args(c, n, &args))) break;
    c->line = n->line;
    rc = lt_jfilter(c, n->s, &v, args, n->kw, n->nargs, out);
    break;
  }
  case LT_JN_TEST: {
    lt_jv v, *args;
    int r = 0;
    if ((rc = eval(c, n->a, &v) || eval_args(c, n, &args))) break;
    c->line = n->line;
    if ((rc = lt_jtest(c, n->s, &v, args, n->nargs, &r))) break;
    *out = lt_jv_bool(n->op ? !r : r);
    break;
  }
  case LT_JN_BINOP: rc = eval_binop(c, n, out); break;
  case LT_JN_NOT: {
    lt_jv v;
    if (!(rc = eval(c, n->a, &v))) *out = lt_jv_bool(!lt_jv_truthy(&v));
    break;
  }
  case LT_JN_NEG: case LT_JN_POS: {
    lt_jv v;
    if ((rc = eval(c, n->a, &v))) break;
    if (v.type == LT_JV_INT || v.type == LT_JV_BOOL) {
      int64_t i = inum(&v);
      if (n->kind == LT_JN_NEG && i == INT64_MIN) { rc = lt_jfail(c, "integer overflow"); break; }
      *out = lt_jv_int(n->kind == LT_JN_NEG ? -i : i);
    } else if (v.type == LT_JV_FLOAT) *out = lt_jv_float(n->kind == LT_JN_NEG ? -v.f : v.f);
    else if (v.type == LT_JV_UNDEF) rc = undef_fail(c, &v);
    else rc = lt_jfail(c, "bad operand type for unary %c: '%s'", n->kind == LT_JN_NEG ? '-' : '+', py_type(&v));
    break;
  }
  case LT_JN_AND: case LT_JN_OR: {
    lt_jv v;
    if ((rc = eval(c, n->a, &v))) break;
    int t = lt_jv_truthy(&v);
    if ((n->kind == LT_JN_AND) ? !t : t) *out = v;
    else rc = eval(c, n->b, out);
    break;
  }
  case LT_JN_COND: {
    lt_jv cond;
    if ((rc = eval(c, n->b, &cond))) break;
    if (lt_jv_truthy(&cond)) rc = eval(c, n->a, out);
    else if (n->c) rc = eval(c, n->c, out);
    else *out = lt_jv_undef("else branch");
    break;
  }
  default: rc = lt_jfail(c, "internal error: statement used as an expression");
  }
  c->depth--;
  if (!rc && c->a.oom) rc = lt_jfail(c, "out of memory (render arena limit)");
  return rc ? -1 : 0;
}

static int emit(lt_jctx *c, const char *s, size_t n) {
  if (c->out.n + n > LT_J_MAX_OUT) return lt_jfail(c, "rendered output exceeds %u bytes", LT_J_MAX_OUT);
  lt_sbuf_put(&c->out, s, n);
  if (c->out.oom) return lt_jfail(c, "out of memory");
  return 0;
}

static int set_var(lt_jctx *c, const char *name, lt_jv v) {
  return lt_jdict_set(c, &c->top->vars, name, strlen(name), v);
}

/* Items a for-loop walks over. */
static int iter_items(lt_jctx *c, const lt_jv *v, lt_jv *out) {
  switch (v->type) {
  case LT_JV_LIST: *out = *v; return 0;
  case LT_JV_UNDEF: *out = lt_jv_list(c, 0); return out->type == LT_JV_LIST ? 0 : -1;
  case LT_JV_DICT: {
    *out = lt_jv_list(c, v->dict->n);
    if (out->type != LT_JV_LIST) return lt_jfail(c, "out of memory");
    for (size_t i = 0; i < v->dict->n; i++)
      if (lt_jlist_push(c, out, lt_jv_str(v->dict->k[i], v->dict->kn[i]))) return -1;
    return 0;
  }
  case LT_JV_STR: {
    *out = lt_jv_list(c, 0);
    if (out->type != LT_JV_LIST) return lt_jfail(c, "out of memory");
    for (size_t i = 0; i < v->n;) {
      size_t e = i + 1;
      while (e < v->n && ((unsigned char)v->s[e] & 0xC0) == 0x80) e++;
      if (lt_jlist_push(c, out, lt_jv_str(v->s + i, e - i))) return -1;
      i = e;
    }
    return 0;
  }
  default: return lt_jfail(c, "'%s' object is not iterable", py_type(v));
  }
}

static int bind_loop_vars(lt_jctx *c, const lt_jnode *n, const lt_jv *item) {
  if (!n->s2) return set_var(c, n->s, *item);
  if (item->type != LT_JV_LIST || item->list->n != 2)
    return lt_jfail(c, "cannot unpack %s into '%s, %s'", lt_jv_type_name(item), n->s, n->s2);
  return set_var(c, n->s, item->list->v[0]) || set_var(c, n->s2, item->list->v[1]);
}

static int exec_for(lt_jctx *c, const lt_jnode *n) {
  lt_jv seq, items;
  if (eval(c, n->a, &seq) || iter_items(c, &seq, &items)) return -1;
  if (n->c) { /* {% for x in xs if cond %}: filter first, so loop.* counts what is kept */
    lt_jv kept = lt_jv_list(c, items.list->n);
    if (kept.type != LT_JV_LIST) return lt_jfail(c, "out of memory");
    lt_jframe *save = c->top;
    for (size_t i = 0; i < items.list->n; i++) {
      lt_jv ok;
      if (push_frame(c) || bind_loop_vars(c, n, &items.list->v[i]) || eval(c, n->c, &ok)) { c->top = save; return -1; }
      c->top = save;
      if (lt_jv_truthy(&ok) && lt_jlist_push(c, &kept, items.list->v[i])) return -1;
    }
    items = kept;
  }
  size_t len = items.list->n;
  if (len == 0) return exec_list(c, n->else_body) < 0 ? -1 : 0;
  /* One loop object and one scope frame for the whole loop, reset each iteration: every
   * iteration starts with a fresh scope (Jinja2 semantics) without allocating per iteration. */
  lt_jv loop = lt_jv_dict(c, 0);
  if (loop.type != LT_JV_DICT) return lt_jfail(c, "out of memory");
  lt_jdict *d = loop.dict;
  static const char *const lk[] = {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                                   "depth", "depth0", "previtem", "nextitem"};
  for (int k = 0; k < 11; k++)
    if (lt_jdict_set(c, d, lk[k], strlen(lk[k]), lt_jv_none())) return -1;
  lt_jframe *save = c->top;
  if (push_frame(c)) return -1;
  lt_jframe *fr = c->top;
  c->top = save;
  for (size_t i = 0; i < len; i++) {
    if (++c->steps > LT_J_MAX_STEPS) return lt_jfail(c, "too many loop iterations");
    d->v[0] = lt_jv_int((int64_t)i + 1);
    d->v[1] = lt_jv_int((int64_t)i);
    d->v[2] = lt_jv_int((int64_t)(len - i));
    d->v[3] = lt_jv_int((int64_t)(len - i - 1));
    d->v[4] = lt_jv_bool(i == 0);
    d->v[5] = lt_jv_bool(i + 1 == len);
    d->v[6] = lt_jv_int((int64_t)len);
    d->v[7] = lt_jv_int(1);
    d->v[8] = lt_jv_int(0);
    d->v[9] = i ? items.list->v[i - 1] : lt_jv_undef("loop.previtem");
    d->v[10] = i + 1 < len ? items.list->v[i + 1] : lt_jv_undef("loop.nextitem");
    fr->vars.n = 0;
    c->top = fr;
    int rc = set_var(c, "loop", loop) || bind_loop_vars(c, n, &items.list->v[i]);
    if (rc) { c->top = save; return -1; }
    rc = exec_list(c, n->body);
    c->top = save;
    if (rc < 0) return -1;
    if (rc == 1) break;
  }
  return 0;
}

/* Returns 0, 1 (break), 2 (continue) or -1 (error). */
static int exec_list(lt_jctx *c, const lt_jnode *n) {
  for (; n; n = n->next) {
    if (++c->steps > LT_J_MAX_STEPS) return lt_jfail(c, "template ran too long");
    c->line = n->line;
    int rc = 0;
    switch (n->kind) {
    case LT_JN_TEXT: rc = emit(c, n->s, n->n); break;
    case LT_JN_PRINT: {
      lt_jv v;
      if (eval(c, n->a, &v)) return -1;
      if (v.type == LT_JV_STR) { rc = emit(c, v.s, v.n); break; }
      lt_sbuf b = {0};
      rc = lt_jv_to_str(c, &b, &v) || emit(c, b.p ? b.p : "", b.n);
      lt_sbuf_free(&b);
      break;
    }
    case LT_JN_IF: {
      lt_jv v;
      if (eval(c, n->a, &v)) return -1;
      rc = exec_list(c, lt_jv_truthy(&v) ? n->body : n->else_body);
      if (rc) return rc;
      break;
    }
    case LT_JN_FOR: rc = exec_for(c, n); break;
    case LT_JN_SET: {
      lt_jv v;
      if (eval(c, n->a, &v)) return -1;
      c->line = n->line;
      if (!n->s2) { rc = set_var(c, n->s, v); break; }
      lt_jv *ns = lookup(c, n->s);
      if (!ns || ns->type != LT_JV_NS)
        return lt_jfail(c, "cannot assign attribute '%s' on '%s': not a namespace", n->s2, n->s);
      rc = lt_jdict_set(c, ns->dict, n->s2, strlen(n->s2), v);
      break;
    }
    case LT_JN_SETBLOCK: {
      lt_sbuf saved = c->out;
      memset(&c->out, 0, sizeof c->out);
      rc = exec_list(c, n->body);
      lt_sbuf inner = c->out;
      c->out = saved;
      if (rc >= 0) {
        lt_jv v = lt_jv_strdup(c, inner.p ? inner.p : "", inner.n);
        rc = v.type == LT_JV_STR ? set_var(c, n->s, v) : lt_jfail(c, "out of memory");
      }
      lt_sbuf_free(&inner);
      if (rc > 0) return rc;
      break;
    }
    case LT_JN_BREAK: return 1;
    case LT_JN_CONTINUE: return 2;
    case LT_JN_BLOCK:
      rc = exec_list(c, n->body);
      if (rc) return rc;
      break;
    default: return lt_jfail(c, "internal error: expression used as a statement");
    }
    if (rc < 0) return -1;
  }
  return 0;
}

latte_status lt_jinja_parse(const char *text, size_t len, lt_jinja **out) {
  *out = NULL;
  lt_jinja *t = calloc(1, sizeof *t);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  t->arena.limit = LT_J_MAX_ARENA;
  lt_jtok *toks;
  size_t n;
  latte_status st = lt_jinja_lex(text, len, &t->arena, &toks, &n);
  if (st == LATTE_OK) st = lt_jinja_parse_tokens(toks, n, &t->arena, &t->body);
  if (st != LATTE_OK) { lt_jinja_free(t); return st; }
  *out = t;
  return LATTE_OK;
}

void lt_jinja_free(lt_jinja *t) {
  if (!t) return;
  lt_ja_free(&t->arena);
  free(t);
}

latte_status lt_jinja_render(const lt_jinja *t, const lt_jinja_var *vars, size_t nvars, char **out,
                             size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  lt_jctx c = {0};
  c.a.limit = LT_J_MAX_ARENA;
  int rc = push_frame(&c);
  for (size_t i = 0; i < nvars && !rc; i++) {
    lt_jv v;
    switch (vars[i].kind) {
    case LT_JVAR_JSON: v = lt_jv_from_json(&c, vars[i].json); break;
    case LT_JVAR_STR: v = lt_jv_str(vars[i].str, vars[i].str ? strlen(vars[i].str) : 0); break;
    case LT_JVAR_BOOL: v = lt_jv_bool(vars[i].boolean); break;
    default: v = lt_jv_none();
    }
    rc = c.a.oom ? lt_jfail(&c, "out of memory") : set_var(&c, vars[i].name, v);
  }
  if (!rc) rc = exec_list(&c, t->body) < 0;
  latte_status st = LATTE_OK;
  if (rc) st = LATTE_ERR_INVALID;
  else if (c.out.oom) st = lt_err(LATTE_ERR_NOMEM, "out of memory rendering the template");
  if (st == LATTE_OK) {
    lt_sbuf_putc(&c.out, 0);
    if (c.out.oom) st = lt_err(LATTE_ERR_NOMEM, "out of memory rendering the template");
  }
  lt_ja_free(&c.a);
  if (st != LATTE_OK) { lt_sbuf_free(&c.out); return st; }
  *out = c.out.p;
  if (out_len) *out_len = c.out.n - 1;
  return LATTE_OK;
}
