# sh_lib.sh — sourced by tests/cli_bench.sh and tests/cli_init_model.sh (after they set $bin): a fresh work
# directory $tmp, the pass / fail tally (ok CMD...: counts CMD's success) and one bad-argument case (err_case).
#   . "$here/sh_lib.sh" NAME        → tmp = ${LATTE_TMP:-/tmp}/NAME.d, emptied
tmp="${LATTE_TMP:-/tmp}/$1.d"
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*" >&2; fi; }
rm -rf "$tmp" && mkdir -p "$tmp"

# err_case SUBCOMMAND EXPECTED ARGS...: `latte SUBCOMMAND ARGS...` exits nonzero with one line on stderr that starts
# with "latte: " and contains EXPECTED (a grep pattern)
err_case() {
  local cmd="$1" want="$2"; shift 2
  "$bin" "$cmd" "$@" >/dev/null 2>"$tmp/err"; local rc=$?
  ok test "$rc" -ne 0
  ok test "$(wc -l <"$tmp/err")" -eq 1
  ok grep -q "^latte: .*$want" "$tmp/err"
}
