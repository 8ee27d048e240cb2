#!/usr/bin/env bash
# cli_chat_template.sh — `latte chat-template` on a model dir holding the project's DeepSeek-V3
# tokenizer_config.json: exact output (no extra newline) for a multi-turn chat with tool calls,
# --add-generation-prompt, --help, and one "latte: " line on stderr with exit != 0 on errors.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${LATTE_BIN:-$root/build/latte}"
tmp="$(mktemp -d "${LATTE_TMP:-/tmp}/cli_chat.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0
pass=0
check() { if [ "$1" = "$2" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); printf 'FAIL %s\n--- got ---\n%s\n--- want ---\n%s\n' "$3" "$1" "$2" >&2; fi; }

mkdir -p "$tmp/model"
cp "$root/assets/tokenizers/deepseek-v3/tokenizer_config.json" "$tmp/model/"
input='{"messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Weather in Paris? 🙂"},
 {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
 {"role": "tool", "content": "{\"temp\": 20}"}, {"role": "assistant", "content": "It is 20°C."}, {"role": "user", "content": "Thanks"}]}'
# Expected strings rendered by Python jinja2 3.1.6 with HF's settings (see tests/gen_chat_expected.py).
want_body='<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Weather in Paris? 🙂<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Paris"}
```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"temp": 20}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is 20°C.<｜end▁of▁sentence｜><｜User｜>Thanks'

printf '%s' "$input" | "$bin" chat-template --model "$tmp/model" > "$tmp/out0"; rc=$?
check "$rc" 0 "exit code without --add-generation-prompt"
check "$(cat "$tmp/out0"; printf x)" "${want_body}x" "render without generation prompt"
printf '%s' "$input" | "$bin" chat-template --model "$tmp/model" --add-generation-prompt > "$tmp/out1"; rc=$?
check "$rc" 0 "exit code with --add-generation-prompt"
check "$(cat "$tmp/out1"; printf x)" "${want_body}<｜Assistant｜>x" "render with generation prompt (no trailing newline)"

"$bin" chat-template --help > "$tmp/help"; rc=$?
check "$rc" 0 "--help exit code"
grep -q -- "--add-generation-prompt" "$tmp/help"; check "$?" 0 "--help mentions --add-generation-prompt"

err_case() { # name, expected stderr substring, then the command
  local name="$1" want="$2"; shift 2
  "$@" > "$tmp/o" 2> "$tmp/e"; local rc=$?
  [ "$rc" -ne 0 ]; check "$?" 0 "$name: exit code $rc"
  check "$(wc -l < "$tmp/e" | tr -d ' ')" 1 "$name: one stderr line"
  case "$(cat "$tmp/e")" in "latte: "*"$want"*) check ok ok "$name";; *) check "$(cat "$tmp/e")" "latte: ...$want..." "$name";; esac
}
err_case "bad json" "stdin" bash -c "printf '{\"messages\": [' | '$bin' chat-template --model '$tmp/model'"
err_case "no messages" "messages" bash -c "printf '{}' | '$bin' chat-template --model '$tmp/model'"
err_case "no model dir arg" "--model" bash -c "printf '{}' | '$bin' chat-template"
mkdir -p "$tmp/empty"
err_case "no chat_template" "no chat_template" bash -c "printf '{\"messages\": []}' | '$bin' chat-template --model '$tmp/empty'"
mkdir -p "$tmp/badtpl"
printf '{"chat_template": "{%% if x %%}\\nunclosed"}' > "$tmp/badtpl/tokenizer_config.json"
err_case "template syntax error" "line 2, column 9" bash -c "printf '{\"messages\": []}' | '$bin' chat-template --model '$tmp/badtpl'"
printf '{"chat_template": "{{ raise_exception(\\"roles must alternate\\") }}"}' > "$tmp/badtpl/tokenizer_config.json"
err_case "raise_exception" "roles must alternate" bash -c "printf '{\"messages\": []}' | '$bin' chat-template --model '$tmp/badtpl'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
