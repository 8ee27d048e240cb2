#!/usr/bin/env bash
# cli_server.sh — `latte serve` end to end: makes the tiny model, starts three servers on free ports
# (main; a KV pool of 12 pages of 16 tokens; one with --api-key), waits for /health, runs
# tests/server_test.py with the official openai client and `latte bench serve`, then stops the servers. Exit 77 (skip) when
# python3 or the openai package is missing.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${LATTE_BIN:-$root/build/latte}"
tmp="$(mktemp -d "${LATTE_TMP:-/tmp}/cli_server.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
python3 -c 'import openai' 2>/dev/null || { echo "skip: python package openai missing (scripts/install-py-deps.sh)"; exit 77; }
"$bin" init-model --preset tiny --out "$tmp/tiny" > /dev/null || { echo "init-model failed"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME ARGS...: starts a server in the background on a free port; sets $port
start() {
  local name="$1"; shift
  port="$(free_port)"
  "$bin" serve --model "$tmp/tiny" --served-model-name tiny --port "$port" --backend cpu --page-size 16 "$@" \
    > "$tmp/$name.log" 2>&1 &
  pids+=($!)
}
# wait_health PORT: 0 when /health answers 200 within 60 s; prints the first status seen
wait_health() {
  local first="" code
  for _ in $(seq 3000); do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health" 2>/dev/null)"
    if [ "$code" != "000" ] && [ -z "$first" ]; then first="$code"; fi
    if [ "$code" = "200" ]; then echo "$first"; return 0; fi
    sleep 0.02
  done
  echo "$first"; return 1
}

start main --max-model-len 1024 --max-body-bytes 1000000; p_main=$port
first="$(wait_health "$p_main")" || { echo "main server did not come up"; cat "$tmp/main.log"; exit 1; }
start small --num-pages 12 --max-running 8; p_small=$port
start key --api-key sekret; p_key=$port
wait_health "$p_small" > /dev/null || { echo "small server did not come up"; cat "$tmp/small.log"; exit 1; }
wait_health "$p_key" > /dev/null || { echo "key server did not come up"; cat "$tmp/key.log"; exit 1; }

LATTE_BIN="$bin" MODEL="$tmp/tiny" URL="http://127.0.0.1:$p_main" URL_SMALL="http://127.0.0.1:$p_small" \
  URL_KEY="http://127.0.0.1:$p_key" API_KEY=sekret FIRST_HEALTH="$first" python3 "$here/server_test.py" "$@"
rc=$?
# latte bench serve against the main server: every request succeeds and the metrics are printed
"$bin" bench serve --url "http://127.0.0.1:$p_main" --num-prompts 6 --max-concurrency 3 --input-len 16 --output-len 4 \
  > "$tmp/bench.out" 2>&1
brc=$?
if [ "$brc" -eq 0 ] && grep -q "^Successful requests: *6$" "$tmp/bench.out" && grep -q "^Total generated tokens: *24$" "$tmp/bench.out" \
   && grep -q "^Median TTFT (ms):" "$tmp/bench.out" && grep -q "^P99 ITL (ms):" "$tmp/bench.out"; then
  echo "ok   bench serve"
else
  echo "FAIL bench serve (exit $brc)"; cat "$tmp/bench.out"; rc=1
fi
# the servers must still be alive after every test (no crash on bad input)
alive=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
if [ "$alive" -ne 3 ]; then echo "FAIL: a server died"; tail -5 "$tmp"/*.log; rc=1; fi
if [ "$rc" -ne 0 ]; then echo "--- main server log (tail) ---"; tail -20 "$tmp/main.log"; fi
exit "$rc"
