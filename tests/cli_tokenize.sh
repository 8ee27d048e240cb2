#!/usr/bin/env bash
# cli_tokenize.sh — `latte tokenize` / `latte detokenize`, plain and --jsonl, against ids of the
# DeepSeek-V3 dev cases (tests/fixtures/tokenizer-cases-dev.jsonl, from HF tokenizers), plus errors.
set -u
BIN=${LATTE_BIN:?LATTE_BIN not set}
FIX=${LATTE_FIXTURES:-$(dirname "$0")/fixtures}
TOK="$FIX/../../assets/tokenizers/deepseek-v3/tokenizer.json"
TMP=$(mktemp -d "${LATTE_TMP:-/tmp}/cli_tokenize.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
check() { # name, got, expected
  if [ "$2" == "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); printf 'FAIL %s\n  got:      %q\n  expected: %q\n' "$1" "$2" "$3" >&2; fi
}

# plain tokenize: stdin bytes exactly (no trailing newline added by printf)
check "plain hello" "$(printf 'Hello, world!' | "$BIN" tokenize --tokenizer "$TOK")" "19923 14 2058 3"
check "plain newlines" "$(printf 'line1\nline2\r\nline3\n\n\n' | "$BIN" tokenize --tokenizer "$TOK")" \
  "1836 19 201 1836 20 204 201 1836 21 6328"
check "plain cjk" "$(printf '中文分词测试：深度求索的模型。' | "$BIN" tokenize --tokenizer "$TOK")" \
  "21134 121402 10251 768 17180 1645 4568 301 8842 320"
check "plain specials" "$(printf '<｜begin▁of▁sentence｜>special<｜User｜>hi<｜Assistant｜>' | "$BIN" tokenize --tokenizer "$TOK")" \
  "0 55017 128803 6366 128804"
check "empty input" "$(printf '' | "$BIN" tokenize --tokenizer "$TOK")" ""

# --model DIR reads DIR/tokenizer.json
mkdir -p "$TMP/model" && cp "$TOK" "$TMP/model/tokenizer.json"
check "model dir" "$(printf 'Ünïcödé àccents ßtraße' | "$BIN" tokenize --model "$TMP/model")" \
  "52526 80 16709 69 54879 619 3034 692 749 1067 256 19660 30234"

# jsonl tokenize: one object per line in, one per line out
printf '%s\n' '{"text": "Hello, world!"}' '{"text": "x\u00a0y\u2003z"}' '{"text": "line1\nline2\r\nline3\n\n\n"}' > "$TMP/in.jsonl"
"$BIN" tokenize --tokenizer "$TOK" --jsonl < "$TMP/in.jsonl" > "$TMP/ids.jsonl"; rc=$?
check "jsonl tokenize rc" "$rc" "0"
check "jsonl tokenize" "$(cat "$TMP/ids.jsonl")" \
'{"ids": [19923, 14, 2058, 3]}
{"ids": [90, 2162, 91, 77469, 92]}
{"ids": [1836, 19, 201, 1836, 20, 204, 201, 1836, 21, 6328]}'

# jsonl detokenize: the reverse, texts JSON-escaped
# (U+00A0 and U+2003 come back as raw UTF-8: JSON needs no escape for them)
check "jsonl detokenize" "$("$BIN" detokenize --tokenizer "$TOK" --jsonl < "$TMP/ids.jsonl")" \
  "$(printf '{"text": "Hello, world!"}\n{"text": "x\302\240y\342\200\203z"}\n{"text": "line1\\nline2\\r\\nline3\\n\\n\\n"}')"

# plain detokenize: whitespace/comma separated ids, text written exactly
printf '1836 19,201\n1836 20 204 201 1836 21 6328' | "$BIN" detokenize --tokenizer "$TOK" > "$TMP/out.txt"
printf 'line1\nline2\r\nline3\n\n\n' > "$TMP/exp.txt"
if cmp -s "$TMP/out.txt" "$TMP/exp.txt"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL plain detokenize" >&2; fi
check "detokenize specials" "$(echo 0 55017 128803 6366 128804 | "$BIN" detokenize --tokenizer "$TOK")" \
  "<｜begin▁of▁sentence｜>special<｜User｜>hi<｜Assistant｜>"
check "detokenize --skip-special" "$(echo 0 55017 128803 6366 128804 1 | "$BIN" detokenize --tokenizer "$TOK" --skip-special)" \
  "special<｜User｜>hi<｜Assistant｜>"
check "round trip" "$(printf 'Ünïcödé àccents ßtraße' | "$BIN" tokenize --tokenizer "$TOK" | "$BIN" detokenize --tokenizer "$TOK")" \
  "Ünïcödé àccents ßtraße"

# errors: exit status != 0 and one line on stderr starting with "latte: "
err=$(echo 19923 999999 | "$BIN" detokenize --tokenizer "$TOK" 2>&1 >/dev/null); rc=$?
check "out-of-range id rc" "$([ $rc -ne 0 ] && echo nonzero)" "nonzero"
check "out-of-range id message" "$(echo "$err" | grep -c '^latte: .*999999')" "1"
err=$(echo '{"ids": [1, -3]}' | "$BIN" detokenize --tokenizer "$TOK" --jsonl 2>&1 >/dev/null); rc=$?
check "negative id jsonl" "$([ $rc -ne 0 ] && echo nonzero)$(echo "$err" | grep -c '^latte: .*-3')" "nonzero1"
err=$(echo '{"txt": 1}' | "$BIN" tokenize --tokenizer "$TOK" --jsonl 2>&1 >/dev/null); rc=$?
check "bad jsonl line" "$([ $rc -ne 0 ] && echo nonzero)$(echo "$err" | grep -c '^latte: .*line 1')" "nonzero1"
err=$(echo hi | "$BIN" tokenize 2>&1 >/dev/null); rc=$?
check "missing --tokenizer" "$rc $(echo "$err" | grep -c '^latte: ')" "2 1"
err=$(echo hi | "$BIN" tokenize --model "$TMP/nonexistent" 2>&1 >/dev/null); rc=$?
check "missing model dir" "$rc $(echo "$err" | grep -c '^latte: .*nonexistent/tokenizer.json')" "1 1"
"$BIN" tokenize --help > /dev/null; check "tokenize --help" "$?" "0"
"$BIN" detokenize --help > /dev/null; check "detokenize --help" "$?" "0"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
