/* toolcall.h — splits generated text into content, R1-style reasoning (<think>…</think>) and DeepSeek
 * tool calls (<｜tool▁calls▁begin｜>…<｜tool▁calls▁end｜>), incrementally: text is fed as it is
 * generated and only complete pieces come out, so the same parser serves streamed and whole replies. */
#ifndef LT_TOOLCALL_H
#define LT_TOOLCALL_H
#include <stddef.h>
#include "base/json.h"

typedef struct { int index; char *name, *args; } lt_tool_call;

/* What one or more feeds produced; the caller reads and then resets it. */
typedef struct {
  lt_sbuf content, reasoning;
  lt_tool_call *calls;
  int n_calls, cap_calls;
  int oom;
} lt_tc_out;

typedef struct {
  int parse_tools;      /* 0: tool-call markers stay content */
  int state;
  int n_calls;          /* calls emitted so far (the next call's index) */
  lt_sbuf buf;          /* text not yet classified */
} lt_tc_parser;

/* reasoning: 0 = no reasoning split (all text is content), 1 = text opening with <think> is reasoning
 * up to </think>, 2 = the prompt already opened <think> (R1 templates end with "<think>\n"). */
void lt_tc_init(lt_tc_parser *p, int parse_tools, int reasoning);
/* Feed text s[0..n); final = no more text will come (flushes everything held back). */
void lt_tc_feed(lt_tc_parser *p, const char *s, size_t n, int final, lt_tc_out *out);
void lt_tc_free(lt_tc_parser *p);
void lt_tc_out_reset(lt_tc_out *o);   /* empties (keeps capacity) */
void lt_tc_out_free(lt_tc_out *o);
#endif
