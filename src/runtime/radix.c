/* radix.c — page-granular radix tree: children found by a hash of their page's tokens (then an exact
 * compare), reference counts per node (a request holds its whole path, so ref(parent) >= ref(child)),
 * and LRU eviction of unreferenced leaves through a min-heap on the last-use clock. */
#include "runtime/radix.h"
#include "base/err.h"
#include <stdlib.h>
#include <string.h>

struct lt_radix_node {
  lt_radix_node *parent;
  lt_radix_node **kids;
  int n_kids, cap_kids;
  int32_t page;
  int ref;
  uint64_t hash, last;
  int32_t toks[];          /* [page_size] */
};

struct lt_radix {
  int page_size;
  lt_radix_node root;      /* sentinel: no page, never evicted (its toks[] is empty) */
  uint64_t clock;
  int n_nodes, n_unused;
};

static uint64_t page_hash(const int32_t *t, int n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < n; i++) { h ^= (uint32_t)t[i]; h *= 0x100000001b3ull; h ^= h >> 29; }
  return h;
}

latte_status lt_radix_new(int page_size, lt_radix **out) {
  *out = NULL;
  lt_radix *t = calloc(1, sizeof *t);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "radix cache: out of memory");
  t->page_size = page_size;
  t->root.page = -1;
  t->root.ref = 1;
  *out = t;
  return LATTE_OK;
}

/* Depth-first walk without recursion (a path can be thousands of pages deep): calls fn on every
 * node below the root, children before parents. Returns -1 when out of memory. */
static int walk_post(lt_radix *t, int (*fn)(lt_radix_node *, void *), void *arg) {
  typedef struct { lt_radix_node *n; int next; } frame;
  int cap = 64, sp = 0, rc = 0;
  frame *st = malloc(sizeof *st * (size_t)cap);
  if (!st) return -1;
  st[sp++] = (frame){&t->root, 0};
  while (sp > 0) {
    frame *f = &st[sp - 1];
    if (f->next < f->n->n_kids) {
      lt_radix_node *k = f->n->kids[f->next++];
      if (sp == cap) {
        frame *g = realloc(st, sizeof *st * (size_t)(cap *= 2));
        if (!g) { rc = -1; break; }
        st = g;
      }
      st[sp++] = (frame){k, 0};
      continue;
    }
    lt_radix_node *n = f->n;
    sp--;
    if (n != &t->root && fn(n, arg)) { rc = -1; break; }
  }
  free(st);
  return rc;
}

static int free_node(lt_radix_node *n, void *arg) {
  (void)arg;
  free(n->kids);
  free(n);
  return 0;
}

void lt_radix_free(lt_radix *t) {
  if (!t) return;
  /* post-order: a node is freed after its children, and never read again */
  if (walk_post(t, free_node, NULL)) {
    /* out of memory for the walk: leak rather than crash */
  }
  free(t->root.kids);
  free(t);
}

lt_radix_node *lt_radix_child(lt_radix *t, lt_radix_node *parent, const int32_t *toks) {
  lt_radix_node *p = parent ? parent : &t->root;
  uint64_t h = page_hash(toks, t->page_size);
  for (int i = 0; i < p->n_kids; i++) {
    lt_radix_node *k = p->kids[i];
    if (k->hash == h && !memcmp(k->toks, toks, sizeof(int32_t) * (size_t)t->page_size)) return k;
  }
  return NULL;
}

lt_radix_node *lt_radix_add(lt_radix *t, lt_radix_node *parent, const int32_t *toks, int32_t page) {
  lt_radix_node *p = parent ? parent : &t->root;
  if (p->n_kids == p->cap_kids) {
    int cap = p->cap_kids ? 2 * p->cap_kids : 2;
    lt_radix_node **k = realloc(p->kids, sizeof *k * (size_t)cap);
    if (!k) return NULL;
    p->kids = k;
    p->cap_kids = cap;
  }
  lt_radix_node *n = calloc(1, sizeof *n + sizeof(int32_t) * (size_t)t->page_size);
  if (!n) return NULL;
  memcpy(n->toks, toks, sizeof(int32_t) * (size_t)t->page_size);
  n->hash = page_hash(toks, t->page_size);
  n->parent = p;
  n->page = page;
  n->last = ++t->clock;
  p->kids[p->n_kids++] = n;
  t->n_nodes++;
  t->n_unused++;
  return n;
}

void lt_radix_ref(lt_radix *t, lt_radix_node *n) {
  if (n->ref++ == 0) t->n_unused--;
  n->last = ++t->clock;
}

void lt_radix_unref(lt_radix *t, lt_radix_node *n) {
  if (n->ref <= 0) return;
  if (--n->ref == 0) t->n_unused++;
  n->last = ++t->clock;
}

int32_t lt_radix_page(const lt_radix_node *n) { return n->page; }
int lt_radix_num_pages(const lt_radix *t) { return t->n_nodes; }
int lt_radix_num_unused(const lt_radix *t) { return t->n_unused; }

/* ---- eviction: a binary min-heap of evictable leaves keyed by last use ---- */
typedef struct { lt_radix_node **a; int n, cap; } heap;

static int heap_push(heap *h, lt_radix_node *x) {
  if (h->n == h->cap) {
    int cap = h->cap ? 2 * h->cap : 64;
    lt_radix_node **a = realloc(h->a, sizeof *a * (size_t)cap);
    if (!a) return -1;
    h->a = a;
    h->cap = cap;
  }
  int i = h->n++;
  while (i > 0 && h->a[(i - 1) / 2]->last > x->last) { h->a[i] = h->a[(i - 1) / 2]; i = (i - 1) / 2; }
  h->a[i] = x;
  return 0;
}

static lt_radix_node *heap_pop(heap *h) {
  lt_radix_node *top = h->a[0], *x = h->a[--h->n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && h->a[c + 1]->last < h->a[c]->last) c++;
    if (h->a[c]->last >= x->last) break;
    h->a[i] = h->a[c];
    i = c;
  }
  if (h->n) h->a[i] = x;
  return top;
}

static int push_leaf(lt_radix_node *n, void *arg) {
  if (n->n_kids == 0 && n->ref == 0) return heap_push(arg, n);
  return 0;
}

static void detach(lt_radix_node *n) {
  lt_radix_node *p = n->parent;
  for (int i = 0; i < p->n_kids; i++)
    if (p->kids[i] == n) { p->kids[i] = p->kids[--p->n_kids]; break; }
}

int lt_radix_evict(lt_radix *t, int want, int32_t *pages_out) {
  if (want <= 0 || t->n_unused == 0) return 0;
  heap h = {0};
  int got = 0;
  if (walk_post(t, push_leaf, &h) == 0) {
    while (got < want && h.n > 0) {
      lt_radix_node *n = heap_pop(&h), *p = n->parent;
      detach(n);
      pages_out[got++] = n->page;
      free(n->kids);
      free(n);
      t->n_nodes--;
      t->n_unused--;
      if (p->parent && p->n_kids == 0 && p->ref == 0 && heap_push(&h, p)) break;
    }
  }
  free(h.a);
  return got;
}
