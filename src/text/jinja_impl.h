/* jinja_impl.h — internals of latte's small Jinja interpreter: tokens, AST nodes, runtime values,
 * the per-render arena and context. Shared by jinja_lex.c, jinja_parse.c, jinja_value.c,
 * jinja_eval.c and jinja_filters.c; nothing outside src/text/jinja_* should include it. */
#ifndef LT_JINJA_IMPL_H
#define LT_JINJA_IMPL_H
#include <stddef.h>
#include <stdint.h>
#include "base/json.h"
#include "text/jinja.h"

/* ---- limits (the interpreter never runs away on hostile templates) ---- */
#define LT_J_MAX_NEST 200             /* parser nesting (blocks + expressions) */
#define LT_J_MAX_DEPTH 400            /* evaluator recursion */
#define LT_J_MAX_OUT (64u << 20)      /* rendered bytes */
#define LT_J_MAX_ARENA (512u << 20)   /* bytes allocated by one render */
#define LT_J_MAX_STEPS 20000000L      /* loop iterations + statements in one render */
#define LT_J_MAX_RANGE 10000000L      /* items range() may produce */

/* ---- arena: bump allocator of malloc'd chunks, freed all at once ---- */
typedef struct lt_jchunk lt_jchunk;
typedef struct {
  lt_jchunk *head;
  size_t total, limit;
  int oom;
} lt_jarena;
void *lt_ja_alloc(lt_jarena *a, size_t n); /* zeroed; NULL (and a->oom) past the limit */
char *lt_ja_strdup(lt_jarena *a, const char *s, size_t n);
void lt_ja_free(lt_jarena *a);

/* ---- tokens ---- */
typedef enum {
  LT_TK_EOF, LT_TK_TEXT, LT_TK_VAR_BEGIN, LT_TK_VAR_END, LT_TK_BLOCK_BEGIN, LT_TK_BLOCK_END,
  LT_TK_NAME, LT_TK_STRING, LT_TK_INT, LT_TK_FLOAT, LT_TK_OP
} lt_jtok_type;
typedef struct {
  lt_jtok_type type;
  int line, col;
  const char *s;   /* TEXT/NAME/STRING: bytes (arena); OP: the operator text */
  size_t n;
  int64_t i;
  double f;
} lt_jtok;
/* Tokenise with trim_blocks + lstrip_blocks (as HF transformers configures Jinja2). */
latte_status lt_jinja_lex(const char *src, size_t len, lt_jarena *a, lt_jtok **out, size_t *ntok);

/* ---- AST ---- */
typedef enum {
  /* statements */
  LT_JN_TEXT, LT_JN_PRINT, LT_JN_IF, LT_JN_FOR, LT_JN_SET, LT_JN_SETBLOCK, LT_JN_BREAK,
  LT_JN_CONTINUE, LT_JN_BLOCK, /* BLOCK: a plain body (generation blocks) */
  /* expressions */
  LT_JN_STR, LT_JN_INT, LT_JN_FLOAT, LT_JN_BOOL, LT_JN_NONE, LT_JN_NAME, LT_JN_LIST, LT_JN_DICT,
  LT_JN_ATTR, LT_JN_ITEM, LT_JN_SLICE, LT_JN_CALL, LT_JN_FILTER, LT_JN_TEST, LT_JN_BINOP,
  LT_JN_NOT, LT_JN_NEG, LT_JN_POS, LT_JN_AND, LT_JN_OR, LT_JN_COND
} lt_jnode_kind;

typedef enum {
  LT_OP_ADD, LT_OP_SUB, LT_OP_MUL, LT_OP_DIV, LT_OP_FLOORDIV, LT_OP_MOD, LT_OP_POW, LT_OP_CONCAT,
  LT_OP_EQ, LT_OP_NE, LT_OP_LT, LT_OP_GT, LT_OP_LE, LT_OP_GE, LT_OP_IN, LT_OP_NOTIN
} lt_jop;

typedef struct lt_jnode lt_jnode;
struct lt_jnode {
  lt_jnode_kind kind;
  int line, col;
  int op;              /* BINOP: lt_jop; TEST: 1 when negated ("is not") */
  int flag;            /* BOOL value */
  const char *s;       /* STR bytes / NAME / ATTR name / FILTER+TEST name / SET target / FOR var */
  size_t n;
  const char *s2;      /* SET: attribute (ns.attr); FOR: second loop variable (k, v) */
  int64_t i;
  double f;
  lt_jnode *a, *b, *c; /* children: see jinja_parse.c for each kind */
  lt_jnode **args;     /* LIST items; DICT key,value pairs; CALL/FILTER/TEST arguments */
  const char **kw;     /* CALL/FILTER/TEST: keyword name per argument (NULL = positional) */
  int nargs;
  lt_jnode *body, *else_body; /* statement lists (linked through next) */
  lt_jnode *next;
};

struct lt_jinja {
  lt_jarena arena;
  lt_jnode *body;
};
latte_status lt_jinja_parse_tokens(const lt_jtok *t, size_t n, lt_jarena *a, lt_jnode **out);

/* ---- runtime values ---- */
typedef enum {
  LT_JV_UNDEF, LT_JV_NONE, LT_JV_BOOL, LT_JV_INT, LT_JV_FLOAT, LT_JV_STR, LT_JV_LIST, LT_JV_DICT,
  LT_JV_NS, LT_JV_FUNC
} lt_jv_type;

typedef struct lt_jlist lt_jlist;
typedef struct lt_jdict lt_jdict;
typedef struct {
  lt_jv_type type;
  int b;               /* BOOL */
  int64_t i;           /* INT */
  double f;            /* FLOAT */
  const char *s;       /* STR bytes (UTF-8); UNDEF: the missing name (for messages); FUNC: name */
  size_t n;            /* STR length */
  lt_jlist *list;      /* LIST */
  lt_jdict *dict;      /* DICT / NS */
  const void *bound;   /* FUNC: bound method receiver (lt_jv*), NULL for globals */
} lt_jv;
struct lt_jlist { lt_jv *v; size_t n, cap; };
struct lt_jdict { const char **k; size_t *kn; lt_jv *v; size_t n, cap; };

typedef struct lt_jframe lt_jframe;
struct lt_jframe { lt_jdict vars; lt_jframe *up; };

typedef struct {
  lt_jarena a;
  lt_sbuf out;
  lt_jframe *top;
  int depth;
  long steps;
  int line;            /* line of the node being evaluated, for messages */
} lt_jctx;

/* Error helpers: set the message ("line L: ...") and return -1. */
int lt_jfail(lt_jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

lt_jv lt_jv_undef(const char *name);
lt_jv lt_jv_none(void);
lt_jv lt_jv_bool(int b);
lt_jv lt_jv_int(int64_t i);
lt_jv lt_jv_float(double f);
lt_jv lt_jv_str(const char *s, size_t n);      /* no copy */
lt_jv lt_jv_strdup(lt_jctx *c, const char *s, size_t n);
lt_jv lt_jv_list(lt_jctx *c, size_t cap);
lt_jv lt_jv_dict(lt_jctx *c, size_t cap);
int lt_jlist_push(lt_jctx *c, lt_jv *list, lt_jv v);
int lt_jdict_set(lt_jctx *c, lt_jdict *d, const char *k, size_t kn, lt_jv v); /* copies nothing */
lt_jv *lt_jdict_get(const lt_jdict *d, const char *k, size_t kn);
lt_jv lt_jv_from_json(lt_jctx *c, const lt_json *j);
const char *lt_jv_type_name(const lt_jv *v);
int lt_jv_truthy(const lt_jv *v);
int lt_jv_equal(const lt_jv *x, const lt_jv *y);
/* Python-style ordering: returns 0 ok with *cmp <0/0/>0, -1 when not comparable. */
int lt_jv_compare(const lt_jv *x, const lt_jv *y, int *cmp);
/* Append str(v) (Python/Jinja semantics: None, True, 1.5, ['a'], {'k': 1}). */
int lt_jv_to_str(lt_jctx *c, lt_sbuf *b, const lt_jv *v);
/* Append json.dumps(v, ensure_ascii=False, indent, separators, sort_keys) as HF's tojson does. */
int lt_jv_to_json(lt_jctx *c, lt_sbuf *b, const lt_jv *v, int indent, const char *item_sep,
                  const char *key_sep, int sort_keys, int level);
/* str(v) as a new arena string value. */
int lt_jv_stringify(lt_jctx *c, const lt_jv *v, lt_jv *out);
size_t lt_utf8_count(const char *s, size_t n);            /* code points */
size_t lt_utf8_offset(const char *s, size_t n, size_t cp); /* byte offset of code point cp */

/* ---- filters, tests, methods, globals (jinja_filters.c) ---- */
int lt_jfilter(lt_jctx *c, const char *name, lt_jv *val, lt_jv *args, const char **kw, int nargs,
               lt_jv *out);
int lt_jtest(lt_jctx *c, const char *name, const lt_jv *val, lt_jv *args, int nargs, int *out);
int lt_jmethod(lt_jctx *c, const lt_jv *self, const char *name, lt_jv *args, const char **kw,
               int nargs, lt_jv *out);
int lt_jglobal_call(lt_jctx *c, const char *name, lt_jv *args, const char **kw, int nargs,
                    lt_jv *out);
int lt_jglobal_exists(const char *name);
int lt_jmethod_exists(const lt_jv *self, const char *name);
#endif
