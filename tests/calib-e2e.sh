#!/bin/sh
# calib-e2e.sh: end-to-end tests of `fleetsim calibrate`, `fleetsim validate` and
# `fleetsim run --replications`, as TAP.
#
# Calibrates from the project's own fixtures (a step-time CSV and per-request
# timings, tests/data/calib-*), checks that the fit file it writes is what scenarios
# and validate read, that validate exits 0 within tolerance, 1 beyond it and 2 on a
# bad case, and that a seed sweep prints intervals. The shared-data suite
# (tests/validation) is exercised only when ../shared/data is present.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
srcabs=$(cd "$srcdir" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
expect() { # expect DESCRIPTION STATUS COMMAND...: passes when the command exits STATUS
    d=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq "$want" ]; then ok "$d"; else echo "# exit $rc" >>"$tmp/out"; not_ok "$d" "$tmp/out"; fi
}
has() { # has DESCRIPTION TEXT: passes when the last command's output holds TEXT
    if grep -q -- "$2" "$tmp/out"; then ok "$1"; else not_ok "$1" "$tmp/out"; fi
}

expect "calibrate --help" 0 "$FLEETSIM" calibrate --help
expect "validate --help" 0 "$FLEETSIM" validate --help
expect "calibrate without input" 2 "$FLEETSIM" calibrate
expect "calibrate bad --free" 2 "$FLEETSIM" calibrate --steps "$srcdir/tests/data/calib-steps.csv" --free lin_flops,nope
has "names the bad coefficient" "unknown coefficient 'nope'"

# --- from the step-time CSV ---
expect "calibrate --steps" 0 "$FLEETSIM" calibrate --steps "$srcdir/tests/data/calib-steps.csv" -o "$tmp/steps.yaml"
has "reports held-out rows" "A100-80GB llama-3.1-8b tp1 scaled"
expect "step with the fitted model" 0 "$FLEETSIM" step --accelerator A100-80GB --model llama-3.1-8b --latency fitted --decode 8 --context 100
cat >"$tmp/case.yaml" <<CASE
name: steps-fixture
kind: steps
data: $srcabs/tests/data/calib-steps.csv
latency_model: fitted
latency_params: $tmp/steps.yaml
rows: all
tolerance: {step_time: 3}
CASE
expect "validate within tolerance" 0 "$FLEETSIM" validate "$tmp/case.yaml"
has "prints the summary table" "| steps-fixture | fitted | step_time |"
sed 's/step_time: 3/step_time: 0.0001/' "$tmp/case.yaml" >"$tmp/tight.yaml"
expect "validate beyond tolerance exits 1" 1 "$FLEETSIM" validate "$tmp/tight.yaml"
has "marks the failure" "FAIL"
expect "validate --json" 0 "$FLEETSIM" validate --json "$tmp/case.yaml"
has "json has cases" '"cases"'
printf 'name: bad\nkind: magic\ndata: x\n' >"$tmp/bad.yaml"
expect "validate bad case exits 2" 2 "$FLEETSIM" validate "$tmp/bad.yaml"
has "bad case names file:line" "bad.yaml:1:1: expected kind"

# --- a scenario names the fit file ---
sed -e "s|^latency_model:.*||" "$srcdir/scenarios/quickstart.yaml" >"$tmp/sc.yaml"
sed -i -e 's/^accelerator: H100-SXM/accelerator: A100-80GB/' "$tmp/sc.yaml"
printf 'latency_model: fitted\nlatency_params: steps.yaml\n' >>"$tmp/sc.yaml"
expect "run with latency_params" 0 "$FLEETSIM" run --no-db --requests 50 "$tmp/sc.yaml"
has "runs the fitted model" "latency model fitted"
cp "$tmp/out" "$tmp/with-params"
sed -e '/^latency_params:/d' "$tmp/sc.yaml" >"$tmp/sc-bundled.yaml"
"$FLEETSIM" run --no-db --requests 50 "$tmp/sc-bundled.yaml" >"$tmp/bundled" 2>&1
if ! cmp -s "$tmp/with-params" "$tmp/bundled"; then ok "latency_params changes the prediction"; else not_ok "latency_params changes the prediction" "$tmp/bundled"; fi
printf 'latency_params: nowhere.yaml\n' >>"$tmp/sc.yaml"
sed -i -e '/^latency_params: steps.yaml/d' "$tmp/sc.yaml"
expect "missing fit file exits 2" 2 "$FLEETSIM" run --no-db "$tmp/sc.yaml"
has "names the key" "cannot open latency_params"

# --- from per-request timings ---
expect "calibrate --requests" 0 "$FLEETSIM" calibrate --requests "$srcdir/tests/data/calib-bench-requests.jsonl" --accelerator A100-80GB --model llama-3.1-8b --max-num-seqs 128 --max-num-batched-tokens 2048 --num-gpu-blocks 20000 -o "$tmp/req.yaml"
has "reports TTFT and TPOT" "tp1 scaled: TPOT"

# --- seed sweeps ---
expect "run --replications" 0 "$FLEETSIM" run --no-db --replications 3 --requests 100 "$srcdir/scenarios/quickstart.yaml"
has "prints intervals" "ttft p90"
expect "run --replications 0" 2 "$FLEETSIM" run --no-db --replications 0 "$srcdir/scenarios/quickstart.yaml"

# --- the shared-data suite ---
if [ -d "$srcdir/../shared/data/calibration" ]; then
    expect "validation suite" 0 "$FLEETSIM" validate "$srcdir/tests/validation"
else
    skip "validation suite" "../shared/data is absent"
fi

echo "1..$n"
