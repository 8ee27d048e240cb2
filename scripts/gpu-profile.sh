#!/usr/bin/env bash
# gpu-profile.sh — on the GPU machine: build latte with CUDA (gpu-check.sh --build-only), write a random-weight
# DeepSeek-V2-Lite, and time every kernel of a short batch-1 `latte bench` with Nsight Compute
# (one metric, gpu__time_duration; clocks and caches left alone). The per-kernel CSV goes to
# $OUT/ncu.csv; scripts/ncu_step.py folds it into a per-decode-step table. PREFILL=1: profile a prefill step
# instead (8 prompts × 512 tokens, no warm-up run; the table of the heaviest step, `ncu_step.py --largest`).
#   [PREFILL=1] scripts/gpu-profile.sh [extra latte bench args]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/latte-out}"; mkdir -p "$OUT"
OUT="$OUT" scripts/gpu-check.sh --build-only || exit 1
eval "$(scripts/device-deps.sh unpack | sed -n 's/^export /export /p')"
[ -d /tmp/v2lite ] || build-gpu/latte init-model --preset deepseek-v2-lite --out /tmp/v2lite > "$OUT/init.log" 2>&1
build-gpu/latte bench --model /tmp/v2lite --backend cuda --batch 1 --input-len 512 --output-len 32 "$@" 2>&1 | tee "$OUT/bench1.log"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ "${PREFILL:-0}" = 1 ]; then prof=(--batch 8 --input-len 512 --output-len 1 --warmup 0); step=--largest
else prof=(--batch 1 --input-len 64 --output-len 3); step=; fi
timeout 400 "$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
  --page raw build-gpu/latte bench --model /tmp/v2lite --backend cuda "${prof[@]}" "$@" \
  > "$OUT/ncu.csv" 2> "$OUT/ncu.err"
echo "ncu rc=$? lines=$(wc -l < "$OUT/ncu.csv")"; tail -3 "$OUT/ncu.err"
python3 scripts/ncu_step.py $step "$OUT/ncu.csv" | tail -25
