/* test_toolcall.c — the content / reasoning / tool-call splitter (src/server/toolcall.c) on literal
 * DeepSeek outputs: whole replies, the same fed one byte at a time (streaming must give identical
 * pieces), the V3.1 call form, R1 reasoning with and without a prompt-opened <think>, and malformed
 * or unterminated markup kept as text. */
#include "server/toolcall.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

typedef struct { char content[1024], reasoning[1024], calls[1024]; int n_calls; } result;

/* Feeds text in pieces of `step` bytes (0 = all at once) and collects everything that comes out. */
static void run(const char *text, int tools, int reasoning, size_t step, result *r) {
  memset(r, 0, sizeof *r);
  lt_tc_parser p;
  lt_tc_out o = {0};
  lt_tc_init(&p, tools, reasoning);
  size_t n = strlen(text), at = 0;
  do {
    size_t k = step && n - at > step ? step : n - at;
    lt_tc_feed(&p, text + at, k, at + k == n, &o);
    at += k;
    strncat(r->content, o.content.p ? o.content.p : "", o.content.n);
    strncat(r->reasoning, o.reasoning.p ? o.reasoning.p : "", o.reasoning.n);
    for (int i = 0; i < o.n_calls; i++) {
      char one[512];
      snprintf(one, sizeof one, "[%d %s %s]", o.calls[i].index, o.calls[i].name, o.calls[i].args);
      strcat(r->calls, one);
      r->n_calls++;
    }
    lt_tc_out_reset(&o);
  } while (at < n);
  lt_tc_out_free(&o);
  lt_tc_free(&p);
}

static void expect(const char *name, const char *text, int tools, int reasoning, const char *content,
                   const char *reasoning_text, const char *calls) {
  size_t steps[] = {0, 1, 3, 7};
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    result r;
    run(text, tools, reasoning, steps[s], &r);
    CHECK(!strcmp(r.content, content), "%s (step %zu): content '%s', want '%s'", name, steps[s], r.content, content);
    CHECK(!strcmp(r.reasoning, reasoning_text), "%s (step %zu): reasoning '%s', want '%s'", name, steps[s], r.reasoning,
          reasoning_text);
    CHECK(!strcmp(r.calls, calls), "%s (step %zu): calls '%s', want '%s'", name, steps[s], r.calls, calls);
  }
}

int main(void) {
  expect("plain", "Hello, world!", 1, 1, "Hello, world!", "", "");
  expect("v3 one call",
         "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
         "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         1, 1, "Let me check.", "", "[0 get_weather {\"city\": \"Paris\"}]");
  expect("v3 two calls",
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n```json\n{}\n```<｜tool▁call▁end｜>\n"
         "<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n```json\n{\"x\": [1, 2]}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         1, 1, "", "", "[0 a {}][1 b {\"x\": [1, 2]}]");
  expect("v3.1 form",
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"latte\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         1, 1, "", "", "[0 search {\"q\": \"latte\"}]");
  expect("tools off keeps markup",
         "x<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n```<｜tool▁call▁end｜>",
         0, 1, "x<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n```<｜tool▁call▁end｜>", "", "");
  expect("unterminated call stays text",
         "ok<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\"",
         1, 1, "ok<｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\"", "", "");
  expect("partial marker at the end is text", "a <｜tool▁calls", 1, 1, "a <｜tool▁calls", "", "");
  expect("reasoning", "<think>\nI think.\n</think>\n\nAnswer.", 1, 1, "\n\nAnswer.", "\nI think.\n", "");
  expect("reasoning opened by the prompt", "Step 1.</think>Done", 1, 2, "Done", "Step 1.", "");
  expect("reasoning never closed", "still thinking", 1, 2, "", "still thinking", "");
  expect("reasoning off", "<think>x</think>y", 0, 0, "<think>x</think>y", "", "");
  expect("think not at start is content", "a<think>b</think>", 1, 1, "a<think>b</think>", "", "");
  expect("reasoning then a call",
         "<think>need weather</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>w\n```json\n"
         "{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         1, 1, "", "need weather", "[0 w {}]");
  expect("text after calls", "<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>tail", 1, 1, "tail", "", "");
  return lt_test_done();
}
