#!/bin/sh
# plan-trace.sh: end-to-end tests of `fleetsim plan` over a trace, as TAP.
#
# A known answer: a fleetsim CSV trace written by `fleetsim trace gen` with fixed
# lengths and near-regular arrivals at 0.9 times one replica's service rate 1/S (one
# request at a time per replica, round-robin; S measured by a one-request run, as in
# plan.sh). At growth G its rate is G x its mean rate B (requests / span, what `trace
# stats` prints), which needs ceil(G x B x S) replicas: 1 at 1x, 3 at 3x; a target
# rate of 1.5/S needs 2. The highest rate one replica sustains is about 1/S, reported
# both in req/s and as a multiple of B (about 1/(0.9 x 1.003)). --growth equals the
# equivalent --rate, the cap of --requests changes the measured rate, a scenario's own
# trace workload (with a rate: transform) is scaled through that transform, every
# reader format runs, the scorecard takes a trace class, and bad input (growth, trace
# path, too short a trace, a bad row, set: fields of a generator) exits 2 with a
# message and nothing on stdout.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
quick=$(cd "$srcdir/scenarios" && pwd)/quickstart.yaml
data=$(cd "$srcdir/tests/data" && pwd)
shared="$srcdir/../shared/data/traces"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
has() { # has DESCRIPTION FILE TEXT: passes when FILE contains TEXT
    if grep -qF -- "$3" "$2"; then ok "$1"; else echo "expected: $3" >>"$2"; not_ok "$1" "$2"; fi
}
status() { # status DESCRIPTION WANT COMMAND...: passes when the command exits WANT
    d=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    cat "$tmp/err" >>"$tmp/out"
    if [ "$got" = "$want" ]; then ok "$d"; else echo "exit $got" >>"$tmp/out"; not_ok "$d" "$tmp/out"; fi
}
bad() { # bad DESCRIPTION MESSAGE COMMAND...: exits 2, says MESSAGE, prints nothing on stdout
    d=$1; msg=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" = 2 ] && [ ! -s "$tmp/out" ] && grep -qF -- "$msg" "$tmp/err"; then ok "$d"
    else { echo "exit $got, expected 2 and: $msg"; cat "$tmp/out" "$tmp/err"; } >"$tmp/why"
         not_ok "$d" "$tmp/why"; fi
}
num() { # num FILE KEY: the first number after "KEY": in a JSON file
    tr -d ' \n' <"$1" | sed "s/.*\"$2\":\([0-9.e+-]*\).*/\1/"
}
near() { # near DESCRIPTION GOT WANT RELTOL
    if awk -v g="$2" -v w="$3" -v t="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(w > 0 && d <= t * w) }'
    then ok "$1 ($2 vs $3)"; else echo "got $2, want $3 within $4" >"$tmp/why"; not_ok "$1" "$tmp/why"; fi
}
replicas() { # replicas FILE: the replica count of the first configuration of a plan's text
    awk '$1 == "1" && $2 == "*" { print $7; exit }' "$1"
}

# --- the trace: fixed lengths, gamma arrivals with CV 0.01 at 0.9 / S ---
S=$("$FLEETSIM" run --no-db --json --requests 1 --set workload.input=500 --set workload.output=100 \
    --set engine.max_num_seqs=1 "$quick" | tr -d ' \n' |
    sed 's/.*"e2e_s":{"n":1,"mean":\([0-9.e-]*\).*/\1/')
r0=$(awk -v s="$S" 'BEGIN { printf "%.6f", 0.9 / s }')
cat >"$tmp/w.yaml" <<EOS
requests: 300
arrival: {process: gamma, rate: $r0, cv: 0.01}
input: 500
output: 100
EOS
status "trace gen writes the trace" 0 "$FLEETSIM" trace gen --seed 7 -o "$tmp/t.csv" "$tmp/w.yaml"
"$FLEETSIM" trace stats --json "$tmp/t.csv" >"$tmp/stats.json" 2>&1
B=$(num "$tmp/stats.json" mean_rate)
cat >"$tmp/k.yaml" <<EOS
name: known-trace
scenario: $quick
trace: t.csv
growth: 1
requests: 300
set: {engine.max_num_seqs: 1, slo.ttft: ${S}s, slo.tpot: 1s}
accelerators: [H100-SXM]
routers: [round-robin]
max_replicas: 16
EOS

for g in 1:1 3:3; do
    G=${g%:*} hand=${g#*:}
    want=$(awk -v g="$G" -v b="$B" -v s="$S" 'BEGIN { x = g * b * s; c = int(x); if (c < x) c++; print c }')
    if [ "$want" != "$hand" ]; then
        echo "ceil($G x $B x $S) = $want" >"$tmp/why"; not_ok "growth $G: the need computed from the trace is $hand" "$tmp/why"
    fi
    "$FLEETSIM" plan --no-max-rate --growth "$G" "$tmp/k.yaml" >"$tmp/g$G.txt" 2>&1
    got=$(replicas "$tmp/g$G.txt")
    if [ "$got" = "$want" ]; then ok "growth $G of the trace needs $want replicas"
    else not_ok "growth $G of the trace needs $want replicas (got '$got')" "$tmp/g$G.txt"; fi
done
has "the header gives the rate and the growth over the trace's" "$tmp/g3.txt" "(3x the trace's"

rate=$(awk -v s="$S" 'BEGIN { printf "%.6f", 1.5 / s }')
"$FLEETSIM" plan --no-max-rate --rate "$rate" "$tmp/k.yaml" >"$tmp/r.txt" 2>&1
got=$(replicas "$tmp/r.txt")
if [ "$got" = 2 ]; then ok "a target of 1.5 / S req/s on the trace needs 2 replicas"
else not_ok "a target of 1.5 / S req/s on the trace needs 2 replicas (got '$got')" "$tmp/r.txt"; fi

R3=$(awk -v b="$B" 'BEGIN { printf "%.17g", 3 * b }')
"$FLEETSIM" plan --no-max-rate --rate "$R3" "$tmp/k.yaml" >"$tmp/r3.txt" 2>&1
if cmp -s "$tmp/r3.txt" "$tmp/g3.txt"; then ok "--growth 3 equals --rate 3 x the trace's rate"
else diff "$tmp/g3.txt" "$tmp/r3.txt" >"$tmp/why"; not_ok "--growth 3 equals --rate 3 x the trace's rate" "$tmp/why"; fi

# --- the highest sustainable rate, in req/s and as a growth factor ---
status "plan --json over the trace runs" 0 "$FLEETSIM" plan --json "$tmp/k.yaml"
cp "$tmp/out" "$tmp/k.json"
near "the plan measures the trace's rate as trace stats does" "$(num "$tmp/k.json" workload_rate_rps)" "$B" 0.00001
near "one replica sustains about 1 / S req/s" "$(num "$tmp/k.json" max_rate_rps)" \
    "$(awk -v s="$S" 'BEGIN { print 1 / s }')" 0.04
near "and the same as a growth factor over the trace" "$(num "$tmp/k.json" max_growth)" \
    "$(awk -v r="$(num "$tmp/k.json" max_rate_rps)" -v b="$B" 'BEGIN { print r / b }')" 0.00002
has "the trace is named in the JSON" "$tmp/k.json" "\"trace\": \"$tmp/t.csv\""
"$FLEETSIM" plan "$tmp/k.yaml" >"$tmp/kmax.txt" 2>&1
has "the text table has the max x column" "$tmp/kmax.txt" "max x"

# --- --requests caps the replay, and the rate is measured on what is replayed ---
"$FLEETSIM" trace stats --json --requests 100 "$tmp/t.csv" >"$tmp/s100.json" 2>&1
"$FLEETSIM" plan --no-max-rate --json --requests 100 "$tmp/k.yaml" >"$tmp/k100.json" 2>&1
near "--requests 100: the rate of the first 100 requests" "$(num "$tmp/k100.json" workload_rate_rps)" \
    "$(num "$tmp/s100.json" mean_rate)" 0.00001

# --- a scenario whose own workload is a trace with a rate: transform: growth scales
# that transform (speed: and rate: exclude each other) ---
sed -e '/^workload:/,/^slo:/{/^slo:/!d;}' -e "s|^slo:|workload:\n  trace: {path: $tmp/t.csv}\n  transforms: {rate: 2}\nslo:|" \
    "$quick" >"$tmp/own.yaml"
cat >"$tmp/own-plan.yaml" <<EOS
name: own
scenario: own.yaml
growth: 1.5
requests: 200
accelerators: [H100-SXM]
max_replicas: 8
EOS
status "a plan over the scenario's own trace runs" 0 "$FLEETSIM" plan --json "$tmp/own-plan.yaml"
cp "$tmp/out" "$tmp/own.json"
near "growth 1.5 of the trace as the scenario replays it (rate: 2, first 200)" \
    "$(num "$tmp/own.json" target_rate_rps)" "$(awk -v b="$(num "$tmp/own.json" workload_rate_rps)" 'BEGIN { print 1.5 * b }')" 0.00001
"$FLEETSIM" trace stats --json --rate 2 --requests 200 "$tmp/t.csv" >"$tmp/s2.json" 2>&1
near "which is what trace stats --rate 2 --requests 200 measures" \
    "$(num "$tmp/own.json" workload_rate_rps)" "$(num "$tmp/s2.json" mean_rate)" 0.00001

# --- every reader format (sniffed) ---
for f in trace-csv.csv trace-burstgpt-v2.csv trace-mooncake.jsonl azure-2024-offset.csv; do
    status "plan --trace $f (format sniffed) runs" 0 "$FLEETSIM" plan --no-max-rate --growth 2 \
        --trace "$data/$f" "$tmp/k.yaml"
done
if [ -f "$shared/azure2023_AzureLLMInferenceTrace_conv.csv" ]; then
    status "the Azure 2023 conversation trace at 2x, first 300 requests" 0 "$FLEETSIM" plan --growth 2 \
        --requests 300 --trace "$shared/azure2023_AzureLLMInferenceTrace_conv.csv" "$tmp/k.yaml"
else
    skip "the Azure 2023 conversation trace at 2x" "../shared/data is not beside the source tree"
fi

# --- the scorecard takes a class whose workload is a trace ---
status "scorecard with a trace class runs" 0 "$FLEETSIM" scorecard --class "replay=$tmp/own.yaml" \
    --accelerators H100-SXM --requests 100 --max-replicas 4
"$FLEETSIM" trace stats --json --rate 2 --requests 100 "$tmp/t.csv" >"$tmp/s3.json" 2>&1
has "and reports it at the trace's rate as replayed" "$tmp/out" \
    "### replay (own.yaml, $(awk -v r="$(num "$tmp/s3.json" mean_rate)" 'BEGIN { printf "%.4g", r }') req/s)"

# --- bad input ---
for g in 0 -2 abc inf; do
    bad "--growth $g exits 2" "--growth expects a positive number" "$FLEETSIM" plan --growth "$g" "$tmp/k.yaml"
done
sed 's/^growth: 1$/growth: 0/' "$tmp/k.yaml" >"$tmp/g0.yaml"
bad "growth: 0 in the spec exits 2, naming file:line" "g0.yaml:4:9: expected a number" "$FLEETSIM" plan "$tmp/g0.yaml"
sed 's/^growth: 1$/growth: 2\nrate: 3/' "$tmp/k.yaml" >"$tmp/both.yaml"
bad "rate: and growth: together exit 2" "not both" "$FLEETSIM" plan "$tmp/both.yaml"
bad "a missing --trace exits 2" "trace '$tmp/none.csv': No such file or directory" \
    "$FLEETSIM" plan --trace "$tmp/none.csv" "$tmp/k.yaml"
bad "a directory as --trace exits 2" "Is a directory" "$FLEETSIM" plan --trace "$tmp" "$tmp/k.yaml"
sed 's/^trace: t.csv$/trace: none.csv/' "$tmp/k.yaml" >"$tmp/nt.yaml"
bad "a missing trace: in the spec exits 2, naming file:line" "nt.yaml:3:8: trace 'none.csv'" \
    "$FLEETSIM" plan "$tmp/nt.yaml"
head -2 "$tmp/t.csv" >"$tmp/one.csv"
bad "a trace of one request exits 2" "1 request over 0 s as replayed: expected at least 2" \
    "$FLEETSIM" plan --trace "$tmp/one.csv" "$tmp/k.yaml"
bad "a bad row exits 2, naming file:line" "azure-badnumber.csv:4: expected an integer" \
    "$FLEETSIM" plan --trace "$data/azure-badnumber.csv" "$tmp/k.yaml"
sed 's/^set: {/set: {workload.requests: 100, /' "$tmp/k.yaml" >"$tmp/gen.yaml"
bad "a generator field in set: with a trace exits 2" "set: workload.requests: the trace replaces" \
    "$FLEETSIM" plan "$tmp/gen.yaml"

echo "1..$n"
