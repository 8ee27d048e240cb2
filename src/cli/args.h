/* args.h — tiny option parsing shared by the subcommands: long options with a value ("--x V" or
 * "--x=V"), flags, and strict number / id-list parsing with clear errors. */
#ifndef LT_ARGS_H
#define LT_ARGS_H
#include <stdint.h>
/* If argv[*i] is option name (with value), store the value, advance *i and return 1; on a missing
 * value print an error and return -1; otherwise 0. */
int lt_arg_val(int argc, char **argv, int *i, const char *name, const char **out);
int lt_parse_int(const char *opt, const char *s, long lo, long hi, long *out);    /* 0 ok, -1 error printed */
int lt_parse_float(const char *opt, const char *s, double lo, double hi, double *out);
/* "5,17,42" (commas or spaces) → malloc'd ids; returns count, -1 on error (printed) */
int lt_parse_ids(const char *s, int32_t **out);
#endif
