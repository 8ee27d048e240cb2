/* jinja_lex.c — Jinja tokeniser: template text, {{ }}, {% %}, {# #} with whitespace control
 * ({%- -%} {{- -}} {%+ +%}) and HF's settings trim_blocks + lstrip_blocks, following the rules
 * of Jinja2 3.1's lexer (one trailing newline of the source dropped, newlines normalised). */
#include <stdlib.h>
#include <string.h>
#include "base/err.h"
#include "text/jinja_impl.h"

typedef struct {
  const char *s;
  size_t len, pos;
  size_t lc_pos; /* line/col are known for lc_pos */
  int line, col;
  lt_jarena *a;
  lt_jtok *t;
  size_t n, cap;
} lt_lx;

static void lx_where(lt_lx *x, size_t pos, int *line, int *col) {
  if (pos < x->lc_pos) { x->lc_pos = 0; x->line = 1; x->col = 1; }
  while (x->lc_pos < pos) {
    unsigned char ch = (unsigned char)x->s[x->lc_pos++];
    if (ch == '\n') { x->line++; x->col = 1; }
    else if ((ch & 0xC0) != 0x80) x->col++;
  }
  *line = x->line;
  *col = x->col;
}

static latte_status lx_fail(lt_lx *x, size_t pos, const char *msg) {
  int l, c;
  lx_where(x, pos, &l, &c);
  return lt_err(LATTE_ERR_FORMAT, "template syntax error at line %d, column %d: %s", l, c, msg);
}

static lt_jtok *lx_push(lt_lx *x, lt_jtok_type type, size_t pos) {
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 256;
    lt_jtok *t = realloc(x->t, cap * sizeof *t);
    if (!t) return NULL;
    x->t = t;
    x->cap = cap;
  }
  lt_jtok *k = &x->t[x->n++];
  memset(k, 0, sizeof *k);
  k->type = type;
  lx_where(x, pos, &k->line, &k->col);
  return k;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

static int put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63));
    o[2] = (char)(0x80 | (cp & 63)); return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
  o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63)); return 4;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A quoted string at x->pos; Python "unicode-escape" decoding of its body, as Jinja does. */
static latte_status lx_string(lt_lx *x) {
  size_t start = x->pos;
  char q = x->s[x->pos++];
  size_t b = x->pos;
  while (x->pos < x->len && x->s[x->pos] != q) {
    if (x->s[x->pos] == '\\' && x->pos + 1 < x->len) x->pos++;
    x->pos++;
  }
  if (x->pos >= x->len) return lx_fail(x, start, "unterminated string");
  size_t e = x->pos++;
  char *o = lt_ja_alloc(x->a, (e - b) * 2 + 1);
  if (!o) return lt_err(LATTE_ERR_NOMEM, "template too large");
  size_t n = 0;
  for (size_t i = b; i < e; i++) {
    char c = x->s[i];
    if (c != '\\' || i + 1 >= e) { o[n++] = c; continue; }
    char d = x->s[++i];
    switch (d) {
    case 'n': o[n++] = '\n'; break;
    case 't': o[n++] = '\t'; break;
    case 'r': o[n++] = '\r'; break;
    case 'a': o[n++] = '\a'; break;
    case 'b': o[n++] = '\b'; break;
    case 'f': o[n++] = '\f'; break;
    case 'v': o[n++] = '\v'; break;
    case '\\': o[n++] = '\\'; break;
    case '\'': o[n++] = '\''; break;
    case '"': o[n++] = '"'; break;
    case '\n': break; /* line continuation */
    case 'x': case 'u': case 'U': {
      int w = d == 'x' ? 2 : d == 'u' ? 4 : 8;
      unsigned cp = 0;
      if (i + (size_t)w >= e) return lx_fail(x, i, "truncated \\x/\\u escape in string");
      for (int k = 1; k <= w; k++) {
        int h = hexval(x->s[i + k]);
        if (h < 0) return lx_fail(x, i, "bad \\x/\\u escape in string");
        cp = cp * 16 + (unsigned)h;
      }
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return lx_fail(x, i, "bad code point in string escape");
      i += (size_t)w;
      n += (size_t)put_utf8(o + n, cp);
      break;
    }
    default:
      if (d >= '0' && d <= '7') {
        unsigned cp = 0;
        int k = 0;
        while (k < 3 && i < e && x->s[i] >= '0' && x->s[i] <= '7') { cp = cp * 8 + (unsigned)(x->s[i] - '0'); i++; k++; }
        i--;
        n += (size_t)put_utf8(o + n, cp);
      } else { o[n++] = '\\'; o[n++] = d; }
    }
  }
  o[n] = 0;
  lt_jtok *t = lx_push(x, LT_TK_STRING, start);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "template too large");
  t->s = o;
  t->n = n;
  return LATTE_OK;
}

static latte_status lx_number(lt_lx *x) {
  size_t start = x->pos;
  char buf[128];
  size_t n = 0;
  int is_float = 0;
  while (x->pos < x->len && (is_digit(x->s[x->pos]) || x->s[x->pos] == '_')) {
    if (x->s[x->pos] != '_' && n < sizeof buf - 1) buf[n++] = x->s[x->pos];
    x->pos++;
  }
  if (x->pos + 1 < x->len && x->s[x->pos] == '.' && is_digit(x->s[x->pos + 1])) {
    is_float = 1;
    if (n < sizeof buf - 1) buf[n++] = '.';
    x->pos++;
    while (x->pos < x->len && (is_digit(x->s[x->pos]) || x->s[x->pos] == '_')) {
      if (x->s[x->pos] != '_' && n < sizeof buf - 1) buf[n++] = x->s[x->pos];
      x->pos++;
    }
  }
  if (x->pos < x->len && (x->s[x->pos] == 'e' || x->s[x->pos] == 'E')) {
    size_t p = x->pos + 1;
    if (p < x->len && (x->s[p] == '+' || x->s[p] == '-')) p++;
    if (p < x->len && is_digit(x->s[p])) {
      is_float = 1;
      while (x->pos < p && n < sizeof buf - 1) buf[n++] = x->s[x->pos++];
      while (x->pos < x->len && is_digit(x->s[x->pos])) {
        if (n < sizeof buf - 1) buf[n++] = x->s[x->pos];
        x->pos++;
      }
    }
  }
  buf[n] = 0;
  lt_jtok *t = lx_push(x, is_float ? LT_TK_FLOAT : LT_TK_INT, start);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "template too large");
  if (is_float) t->f = strtod(buf, NULL);
  else {
    if (n > 18) return lx_fail(x, start, "integer literal too large");
    t->i = strtoll(buf, NULL, 10);
  }
  return LATTE_OK;
}

static const char *const lt_ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~",
                                     "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", NULL};

/* Tokens inside {{ }} or {% %} up to the end tag; returns with x->pos after the end tag and
 * *trail set to the strip behaviour of the end ('-', '+' or 0). */
static latte_status lx_tag(lt_lx *x, int block, size_t open_pos, int *trail) {
  int depth = 0;
  for (;;) {
    while (x->pos < x->len && is_ws(x->s[x->pos])) x->pos++;
    if (x->pos >= x->len) return lx_fail(x, open_pos, block ? "unclosed '{%' tag" : "unclosed '{{' tag");
    const char *p = x->s + x->pos;
    size_t left = x->len - x->pos;
    const char *end = block ? "%}" : "}}";
    if (depth == 0) {
      if (left >= 3 && (p[0] == '-' || (block && p[0] == '+')) && !memcmp(p + 1, end, 2)) {
        *trail = p[0];
        x->pos += 3;
        break;
      }
      if (left >= 2 && !memcmp(p, end, 2)) {
        *trail = 0;
        x->pos += 2;
        break;
      }
    }
    if ((p[0] == '\'' || p[0] == '"')) { LT_TRY(lx_string(x)); continue; }
    if (is_digit(p[0])) { LT_TRY(lx_number(x)); continue; }
    if (is_name0(p[0])) {
      size_t b = x->pos;
      while (x->pos < x->len && (is_name0(x->s[x->pos]) || is_digit(x->s[x->pos]))) x->pos++;
      lt_jtok *t = lx_push(x, LT_TK_NAME, b);
      if (!t) return lt_err(LATTE_ERR_NOMEM, "template too large");
      t->s = x->s + b;
      t->n = x->pos - b;
      continue;
    }
    int k;
    for (k = 0; lt_ops[k]; k++) {
      size_t ol = strlen(lt_ops[k]);
      if (left >= ol && !memcmp(p, lt_ops[k], ol)) break;
    }
    if (!lt_ops[k]) return lx_fail(x, x->pos, "unexpected character");
    char c0 = lt_ops[k][0];
    if (c0 == '(' || c0 == '[' || c0 == '{') depth++;
    if ((c0 == ')' || c0 == ']' || c0 == '}') && depth > 0) depth--;
    lt_jtok *t = lx_push(x, LT_TK_OP, x->pos);
    if (!t) return lt_err(LATTE_ERR_NOMEM, "template too large");
    t->s = lt_ops[k];
    t->n = strlen(lt_ops[k]);
    x->pos += t->n;
  }
  return LATTE_OK;
}

/* After an end tag: '-' strips all following whitespace; trim_blocks drops one newline after
 * block and comment tags unless '+'. Returns whether the consumed text ended in a newline. */
static int lx_after(lt_lx *x, int trail, int trim) {
  if (trail == '-') {
    size_t b = x->pos;
    while (x->pos < x->len && is_ws(x->s[x->pos])) x->pos++;
    return x->pos > b && x->s[x->pos - 1] == '\n';
  }
  if (trail != '+' && trim && x->pos < x->len && x->s[x->pos] == '\n') { x->pos++; return 1; }
  return 0;
}

static latte_status lx_text(lt_lx *x, size_t b, size_t e) {
  if (e <= b) return LATTE_OK;
  lt_jtok *t = lx_push(x, LT_TK_TEXT, b);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "template too large");
  t->s = x->s + b;
  t->n = e - b;
  return LATTE_OK;
}

latte_status lt_jinja_lex(const char *src, size_t len, lt_jarena *a, lt_jtok **out, size_t *ntok) {
  /* Normalise \r\n and \r to \n and drop one trailing newline (keep_trailing_newline=False). */
  char *s = lt_ja_alloc(a, len + 1);
  if (!s) return lt_err(LATTE_ERR_NOMEM, "template too large");
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (src[i] == '\r') { s[n++] = '\n'; if (i + 1 < len && src[i + 1] == '\n') i++; }
    else s[n++] = src[i];
  }
  if (n && s[n - 1] == '\n') n--;
  s[n] = 0;
  lt_lx x = {.s = s, .len = n, .a = a, .line = 1, .col = 1};
  int line_starting = 1;
  latte_status st = LATTE_OK;
  while (x.pos < x.len) {
    const char *p = x.s + x.pos;
    const char *tag = NULL;
    for (const char *q = p; (q = memchr(q, '{', (size_t)(x.s + x.len - q))) != NULL; q++) {
      if (q + 1 < x.s + x.len && (q[1] == '{' || q[1] == '%' || q[1] == '#')) { tag = q; break; }
    }
    if (!tag) { st = lx_text(&x, x.pos, x.len); x.pos = x.len; break; }
    size_t tb = (size_t)(tag - x.s), te = tb;
    char kind = tag[1];
    char sign = (tb + 2 < x.len) ? x.s[tb + 2] : 0;
    if (sign == '-') {
      while (te > x.pos && is_ws(x.s[te - 1])) te--;
    } else if (!(sign == '+' && kind != '{') && kind != '{') {
      size_t l = te;
      while (l > x.pos && x.s[l - 1] != '\n') l--;
      if (l > x.pos || line_starting) {
        size_t k = l;
        while (k < te && is_ws(x.s[k])) k++;
        if (k == te) te = l;
      }
    }
    if ((st = lx_text(&x, x.pos, te)) != LATTE_OK) break;
    x.pos = tb + 2 + ((sign == '-' || (sign == '+' && kind != '{')) ? 1 : 0);
    int trail = 0;
    if (kind == '#') {
      const char *q = NULL;
      for (size_t i = x.pos; i + 1 < x.len; i++)
        if (x.s[i] == '#' && x.s[i + 1] == '}') { q = x.s + i; break; }
      if (!q) { st = lx_fail(&x, tb, "unclosed comment"); break; }
      size_t ce = (size_t)(q - x.s);
      if (ce > x.pos && (x.s[ce - 1] == '-' || x.s[ce - 1] == '+')) trail = x.s[ce - 1];
      x.pos = ce + 2;
      line_starting = lx_after(&x, trail, 1);
      continue;
    }
    int block = kind == '%';
    if (!lx_push(&x, block ? LT_TK_BLOCK_BEGIN : LT_TK_VAR_BEGIN, tb)) { st = lt_err(LATTE_ERR_NOMEM, "template too large"); break; }
    if ((st = lx_tag(&x, block, tb, &trail)) != LATTE_OK) break;
    if (!lx_push(&x, block ? LT_TK_BLOCK_END : LT_TK_VAR_END, x.pos - 2)) { st = lt_err(LATTE_ERR_NOMEM, "template too large"); break; }
    line_starting = lx_after(&x, trail, block);
  }
  if (st == LATTE_OK && !lx_push(&x, LT_TK_EOF, x.len)) st = lt_err(LATTE_ERR_NOMEM, "template too large");
  if (st != LATTE_OK) { free(x.t); return st; }
  lt_jtok *t = lt_ja_alloc(a, x.n * sizeof *t);
  if (!t) { free(x.t); return lt_err(LATTE_ERR_NOMEM, "template too large"); }
  memcpy(t, x.t, x.n * sizeof *t);
  free(x.t);
  *out = t;
  *ntok = x.n;
  return LATTE_OK;
}
