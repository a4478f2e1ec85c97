#!/usr/bin/env bash
# Issue 16's "where the remaining cycles go": the same wrk load on the plain route through
# tollgate-proxy (--data-path loop) and through nginx proxy_pass (keep-alive to the upstream, the
# benchmark's configuration), each sampled with perf for PROFILE_SECONDS, and for each: req/s, CPU
# µs per request split into user and kernel (/proc stat of the proxy's processes), the share of
# samples per library, and the top symbols. Everything on 127.0.0.1; every run bounded.
#
# Usage: bench/profile-beside-nginx.sh   (release build in .build-bench first)
# Environment (defaults): PROFILE_SECONDS=8 CONNECTIONS=64 PROXY_THREADS=2 BASE_PORT=18610 TOP=15
# Needs root for perf.
set -Eeuo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
PROFILE_SECONDS="${PROFILE_SECONDS:-8}"
CONNECTIONS="${CONNECTIONS:-64}"
PROXY_THREADS="${PROXY_THREADS:-2}"
BASE_PORT="${BASE_PORT:-18610}"
TOP="${TOP:-15}"
proxy_bin="$repo/.build-bench/release/tollgate-proxy"
[ -x "$proxy_bin" ] || { echo "build first: swift build -c release --product tollgate-proxy --scratch-path .build-bench" >&2; exit 2; }
hz="$(getconf CLK_TCK)"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

up=$BASE_PORT proxy=$((BASE_PORT + 1)) admin=$((BASE_PORT + 2)) ngx=$((BASE_PORT + 3))
mkdir -p "$work/up" "$work/ngx" "$work/policies"
cat >"$work/up/nginx.conf" <<EOF
worker_processes 2;
pid $work/up/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$up reuseport; location / { default_type text/plain; return 200 "ok\n"; } } }
EOF
cat >"$work/ngx/nginx.conf" <<EOF
worker_processes $PROXY_THREADS;
pid $work/ngx/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$up; keepalive 64; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$ngx; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
cat >"$work/policies/plain.yaml" <<'EOF'
version: 1
routes:
  - name: plain
    match: { prefix: / }
    auth: none
EOF
nginx -p "$work/up" -e "$work/up/error.log" -c "$work/up/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
pids+=($!)
nginx -p "$work/ngx" -e "$work/ngx/error.log" -c "$work/ngx/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
ngx_master=$!
pids+=($ngx_master)
"$proxy_bin" run --upstream "http://127.0.0.1:$up" --listen "127.0.0.1:$proxy" --admin "127.0.0.1:$admin" --policies "$work/policies" \
  --threads "$PROXY_THREADS" --data-path loop --log-format json </dev/null >/dev/null 2>"$work/proxy.stderr" &
proxy_pid=$!
pids+=($proxy_pid)
sleep 1.5

ticks() { local total=0; for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $total; }
uticks() { local total=0; for p in "$@"; do total=$((total + $(awk '{print $14}' "/proc/$p/stat"))); done; echo $total; }

profile() {  # name url pid...
  local name=$1 url=$2
  shift 2
  local list
  list="$(IFS=,; echo "$*")"
  wrk -t2 -c"$CONNECTIONS" -d2s "$url" >/dev/null 2>&1
  local t0 u0 t1 u1
  t0=$(ticks "$@") u0=$(uticks "$@")
  wrk -t2 -c"$CONNECTIONS" -d"$((PROFILE_SECONDS + 2))s" "$url" >"$work/$name.wrk" 2>&1 &
  local wrk_pid=$!
  sleep 1
  perf record -e cpu-clock -F 999 -g -p "$list" -o "$work/$name.data" -- sleep "$PROFILE_SECONDS" >/dev/null 2>&1
  wait "$wrk_pid"
  t1=$(ticks "$@") u1=$(uticks "$@")
  local requests rps
  requests="$(awk '/requests in/ {print $1}' "$work/$name.wrk")"
  rps="$(awk '/Requests\/sec/ {print $2}' "$work/$name.wrk")"
  echo "### $name"
  echo
  awk -v r="$rps" -v q="$requests" -v t=$((t1 - t0)) -v u=$((u1 - u0)) -v hz="$hz" \
    'BEGIN { printf "%.0f req/s (under perf); CPU per request %.1f µs: user %.1f, kernel %.1f\n", r, t / hz * 1e6 / q, u / hz * 1e6 / q, (t - u) / hz * 1e6 / q }'
  echo
  echo "| library | % of samples |"
  echo "| --- | ---: |"
  perf report -i "$work/$name.data" --stdio --no-children --sort dso 2>/dev/null | awk '/^ +[0-9.]+%/ && $1+0 >= 0.5 {printf "| %s | %s |\n", $2, $1}'
  echo
  echo "| % self | symbol |"
  echo "| ---: | --- |"
  perf report -i "$work/$name.data" --stdio --no-children --sort sym 2>/dev/null \
    | awk -v top="$TOP" '/^ +[0-9.]+%/ && shown < top {pct=$1; $1=""; $2=""; sub(/^ +/, ""); printf "| %s | `%s` |\n", pct, $0; shown++}'
  echo
}

echo "## Profile beside nginx ($(date -u +%Y-%m-%dT%H:%MZ), wrk -t2 -c$CONNECTIONS, perf -F 999 for ${PROFILE_SECONDS}s)"
echo
profile "tollgate-proxy --data-path loop (plain route)" "http://127.0.0.1:$proxy/" "$proxy_pid"
workers=$(pgrep -P "$ngx_master" | tr '\n' ' ')
# shellcheck disable=SC2086
profile "nginx proxy_pass (keepalive 64, access_log off)" "http://127.0.0.1:$ngx/" $workers
