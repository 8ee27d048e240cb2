/* jinja_parse.c — recursive-descent parser from Jinja tokens to an AST: statements (if/elif/else,
 * for/else with a filter, set, set-block, break/continue, generation) and expressions with Jinja2's
 * precedence (or < and < not < comparisons < + - < ~ < * / // % < ** < unary < postfix/filters). */
#include <stdio.h>
#include <string.h>
#include "base/err.h"
#include "text/jinja_impl.h"

typedef struct {
  const lt_jtok *t;
  size_t n, i;
  lt_jarena *a;
  int nest, loops;
} lt_jp;

static const lt_jtok *pk(lt_jp *p) { return &p->t[p->i < p->n ? p->i : p->n - 1]; }
static const lt_jtok *pk2(lt_jp *p) { return &p->t[p->i + 1 < p->n ? p->i + 1 : p->n - 1]; }
static void adv(lt_jp *p) { if (p->i < p->n - 1) p->i++; }
static int tk_op(const lt_jtok *t, const char *op) { return t->type == LT_TK_OP && !strcmp(t->s, op); }
static int tk_name(const lt_jtok *t, const char *nm) {
  return t->type == LT_TK_NAME && t->n == strlen(nm) && !memcmp(t->s, nm, t->n);
}

static void tk_desc(const lt_jtok *t, char *buf, size_t cap) {
  switch (t->type) {
  case LT_TK_EOF: snprintf(buf, cap, "end of template"); break;
  case LT_TK_TEXT: snprintf(buf, cap, "template text"); break;
  case LT_TK_VAR_BEGIN: snprintf(buf, cap, "'{{'"); break;
  case LT_TK_VAR_END: snprintf(buf, cap, "'}}'"); break;
  case LT_TK_BLOCK_BEGIN: snprintf(buf, cap, "'{%%'"); break;
  case LT_TK_BLOCK_END: snprintf(buf, cap, "'%%}'"); break;
  case LT_TK_NAME: snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s); break;
  case LT_TK_STRING: snprintf(buf, cap, "a string"); break;
  case LT_TK_INT: case LT_TK_FLOAT: snprintf(buf, cap, "a number"); break;
  case LT_TK_OP: snprintf(buf, cap, "'%s'", t->s); break;
  }
}

static int pfail(lt_jp *p, const lt_jtok *t, const char *what) {
  char d[64];
  (void)p;
  tk_desc(t, d, sizeof d);
  lt_err(LATTE_ERR_FORMAT, "template syntax error at line %d, column %d: %s (found %s)", t->line, t->col, what, d);
  return -1;
}

static lt_jnode *mk(lt_jp *p, lt_jnode_kind k, const lt_jtok *t) {
  lt_jnode *n = lt_ja_alloc(p->a, sizeof *n);
  if (!n) { lt_err(LATTE_ERR_NOMEM, "template too large"); return NULL; }
  n->kind = k;
  n->line = t->line;
  n->col = t->col;
  return n;
}

static int expect_op(lt_jp *p, const char *op) {
  if (!tk_op(pk(p), op)) {
    char w[32];
    snprintf(w, sizeof w, "expected '%s'", op);
    return pfail(p, pk(p), w);
  }
  adv(p);
  return 0;
}

static int expect_end(lt_jp *p) {
  if (pk(p)->type != LT_TK_BLOCK_END) return pfail(p, pk(p), "expected '%}' to end the tag");
  adv(p);
  return 0;
}

static lt_jnode *expr(lt_jp *p, int condexpr);
static lt_jnode *unary(lt_jp *p, int with_filter);
static lt_jnode *primary(lt_jp *p);
static lt_jnode *postfix(lt_jp *p, lt_jnode *n);

/* Arguments of a call: '(' already current. Fills args/kw/nargs of n. */
static int call_args(lt_jp *p, lt_jnode *n) {
  adv(p);
  lt_jnode *args[64];
  const char *kw[64];
  int na = 0;
  while (!tk_op(pk(p), ")")) {
    if (na) { if (expect_op(p, ",")) return -1; if (tk_op(pk(p), ")")) break; }
    if (na == 64) return pfail(p, pk(p), "too many arguments");
    kw[na] = NULL;
    if (pk(p)->type == LT_TK_NAME && tk_op(pk2(p), "=")) {
      kw[na] = lt_ja_strdup(p->a, pk(p)->s, pk(p)->n);
      if (!kw[na]) return -1;
      adv(p); adv(p);
    }
    if (!(args[na] = expr(p, 1))) return -1;
    na++;
  }
  adv(p);
  n->nargs = na;
  n->args = lt_ja_alloc(p->a, sizeof *n->args * (size_t)(na ? na : 1));
  n->kw = lt_ja_alloc(p->a, sizeof *n->kw * (size_t)(na ? na : 1));
  if (!n->args || !n->kw) return -1;
  memcpy(n->args, args, sizeof *args * (size_t)na);
  memcpy(n->kw, kw, sizeof *kw * (size_t)na);
  return 0;
}

static lt_jnode *seq_literal(lt_jp *p, lt_jnode_kind k, const char *close) {
  const lt_jtok *t = pk(p);
  lt_jnode *n = mk(p, k, t);
  if (!n) return NULL;
  adv(p);
  size_t cap = 8, cnt = 0;
  lt_jnode **items = lt_ja_alloc(p->a, cap * sizeof *items);
  if (!items) return NULL;
  while (!tk_op(pk(p), close)) {
    if (cnt) { if (expect_op(p, ",")) return NULL; if (tk_op(pk(p), close)) break; }
    if (cnt + 2 > cap) {
      lt_jnode **ni = lt_ja_alloc(p->a, cap * 2 * sizeof *ni);
      if (!ni) return NULL;
      memcpy(ni, items, cnt * sizeof *ni);
      items = ni;
      cap *= 2;
    }
    if (!(items[cnt++] = expr(p, 1))) return NULL;
    if (k == LT_JN_DICT) {
      if (expect_op(p, ":")) return NULL;
      if (!(items[cnt++] = expr(p, 1))) return NULL;
    }
  }
  adv(p);
  n->args = items;
  n->nargs = (int)cnt;
  return n;
}

static lt_jnode *primary(lt_jp *p) {
  const lt_jtok *t = pk(p);
  lt_jnode *n = NULL;
  switch (t->type) {
  case LT_TK_NAME:
    if (tk_name(t, "true") || tk_name(t, "True") || tk_name(t, "false") || tk_name(t, "False")) {
      if (!(n = mk(p, LT_JN_BOOL, t))) return NULL;
      n->flag = t->s[0] == 't' || t->s[0] == 'T';
    } else if (tk_name(t, "none") || tk_name(t, "None")) {
      n = mk(p, LT_JN_NONE, t);
    } else {
      if (!(n = mk(p, LT_JN_NAME, t))) return NULL;
      n->s = lt_ja_strdup(p->a, t->s, t->n);
      n->n = t->n;
    }
    adv(p);
    return n;
  case LT_TK_STRING: {
    if (!(n = mk(p, LT_JN_STR, t))) return NULL;
    size_t total = 0, j = p->i;
    while (p->t[j].type == LT_TK_STRING) total += p->t[j++].n;
    char *s = lt_ja_alloc(p->a, total + 1);
    if (!s) return NULL;
    size_t o = 0;
    while (pk(p)->type == LT_TK_STRING) { memcpy(s + o, pk(p)->s, pk(p)->n); o += pk(p)->n; adv(p); }
    n->s = s;
    n->n = total;
    return n;
  }
  case LT_TK_INT:
    if (!(n = mk(p, LT_JN_INT, t))) return NULL;
    n->i = t->i;
    adv(p);
    return n;
  case LT_TK_FLOAT:
    if (!(n = mk(p, LT_JN_FLOAT, t))) return NULL;
    n->f = t->f;
    adv(p);
    return n;
  case LT_TK_OP:
    if (tk_op(t, "(")) {
      adv(p);
      if (tk_op(pk(p), ")")) { adv(p); n = mk(p, LT_JN_LIST, t); return n; }
      lt_jnode *e = expr(p, 1);
      if (!e) return NULL;
      if (tk_op(pk(p), ",")) { /* a tuple: evaluated as a list */
        n = mk(p, LT_JN_LIST, t);
        if (!n) return NULL;
        lt_jnode *items[64];
        int cnt = 0;
        items[cnt++] = e;
        while (tk_op(pk(p), ",")) {
          adv(p);
          if (tk_op(pk(p), ")")) break;
          if (cnt == 64) { pfail(p, pk(p), "tuple too long"); return NULL; }
          if (!(items[cnt++] = expr(p, 1))) return NULL;
        }
        n->args = lt_ja_alloc(p->a, sizeof *items * (size_t)cnt);
        if (!n->args) return NULL;
        memcpy(n->args, items, sizeof *items * (size_t)cnt);
        n->nargs = cnt;
        e = n;
      }
      if (expect_op(p, ")")) return NULL;
      return e;
    }
    if (tk_op(t, "[")) return seq_literal(p, LT_JN_LIST, "]");
    if (tk_op(t, "{")) return seq_literal(p, LT_JN_DICT, "}");
    break;
  default: break;
  }
  pfail(p, t, "expected an expression");
  return NULL;
}

static lt_jnode *subscript(lt_jp *p, lt_jnode *obj) {
  const lt_jtok *t = pk(p);
  if (tk_op(t, ".")) {
    adv(p);
    const lt_jtok *nm = pk(p);
    lt_jnode *n;
    if (nm->type == LT_TK_NAME) {
      if (!(n = mk(p, LT_JN_ATTR, nm))) return NULL;
      n->s = lt_ja_strdup(p->a, nm->s, nm->n);
      n->n = nm->n;
    } else if (nm->type == LT_TK_INT) {
      if (!(n = mk(p, LT_JN_ITEM, nm))) return NULL;
      if (!(n->b = mk(p, LT_JN_INT, nm))) return NULL;
      n->b->i = nm->i;
    } else {
      pfail(p, nm, "expected an attribute name after '.'");
      return NULL;
    }
    n->a = obj;
    adv(p);
    return n;
  }
  /* '[' index or slice ']' */
  adv(p);
  lt_jnode *parts[3] = {NULL, NULL, NULL};
  int np = 0, is_slice = 0;
  for (;;) {
    if (tk_op(pk(p), ":")) {
      is_slice = 1;
      if (++np > 2) { pfail(p, pk(p), "bad slice"); return NULL; }
      adv(p);
      continue;
    }
    if (tk_op(pk(p), "]")) break;
    if (parts[np]) { pfail(p, pk(p), "expected ']'"); return NULL; }
    if (!(parts[np] = expr(p, 1))) return NULL;
  }
  adv(p);
  lt_jnode *n;
  if (is_slice) {
    if (!(n = mk(p, LT_JN_SLICE, t))) return NULL;
    n->args = lt_ja_alloc(p->a, sizeof parts);
    if (!n->args) return NULL;
    memcpy(n->args, parts, sizeof parts);
    n->nargs = 3;
  } else {
    if (!parts[0]) { pfail(p, t, "empty subscript"); return NULL; }
    if (!(n = mk(p, LT_JN_ITEM, t))) return NULL;
    n->b = parts[0];
  }
  n->a = obj;
  return n;
}

static lt_jnode *postfix(lt_jp *p, lt_jnode *n) {
  while (n) {
    const lt_jtok *t = pk(p);
    if (tk_op(t, ".") || tk_op(t, "[")) n = subscript(p, n);
    else if (tk_op(t, "(")) {
      lt_jnode *c = mk(p, LT_JN_CALL, t);
      if (!c) return NULL;
      c->a = n;
      if (call_args(p, c)) return NULL;
      n = c;
    } else break;
  }
  return n;
}

static lt_jnode *filter_expr(lt_jp *p, lt_jnode *n) {
  while (n) {
    const lt_jtok *t = pk(p);
    if (tk_op(t, "|")) {
      adv(p);
      const lt_jtok *nm = pk(p);
      if (nm->type != LT_TK_NAME) { pfail(p, nm, "expected a filter name after '|'"); return NULL; }
      lt_jnode *f = mk(p, LT_JN_FILTER, nm);
      if (!f) return NULL;
      f->s = lt_ja_strdup(p->a, nm->s, nm->n);
      f->n = nm->n;
      f->a = n;
      adv(p);
      if (tk_op(pk(p), "(") && call_args(p, f)) return NULL;
      n = f;
    } else if (tk_name(t, "is")) {
      adv(p);
      int neg = 0;
      if (tk_name(pk(p), "not")) { neg = 1; adv(p); }
      const lt_jtok *nm = pk(p);
      if (nm->type != LT_TK_NAME) { pfail(p, nm, "expected a test name after 'is'"); return NULL; }
      lt_jnode *f = mk(p, LT_JN_TEST, nm);
      if (!f) return NULL;
      f->s = lt_ja_strdup(p->a, nm->s, nm->n);
      f->n = nm->n;
      f->a = n;
      f->op = neg;
      adv(p);
      const lt_jtok *q = pk(p);
      if (tk_op(q, "(")) {
        if (call_args(p, f)) return NULL;
      } else if ((q->type == LT_TK_NAME || q->type == LT_TK_STRING || q->type == LT_TK_INT ||
                  q->type == LT_TK_FLOAT || tk_op(q, "[") || tk_op(q, "{")) &&
                 !tk_name(q, "else") && !tk_name(q, "or") && !tk_name(q, "and")) {
        lt_jnode *arg = postfix(p, primary(p));
        if (!arg) return NULL;
        f->args = lt_ja_alloc(p->a, sizeof *f->args);
        f->kw = lt_ja_alloc(p->a, sizeof *f->kw);
        if (!f->args || !f->kw) return NULL;
        f->args[0] = arg;
        f->nargs = 1;
      }
      n = f;
    } else if (tk_op(t, "(")) {
      lt_jnode *c = mk(p, LT_JN_CALL, t);
      if (!c) return NULL;
      c->a = n;
      if (call_args(p, c)) return NULL;
      n = c;
    } else break;
  }
  return n;
}

static lt_jnode *unary(lt_jp *p, int with_filter) {
  const lt_jtok *t = pk(p);
  if (++p->nest > LT_J_MAX_NEST) { pfail(p, t, "expression nested too deeply"); return NULL; }
  lt_jnode *n;
  if (tk_op(t, "-") || tk_op(t, "+")) {
    adv(p);
    if (!(n = mk(p, t->s[0] == '-' ? LT_JN_NEG : LT_JN_POS, t))) return NULL;
    if (!(n->a = unary(p, 0))) return NULL;
  } else {
    n = postfix(p, primary(p));
  }
  if (n && with_filter) n = filter_expr(p, n);
  p->nest--;
  return n;
}

static lt_jnode *binop(lt_jp *p, const lt_jtok *t, int op, lt_jnode *a, lt_jnode *b) {
  if (!a || !b) return NULL;
  lt_jnode *n = mk(p, LT_JN_BINOP, t);
  if (!n) return NULL;
  n->op = op;
  n->a = a;
  n->b = b;
  return n;
}

static lt_jnode *pow_e(lt_jp *p) {
  lt_jnode *n = unary(p, 1);
  while (n && tk_op(pk(p), "**")) { const lt_jtok *t = pk(p); adv(p); n = binop(p, t, LT_OP_POW, n, unary(p, 1)); }
  return n;
}

static lt_jnode *math2(lt_jp *p) {
  lt_jnode *n = pow_e(p);
  while (n) {
    const lt_jtok *t = pk(p);
    int op = tk_op(t, "*") ? LT_OP_MUL : tk_op(t, "/") ? LT_OP_DIV : tk_op(t, "//") ? LT_OP_FLOORDIV
           : tk_op(t, "%") ? LT_OP_MOD : -1;
    if (op < 0) break;
    adv(p);
    n = binop(p, t, op, n, pow_e(p));
  }
  return n;
}

static lt_jnode *concat(lt_jp *p) {
  lt_jnode *n = math2(p);
  while (n && tk_op(pk(p), "~")) { const lt_jtok *t = pk(p); adv(p); n = binop(p, t, LT_OP_CONCAT, n, math2(p)); }
  return n;
}

static lt_jnode *math1(lt_jp *p) {
  lt_jnode *n = concat(p);
  while (n && (tk_op(pk(p), "+") || tk_op(pk(p), "-"))) {
    const lt_jtok *t = pk(p);
    adv(p);
    n = binop(p, t, t->s[0] == '+' ? LT_OP_ADD : LT_OP_SUB, n, concat(p));
  }
  return n;
}

static lt_jnode *compare(lt_jp *p) {
  lt_jnode *n = math1(p), *last = NULL;
  while (n) {
    const lt_jtok *t = pk(p);
    int op = -1;
    if (tk_op(t, "==")) op = LT_OP_EQ;
    else if (tk_op(t, "!=")) op = LT_OP_NE;
    else if (tk_op(t, "<")) op = LT_OP_LT;
    else if (tk_op(t, ">")) op = LT_OP_GT;
    else if (tk_op(t, "<=")) op = LT_OP_LE;
    else if (tk_op(t, ">=")) op = LT_OP_GE;
    else if (tk_name(t, "in")) op = LT_OP_IN;
    else if (tk_name(t, "not") && tk_name(pk2(p), "in")) { op = LT_OP_NOTIN; adv(p); }
    if (op < 0) break;
    adv(p);
    lt_jnode *rhs = math1(p);
    if (!rhs) return NULL;
    if (!last) { n = last = binop(p, t, op, n, rhs); continue; }
    /* a < b < c  ==  (a < b) and (b < c) */
    lt_jnode *c = binop(p, t, op, last->b, rhs), *andn = mk(p, LT_JN_AND, t);
    if (!c || !andn) return NULL;
    andn->a = n;
    andn->b = c;
    n = andn;
    last = c;
  }
  return n;
}

static lt_jnode *not_e(lt_jp *p) {
  const lt_jtok *t = pk(p);
  if (tk_name(t, "not")) {
    if (++p->nest > LT_J_MAX_NEST) { pfail(p, t, "expression nested too deeply"); return NULL; }
    adv(p);
    lt_jnode *n = mk(p, LT_JN_NOT, t);
    if (!n || !(n->a = not_e(p))) return NULL;
    p->nest--;
    return n;
  }
  return compare(p);
}

static lt_jnode *and_e(lt_jp *p) {
  lt_jnode *n = not_e(p);
  while (n && tk_name(pk(p), "and")) {
    const lt_jtok *t = pk(p);
    adv(p);
    lt_jnode *m = mk(p, LT_JN_AND, t);
    if (!m || !(m->b = not_e(p))) return NULL;
    m->a = n;
    n = m;
  }
  return n;
}

static lt_jnode *or_e(lt_jp *p) {
  lt_jnode *n = and_e(p);
  while (n && tk_name(pk(p), "or")) {
    const lt_jtok *t = pk(p);
    adv(p);
    lt_jnode *m = mk(p, LT_JN_OR, t);
    if (!m || !(m->b = and_e(p))) return NULL;
    m->a = n;
    n = m;
  }
  return n;
}

static lt_jnode *expr(lt_jp *p, int condexpr) {
  if (++p->nest > LT_J_MAX_NEST) { pfail(p, pk(p), "expression nested too deeply"); return NULL; }
  lt_jnode *n = or_e(p);
  while (n && condexpr && tk_name(pk(p), "if")) {
    const lt_jtok *t = pk(p);
    adv(p);
    lt_jnode *c = mk(p, LT_JN_COND, t);
    if (!c) return NULL;
    c->a = n;
    if (!(c->b = or_e(p))) return NULL;
    if (tk_name(pk(p), "else")) {
      adv(p);
      if (!(c->c = expr(p, 1))) return NULL;
    }
    n = c;
  }
  p->nest--;
  return n;
}

/* ---- statements ---- */

static int body(lt_jp *p, const char *const *ends, const lt_jtok *opener, lt_jnode **out,
                const lt_jtok **found);

static int in_list(const lt_jtok *t, const char *const *ends) {
  for (int i = 0; ends && ends[i]; i++) if (tk_name(t, ends[i])) return 1;
  return 0;
}

static int stmt_if(lt_jp *p, const lt_jtok *kw, lt_jnode **out) {
  static const char *const ends[] = {"elif", "else", "endif", NULL};
  lt_jnode *n = mk(p, LT_JN_IF, kw);
  if (!n || !(n->a = expr(p, 1)) || expect_end(p)) return -1;
  const lt_jtok *f;
  if (body(p, ends, kw, &n->body, &f)) return -1;
  if (tk_name(f, "elif")) {
    if (stmt_if(p, f, &n->else_body)) return -1; /* consumes through endif */
  } else if (tk_name(f, "else")) {
    static const char *const e2[] = {"endif", NULL};
    if (expect_end(p) || body(p, e2, kw, &n->else_body, &f) || expect_end(p)) return -1;
  } else if (expect_end(p)) return -1;
  *out = n;
  return 0;
}

static int stmt_for(lt_jp *p, const lt_jtok *kw, lt_jnode **out) {
  lt_jnode *n = mk(p, LT_JN_FOR, kw);
  if (!n) return -1;
  if (pk(p)->type != LT_TK_NAME) return pfail(p, pk(p), "expected a loop variable");
  n->s = lt_ja_strdup(p->a, pk(p)->s, pk(p)->n);
  adv(p);
  if (tk_op(pk(p), ",")) {
    adv(p);
    if (pk(p)->type != LT_TK_NAME) return pfail(p, pk(p), "expected a second loop variable");
    n->s2 = lt_ja_strdup(p->a, pk(p)->s, pk(p)->n);
    adv(p);
  }
  if (!tk_name(pk(p), "in")) return pfail(p, pk(p), "expected 'in'");
  adv(p);
  if (!(n->a = expr(p, 0))) return -1;
  if (tk_name(pk(p), "if")) { adv(p); if (!(n->c = expr(p, 0))) return -1; }
  if (tk_name(pk(p), "recursive")) return pfail(p, pk(p), "recursive loops are not supported");
  if (expect_end(p)) return -1;
  static const char *const ends[] = {"else", "endfor", NULL};
  const lt_jtok *f;
  p->loops++;
  if (body(p, ends, kw, &n->body, &f)) return -1;
  p->loops--;
  if (tk_name(f, "else")) {
    static const char *const e2[] = {"endfor", NULL};
    if (expect_end(p) || body(p, e2, kw, &n->else_body, &f)) return -1;
  }
  if (expect_end(p)) return -1;
  *out = n;
  return 0;
}

static int stmt_set(lt_jp *p, const lt_jtok *kw, lt_jnode **out) {
  if (pk(p)->type != LT_TK_NAME) return pfail(p, pk(p), "expected a variable name after 'set'");
  const lt_jtok *nm = pk(p);
  adv(p);
  lt_jnode *n = mk(p, LT_JN_SET, kw);
  if (!n) return -1;
  n->s = lt_ja_strdup(p->a, nm->s, nm->n);
  if (tk_op(pk(p), ".")) {
    adv(p);
    if (pk(p)->type != LT_TK_NAME) return pfail(p, pk(p), "expected an attribute name");
    n->s2 = lt_ja_strdup(p->a, pk(p)->s, pk(p)->n);
    adv(p);
  }
  if (pk(p)->type == LT_TK_BLOCK_END && !n->s2) {
    static const char *const ends[] = {"endset", NULL};
    const lt_jtok *f;
    adv(p);
    n->kind = LT_JN_SETBLOCK;
    if (body(p, ends, kw, &n->body, &f) || expect_end(p)) return -1;
    *out = n;
    return 0;
  }
  if (tk_op(pk(p), ",")) return pfail(p, pk(p), "tuple assignment is not supported");
  if (expect_op(p, "=")) return -1;
  if (!(n->a = expr(p, 1)) || expect_end(p)) return -1;
  *out = n;
  return 0;
}

static int statement(lt_jp *p, lt_jnode **out) {
  const lt_jtok *kw = pk(p);
  if (kw->type != LT_TK_NAME) return pfail(p, kw, "expected a tag name");
  adv(p);
  if (tk_name(kw, "if")) return stmt_if(p, kw, out);
  if (tk_name(kw, "for")) return stmt_for(p, kw, out);
  if (tk_name(kw, "set")) return stmt_set(p, kw, out);
  if (tk_name(kw, "break") || tk_name(kw, "continue")) {
    if (!p->loops) return pfail(p, kw, "'break'/'continue' outside of a loop");
    lt_jnode *n = mk(p, tk_name(kw, "break") ? LT_JN_BREAK : LT_JN_CONTINUE, kw);
    if (!n || expect_end(p)) return -1;
    *out = n;
    return 0;
  }
  if (tk_name(kw, "generation")) {
    static const char *const ends[] = {"endgeneration", NULL};
    const lt_jtok *f;
    lt_jnode *n = mk(p, LT_JN_BLOCK, kw);
    if (!n || expect_end(p) || body(p, ends, kw, &n->body, &f) || expect_end(p)) return -1;
    *out = n;
    return 0;
  }
  static const char *const known[] = {"macro", "call", "filter", "include", "import", "from", "extends",
                                       "block", "raw", "with", "do", "autoescape", NULL};
  if (in_list(kw, known)) return pfail(p, kw, "this tag is not supported by latte's template engine");
  return pfail(p, kw, "unknown tag");
}

static int body(lt_jp *p, const char *const *ends, const lt_jtok *opener, lt_jnode **out,
                const lt_jtok **found) {
  lt_jnode *head = NULL, **tail = &head;
  if (++p->nest > LT_J_MAX_NEST) return pfail(p, pk(p), "blocks nested too deeply");
  for (;;) {
    const lt_jtok *t = pk(p);
    lt_jnode *n = NULL;
    if (t->type == LT_TK_EOF) {
      if (ends) {
        char w[96];
        /* name the closing tag the opener needs */
        const char *need = ends[0];
        for (int i = 0; ends[i]; i++) if (!strncmp(ends[i], "end", 3)) need = ends[i];
        snprintf(w, sizeof w, "missing '%s' for the '%.*s' opened at line %d", need, (int)opener->n, opener->s, opener->line);
        return pfail(p, t, w);
      }
      break;
    }
    if (t->type == LT_TK_TEXT) {
      if (!(n = mk(p, LT_JN_TEXT, t))) return -1;
      n->s = t->s;
      n->n = t->n;
      adv(p);
    } else if (t->type == LT_TK_VAR_BEGIN) {
      adv(p);
      if (!(n = mk(p, LT_JN_PRINT, t)) || !(n->a = expr(p, 1))) return -1;
      if (pk(p)->type != LT_TK_VAR_END) return pfail(p, pk(p), "expected '}}'");
      adv(p);
    } else if (t->type == LT_TK_BLOCK_BEGIN) {
      const lt_jtok *nm = pk2(p);
      if (in_list(nm, ends)) { adv(p); adv(p); *found = nm; break; }
      adv(p);
      if (nm->type == LT_TK_NAME && (!strncmp(nm->s, "end", 3) || tk_name(nm, "elif") || tk_name(nm, "else")))
        return pfail(p, nm, "unexpected tag");
      if (statement(p, &n)) return -1;
    } else {
      return pfail(p, t, "unexpected token");
    }
    *tail = n;
    tail = &n->next;
  }
  p->nest--;
  *out = head;
  return 0;
}

latte_status lt_jinja_parse_tokens(const lt_jtok *t, size_t n, lt_jarena *a, lt_jnode **out) {
  lt_jp p = {.t = t, .n = n, .a = a};
  const lt_jtok *f = NULL;
  lt_err_clear();
  if (body(&p, NULL, NULL, out, &f)) {
    if (a->oom) return lt_err(LATTE_ERR_NOMEM, "template too large");
    return LATTE_ERR_FORMAT;
  }
  return LATTE_OK;
}
