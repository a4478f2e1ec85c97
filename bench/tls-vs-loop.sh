#!/usr/bin/env bash
# Issue 16's TLS decision: what a TLS listener (always SwiftNIO) costs per request against the same
# plain route in plain text on SwiftNIO (--data-path nio) and on the sidecar's own loop
# (--data-path loop), keep-alive connections, the same wrk load, alternated rounds. The gap between
# "TLS on NIO" and "plain on NIO" is the TLS record work; between "plain on NIO" and "plain on the
# loop" what leaving NIO saves. OpenSSL on the loop could at most save the second on a TLS request.
#
# Usage: bench/tls-vs-loop.sh   (after a release build in .build-bench)
# Environment (defaults): ROUNDS=3 DURATION=5s CONNECTIONS=64 PROXY_THREADS=2 BASE_PORT=18510
# Everything on 127.0.0.1; every wrk run is bounded by its duration.
set -Eeuo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-64}"
PROXY_THREADS="${PROXY_THREADS:-2}"
BASE_PORT="${BASE_PORT:-18510}"
proxy_bin="$repo/.build-bench/release/tollgate-proxy"
[ -x "$proxy_bin" ] || { echo "tls-vs-loop: build first: swift build -c release --product tollgate-proxy --scratch-path .build-bench" >&2; exit 2; }
ticks_per_second="$(getconf CLK_TCK)"

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

upstream_port=$BASE_PORT
mkdir -p "$work/nginx" "$work/policies"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$upstream_port; location / { return 200 "ok\n"; } }
}
EOF
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
pids+=($!)
cat >"$work/policies/plain.yaml" <<'EOF'
version: 1
routes:
  - name: plain
    match: { prefix: / }
    auth: none
EOF

# name port extra-args...
start_proxy() {
  local name=$1 port=$2
  shift 2
  "$proxy_bin" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$port" --admin "127.0.0.1:$((port + 50))" \
    --policies "$work/policies" --threads "$PROXY_THREADS" "$@" </dev/null >/dev/null 2>"$work/$name.stderr" &
  pids+=($!)
  eval "pid_$name=$!"
}
start_proxy tls $((BASE_PORT + 1)) --data-path nio --tls-cert "$repo/Tests/Fixtures/tls/server.pem" --tls-key "$repo/Tests/Fixtures/tls/server-key.pem"
start_proxy nio $((BASE_PORT + 2)) --data-path nio
start_proxy loop $((BASE_PORT + 3)) --data-path loop
sleep 1.5
curl -sk "https://127.0.0.1:$((BASE_PORT + 1))/" >/dev/null || { echo "tls proxy did not answer: $(cat "$work/tls.stderr")" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() {  # name url pid
  local name=$1 url=$2 pid=$3
  wrk -t2 -c"$CONNECTIONS" -d1s "$url" >/dev/null 2>&1
  local before after out requests rps
  before="$(cpu_ticks "$pid")"
  out="$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$url")"
  after="$(cpu_ticks "$pid")"
  requests="$(echo "$out" | awk '/requests in/ {print $1}')"
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
  awk -v n="$name" -v r="$rps" -v q="$requests" -v t=$((after - before)) -v hz="$ticks_per_second" -v p="$p99" \
    'BEGIN { printf "| %s | %.0f | %.1f | %s |\n", n, r, t / hz * 1e6 / q, p }'
}

echo "| target | req/s | CPU µs/req | p99 |"
echo "| --- | ---: | ---: | ---: |"
for round in $(seq 1 "$ROUNDS"); do
  measure "round $round: TLS listener (SwiftNIO)" "https://127.0.0.1:$((BASE_PORT + 1))/" "$pid_tls"
  measure "round $round: plain text, --data-path nio" "http://127.0.0.1:$((BASE_PORT + 2))/" "$pid_nio"
  measure "round $round: plain text, --data-path loop" "http://127.0.0.1:$((BASE_PORT + 3))/" "$pid_loop"
done
