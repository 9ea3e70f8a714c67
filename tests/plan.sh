#!/bin/sh
# plan.sh: end-to-end tests of `fleetsim plan`, as TAP.
#
# A case with a hand-computed answer (below: a rate of x times one replica's service
# rate needs ceil(x) replicas) for three loads.
# At 60 req/s of the quick start's chat traffic (300 requests a run), the replica
# count plan finds by bisection is the boundary: `run --check` passes with it and
# fails with one replica fewer (checked for two accelerators). An SLO no fleet can meet
# exits 1 under --check and says so; accelerators capped by `available:` are reported
# infeasible; --growth equals the equivalent --rate; routers can be built-in policies
# or EndpointPickerConfig files; bad specs exit 2.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
quick=$(cd "$srcdir/scenarios" && pwd)/quickstart.yaml

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
has() { # has DESCRIPTION FILE TEXT: passes when FILE contains TEXT
    if grep -qF -- "$3" "$2"; then ok "$1"; else echo "expected: $3" >>"$2"; not_ok "$1" "$2"; fi
}
status() { # status DESCRIPTION WANT COMMAND...: passes when the command exits WANT
    d=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>&1; got=$?
    if [ "$got" = "$want" ]; then ok "$d"; else echo "exit $got" >>"$tmp/out"; not_ok "$d" "$tmp/out"; fi
}

cat >"$tmp/p.yaml" <<EOS
name: t
scenario: $quick
rate: 60
set: {workload.requests: 300}
accelerators: [H100-SXM, L40S]
max_replicas: 16
EOS
status "plan runs" 0 "$FLEETSIM" plan --no-max-rate --json "$tmp/p.yaml"
cp "$tmp/out" "$tmp/p.json"
for acc in H100-SXM L40S; do
    r=$(tr -d ' \n' <"$tmp/p.json" | sed "s/.*\"accelerator\":\"$acc\"[^}]*\"replicas\":\([0-9]*\).*/\1/")
    case $r in ''|*[!0-9]*) not_ok "$acc: a replica count in the JSON" "$tmp/p.json"; continue ;; esac
    ok "$acc: plan chose $r replicas"
    status "$acc: $r replicas meet the SLOs" 0 "$FLEETSIM" run --no-db --check --requests 300 \
        --set replicas="$r" --set accelerator="$acc" --set workload.arrival.rate=60 "$quick"
    if [ "$r" -gt 1 ]; then
        status "$acc: $((r - 1)) replicas do not" 1 "$FLEETSIM" run --no-db --check --requests 300 \
            --set replicas=$((r - 1)) --set accelerator="$acc" --set workload.arrival.rate=60 "$quick"
    fi
done
has "the Pareto front is marked" "$tmp/p.json" '"pareto": true'

# --- a known answer: one request at a time per replica (max_num_seqs 1), fixed
# lengths, near-deterministic arrivals (gamma, cv 0.01) spread by round-robin: a
# replica serves 1/S requests per second, S the service time of one request, so a
# rate of x/S needs ceil(x) replicas; below that the queue grows without bound and
# TTFT passes S (the SLO). S is measured by a one-request run. ---
S=$("$FLEETSIM" run --no-db --json --requests 1 --set workload.input=500 --set workload.output=100 \
    --set engine.max_num_seqs=1 "$quick" | tr -d ' \n' |
    sed 's/.*"e2e_s":{"n":1,"mean":\([0-9.e-]*\).*/\1/')
for x in 0.6:1 3.5:4 5.5:6; do
    load=${x%:*} want=${x#*:}
    rate=$(awk -v s="$S" -v x="$load" 'BEGIN { printf "%.6f", x / s }')
    cat >"$tmp/k.yaml" <<EOS
name: known
scenario: $quick
rate: $rate
set: {workload.requests: 300, workload.input: 500, workload.output: 100, engine.max_num_seqs: 1,
      workload.arrival.process: gamma, workload.arrival.cv: 0.01, slo.ttft: ${S}s, slo.tpot: 1s}
accelerators: [H100-SXM]
routers: [round-robin]
max_replicas: 16
EOS
    "$FLEETSIM" plan --no-max-rate "$tmp/k.yaml" >"$tmp/k.txt" 2>&1
    if grep -E "^ +1 \* H100-SXM +1 aggregated round-robin +$want +$want " "$tmp/k.txt" >/dev/null; then
        ok "$load x the service rate of one replica needs $want replicas"
    else not_ok "$load x the service rate of one replica needs $want replicas" "$tmp/k.txt"; fi
done

# --- no configuration: exit 1 under --check, 0 without ---
sed 's/^set: .*/set: {workload.requests: 300, slo.ttft: 1ms}/' "$tmp/p.yaml" >"$tmp/none.yaml"
status "an SLO no fleet meets exits 1 with --check" 1 "$FLEETSIM" plan --check --no-max-rate "$tmp/none.yaml"
has "and says so" "$tmp/out" "no configuration meets the SLOs at 60 req/s"
status "and 0 without --check" 0 "$FLEETSIM" plan --no-max-rate "$tmp/none.yaml"

# --- availability caps the search ---
printf 'available: {H100-SXM: 1}\n' >>"$tmp/p.yaml"
"$FLEETSIM" plan --no-max-rate "$tmp/p.yaml" >"$tmp/avail.txt" 2>&1
has "one H100 available cannot serve 60 req/s" "$tmp/avail.txt" \
    "H100-SXM       1 aggregated (scenario)     no configuration meets the SLOs within 1 replicas"

# --- growth, max rate ---
"$FLEETSIM" plan --no-max-rate --rate 8 "$tmp/p.yaml" >"$tmp/rate.txt" 2>&1
"$FLEETSIM" plan --no-max-rate --growth 2 "$tmp/p.yaml" >"$tmp/growth.txt" 2>&1
if cmp -s "$tmp/rate.txt" "$tmp/growth.txt"; then ok "--growth 2 of 4 req/s equals --rate 8"
else diff "$tmp/rate.txt" "$tmp/growth.txt" >"$tmp/out"; not_ok "--growth 2 equals --rate 8" "$tmp/out"; fi
"$FLEETSIM" plan --rate 8 "$tmp/p.yaml" >"$tmp/max.txt" 2>&1
if awk '$3 == "L40S" { if ($11 + 0 >= 8) f = 1 } END { exit !f }' "$tmp/max.txt"; then
    ok "the highest sustainable rate is at least the target"
else not_ok "the highest sustainable rate is at least the target" "$tmp/max.txt"; fi

# --- routers: a built-in policy and an EndpointPickerConfig file (relative to the
# scenario), each replacing the scenario's router ---
regress=$(cd "$srcdir/scenarios/regress" && pwd)
cat >"$tmp/r.yaml" <<EOS
name: routers
scenario: $regress/prefix-routing.yaml
rate: 40
set: {workload.requests: 300}
accelerators: [H100-SXM]
routers: [round-robin, epp-router.yaml]
max_replicas: 8
EOS
status "a plan over routers runs" 0 "$FLEETSIM" plan --no-max-rate "$tmp/r.yaml"
has "with the EndpointPickerConfig file as a candidate" "$tmp/out" \
    "H100-SXM       1 aggregated epp-router.yaml"
has "and the built-in policy" "$tmp/out" "H100-SXM       1 aggregated round-robin"

# --- bad input ---
printf 'name: x\nscenario: %s\nrate: 1\naccelerators: H100-SXM\n' "$quick" >"$tmp/bad.yaml"
status "accelerators not a list exits 2" 2 "$FLEETSIM" plan "$tmp/bad.yaml"
has "naming file:line" "$tmp/out" "bad.yaml:4:"
printf 'name: x\nscenario: %s\nrate: 1\naccelerators: [H100-SXM]\nmodes: [2-1]\n' "$quick" >"$tmp/bad2.yaml"
status "a bad P/D ratio exits 2" 2 "$FLEETSIM" plan "$tmp/bad2.yaml"
printf 'name: x\nscenario: %s\nrate: 1\naccelerators: [NoSuchGPU]\n' "$quick" >"$tmp/bad3.yaml"
status "an unknown accelerator exits 2" 2 "$FLEETSIM" plan "$tmp/bad3.yaml"

echo "1..$n"
