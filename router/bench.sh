#!/bin/sh
# bench.sh: fleetsim-router against nginx (Debian's, a plain round-robin reverse proxy)
# over the same four scripted model servers (tests/router_mock, answering at once), on
# loopback, driven by wrk at equal concurrency. Prints requests/s and latency p50/p99 of
# each (median of RUNS runs), the added latency over going direct, the router's share
# of nginx's throughput, the upstream connections it opened (keep-alive pool) and its
# decision-latency histogram. nginx runs twice: as Debian configures a plain proxy
# (a new upstream connection per request), and with upstream keepalive. The router runs llm-d's default policy (prefix-aware).
# Usage: router/bench.sh [RUNS] [CONNECTIONS] [SECONDS]   (needs nginx and wrk)
set -u
RUNS=${1:-3}; CONNS=${2:-32}; SECS=${3:-5}
b=${top_builddir:-.}
for t in nginx wrk; do command -v $t >/dev/null || { echo "bench: $t not installed"; exit 0; }; done
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf $tmp' EXIT INT TERM
wf() { w=0; while [ ! -s "$1" ] && [ $w -lt 100 ]; do sleep 0.05; w=$((w + 1)); done; }
for i in 0 1 2 3; do
    "$b/tests/router_mock" --name "m$i" --port-file "$tmp/m$i" --lifetime 600 & pids="$pids $!"
done
for i in 0 1 2 3; do wf "$tmp/m$i"; done
: >"$tmp/eps.yaml"; up=""
for i in 0 1 2 3; do
    printf -- '- name: m%s\n  address: 127.0.0.1:%s\n' $i "$(cat $tmp/m$i)" >>"$tmp/eps.yaml"
    up="$up server 127.0.0.1:$(cat $tmp/m$i);"
done
"$b/fleetsim-router" --endpoints "$tmp/eps.yaml" --listen 127.0.0.1:0 --port-file "$tmp/r" \
    --policy default 2>/dev/null & pids="$pids $!"
wf "$tmp/r"
free_port() { # a free port: let the kernel choose one for a mock, then take it over
    "$b/tests/router_mock" --port-file "$tmp/fp" --lifetime 1 & fpid=$!
    wf "$tmp/fp"; kill $fpid; wait $fpid 2>/dev/null; cat "$tmp/fp"; rm -f "$tmp/fp"
}
NP=$(free_port); NK=$(free_port)
cat >"$tmp/nginx.conf" <<NG
worker_processes 1; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 4096; }
http { access_log off; upstream m { $up } upstream mk { $up keepalive 64; }
  server { listen 127.0.0.1:$NP; location / { proxy_pass http://m; } }
  server { listen 127.0.0.1:$NK; location / { proxy_pass http://mk;
    proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NG
nginx -c "$tmp/nginx.conf" -p "$tmp" 2>/dev/null & pids="$pids $!"
sleep 0.5
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"model":"m","prompt":"system prompt shared by every user of the app. question %d"}', n % 64))
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
run() { # run NAME URL: median over RUNS of req/s, p50 ms, p99 ms
    for k in $(seq 1 "$RUNS"); do
        wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$tmp/post.lua" "$2/v1/completions" | grep '^RESULT'
    done | sort -k2 -n | awk -v n="$1" '{ r[NR] = $0 } END { split(r[int((NR + 1) / 2)], f, " ");
        printf "%-22s %10.0f req/s   p50 %7.3f ms   p99 %7.3f ms\n", n, f[2], f[3], f[4] }'
}
echo "wrk -t2 -c$CONNS -d${SECS}s, median of $RUNS runs, 4 upstreams on loopback"
run "direct (one server)" "http://127.0.0.1:$(cat $tmp/m0)"
run "nginx round-robin" "http://127.0.0.1:$NP" | tee "$tmp/nginx"
run "nginx rr, keepalive" "http://127.0.0.1:$NK" | tee "$tmp/nginxk"
run "fleetsim-router" "http://127.0.0.1:$(cat $tmp/r)" | tee "$tmp/router"
rps() { awk '{ for (i = 2; i <= NF; i++) if ($i == "req/s") print $(i - 1) }' "$1"; }
awk -v a="$(rps $tmp/nginx)" -v k="$(rps $tmp/nginxk)" -v r="$(rps $tmp/router)" 'BEGIN {
    printf "fleetsim-router / nginx: %.0f %% of plain round-robin, %.0f %% of keepalive\n",
        100 * r / a, 100 * r / k }'
curl -s "http://127.0.0.1:$(cat $tmp/r)/metrics" | grep '^fleetsim_router_upstream_connections_total'
curl -s "http://127.0.0.1:$(cat $tmp/r)/metrics" | grep '^fleetsim_router_decision_seconds'
