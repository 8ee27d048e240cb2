/* pretok.c — normalizers (Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Prepend, Replace, Strip) and
 * pre-tokenizers (Sequence, Split, Digits, ByteLevel) of a HF tokenizer.json: loading, and running
 * them depth-first on one text so that each final piece goes straight to BPE (no piece lists). */
#include "text/tok_internal.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

pcre2_code *lt_re_compile(const char *pat, size_t len, int literal, int *jit, char *err, size_t errn) {
  int ec; PCRE2_SIZE eo;
  uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &eo, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(ec, msg, sizeof msg);
    snprintf(err, errn, "regex /%.*s/ at offset %zu: %s", (int)(len > 200 ? 200 : len), pat,
             (size_t)eo, (char *)msg);
    return NULL;
  }
  *jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
  return re;
}

/* A {"String": s} or {"Regex": r} pattern object. */
static latte_status load_pattern(const lt_json *pat, const char *where, const char *what,
                                 pcre2_code **re, int *jit) {
  const char *s = lt_json_str(pat, "String");
  int literal = 1;
  if (!s) { s = lt_json_str(pat, "Regex"); literal = 0; }
  if (!s) return lt_err(LATTE_ERR_FORMAT, "%s: %s: pattern needs \"String\" or \"Regex\"", where, what);
  const lt_json *sv = lt_json_get(pat, literal ? "String" : "Regex");
  char err[512];
  int j = 0;
  *re = lt_re_compile(s, sv->len, literal, &j, err, sizeof err);
  if (!*re) return lt_err(LATTE_ERR_FORMAT, "%s: %s: %s", where, what, err);
  if (jit) *jit = j;
  return LATTE_OK;
}

static latte_status dup_str(const lt_json *o, const char *key, const char *where, char **s, size_t *n) {
  const lt_json *v = lt_json_get(o, key);
  if (!v || v->type != LT_JSTR) return lt_err(LATTE_ERR_FORMAT, "%s: missing string \"%s\"", where, key);
  *s = malloc(v->len + 1);
  if (!*s) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  memcpy(*s, v->str, v->len + 1);
  *n = v->len;
  return LATTE_OK;
}

static latte_status norm_add(lt_tokenizer *t, const lt_json *j, const char *where) {
  const char *type = lt_json_str(j, "type");
  if (!type) return lt_err(LATTE_ERR_FORMAT, "%s: normalizer without \"type\"", where);
  if (!strcmp(type, "Sequence")) {
    const lt_json *a = lt_json_get(j, "normalizers");
    if (!a || a->type != LT_JARR) return lt_err(LATTE_ERR_FORMAT, "%s: Sequence normalizer without \"normalizers\"", where);
    for (size_t i = 0; i < a->len; i++) LT_TRY(norm_add(t, &a->items[i], where));
    return LATTE_OK;
  }
  lt_norm n; memset(&n, 0, sizeof n);
  latte_status st = LATTE_OK;
  if (!strcmp(type, "NFC")) n.kind = LT_N_NFC;
  else if (!strcmp(type, "NFD")) n.kind = LT_N_NFD;
  else if (!strcmp(type, "NFKC")) n.kind = LT_N_NFKC;
  else if (!strcmp(type, "NFKD")) n.kind = LT_N_NFKD;
  else if (!strcmp(type, "Lowercase")) n.kind = LT_N_LOWER;
  else if (!strcmp(type, "Prepend")) { n.kind = LT_N_PREPEND; st = dup_str(j, "prepend", where, &n.s, &n.s_len); }
  else if (!strcmp(type, "Replace")) {
    n.kind = LT_N_REPLACE;
    st = dup_str(j, "content", where, &n.s, &n.s_len);
    const lt_json *pat = lt_json_get(j, "pattern");
    if (st == LATTE_OK && (!pat || pat->type != LT_JOBJ))
      st = lt_err(LATTE_ERR_FORMAT, "%s: Replace normalizer without \"pattern\"", where);
    if (st == LATTE_OK) st = load_pattern(pat, where, "Replace normalizer", &n.re, NULL);
  } else if (!strcmp(type, "Strip")) {
    n.kind = LT_N_STRIP; n.left = n.right = 1;
    lt_json_bool(j, "left", &n.left); lt_json_bool(j, "strip_left", &n.left);
    lt_json_bool(j, "right", &n.right); lt_json_bool(j, "strip_right", &n.right);
  } else return lt_err(LATTE_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported", where, type);
  if (st != LATTE_OK) { lt_norm_free(&n); return st; }
  lt_norm *nn = realloc(t->norms, (size_t)(t->n_norms + 1) * sizeof *nn);
  if (!nn) { lt_norm_free(&n); return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where); }
  t->norms = nn;
  t->norms[t->n_norms++] = n;
  return LATTE_OK;
}

latte_status lt_norm_load(lt_tokenizer *t, const lt_json *j, const char *where) {
  if (lt_json_is_null(j)) return LATTE_OK;
  return norm_add(t, j, where);
}

static latte_status pretok_push(lt_tokenizer *t, lt_pretok p, const char *where) {
  lt_pretok *np = realloc(t->pretoks, (size_t)(t->n_pretoks + 1) * sizeof *np);
  if (!np) { lt_pretok_free(&p); return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where); }
  t->pretoks = np;
  t->pretoks[t->n_pretoks++] = p;
  return LATTE_OK;
}

static latte_status pretok_add(lt_tokenizer *t, const lt_json *j, const char *where) {
  const char *type = lt_json_str(j, "type");
  if (!type) return lt_err(LATTE_ERR_FORMAT, "%s: pre_tokenizer without \"type\"", where);
  if (t->n_pretoks && t->pretoks[t->n_pretoks - 1].kind == LT_P_BYTELEVEL)
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" after ByteLevel is not supported", where, type);
  if (t->n_pretoks >= 15) return lt_err(LATTE_ERR_UNSUPPORTED, "%s: more than 15 pre_tokenizers", where);
  lt_pretok p; memset(&p, 0, sizeof p);
  char err[512];
  if (!strcmp(type, "Sequence")) {
    const lt_json *a = lt_json_get(j, "pretokenizers");
    if (!a || a->type != LT_JARR) return lt_err(LATTE_ERR_FORMAT, "%s: Sequence pre_tokenizer without \"pretokenizers\"", where);
    for (size_t i = 0; i < a->len; i++) LT_TRY(pretok_add(t, &a->items[i], where));
    return LATTE_OK;
  }
  if (!strcmp(type, "Split")) {
    p.kind = LT_P_SPLIT;
    const lt_json *pat = lt_json_get(j, "pattern");
    if (!pat || pat->type != LT_JOBJ) return lt_err(LATTE_ERR_FORMAT, "%s: Split pre_tokenizer without \"pattern\"", where);
    const char *b = lt_json_str(j, "behavior");
    if (!b) return lt_err(LATTE_ERR_FORMAT, "%s: Split pre_tokenizer without \"behavior\"", where);
    if (!strcmp(b, "Removed")) p.behavior = LT_B_REMOVED;
    else if (!strcmp(b, "Isolated")) p.behavior = LT_B_ISOLATED;
    else if (!strcmp(b, "MergedWithPrevious")) p.behavior = LT_B_PREV;
    else if (!strcmp(b, "MergedWithNext")) p.behavior = LT_B_NEXT;
    else if (!strcmp(b, "Contiguous")) p.behavior = LT_B_CONTIG;
    else return lt_err(LATTE_ERR_FORMAT, "%s: Split behavior \"%s\" is unknown", where, b);
    lt_json_bool(j, "invert", &p.invert);
    LT_TRY(load_pattern(pat, where, "Split pre_tokenizer", &p.re, &p.jit));
    return pretok_push(t, p, where);
  }
  if (!strcmp(type, "Digits")) {
    /* Digits splits on char::is_numeric (\p{N}): each digit alone, or digit runs Contiguous —
     * the same pieces as Isolated matches of \p{N} or \p{N}+. */
    int individual = 0;
    lt_json_bool(j, "individual_digits", &individual);
    const char *pat = individual ? "\\p{N}" : "\\p{N}+";
    p.kind = LT_P_SPLIT; p.behavior = LT_B_ISOLATED;
    p.re = lt_re_compile(pat, strlen(pat), 0, &p.jit, err, sizeof err);
    if (!p.re) return lt_err(LATTE_ERR_FORMAT, "%s: Digits: %s", where, err);
    return pretok_push(t, p, where);
  }
  if (!strcmp(type, "ByteLevel")) {
    int use_regex = 1;
    p.kind = LT_P_BYTELEVEL; p.add_prefix_space = 1;
    lt_json_bool(j, "add_prefix_space", &p.add_prefix_space);
    lt_json_bool(j, "use_regex", &use_regex);
    if (use_regex) {
      p.re = lt_re_compile(GPT2_PATTERN, strlen(GPT2_PATTERN), 0, &p.jit, err, sizeof err);
      if (!p.re) return lt_err(LATTE_ERR_FORMAT, "%s: ByteLevel: %s", where, err);
    }
    return pretok_push(t, p, where);
  }
  return lt_err(LATTE_ERR_UNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported", where, type);
}

latte_status lt_pretok_load(lt_tokenizer *t, const lt_json *j, const char *where) {
  if (lt_json_is_null(j)) return LATTE_OK;
  return pretok_add(t, j, where);
}

void lt_norm_free(lt_norm *n) { free(n->s); if (n->re) pcre2_code_free(n->re); memset(n, 0, sizeof *n); }
void lt_pretok_free(lt_pretok *p) { if (p->re) pcre2_code_free(p->re); memset(p, 0, sizeof *p); }

/* ---------------- running ---------------- */

/* Next match of re in s[0..n) at or after *pos. Returns 1 with [*ms,*me), 0 when none, -1 on error
 * (c->st set). An empty match is returned too; the caller advances past it. */
static int re_next(lt_enc_ctx *c, pcre2_code *re, int jit, const char *s, size_t n, size_t pos,
                   size_t *ms, size_t *me) {
  int rc;
  if (jit) rc = pcre2_jit_match(re, (PCRE2_SPTR)s, n, pos, 0, c->md, c->mctx);
  else rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    if (c->st == LATTE_OK) c->st = lt_err(LATTE_ERR_INVALID, "tokenizer: regex match failed on a %zu-byte piece: %s", n, (char *)msg);
    return -1;
  }
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
  *ms = ov[0]; *me = ov[1];
  return 1;
}

static size_t u8_next(const char *s, size_t n, size_t i) {
  i++;
  while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
  return i;
}

static void pretok_level(lt_enc_ctx *c, int lv, const char *p, size_t n);

/* Isolated / Removed: pieces go down as they are found. */
static void split_stream(lt_enc_ctx *c, int lv, const lt_pretok *pt, const char *p, size_t n) {
  size_t pos = 0, prev = 0, ms, me;
  int keep_match = pt->behavior == LT_B_ISOLATED || pt->invert;
  int keep_gap = pt->behavior == LT_B_ISOLATED || !pt->invert;
  while (pos <= n && c->st == LATTE_OK) {
    int r = re_next(c, pt->re, pt->jit, p, n, pos, &ms, &me);
    if (r < 0) return;
    if (r == 0) break;
    if (ms > prev && keep_gap) pretok_level(c, lv + 1, p + prev, ms - prev);
    if (me > ms && keep_match) pretok_level(c, lv + 1, p + ms, me - ms);
    prev = me;
    pos = me > ms ? me : u8_next(p, n, me);
  }
  if (prev < n && keep_gap) pretok_level(c, lv + 1, p + prev, n - prev);
}

/* The other behaviours fold over the full (offsets, is_match) list, as HF's split does. */
static void split_fold(lt_enc_ctx *c, int lv, const lt_pretok *pt, const char *p, size_t n) {
  size_t np = 0, pos = 0, prev = 0, ms, me;
  lt_piece *L = c->pieces[lv];
  size_t cap = c->pieces_cap[lv];
#define PUSH(a, b, m_) do { \
    if (np == cap) { size_t nc = cap ? cap * 2 : 64; lt_piece *nl = realloc(L, nc * sizeof *nl); \
      if (!nl) { c->st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); goto out; } \
      L = nl; cap = nc; } \
    L[np++] = (lt_piece){a, b, m_}; } while (0)
  while (pos <= n) {
    int r = re_next(c, pt->re, pt->jit, p, n, pos, &ms, &me);
    if (r < 0) goto out;
    if (r == 0) break;
    if (ms > prev) PUSH(prev, ms, pt->invert);
    PUSH(ms, me, !pt->invert);
    prev = me;
    pos = me > ms ? me : u8_next(p, n, me);
  }
  if (prev < n) PUSH(prev, n, pt->invert);
  /* fold in place: out index k <= read index i */
  size_t k = 0;
  if (pt->behavior == LT_B_PREV || pt->behavior == LT_B_CONTIG) {
    int prevm = 0;
    for (size_t i = 0; i < np; i++) {
      int m = L[i].m;
      int merge = pt->behavior == LT_B_PREV ? (m && !prevm) : (m == prevm);
      if (merge && k > 0) L[k - 1].e = L[i].e;
      else L[k++] = L[i];
      prevm = m;
    }
  } else { /* LT_B_NEXT: the same fold from the right */
    int prevm = 0;
    size_t w = np; /* write downwards from the end */
    for (size_t i = np; i-- > 0;) {
      int m = L[i].m;
      if (m && !prevm && w < np) L[w].s = L[i].s;
      else L[--w] = L[i];
      prevm = m;
    }
    memmove(L, L + w, (np - w) * sizeof *L);
    k = np - w;
  }
  c->pieces[lv] = L; c->pieces_cap[lv] = cap;
  for (size_t i = 0; i < k && c->st == LATTE_OK; i++)
    if (L[i].e > L[i].s) pretok_level(c, lv + 1, p + L[i].s, L[i].e - L[i].s);
  return;
out:
  c->pieces[lv] = L; c->pieces_cap[lv] = cap;
#undef PUSH
}

static void pretok_level(lt_enc_ctx *c, int lv, const char *p, size_t n) {
  if (n == 0 || c->st != LATTE_OK) return;
  const lt_tokenizer *t = c->t;
  if (lv == t->n_pretoks) { lt_bpe_word(c, (const unsigned char *)p, n); return; }
  const lt_pretok *pt = &t->pretoks[lv];
  if (pt->kind == LT_P_BYTELEVEL) {
    if (pt->add_prefix_space && p[0] != ' ') {
      /* ByteLevel is the last pre-tokenizer, so one buffer serves every piece */
      c->prefix.n = 0;
      lt_sbuf_putc(&c->prefix, ' ');
      lt_sbuf_put(&c->prefix, p, n);
      if (c->prefix.oom) { c->st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); return; }
      p = c->prefix.p; n = c->prefix.n;
    }
    if (!pt->re) { pretok_level(c, lv + 1, p, n); return; }
    lt_pretok iso = *pt; iso.behavior = LT_B_ISOLATED; iso.invert = 0;
    split_stream(c, lv, &iso, p, n);
    return;
  }
  if (pt->behavior == LT_B_ISOLATED || pt->behavior == LT_B_REMOVED) split_stream(c, lv, pt, p, n);
  else split_fold(c, lv, pt, p, n);
}

latte_status lt_pretok_run(lt_enc_ctx *c, const char *p, size_t n) {
  pretok_level(c, 0, p, n);
  if (c->st == LATTE_OK && c->ids.oom) c->st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory");
  return c->st;
}

/* ---- normalizers ---- */

static int is_ws(uint32_t cp) { /* Unicode White_Space, as Rust char::is_whitespace */
  return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

static int norm_one(lt_enc_ctx *c, const lt_norm *nm, const char *p, size_t n, lt_sbuf *o) {
  o->n = 0;
  switch (nm->kind) {
  case LT_N_NFC: case LT_N_NFD: case LT_N_NFKC: case LT_N_NFKD: {
    utf8proc_option_t f = UTF8PROC_STABLE;
    if (nm->kind == LT_N_NFC || nm->kind == LT_N_NFKC) f |= UTF8PROC_COMPOSE; else f |= UTF8PROC_DECOMPOSE;
    if (nm->kind == LT_N_NFKC || nm->kind == LT_N_NFKD) f |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t rn = utf8proc_map((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)n, &r, f);
    if (rn < 0) { c->st = lt_err(LATTE_ERR_INVALID, "tokenizer: normalizer: %s", utf8proc_errmsg(rn)); return 0; }
    lt_sbuf_put(o, r, (size_t)rn);
    free(r);
    break;
  }
  case LT_N_LOWER: {
    size_t i = 0; char u[4];
    while (i < n) {
      uint32_t cp; int l = lt_u8_decode((const unsigned char *)p + i, &cp);
      lt_sbuf_put(o, u, (size_t)lt_u8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), u));
      i += (size_t)l;
    }
    break;
  }
  case LT_N_PREPEND:
    if (n) lt_sbuf_put(o, nm->s, nm->s_len);
    lt_sbuf_put(o, p, n);
    break;
  case LT_N_REPLACE: {
    size_t pos = 0, prev = 0, ms, me;
    for (;;) {
      int r = re_next(c, nm->re, 0, p, n, pos, &ms, &me);
      if (r < 0) return 0;
      if (r == 0) break;
      lt_sbuf_put(o, p + prev, ms - prev);
      lt_sbuf_put(o, nm->s, nm->s_len);
      prev = me;
      if (me == ms) { if (me >= n) break; pos = u8_next(p, n, me); } else pos = me;
    }
    lt_sbuf_put(o, p + prev, n - prev);
    break;
  }
  case LT_N_STRIP: {
    size_t a = 0, b = n;
    while (nm->left && a < b) {
      uint32_t cp; int l = lt_u8_decode((const unsigned char *)p + a, &cp);
      if (!is_ws(cp)) break;
      a += (size_t)l;
    }
    while (nm->right && b > a) {
      size_t s = b - 1;
      while (s > a && ((unsigned char)p[s] & 0xC0) == 0x80) s--;
      uint32_t cp; lt_u8_decode((const unsigned char *)p + s, &cp);
      if (!is_ws(cp)) break;
      b = s;
    }
    lt_sbuf_put(o, p + a, b - a);
    break;
  }
  }
  if (o->oom) { c->st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); return 0; }
  if (!o->p) lt_sbuf_put(o, "", 0);
  return 1;
}

latte_status lt_normalize(lt_enc_ctx *c, const char *p, size_t n, const char **out, size_t *out_n) {
  const lt_tokenizer *t = c->t;
  lt_sbuf *bufs[2] = {&c->norm_a, &c->norm_b};
  for (int i = 0; i < t->n_norms; i++) {
    lt_sbuf *o = bufs[i & 1];
    if (!norm_one(c, &t->norms[i], p, n, o)) return c->st;
    p = o->p; n = o->n;
  }
  *out = p; *out_n = n;
  return LATTE_OK;
}
