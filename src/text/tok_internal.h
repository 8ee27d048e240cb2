/* tok_internal.h — the tokenizer's internal structures shared by tokenizer.c (loading), pretok.c
 * (normalizers, pre-tokenizers), tok_added.c (added-token matching), bpe.c (merges, cache) and
 * detok.c (decoding). Not part of the API: include tokenizer.h instead. */
#ifndef LT_TOK_INTERNAL_H
#define LT_TOK_INTERNAL_H
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "base/json.h"
#include "text/tokenizer.h"

/* ---- hashing and maps (tok_map.c) ---- */
static inline uint64_t lt_hash_bytes(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
  while (n >= 8) {
    uint64_t v; memcpy(&v, s, 8);
    h = (h ^ v) * 0xff51afd7ed558ccdull; h ^= h >> 32;
    s += 8; n -= 8;
  }
  uint64_t v = 0; memcpy(&v, s, n);
  h = (h ^ v) * 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull; h ^= h >> 29;
  return h;
}

/* byte string -> int32 (open addressing; keys copied into a blob). */
typedef struct { uint32_t h, len, off; int32_t val; } lt_smslot;
typedef struct { lt_smslot *slots; size_t mask, n; char *blob; size_t blob_n, blob_cap; } lt_strmap;
int lt_strmap_init(lt_strmap *m, size_t expect);                       /* 0 on OOM */
int lt_strmap_put(lt_strmap *m, const char *k, size_t n, int32_t v);   /* overwrite; 0 on OOM */
int32_t lt_strmap_get(const lt_strmap *m, const char *k, size_t n);    /* -1 if absent */
void lt_strmap_free(lt_strmap *m);

/* (left id, right id) -> (merge rank, merged id). */
typedef struct { uint64_t key; int32_t rank, id; } lt_pmslot;
typedef struct { lt_pmslot *slots; size_t mask; int shift; } lt_pairmap;
int lt_pairmap_init(lt_pairmap *m, size_t expect);
void lt_pairmap_put(lt_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
static inline const lt_pmslot *lt_pairmap_get(const lt_pairmap *m, int32_t a, int32_t b) {
  uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
  for (;;) {
    const lt_pmslot *s = &m->slots[i];
    if (s->key == key) return s;
    if (s->key == UINT64_MAX) return NULL;
    i = (i + 1) & m->mask;
  }
}
void lt_pairmap_free(lt_pairmap *m);

/* ---- UTF-8 and the GPT-2 byte<->char map (tok_utf8.c) ---- */
/* At s[0..n): >0 length of a valid character; <0 minus the length of the maximal invalid subpart
 * (Unicode "substitution of maximal subparts", as Rust from_utf8_lossy); 0 when s[0..n) is a
 * truncated but so far valid prefix of a character (only possible at the end of the buffer). */
int lt_u8_step(const unsigned char *s, size_t n);
/* Append s[0..n) to b with invalid subsequences replaced by U+FFFD (truncated tails too). */
void lt_u8_lossy(lt_sbuf *b, const unsigned char *s, size_t n);
/* Length of the longest valid prefix (n when all valid). */
size_t lt_u8_valid_prefix(const unsigned char *s, size_t n);
const uint16_t *lt_byte2cp_table(void); /* [256] GPT-2 bytes_to_unicode */
int lt_cp2byte(uint32_t cp);           /* inverse, -1 if cp is not a byte char */
/* Decode one code point from valid UTF-8; returns its length. */
int lt_u8_decode(const unsigned char *s, uint32_t *cp);
int lt_u8_encode(uint32_t cp, char *out);

/* ---- normalizers and pre-tokenizers (pretok.c) ---- */
typedef enum { LT_N_NFC, LT_N_NFD, LT_N_NFKC, LT_N_NFKD, LT_N_LOWER, LT_N_PREPEND, LT_N_REPLACE,
               LT_N_STRIP } lt_norm_kind;
typedef struct {
  lt_norm_kind kind;
  char *s; size_t s_len;     /* PREPEND text, REPLACE content */
  pcre2_code *re;            /* REPLACE pattern (literal patterns compiled with PCRE2_LITERAL) */
  int left, right;           /* STRIP */
} lt_norm;

typedef enum { LT_B_REMOVED, LT_B_ISOLATED, LT_B_PREV, LT_B_NEXT, LT_B_CONTIG } lt_behavior;
typedef enum { LT_P_SPLIT, LT_P_BYTELEVEL } lt_pretok_kind;
typedef struct {
  lt_pretok_kind kind;
  pcre2_code *re; int jit;   /* SPLIT pattern; BYTELEVEL: the GPT-2 pattern when use_regex */
  lt_behavior behavior; int invert;
  int add_prefix_space;      /* BYTELEVEL */
} lt_pretok;

/* Parse the "normalizer" / "pre_tokenizer" objects (null allowed) into t. */
latte_status lt_norm_load(lt_tokenizer *t, const lt_json *j, const char *where);
latte_status lt_pretok_load(lt_tokenizer *t, const lt_json *j, const char *where);
pcre2_code *lt_re_compile(const char *pat, size_t len, int literal, int *jit, char *err, size_t errn);
void lt_norm_free(lt_norm *n);
void lt_pretok_free(lt_pretok *p);

/* ---- added tokens (tok_added.c) ---- */
typedef struct {
  int32_t id;
  char *content; size_t len;
  char *ncontent; size_t nlen; /* content after the normalizer when normalized (HF decodes this) */
  int special, lstrip, rstrip, single_word, normalized;
} lt_added;
/* A byte trie over added-token contents; node 0 is the root. */
typedef struct { int32_t child, sibling, tok; uint8_t byte; } lt_trie_node;
typedef struct { lt_trie_node *nodes; size_t n, cap; uint8_t first[256]; int empty; } lt_trie;
int lt_trie_add(lt_trie *tr, const char *s, size_t n, int32_t tok); /* 0 on OOM */
void lt_trie_free(lt_trie *tr);
/* One piece of a split on added tokens: an added token (tok >= 0, index into t->added) or text. */
typedef struct { size_t start, end; int32_t tok; } lt_span;

/* ---- the tokenizer ---- */
#define LT_TOK_CACHE_KEY 26
#define LT_TOK_CACHE_IDS 8
typedef struct { uint32_t h; uint8_t klen, nids; char key[LT_TOK_CACHE_KEY]; int32_t ids[LT_TOK_CACHE_IDS]; } lt_cache_entry;
#define LT_TOK_CACHE_SHARDS 16
#define LT_TOK_CACHE_SLOTS 2048 /* per shard */

struct lt_tokenizer {
  int32_t n_ids;               /* max id + 1 */
  lt_strmap tok2id;            /* content as in the file -> id (vocab, then added tokens) */
  lt_strmap sym2id;            /* BPE key in symbol space (raw bytes when byte-level) -> id */
  char *id_blob; uint32_t *id_off; /* [n_ids + 1]: content of id i = id_blob[id_off[i]..id_off[i+1]) */
  char *dec_blob; uint32_t *dec_off; /* [n_ids + 1]: bytes id i decodes to */
  uint8_t *id_flags;           /* [n_ids]: LT_ID_* */
  lt_pairmap merges;
  int32_t sym_byte[256];       /* byte-level: id of each single byte; else unused */
  int32_t fb_byte[256];        /* byte_fallback: id of "<0xXX>", -1 if missing */
  int byte_level, ignore_merges, byte_fallback, fuse_unk;
  int32_t unk_id;
  lt_added *added; size_t n_added;
  lt_trie trie_raw, trie_norm; /* added tokens matched before / after normalization */
  lt_norm *norms; int n_norms;
  lt_pretok *pretoks; int n_pretoks;
  int32_t *pre_ids, *post_ids; size_t n_pre, n_post; /* post-processor, single sequence */
  int decoder_byte_level;      /* else no decoder: tokens joined with " " */
  lt_cache_entry *cache;       /* [SHARDS * SLOTS] */
  pthread_mutex_t cache_mu[LT_TOK_CACHE_SHARDS];
};
enum { LT_ID_PRESENT = 1, LT_ID_ADDED = 2, LT_ID_SPECIAL = 4 };

/* ---- per-call encode state ---- */
typedef struct { int32_t *p; size_t n, cap; int oom; } lt_ivec;
static inline void lt_ivec_push(lt_ivec *v, int32_t x);
void lt_ivec_grow(lt_ivec *v, size_t need);
static inline void lt_ivec_push(lt_ivec *v, int32_t x) {
  if (v->n == v->cap) { lt_ivec_grow(v, v->n + 1); if (v->oom) return; }
  v->p[v->n++] = x;
}
typedef struct { size_t s, e; int m; } lt_piece;
typedef struct {
  const lt_tokenizer *t;
  lt_ivec ids;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  pcre2_jit_stack *jstack;
  lt_sbuf norm_a, norm_b;      /* normalizer ping-pong */
  lt_sbuf prefix;              /* ByteLevel add_prefix_space copy */
  lt_piece *pieces[16]; size_t pieces_cap[16]; /* per pre-tokenizer level */
  /* BPE scratch */
  int32_t *sym, *rank, *nid, *prev, *next; size_t sym_cap;
  void *heap; size_t heap_cap;
  latte_status st;             /* first failure (regex error, OOM) */
} lt_enc_ctx;

latte_status lt_pretok_run(lt_enc_ctx *c, const char *p, size_t n);       /* normalized text -> ids */
latte_status lt_normalize(lt_enc_ctx *c, const char *p, size_t n, const char **out, size_t *out_n);
/* Split text on the added tokens of trie (leftmost-longest, with lstrip/rstrip/single_word). */
latte_status lt_added_split(const lt_tokenizer *t, const lt_trie *tr, const char *p, size_t n,
                            lt_span **spans, size_t *n_spans);
void lt_bpe_word(lt_enc_ctx *c, const unsigned char *p, size_t n); /* appends ids */
int lt_bpe_cache_init(lt_tokenizer *t);
void lt_bpe_cache_free(lt_tokenizer *t);
#endif
