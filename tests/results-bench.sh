#!/bin/sh
# results-bench.sh: what storing results costs a run (not a test: `make bench-results`).
#
# Runs the 100,000-request benchmark scenario with `fleetsim run` in three ways, RUNS
# times each and interleaved (so that a busy machine slows all three alike): without
# a database, with per-request records, and with --no-requests; prints the median wall
# time of each and the overhead of storing against no database.
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
scenario=${1:-$srcdir/scenarios/bench-chat-100k.yaml}
runs=${RUNS:-5}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }
i=0
while [ $i -lt "$runs" ]; do
    for mode in nodb records norecords; do
        rm -f "$tmp"/r.db*
        case $mode in
        nodb) set -- --no-db ;;
        records) set -- --db "$tmp/r.db" ;;
        norecords) set -- --db "$tmp/r.db" --no-requests ;;
        esac
        t0=$(now)
        "$FLEETSIM" run --quiet "$@" "$scenario" >/dev/null || exit 1
        t1=$(now)
        echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' >>"$tmp/$mode"
    done
    i=$((i + 1))
done
median() { sort -n "$tmp/$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
base=$(median nodb)
echo "scenario                $(basename "$scenario"), median of $runs runs"
for mode in nodb records norecords; do
    m=$(median $mode)
    case $mode in
    nodb) label="no database" ;;
    records) label="per-request records" ;;
    norecords) label="--no-requests" ;;
    esac
    echo "$m $base $label" | awk '{printf "%-23s %.3f s  (%+.1f %%)\n", $3 " " $4 " " $5, $1, ($1 / $2 - 1) * 100}'
done
