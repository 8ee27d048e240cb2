/* args.c — option parsing helpers for the `latte` subcommands (see args.h). */
#include "cli/args.h"
#include "cli/cli.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int lt_arg_val(int argc, char **argv, int *i, const char *name, const char **out) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n)) return 0;
  if (a[n] == '=') { *out = a + n + 1; return 1; }
  if (a[n]) return 0;
  if (*i + 1 >= argc) { lt_cli_error("option %s needs a value", name); return -1; }
  *out = argv[++*i];
  return 1;
}

int lt_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    lt_cli_error("%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

int lt_parse_float(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    lt_cli_error("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

int lt_parse_ids(const char *s, int32_t **out) {
  size_t cap = 16, n = 0;
  int32_t *ids = malloc(cap * sizeof *ids);
  if (!ids) { lt_cli_error("out of memory"); return -1; }
  const char *p = s;
  while (*p) {
    while (*p == ',' || *p == ' ' || *p == '\n' || *p == '\t') p++;
    if (!*p) break;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 0 || v > INT32_MAX) {
      lt_cli_error("--ids: '%.20s' is not a token id", p);
      free(ids);
      return -1;
    }
    if (n == cap) {
      cap *= 2;
      int32_t *t = realloc(ids, cap * sizeof *ids);
      if (!t) { free(ids); lt_cli_error("out of memory"); return -1; }
      ids = t;
    }
    ids[n++] = (int32_t)v;
    p = end;
    if (*p && *p != ',' && *p != ' ' && *p != '\n' && *p != '\t') {
      lt_cli_error("--ids: unexpected character '%c'", *p);
      free(ids);
      return -1;
    }
  }
  if (!n) { lt_cli_error("--ids: no token ids given"); free(ids); return -1; }
  *out = ids;
  return (int)n;
}
