/* tok_map.c — the tokenizer's hash maps: byte string -> id (vocab lookups) and id pair -> merge
 * (rank, merged id). Open addressing with linear probing; sizes are powers of two. */
#include "text/tok_internal.h"
#include <stdlib.h>

#define EMPTY_VAL INT32_MIN

static int strmap_alloc(lt_strmap *m, size_t cap) {
  m->slots = malloc(cap * sizeof *m->slots);
  if (!m->slots) return 0;
  for (size_t i = 0; i < cap; i++) m->slots[i].val = EMPTY_VAL;
  m->mask = cap - 1;
  return 1;
}

int lt_strmap_init(lt_strmap *m, size_t expect) {
  memset(m, 0, sizeof *m);
  size_t cap = 16;
  while (cap < expect * 2) cap <<= 1;
  return strmap_alloc(m, cap);
}

static int strmap_rehash(lt_strmap *m) {
  lt_smslot *old = m->slots;
  size_t oldcap = m->mask + 1;
  if (!strmap_alloc(m, oldcap * 2)) { m->slots = old; return 0; }
  for (size_t i = 0; i < oldcap; i++) {
    if (old[i].val == EMPTY_VAL) continue;
    size_t j = old[i].h & m->mask;
    while (m->slots[j].val != EMPTY_VAL) j = (j + 1) & m->mask;
    m->slots[j] = old[i];
  }
  free(old);
  return 1;
}

int lt_strmap_put(lt_strmap *m, const char *k, size_t n, int32_t v) {
  if (n > UINT32_MAX / 2) return 0;
  uint32_t h = (uint32_t)lt_hash_bytes(k, n);
  size_t i = h & m->mask;
  while (m->slots[i].val != EMPTY_VAL) {
    lt_smslot *s = &m->slots[i];
    if (s->h == h && s->len == n && memcmp(m->blob + s->off, k, n) == 0) { s->val = v; return 1; }
    i = (i + 1) & m->mask;
  }
  if ((m->n + 1) * 2 > m->mask + 1) {
    if (!strmap_rehash(m)) return 0;
    return lt_strmap_put(m, k, n, v);
  }
  if (m->blob_n + n + 1 > m->blob_cap) {
    size_t cap = m->blob_cap ? m->blob_cap * 2 : 4096;
    while (cap < m->blob_n + n + 1) cap *= 2;
    if (cap > UINT32_MAX) return 0;
    char *nb = realloc(m->blob, cap);
    if (!nb) return 0;
    m->blob = nb; m->blob_cap = cap;
  }
  memcpy(m->blob + m->blob_n, k, n);
  m->blob[m->blob_n + n] = 0;
  m->slots[i] = (lt_smslot){h, (uint32_t)n, (uint32_t)m->blob_n, v};
  m->blob_n += n + 1;
  m->n++;
  return 1;
}

int32_t lt_strmap_get(const lt_strmap *m, const char *k, size_t n) {
  if (!m->slots) return -1;
  uint32_t h = (uint32_t)lt_hash_bytes(k, n);
  size_t i = h & m->mask;
  while (m->slots[i].val != EMPTY_VAL) {
    const lt_smslot *s = &m->slots[i];
    if (s->h == h && s->len == n && memcmp(m->blob + s->off, k, n) == 0) return s->val;
    i = (i + 1) & m->mask;
  }
  return -1;
}

void lt_strmap_free(lt_strmap *m) {
  free(m->slots); free(m->blob);
  memset(m, 0, sizeof *m);
}

int lt_pairmap_init(lt_pairmap *m, size_t expect) {
  size_t cap = 16; int bits = 4;
  while (cap < expect * 2) { cap <<= 1; bits++; }
  m->slots = malloc(cap * sizeof *m->slots);
  if (!m->slots) return 0;
  for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
  m->mask = cap - 1;
  m->shift = 64 - bits;
  return 1;
}

/* The map is sized for all merges up front, so it never fills. A repeated pair keeps the later
 * merge, as HF does when it collects the merges into a HashMap. */
void lt_pairmap_put(lt_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
  uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
  while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key) i = (i + 1) & m->mask;
  m->slots[i] = (lt_pmslot){key, rank, id};
}

void lt_pairmap_free(lt_pairmap *m) { free(m->slots); m->slots = NULL; }

void lt_ivec_grow(lt_ivec *v, size_t need) {
  size_t cap = v->cap ? v->cap : 64;
  while (cap < need) cap *= 2;
  int32_t *p = realloc(v->p, cap * sizeof *p);
  if (!p) { v->oom = 1; return; }
  v->p = p; v->cap = cap;
}
