/* tokconfig.c — read tokenizer_config.json: bos_token/eos_token (a string or an AddedToken object
 * with "content"), add_bos_token/add_eos_token, and chat_template (a string, or a list of
 * {name, template} from which "default" is taken). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/err.h"
#include "base/json.h"
#include "text/tokconfig.h"

static latte_status dup_str(const char *s, size_t n, char **out) {
  *out = malloc(n + 1);
  if (!*out) return lt_err(LATTE_ERR_NOMEM, "out of memory");
  memcpy(*out, s, n);
  (*out)[n] = 0;
  return LATTE_OK;
}

static latte_status token_field(const lt_json *root, const char *key, const char *path, char **out) {
  const lt_json *v = lt_json_get(root, key);
  if (lt_json_is_null(v)) return LATTE_OK;
  if (v->type == LT_JOBJ) v = lt_json_get(v, "content");
  if (!v || v->type != LT_JSTR)
    return lt_err(LATTE_ERR_FORMAT, "%s: \"%s\" must be a string or an object with a string \"content\"", path, key);
  return dup_str(v->str, v->len, out);
}

latte_status lt_tok_config_load(const char *model_dir, lt_tok_config *out) {
  memset(out, 0, sizeof *out);
  char path[4096];
  if (snprintf(path, sizeof path, "%s/tokenizer_config.json", model_dir) >= (int)sizeof path)
    return lt_err(LATTE_ERR_INVALID, "model directory path too long");
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return LATTE_OK;
    return lt_err(LATTE_ERR_IO, "%s: %s", path, strerror(errno));
  }
  lt_json_doc *doc;
  LT_TRY(lt_json_parse_file(path, &doc));
  const lt_json *root = lt_json_root(doc);
  latte_status s = LATTE_OK;
  if (root->type != LT_JOBJ) { s = lt_err(LATTE_ERR_FORMAT, "%s: top level must be an object", path); goto done; }
  if ((s = token_field(root, "bos_token", path, &out->bos_token)) != LATTE_OK) goto done;
  if ((s = token_field(root, "eos_token", path, &out->eos_token)) != LATTE_OK) goto done;
  const lt_json *b = lt_json_get(root, "add_bos_token");
  if (b && b->type == LT_JBOOL) out->add_bos_token = b->boolean;
  b = lt_json_get(root, "add_eos_token");
  if (b && b->type == LT_JBOOL) out->add_eos_token = b->boolean;
  const lt_json *ct = lt_json_get(root, "chat_template");
  if (ct && ct->type == LT_JSTR) {
    s = dup_str(ct->str, ct->len, &out->chat_template);
  } else if (ct && ct->type == LT_JARR) {
    for (size_t i = 0; i < ct->len; i++) {
      const lt_json *e = lt_json_at(ct, i);
      const char *name = lt_json_str(e, "name");
      const lt_json *tp = lt_json_get(e, "template");
      if (!name || !tp || tp->type != LT_JSTR) {
        s = lt_err(LATTE_ERR_FORMAT, "%s: chat_template[%zu] must be an object with string \"name\" and \"template\"", path, i);
        goto done;
      }
      if (!strcmp(name, "default")) { s = dup_str(tp->str, tp->len, &out->chat_template); break; }
    }
  } else if (!lt_json_is_null(ct)) {
    s = lt_err(LATTE_ERR_FORMAT, "%s: \"chat_template\" must be a string or a list of {name, template}", path);
  }
done:
  lt_json_free(doc);
  if (s != LATTE_OK) lt_tok_config_free(out);
  return s;
}

void lt_tok_config_free(lt_tok_config *c) {
  free(c->bos_token);
  free(c->eos_token);
  free(c->chat_template);
  memset(c, 0, sizeof *c);
}
