/* radix.h — the prefix cache over the paged KV pool: a tree keyed by token ids at page granularity
 * (one node = one full page of page_size tokens), so a sequence's cached prefix is a path from the
 * root. Nodes are reference-counted by the requests using them; unreferenced leaves are evicted LRU. */
#ifndef LT_RADIX_H
#define LT_RADIX_H
#include <stdint.h>
#include "latte.h"

typedef struct lt_radix lt_radix;
typedef struct lt_radix_node lt_radix_node;

latte_status lt_radix_new(int page_size, lt_radix **out);
/* Frees the tree; the pages it held are not returned anywhere (the pool goes with it). */
void lt_radix_free(lt_radix *t);
/* The child of parent (NULL = root) whose page holds exactly toks[0..page_size), or NULL. */
lt_radix_node *lt_radix_child(lt_radix *t, lt_radix_node *parent, const int32_t *toks);
/* Adds a child of parent holding page with tokens toks[0..page_size) (the caller checked that no such
 * child exists); the tree owns the page from now on. Returns NULL when out of memory. */
lt_radix_node *lt_radix_add(lt_radix *t, lt_radix_node *parent, const int32_t *toks, int32_t page);
/* One more / one less request uses node n (and marks it as recently used). */
void lt_radix_ref(lt_radix *t, lt_radix_node *n);
void lt_radix_unref(lt_radix *t, lt_radix_node *n);
int32_t lt_radix_page(const lt_radix_node *n);
/* Evicts up to want unreferenced pages, least recently used leaves first (a parent becomes a leaf
 * when its last child goes); writes their page ids to pages_out and returns how many. */
int lt_radix_evict(lt_radix *t, int want, int32_t *pages_out);
int lt_radix_num_pages(const lt_radix *t);      /* pages held by the tree */
int lt_radix_num_unused(const lt_radix *t);     /* of them, referenced by no request */
#endif
