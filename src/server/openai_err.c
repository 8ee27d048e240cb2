/* openai_err.c — OpenAI error objects: {"error": {"message", "type", "param", "code"}}, with the
 * error type that goes with each HTTP status. */
#include "server/server.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lt_srv_fail(lt_srv_err *e, int status, const char *param, const char *fmt, ...) {
  e->status = status;
  snprintf(e->param, sizeof e->param, "%s", param ? param : "");
  e->code[0] = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *err_type(int status) {
  switch (status) {
  case 401: return "authentication_error";
  case 404: return "not_found_error";
  case 405: return "invalid_request_error";
  case 413: return "invalid_request_error";
  case 503: return "service_unavailable_error";
  default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

void lt_srv_err_json(const lt_srv_err *e, lt_sbuf *o) {
  lt_sbuf_puts(o, "{\"error\":{\"message\":");
  lt_sbuf_json_str(o, e->msg, strlen(e->msg));
  lt_sbuf_puts(o, ",\"type\":");
  lt_sbuf_json_str(o, err_type(e->status), strlen(err_type(e->status)));
  lt_sbuf_puts(o, ",\"param\":");
  if (e->param[0]) lt_sbuf_json_str(o, e->param, strlen(e->param));
  else lt_sbuf_puts(o, "null");
  lt_sbuf_puts(o, ",\"code\":");
  if (e->code[0]) lt_sbuf_json_str(o, e->code, strlen(e->code));
  else lt_sbuf_printf(o, "%d", e->status);
  lt_sbuf_puts(o, "}}");
}
