#!/bin/sh
# plan-regress.sh: end-to-end tests of `fleetsim regress`, as TAP, on a copy of the
# bundled suite (scenarios/regress, three scenarios of 200-500 requests): a fresh
# baseline passes; lowering the prefix-cache scorer's weight in the suite's router
# configuration is a regression (exit 1, the prefix hit rate WORSE) until
# --update-baseline; comparing two metric files; tolerances; a scenario without a
# baseline; bad input exits 2.

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

s="$tmp/suite"
mkdir "$s" && cp "$srcdir"/scenarios/regress/*.yaml "$s"/
status "a missing baseline exits 2" 2 "$FLEETSIM" regress --suite "$s"
status "--update-baseline writes one" 0 "$FLEETSIM" regress --suite "$s" --update-baseline
has "for every scenario" "$tmp/out" "wrote $s/baseline.json (3 scenarios)"
status "the suite passes against its fresh baseline" 0 "$FLEETSIM" regress --suite "$s" --output "$tmp/before.json"
has "with no change at all" "$tmp/out" "0 regressions, 0 improvements"

# a policy weight change that worsens the suite
sed '/pluginRef: prefix-cache-scorer/{n;s/weight: 3/weight: 0/}' "$s/epp-router.yaml" >"$tmp/epp"
mv "$tmp/epp" "$s/epp-router.yaml"
if grep -q "weight: 0" "$s/epp-router.yaml"; then ok "the prefix scorer's weight is now 0"
else not_ok "the prefix scorer's weight is now 0" "$s/epp-router.yaml"; fi
status "regress fails on the weight change" 1 "$FLEETSIM" regress --suite "$s" --output "$tmp/after.json"
if grep -E "^prefix-routing.yaml +prefix_hit_rate .*WORSE" "$tmp/out" >/dev/null; then
    ok "the prefix hit rate is reported WORSE"; else not_ok "the prefix hit rate is reported WORSE" "$tmp/out"; fi
has "and counted" "$tmp/out" "regressions,"
status "comparing the two metric files fails the same way" 1 "$FLEETSIM" regress "$tmp/before.json" "$tmp/after.json"
status "a loose enough tolerance passes" 0 "$FLEETSIM" regress --tolerance all=1000 "$tmp/before.json" "$tmp/after.json"
status "--json gives the rows" 1 "$FLEETSIM" regress --json "$tmp/before.json" "$tmp/after.json"
has "with a verdict each" "$tmp/out" '"verdict": "WORSE"'
status "--update-baseline accepts the change" 0 "$FLEETSIM" regress --suite "$s" --update-baseline
status "and regress passes after it" 0 "$FLEETSIM" regress --suite "$s"

# a new scenario without a baseline; bad input
cp "$s/chat.yaml" "$s/chat2.yaml"
status "a scenario without a baseline exits 1" 1 "$FLEETSIM" regress --suite "$s"
has "saying so" "$tmp/out" "NO BASELINE"
status "an unknown metric in --tolerance exits 2" 2 "$FLEETSIM" regress --tolerance foo=3 --suite "$s"
echo "{" >"$tmp/bad.json"
status "a malformed baseline exits 2" 2 "$FLEETSIM" regress --suite "$s" --baseline "$tmp/bad.json"
has "naming file:line" "$tmp/out" "bad.json:"

echo "1..$n"
