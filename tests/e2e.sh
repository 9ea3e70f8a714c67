#!/bin/sh
# e2e.sh: end-to-end tests of the fleetsim tool, as TAP.
#
# Runs the binary the way a user does: the quick-start scenario against its golden
# summary (text and JSON), byte-identical reruns, every bundled scenario, every bad
# scenario in tests/bad-scenarios (each names the message it expects on its first line
# as "# expect: TEXT"), and the command-line surface (help, usage errors, step).
# Set UPDATE_GOLDEN=1 to rewrite the golden files after an intended change.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
FLEETSIM_DB="$tmp/fleetsim.db"   # runs store their results here, not in the tree
export FLEETSIM_DB

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check DESCRIPTION COMMAND...: passes when the command exits 0
    d=$1; shift
    if "$@" >"$tmp/out" 2>&1; then ok "$d"; else not_ok "$d" "$tmp/out"; fi
}

# --- golden summaries of the quick start ---
golden() { # golden NAME ARGS...: compare stdout with tests/golden/NAME
    name=$1; shift
    "$FLEETSIM" "$@" >"$tmp/$name" 2>"$tmp/$name.err"
    rc=$?
    if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then cp "$tmp/$name" "$srcdir/tests/golden/$name"; fi
    if [ $rc -eq 0 ] && cmp -s "$tmp/$name" "$srcdir/tests/golden/$name"; then
        ok "golden $name"
    else
        diff -u "$srcdir/tests/golden/$name" "$tmp/$name" >"$tmp/diff" 2>&1
        cat "$tmp/$name.err" >>"$tmp/diff"
        not_ok "golden $name (exit $rc)" "$tmp/diff"
    fi
}
golden quickstart.txt run "$srcdir/scenarios/quickstart.yaml"
golden quickstart.json run --json "$srcdir/scenarios/quickstart.yaml"

# --- same scenario and seed, same bytes; another seed, other bytes ---
"$FLEETSIM" run "$srcdir/scenarios/chat.yaml" --requests 300 >"$tmp/a" 2>&1
"$FLEETSIM" run "$srcdir/scenarios/chat.yaml" --requests 300 >"$tmp/b" 2>&1
check "same scenario and seed give identical bytes" cmp "$tmp/a" "$tmp/b"
"$FLEETSIM" run "$srcdir/scenarios/chat.yaml" --requests 300 --seed 8 >"$tmp/c" 2>&1
if cmp -s "$tmp/a" "$tmp/c"; then not_ok "another seed gives another result"; else ok "another seed gives another result"; fi

# --- every bundled scenario runs (shortened) ---
for s in "$srcdir"/scenarios/*.yaml; do
    name=$(basename "$s" .yaml)
    if grep -q 'shared/data' "$s" && [ ! -d "$srcdir/../shared/data" ]; then
        skip "scenario $name" "../shared/data is not beside the source tree"
        continue
    fi
    check "scenario $name runs" "$FLEETSIM" run --requests 300 "$s"
done

# --- bad scenarios: exit 2, a positioned message, nothing on stdout ---
for s in "$srcdir"/tests/bad-scenarios/*.yaml; do
    name=$(basename "$s")
    expect=$(sed -n '1s/^# expect: //p' "$s")
    "$FLEETSIM" run "$s" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && grep -qF -- "$expect" "$tmp/err"; then
        ok "bad scenario $name: exit 2 with '$expect'"
    else
        echo "exit status $rc; expected 2 and: $expect" >>"$tmp/err"
        not_ok "bad scenario $name" "$tmp/err"
    fi
done

# --- command line ---
expect_status() { # expect_status STATUS DESCRIPTION ARGS...
    want=$1 d=$2; shift 2
    "$FLEETSIM" "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq "$want" ]; then ok "$d"; else echo "exit $rc, wanted $want" >>"$tmp/out"; not_ok "$d" "$tmp/out"; fi
}
expect_status 0 "fleetsim --help" --help
expect_status 2 "no command is a usage error"
expect_status 2 "unknown command is a usage error" frobnicate
expect_status 0 "run --help" run --help
expect_status 2 "run without a scenario is a usage error" run
expect_status 2 "run with a missing scenario file" run "$tmp/nope.yaml"
expect_status 2 "run --requests rejects a non-number" run --requests x "$srcdir/scenarios/quickstart.yaml"
expect_status 0 "step prints a decode step" step --accelerator H100-SXM --model llama-3.1-8b --decode 64 --context 1024
if grep -qi 'memory' "$tmp/out" && grep -qi 'compute' "$tmp/out"; then ok "step shows its breakdown"; else not_ok "step shows its breakdown" "$tmp/out"; fi
expect_status 2 "step with an unknown accelerator" step --accelerator H900 --model llama-3.1-8b --prefill 10
expect_status 0 "bench runs" bench --runs 1 --requests 200 "$srcdir/scenarios/quickstart.yaml"
expect_status 2 "replay with a missing --scenario file, before sending anything" \
    replay "$srcdir/tests/data/router-trace-azure.csv" --target http://127.0.0.1:9 \
    --scenario "$tmp/nope.yaml"
if grep -q 'nope.yaml' "$tmp/out"; then ok "replay names the missing scenario"
else not_ok "replay names the missing scenario" "$tmp/out"; fi
expect_status 2 "replay with an empty --tag" replay "$srcdir/tests/data/router-trace-azure.csv" \
    --target http://127.0.0.1:9 --tag ''

# SLO check: the long-context scenario with an impossible TTFT target fails the check.
sed 's/ttft: 3s/ttft: 1ms/' "$srcdir/scenarios/long-context.yaml" >"$tmp/strict.yaml"
expect_status 1 "run --check exits 1 when an SLO is missed" run --check --requests 100 "$tmp/strict.yaml"

echo "1..$n"
