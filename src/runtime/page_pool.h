/* page_pool.h — the free list of KV pages of one engine's pool: pages are handed out and taken back
 * by the scheduler only (never by the model). Page ids are 0..num_pages-1; LIFO, so deterministic. */
#ifndef LT_PAGE_POOL_H
#define LT_PAGE_POOL_H
#include <stdint.h>
#include "latte.h"

typedef struct {
  int num_pages;
  int n_free;
  int32_t *free;      /* [num_pages] stack of free page ids */
  uint8_t *in_use;    /* [num_pages] 1 while handed out (catches double frees) */
} lt_page_pool;

latte_status lt_pool_init(lt_page_pool *p, int num_pages);
void lt_pool_destroy(lt_page_pool *p);
/* A free page id, or -1 when the free list is empty. */
int32_t lt_pool_alloc(lt_page_pool *p);
/* Returns a page to the free list (ignores ids out of range and pages already free). */
void lt_pool_release(lt_page_pool *p, int32_t page);
static inline int lt_pool_free_count(const lt_page_pool *p) { return p->n_free; }
#endif
