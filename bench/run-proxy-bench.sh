#!/usr/bin/env bash
# Whole-proxy benchmark: the same wrk load against
#   (a) the upstream directly,
#   (b) tollgate-proxy (release build, plain route: no auth, no limits) in front of it,
#   (c) nginx proxy_pass with upstream keep-alive in front of it,
#   and the ceilings (CEILINGS=1, the default; issue 15):
#   (d) nginx `stream`: an L4 TCP proxy, one upstream connection per client connection,
#   (e) l4-forwarder (Benchmarks/Sources/l4-forwarder): a minimal SwiftNIO TCP forwarder, no HTTP work,
#   (f) tollgate-loop-l4 (Sources/LoopL4Forwarder, LOOP_L4=1 with CEILINGS=1; issue 16): the same
#       forwarding on TollgateLoop, the sidecar's own epoll loop, no NIO,
# all on this machine, on 127.0.0.1 only. Every wrk run is bounded by its --duration.
#
# Usage: bench/run-proxy-bench.sh [--no-build]
# Environment (defaults):
#   CONNECTIONS=64 THREADS=2 DURATION=10s   wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, same for each target
#   WARMUP=2s                               an unrecorded wrk run of this length before each target (0 to skip)
#   PROXY_THREADS=2                         tollgate-proxy --threads, and nginx proxy worker_processes
#   DATA_PATH=loop                          tollgate-proxy --data-path: loop (its own epoll loops) or nio (SwiftNIO)
#   UPSTREAM_WORKERS=2                      worker_processes of the upstream nginx
#   BASE_PORT=18310                         upstream, proxy, proxy admin, nginx proxy use BASE_PORT..BASE_PORT+3,
#                                           nginx stream and l4-forwarder BASE_PORT+6 and +7, tollgate-loop-l4 +8
#   ROUNDS=1                                rounds of (b) plain route, (c), (d), (e), alternated; medians of the ratios
#   CEILINGS=1                              0 leaves out (d), (e) and (f)
#   LOOP_L4=1                               0 leaves out (f) (only with CEILINGS=1)
#   FORWARDER_RECV=adaptive:1024,2048,65536 l4-forwarder's receive allocator (or fixed:SIZE)
#   QUIET_TIMEOUT=120                       before each target, wait up to this many seconds for the machine to be
#                                           idle (< 25% of a core busy for 1 s); a run that other work still
#                                           overlaps is flagged with a WARNING in the table and the report
#   RESULTS_DIR=bench/results               where proxy-<UTC date>.md is written
# Needs root (or sudo) only when nginx, wrk, curl or libnginx-mod-stream must be installed.
set -Eeuo pipefail

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; echo "RATELIMIT=1 adds the rate-limit targets (issue 5): tollgate-proxy on an RS256 route without and with one Redis limit (redis-server started here) and with one local: true limit, HAProxy 2.6 doing jwt_verify + a stick-table http_req_rate limit, the same three at one connection (added latency), alternated over RATELIMIT_ROUNDS rounds (default 3) with medians, Redis CPU, and redis-benchmark of the limit script's EVALSHA."; }

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-proxy-bench: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
PROXY_THREADS="${PROXY_THREADS:-2}"
DATA_PATH="${DATA_PATH:-loop}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-2}"
BASE_PORT="${BASE_PORT:-18310}"
QUIET_TIMEOUT="${QUIET_TIMEOUT:-120}"
RATELIMIT="${RATELIMIT:-0}"
RATELIMIT_ROUNDS="${RATELIMIT_ROUNDS:-3}"
ROUNDS="${ROUNDS:-1}"
CEILINGS="${CEILINGS:-1}"
FORWARDER_RECV="${FORWARDER_RECV:-adaptive:1024,2048,65536}"
LOOP_L4="${LOOP_L4:-1}"
if [ "$CEILINGS" != "1" ]; then LOOP_L4=0; fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"
scratch="$repo/.build-bench"
proxy_bin="$scratch/release/tollgate-proxy"
# The NIO forwarder lives in the Benchmarks package (its own Package.swift), so CI never builds it.
forwarder_bin="$repo/Benchmarks/.build-bench/release/l4-forwarder"
# The loop's forwarder is a product of the root package (it needs only TollgateLoop, no NIO).
loop_l4_bin="$scratch/release/tollgate-loop-l4"
stream_module=/usr/lib/nginx/modules/ngx_stream_module.so

log() { echo "run-proxy-bench: $*" >&2; }
die() { log "$*"; exit 1; }

# --- tools -------------------------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "$CEILINGS" = "1" ]; then [ -f "$stream_module" ] || missing+=(libnginx-mod-stream); fi
if [ "$RATELIMIT" = "1" ]; then
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
  command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
fi
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # nginx-light is the Debian name; fall back to nginx where it does not exist.
  if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]/nginx-light/nginx}" >/dev/null
  fi
fi
# Debian's nginx lives in /usr/sbin, which a non-root PATH may lack.
nginx_bin="$(command -v nginx || true)"
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } || die "nginx not found"

# --- build -------------------------------------------------------------------------------------------
if ((build)); then
  if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
      if [ -x "$candidate/swift" ]; then export PATH="$candidate:$PATH"; break; fi
    done
  fi
  command -v swift >/dev/null 2>&1 || die "swift is not on PATH (or pass --no-build with a built $proxy_bin)"
  build_cmd=(swift build -c release --product tollgate-proxy --scratch-path .build-bench)
  log "building: ${build_cmd[*]}"
  (cd "$repo" && "${build_cmd[@]}") >&2
  if [ "$CEILINGS" = "1" ]; then
    forwarder_build_cmd=(swift build -c release --product l4-forwarder --scratch-path .build-bench)
    log "building, in Benchmarks/: ${forwarder_build_cmd[*]}"
    (cd "$repo/Benchmarks" && "${forwarder_build_cmd[@]}") >&2
  fi
  # --- (f) tollgate-loop-l4 (issue 16) ---
  if [ "$LOOP_L4" = "1" ]; then
    loop_l4_build_cmd=(swift build -c release --product tollgate-loop-l4 --scratch-path .build-bench)
    log "building: ${loop_l4_build_cmd[*]}"
    (cd "$repo" && "${loop_l4_build_cmd[@]}") >&2
  fi
  # --- end (f) ---
fi
if [ "$LOOP_L4" = "1" ]; then
  [ -x "$loop_l4_bin" ] || die "$loop_l4_bin is missing: build it with 'swift build -c release --product tollgate-loop-l4 --scratch-path .build-bench', drop --no-build, or set LOOP_L4=0"
fi
if [ "$CEILINGS" = "1" ]; then
  [ -x "$forwarder_bin" ] || die "$forwarder_bin is missing: build it with 'cd Benchmarks && swift build -c release --product l4-forwarder --scratch-path .build-bench', drop --no-build, or set CEILINGS=0"
  [ -f "$stream_module" ] || die "$stream_module is missing (Debian: libnginx-mod-stream)"
fi
[ -x "$proxy_bin" ] || die "$proxy_bin is missing: build it with 'swift build -c release --product tollgate-proxy --scratch-path .build-bench' or drop --no-build"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- ports -------------------------------------------------------------------------------------------
upstream_port=$((BASE_PORT))
proxy_port=$((BASE_PORT + 1))
admin_port=$((BASE_PORT + 2))
nginx_proxy_port=$((BASE_PORT + 3))
redis_port=$((BASE_PORT + 4))
haproxy_port=$((BASE_PORT + 5))
stream_port=$((BASE_PORT + 6))
forwarder_port=$((BASE_PORT + 7))
loop_l4_port=$((BASE_PORT + 8))
for port in "$upstream_port" "$proxy_port" "$admin_port" "$nginx_proxy_port" "$redis_port" "$haproxy_port" "$stream_port" "$forwarder_port" "$loop_l4_port"; do
  if [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
    die "port $port on this machine is in use; set BASE_PORT to a free range (9 ports)"
  fi
done

# --- cleanup: everything this script started, by PID -------------------------------------------------
work="$(mktemp -d /tmp/tollgate-bench.XXXXXX)"
chmod 755 "$work"  # nginx workers run as an unprivileged user when started as root
started=()
cleanup() {
  local status=$?
  local pid
  for pid in "${started[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${started[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'log "failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

stop_pid() {  # stop one process this script started, and forget it
  local pid="$1" rest=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  for p in "${started[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
  started=("${rest[@]+"${rest[@]}"}")
}

wait_http() {  # wait_http URL PID: up to 30 s for a 200, and fail early if PID died
  local url="$1" pid="$2"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# --- memory: VmRSS and VmHWM (kB) of a process, or of a process and its children (nginx) -----------
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
tree_pids() { echo "$1"; { ps -o pid= --ppid "$1" 2>/dev/null || true; } | tr -d ' '; }
memory_of() {  # memory_of PID: "RSS_KB HWM_KB" summed over PID and its direct children
  local rss=0 hwm=0 pid r h
  for pid in $(tree_pids "$1"); do
    r="$(status_kb "$pid" VmRSS)"; h="$(status_kb "$pid" VmHWM)"
    rss=$((rss + ${r:-0})); hwm=$((hwm + ${h:-0}))
  done
  echo "$rss $hwm"
}
cpu_ticks() {  # cpu_ticks PID [FIELDS]: utime+stime (or FIELDS, an awk expression) in clock ticks, summed over PID and its direct children
  local total=0 pid t
  for pid in $(tree_pids "$1"); do
    t="$( { sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null || true; } | awk "{ print ${2:-\$12 + \$13} }")"
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
sys_ticks() { cpu_ticks "$1" '$13'; }  # stime only: the kernel's share
clock_ticks="$(getconf CLK_TCK)"
cpu_percent() {  # cpu_percent TICKS SECONDS: % of one core
  awk -v t="$1" -v s="$2" -v hz="$clock_ticks" 'BEGIN { printf "%.0f", 100 * t / hz / s }'
}
machine_ticks() {  # machine_ticks: "BUSY SOFTIRQ" ticks of all cores, from /proc/stat
  awk '$1 == "cpu" { busy = 0; for (i = 2; i <= NF; i++) if (i != 5 && i != 6) busy += $i; print busy, $8; exit }' /proc/stat
}
others_snapshot() {  # others_snapshot FILE: "PID TICKS" for every process outside this script's tree
  # TICKS = utime+stime. (Not cutime: a parent that reaps a long-lived child within the window would
  # add that child's whole life.) A process that starts and ends inside the window is not seen here;
  # run_target also bounds it from /proc/stat.
  local exclude
  exclude="$(ps -eo pid=,ppid= | awk -v root="$$" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q]; if (q == root) print p }; print root }' | tr '\n' ' ')"
  # (`|| true`: a process may exit between the glob and the read.)
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v exclude="$exclude" '
    BEGIN { n = split(exclude, e, " "); for (i = 1; i <= n; i++) skip[e[i]] = 1 }
    { pid = $1; line = $0; comm = $0; sub(/.*\) /, "", line); split(line, f, " ")
      sub(/^[^(]*\(/, "", comm); sub(/\) [^)]*$/, "", comm); gsub(/ /, "_", comm)
      if (!(pid in skip)) print pid, f[12] + f[13], comm }' >"$1"
}
others_ticks() {  # others_ticks BEFORE AFTER: CPU ticks that processes outside this script used in between
  awk 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) total += d } END { print total + 0 }' "$1" "$2"
}
others_top() {  # others_top BEFORE AFTER: the three busiest of them, "name ticks, …"
  awk 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) by[$3] += d }
    END { for (c in by) print by[c], c }' "$1" "$2" | sort -rn | head -3 | awk '{ printf "%s%s %d ticks", (NR > 1 ? ", " : ""), $2, $1 }'
}
children_ticks() {  # sets kids: CPU time of this shell's reaped children (wrk), in clock ticks
  # `times` in the shell itself: in a $(…) subshell it would see that subshell's children only.
  times >"$work/times"
  kids="$(awk -v hz="$clock_ticks" 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
    printf "%.0f", t * hz }' "$work/times")"
}
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# --- wrk ---------------------------------------------------------------------------------------------
to_ms() {  # wrk latency ("812.00us", "1.23ms", "1.05s") to milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n = n * 60000; else if (v ~ /s$/) n = n * 1000
    printf "%.3f", n }'
}

wrk_cmd() { echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $1"; }

run_wrk() {  # wrk as a background job, so that a signal to this script is handled at once
  wrk "$@" &
  local pid=$!
  started+=("$pid")
  wait "$pid" || die "wrk $* failed"
  stop_pid "$pid"
}

rows=()
raw_sections=()
cpu_notes=()
busy_warnings=()
wait_quiet() {  # up to QUIET_TIMEOUT seconds for a 1-second window where the machine is < 25% busy
  local deadline=$((SECONDS + QUIET_TIMEOUT)) a b
  while :; do
    a="$(machine_ticks)"; sleep 1; b="$(machine_ticks)"
    if (( (${b% *} - ${a% *}) * 100 < 25 * clock_ticks )); then return 0; fi
    if ((SECONDS >= deadline)); then
      log "WARNING: the machine stayed busy for ${QUIET_TIMEOUT}s (something else is running); measuring anyway"
      return 0
    fi
  done
}

run_target() {  # run_target NAME URL PID [HEADER]: HEADER ("Name: value") goes on every request
  local name="$1" url="$2" pid="$3" out rps p50 p99 errors non2xx mem
  local header_args=()
  if [ -n "${4:-}" ]; then header_args=(-H "$4"); fi
  wait_quiet
  local body
  body="$(curl -fsS --max-time 2 "${header_args[@]}" "$url")" || die "$name: $url does not answer 200"
  [ "$body" = "ok" ] || die "$name: $url answered \"$body\", expected \"ok\""
  if [ "$WARMUP" != "0" ]; then
    log "$name: warm-up wrk -t$THREADS -c$CONNECTIONS -d$WARMUP $url"
    run_wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${header_args[@]}" "$url" >/dev/null
  fi
  log "$name: $(wrk_cmd "$url")"
  local ticks0 systicks0 upticks0 t0 t1 cpu upcpu machine0 machine1 kids kids0 kids1
  ticks0="$(cpu_ticks "$pid")"; systicks0="$(sys_ticks "$pid")"; upticks0="$(cpu_ticks "$upstream_pid")"; t0="$(date +%s.%N)"
  others_snapshot "$work/others.0"
  machine0="$(machine_ticks)"; children_ticks; kids0="$kids"
  run_wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${header_args[@]}" "$url" >"$work/wrk.out"
  out="$(cat "$work/wrk.out")"
  t1="$(date +%s.%N)"
  machine1="$(machine_ticks)"
  others_snapshot "$work/others.1"
  echo "$out" >&2
  kill -0 "$pid" 2>/dev/null || die "$name: process $pid died during the run"
  local seconds
  seconds="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  cpu="$(cpu_percent $(($(cpu_ticks "$pid") - ticks0)) "$seconds")"
  local target_ticks upstream_ticks=0 wrk_ticks busy softirq other
  target_ticks=$(($(cpu_ticks "$pid") - ticks0))
  local target_sys_ticks=$(($(sys_ticks "$pid") - systicks0))
  cpu="$(cpu_percent "$target_ticks" "$seconds")"
  if [ "$pid" = "$upstream_pid" ]; then
    upcpu="—"
  else
    upstream_ticks=$(($(cpu_ticks "$upstream_pid") - upticks0))
    upcpu="$(cpu_percent "$upstream_ticks" "$seconds")"
  fi
  children_ticks; kids1="$kids"  # after run_wrk has reaped wrk
  wrk_ticks=$((kids1 - kids0))
  busy=$((${machine1% *} - ${machine0% *})); softirq=$((${machine1#* } - ${machine0#* }))
  # Whatever else ran on the machine in the same window (another build or test) skews every number.
  # Two lower bounds, the larger wins: other processes' own utime+stime (misses processes that start
  # and end inside the window), and machine busy minus this benchmark's processes and all softirq
  # (softirq is partly charged to our processes too, so this undercounts).
  other="$(others_ticks "$work/others.0" "$work/others.1")"
  local unaccounted=$((busy - softirq - target_ticks - upstream_ticks - wrk_ticks))
  if ((unaccounted > other)); then other=$unaccounted; fi
  cpu_notes+=("| $name | $(cpu_percent "$busy" "$seconds") | $cpu | ${upcpu/—/(same)} | $(cpu_percent "$wrk_ticks" "$seconds") | $(cpu_percent "$softirq" "$seconds") | $(cpu_percent "$other" "$seconds") |")
  if (( other * 100 > 10 * clock_ticks * ${seconds%.*} )); then
    log "WARNING: $name: other processes used $(cpu_percent "$other" "$seconds")% CPU during the run; the machine was not quiet"
    busy_warnings+=("$name: other processes used $(cpu_percent "$other" "$seconds")% of a core during the run (busiest other processes seen: $(others_top "$work/others.0" "$work/others.1"); $clock_ticks ticks = 1 s)")
  fi
  mem="$(memory_of "$pid")"
  rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
  p50="$(awk '$1 == "50%" { print $2 }' <<<"$out")"
  p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")"
  errors="$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")"
  local problems="none"
  if [ -n "$errors" ] || [ -n "$non2xx" ]; then
    problems="${non2xx:+non-2xx: $non2xx}${non2xx:+${errors:+; }}${errors:+socket errors: $errors}"
  fi
  local per_request sys_per_request
  per_request="$(awk -v t="$target_ticks" -v hz="$clock_ticks" -v r="$rps" -v s="$seconds" 'BEGIN { printf "%.0f", (t / hz) / (r * s) * 1e6 }')"
  sys_per_request="$(awk -v t="$target_sys_ticks" -v hz="$clock_ticks" -v r="$rps" -v s="$seconds" 'BEGIN { printf "%.0f", (t / hz) / (r * s) * 1e6 }')"
  last_rps="$rps" last_p50="$(to_ms "$p50")"
  last_cpu_per_request="$(awk -v t="$target_ticks" -v hz="$clock_ticks" -v r="$rps" -v s="$seconds" 'BEGIN { printf "%.1f", (t / hz) / (r * s) * 1e6 }')"
  rows+=("| $name | $(printf '%.0f' "$rps") | $(to_ms "$p50") | $(to_ms "$p99") | $(mib "${mem% *}") | $(mib "${mem#* }") | $cpu | $per_request | $sys_per_request | $upcpu | $problems |")
  raw_sections+=("### $name"$'\n\n'"\`$(wrk_cmd "$url")\`"$'\n\n```\n'"$out"$'\n```')
}

# --- the upstream: nginx returning "ok\n" --------------------------------------------------------------
nginx_common() {  # nginx_common PREFIX: directives that keep an nginx entirely inside PREFIX
  cat <<EOF
pid $1/nginx.pid;
error_log $1/error.log warn;
EOF
}
nginx_http_common() {
  cat <<EOF
    access_log off;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
EOF
}

upstream_prefix="$work/upstream"
mkdir -p "$upstream_prefix/tmp"
cat >"$upstream_prefix/nginx.conf" <<EOF
$(nginx_common "$upstream_prefix")
worker_processes $UPSTREAM_WORKERS;
events { worker_connections 4096; }
http {
$(nginx_http_common "$upstream_prefix")
    server {
        listen 127.0.0.1:$upstream_port reuseport;
        location / {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF

nginx_proxy_prefix="$work/nginx-proxy"
mkdir -p "$nginx_proxy_prefix/tmp"
cat >"$nginx_proxy_prefix/nginx.conf" <<EOF
$(nginx_common "$nginx_proxy_prefix")
worker_processes $PROXY_THREADS;
events { worker_connections 4096; }
http {
$(nginx_http_common "$nginx_proxy_prefix")
    upstream backend {
        server 127.0.0.1:$upstream_port;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nginx_proxy_port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

# (d) nginx stream: L4, the same workers; one upstream connection per client connection (stream has
# no upstream keep-alive: there is no request boundary to reuse a connection at).
stream_prefix="$work/nginx-stream"
mkdir -p "$stream_prefix"
cat >"$stream_prefix/nginx.conf" <<EOF
load_module $stream_module;
$(nginx_common "$stream_prefix")
worker_processes $PROXY_THREADS;
events { worker_connections 4096; }
stream {
    upstream backend {
        server 127.0.0.1:$upstream_port;
    }
    server {
        listen 127.0.0.1:$stream_port;
        proxy_pass backend;
    }
}
EOF

policy_dir="$work/policies"
mkdir -p "$policy_dir"
# Two routes: /jwt needs an ES256 token (the conformance fixtures' key and a token made by joserfc,
# the same token on every request, so the verified-token cache answers after the first), the rest is
# plain.
mkdir -p "$policy_dir/keys"
cp "$repo/Tests/Fixtures/jwt/policies/keys/ec-jwks.json" "$policy_dir/keys/"
jwt_token="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["authorization"] for c in d["cases"] if c["name"] == "es256-valid-on-ec"))' "$repo/Tests/Fixtures/jwt/cases.json")"
cat >"$policy_dir/plain.yaml" <<'EOF'
version: 1
issuers:
  ec: { issuer: https://ec.test, keys: [keys/ec-jwks.json], audiences: [conformance], algorithms: [ES256, ES384, ES512] }
routes:
  - name: jwt
    match: { prefix: /jwt }
    auth: { issuers: [ec] }
    forward: { claims: { sub: x-user-id } }
  - name: plain
    match: { prefix: / }
    auth: none
EOF

start_nginx() {  # start_nginx PREFIX: starts nginx in the foreground of a background job; sets nginx_pid
  "$nginx_bin" -t -q -p "$1" -e "$1/error.log" -c "$1/nginx.conf" >&2 || die "nginx config in $1 is invalid"
  "$nginx_bin" -p "$1" -e "$1/error.log" -c "$1/nginx.conf" -g 'daemon off;' </dev/null >"$1/stdout.log" 2>&1 &
  nginx_pid=$!
  started+=("$nginx_pid")
}

log "upstream nginx on 127.0.0.1:$upstream_port ($UPSTREAM_WORKERS workers)"
start_nginx "$upstream_prefix"
upstream_pid="$nginx_pid"
wait_http "http://127.0.0.1:$upstream_port/" "$upstream_pid" || die "upstream nginx did not start: $(cat "$upstream_prefix/error.log" 2>/dev/null)"

# (a) the upstream directly
run_target "upstream direct (nginx return 200)" "http://127.0.0.1:$upstream_port/" "$upstream_pid"

# (b) tollgate-proxy, (c) nginx proxy_pass and, with CEILINGS=1, (d) nginx stream and (e) l4-forwarder
# all run from here on; the wrk load goes to one at a time, alternated over ROUNDS rounds, so that a
# slow phase of the machine hits all of them alike (ratios are taken within a round).
proxy_cmd=("$proxy_bin" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$proxy_port"
  --admin "127.0.0.1:$admin_port" --policies "$policy_dir" --threads "$PROXY_THREADS" --log-format json --data-path "$DATA_PATH")
log "tollgate-proxy: ${proxy_cmd[*]} >/dev/null"
"${proxy_cmd[@]}" </dev/null >/dev/null 2>"$work/proxy.stderr" &
proxy_pid=$!
started+=("$proxy_pid")
wait_http "http://127.0.0.1:$admin_port/healthz" "$proxy_pid" || die "tollgate-proxy did not become healthy: $(tail -20 "$work/proxy.stderr")"

log "nginx proxy on 127.0.0.1:$nginx_proxy_port ($PROXY_THREADS workers, upstream keepalive 64)"
start_nginx "$nginx_proxy_prefix"
nginx_proxy_pid="$nginx_pid"
wait_http "http://127.0.0.1:$nginx_proxy_port/" "$nginx_proxy_pid" || die "nginx proxy did not start: $(cat "$nginx_proxy_prefix/error.log" 2>/dev/null)"

if [ "$CEILINGS" = "1" ]; then
  log "nginx stream on 127.0.0.1:$stream_port ($PROXY_THREADS workers)"
  start_nginx "$stream_prefix"
  stream_pid="$nginx_pid"
  wait_http "http://127.0.0.1:$stream_port/" "$stream_pid" || die "nginx stream did not start: $(cat "$stream_prefix/error.log" 2>/dev/null)"
  forwarder_cmd=("$forwarder_bin" --listen "127.0.0.1:$forwarder_port" --upstream "127.0.0.1:$upstream_port"
    --threads "$PROXY_THREADS" --recv "$FORWARDER_RECV")
  log "l4-forwarder: ${forwarder_cmd[*]}"
  "${forwarder_cmd[@]}" </dev/null >/dev/null 2>"$work/forwarder.stderr" &
  forwarder_pid=$!
  started+=("$forwarder_pid")
  wait_http "http://127.0.0.1:$forwarder_port/" "$forwarder_pid" || die "l4-forwarder did not start: $(cat "$work/forwarder.stderr")"
fi
# --- (f) tollgate-loop-l4 (issue 16): started beside the other ceilings ---
loop_l4_summary=()
if [ "$LOOP_L4" = "1" ]; then
  loop_l4_cmd=("$loop_l4_bin" --listen "127.0.0.1:$loop_l4_port" --upstream "127.0.0.1:$upstream_port" --threads "$PROXY_THREADS")
  log "tollgate-loop-l4: ${loop_l4_cmd[*]}"
  "${loop_l4_cmd[@]}" </dev/null >"$work/loop-l4.stdout" 2>"$work/loop-l4.stderr" &
  loop_l4_pid=$!
  started+=("$loop_l4_pid")
  wait_http "http://127.0.0.1:$loop_l4_port/" "$loop_l4_pid" || die "tollgate-loop-l4 did not start: $(cat "$work/loop-l4.stderr")"
fi
# --- end (f) ---

ceiling_summary=()
ceiling_cpu=()
for round in $(seq 1 "$ROUNDS"); do
  suffix=""
  if ((ROUNDS > 1)); then suffix=", round $round"; fi
  run_target "tollgate-proxy (plain route)$suffix" "http://127.0.0.1:$proxy_port/" "$proxy_pid"
  plain_rps="$last_rps" plain_cpu="$last_cpu_per_request"
  if ((round == 1)); then
    run_target "tollgate-proxy (JWT route, ES256, cached token)" "http://127.0.0.1:$proxy_port/jwt" "$proxy_pid" "Authorization: $jwt_token"
  fi
  run_target "nginx proxy_pass (keepalive 64)$suffix" "http://127.0.0.1:$nginx_proxy_port/" "$nginx_proxy_pid"
  pass_rps="$last_rps" pass_cpu="$last_cpu_per_request"
  if [ "$CEILINGS" = "1" ]; then
    run_target "nginx stream (L4)$suffix" "http://127.0.0.1:$stream_port/" "$stream_pid"
    stream_rps="$last_rps" stream_cpu="$last_cpu_per_request"
    run_target "l4-forwarder (SwiftNIO, L4)$suffix" "http://127.0.0.1:$forwarder_port/" "$forwarder_pid"
    forwarder_rps="$last_rps" forwarder_cpu="$last_cpu_per_request"
    # --- (f) tollgate-loop-l4, in the same round, right after the other two L4 ceilings ---
    if [ "$LOOP_L4" = "1" ]; then
      run_target "tollgate-loop-l4 (TollgateLoop, L4)$suffix" "http://127.0.0.1:$loop_l4_port/" "$loop_l4_pid"
      loop_l4_summary+=("$(awk -v r="$round" -v l="$last_rps" -v s="$stream_rps" -v f="$forwarder_rps" -v lc="$last_cpu_per_request" -v sc="$stream_cpu" -v fc="$forwarder_cpu" \
        'BEGIN { printf "%d %.0f %.0f %.0f %.3f %.3f %.1f %.1f %.1f", r, l, s, f, l / s, l / f, lc, sc, fc }')")
    fi
    # --- end (f) ---
    ceiling_summary+=("$(awk -v r="$round" -v p="$plain_rps" -v n="$pass_rps" -v s="$stream_rps" -v f="$forwarder_rps" \
      'BEGIN { printf "%d %.0f %.0f %.0f %.0f %.3f %.3f %.3f %.3f %.3f", r, p, n, s, f, p / n, p / s, p / f, f / n, f / s }')")
    # CPU time per request of each target (its own utime+stime over the requests served) depends
    # less on what else the machine runs than req/s does.
    ceiling_cpu+=("$(awk -v r="$round" -v p="$plain_cpu" -v n="$pass_cpu" -v s="$stream_cpu" -v f="$forwarder_cpu" \
      'BEGIN { printf "%d %.1f %.1f %.1f %.1f %.2f %.2f %.2f", r, p, n, s, f, (n > 0 ? p / n : 0), (s > 0 ? p / s : 0), (f > 0 ? p / f : 0) }')")
  fi
done
proxy_requests_metric="$(curl -fsS --max-time 2 "http://127.0.0.1:$admin_port/metrics" 2>/dev/null | grep -E '^tollgate_(requests_total|upstream_errors_total|auth_decisions_total)' | head -12 || true)"
stop_pid "$proxy_pid"
stop_pid "$nginx_proxy_pid"
if [ "$CEILINGS" = "1" ]; then
  stop_pid "$stream_pid"
  stop_pid "$forwarder_pid"
fi
# --- (f) ---
loop_l4_stats=""
if [ "$LOOP_L4" = "1" ]; then
  stop_pid "$loop_l4_pid"
  loop_l4_stats="$(cat "$work/loop-l4.stdout" 2>/dev/null || true)"
fi
# --- end (f) ---

# --- rate-limit targets (RATELIMIT=1) ------------------------------------------------------------------
ratelimit_notes=()
if [ "$RATELIMIT" = "1" ]; then
  redis_bin="$(command -v redis-server || echo /usr/bin/redis-server)"
  haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
  rl_dir="$work/ratelimit"
  mkdir -p "$rl_dir/policies/keys"
  cp "$repo/Tests/Fixtures/jwt/policies/keys/rsa.pem" "$rl_dir/policies/keys/rsa.pem"
  rs_token="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["authorization"] for c in d["cases"] if c["name"] == "rs256-valid-on-rsa"))' "$repo/Tests/Fixtures/jwt/cases.json")"
  cat >"$rl_dir/policies/ratelimit.yaml" <<'EOF'
version: 1
service: bench
issuers:
  rsa: { issuer: https://rsa.test, keys: [keys/rsa.pem], audiences: [conformance], algorithms: [RS256] }
limits:
  # Never runs out: every request is still decided by Redis and writes its bucket (the requests of
  # one event-loop turn share one EVALSHA; at one connection, each request is its own call).
  roomy: { rate: 1000000000/s, burst: 1000000000, key: [ip] }
  # The same, kept in this process only: the fair counterpart of HAProxy's per-process stick table.
  roomy-local: { rate: 1000000000/s, burst: 1000000000, key: [ip], local: true }
routes:
  - name: limited
    match: { prefix: /limited }
    auth: { issuers: [rsa] }
    limits: [roomy]
  - name: local
    match: { prefix: /local }
    auth: { issuers: [rsa] }
    limits: [roomy-local]
  - name: jwt
    match: { prefix: / }
    auth: { issuers: [rsa] }
EOF
  log "redis-server on 127.0.0.1:$redis_port"
  "$redis_bin" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$rl_dir" --daemonize no --loglevel warning \
    </dev/null >"$rl_dir/redis.log" 2>&1 &
  redis_pid=$!
  started+=("$redis_pid")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  rl_cmd=("$proxy_bin" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$proxy_port"
    --admin "127.0.0.1:$admin_port" --policies "$rl_dir/policies" --threads "$PROXY_THREADS" --log-format json
    --redis "redis://127.0.0.1:$redis_port" --redis-timeout 50ms --data-path "$DATA_PATH")
  log "tollgate-proxy with Redis: ${rl_cmd[*]} >/dev/null"
  "${rl_cmd[@]}" </dev/null >/dev/null 2>"$work/proxy-rl.stderr" &
  rl_pid=$!
  started+=("$rl_pid")
  wait_http "http://127.0.0.1:$admin_port/healthz" "$rl_pid" || die "tollgate-proxy (redis) did not become healthy: $(tail -20 "$work/proxy-rl.stderr")"
  # HAProxy: the same RS256 check (jwt_verify against the same PEM, every request: HAProxy has no
  # verified-token cache) and a per-source-IP request-rate stick table whose limit is never reached.
  cat >"$rl_dir/haproxy.cfg" <<EOF
global
    nbthread $PROXY_THREADS
    maxconn 4096
    pidfile $rl_dir/haproxy.pid
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:$haproxy_port
    stick-table type ip size 100k expire 60s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000000 }
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('\$.alg')
    http-request deny deny_status 401 unless { var(txn.jwt_alg) -m str RS256 }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.jwt_alg,"$rl_dir/policies/keys/rsa.pem") -m int 1 }
    default_backend be
backend be
    http-reuse always
    server up 127.0.0.1:$upstream_port
EOF
  "$haproxy_bin" -c -q -f "$rl_dir/haproxy.cfg" >&2 || die "haproxy config is invalid"
  "$haproxy_bin" -db -f "$rl_dir/haproxy.cfg" </dev/null >"$rl_dir/haproxy.log" 2>&1 &
  haproxy_pid=$!
  started+=("$haproxy_pid")
  for _ in $(seq 1 100); do curl -fs -o /dev/null -H "Authorization: $rs_token" "http://127.0.0.1:$haproxy_port/" && break; sleep 0.1; done
  haproxy_name="haproxy $("$haproxy_bin" -v | awk 'NR == 1 { print $3 }')"  # awk reads it all: no SIGPIPE under pipefail

  # Rounds, alternating the targets, so that a slow phase of the machine hits all of them alike;
  # the summary takes medians over rounds. The 1-connection pair gives the added latency without
  # queueing (each request alone in its event-loop turn: one Redis round trip each).
  rl_summary=()
  redis_cpu_notes=()
  for round in $(seq 1 "$RATELIMIT_ROUNDS"); do
    run_target "tollgate-proxy (RS256 route, no limit), round $round" "http://127.0.0.1:$proxy_port/jwt" "$rl_pid" "Authorization: $rs_token"
    free_rps="$last_rps" free_p50="$last_p50"
    redis0="$(cpu_ticks "$redis_pid")"; rt0="$(date +%s.%N)"
    run_target "tollgate-proxy (RS256 route + one Redis limit), round $round" "http://127.0.0.1:$proxy_port/limited" "$rl_pid" "Authorization: $rs_token"
    redis1="$(cpu_ticks "$redis_pid")"; rt1="$(date +%s.%N)"
    limited_rps="$last_rps" limited_p50="$last_p50"
    redis_cpu_notes+=("round $round: redis-server used $(cpu_percent $((redis1 - redis0)) "$(awk -v a="$rt0" -v b="$rt1" 'BEGIN { print b - a }')")% of a core during the limited run (warm-up included)")
    run_target "$haproxy_name (jwt_verify RS256 + stick-table), round $round" "http://127.0.0.1:$haproxy_port/" "$haproxy_pid" "Authorization: $rs_token"
    haproxy_rps="$last_rps" haproxy_p50="$last_p50"
    run_target "tollgate-proxy (RS256 route + one local: true limit), round $round" "http://127.0.0.1:$proxy_port/local" "$rl_pid" "Authorization: $rs_token"
    local_rps="$last_rps"
    saved=("$CONNECTIONS" "$THREADS")
    CONNECTIONS=1 THREADS=1
    run_target "tollgate-proxy, 1 connection (RS256 route, no limit), round $round" "http://127.0.0.1:$proxy_port/jwt" "$rl_pid" "Authorization: $rs_token"
    free1_p50="$last_p50"
    run_target "tollgate-proxy, 1 connection (RS256 route + one Redis limit), round $round" "http://127.0.0.1:$proxy_port/limited" "$rl_pid" "Authorization: $rs_token"
    limited1_p50="$last_p50"
    run_target "haproxy, 1 connection (jwt_verify RS256 + stick-table), round $round" "http://127.0.0.1:$haproxy_port/" "$haproxy_pid" "Authorization: $rs_token"
    haproxy1_p50="$last_p50"
    CONNECTIONS="${saved[0]}" THREADS="${saved[1]}"
    rl_summary+=("$(awk -v l="$limited_rps" -v h="$haproxy_rps" -v f="$free_rps" -v lp="$limited_p50" -v fp="$free_p50" \
      -v l1="$limited1_p50" -v f1="$free1_p50" -v h1="$haproxy1_p50" -v r="$round" -v lo="$local_rps" \
      'BEGIN { printf "%d %.0f %.0f %.0f %.3f %.0f %.0f %.0f %.0f %.0f %.3f", r, l, f, h, l / h, (lp - fp) * 1000, (l1 - f1) * 1000, f1 * 1000, h1 * 1000, lo, lo / h }')")
  done
  rl_metrics="$(curl -fsS --max-time 2 "http://127.0.0.1:$admin_port/metrics" 2>/dev/null | grep -E '^tollgate_(ratelimit_decisions_total|store_errors_total|auth_decisions_total)' || true)"
  stop_pid "$rl_pid"
  stop_pid "$haproxy_pid"

  # The store's own ceiling: redis-benchmark of the same script, one bucket per request like the route's.
  script="$(awk '/public static let source = """/ { on = 1; next } on && /^ *"""/ { exit } on { sub(/^        /, ""); print }' "$repo/Sources/Core/RateLimit/RedisBuckets.swift")"
  sha="$(redis-cli -p "$redis_port" SCRIPT LOAD "$script")"
  interval="0.001"
  # ARGV: one group, one bucket, N requests in the group (the proxy folds the requests of one event
  # loop turn on one key into a group); N=1 is one request per call.
  for spec in "1 1" "64 1" "64 8"; do
    read -r clients n <<<"$spec"
    out="$(timeout 120 redis-benchmark -p "$redis_port" -c "$clients" -n 200000 -q EVALSHA "$sha" 1 "tg:bench:roomy:__rand_int__" 1 1 "$n" "$interval" 1000000000 1 2>&1 | tr '\r' '\n' | grep -E 'requests per second' | tail -1)"
    ratelimit_notes+=("redis-benchmark -p PORT -c $clients -n 200000 -q EVALSHA <sha> 1 tg:bench:roomy:__rand_int__ 1 1 $n $interval 1000000000 1 (calls deciding $n request(s) each) → $out")
  done
  stop_pid "$redis_pid"
fi

# --- report ------------------------------------------------------------------------------------------
table_with_medians() {  # rows "ROUND V2 V3 …" on stdin → Markdown rows, then a median row (same decimals per column)
  awk '
    { row = "| " $1; for (k = 2; k <= NF; k++) { row = row " | " $k; v[k, NR] = $k }; print row " |"; columns = NF }
    function median(k, n,   i, j, t, a) { for (i = 1; i <= n; i++) a[i] = v[k, i] + 0
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END {
      if (NR == 0) exit
      row = "| median"
      for (k = 2; k <= columns; k++) {
        decimals = index(v[k, 1], ".") ? length(v[k, 1]) - index(v[k, 1], ".") : 0
        row = row " | " sprintf("%." decimals "f", median(k, NR))
      }
      print row " |" }'
}
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then commit="$commit dirty"; fi
wrk_version="$(wrk -v 2>&1 | head -1 | sed 's/ *Copyright.*//' || true)"
nginx_version="$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')"
swift_version="$(command -v swift >/dev/null 2>&1 && swift --version 2>/dev/null | head -1 || echo "not on PATH (--no-build)")"
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"

table="$(
  echo "| target | req/s | p50 ms | p99 ms | RSS MiB | peak RSS MiB | CPU % | CPU µs/req | of which kernel | upstream CPU % | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  printf '%s\n' "${rows[@]}"
)"

mkdir -p "$RESULTS_DIR"
report="$RESULTS_DIR/proxy-$stamp.md"
{
  echo "# tollgate-proxy benchmark, $stamp"
  echo
  echo "$table"
  echo
  if ((${#ceiling_summary[@]})); then
    echo "## The ceilings: plain route ÷ nginx proxy_pass, ÷ nginx stream, ÷ l4-forwarder (CEILINGS=1)"
    echo
    echo "req/s per round (the targets alternated within each round, in this order), and ratios within the round:"
    echo
    echo "| round | plain route | nginx proxy_pass | nginx stream | l4-forwarder | plain ÷ proxy_pass | plain ÷ stream | plain ÷ forwarder | forwarder ÷ proxy_pass | forwarder ÷ stream |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${ceiling_summary[@]}" | table_with_medians
    echo
    echo "CPU µs per request (each target's own user+system time over the requests it served, as in the"
    echo "main table) and the sidecar's multiple of each:"
    echo
    echo "| round | plain route | nginx proxy_pass | nginx stream | l4-forwarder | plain ÷ proxy_pass | plain ÷ stream | plain ÷ forwarder |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${ceiling_cpu[@]}" | table_with_medians
    echo
    echo "nginx stream and l4-forwarder do no HTTP work: each client connection gets its own upstream"
    echo "connection, and bytes pass through both ways. l4-forwarder: \`${forwarder_cmd[*]/#"$repo"\//}\`"
    echo "(Benchmarks/Sources/l4-forwarder, release build in Benchmarks/.build-bench, sha256 $(sha256sum "$forwarder_bin" | cut -c1-12))."
    echo
  fi
  # --- (f) tollgate-loop-l4 (issue 16) ---
  if ((${#loop_l4_summary[@]})); then
    echo "## The loop's ceiling: tollgate-loop-l4 ÷ nginx stream, ÷ l4-forwarder (LOOP_L4=1, issue 16)"
    echo
    echo "req/s per round (measured right after nginx stream and l4-forwarder in the same round), ratios within"
    echo "the round, and CPU µs per request of each (its own user+system time over the requests it served):"
    echo
    echo "| round | loop-l4 | nginx stream | l4-forwarder (NIO) | loop ÷ stream | loop ÷ NIO forwarder | loop µs/req | stream µs/req | NIO µs/req |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${loop_l4_summary[@]}" | table_with_medians
    echo
    echo "tollgate-loop-l4: \`${loop_l4_cmd[*]/#"$repo"\//}\` (Sources/LoopL4Forwarder on Sources/Loop, release"
    echo "build in .build-bench, sha256 $(sha256sum "$loop_l4_bin" | cut -c1-12)). Its exit line: \`${loop_l4_stats:-none}\`"
    echo
  fi
  # --- end (f) ---
  echo "RSS is VmRSS and peak is VmHWM from /proc/PID/status, read right after the target's run (before it"
  echo "was stopped); for nginx, the master plus its workers, summed (so 'peak' is a sum of each process's peak)."
  echo "The upstream row's RSS is the upstream nginx's. Latencies are wrk's (--latency, uncorrected)."
  echo "CPU % is the target's user+system time during the measured run (from /proc/PID/stat, master plus"
  echo "workers for nginx) over its wall time, in % of one core (this machine has $(nproc) cores, so at most"
  echo "$(( $(nproc) * 100 ))% for everything together, wrk included); upstream CPU % is the upstream nginx's in the"
  echo "same window. CPU µs/req is the target's CPU time over the requests wrk counted (req/s × wall time);
"of which kernel" is the system-time part of it (stime), which includes the loopback TCP work the
kernel does inside the target's send calls."
  echo
  if ((${#busy_warnings[@]})); then
    echo "**Warning: the machine was not quiet; these numbers are skewed:**"
    echo
    printf -- '- %s\n' "${busy_warnings[@]}"
    echo
  fi
  echo "CPU during each measured run, % of one core: machine busy and softirq from /proc/stat (softirq is"
  echo "partly inside the process columns), the processes from /proc/PID/stat, wrk from the shell's reaped"
  echo "children. 'other' is CPU used by anything outside this benchmark: the larger of (a) the utime+stime"
  echo "of every other process and (b) machine busy minus softirq, target, upstream and wrk; both are lower"
  echo "bounds. A run where it exceeds 10% is flagged above:"
  echo
  echo "| target | machine busy | target | upstream | wrk | softirq | other |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${cpu_notes[@]}"
  echo
  echo "## Machine and versions"
  echo
  echo "- git commit: $commit"
  echo "- nproc: $(nproc); CPU: ${cpu_model:-unknown}; kernel $(uname -r)"
  echo "- wrk: $wrk_version"
  echo "- nginx: $nginx_version (upstream: $UPSTREAM_WORKERS workers; proxy: $PROXY_THREADS workers)"
  echo "- swift: $swift_version; tollgate-proxy: release build in .build-bench, sha256 $(sha256sum "$proxy_bin" | cut -c1-12), built $(date -u -r "$proxy_bin" +%Y-%m-%dT%H:%M:%SZ) (from the work tree as it was then)"
  echo "- everything (wrk, upstream, proxy under test) shares these $(nproc) cores; all traffic on 127.0.0.1"
  echo "- load average (1, 5, 15 min) before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "## Commands"
  echo
  echo '```sh'
  echo "# benchmark script"
  echo "CONNECTIONS=$CONNECTIONS THREADS=$THREADS DURATION=$DURATION WARMUP=$WARMUP PROXY_THREADS=$PROXY_THREADS UPSTREAM_WORKERS=$UPSTREAM_WORKERS BASE_PORT=$BASE_PORT ROUNDS=$ROUNDS CEILINGS=$CEILINGS bench/run-proxy-bench.sh$( ((build)) || echo ' --no-build')"
  if ((build)); then
    echo "swift build -c release --product tollgate-proxy --scratch-path .build-bench"
    if [ "$CEILINGS" = "1" ]; then echo "(cd Benchmarks && swift build -c release --product l4-forwarder --scratch-path .build-bench)"; fi
    if [ "$LOOP_L4" = "1" ]; then echo "swift build -c release --product tollgate-loop-l4 --scratch-path .build-bench"; fi
  fi
  echo "# upstream"
  echo "nginx -p \$TMP/upstream -e \$TMP/upstream/error.log -c \$TMP/upstream/nginx.conf -g 'daemon off;'"
  echo "# (b) proxy (access log to /dev/null)"
  echo "${proxy_cmd[*]/#"$repo"\//}" | sed "s#$work#\$TMP#g; s#\$# >/dev/null#"
  echo "# (c) nginx proxy"
  echo "nginx -p \$TMP/nginx-proxy -e \$TMP/nginx-proxy/error.log -c \$TMP/nginx-proxy/nginx.conf -g 'daemon off;'"
  if [ "$CEILINGS" = "1" ]; then
    echo "# (d) nginx stream"
    echo "nginx -p \$TMP/nginx-stream -e \$TMP/nginx-stream/error.log -c \$TMP/nginx-stream/nginx.conf -g 'daemon off;'"
    echo "# (e) l4-forwarder"
    echo "${forwarder_cmd[*]/#"$repo"\//}"
  fi
  if [ "$LOOP_L4" = "1" ]; then
    echo "# (f) tollgate-loop-l4"
    echo "${loop_l4_cmd[*]/#"$repo"\//}"
  fi
  if [ "$WARMUP" != "0" ]; then
    echo "# before each target, an unrecorded warm-up"
    echo "wrk -t$THREADS -c$CONNECTIONS -d$WARMUP URL"
  fi
  echo "# measured, per target"
  echo "$(wrk_cmd http://127.0.0.1:$upstream_port/)    # (a)"
  echo "$(wrk_cmd http://127.0.0.1:$proxy_port/)    # (b)"
  echo "$(wrk_cmd http://127.0.0.1:$nginx_proxy_port/)    # (c)"
  if [ "$CEILINGS" = "1" ]; then
    echo "$(wrk_cmd http://127.0.0.1:$stream_port/)    # (d)"
    echo "$(wrk_cmd http://127.0.0.1:$forwarder_port/)    # (e)"
  fi
  if [ "$LOOP_L4" = "1" ]; then echo "$(wrk_cmd http://127.0.0.1:$loop_l4_port/)    # (f)"; fi
  echo '```'
  echo
  echo "Upstream nginx.conf:"
  echo
  echo '```nginx'
  sed "s#$work#\$TMP#g" "$upstream_prefix/nginx.conf"
  echo '```'
  echo
  echo "nginx proxy nginx.conf:"
  echo
  echo '```nginx'
  sed "s#$work#\$TMP#g" "$nginx_proxy_prefix/nginx.conf"
  echo '```'
  if [ "$CEILINGS" = "1" ]; then
    echo
    echo "nginx stream nginx.conf:"
    echo
    echo '```nginx'
    sed "s#$work#\$TMP#g" "$stream_prefix/nginx.conf"
    echo '```'
  fi
  echo
  echo "Proxy policy (\$TMP/policies/plain.yaml):"
  echo
  echo '```yaml'
  cat "$policy_dir/plain.yaml"
  echo '```'
  if [ -n "$proxy_requests_metric" ]; then
    echo
    echo "tollgate-proxy /metrics after its run (request counters):"
    echo
    echo '```'
    echo "$proxy_requests_metric"
    echo '```'
  fi
  echo
  if [ "$RATELIMIT" = "1" ]; then
    echo "## Rate-limit targets (RATELIMIT=1)"
    echo
    echo "Per round (targets alternated within each round; p50 deltas in µs, from wrk's p50s above):"
    echo
    echo "| round | limited req/s | no-limit req/s | haproxy req/s | limited ÷ haproxy | p50 added, $CONNECTIONS connections | p50 added, 1 connection | no-limit p50, 1 conn (µs) | haproxy p50, 1 conn (µs) | local-limit req/s | local ÷ haproxy |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for line in "${rl_summary[@]}"; do
      read -r r l f h ratio dp dp1 f1 h1 lo lor <<<"$line"
      echo "| $r | $l | $f | $h | $ratio | $dp | $dp1 | $f1 | $h1 | $lo | $lor |"
    done
    printf '%s\n' "${rl_summary[@]}" | awk '
      { ratio[NR] = $5; d[NR] = $6; d1[NR] = $7; lr[NR] = $11 }
      function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
      END { printf "| median | | | | %.3f | %.0f | %.0f | | | | %.3f |\n", median(ratio, NR), median(d, NR), median(d1, NR), median(lr, NR) }'
    echo
    printf -- '- %s\n' "${redis_cpu_notes[@]}"
    echo
    echo "tollgate-proxy policy (\$TMP/ratelimit/policies/ratelimit.yaml), run with \`--redis redis://127.0.0.1:$redis_port --redis-timeout 50ms\`:"
    echo
    echo '```yaml'
    cat "$rl_dir/policies/ratelimit.yaml"
    echo '```'
    echo
    echo "HAProxy configuration:"
    echo
    echo '```'
    sed "s#$work#\$TMP#g" "$rl_dir/haproxy.cfg"
    echo '```'
    echo
    echo "tollgate-proxy /metrics after its runs:"
    echo
    echo '```'
    echo "$rl_metrics"
    echo '```'
    echo
    echo "The store's ceiling:"
    echo
    printf -- '- %s\n' "${ratelimit_notes[@]}"
    echo
  fi
  echo "## Raw wrk output"
  for section in "${raw_sections[@]}"; do
    echo
    echo "$section"
  done
} >"$report"

echo
echo "$table"
echo
sed -n '/^## The ceilings/,/^nginx stream and l4-forwarder do no HTTP work/p' "$report" | sed '$d'
if [ "$LOOP_L4" = "1" ]; then sed -n "/^## The loop's ceiling/,/^tollgate-loop-l4: /p" "$report" | sed '$d'; fi
if ((${#busy_warnings[@]})); then printf 'WARNING: %s\n' "${busy_warnings[@]}"; echo; fi
echo "written: ${report#"$repo"/}"
