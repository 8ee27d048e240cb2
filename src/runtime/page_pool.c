/* page_pool.c — a stack of free KV page ids with an in-use bitmap, so a page is never handed out
 * twice nor freed twice. Pages cached by the radix tree are "in use" from the pool's point of view. */
#include "runtime/page_pool.h"
#include "base/err.h"
#include <stdlib.h>

latte_status lt_pool_init(lt_page_pool *p, int num_pages) {
  p->num_pages = 0;
  p->n_free = 0;
  p->free = malloc(sizeof(int32_t) * (size_t)(num_pages > 0 ? num_pages : 1));
  p->in_use = calloc((size_t)(num_pages > 0 ? num_pages : 1), 1);
  if (!p->free || !p->in_use) { lt_pool_destroy(p); return lt_err(LATTE_ERR_NOMEM, "page pool: out of memory"); }
  p->num_pages = num_pages;
  /* stack top = page 0, so pages are handed out in ascending order at first */
  for (int i = 0; i < num_pages; i++) p->free[i] = num_pages - 1 - i;
  p->n_free = num_pages;
  return LATTE_OK;
}

void lt_pool_destroy(lt_page_pool *p) {
  free(p->free);
  free(p->in_use);
  p->free = NULL;
  p->in_use = NULL;
  p->num_pages = p->n_free = 0;
}

int32_t lt_pool_alloc(lt_page_pool *p) {
  if (p->n_free == 0) return -1;
  int32_t pg = p->free[--p->n_free];
  p->in_use[pg] = 1;
  return pg;
}

void lt_pool_release(lt_page_pool *p, int32_t page) {
  if (page < 0 || page >= p->num_pages || !p->in_use[page]) return;
  p->in_use[page] = 0;
  p->free[p->n_free++] = page;
}
