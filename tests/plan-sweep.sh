#!/bin/sh
# plan-sweep.sh: end-to-end tests of `run --set` and `fleetsim sweep`, as TAP.
#
# A sweep of 8 small points (300 requests each) stores 8 complete runs tagged with the
# sweep; run again it simulates nothing; a database holding half of the points (one
# shard) gets only the other half; two shards merged with `results merge` give the
# same table as an unsharded run, and -j 2 the same as -j 1; a shard with no points
# leaves an empty database that merges. Bad specs exit 2 naming file:line.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
quick="$srcdir/scenarios/quickstart.yaml"
spec="$srcdir/scenarios/sweeps/quickstart-rate.yaml"

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
status() { # status DESCRIPTION WANT COMMAND...: passes when the command exits WANT
    d=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>&1; got=$?
    if [ "$got" = "$want" ]; then ok "$d"; else echo "exit $got" >>"$tmp/out"; not_ok "$d" "$tmp/out"; fi
}

# --- run --set ---
"$FLEETSIM" run --no-db --requests 100 --set replicas=2 --set accelerator=H200 "$quick" \
    >"$tmp/set.txt" 2>&1
has "run --set changes the fleet" "$tmp/set.txt" "2 x H200, tp 1, 2 replicas"
status "run --set with a bad path exits 2" 2 "$FLEETSIM" run --no-db --set model.x=1 "$quick"
has "and says which override and why" "$tmp/out" "--set model.x=1: model is a scalar"
status "run --set with a bad value exits 2" 2 "$FLEETSIM" run --no-db --set tp=0 "$quick"

# --- a sweep, then again: nothing recomputed ---
db="$tmp/all.db"
check "sweep -j 2 runs every point" "$FLEETSIM" sweep --quiet --db "$db" -j 2 "$spec"
cp "$tmp/out" "$tmp/j2.txt"
has "its table lists the last point" "$tmp/j2.txt" "replicas=2,workload.arrival.rate=16"
"$FLEETSIM" sweep --db "$db" --list "$spec" >"$tmp/list.txt"
c=$(grep -c "	complete	" "$tmp/list.txt")
if [ "$c" = 8 ]; then ok "8 points complete in the database"; else not_ok "8 complete (got $c)" "$tmp/list.txt"; fi
"$FLEETSIM" sweep --db "$db" "$spec" >"$tmp/again.txt" 2>"$tmp/again.err"
has "run again, it skips every point" "$tmp/again.err" "8 points already complete"
has "and runs none" "$tmp/again.err" "0 to run"
check "and prints the same table" cmp "$tmp/j2.txt" "$tmp/again.txt"
c=$("$FLEETSIM" results list --db "$db" --json --tag sweep:quickstart-rate | grep -c '"uid"')
if [ "$c" = 8 ]; then ok "no run was added"; else echo "runs: $c" >"$tmp/out"; not_ok "no run was added" "$tmp/out"; fi

# --- resuming a partial sweep; shards merged equal the unsharded sweep ---
check "shard 0/2" "$FLEETSIM" sweep --quiet --db "$tmp/s0.db" --shard 0/2 "$spec"
has "shard 0/2 runs the even points" "$tmp/out" "    6  replicas=2"
check "shard 1/2" "$FLEETSIM" sweep --quiet --db "$tmp/s1.db" --shard 1/2 "$spec"
cp "$tmp/s0.db" "$tmp/resume.db"
"$FLEETSIM" sweep --db "$tmp/resume.db" -j 1 "$spec" >"$tmp/j1.txt" 2>"$tmp/resume.err"
has "a sweep over one shard's database runs only the rest" "$tmp/resume.err" \
    "4 points already complete"
check "-j 1 and -j 2 give the same table" cmp "$tmp/j1.txt" "$tmp/j2.txt"
"$FLEETSIM" results merge --db "$tmp/m.db" "$tmp/s0.db" "$tmp/s1.db" >/dev/null 2>&1
"$FLEETSIM" sweep --db "$tmp/m.db" "$spec" >"$tmp/merged.txt" 2>"$tmp/merged.err"
has "the merged shards hold every point" "$tmp/merged.err" "8 points already complete"
check "and give the unsharded table" cmp "$tmp/merged.txt" "$tmp/j2.txt"
check "a shard with no points (9/10 of 8)" "$FLEETSIM" sweep --quiet --db "$tmp/empty.db" \
    --shard 9/10 "$spec"
check "leaves an empty database that merges" "$FLEETSIM" results merge --db "$tmp/m.db" "$tmp/empty.db"

# --- bad specs ---
printf 'name: x\nscenario: %s\ngrid:\n  replicas: 3\n' "$quick" >"$tmp/bad1.yaml"
status "a grid dimension that is not a list exits 2" 2 "$FLEETSIM" sweep --db "$tmp/b.db" "$tmp/bad1.yaml"
has "naming file:line" "$tmp/out" "bad1.yaml:4:"
printf 'name: x\nscenario: %s\nsteps: 1\n' "$quick" >"$tmp/bad2.yaml"
status "an unknown key exits 2" 2 "$FLEETSIM" sweep --db "$tmp/b.db" "$tmp/bad2.yaml"
has "naming it" "$tmp/out" "unknown key 'steps'"
printf 'name: x\nscenario: %s\npoints:\n  - {pools.4.replicas: 1}\n' "$quick" >"$tmp/bad3.yaml"
status "a point whose override cannot apply exits 2" 2 "$FLEETSIM" sweep --db "$tmp/b.db" "$tmp/bad3.yaml"
status "--shard out of range exits 2" 2 "$FLEETSIM" sweep --shard 2/2 "$spec"

echo "1..$n"
