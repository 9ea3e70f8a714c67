#!/bin/sh
# results.sh: end-to-end tests of the results store through the tool, as TAP.
#
# Runs store into a temporary database: stdout is the same bytes with and without a
# database; `results show` gives back exactly what `run` printed; list, names, tags,
# compare, export, merge and check work from the command line (text and --json);
# FLEETSIM_DB is honoured; every plot script makes a valid, non-empty PNG and SVG from
# a small run; report writes HTML and Markdown. No sqlite3 CLI is needed.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
db="$tmp/r.db"
quick="$srcdir/scenarios/quickstart.yaml"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
check() { # check DESCRIPTION COMMAND...: passes when the command exits 0
    d=$1; shift
    if "$@" >"$tmp/out" 2>&1; then ok "$d"; else not_ok "$d" "$tmp/out"; fi
}
has() { # has DESCRIPTION FILE TEXT: passes when FILE contains TEXT
    if grep -qF -- "$3" "$2"; then ok "$1"; else echo "expected: $3" >>"$2"; not_ok "$1" "$2"; fi
}

# --- storing does not change what run prints; show gives it back ---
"$FLEETSIM" run --no-db --requests 200 "$quick" >"$tmp/nodb.txt" 2>&1
"$FLEETSIM" run --db "$db" --requests 200 "$quick" >"$tmp/db.txt" 2>"$tmp/db.err"
check "stdout is the same with and without a database" cmp "$tmp/nodb.txt" "$tmp/db.txt"
if [ -s "$tmp/db.err" ]; then not_ok "nothing on stderr when it is not a terminal" "$tmp/db.err"
else ok "nothing on stderr when it is not a terminal"; fi
"$FLEETSIM" results show --db "$db" 1 | sed 1,2d >"$tmp/show.txt"
check "results show prints what run printed" cmp "$tmp/db.txt" "$tmp/show.txt"
"$FLEETSIM" run --db "$db" --json --requests 200 --name json-run "$quick" >"$tmp/a.json"
"$FLEETSIM" run --no-db --json --requests 200 "$quick" >"$tmp/b.json"
check "run --json is the same with and without a database" cmp "$tmp/a.json" "$tmp/b.json"

# --- names, tags, list, FLEETSIM_DB ---
"$FLEETSIM" run --db "$db" --requests 200 --seed 9 --name other --tag sweep --tag a \
    --quiet "$quick" >/dev/null
FLEETSIM_DB="$db" "$FLEETSIM" run --requests 100 --no-requests --name via-env "$quick" >/dev/null
"$FLEETSIM" results list --db "$db" >"$tmp/list" 2>&1
has "list names the runs" "$tmp/list" "via-env"
has "list shows tags" "$tmp/list" "a,sweep"
FLEETSIM_DB="$db" "$FLEETSIM" results list --tag sweep --json >"$tmp/list.json" 2>&1
if grep -q '"name": "other"' "$tmp/list.json" && ! grep -q '"name": "json-run"' "$tmp/list.json"; then
    ok "list --tag keeps the tagged runs (FLEETSIM_DB honoured)"
else not_ok "list --tag keeps the tagged runs (FLEETSIM_DB honoured)" "$tmp/list.json"; fi
"$FLEETSIM" results list --db "$db" --json >"$tmp/all.json"
c=$(grep -c '"status": "complete"' "$tmp/all.json")
if [ "$c" = 4 ]; then ok "four complete runs"; else not_ok "four complete runs ($c)" "$tmp/all.json"; fi
check "tag adds a tag" "$FLEETSIM" results tag --db "$db" last extra
check "rename renames a run" "$FLEETSIM" results rename --db "$db" last renamed
"$FLEETSIM" results show --db "$db" renamed >"$tmp/renamed" 2>&1
has "a run is found by its new name, with its tag" "$tmp/renamed" "tags extra"

# --- compare: the differences are those of the stored figures ---
"$FLEETSIM" results compare --db "$db" 1 other >"$tmp/cmp" 2>&1
has "compare names both runs" "$tmp/cmp" "#3     other (complete)"
has "compare shows TTFT p99" "$tmp/cmp" "TTFT p99"
"$FLEETSIM" results compare --db "$db" --json 1 1 >"$tmp/same.json" 2>&1
if grep -q '"diff_pct"' "$tmp/same.json" && ! grep -A3 '"diff_pct"' "$tmp/same.json" | grep -qE '^ +-?[1-9]'; then
    ok "a run compared with itself differs by 0 %"
else not_ok "a run compared with itself differs by 0 %" "$tmp/same.json"; fi

# --- export, merge, check, errors ---
check "export writes CSV" "$FLEETSIM" results export --db "$db" 1 --csv "$tmp/csv"
lines=$(wc -l <"$tmp/csv/requests.csv")
if [ "$lines" = 201 ]; then ok "requests.csv has a header and 200 rows"; else not_ok "requests.csv has 200 rows ($lines)"; fi
"$FLEETSIM" run --db "$tmp/shard.db" --requests 50 --quiet "$quick" >/dev/null
"$FLEETSIM" results merge --db "$db" "$tmp/shard.db" >"$tmp/merge" 2>&1
has "merge copies the shard's run" "$tmp/merge" "1 run copied"
"$FLEETSIM" results merge --db "$db" "$tmp/shard.db" >"$tmp/merge2" 2>&1
has "merging again copies nothing" "$tmp/merge2" "0 runs copied, 1 skipped"
check "check says the database is sound" "$FLEETSIM" results check --db "$db"
"$FLEETSIM" results show --db "$db" 99 >"$tmp/out" 2>&1
if [ $? -eq 2 ] && grep -q "no run '99'" "$tmp/out"; then ok "an unknown run is bad input"; else not_ok "an unknown run is bad input" "$tmp/out"; fi
"$FLEETSIM" results list --db "$tmp/none.db" >"$tmp/out" 2>&1
if [ $? -eq 2 ] && [ ! -e "$tmp/none.db" ]; then ok "results does not create a missing database"; else not_ok "results does not create a missing database" "$tmp/out"; fi
echo "not a database" >"$tmp/junk.db"
"$FLEETSIM" run --db "$tmp/junk.db" "$quick" >"$tmp/out" 2>&1
if [ $? -eq 2 ] && grep -q "not a" "$tmp/out"; then ok "run refuses a file that is not a results database"; else not_ok "run refuses a file that is not a results database" "$tmp/out"; fi

# --- plots: every script makes a valid PNG and SVG ---
is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
is_svg() { [ -s "$1" ] && head -c 200 "$1" | grep -q '<svg' && tail -c 20 "$1" | grep -q '</svg>'; }
"$FLEETSIM" plot --db "$db" 1 other -o "$tmp/plots" >"$tmp/plot.out" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "plot exits 0"; else not_ok "plot exits 0 ($rc)" "$tmp/plot.out"; fi
for p in cdf timeline-1 replicas-1 sweep cost; do
    if is_png "$tmp/plots/$p.png" && is_svg "$tmp/plots/$p.svg" && [ -s "$tmp/plots/$p.tsv" ]; then
        ok "plot $p: PNG, SVG and data"
    else not_ok "plot $p: PNG, SVG and data" "$tmp/plot.out"; fi
done
"$FLEETSIM" plot --db "$db" renamed -o "$tmp/plots2" >"$tmp/plot2.out" 2>&1
if [ $? -eq 0 ] && [ ! -e "$tmp/plots2/cdf.png" ] && grep -q "no request rows" "$tmp/plot2.out"; then
    ok "a run without request rows is left out of the CDFs, with a note"
else not_ok "a run without request rows is left out of the CDFs, with a note" "$tmp/plot2.out"; fi
FLEETSIM_GNUPLOT=false "$FLEETSIM" plot --db "$db" 1 -o "$tmp/plots3" >"$tmp/out" 2>&1
if [ $? -eq 2 ] && grep -q "gnuplot failed" "$tmp/out"; then ok "a failing gnuplot is reported"; else not_ok "a failing gnuplot is reported" "$tmp/out"; fi

# --- report ---
"$FLEETSIM" report --db "$db" 1 other -o "$tmp/report.html" >"$tmp/out" 2>&1
if [ $? -eq 0 ] && grep -q 'data:image/png;base64,iVBORw0KGgo' "$tmp/report.html" &&
    grep -q 'TTFT p99' "$tmp/report.html" && grep -q '</html>' "$tmp/report.html"; then
    ok "report writes self-contained HTML with the plots and the metrics"
else not_ok "report writes self-contained HTML" "$tmp/out"; fi
"$FLEETSIM" report --db "$db" 1 -o "$tmp/report.md" >"$tmp/out" 2>&1
if [ $? -eq 0 ] && grep -q '](report-plots/cdf.png)' "$tmp/report.md" && is_png "$tmp/report-plots/cdf.png"; then
    ok "report --markdown links its plots"
else not_ok "report --markdown links its plots" "$tmp/out"; fi

echo "1..$n"
