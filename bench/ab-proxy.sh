#!/usr/bin/env bash
# A/B of two tollgate-proxy binaries on the plain route (the default data path), alternated over 4
# rounds: req/s and the proxy's CPU µs per request (its user + system time over the requests it
# answered). Upstream: nginx returning "ok\n". Everything on 127.0.0.1; every wrk run bounded.
# Usage: bench/ab-proxy.sh BINARY_A BINARY_B
set -Eeuo pipefail
[ $# -ge 2 ] || { sed -n 2,5p "$0" | sed "s/^# \{0,1\}//"; exit 2; }
work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf $work' EXIT
mkdir -p $work/up $work/policies
cat > $work/up/nginx.conf <<C
worker_processes 2; pid $work/up/nginx.pid; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; server { listen 127.0.0.1:18710 reuseport; location / { return 200 "ok\n"; } } }
C
printf 'version: 1\nroutes:\n  - name: plain\n    match: { prefix: / }\n    auth: none\n' > $work/policies/plain.yaml
nginx -p $work/up -e $work/up/error.log -c $work/up/nginx.conf -g 'daemon off;' </dev/null >/dev/null 2>&1 & pids+=($!)
port=18711
declare -A pid
for b in "$@"; do
  $b run --upstream http://127.0.0.1:18710 --listen 127.0.0.1:$port --admin 127.0.0.1:$((port+100)) --policies $work/policies --threads 2 >/dev/null 2>&1 &
  pids+=($!); pid[$b]=$!; eval "port_$(basename $b | tr -c 'a-zA-Z0-9' _)=$port"; port=$((port+1))
done
sleep 1.5
hz=$(getconf CLK_TCK)
for round in 1 2 3 4; do
  port=18711
  for b in "$@"; do
    wrk -t2 -c64 -d1s http://127.0.0.1:$port/ >/dev/null
    t0=$(awk '{print $14+$15}' /proc/${pid[$b]}/stat)
    out=$(wrk -t2 -c64 -d5s http://127.0.0.1:$port/)
    t1=$(awk '{print $14+$15}' /proc/${pid[$b]}/stat)
    q=$(echo "$out" | awk '/requests in/ {print $1}'); r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    awk -v n=$b -v r=$r -v q=$q -v t=$((t1-t0)) -v hz=$hz -v round=$round 'BEGIN{printf "round %d %s: %.0f req/s, %.2f µs/req\n", round, n, r, t/hz*1e6/q}'
    port=$((port+1))
  done
done
