/* detok.c — decoding ids to text (HF Tokenizer::decode with a ByteLevel decoder or none) and the
 * streaming detokenizer, which holds back an incomplete UTF-8 tail so that every emitted piece is
 * valid UTF-8 and the pieces concatenate to exactly the full decode. */
#include "text/tok_internal.h"
#include "base/err.h"
#include <stdlib.h>

static latte_status check_id(const lt_tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_ids)
    return lt_err(LATTE_ERR_INVALID, "token id %d is out of range (vocabulary size %d)", (int)id, (int)t->n_ids);
  if (!(t->id_flags[id] & LT_ID_PRESENT))
    return lt_err(LATTE_ERR_INVALID, "token id %d is not a token of this vocabulary", (int)id);
  return LATTE_OK;
}

latte_status lt_tok_decode(const lt_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                           char **text, size_t *len) {
  if (!t || !text || (!ids && n)) return lt_err(LATTE_ERR_INVALID, "lt_tok_decode: NULL argument");
  *text = NULL; if (len) *len = 0;
  for (size_t i = 0; i < n; i++) {
    latte_status st = check_id(t, ids[i]);
    if (st != LATTE_OK) return lt_err_prefix(st, "ids[%zu]", i);
  }
  lt_sbuf raw = {0}, out = {0};
  int first = 1;
  for (size_t i = 0; i < n; i++) {
    int32_t id = ids[i];
    if (skip_special && (t->id_flags[id] & LT_ID_SPECIAL)) continue;
    if (!t->decoder_byte_level && !first) lt_sbuf_putc(&raw, ' ');
    lt_sbuf_put(&raw, t->dec_blob + t->dec_off[id], t->dec_off[id + 1] - t->dec_off[id]);
    first = 0;
  }
  lt_u8_lossy(&out, (const unsigned char *)raw.p, raw.n);
  lt_sbuf_put(&out, "", 0); /* NUL-terminated even when empty */
  int oom = raw.oom || out.oom;
  lt_sbuf_free(&raw);
  if (oom) { lt_sbuf_free(&out); return lt_err(LATTE_ERR_NOMEM, "lt_tok_decode: out of memory"); }
  *text = out.p;
  if (len) *len = out.n;
  return LATTE_OK;
}

struct lt_detok_stream {
  const lt_tokenizer *t;
  int skip_special, first;
  unsigned char held[4]; size_t n_held; /* a truncated but so far valid UTF-8 prefix */
  lt_sbuf tmp;
};

lt_detok_stream *lt_detok_stream_new(const lt_tokenizer *t, int skip_special) {
  lt_detok_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->t = t; s->skip_special = skip_special; s->first = 1;
  return s;
}

latte_status lt_detok_stream_push(lt_detok_stream *s, int32_t id, lt_sbuf *out) {
  const lt_tokenizer *t = s->t;
  LT_TRY(check_id(t, id));
  if (s->skip_special && (t->id_flags[id] & LT_ID_SPECIAL)) return LATTE_OK;
  const unsigned char *b = (const unsigned char *)t->dec_blob + t->dec_off[id];
  size_t n = t->dec_off[id + 1] - t->dec_off[id];
  if (!t->decoder_byte_level) { /* contents are whole UTF-8 strings, joined with spaces */
    if (!s->first) lt_sbuf_putc(out, ' ');
    lt_sbuf_put(out, b, n);
    s->first = 0;
    return out->oom ? lt_err(LATTE_ERR_NOMEM, "detokenizer: out of memory") : LATTE_OK;
  }
  s->first = 0;
  s->tmp.n = 0;
  lt_sbuf_put(&s->tmp, s->held, s->n_held);
  if (n) lt_sbuf_put(&s->tmp, b, n);
  if (!s->tmp.n) return LATTE_OK;
  if (s->tmp.oom) return lt_err(LATTE_ERR_NOMEM, "detokenizer: out of memory");
  const unsigned char *p = (const unsigned char *)s->tmp.p;
  size_t m = s->tmp.n, i = 0;
  while (i < m) {
    size_t ok = lt_u8_valid_prefix(p + i, m - i);
    if (ok) lt_sbuf_put(out, p + i, ok);
    i += ok;
    if (i >= m) break;
    int l = lt_u8_step(p + i, m - i);
    if (l == 0) break; /* incomplete tail: hold it */
    lt_sbuf_put(out, "\xEF\xBF\xBD", 3);
    i += (size_t)-l;
  }
  s->n_held = m - i;
  memcpy(s->held, p + i, s->n_held);
  return out->oom ? lt_err(LATTE_ERR_NOMEM, "detokenizer: out of memory") : LATTE_OK;
}

void lt_detok_stream_flush(lt_detok_stream *s, lt_sbuf *out) {
  if (s->n_held) lt_sbuf_put(out, "\xEF\xBF\xBD", 3);
  s->n_held = 0;
}

void lt_detok_stream_free(lt_detok_stream *s) {
  if (!s) return;
  lt_sbuf_free(&s->tmp);
  free(s);
}
