#!/bin/sh
# traces-cli.sh: end-to-end tests of `fleetsim trace stats|gen|convert`, as TAP.
#
# Runs the tool the way a user does: the documented facts of the shared traces
# (skipped when ../shared/data is absent), exit status 2 with file:line for bad
# input, --skip-bad-rows with its count, convert and gen round trips through the
# fleetsim CSV, transforms on the command line, reading standard input.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
data="$srcdir/tests/data"
shared="$srcdir/../shared/data/traces"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# run STATUS DESCRIPTION ARGS...: the exit status must be STATUS; output in $tmp/out, err
run() {
    want=$1 d=$2; shift 2
    "$FLEETSIM" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq "$want" ]; then ok "$d"; else
        echo "exit $rc, wanted $want" >>"$tmp/err"; not_ok "$d" "$tmp/err"; fi
}
# has DESCRIPTION FILE TEXT: FILE contains TEXT
has() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else echo "lacks: $3" >>"$2"; not_ok "$1" "$2"; fi
}

# --- the command line ---
run 0 "trace --help" trace --help
run 2 "trace without an action" trace
run 2 "trace with an unknown action" trace frobnicate x
run 2 "stats without a file" trace stats
run 2 "stats --format rejects unknown formats" trace stats --format parquet "$data/trace-csv.csv"

# --- the documented facts of the shared traces ---
if [ -r "$shared/azure2023_AzureLLMInferenceTrace_conv.csv" ]; then
    run 0 "stats of the Azure 2023 conversation trace" trace stats \
        "$shared/azure2023_AzureLLMInferenceTrace_conv.csv"
    has "... 19,366 rows" "$tmp/out" "rows              19366"
    has "... mean input 1154.7" "$tmp/out" "mean 1154.7,"
    has "... mean output 211.1" "$tmp/out" "mean 211.1,"
    has "... 58.4 minutes" "$tmp/out" "(58.4 min)"
    run 0 "stats --json" trace stats --json "$shared/azure2023_AzureLLMInferenceTrace_conv.csv"
    has "... JSON rows" "$tmp/out" '"rows": 19366'
else
    for d in "Azure 2023 stats" rows input output span json json-rows; do
        skip "$d" "../shared/data is not beside the source tree"; done
fi
if [ -r "$shared/mooncake_synthetic_trace.jsonl" ]; then
    run 0 "stats of the Mooncake synthetic trace" trace stats "$shared/mooncake_synthetic_trace.jsonl"
    has "... 3,993 rows" "$tmp/out" "rows              3993"
    has "... 65.1 % served by an unlimited prefix cache" "$tmp/out" "prefix cache      65.1 %"
else
    for d in "Mooncake stats" rows prefix; do skip "$d" "../shared/data is absent"; done
fi

# --- bad input: exit 2 with file:line, or skipped and counted ---
printf 'arrival_s,input_tokens,output_tokens\n1,10,2\n2,ten,2\n3,10,2\n' >"$tmp/bad.csv"
run 2 "a bad row stops the read (exit 2)" trace stats "$tmp/bad.csv"
has "... naming file and line" "$tmp/err" "bad.csv:3: expected a token count"
run 0 "--skip-bad-rows reads on" trace stats --skip-bad-rows "$tmp/bad.csv"
has "... and reports the count" "$tmp/err" "skipped 1 bad row (first: $tmp/bad.csv:3:"
has "... of the good rows" "$tmp/out" "rows              2"
printf 'when,what\n1,2\n' >"$tmp/unknown.csv"
run 2 "an unknown format" trace stats "$tmp/unknown.csv"
has "... says which formats it knows" "$tmp/err" "unknown.csv:1: unknown trace format"
run 2 "an empty file" trace stats "$data/trace-empty.csv"
run 2 "a missing file" trace convert "$tmp/nope.csv"

# --- convert: any format to fleetsim CSV, with transforms ---
run 0 "convert Azure to CSV" trace convert -o "$tmp/az.csv" "$data/azure-good.csv"
has "... with the CSV header" "$tmp/az.csv" "arrival_s,input_tokens,output_tokens,session,class,priority"
has "... exact times" "$tmp/az.csv" "20653.319409900,2,3,0,0,0"
run 0 "the converted file reads back" trace stats "$tmp/az.csv"
has "... with every row" "$tmp/out" "rows              5"
run 0 "convert BurstGPT with a model filter" trace convert --model GPT-4 --zeros one \
    "$data/trace-burstgpt-v1.csv"
has "... keeps that model" "$tmp/out" "46.000000000,200,1,0,0,0"
run 0 "convert --speed 2 --requests 2" trace convert --speed 2 --requests 2 "$data/trace-burstgpt-v1.csv"
if [ "$(wc -l <"$tmp/out")" -eq 3 ] && grep -q '^22.500000000,1087,230' "$tmp/out"; then
    ok "... halves the times and stops after 2"; else not_ok "... halves the times" "$tmp/out"; fi
run 0 "convert Mooncake keeps its segments" trace convert "$data/trace-mooncake.jsonl"
has "... in the segments column" "$tmp/out" "output_content,segments"
cat "$data/trace-csv.csv" | "$FLEETSIM" trace stats - >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 0 ] && grep -q "rows              4" "$tmp/out"; then ok "stats reads standard input"
else not_ok "stats reads standard input" "$tmp/err"; fi

# --- gen: a spec's workload as a CSV trace ---
cat >"$tmp/spec.yaml" <<'YAML'
seed: 5
workload:
  requests: 200
  arrival: {process: gamma, rate: 10, cv: 3}
  shared_prefix: {tokens: 300, groups: 4}
  input: {dist: lognormal, mean: 200, sd: 100}
  output: 50
  session: {turns: 3, think: 2s}
YAML
run 0 "gen writes a workload" trace gen -o "$tmp/g1.csv" "$tmp/spec.yaml"
"$FLEETSIM" trace gen -o "$tmp/g2.csv" "$tmp/spec.yaml" 2>/dev/null
if cmp -s "$tmp/g1.csv" "$tmp/g2.csv"; then ok "... the same bytes twice"; else not_ok "... the same bytes twice"; fi
"$FLEETSIM" trace gen --seed 6 -o "$tmp/g3.csv" "$tmp/spec.yaml" 2>/dev/null
if cmp -s "$tmp/g1.csv" "$tmp/g3.csv"; then not_ok "... another seed, other bytes"; else ok "... another seed, other bytes"; fi
run 0 "the generated trace reads back" trace stats "$tmp/g1.csv"
has "... all 200 requests" "$tmp/out" "rows              200"
has "... with its prefix sharing" "$tmp/out" "prefix cache"
run 0 "gen takes a scenario file" trace gen --requests 10 "$srcdir/scenarios/quickstart.yaml"
if [ "$(wc -l <"$tmp/out")" -eq 11 ]; then ok "... and --requests"; else not_ok "... and --requests" "$tmp/out"; fi
printf 'workload:\n  requests: 5\n  arrival: {process: poisson}\n  input: 1\n  output: 1\n' >"$tmp/bad.yaml"
run 2 "gen rejects a bad spec" trace gen "$tmp/bad.yaml"
has "... with its position" "$tmp/err" "bad.yaml:3:12: arrival needs a rate"

echo "1..$n"
