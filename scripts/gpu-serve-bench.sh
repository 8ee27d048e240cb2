#!/usr/bin/env bash
# gpu-serve-bench.sh — on the GPU machine, after scripts/gpu-check.sh has built build-gpu/: serves a
# random-weight DeepSeek-V2-Lite with `latte serve --backend cuda` and drives it with `latte bench serve`:
# 1000 prompts of random lengths (input ~1000, output ~200, as sglang's random dataset with range ratio
# 0.5) at max concurrency 64 and 256, each level with its own prompts (seed = concurrency), so the prefix
# cache cannot serve one level's prompts from another's. Logs go to $OUT (or /tmp/latte-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/latte-out}"; mkdir -p "$OUT"
N="${N:-1000}"
eval "$(scripts/device-deps.sh unpack | sed -n 's/^export /export /p')"
M=/tmp/v2lite
[ -f $M/config.json ] || build-gpu/latte init-model --preset deepseek-v2-lite --out $M > "$OUT/init.log" 2>&1
build-gpu/latte serve --model $M --backend cuda --served-model-name v2lite --port 8123 --max-running 256 \
  --step-tokens 8192 --page-size 64 > "$OUT/serve.log" 2>&1 &
pid=$!
for i in $(seq 1 240); do
  curl -sf localhost:8123/health > /dev/null && break
  kill -0 $pid 2>/dev/null || { echo "server died"; tail -20 "$OUT/serve.log"; exit 1; }
  sleep 1
done
for c in 64 256; do
  echo "== max concurrency $c" | tee -a "$OUT/serve-bench.log"
  build-gpu/latte bench serve --url http://127.0.0.1:8123 --num-prompts "$N" --max-concurrency $c \
    --input-len 1333 --output-len 267 --random-range-ratio 0.5 --seed $c 2>&1 | tee -a "$OUT/serve-bench.log"
done
curl -s localhost:8123/metrics | grep -E "^latte:(prompt|generation)_tokens_total|prefix_cache_hit" | tee -a "$OUT/serve-bench.log"
kill $pid; wait $pid 2>/dev/null
exit 0
