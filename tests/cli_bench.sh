#!/usr/bin/env bash
# cli_bench.sh — `latte bench` (offline throughput) on the tiny fixtures with the CPU backend: the header
# line, one row per batch size with the sizes asked for and positive prefill / decode tokens/s and ms per step
# (with and without warm-up runs, bf16 and FP8 w8a8), and bad arguments failing with one "latte: " line.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bin="${LATTE_BIN:?LATTE_BIN must name the latte binary}"
fix="${LATTE_FIXTURES:-$here/fixtures}"
. "$here/sh_lib.sh" cli_bench  # tmp, ok, err_case

# rows "B in out prefill decode ms": the batch sizes in order, the lengths, every rate and time > 0
rows_ok() {  # file in_len out_len batches...
  local f="$1" in="$2" out="$3"; shift 3
  python3 - "$f" "$in" "$out" "$@" <<'EOF'
import sys
f, lin, lout, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(b) for b in sys.argv[4:]]
lines = open(f).read().splitlines()
hdr = [i for i, l in enumerate(lines) if l.split()[:2] == ["batch", "in_len"]]
assert len(hdr) == 1, "one header line"
rows = [l.split() for l in lines[hdr[0] + 1:] if l.strip()]
assert [int(r[0]) for r in rows] == want, rows
for r in rows:
    assert len(r) == 6 and int(r[1]) == lin and int(r[2]) == lout, r
    assert all(float(v) > 0 for v in r[3:]), r
EOF
}

ok "$bin" bench --model "$fix/tiny-v2-lite" --backend cpu --batch 1,3 --input-len 9 --output-len 4 --step-tokens 16 \
  --page-size 4 >"$tmp/a.out" 2>"$tmp/a.err"
ok grep -q "a decode token reads .* GB of weights" "$tmp/a.out"
ok rows_ok "$tmp/a.out" 9 4 1 3
ok "$bin" bench --model "$fix/tiny-v3-fp8" --backend cpu --w8a8 --batch 2 --input-len 5 --output-len 2 --warmup 0 \
  >"$tmp/b.out" 2>"$tmp/b.err"
ok grep -q "(w8a8)" "$tmp/b.out"
ok rows_ok "$tmp/b.out" 5 2 2
ok "$bin" bench --model "$fix/tiny-v3" --backend cpu --batch 2,1 --input-len 3 --output-len 1 --warmup 2 \
  >"$tmp/c.out" 2>"$tmp/c.err"
ok rows_ok "$tmp/c.out" 3 1 2 1

# errors: nonzero exit, one line on stderr starting with "latte: "
err_case bench "--model is required" --batch 1
err_case bench "--batch sizes must be 1..65536 (got 0)" --model "$fix/tiny-v3" --batch 1,0
err_case bench "--warmup: .-1. is not an integer in \[0, 100\]" --model "$fix/tiny-v3" --warmup -1
err_case bench "unknown option '--bogus'" --model "$fix/tiny-v3" --bogus
err_case bench "no-such-model/config.json: cannot open" --model "$tmp/no-such-model"

echo "cli_bench: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
