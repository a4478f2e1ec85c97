#!/usr/bin/env bash
# Profile tollgate-proxy under the benchmark's load: the same upstream nginx ("ok\n"), the same plain
# route and the same wrk load as bench/run-proxy-bench.sh, then
#   - perf record (cpu-clock sampling with frame-pointer call chains) of the proxy for PROFILE_SECONDS,
#   - context switches per request (from /proc/PID/task/*/status),
#   - system calls per request (perf stat on the syscall tracepoints for SYSCALL_SECONDS),
# and writes bench/results/profile-<UTC date>.md. Everything runs on 127.0.0.1 and stops by itself.
#
# Usage: bench/profile-proxy.sh [--no-build]
# ROUTE=plain (default, no auth) | jwt (ES256 token, cached after the first request, sub forwarded as
#   x-user-id, as the benchmark's JWT route) | limited (the same plus one Redis limit that never runs
#   out, with a redis-server started here on BASE_PORT+3).
# Environment (defaults): ROUTE=plain CONNECTIONS=64 THREADS=2 PROXY_THREADS=2 UPSTREAM_WORKERS=2 PROFILE_SECONDS=10
#   SYSCALL_SECONDS=5 FREQUENCY=999 BASE_PORT=18410 RESULTS_DIR=bench/results KEEP_PERF_DATA= (a path)
# Needs root (perf attaches to the proxy), and installs linux-perf, nginx, wrk, curl when missing.
set -Eeuo pipefail

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile-proxy: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PROXY_THREADS="${PROXY_THREADS:-2}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-2}"
PROFILE_SECONDS="${PROFILE_SECONDS:-10}"
SYSCALL_SECONDS="${SYSCALL_SECONDS:-5}"
FREQUENCY="${FREQUENCY:-999}"
BASE_PORT="${BASE_PORT:-18410}"
ROUTE="${ROUTE:-plain}"
case "$ROUTE" in plain|jwt|limited) ;; *) echo "profile-proxy: ROUTE must be plain, jwt or limited" >&2; exit 2 ;; esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"
proxy_bin="$repo/.build-bench/release/tollgate-proxy"

log() { echo "profile-proxy: $*" >&2; }
die() { log "$*"; exit 1; }

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v perf >/dev/null 2>&1 || missing+=(linux-perf)
if [ "$ROUTE" = "limited" ]; then command -v redis-server >/dev/null 2>&1 || missing+=(redis-server); fi
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

if ! command -v swift >/dev/null 2>&1; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    if [ -x "$candidate/swift" ]; then export PATH="$candidate:$PATH"; break; fi
  done
fi
if ((build)); then
  (cd "$repo" && swift build -c release --product tollgate-proxy --scratch-path .build-bench) >&2
fi
[ -x "$proxy_bin" ] || die "$proxy_bin is missing: build it or drop --no-build"
demangle="$(command -v swift-demangle || true)"
[ -n "$demangle" ] || die "swift-demangle is not on PATH (it ships with the Swift toolchain)"

upstream_port=$((BASE_PORT)); proxy_port=$((BASE_PORT + 1)); admin_port=$((BASE_PORT + 2)); redis_port=$((BASE_PORT + 3))
for port in "$upstream_port" "$proxy_port" "$admin_port" "$redis_port"; do
  [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ] || die "port $port is in use; set BASE_PORT to a free range (4 ports)"
done

work="$(mktemp -d /tmp/tollgate-profile.XXXXXX)"
chmod 755 "$work"
started=()
cleanup() {
  local status=$? pid
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'log "failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR

mkdir -p "$work/upstream/tmp" "$work/policies"
cat >"$work/upstream/nginx.conf" <<EOF
pid $work/upstream/nginx.pid;
error_log $work/upstream/error.log warn;
worker_processes $UPSTREAM_WORKERS;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/upstream/tmp/body;
    proxy_temp_path $work/upstream/tmp/proxy;
    fastcgi_temp_path $work/upstream/tmp/fastcgi;
    uwsgi_temp_path $work/upstream/tmp/uwsgi;
    scgi_temp_path $work/upstream/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$upstream_port reuseport;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
mkdir -p "$work/policies/keys"
cp "$repo/Tests/Fixtures/jwt/policies/keys/ec-jwks.json" "$work/policies/keys/"
token="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["authorization"] for c in d["cases"] if c["name"] == "es256-valid-on-ec"))' "$repo/Tests/Fixtures/jwt/cases.json")"
cat >"$work/policies/plain.yaml" <<'EOF'
version: 1
service: profile
issuers:
  ec: { issuer: https://ec.test, keys: [keys/ec-jwks.json], audiences: [conformance], algorithms: [ES256, ES384, ES512] }
limits:
  roomy: { rate: 1000000000/s, burst: 1000000000, key: [ip] }
routes:
  - name: jwt
    match: { prefix: /jwt }
    auth: { issuers: [ec] }
    forward: { claims: { sub: x-user-id } }
  - name: limited
    match: { prefix: /limited }
    auth: { issuers: [ec] }
    forward: { claims: { sub: x-user-id } }
    limits: [roomy]
  - name: plain
    match: { prefix: / }
    auth: none
EOF
case "$ROUTE" in
  plain) path=/; wrk_header=() ;;
  *) path=/$ROUTE; wrk_header=(-H "Authorization: $token") ;;
esac

wait_http() {
  for _ in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || return 1
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
requests_total() {
  curl -fsS --max-time 2 "http://127.0.0.1:$admin_port/metrics" | awk '/^tollgate_requests_total/ { s += $2 } END { print s + 0 }'
}
context_switches() {  # "VOLUNTARY INVOLUNTARY" over the proxy's threads
  cat /proc/"$proxy_pid"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }'
}
run_wrk() {  # run_wrk SECONDS: wrk in the background, bounded by its duration; sets wrk_pid
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${1}s" "${wrk_header[@]}" "http://127.0.0.1:$proxy_port$path" >"$work/wrk.out" 2>&1 &
  wrk_pid=$!
  started+=("$wrk_pid")
}

"$nginx_bin" -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
upstream_pid=$!
started+=("$upstream_pid")
wait_http "http://127.0.0.1:$upstream_port/" "$upstream_pid" || die "upstream nginx did not start"

redis_args=()
if [ "$ROUTE" = "limited" ]; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no --loglevel warning \
    </dev/null >"$work/redis.log" 2>&1 &
  started+=("$!")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis_args=(--redis "redis://127.0.0.1:$redis_port")
fi
"$proxy_bin" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$proxy_port" \
  --admin "127.0.0.1:$admin_port" --policies "$work/policies" --threads "$PROXY_THREADS" --log-format json \
  "${redis_args[@]}" </dev/null >/dev/null 2>"$work/proxy.stderr" &
proxy_pid=$!
started+=("$proxy_pid")
wait_http "http://127.0.0.1:$admin_port/healthz" "$proxy_pid" || die "tollgate-proxy did not become healthy: $(tail -n 20 "$work/proxy.stderr")"

# 1. perf, with context switches and requests counted over the same window.
log "perf record -e cpu-clock -F $FREQUENCY -g -p $proxy_pid for ${PROFILE_SECONDS}s under wrk -t$THREADS -c$CONNECTIONS"
run_wrk $((PROFILE_SECONDS + 4))
sleep 2
requests0="$(requests_total)"; switches0="$(context_switches)"
perf record -q -e cpu-clock -F "$FREQUENCY" -g -p "$proxy_pid" -o "$work/perf.data" -- sleep "$PROFILE_SECONDS" 2>"$work/perf.stderr" \
  || die "perf record failed: $(cat "$work/perf.stderr")"
requests1="$(requests_total)"; switches1="$(context_switches)"
wait "$wrk_pid" || true
rps_under_perf="$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.out")"
requests=$((requests1 - requests0))
voluntary=$(( ${switches1% *} - ${switches0% *} )); involuntary=$(( ${switches1#* } - ${switches0#* } ))

# 2. System calls per request: perf stat on the syscall tracepoints while a bounded wrk run goes.
syscalls=(read readv recvfrom recvmsg write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl getsockopt
  setsockopt futex accept4 close)
events="raw_syscalls:sys_enter"
for name in "${syscalls[@]}"; do events="$events,syscalls:sys_enter_$name"; done
# perf stat runs wrk itself: the counters are open before wrk starts and close after it ends, so the
# requests wrk counts and the system calls perf counts cover the same window.
log "perf stat -e <syscall tracepoints> -p $proxy_pid -- wrk -t$THREADS -c$CONNECTIONS -d${SYSCALL_SECONDS}s"
if perf stat -x, -e "$events" -p "$proxy_pid" -o "$work/syscalls.csv" -- \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SYSCALL_SECONDS}s" "${wrk_header[@]}" "http://127.0.0.1:$proxy_port$path" >"$work/wrk-syscalls.out" 2>"$work/perf-stat.stderr"; then
  syscall_requests="$(awk '/requests in/ { print $1 }' "$work/wrk-syscalls.out")"
else
  log "perf stat on syscall tracepoints failed (no tracefs?): $(head -3 "$work/perf-stat.stderr")"
  syscall_requests=0
fi

# 3. Report. KEEP_PERF_DATA=PATH keeps the samples for a closer look (`perf report -i PATH`).
if [ -n "${KEEP_PERF_DATA:-}" ]; then cp "$work/perf.data" "$KEEP_PERF_DATA"; fi
perf script -i "$work/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null | "$demangle" --simplified \
  | python3 "$repo/bench/perf-summary.py" 25 >"$work/summary.md"

stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then commit="$commit dirty"; fi
mkdir -p "$RESULTS_DIR"
report="$RESULTS_DIR/profile-$stamp.md"
{
  echo "# tollgate-proxy profile, $stamp"
  echo
  echo "- git commit: $commit; binary sha256 $(sha256sum "$proxy_bin" | cut -c1-12); nproc $(nproc); kernel $(uname -r); $(perf --version)"
  echo "- load: wrk -t$THREADS -c$CONNECTIONS http://127.0.0.1:$proxy_port$path (ROUTE=$ROUTE, upstream nginx returning \"ok\\n\" with $UPSTREAM_WORKERS workers), proxy --threads $PROXY_THREADS, access log to /dev/null"
  echo "- sampling: \`perf record -e cpu-clock -F $FREQUENCY -g -p PID -- sleep $PROFILE_SECONDS\` (software clock: this VM has no hardware counters)"
  echo "- under perf: $rps_under_perf req/s (wrk); $requests requests answered in the ${PROFILE_SECONDS}s window"
  awk -v r="$requests" -v v="$voluntary" -v n="$involuntary" 'BEGIN {
    if (r > 0) printf "- context switches of the proxy threads: %d voluntary, %d involuntary (%.2f per request)\n", v, n, (v + n) / r }'
  echo
  cat "$work/summary.md"
  echo
  echo "## System calls per request"
  echo
  if ((syscall_requests > 0)); then
    echo "\`perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_<name>,… -p PID -- wrk -t$THREADS -c$CONNECTIONS -d${SYSCALL_SECONDS}s URL\`: $syscall_requests requests (wrk's count; its connections were new, so a few setup calls per connection are included)."
    echo
    echo "| syscall | calls | per request |"
    echo "| --- | ---: | ---: |"
    awk -F, -v r="$syscall_requests" '$3 ~ /sys_enter/ && $1 ~ /^[0-9]+$/ && $1 > 0 {
        name = $3; sub(/.*sys_enter_?/, "", name); if (name == "") name = "all system calls"
        printf "| %s | %d | %.2f |\n", name, $1, $1 / r }' "$work/syscalls.csv"
  else
    echo "(not measured: syscall tracepoints unavailable)"
  fi
} >"$report"
cat "$report"
echo
echo "written: ${report#"$repo"/}"
