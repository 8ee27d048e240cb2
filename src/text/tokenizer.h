/* tokenizer.h — byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json: encode, decode
 * and a streaming detokenizer. A loaded lt_tokenizer is immutable except for its internal piece
 * cache, which is thread-safe: encode/decode may be called from several threads at once. */
#ifndef LT_TOKENIZER_H
#define LT_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>
#include "latte.h"
#include "base/json.h"

typedef struct lt_tokenizer lt_tokenizer;

latte_status lt_tok_load(const char *tokenizer_json_path, lt_tokenizer **out);
/* Same, from an already parsed tokenizer.json (root object); `where` names it in messages. */
latte_status lt_tok_load_json(const lt_json *root, const char *where, lt_tokenizer **out);
void lt_tok_free(lt_tokenizer *t);

/* Encode text[0..len) (any bytes: invalid UTF-8 is first replaced by U+FFFD, one per maximal
 * invalid subsequence, as Rust's String::from_utf8_lossy; NUL is an ordinary character).
 * add_special: apply the post-processor (HF add_special_tokens). parse_special: match added tokens
 * written in the text (HF does; 0 makes every added token, special or not, plain text).
 * *ids is malloc'd (never NULL on success, even when *n_ids == 0). */
latte_status lt_tok_encode(const lt_tokenizer *t, const char *text, size_t len, int add_special,
                           int parse_special, int32_t **ids, size_t *n_ids);
/* Decode ids to UTF-8 text (HF decode; invalid byte sequences become U+FFFD). skip_special drops
 * added tokens flagged special. An id that is not a token is LATTE_ERR_INVALID naming it.
 * *text is malloc'd and NUL-terminated; *len excludes the NUL. */
latte_status lt_tok_decode(const lt_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                           char **text, size_t *len);

int lt_tok_vocab_size(const lt_tokenizer *t);  /* max id + 1 over vocab and added tokens */
/* Id of a token by its content as written in tokenizer.json (vocab key or added token content,
 * e.g. "Ġthe" or "<｜User｜>"); -1 if none. */
int32_t lt_tok_token_id(const lt_tokenizer *t, const char *token_content);
int lt_tok_is_special(const lt_tokenizer *t, int32_t id); /* added token with "special": true */
/* Content of token id as written in tokenizer.json (NUL-terminated, *len bytes); NULL if no token. */
const char *lt_tok_id_to_token(const lt_tokenizer *t, int32_t id, size_t *len);

/* Streaming detokenizer: fed one id at a time, emits text only once whole UTF-8 characters are
 * known. The concatenation of everything emitted (after flush) equals lt_tok_decode of all ids. */
typedef struct lt_detok_stream lt_detok_stream;
lt_detok_stream *lt_detok_stream_new(const lt_tokenizer *t, int skip_special); /* NULL on OOM */
/* Feed one id; appends the newly complete text (possibly empty) to out. A bad id is
 * LATTE_ERR_INVALID and changes nothing. */
latte_status lt_detok_stream_push(lt_detok_stream *s, int32_t id, lt_sbuf *out);
void lt_detok_stream_flush(lt_detok_stream *s, lt_sbuf *out); /* emit held bytes (U+FFFD if incomplete) */
void lt_detok_stream_free(lt_detok_stream *s);
#endif
