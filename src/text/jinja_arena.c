/* jinja_arena.c — the bump allocator behind templates (AST, tokens) and renders (values):
 * chunks of malloc'd memory freed all at once, with a byte limit so no render grows unbounded. */
#include <stdlib.h>
#include <string.h>
#include "text/jinja_impl.h"

struct lt_jchunk {
  lt_jchunk *next;
  size_t used, cap;
  max_align_t data[];
};

void *lt_ja_alloc(lt_jarena *a, size_t n) {
  size_t al = sizeof(max_align_t);
  n = (n + al - 1) / al * al;
  if (n == 0) n = al;
  if (a->oom) return NULL;
  lt_jchunk *h = a->head;
  if (!h || h->cap - h->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    size_t limit = a->limit ? a->limit : LT_J_MAX_ARENA;
    if (a->total + cap > limit) { a->oom = 1; return NULL; }
    h = malloc(sizeof *h + cap);
    if (!h) { a->oom = 1; return NULL; }
    h->next = a->head;
    h->used = 0;
    h->cap = cap;
    a->head = h;
    a->total += cap;
  }
  void *p = (char *)h->data + h->used;
  h->used += n;
  memset(p, 0, n);
  return p;
}

char *lt_ja_strdup(lt_jarena *a, const char *s, size_t n) {
  char *p = lt_ja_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void lt_ja_free(lt_jarena *a) {
  lt_jchunk *h = a->head;
  while (h) {
    lt_jchunk *nx = h->next;
    free(h);
    h = nx;
  }
  a->head = NULL;
  a->total = 0;
  a->oom = 0;
}
