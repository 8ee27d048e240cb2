/* err.c — per-thread last-error message behind latte_last_error(). */
#include "base/err.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char lt_msg[1024];

latte_status lt_err(latte_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lt_msg, sizeof lt_msg, fmt, ap);
  va_end(ap);
  return s;
}

latte_status lt_err_prefix(latte_status s, const char *fmt, ...) {
  char pre[512], old[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  memcpy(old, lt_msg, sizeof old);
  snprintf(lt_msg, sizeof lt_msg, "%s: %s", pre, old);
  return s;
}

void lt_err_clear(void) { lt_msg[0] = 0; }
const char *latte_last_error(void) { return lt_msg; }

const char *latte_status_str(latte_status s) {
  switch (s) {
  case LATTE_OK: return "ok";
  case LATTE_ERR_IO: return "i/o error";
  case LATTE_ERR_FORMAT: return "format error";
  case LATTE_ERR_INVALID: return "invalid argument";
  case LATTE_ERR_NOMEM: return "out of memory";
  case LATTE_ERR_BACKEND: return "backend error";
  case LATTE_ERR_UNSUPPORTED: return "unsupported";
  }
  return "unknown";
}
