#!/bin/sh
# results-kill.sh: a run killed part-way (SIGKILL, as by the OOM killer or a lost
# node) leaves a sound database, that run marked incomplete with the batches it had
# committed, and the runs before it untouched; the next run and a merge go on as usual.
# TAP. Uses `fleetsim results` (the SQLite C API) rather than the sqlite3 CLI.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
db="$tmp/k.db"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }

"$FLEETSIM" run --db "$db" --requests 300 --name before "$srcdir/scenarios/quickstart.yaml" >/dev/null
"$FLEETSIM" results show --db "$db" before >"$tmp/before.txt" 2>&1

# A long run in the background; kill it once it has committed request rows.
"$FLEETSIM" run --db "$db" --name victim "$srcdir/scenarios/bench-chat-100k.yaml" \
    --requests 2000000 >/dev/null 2>&1 &
pid=$!
stored=0
i=0
while [ $i -lt 600 ]; do      # up to 60 s (a sanitizer build is slow)
    "$FLEETSIM" results list --db "$db" --json >"$tmp/list.json" 2>/dev/null
    stored=$(tr -d ' \n' <"$tmp/list.json" | sed -n 's/.*"name":"victim".*"requests_stored":\([0-9]*\).*/\1/p')
    [ "${stored:-0}" -gt 0 ] && break
    sleep 0.1
    i=$((i + 1))
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
status=$?
pid=
if [ "$status" -eq 137 ] && [ "${stored:-0}" -gt 0 ]; then
    ok "the run was killed part-way, after committing $stored request rows"
else
    echo "exit status $status, $stored rows stored" >"$tmp/why"
    not_ok "the run was killed part-way" "$tmp/why"
fi

if "$FLEETSIM" results check --db "$db" >"$tmp/check" 2>&1 && grep -q ': ok$' "$tmp/check"; then
    ok "PRAGMA integrity_check says ok"
else not_ok "PRAGMA integrity_check says ok" "$tmp/check"; fi
"$FLEETSIM" results list --db "$db" --json >"$tmp/list.json" 2>&1
flat=$(tr -d ' \n' <"$tmp/list.json")
case $flat in
*'"name":"before","scenario":"quickstart"'*'"status":"complete"'*'"name":"victim"'*'"status":"incomplete"'*)
    ok "the killed run is incomplete, the one before complete" ;;
*) not_ok "the killed run is incomplete, the one before complete" "$tmp/list.json" ;;
esac
"$FLEETSIM" results show --db "$db" before >"$tmp/after.txt" 2>&1
if cmp -s "$tmp/before.txt" "$tmp/after.txt"; then ok "the earlier run is untouched"
else not_ok "the earlier run is untouched" "$tmp/after.txt"; fi
"$FLEETSIM" results show --db "$db" victim >"$tmp/victim.txt" 2>&1
if grep -q "did not complete" "$tmp/victim.txt"; then ok "show says the killed run did not complete"
else not_ok "show says the killed run did not complete" "$tmp/victim.txt"; fi

# The database goes on: another run completes, and a merge leaves the killed run out.
"$FLEETSIM" run --db "$db" --requests 100 --name after "$srcdir/scenarios/quickstart.yaml" >/dev/null 2>"$tmp/err"
if "$FLEETSIM" results show --db "$db" after 2>&1 | grep -q "complete"; then ok "a later run completes"
else not_ok "a later run completes" "$tmp/err"; fi
"$FLEETSIM" results merge --db "$tmp/merged.db" "$db" >"$tmp/merge" 2>&1
if grep -q "2 runs copied, 1 skipped" "$tmp/merge"; then ok "merge copies the complete runs only"
else not_ok "merge copies the complete runs only" "$tmp/merge"; fi

echo "1..$n"
