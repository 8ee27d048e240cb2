#!/usr/bin/env bash
# cli_init_model.sh — `latte init-model`: the tiny preset (bf16, --fp8, --layers 1, sharded) gives
# checkpoints whose tensors match their config.json (tests/check_checkpoint.py), the same seed gives
# the same bytes at any thread count, and bad arguments fail with one "latte: " line.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bin="${LATTE_BIN:?LATTE_BIN must name the latte binary}"
. "$here/sh_lib.sh" cli_init_model  # tmp, ok, err_case
check="python3 $here/check_checkpoint.py"

# the checker agrees with the Hugging Face-written fixtures (so its expectations are the real layout)
for f in tiny-v3 tiny-v3-fp8 tiny-v2-lite; do ok $check "${LATTE_FIXTURES:-$here/fixtures}/$f"; done
ok $check "${LATTE_FIXTURES:-$here/fixtures}/tiny-v3-fp8" --fp8 --layers 3 --shards 1
# ... and catches a wrong expectation
ok test "$($check "${LATTE_FIXTURES:-$here/fixtures}/tiny-v3" --fp8 2>&1 >/dev/null | grep -c 'FAIL')" = 1

ok "$bin" init-model --preset tiny --out "$tmp/tiny"
ok $check "$tmp/tiny" --no-fp8 --layers 2 --shards 1 --vocab 129280 --values
ok grep -q '"model_type": "deepseek_v3"' "$tmp/tiny/config.json"
ok test -s "$tmp/tiny/tokenizer.json"
ok test -s "$tmp/tiny/tokenizer_config.json"

ok "$bin" init-model --preset tiny --fp8 --seed 7 --out "$tmp/tiny-fp8"
ok $check "$tmp/tiny-fp8" --fp8 --layers 2 --values
ok grep -q '"weight_block_size": \[128, 128\]' "$tmp/tiny-fp8/config.json"

ok "$bin" init-model --preset tiny --layers 1 --out "$tmp/tiny-1"
ok $check "$tmp/tiny-1" --layers 1
ok grep -q '"first_k_dense_replace": 1' "$tmp/tiny-1/config.json"
ok test "$(grep -c 'experts' "$tmp/tiny-1/model.safetensors")" = 0   # layer 0 is the dense one

# sharded: model-0000N-of-0000M.safetensors + index
ok "$bin" init-model --preset tiny --max-shard-size 20000000 --out "$tmp/tiny-sharded"
ok test -f "$tmp/tiny-sharded/model.safetensors.index.json"
ok test -f "$tmp/tiny-sharded/model-00001-of-00003.safetensors"
ok $check "$tmp/tiny-sharded" --shards 3 --values
# deterministic: same seed => same bytes, whatever the thread count; another seed differs
ok env OMP_NUM_THREADS=1 "$bin" init-model --preset tiny --fp8 --seed 7 --out "$tmp/tiny-fp8-t1"
ok cmp -s "$tmp/tiny-fp8/model.safetensors" "$tmp/tiny-fp8-t1/model.safetensors"
ok cmp -s "$tmp/tiny-fp8/config.json" "$tmp/tiny-fp8-t1/config.json"
ok "$bin" init-model --preset tiny --fp8 --seed 8 --out "$tmp/tiny-fp8-s8"
ok test "$(cmp "$tmp/tiny-fp8/model.safetensors" "$tmp/tiny-fp8-s8/model.safetensors" >/dev/null 2>&1; echo $?)" = 1

# errors: nonzero exit, one line on stderr starting with "latte: "
err_case init-model "unknown preset 'huge'" --preset huge --out "$tmp/x"
err_case init-model "--out DIR is required" --preset tiny
err_case init-model "--preset is required" --out "$tmp/x"
err_case init-model "--layers must be" --preset tiny --layers 0 --out "$tmp/x"
err_case init-model "--seed must be" --preset tiny --seed abc --out "$tmp/x"
err_case init-model "unknown option '--bogus'" --preset tiny --bogus --out "$tmp/x"
err_case init-model "--out needs a value" --preset tiny --out
err_case init-model "cannot create directory" --preset tiny --out /proc/latte-no/x
ok "$bin" init-model --help >"$tmp/help"
ok grep -q "usage: latte init-model" "$tmp/help"

echo "$pass passed, $fail failed"
rm -rf "$tmp"
test "$fail" -eq 0
