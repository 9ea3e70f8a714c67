#!/bin/sh
# router.sh: end-to-end tests of fleetsim-router on loopback, as TAP.
#
# Scripted model servers (tests/router_mock) behind the router: streams relayed chunk by
# chunk, non-streamed answers, malformed and oversized bodies, clients that leave
# mid-stream, slow clients, servers that die mid-stream, answer errors or publish garbage
# metrics, a dead address (retry), no endpoint (503), SIGHUP reload, endpoint-picker
# mode, the P/D flow, and SIGTERM finishing a stream in flight. Everything listens on
# 127.0.0.1 with ports chosen by the kernel; every process has a lifetime and every
# client call a timeout, so the test cannot hang. After the abuse the router must still
# answer and must exit 0 (under ASan: without leaks).

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
ROUTER="$builddir/fleetsim-router"
MOCK="$builddir/tests/router_mock"
tmp=$(mktemp -d) || exit 1
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
expect() { # expect DESCRIPTION CONDITION-COMMAND...
    d=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d" "$tmp/out"; fi
}
if ! command -v curl >/dev/null 2>&1; then echo "1..0 # SKIP curl not installed"; exit 0; fi

waitfile() { w=0; while [ ! -s "$1" ] && [ $w -lt 100 ]; do sleep 0.05; w=$((w + 1)); done; }
mock() { # mock NAME [options]: starts a mock server, sets PORT_NAME
    name=$1; shift
    timeout 60 "$MOCK" --name "$name" --port-file "$tmp/$name.port" --lifetime 50 "$@" &
    pids="$pids $!"
    waitfile "$tmp/$name.port"
    eval "PORT_$name=$(cat "$tmp/$name.port")"
}
ep() { printf -- '- name: %s\n  address: 127.0.0.1:%s\n' "$1" "$2"; }
epl() { printf -- '- name: %s\n  address: 127.0.0.1:%s\n  labels: {llm-d.ai/role: %s}\n' "$1" "$2" "$3"; }
router() { # router TAG ENDPOINTS-FILE [options]: starts a router, sets R and RPID
    # (not under timeout(1): it re-raises the SIGTERM that stop() sends it, which would
    # hide the router's own exit status; stop() is bounded by --drain-timeout instead)
    tag=$1; eps=$2; shift 2
    rm -f "$tmp/$tag.rport"
    "$ROUTER" --endpoints "$eps" --listen 127.0.0.1:0 --port-file "$tmp/$tag.rport" \
        --drain-timeout 5 "$@" 2>"$tmp/$tag.log" &
    RPID=$!
    pids="$pids $RPID"
    waitfile "$tmp/$tag.rport"
    R="127.0.0.1:$(cat "$tmp/$tag.rport")"
    sleep 0.2 # a few scrapes
}
post() { # post PATH BODY [curl options]: writes the body to $tmp/out, prints the status
    p=$1; b=$2; shift 2
    curl -s -m 5 -o "$tmp/out" -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "$b" "$@" "http://$R$p"
}
stop() { # stop PID [TAG]: SIGTERM; a non-zero exit (a leak under ASan) fails a test
    kill -TERM "$1" || echo "# router $1 was gone before SIGTERM"; wait "$1"; src=$?
    cp "$tmp/${2:-x}.log" "$tmp/out" 2>/dev/null
    expect "router ${2:-} exits 0 on SIGTERM" test $src = 0
}
metric() { curl -s -m 5 "http://$R/metrics" | grep "^$1" | awk '{print $2}' | head -1; }

mock a --chunks 5 --chunk-ms 10
mock b --chunks 5 --chunk-ms 10
mock slow --chunks 40 --chunk-ms 25
mock dies --chunks 10 --chunk-ms 10 --die-after 2
mock err --status 500
mock garbage --garbage-metrics
{ ep a "$PORT_a"; ep b "$PORT_b"; } >"$tmp/ab.yaml"

# --- proxying ---
router main "$tmp/ab.yaml" --policy round-robin --max-body 65536 --client-timeout 2
code=$(post /v1/completions '{"model":"m","prompt":"hello","stream":true}')
expect "stream relayed: 200, five chunks and [DONE]" \
    sh -c "[ $code = 200 ] && [ \$(grep -c '^data: {' $tmp/out) = 5 ] && grep -q 'data: \[DONE\]' $tmp/out"
code=$(post /v1/completions '{"model":"m","prompt":"hello"}')
expect "non-streamed answer relayed" sh -c "[ $code = 200 ] && grep -q '\"choices\"' $tmp/out"
code=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"stream":true}')
expect "chat stream relayed" sh -c "[ $code = 200 ] && grep -q 'data: \[DONE\]' $tmp/out"
expect "round-robin alternates endpoints" \
    sh -c "[ \$(curl -s -m5 http://$R/metrics | grep -c 'picks_total{endpoint=\"[ab]\"} [1-9]') = 2 ]"
code=$(curl -s -m 5 -o "$tmp/out" -w '%{http_code}' "http://$R/v1/models")
expect "/v1/models relayed" sh -c "[ $code = 200 ] && grep -q mock $tmp/out"

# --- bad input ---
code=$(post /v1/completions '{"prompt": "unterminated')
expect "malformed JSON: 400 with a JSON error" sh -c "[ $code = 400 ] && grep -q '\"error\"' $tmp/out"
code=$(post /v1/chat/completions '{"prompt":"no messages"}')
expect "chat body without messages: 400" test "$code" = 400
head -c 200000 /dev/zero | tr '\0' 'a' >"$tmp/huge"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --data-binary @"$tmp/huge" "http://$R/v1/completions")
expect "body over the limit: 413" test "$code" = 413
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$R/nowhere")
expect "unknown path: 404" test "$code" = 404
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$R/v1/completions")
expect "GET on an inference path: 405" test "$code" = 405

stop "$RPID" main

# clients that leave mid-stream, and a slow client that never finishes its body
{ ep slow "$PORT_slow"; } >"$tmp/slow.yaml"
router slowr "$tmp/slow.yaml" --policy round-robin --client-timeout 1
for i in 1 2 3 4 5; do
    curl -s -m 0.2 -o /dev/null -d '{"prompt":"x","stream":true}' "http://$R/v1/completions"
done
sleep 0.3
expect "clients gone mid-stream: nothing left in flight" test "$(metric fleetsim_router_inflight)" = 0
(printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pro'; sleep 3) |
    timeout 4 curl -s -m 4 telnet://"$R" >"$tmp/slowclient" 2>/dev/null &
spid=$!
code=$(post /v1/completions '{"prompt":"x","stream":true}')
expect "serves while a slow client dribbles its body" test "$code" = 200
wait $spid
expect "the router still answers after the abuse" test "$(curl -s -m5 "http://$R/health")" = ok
stop "$RPID" slowr

# --- broken model servers ---
{ ep dies "$PORT_dies"; } >"$tmp/dies.yaml"
router diesr "$tmp/dies.yaml" --policy round-robin
code=$(post /v1/completions '{"prompt":"x","stream":true}')
expect "server dying mid-stream: partial stream and an error event" \
    sh -c "[ $code = 200 ] && [ \$(grep -c '^data: {\"pod' $tmp/out) = 2 ] && grep -q 'closed the stream' $tmp/out"
stop "$RPID" diesr
{ ep err "$PORT_err"; } >"$tmp/err.yaml"
router errr "$tmp/err.yaml" --policy round-robin
code=$(post /v1/completions '{"prompt":"x"}')
expect "server error status relayed" sh -c "[ $code = 500 ] && grep -q injected $tmp/out"
stop "$RPID" errr

# a dead address among live ones: connection refused, retried elsewhere
{ ep a "$PORT_a"; printf -- '- name: dead\n  address: 127.0.0.1:1\n'; } >"$tmp/dead.yaml"
router deadr "$tmp/dead.yaml" --policy round-robin
good=0
for i in 1 2 3 4; do [ "$(post /v1/completions '{"prompt":"x"}')" = 200 ] && good=$((good + 1)); done
expect "refused connection retried on another endpoint (4/4 served)" test $good = 4
expect "dead endpoint marked down" \
    sh -c "curl -s -m5 http://$R/metrics | grep -q 'endpoint_up{endpoint=\"dead\"} 0'"
stop "$RPID" deadr

# garbage metrics take the endpoint out; with nothing else, 503 with a JSON error
{ ep garbage "$PORT_garbage"; } >"$tmp/garbage.yaml"
router garbager "$tmp/garbage.yaml" --policy round-robin
sleep 0.3
expect "endpoint with garbage /metrics marked down" \
    sh -c "curl -s -m5 http://$R/metrics | grep -q 'endpoint_up{endpoint=\"garbage\"} 0'"
code=$(post /v1/completions '{"prompt":"x"}')
expect "no endpoint: 503 with a JSON error" sh -c "[ $code = 503 ] && grep -q '\"error\"' $tmp/out"

# SIGHUP reloads the endpoints file
{ ep a "$PORT_a"; } >"$tmp/garbage.yaml"
kill -HUP "$RPID"; sleep 0.3
code=$(post /v1/completions '{"prompt":"x"}')
expect "SIGHUP reload: the new endpoint serves" sh -c "[ $code = 200 ] && grep -q '\"pod\":\"a\"' $tmp/out"
printf 'not: [valid' >"$tmp/garbage.yaml"
kill -HUP "$RPID"; sleep 0.2
code=$(post /v1/completions '{"prompt":"x"}')
expect "SIGHUP with a bad file keeps the old pool" test "$code" = 200
stop "$RPID" garbager

# --- endpoint-picker mode ---
router picker "$tmp/ab.yaml" --policy round-robin --picker
curl -s -m 5 -D "$tmp/hdr" -o "$tmp/out" -d '{"prompt":"x"}' "http://$R/v1/completions" >/dev/null
expect "picker mode: x-gateway-destination-endpoint names an endpoint" \
    grep -qi "x-gateway-destination-endpoint: 127.0.0.1:\($PORT_a\|$PORT_b\)" "$tmp/hdr"
stop "$RPID" picker

# --- P/D: a long uncached prompt goes through prefill then decode ---
{ epl a "$PORT_a" prefill; epl b "$PORT_b" decode; } >"$tmp/pd.yaml"
router pd "$tmp/pd.yaml" --policy pd
long=$(head -c 2000 /dev/zero | tr '\0' 'q')
code=$(post /v1/completions "{\"model\":\"m\",\"prompt\":\"$long\",\"stream\":true}")
expect "P/D: decode on the decode endpoint with the prefill's kv_transfer_params" \
    sh -c "[ $code = 200 ] && grep -q '\"pod\":\"b\",\"remote_prefill\":true' $tmp/out"
expect "P/D: both endpoints picked" \
    sh -c "[ \$(curl -s -m5 http://$R/metrics | grep -c 'picks_total{endpoint=\"[ab]\"} 1') = 2 ]"
stop "$RPID" pd

# --- SIGTERM finishes the stream in flight ---
router term "$tmp/slow.yaml" --policy round-robin
curl -s -m 5 -o "$tmp/termout" -d '{"prompt":"x","stream":true}' "http://$R/v1/completions" &
cpid=$!
sleep 0.2
kill -TERM "$RPID"
wait "$RPID"; rrc=$?
wait "$cpid"
expect "SIGTERM: the stream in flight completes and the router exits 0" \
    sh -c "[ $rrc = 0 ] && grep -q 'data: \[DONE\]' $tmp/termout && [ \$(grep -c '^data: {' $tmp/termout) = 40 ]"

echo "1..$n"
