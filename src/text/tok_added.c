/* tok_added.c — added tokens: a byte trie over their contents and the split of a text on them,
 * with HF's AddedVocabulary semantics (leftmost-longest matches; single_word, lstrip, rstrip). */
#include "text/tok_internal.h"
#include "base/err.h"
#include <stdlib.h>
#include <utf8proc.h>

static int32_t trie_node(lt_trie *tr, uint8_t byte) {
  if (tr->n == tr->cap) {
    size_t cap = tr->cap ? tr->cap * 2 : 256;
    lt_trie_node *nn = realloc(tr->nodes, cap * sizeof *nn);
    if (!nn) return -1;
    tr->nodes = nn; tr->cap = cap;
  }
  tr->nodes[tr->n] = (lt_trie_node){-1, -1, -1, byte};
  return (int32_t)tr->n++;
}

int lt_trie_add(lt_trie *tr, const char *s, size_t n, int32_t tok) {
  if (n == 0) return 1; /* an empty token can never match */
  if (tr->n == 0 && trie_node(tr, 0) < 0) return 0;
  int32_t cur = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = (uint8_t)s[i];
    int32_t ch = tr->nodes[cur].child;
    while (ch >= 0 && tr->nodes[ch].byte != b) ch = tr->nodes[ch].sibling;
    if (ch < 0) {
      ch = trie_node(tr, b);
      if (ch < 0) return 0;
      tr->nodes[ch].sibling = tr->nodes[cur].child;
      tr->nodes[cur].child = ch;
    }
    cur = ch;
  }
  if (tr->nodes[cur].tok < 0) tr->nodes[cur].tok = tok; /* first added token with this content wins */
  tr->first[(uint8_t)s[0]] = 1;
  return 1;
}

void lt_trie_free(lt_trie *tr) { free(tr->nodes); memset(tr, 0, sizeof *tr); }

/* Longest token starting at s[0..n): its index, with *len; -1 if none. */
static int32_t trie_longest(const lt_trie *tr, const unsigned char *s, size_t n, size_t *len) {
  int32_t cur = 0, best = -1;
  for (size_t i = 0; i < n; i++) {
    int32_t ch = tr->nodes[cur].child;
    while (ch >= 0 && tr->nodes[ch].byte != s[i]) ch = tr->nodes[ch].sibling;
    if (ch < 0) break;
    cur = ch;
    if (tr->nodes[cur].tok >= 0) { best = tr->nodes[cur].tok; *len = i + 1; }
  }
  return best;
}

static int is_ws(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}
static int is_word(uint32_t cp) { /* regex \w: letters, marks, decimal digits, connector punctuation */
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) || k == UTF8PROC_CATEGORY_PC;
}
static size_t char_start_before(const char *p, size_t i) { /* start of the character ending at i */
  do i--; while (i > 0 && ((unsigned char)p[i] & 0xC0) == 0x80);
  return i;
}

latte_status lt_added_split(const lt_tokenizer *t, const lt_trie *tr, const char *p, size_t n,
                            lt_span **spans, size_t *n_spans) {
  lt_span *sp = NULL; size_t ns = 0, cap = 0;
  const unsigned char *s = (const unsigned char *)p;
  size_t start_off = 0, i = 0;
#define PUSH(a, b, k) do { \
    if (ns == cap) { cap = cap ? cap * 2 : 16; lt_span *nn = realloc(sp, cap * sizeof *nn); \
      if (!nn) { free(sp); return lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); } sp = nn; } \
    sp[ns++] = (lt_span){a, b, k}; } while (0)
  while (tr->n && i < n) {
    if (!tr->first[s[i]]) { i++; continue; }
    size_t mlen = 0;
    int32_t k = trie_longest(tr, s + i, n - i, &mlen);
    if (k < 0) { i++; continue; }
    const lt_added *a = &t->added[k];
    size_t start = i, stop = i + mlen;
    i = stop; /* the search resumes after the match, kept or not (as aho-corasick find_iter) */
    if (a->single_word) {
      uint32_t cp;
      int start_ok = start == 0 || (lt_u8_decode(s + char_start_before(p, start), &cp), !is_word(cp));
      int stop_ok = stop == n || (lt_u8_decode(s + stop, &cp), !is_word(cp));
      if (!start_ok || !stop_ok) continue;
    }
    if (a->lstrip) {
      size_t ns_ = start;
      while (ns_ > 0) {
        size_t b = char_start_before(p, ns_);
        uint32_t cp; lt_u8_decode(s + b, &cp);
        if (!is_ws(cp)) break;
        ns_ = b;
      }
      start = ns_;
    }
    if (start < start_off) start = start_off; /* never overlap the previous (rstripped) match */
    if (a->rstrip) {
      while (stop < n) {
        uint32_t cp; int l = lt_u8_decode(s + stop, &cp);
        if (!is_ws(cp)) break;
        stop += (size_t)l;
      }
    }
    if (start > start_off) PUSH(start_off, start, -1);
    PUSH(start, stop, k);
    start_off = stop;
  }
  if (start_off < n) PUSH(start_off, n, -1);
#undef PUSH
  *spans = sp; *n_spans = ns;
  return LATTE_OK;
}
