#!/bin/sh
# router_serve.sh: fleetsim-router in front of four `fleetsim serve` emulated vLLM
# servers on loopback, as TAP.
#
# The router scrapes the servers' vLLM metrics, spreads independent requests over them,
# keeps a repeated long prompt on the server that cached it (llm-d's default policy:
# prefix-cache-scorer 3, queue and KV scorers 2), streams every answer to the end, and
# every process exits 0 on SIGTERM (under ASan: without leaks). Bounded: 4 servers with
# --lifetime 40 at --speed 20, 24 requests, every client call with a timeout.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$srcdir/models}
export FLEETSIM_DATADIR
tmp=$(mktemp -d) || exit 1
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
expect() { d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d" "$tmp/out"; fi; }
if ! command -v curl >/dev/null 2>&1; then echo "1..0 # SKIP curl not installed"; exit 0; fi
waitfile() { w=0; while [ ! -s "$1" ] && [ $w -lt 200 ]; do sleep 0.05; w=$((w + 1)); done; }

spids=""
for i in 0 1 2 3; do
    "$builddir/fleetsim" serve --listen 127.0.0.1:0 --port-file "$tmp/s$i.port" --name "s$i" \
        --speed 20 --lifetime 40 2>"$tmp/s$i.log" &
    spids="$spids $!"
done
pids="$spids"
for i in 0 1 2 3; do
    waitfile "$tmp/s$i.port"
    printf -- '- name: s%s\n  address: 127.0.0.1:%s\n' "$i" "$(cat "$tmp/s$i.port")"
done >"$tmp/eps.yaml"
"$builddir/fleetsim-router" --endpoints "$tmp/eps.yaml" --listen 127.0.0.1:0 \
    --port-file "$tmp/r.port" --drain-timeout 5 2>"$tmp/r.log" &
rpid=$!
pids="$pids $rpid"
waitfile "$tmp/r.port"
R="127.0.0.1:$(cat "$tmp/r.port")"
sleep 0.3

expect "router scrapes the emulated servers" \
    sh -c "[ \$(curl -s -m5 http://$R/metrics | grep -c 'endpoint_up{endpoint=\"s[0-3]\"} 1') = 4 ]"

# 16 independent prompts at once: all streamed to the end, more than one server used
for i in $(seq 1 16); do
    curl -s -m 20 -o "$tmp/c$i" -d "{\"model\":\"llama-3.1-8b\",\"prompt\":\"request $i $(head -c 300 /dev/zero | tr '\0' 'x')\",\"max_tokens\":64,\"stream\":true}" \
        "http://$R/v1/completions" &
    cpids="${cpids:-} $!"
done
for p in $cpids; do wait "$p"; done
done_n=$(grep -l 'data: \[DONE\]' "$tmp"/c* | wc -l)
echo "# $done_n of 16 streams complete" >"$tmp/out"
expect "16 concurrent streams complete through the router" test "$done_n" = 16
curl -s -m 5 "http://$R/metrics" >"$tmp/out"
used=$(grep -c 'picks_total{endpoint="s[0-3]"} [1-9]' "$tmp/out")
expect "independent requests spread over several servers ($used used)" test "$used" -ge 2

# one long prompt 8 times in a row: the prefix keeps it on one server
long=$(head -c 4000 /dev/zero | tr '\0' 'p')
: >"$tmp/served"
for i in 1 2 3 4 5 6 7 8; do
    curl -s -m 20 -D "$tmp/h" -o /dev/null \
        -d "{\"model\":\"llama-3.1-8b\",\"prompt\":\"$long\",\"max_tokens\":8}" "http://$R/v1/completions"
    grep -i '^x-gateway-destination-endpoint-served' "$tmp/h" | tr -d '\r' >>"$tmp/served"
done
cp "$tmp/served" "$tmp/out"
expect "a repeated long prompt stays on one server" \
    sh -c "[ \$(wc -l <$tmp/served) = 8 ] && [ \$(sort -u $tmp/served | wc -l) = 1 ]"
port=$(sort -u "$tmp/served" | sed 's/.*://')
hits=$(curl -s -m 5 "http://127.0.0.1:$port/metrics" | grep '^vllm:prefix_cache_hits_total' | awk '{print $2}')
echo "# prefix hits $hits" >"$tmp/out"
expect "that server's prefix cache hits" test "${hits:-0}" -gt 0

kill -TERM "$rpid"; wait "$rpid"; rc=$?
cp "$tmp/r.log" "$tmp/out"
expect "router exits 0" test $rc = 0
src=0
for p in $spids; do kill -TERM "$p"; wait "$p" || src=1; done
cat "$tmp"/s*.log >"$tmp/out"
expect "servers exit 0" test $src = 0
echo "1..$n"
