/* tokenizer.c — loading a Hugging Face tokenizer.json (model BPE) into an lt_tokenizer, the encode
 * entry point (added tokens -> normalizer -> pre-tokenizers -> BPE -> post-processor) and the
 * small accessors. See docs/tokenizer.md for what is supported. */
#include "text/tok_internal.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>

/* ---- per-call encode state ---- */
static latte_status ctx_init(lt_enc_ctx *c, const lt_tokenizer *t) {
  memset(c, 0, sizeof *c);
  c->t = t;
  c->md = pcre2_match_data_create(16, NULL);
  c->mctx = pcre2_match_context_create(NULL);
  if (!c->md || !c->mctx) return lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory");
  return LATTE_OK;
}

static void ctx_free(lt_enc_ctx *c) {
  if (c->md) pcre2_match_data_free(c->md);
  if (c->mctx) pcre2_match_context_free(c->mctx);
  if (c->jstack) pcre2_jit_stack_free(c->jstack);
  lt_sbuf_free(&c->norm_a); lt_sbuf_free(&c->norm_b); lt_sbuf_free(&c->prefix);
  for (int i = 0; i < 16; i++) free(c->pieces[i]);
  free(c->sym); free(c->rank); free(c->nid); free(c->prev); free(c->next); free(c->heap);
  free(c->ids.p);
}

/* ---- loading ---- */
static latte_status json_id(const lt_json *v, const char *where, const char *what, int32_t *id) {
  if (!v || v->type != LT_JNUM || !v->is_int || v->inum < 0 || v->inum >= (1 << 30))
    return lt_err(LATTE_ERR_FORMAT, "%s: %s: id must be an integer in [0, 2^30)", where, what);
  *id = (int32_t)v->inum;
  return LATTE_OK;
}

/* Byte-level symbol form of a vocab key: each char must be a bytes_to_unicode char. */
static int key_to_bytes(const char *k, size_t n, char *out, size_t *on) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += (size_t)lt_u8_decode((const unsigned char *)k + i, &cp);
    int b = lt_cp2byte(cp);
    if (b < 0) return 0;
    out[o++] = (char)b;
  }
  *on = o;
  return 1;
}

static latte_status load_merges(lt_tokenizer *t, const lt_json *merges, const char *where) {
  if (!lt_pairmap_init(&t->merges, merges->len + 1)) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  lt_sbuf cat = {0};
  latte_status st = LATTE_OK;
  for (size_t r = 0; r < merges->len && st == LATTE_OK; r++) {
    const lt_json *m = &merges->items[r];
    const char *a, *b; size_t an, bn;
    if (m->type == LT_JSTR) {
      const char *sp = memchr(m->str, ' ', m->len);
      if (!sp || memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str))) {
        st = lt_err(LATTE_ERR_FORMAT, "%s: model.merges[%zu]: \"%s\" is not two tokens separated by one space", where, r, m->str);
        break;
      }
      a = m->str; an = (size_t)(sp - m->str); b = sp + 1; bn = m->len - an - 1;
    } else if (m->type == LT_JARR && m->len == 2 && m->items[0].type == LT_JSTR && m->items[1].type == LT_JSTR) {
      a = m->items[0].str; an = m->items[0].len; b = m->items[1].str; bn = m->items[1].len;
    } else {
      st = lt_err(LATTE_ERR_FORMAT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", where, r);
      break;
    }
    int32_t ia = lt_strmap_get(&t->tok2id, a, an), ib = lt_strmap_get(&t->tok2id, b, bn);
    cat.n = 0;
    lt_sbuf_put(&cat, a, an); lt_sbuf_put(&cat, b, bn);
    if (cat.oom) { st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where); break; }
    int32_t iab = lt_strmap_get(&t->tok2id, cat.p, cat.n);
    if (ia < 0 || ib < 0 || iab < 0) {
      st = lt_err(LATTE_ERR_FORMAT, "%s: model.merges[%zu]: \"%.*s\" + \"%.*s\": token not in the vocab",
                  where, r, (int)an, a, (int)bn, b);
      break;
    }
    lt_pairmap_put(&t->merges, ia, ib, (int32_t)r, iab);
  }
  lt_sbuf_free(&cat);
  return st;
}

static latte_status load_post(lt_tokenizer *t, const lt_json *pp, const char *where) {
  if (lt_json_is_null(pp)) return LATTE_OK;
  const char *type = lt_json_str(pp, "type");
  if (!type) return lt_err(LATTE_ERR_FORMAT, "%s: post_processor without \"type\"", where);
  lt_ivec pre = {0}, post = {0};
  latte_status st = LATTE_OK;
  if (!strcmp(type, "ByteLevel")) return LATTE_OK; /* offsets only */
  if (!strcmp(type, "Sequence")) {
    const lt_json *a = lt_json_get(pp, "processors");
    if (!a || a->type != LT_JARR) return lt_err(LATTE_ERR_FORMAT, "%s: Sequence post_processor without \"processors\"", where);
    for (size_t i = 0; i < a->len; i++) LT_TRY(load_post(t, &a->items[i], where));
    return LATTE_OK;
  }
  if (!strcmp(type, "TemplateProcessing")) {
    const lt_json *single = lt_json_get(pp, "single"), *sp = lt_json_get(pp, "special_tokens");
    if (!single || single->type != LT_JARR)
      return lt_err(LATTE_ERR_FORMAT, "%s: TemplateProcessing without \"single\"", where);
    int seen_seq = 0;
    for (size_t i = 0; i < single->len && st == LATTE_OK; i++) {
      const lt_json *it = &single->items[i], *stok = lt_json_get(it, "SpecialToken");
      if (lt_json_get(it, "Sequence")) { seen_seq = 1; continue; }
      const char *name = stok ? lt_json_str(stok, "id") : NULL;
      const lt_json *ent = name ? lt_json_get(sp, name) : NULL, *ids = ent ? lt_json_get(ent, "ids") : NULL;
      if (!ids || ids->type != LT_JARR) {
        st = lt_err(LATTE_ERR_FORMAT, "%s: TemplateProcessing single[%zu]: special token %s not in special_tokens",
                    where, i, name ? name : "(unnamed)");
        break;
      }
      for (size_t k = 0; k < ids->len && st == LATTE_OK; k++) {
        int32_t id = 0;
        st = json_id(&ids->items[k], where, "TemplateProcessing special token", &id);
        if (st == LATTE_OK) lt_ivec_push(seen_seq ? &post : &pre, id);
      }
    }
  } else if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
    const lt_json *cls = lt_json_get(pp, "cls"), *sep = lt_json_get(pp, "sep");
    int32_t a = 0, b = 0;
    if (!cls || !sep || cls->type != LT_JARR || sep->type != LT_JARR || cls->len != 2 || sep->len != 2)
      return lt_err(LATTE_ERR_FORMAT, "%s: %s needs \"cls\" and \"sep\" pairs", where, type);
    LT_TRY(json_id(&cls->items[1], where, "cls", &a));
    LT_TRY(json_id(&sep->items[1], where, "sep", &b));
    lt_ivec_push(&pre, a); lt_ivec_push(&post, b);
  } else {
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: post_processor type \"%s\" is not supported", where, type);
  }
  if (st == LATTE_OK && (pre.oom || post.oom)) st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  if (st == LATTE_OK) {
    free(t->pre_ids); free(t->post_ids);
    t->pre_ids = pre.p; t->n_pre = pre.n; t->post_ids = post.p; t->n_post = post.n;
  } else { free(pre.p); free(post.p); }
  return st;
}

static latte_status load_decoder(lt_tokenizer *t, const lt_json *d, const char *where) {
  if (lt_json_is_null(d)) return LATTE_OK;
  const char *type = lt_json_str(d, "type");
  if (type && !strcmp(type, "ByteLevel")) { t->decoder_byte_level = 1; return LATTE_OK; }
  if (type && !strcmp(type, "Sequence")) {
    const lt_json *a = lt_json_get(d, "decoders");
    for (size_t i = 0; a && i < a->len; i++) LT_TRY(load_decoder(t, &a->items[i], where));
    return LATTE_OK;
  }
  return lt_err(LATTE_ERR_UNSUPPORTED, "%s: decoder type \"%s\" is not supported", where, type ? type : "(none)");
}

static void set_token(lt_tokenizer *t, char **cont, size_t *clen, int32_t id, const char *s, size_t n) {
  cont[id] = (char *)s; clen[id] = n;
  t->id_flags[id] |= LT_ID_PRESENT;
}

/* id -> content and id -> decoded bytes tables. */
static latte_status build_id_tables(lt_tokenizer *t, char **cont, size_t *clen, const char *where) {
  size_t total = 0;
  for (int32_t i = 0; i < t->n_ids; i++) total += clen[i];
  if (total >= UINT32_MAX) return lt_err(LATTE_ERR_FORMAT, "%s: vocabulary too large", where);
  t->id_blob = malloc(total + (size_t)t->n_ids + 1);
  t->dec_blob = malloc(total + 1);
  t->id_off = malloc(((size_t)t->n_ids + 1) * sizeof *t->id_off);
  t->dec_off = malloc(((size_t)t->n_ids + 1) * sizeof *t->dec_off);
  if (!t->id_blob || !t->dec_blob || !t->id_off || !t->dec_off) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  size_t io = 0, dofs = 0;
  for (int32_t i = 0; i < t->n_ids; i++) {
    t->id_off[i] = (uint32_t)io;
    t->dec_off[i] = (uint32_t)dofs;
    if (!cont[i]) { t->id_blob[io++] = 0; continue; }
    memcpy(t->id_blob + io, cont[i], clen[i]);
    io += clen[i];
    t->id_blob[io++] = 0;
    size_t bn;
    /* HF ByteLevel decoder: a token whose chars are all byte chars decodes to those bytes, any
     * other token to its own UTF-8 */
    if (!(t->decoder_byte_level && key_to_bytes(cont[i], clen[i], t->dec_blob + dofs, &bn))) {
      memcpy(t->dec_blob + dofs, cont[i], clen[i]);
      bn = clen[i];
    }
    dofs += bn;
  }
  t->id_off[t->n_ids] = (uint32_t)io;
  t->dec_off[t->n_ids] = (uint32_t)dofs;
  return LATTE_OK;
}

/* Normalized added tokens are matched in, and decode to, their normalized content (as HF). */
static latte_status normalize_added(lt_tokenizer *t, const char *where) {
  lt_enc_ctx c;
  latte_status st = ctx_init(&c, t);
  for (size_t i = 0; i < t->n_added && st == LATTE_OK; i++) {
    lt_added *d = &t->added[i];
    const char *s = d->content; size_t n = d->len;
    if (d->normalized) st = lt_normalize(&c, d->content, d->len, &s, &n);
    if (st != LATTE_OK) break;
    d->ncontent = malloc(n + 1);
    if (!d->ncontent) { st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where); break; }
    memcpy(d->ncontent, s, n);
    d->ncontent[n] = 0; d->nlen = n;
  }
  ctx_free(&c);
  return st;
}

static latte_status load_model(lt_tokenizer *t, const lt_json *root, const char *where) {
  const lt_json *model = lt_json_get(root, "model");
  if (!model || model->type != LT_JOBJ) return lt_err(LATTE_ERR_FORMAT, "%s: no \"model\" object", where);
  const char *mt = lt_json_str(model, "type");
  if (mt && strcmp(mt, "BPE")) return lt_err(LATTE_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (only BPE)", where, mt);
  const char *pfx = lt_json_str(model, "continuing_subword_prefix"), *sfx = lt_json_str(model, "end_of_word_suffix");
  if ((pfx && *pfx) || (sfx && *sfx))
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: BPE continuing_subword_prefix / end_of_word_suffix are not supported", where);
  double dropout = 0;
  if (lt_json_num(model, "dropout", &dropout) && dropout > 0)
    return lt_err(LATTE_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", where);
  lt_json_bool(model, "ignore_merges", &t->ignore_merges);
  lt_json_bool(model, "byte_fallback", &t->byte_fallback);
  lt_json_bool(model, "fuse_unk", &t->fuse_unk);
  const lt_json *vocab = lt_json_get(model, "vocab"), *merges = lt_json_get(model, "merges");
  if (!vocab || vocab->type != LT_JOBJ) return lt_err(LATTE_ERR_FORMAT, "%s: model.vocab is not an object", where);
  if (!merges || merges->type != LT_JARR) return lt_err(LATTE_ERR_FORMAT, "%s: model.merges is not an array", where);
  const lt_json *added = lt_json_get(root, "added_tokens");
  if (added && added->type != LT_JARR && added->type != LT_JNULL)
    return lt_err(LATTE_ERR_FORMAT, "%s: added_tokens is not an array", where);
  size_t n_added = added && added->type == LT_JARR ? added->len : 0;

  /* ids */
  int32_t max_id = -1;
  for (size_t i = 0; i < vocab->len; i++) {
    int32_t id = 0;
    LT_TRY(json_id(&vocab->items[i], where, vocab->keys[i], &id));
    if (id > max_id) max_id = id;
  }
  t->added = calloc(n_added + 1, sizeof *t->added);
  if (!t->added) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  for (size_t i = 0; i < n_added; i++) {
    const lt_json *a = &added->items[i], *c = lt_json_get(a, "content");
    lt_added *d = &t->added[t->n_added];
    if (!c || c->type != LT_JSTR) return lt_err(LATTE_ERR_FORMAT, "%s: added_tokens[%zu] without \"content\"", where, i);
    LT_TRY(json_id(lt_json_get(a, "id"), where, "added_tokens", &d->id));
    d->content = malloc(c->len + 1);
    if (!d->content) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
    memcpy(d->content, c->str, c->len + 1);
    d->len = c->len;
    lt_json_bool(a, "special", &d->special);
    lt_json_bool(a, "lstrip", &d->lstrip);
    lt_json_bool(a, "rstrip", &d->rstrip);
    lt_json_bool(a, "single_word", &d->single_word);
    d->normalized = !d->special; /* HF default when absent */
    lt_json_bool(a, "normalized", &d->normalized);
    t->n_added++;
    if (d->id > max_id) max_id = d->id;
  }
  t->n_ids = max_id + 1;
  t->id_flags = calloc((size_t)t->n_ids + 1, 1);
  char **cont = calloc((size_t)t->n_ids + 1, sizeof *cont);
  size_t *clen = calloc((size_t)t->n_ids + 1, sizeof *clen);
  latte_status st = LATTE_OK;
  if (!t->id_flags || !cont || !clen || !lt_strmap_init(&t->tok2id, vocab->len + n_added) ||
      !lt_strmap_init(&t->sym2id, vocab->len)) {
    st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
    goto done;
  }
  char *tmp = NULL; size_t tmp_cap = 0;
  for (size_t i = 0; i < vocab->len && st == LATTE_OK; i++) {
    const char *k = vocab->keys[i]; size_t kn = vocab->key_lens[i];
    int32_t id = (int32_t)vocab->items[i].inum;
    set_token(t, cont, clen, id, k, kn);
    if (!lt_strmap_put(&t->tok2id, k, kn, id)) st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
    if (t->byte_level) {
      if (kn > tmp_cap) { free(tmp); tmp_cap = kn * 2 + 16; tmp = malloc(tmp_cap); }
      size_t bn;
      if (!tmp) st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
      else if (key_to_bytes(k, kn, tmp, &bn) && !lt_strmap_put(&t->sym2id, tmp, bn, id))
        st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
    } else if (!lt_strmap_put(&t->sym2id, k, kn, id)) st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  }
  free(tmp);
  if (st != LATTE_OK) goto done;
  for (int b = 0; b < 256; b++) {
    char k[8];
    snprintf(k, sizeof k, "<0x%02X>", b);
    t->fb_byte[b] = lt_strmap_get(&t->tok2id, k, strlen(k));
    t->sym_byte[b] = t->byte_level ? lt_strmap_get(&t->sym2id, (char *)&(unsigned char){(unsigned char)b}, 1) : -1;
  }
  t->unk_id = -1;
  const char *unk = lt_json_str(model, "unk_token");
  if (unk) t->unk_id = lt_strmap_get(&t->tok2id, unk, strlen(unk));
  st = load_merges(t, merges, where);
  if (st != LATTE_OK) goto done;
  /* added tokens override the vocab for id <-> content, as in HF */
  st = normalize_added(t, where);
  for (size_t i = 0; i < t->n_added && st == LATTE_OK; i++) {
    lt_added *d = &t->added[i];
    set_token(t, cont, clen, d->id, d->ncontent, d->nlen);
    t->id_flags[d->id] |= LT_ID_ADDED | (d->special ? LT_ID_SPECIAL : 0);
    if (!lt_strmap_put(&t->tok2id, d->content, d->len, d->id)) st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  }
  if (st == LATTE_OK) st = load_decoder(t, lt_json_get(root, "decoder"), where);
  if (st == LATTE_OK) st = build_id_tables(t, cont, clen, where);
done:
  free(cont); free(clen);
  return st;
}

/* Tries of added tokens: non-normalized ones match the raw text, normalized ones the normalized text. */
static latte_status build_tries(lt_tokenizer *t, const char *where) {
  for (size_t i = 0; i < t->n_added; i++) {
    lt_added *d = &t->added[i];
    if (!lt_trie_add(d->normalized ? &t->trie_norm : &t->trie_raw, d->ncontent, d->nlen, (int32_t)i))
      return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  }
  return LATTE_OK;
}

latte_status lt_tok_load_json(const lt_json *root, const char *where, lt_tokenizer **out) {
  *out = NULL;
  if (!root || root->type != LT_JOBJ) return lt_err(LATTE_ERR_FORMAT, "%s: not a JSON object", where);
  lt_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  latte_status st = lt_norm_load(t, lt_json_get(root, "normalizer"), where);
  if (st == LATTE_OK) st = lt_pretok_load(t, lt_json_get(root, "pre_tokenizer"), where);
  if (st == LATTE_OK) {
    t->byte_level = t->n_pretoks && t->pretoks[t->n_pretoks - 1].kind == LT_P_BYTELEVEL;
    st = load_model(t, root, where);
  }
  if (st == LATTE_OK) st = load_post(t, lt_json_get(root, "post_processor"), where);
  if (st == LATTE_OK) st = build_tries(t, where);
  if (st == LATTE_OK && !lt_bpe_cache_init(t)) st = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", where);
  if (st != LATTE_OK) { lt_tok_free(t); return st; }
  *out = t;
  return LATTE_OK;
}

latte_status lt_tok_load(const char *path, lt_tokenizer **out) {
  *out = NULL;
  lt_json_doc *doc;
  LT_TRY(lt_json_parse_file(path, &doc));
  latte_status st = lt_tok_load_json(lt_json_root(doc), path, out);
  lt_json_free(doc);
  return st;
}

void lt_tok_free(lt_tokenizer *t) {
  if (!t) return;
  lt_strmap_free(&t->tok2id); lt_strmap_free(&t->sym2id);
  free(t->id_blob); free(t->id_off); free(t->dec_blob); free(t->dec_off); free(t->id_flags);
  lt_pairmap_free(&t->merges);
  for (size_t i = 0; i < t->n_added; i++) { free(t->added[i].content); free(t->added[i].ncontent); }
  free(t->added);
  lt_trie_free(&t->trie_raw); lt_trie_free(&t->trie_norm);
  for (int i = 0; i < t->n_norms; i++) lt_norm_free(&t->norms[i]);
  free(t->norms);
  for (int i = 0; i < t->n_pretoks; i++) lt_pretok_free(&t->pretoks[i]);
  free(t->pretoks);
  free(t->pre_ids); free(t->post_ids);
  lt_bpe_cache_free(t);
  free(t);
}

/* ---- encode ---- */
static latte_status encode_segment(lt_enc_ctx *c, const char *p, size_t n, int parse_special) {
  const lt_tokenizer *t = c->t;
  const char *q; size_t qn;
  LT_TRY(lt_normalize(c, p, n, &q, &qn));
  if (!parse_special || !t->trie_norm.n) return lt_pretok_run(c, q, qn);
  lt_span *sp; size_t ns;
  LT_TRY(lt_added_split(t, &t->trie_norm, q, qn, &sp, &ns));
  latte_status st = LATTE_OK;
  for (size_t i = 0; i < ns && st == LATTE_OK; i++) {
    if (sp[i].tok >= 0) lt_ivec_push(&c->ids, t->added[sp[i].tok].id);
    else st = lt_pretok_run(c, q + sp[i].start, sp[i].end - sp[i].start);
  }
  free(sp);
  return st;
}

latte_status lt_tok_encode(const lt_tokenizer *t, const char *text, size_t len, int add_special,
                           int parse_special, int32_t **ids, size_t *n_ids) {
  if (!t || !ids || !n_ids || (!text && len)) return lt_err(LATTE_ERR_INVALID, "lt_tok_encode: NULL argument");
  *ids = NULL; *n_ids = 0;
  lt_sbuf clean = {0};
  if (lt_u8_valid_prefix((const unsigned char *)text, len) < len) {
    lt_u8_lossy(&clean, (const unsigned char *)text, len);
    if (clean.oom) { lt_sbuf_free(&clean); return lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory"); }
    text = clean.p; len = clean.n;
  }
  lt_enc_ctx c;
  latte_status st = ctx_init(&c, t);
  lt_ivec_grow(&c.ids, len / 3 + t->n_pre + t->n_post + 16);
  if (add_special) for (size_t i = 0; i < t->n_pre; i++) lt_ivec_push(&c.ids, t->pre_ids[i]);
  if (st == LATTE_OK && parse_special && t->trie_raw.n) {
    lt_span *sp = NULL; size_t ns = 0;
    st = lt_added_split(t, &t->trie_raw, text, len, &sp, &ns);
    for (size_t i = 0; st == LATTE_OK && i < ns; i++) {
      if (sp[i].tok >= 0) lt_ivec_push(&c.ids, t->added[sp[i].tok].id);
      else st = encode_segment(&c, text + sp[i].start, sp[i].end - sp[i].start, parse_special);
    }
    free(sp);
  } else if (st == LATTE_OK) {
    st = encode_segment(&c, text ? text : "", len, parse_special);
  }
  if (add_special) for (size_t i = 0; i < t->n_post; i++) lt_ivec_push(&c.ids, t->post_ids[i]);
  if (st == LATTE_OK && c.ids.oom) st = lt_err(LATTE_ERR_NOMEM, "tokenizer: out of memory");
  if (st == LATTE_OK) {
    *ids = c.ids.p; *n_ids = c.ids.n;
    c.ids.p = NULL;
  }
  ctx_free(&c);
  lt_sbuf_free(&clean);
  return st;
}

/* ---- accessors ---- */
int lt_tok_vocab_size(const lt_tokenizer *t) { return t->n_ids; }

int32_t lt_tok_token_id(const lt_tokenizer *t, const char *s) {
  return s ? lt_strmap_get(&t->tok2id, s, strlen(s)) : -1;
}

int lt_tok_is_special(const lt_tokenizer *t, int32_t id) {
  return id >= 0 && id < t->n_ids && (t->id_flags[id] & LT_ID_SPECIAL) != 0;
}

const char *lt_tok_id_to_token(const lt_tokenizer *t, int32_t id, size_t *len) {
  if (id < 0 || id >= t->n_ids || !(t->id_flags[id] & LT_ID_PRESENT)) return NULL;
  if (len) *len = t->id_off[id + 1] - t->id_off[id] - 1;
  return t->id_blob + t->id_off[id];
}
