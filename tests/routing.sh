#!/bin/sh
# routing.sh: end-to-end effects of routing and disaggregation, measured by the
# simulator on the bundled scenarios (TAP). Directions with margins, not exact numbers:
# - prefix-aware routing (llm-d's default scorers) serves a far larger share of a
#   shared-prefix workload from the prefix cache than round-robin, with lower p90 TTFT;
# - prefill/decode disaggregation lowers p99 inter-token latency against aggregated
#   serving on long prompts with short answers;
# - KV transfers across an oversubscribed spine raise TTFT against the same fleet in
#   one rack, and leave TPOT alone;
# - a heterogeneous fleet reports cost per pool.

srcdir=${top_srcdir:-.}
FLEETSIM="${top_builddir:-.}/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
expect() { # expect DESCRIPTION AWK-CONDITION A B: passes when the condition holds
    if awk -v a="$3" -v b="$4" "BEGIN { exit !($2) }"; then ok "$1 ($3 vs $4)"
    else not_ok "$1 ($3 vs $4)"; fi
}
run() { # run NAME: simulate scenarios/NAME.yaml into $tmp/NAME
    "$FLEETSIM" run --no-db "$srcdir/scenarios/$1.yaml" >"$tmp/$1" 2>&1 ||
        not_ok "run $1" "$tmp/$1"
}
cached() { awk '$1 == "tokens" { print $(NF-4) }' "$tmp/$1"; }   # % of input cached
stat() { awk -v m="$2" -v c="$3" '$1 == m { print $c }' "$tmp/$1"; } # latency table cell

run prefix-routing
run prefix-routing-rr
expect "prefix-aware routing caches more of the input than round-robin" \
    'a >= b + 30' "$(cached prefix-routing)" "$(cached prefix-routing-rr)"
expect "prefix-aware routing lowers p90 TTFT against round-robin" \
    'a <= 0.9 * b' "$(stat prefix-routing ttft 5)" "$(stat prefix-routing-rr ttft 5)"

run pd-disaggregated
run pd-aggregated
expect "P/D lowers p99 inter-token latency against aggregated serving" \
    'a <= 0.5 * b' "$(stat pd-disaggregated itl 6)" "$(stat pd-aggregated itl 6)"
expect "P/D lowers mean TPOT against aggregated serving" \
    'a < b' "$(stat pd-disaggregated tpot 3)" "$(stat pd-aggregated tpot 3)"
if grep -q '^  prefill ' "$tmp/pd-disaggregated" && grep -q '^  decode ' "$tmp/pd-disaggregated"
then ok "P/D reports cost per pool"; else not_ok "P/D reports cost per pool" "$tmp/pd-disaggregated"; fi

run pd-racks
"$FLEETSIM" run --no-db --set topology.nodes_per_rack=2 "$srcdir/scenarios/pd-racks.yaml" \
    >"$tmp/pd-one-rack" 2>&1 || not_ok "run pd-racks in one rack" "$tmp/pd-one-rack"
expect "P/D across an oversubscribed spine raises mean TTFT against one rack" \
    'a >= b + 50' "$(stat pd-racks ttft 3)" "$(stat pd-one-rack ttft 3)"
expect "P/D across racks leaves mean TPOT within 2 %" \
    'a <= 1.02 * b && b <= 1.02 * a' "$(stat pd-racks tpot 3)" "$(stat pd-one-rack tpot 3)"
if grep -q '^  decode     node 1, rack 1$' "$tmp/pd-racks"; then ok "pd-racks places decode in rack 1"
else not_ok "pd-racks places decode in rack 1" "$tmp/pd-racks"; fi

run heterogeneous
for pool in chat long batch; do
    if grep -q "^  $pool " "$tmp/heterogeneous"; then ok "heterogeneous fleet: pool $pool in header and cost table"
    else not_ok "heterogeneous fleet: pool $pool" "$tmp/heterogeneous"; fi
done
expect "heterogeneous fleet: every request served" 'a == 3000 && b == 0' \
    "$(awk '$1 == "requests" { print $2 }' "$tmp/heterogeneous")" \
    "$(awk '$1 == "requests" { print $4 }' "$tmp/heterogeneous")"

echo "1..$n"
