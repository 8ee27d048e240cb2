/* bpe.c — the BPE merge of one pre-tokenized piece, and a thread-safe cache of recent pieces.
 * Short pieces merge by scanning an array of pair ranks (fast for the usual 2-20 symbols); long
 * ones use a binary heap of candidate merges over a linked list, O(n log n), so a megabyte-long
 * word costs no more per byte than a short one. Ties go to the leftmost pair, as in HF. */
#include "text/tok_internal.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>

#define SCAN_MAX 64  /* up to this many symbols, merge by rescanning the rank array */

int lt_bpe_cache_init(lt_tokenizer *t) {
  t->cache = calloc((size_t)LT_TOK_CACHE_SHARDS * LT_TOK_CACHE_SLOTS, sizeof *t->cache);
  if (!t->cache) return 0;
  for (int i = 0; i < LT_TOK_CACHE_SHARDS; i++) pthread_mutex_init(&t->cache_mu[i], NULL);
  return 1;
}

void lt_bpe_cache_free(lt_tokenizer *t) {
  if (!t->cache) return;
  for (int i = 0; i < LT_TOK_CACHE_SHARDS; i++) pthread_mutex_destroy(&t->cache_mu[i]);
  free(t->cache); t->cache = NULL;
}

static int cache_get(const lt_tokenizer *t, const unsigned char *p, size_t n, uint64_t h, lt_ivec *out) {
  int shard = (int)(h >> 60);
  lt_cache_entry *e = &t->cache[(size_t)shard * LT_TOK_CACHE_SLOTS + ((h >> 8) & (LT_TOK_CACHE_SLOTS - 1))];
  pthread_mutex_t *mu = (pthread_mutex_t *)&t->cache_mu[shard]; /* the cache is the mutable part */
  int hit = 0;
  pthread_mutex_lock(mu);
  if (e->h == (uint32_t)h && e->klen == n && memcmp(e->key, p, n) == 0) {
    if (out->n + e->nids > out->cap) lt_ivec_grow(out, out->n + e->nids);
    if (!out->oom) { memcpy(out->p + out->n, e->ids, e->nids * sizeof(int32_t)); out->n += e->nids; }
    hit = 1;
  }
  pthread_mutex_unlock(mu);
  return hit;
}

static void cache_put(const lt_tokenizer *t, const unsigned char *p, size_t n, uint64_t h,
                      const int32_t *ids, size_t nids) {
  int shard = (int)(h >> 60);
  lt_cache_entry *e = &t->cache[(size_t)shard * LT_TOK_CACHE_SLOTS + ((h >> 8) & (LT_TOK_CACHE_SLOTS - 1))];
  pthread_mutex_t *mu = (pthread_mutex_t *)&t->cache_mu[shard];
  pthread_mutex_lock(mu);
  e->h = (uint32_t)h; e->klen = (uint8_t)n; e->nids = (uint8_t)nids;
  memcpy(e->key, p, n);
  memcpy(e->ids, ids, nids * sizeof *ids);
  pthread_mutex_unlock(mu);
}

static int scratch(lt_enc_ctx *c, size_t m) {
  if (m <= c->sym_cap) return 1;
  size_t cap = c->sym_cap ? c->sym_cap : 256;
  while (cap < m) cap *= 2;
  int32_t **arrs[5] = {&c->sym, &c->rank, &c->nid, &c->prev, &c->next};
  for (int i = 0; i < 5; i++) {
    int32_t *p = realloc(*arrs[i], cap * sizeof(int32_t));
    if (!p) return 0;
    *arrs[i] = p;
  }
  c->sym_cap = cap;
  return 1;
}

/* Initial symbols of a piece: bytes (byte-level) or characters, unknown ones through byte_fallback
 * or unk_token (fused when fuse_unk), else dropped — as HF BPE::merge_word. Returns the count. */
static size_t init_symbols(lt_enc_ctx *c, const unsigned char *p, size_t n) {
  const lt_tokenizer *t = c->t;
  int32_t *sym = c->sym;
  size_t m = 0;
  int last_unk = 0;
  for (size_t i = 0; i < n;) {
    size_t l = 1;
    int32_t id;
    if (t->byte_level) id = t->sym_byte[p[i]];
    else {
      int k = lt_u8_step(p + i, n - i);
      l = k > 0 ? (size_t)k : 1;
      id = lt_strmap_get(&t->sym2id, (const char *)p + i, l);
    }
    if (id >= 0) { sym[m++] = id; last_unk = 0; i += l; continue; }
    int fb = t->byte_fallback;
    for (size_t j = 0; fb && j < l; j++) fb = t->fb_byte[p[i + j]] >= 0;
    if (fb) {
      for (size_t j = 0; j < l; j++) sym[m++] = t->fb_byte[p[i + j]];
      last_unk = 0;
    } else if (t->unk_id >= 0) {
      if (!(t->fuse_unk && last_unk)) sym[m++] = t->unk_id;
      last_unk = 1;
    }
    i += l;
  }
  return m;
}

static inline void pair_rank(const lt_tokenizer *t, int32_t a, int32_t b, int32_t *rank, int32_t *nid) {
  const lt_pmslot *s = lt_pairmap_get(&t->merges, a, b);
  if (s) { *rank = s->rank; *nid = s->id; } else *rank = INT32_MAX;
}

static size_t merge_scan(const lt_tokenizer *t, int32_t *sym, int32_t *rk, int32_t *nid, size_t m) {
  for (size_t i = 0; i + 1 < m; i++) pair_rank(t, sym[i], sym[i + 1], &rk[i], &nid[i]);
  while (m > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < m; i++) if (rk[i] < rk[best]) best = i;
    if (rk[best] == INT32_MAX) break;
    sym[best] = nid[best];
    memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
    if (best + 2 < m - 1) {
      memmove(rk + best + 1, rk + best + 2, (m - best - 3) * sizeof *rk);
      memmove(nid + best + 1, nid + best + 2, (m - best - 3) * sizeof *nid);
    }
    m--;
    if (best + 1 < m) pair_rank(t, sym[best], sym[best + 1], &rk[best], &nid[best]);
    if (best > 0) pair_rank(t, sym[best - 1], sym[best], &rk[best - 1], &nid[best - 1]);
  }
  return m;
}

typedef struct { int32_t rank, pos, left, right, nid; } hent;
static inline int hless(const hent *a, const hent *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}
static void hpush(hent *h, size_t *n, hent x) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t pa = (i - 1) / 2;
    if (!hless(&x, &h[pa])) break;
    h[i] = h[pa]; i = pa;
  }
  h[i] = x;
}
static hent hpop(hent *h, size_t *n) {
  hent top = h[0], x = h[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= *n) break;
    if (l + 1 < *n && hless(&h[l + 1], &h[l])) l++;
    if (!hless(&h[l], &x)) break;
    h[i] = h[l]; i = l;
  }
  if (*n) h[i] = x;
  return top;
}

/* Heap merge; returns the number of symbols written back to sym[0..). 0 on OOM (c->st set). */
static size_t merge_heap(lt_enc_ctx *c, size_t m) {
  const lt_tokenizer *t = c->t;
  int32_t *sym = c->sym, *prev = c->prev, *next = c->next;
  size_t need = 3 * m + 4;
  if (need > c->heap_cap) {
    void *nh = realloc(c->heap, need * sizeof(hent));
    if (!nh) { c->st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); return 0; }
    c->heap = nh; c->heap_cap = need;
  }
  hent *h = c->heap;
  size_t hn = 0;
  for (size_t i = 0; i < m; i++) { prev[i] = (int32_t)i - 1; next[i] = i + 1 < m ? (int32_t)i + 1 : -1; }
  for (size_t i = 0; i + 1 < m; i++) {
    int32_t r, nid;
    pair_rank(t, sym[i], sym[i + 1], &r, &nid);
    if (r != INT32_MAX) hpush(h, &hn, (hent){r, (int32_t)i, sym[i], sym[i + 1], nid});
  }
  while (hn) {
    hent e = hpop(h, &hn);
    int32_t nx = next[e.pos];
    if (sym[e.pos] != e.left || nx < 0 || sym[nx] != e.right) continue; /* stale */
    sym[e.pos] = e.nid;
    sym[nx] = -1;
    next[e.pos] = next[nx];
    if (next[nx] >= 0) prev[next[nx]] = e.pos;
    int32_t r, nid, pv = prev[e.pos], nn = next[e.pos];
    if (pv >= 0) {
      pair_rank(t, sym[pv], sym[e.pos], &r, &nid);
      if (r != INT32_MAX) hpush(h, &hn, (hent){r, pv, sym[pv], sym[e.pos], nid});
    }
    if (nn >= 0) {
      pair_rank(t, sym[e.pos], sym[nn], &r, &nid);
      if (r != INT32_MAX) hpush(h, &hn, (hent){r, e.pos, sym[e.pos], sym[nn], nid});
    }
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) sym[k++] = sym[i];
  return k;
}

void lt_bpe_word(lt_enc_ctx *c, const unsigned char *p, size_t n) {
  const lt_tokenizer *t = c->t;
  if (n == 1 && t->byte_level && t->sym_byte[p[0]] >= 0) { lt_ivec_push(&c->ids, t->sym_byte[p[0]]); return; }
  uint64_t h = 0;
  int cacheable = n <= LT_TOK_CACHE_KEY;
  if (cacheable) {
    h = lt_hash_bytes(p, n);
    if (cache_get(t, p, n, h, &c->ids)) return;
  }
  if (t->ignore_merges) {
    int32_t id = lt_strmap_get(&t->sym2id, (const char *)p, n);
    if (id >= 0) { lt_ivec_push(&c->ids, id); return; }
  }
  if (!scratch(c, n + 1)) { c->st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); return; }
  size_t m = init_symbols(c, p, n);
  if (m == 0) return;
  m = m <= SCAN_MAX ? merge_scan(t, c->sym, c->rank, c->nid, m) : merge_heap(c, m);
  if (c->ids.n + m > c->ids.cap) lt_ivec_grow(&c->ids, c->ids.n + m);
  if (c->ids.oom) return;
  memcpy(c->ids.p + c->ids.n, c->sym, m * sizeof(int32_t));
  c->ids.n += m;
  if (cacheable && m <= LT_TOK_CACHE_IDS) cache_put(t, p, n, h, c->sym, m);
}
