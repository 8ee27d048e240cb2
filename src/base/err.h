/* err.h — error reporting: set a one-line, per-thread message and return a status.
 * lt_err(LATTE_ERR_IO, "%s: ...", path) formats the message and evaluates to the status. */
#ifndef LT_ERR_H
#define LT_ERR_H
#include "latte.h"
#ifdef __cplusplus
extern "C" {
#endif
latte_status lt_err(latte_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with "ctx: " (e.g. a file name), keep the status. */
latte_status lt_err_prefix(latte_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lt_err_clear(void);
#define LT_TRY(expr) do { latte_status lt_s_ = (expr); if (lt_s_ != LATTE_OK) return lt_s_; } while (0)
#ifdef __cplusplus
}
#endif
#endif
