/* cmd_text.c — `latte tokenize` and `latte detokenize`: text <-> token ids with a model's
 * tokenizer.json, plain (stdin -> one line / raw text) or JSON lines ({"text"} <-> {"ids"}). */
#include "cli/cli.h"
#include "text/tokenizer.h"
#include "base/json.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TOK_HELP[] =
  "usage: latte tokenize (--tokenizer FILE | --model DIR) [--jsonl] [--no-add-special] [--no-parse-special]\n"
  "\n"
  "Reads UTF-8 text on stdin (all of it, byte for byte) and prints its token ids, space-separated, on one\n"
  "line. With --jsonl, reads one {\"text\": ...} object per line and writes one {\"ids\": [...]} per line.\n"
  "\n"
  "  --tokenizer FILE    a Hugging Face tokenizer.json\n"
  "  --model DIR        use DIR/tokenizer.json\n"
  "  --jsonl            JSON lines in and out\n"
  "  --no-add-special   do not apply the post-processor (e.g. no BOS); default: applied, as HF\n"
  "  --no-parse-special treat added-token text such as <｜User｜> as plain text; default: matched\n"
  "\n"
  "Invalid UTF-8 is tokenized as U+FFFD (one per maximal invalid sequence). Exit status 0 ok, 1 error, 2 usage.\n";

static const char DETOK_HELP[] =
  "usage: latte detokenize (--tokenizer FILE | --model DIR) [--jsonl] [--skip-special]\n"
  "\n"
  "Reads token ids separated by whitespace or commas on stdin and writes the decoded text (exactly, with no\n"
  "newline added). With --jsonl, reads one {\"ids\": [...]} per line and writes one {\"text\": ...} per line.\n"
  "\n"
  "  --tokenizer FILE    a Hugging Face tokenizer.json\n"
  "  --model DIR        use DIR/tokenizer.json\n"
  "  --jsonl            JSON lines in and out\n"
  "  --skip-special     leave out special tokens (added tokens marked \"special\")\n"
  "\n"
  "An id that is not a token of the vocabulary is an error naming it. Exit status 0 ok, 1 error, 2 usage.\n";

typedef struct { const char *tokenizer, *model; int jsonl, no_add, no_parse, skip_special; } text_opts;

/* Returns -1 to go on, else the exit code. */
static int parse_opts(const char *cmd, const char *help, int detok, int argc, char **argv, text_opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(help, stdout); return 0; }
    if ((!strcmp(a, "--tokenizer") || !strcmp(a, "--model")) && i + 1 < argc) {
      if (a[2] == 't') o->tokenizer = argv[++i]; else o->model = argv[++i];
    } else if (!strcmp(a, "--jsonl")) o->jsonl = 1;
    else if (!detok && !strcmp(a, "--no-add-special")) o->no_add = 1;
    else if (!detok && !strcmp(a, "--no-parse-special")) o->no_parse = 1;
    else if (detok && !strcmp(a, "--skip-special")) o->skip_special = 1;
    else { lt_cli_error("%s: unknown or incomplete option '%s' (try --help)", cmd, a); return 2; }
  }
  if (!o->tokenizer == !o->model) { lt_cli_error("%s: give exactly one of --tokenizer FILE or --model DIR", cmd); return 2; }
  return -1;
}

static lt_tokenizer *open_tokenizer(const char *cmd, const text_opts *o) {
  char path[4096];
  if (o->model) snprintf(path, sizeof path, "%s/tokenizer.json", o->model);
  else snprintf(path, sizeof path, "%s", o->tokenizer);
  lt_tokenizer *t = NULL;
  if (lt_tok_load(path, &t) != LATTE_OK) { lt_cli_error("%s: %s", cmd, latte_last_error()); return NULL; }
  return t;
}

static int read_all(FILE *f, lt_sbuf *b) {
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) lt_sbuf_put(b, buf, n);
  if (!b->p) lt_sbuf_put(b, "", 0);
  return !ferror(f) && !b->oom;
}

static void put_ids(lt_sbuf *o, const int32_t *ids, size_t n, const char *sep) {
  for (size_t i = 0; i < n; i++) {
    char num[16];
    int k = 0;
    uint32_t v = (uint32_t)ids[i];
    do num[k++] = (char)('0' + v % 10); while ((v /= 10));
    if (i) lt_sbuf_puts(o, sep);
    while (k) lt_sbuf_putc(o, num[--k]);
  }
}

static int flush_out(lt_sbuf *o, const char *cmd) {
  if (o->n && fwrite(o->p, 1, o->n, stdout) != o->n) { lt_cli_error("%s: write failed: %s", cmd, strerror(errno)); return 0; }
  o->n = 0;
  return 1;
}

int lt_cmd_tokenize(int argc, char **argv) {
  text_opts o;
  int rc = parse_opts("tokenize", TOK_HELP, 0, argc, argv, &o);
  if (rc >= 0) return rc;
  lt_tokenizer *t = open_tokenizer("tokenize", &o);
  if (!t) return 1;
  lt_sbuf out = {0};
  rc = 0;
  if (!o.jsonl) {
    lt_sbuf in = {0};
    int32_t *ids; size_t n;
    if (!read_all(stdin, &in)) { lt_cli_error("tokenize: cannot read stdin"); rc = 1; }
    else if (lt_tok_encode(t, in.p, in.n, !o.no_add, !o.no_parse, &ids, &n) != LATTE_OK) {
      lt_cli_error("tokenize: %s", latte_last_error()); rc = 1;
    } else {
      put_ids(&out, ids, n, " ");
      lt_sbuf_putc(&out, '\n');
      free(ids);
      if (!flush_out(&out, "tokenize")) rc = 1;
    }
    lt_sbuf_free(&in);
  } else {
    char *line = NULL; size_t cap = 0; ssize_t r; long ln = 0;
    while (rc == 0 && (r = getline(&line, &cap, stdin)) >= 0) {
      ln++;
      if (strspn(line, " \t\r\n") == (size_t)r) continue;
      lt_json_doc *d;
      if (lt_json_parse(line, (size_t)r, &d) != LATTE_OK) { lt_cli_error("tokenize: stdin line %ld: %s", ln, latte_last_error()); rc = 1; break; }
      const lt_json *tx = lt_json_get(lt_json_root(d), "text");
      int32_t *ids; size_t n;
      if (!tx || tx->type != LT_JSTR) { lt_cli_error("tokenize: stdin line %ld: no string \"text\"", ln); rc = 1; }
      else if (lt_tok_encode(t, tx->str, tx->len, !o.no_add, !o.no_parse, &ids, &n) != LATTE_OK) {
        lt_cli_error("tokenize: stdin line %ld: %s", ln, latte_last_error()); rc = 1;
      } else {
        lt_sbuf_puts(&out, "{\"ids\": [");
        put_ids(&out, ids, n, ", ");
        lt_sbuf_puts(&out, "]}\n");
        free(ids);
        if (out.n > (1 << 20) && !flush_out(&out, "tokenize")) rc = 1;
      }
      lt_json_free(d);
    }
    free(line);
    if (rc == 0 && !flush_out(&out, "tokenize")) rc = 1;
  }
  if (rc == 0 && fflush(stdout) != 0) { lt_cli_error("tokenize: write failed: %s", strerror(errno)); rc = 1; }
  lt_sbuf_free(&out);
  lt_tok_free(t);
  return rc;
}

/* Plain-mode ids: decimal numbers separated by whitespace and/or commas. */
static int parse_id_list(const char *s, size_t n, int32_t **ids, size_t *ni) {
  size_t cap = 256, k = 0;
  int32_t *v = malloc(cap * sizeof *v);
  if (!v) { lt_cli_error("detokenize: out of memory"); return 0; }
  size_t i = 0;
  while (i < n) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '\f' || c == '\v') { i++; continue; }
    size_t j = i;
    if (s[j] == '-') j++;
    while (j < n && s[j] >= '0' && s[j] <= '9') j++;
    int is_num = j > i + (s[i] == '-') && (j == n || strchr(" \t\n\r,\f\v", s[j]));
    if (!is_num) {
      size_t e = i;
      while (e < n && e < i + 20 && !strchr(" \t\n\r,\f\v", s[e])) e++;
      lt_cli_error("detokenize: '%.*s' on stdin is not a token id", (int)(e - i), s + i);
      free(v); return 0;
    }
    long long x = strtoll(s + i, NULL, 10);
    if (x < INT32_MIN || x > INT32_MAX || j - i > 11) {
      lt_cli_error("detokenize: token id %.*s is out of range", (int)(j - i), s + i);
      free(v); return 0;
    }
    if (k == cap) {
      int32_t *nv = realloc(v, 2 * cap * sizeof *v);
      if (!nv) { free(v); lt_cli_error("detokenize: out of memory"); return 0; }
      v = nv; cap *= 2;
    }
    v[k++] = (int32_t)x;
    i = j;
  }
  *ids = v; *ni = k;
  return 1;
}

int lt_cmd_detokenize(int argc, char **argv) {
  text_opts o;
  int rc = parse_opts("detokenize", DETOK_HELP, 1, argc, argv, &o);
  if (rc >= 0) return rc;
  lt_tokenizer *t = open_tokenizer("detokenize", &o);
  if (!t) return 1;
  lt_sbuf out = {0};
  rc = 0;
  if (!o.jsonl) {
    lt_sbuf in = {0};
    int32_t *ids = NULL; size_t n = 0; char *text; size_t tl;
    if (!read_all(stdin, &in)) { lt_cli_error("detokenize: cannot read stdin"); rc = 1; }
    else if (!parse_id_list(in.p, in.n, &ids, &n)) rc = 1;
    else if (lt_tok_decode(t, ids, n, o.skip_special, &text, &tl) != LATTE_OK) {
      lt_cli_error("detokenize: %s", latte_last_error()); rc = 1;
    } else {
      if (tl && fwrite(text, 1, tl, stdout) != tl) { lt_cli_error("detokenize: write failed: %s", strerror(errno)); rc = 1; }
      free(text);
    }
    free(ids);
    lt_sbuf_free(&in);
  } else {
    char *line = NULL; size_t cap = 0; ssize_t r; long ln = 0;
    int32_t *ids = NULL; size_t idcap = 0;
    while (rc == 0 && (r = getline(&line, &cap, stdin)) >= 0) {
      ln++;
      if (strspn(line, " \t\r\n") == (size_t)r) continue;
      lt_json_doc *d;
      if (lt_json_parse(line, (size_t)r, &d) != LATTE_OK) { lt_cli_error("detokenize: stdin line %ld: %s", ln, latte_last_error()); rc = 1; break; }
      const lt_json *a = lt_json_get(lt_json_root(d), "ids");
      if (!a || a->type != LT_JARR) { lt_cli_error("detokenize: stdin line %ld: no array \"ids\"", ln); rc = 1; }
      if (rc == 0 && a->len > idcap) {
        int32_t *ni = realloc(ids, (a->len + 1) * sizeof *ids);
        if (!ni) { lt_cli_error("detokenize: out of memory"); rc = 1; } else { ids = ni; idcap = a->len + 1; }
      }
      for (size_t i = 0; rc == 0 && i < a->len; i++) {
        const lt_json *v = &a->items[i];
        if (v->type != LT_JNUM || !v->is_int || v->inum < INT32_MIN || v->inum > INT32_MAX) {
          lt_cli_error("detokenize: stdin line %ld: ids[%zu] is not a token id", ln, i); rc = 1;
        } else ids[i] = (int32_t)v->inum;
      }
      char *text; size_t tl;
      if (rc == 0) {
        if (lt_tok_decode(t, ids, a->len, o.skip_special, &text, &tl) != LATTE_OK) {
          lt_cli_error("detokenize: stdin line %ld: %s", ln, latte_last_error()); rc = 1;
        } else {
          lt_sbuf_puts(&out, "{\"text\": ");
          lt_sbuf_json_str(&out, text, tl);
          lt_sbuf_puts(&out, "}\n");
          free(text);
          if (out.n > (1 << 20) && !flush_out(&out, "detokenize")) rc = 1;
        }
      }
      lt_json_free(d);
    }
    free(line); free(ids);
    if (rc == 0 && !flush_out(&out, "detokenize")) rc = 1;
  }
  if (rc == 0 && fflush(stdout) != 0) { lt_cli_error("detokenize: write failed: %s", strerror(errno)); rc = 1; }
  lt_sbuf_free(&out);
  lt_tok_free(t);
  return rc;
}
