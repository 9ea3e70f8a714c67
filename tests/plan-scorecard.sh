#!/bin/sh
# plan-scorecard.sh: end-to-end test of `fleetsim scorecard`, as TAP, on one class
# (the bundled chat scenario, 150 requests a run) and three accelerators; TPU-v5e
# cannot hold Llama-3.1-70B at any TP up to 8. The report names the cheapest
# accelerator, the mixed and single-accelerator fleets and why, the HTML has a chart,
# the same inputs give the same bytes, and bad options exit 2.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM="$builddir/fleetsim"
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

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

chat="$srcdir/scenarios/scorecard-chat.yaml"
status "scorecard runs" 0 "$FLEETSIM" scorecard --class "chat=$chat" --requests 150 \
    --accelerators H100-SXM,MI300X,TPU-v5e --md "$tmp/r.md" --html "$tmp/r.html"
has "it names the cheapest accelerator of the class" "$tmp/r.md" "| chat | MI300X | 1 x TP 2 |"
has "a fleet too small for the model says so" "$tmp/r.md" "| TPU-v5e | | | | cannot hold the model"
has "the mixed fleet" "$tmp/r.md" "mixed fleet (each class on its cheapest accelerator)"
has "the single-accelerator fleet" "$tmp/r.md" "best single-accelerator fleet: **MI300X"
has "why, from the economics" "$tmp/r.md" "TPOT is memory-bandwidth bound; MI300X ranks"
has "one winner in every class: the report says why the fleets are equal" "$tmp/r.md" \
    "Why the mixed fleet equals the single-accelerator fleet: MI300X is the cheapest accelerator in every class"
has "and names the price it rests on" "$tmp/r.md" "That rests on its catalogue price, \$1.99/h"
has "the HTML has a chart" "$tmp/r.html" "<svg"
"$FLEETSIM" scorecard --class "chat=$chat" --requests 150 --accelerators H100-SXM,MI300X,TPU-v5e \
    >"$tmp/again.md" 2>&1
if cmp -s "$tmp/r.md" "$tmp/again.md"; then ok "the same inputs give the same report"
else not_ok "the same inputs give the same report" "$tmp/again.md"; fi
status "an unknown accelerator exits 2" 2 "$FLEETSIM" scorecard --accelerators NoSuch
has "naming it" "$tmp/out" "'NoSuch' is not in the catalogue"
status "a class without a file exits 2" 2 "$FLEETSIM" scorecard --class chat=
status "a class whose file is missing exits 2" 2 "$FLEETSIM" scorecard --class "x=$tmp/none.yaml" \
    --accelerators H100-SXM

echo "1..$n"
