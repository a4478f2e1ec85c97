#!/usr/bin/env bash
# Issue 16's soak: tollgate-proxy under steady load for a bounded time, with policy reloads, and
# its resident memory watched. On 127.0.0.1 only; every wrk run is bounded by its duration.
#
#   1. nginx upstream returning "ok\n" (the shape of run-proxy-bench.sh's upstream);
#   2. tollgate-proxy (PROXY_BIN) on a plain route, --data-path DATA_PATH;
#   3. peak: wrk -t$THREADS -c$CONNECTIONS -d$PEAK_DURATION, unpaced;
#   4. soak: wrk at LOAD_PERCENT % of that peak for DURATION seconds, paced by a wrk Lua delay()
#      that gives each request a slot on a fixed schedule (wrk2's -R is not installed here);
#      every RELOAD_EVERY seconds the policy file is rewritten (a changed comment: a new hash) and
#      the proxy gets SIGHUP; every SAMPLE_EVERY seconds its VmRSS and open descriptors are read;
#   5. a summary (requests, non-2xx, socket errors, reloads, RSS first/last/max, PASS or FAIL) on
#      stdout and as markdown in RESULTS_DIR/soak-<UTC>.md.
#
# PASS needs: no non-2xx response and no socket error; every policy rewrite reloaded (the admin
# /metrics' tollgate_policy_reloads_total{result="success"} grew by the number of rewrites — the
# proxy's file watcher may load a rewrite before its SIGHUP, which then finds it unchanged) and no
# reload error; the proxy alive at the end; RSS flat: the last sample ≤ the first + the larger of
# 10 % and 4 MiB (the summary says which applied).
#
# Environment (defaults):
#   PROXY_BIN=.build-bench/release/tollgate-proxy   DATA_PATH=loop   PROXY_THREADS=2
#   DURATION=600 (s)   RELOAD_EVERY=120 (s)   SAMPLE_EVERY=10 (s)   PEAK_DURATION=10 (s)
#   LOAD_PERCENT=70   CONNECTIONS=64   THREADS=2   UPSTREAM_WORKERS=1
#   BASE_PORT=18380 (upstream, proxy, admin: BASE_PORT..+2)   RESULTS_DIR=bench/results
set -Eeuo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    *) echo "soak: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROXY_BIN="${PROXY_BIN:-.build-bench/release/tollgate-proxy}"
DATA_PATH="${DATA_PATH:-loop}"
PROXY_THREADS="${PROXY_THREADS:-2}"
DURATION="${DURATION:-600}"
RELOAD_EVERY="${RELOAD_EVERY:-120}"
SAMPLE_EVERY="${SAMPLE_EVERY:-10}"
PEAK_DURATION="${PEAK_DURATION:-10}"
LOAD_PERCENT="${LOAD_PERCENT:-70}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-1}"
BASE_PORT="${BASE_PORT:-18380}"
RESULTS_DIR="${RESULTS_DIR:-$repo/bench/results}"
case "$PROXY_BIN" in /*) ;; *) PROXY_BIN="$repo/$PROXY_BIN" ;; esac

log() { echo "soak: $*" >&2; }
die() { log "$*"; exit 1; }

for n in "$DURATION" "$RELOAD_EVERY" "$SAMPLE_EVERY" "$PEAK_DURATION" "$LOAD_PERCENT" "$CONNECTIONS" "$THREADS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "DURATION, RELOAD_EVERY, SAMPLE_EVERY, PEAK_DURATION, LOAD_PERCENT, CONNECTIONS and THREADS must be positive integers"
done
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN is missing: swift build -c release --product tollgate-proxy --scratch-path .build-bench, or set PROXY_BIN"
command -v wrk >/dev/null 2>&1 || die "wrk is not installed"
command -v curl >/dev/null 2>&1 || die "curl is not installed"
nginx_bin="$(command -v nginx || true)"
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } || die "nginx not found"

upstream_port=$((BASE_PORT)) proxy_port=$((BASE_PORT + 1)) admin_port=$((BASE_PORT + 2))
for port in "$upstream_port" "$proxy_port" "$admin_port"; do
  if [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
    die "port $port on this machine is in use; set BASE_PORT to a free range (3 ports)"
  fi
done

# --- cleanup: everything this script started, by PID (as run-proxy-bench.sh does) -------------------
work="$(mktemp -d /tmp/tollgate-soak.XXXXXX)"
chmod 755 "$work"  # nginx workers run as an unprivileged user when started as root
started=()
cleanup() {
  local status=$? pid
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
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

wait_http() {  # wait_http URL PID: up to 30 s for a 200, and fail early if PID died
  local url="$1" pid="$2"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
metric() {  # metric TEXT SERIES: the value of one sample in /metrics text, 0 when absent
  awk -v s="$2" 'index($0, s " ") == 1 { v = $NF } END { printf "%d", v + 0 }' <<<"$1"
}
metrics() { curl -fsS --max-time 2 "http://127.0.0.1:$admin_port/metrics" 2>/dev/null || true; }

# --- the upstream: nginx returning "ok\n" (run-proxy-bench.sh's shape) -------------------------------
upstream_prefix="$work/upstream"
mkdir -p "$upstream_prefix/tmp"
cat >"$upstream_prefix/nginx.conf" <<EOF
pid $upstream_prefix/nginx.pid;
error_log $upstream_prefix/error.log warn;
worker_processes $UPSTREAM_WORKERS;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $upstream_prefix/tmp/body;
    proxy_temp_path $upstream_prefix/tmp/proxy;
    fastcgi_temp_path $upstream_prefix/tmp/fastcgi;
    uwsgi_temp_path $upstream_prefix/tmp/uwsgi;
    scgi_temp_path $upstream_prefix/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$upstream_port reuseport;
        location / {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF
"$nginx_bin" -t -q -p "$upstream_prefix" -e "$upstream_prefix/error.log" -c "$upstream_prefix/nginx.conf" >&2 || die "nginx config is invalid"
"$nginx_bin" -p "$upstream_prefix" -e "$upstream_prefix/error.log" -c "$upstream_prefix/nginx.conf" -g 'daemon off;' </dev/null >"$upstream_prefix/stdout.log" 2>&1 &
upstream_pid=$!
started+=("$upstream_pid")
wait_http "http://127.0.0.1:$upstream_port/" "$upstream_pid" || die "upstream nginx did not start: $(cat "$upstream_prefix/error.log" 2>/dev/null)"

# --- the proxy, on one plain route; the comment line is what each reload changes --------------------
policy_dir="$work/policies"
mkdir -p "$policy_dir"
write_policy() {  # write_policy N: the policy set with reload marker N, written atomically (temp + rename)
  cat >"$policy_dir/.plain.yaml.tmp" <<EOF
version: 1
routes:
  - name: plain
    match: { prefix: / }
    auth: none
# soak reload $1
EOF
  mv -f "$policy_dir/.plain.yaml.tmp" "$policy_dir/plain.yaml"
}
write_policy 0
proxy_cmd=("$PROXY_BIN" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$proxy_port"
  --admin "127.0.0.1:$admin_port" --policies "$policy_dir" --threads "$PROXY_THREADS" --data-path "$DATA_PATH" --log-format json)
log "tollgate-proxy: ${proxy_cmd[*]} >/dev/null"
"${proxy_cmd[@]}" </dev/null >/dev/null 2>"$work/proxy.stderr" &
proxy_pid=$!
started+=("$proxy_pid")
wait_http "http://127.0.0.1:$admin_port/healthz" "$proxy_pid" || die "tollgate-proxy did not become healthy: $(tail -20 "$work/proxy.stderr")"
curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$proxy_port/" || die "the proxy does not answer 200 on its plain route"

# --- wrk output: requests, non-2xx, socket errors ----------------------------------------------------
wrk_requests() { awk '/requests in/ { print $1; exit }' "$1"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
wrk_socket_errors() {  # the sum of connect, read, write and timeout errors
  awk '/Socket errors:/ { gsub(",", ""); n = $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}
wrk_rps() { awk '/Requests\/sec:/ { print $2; exit }' "$1"; }
run_wrk() {  # run_wrk OUTFILE ARGS...: wrk as a background job, so that a signal to this script is handled at once
  local out="$1"
  shift
  wrk "$@" >"$out" 2>&1 &
  wrk_pid=$!
  started+=("$wrk_pid")
}
finish_wrk() {
  local rest=() p
  wait "$wrk_pid" || die "wrk failed: $(cat "$1")"
  for p in "${started[@]}"; do [ "$p" = "$wrk_pid" ] || rest+=("$p"); done
  started=("${rest[@]+"${rest[@]}"}")
}

# --- 3. peak ------------------------------------------------------------------------------------------
url="http://127.0.0.1:$proxy_port/"
peak_cmd="wrk -t$THREADS -c$CONNECTIONS -d${PEAK_DURATION}s $url"
log "peak: $peak_cmd"
run_wrk "$work/peak.out" -t"$THREADS" -c"$CONNECTIONS" -d"${PEAK_DURATION}s" "$url"
finish_wrk "$work/peak.out"
peak_rps="$(wrk_rps "$work/peak.out")"
[ -n "$peak_rps" ] || die "no Requests/sec in: $(cat "$work/peak.out")"
target_rps="$(awk -v p="$peak_rps" -v f="$LOAD_PERCENT" 'BEGIN { printf "%d", p * f / 100 }')"
((target_rps >= THREADS)) || die "peak $peak_rps req/s is too low to pace"
log "peak $peak_rps req/s; soak at $LOAD_PERCENT %: $target_rps req/s for ${DURATION}s"

# --- 4. soak ------------------------------------------------------------------------------------------
# Each wrk thread has its own Lua state: request k of a thread is due at start + k / rate, and
# delay() waits until then (wrk's delay is in whole milliseconds; the schedule is absolute, so the
# rounding does not add up). A thread more than a second behind drops those slots rather than
# bursting to catch up: the achieved rate in the summary shows any shortfall.
cat >"$work/paced.lua" <<'EOF'
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } soak_timespec; int clock_gettime(int, soak_timespec *); ]]
local now_ts = ffi.new("soak_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_ts) -- CLOCK_MONOTONIC
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end
local interval, start, issued
function init(args)
  interval = 1000 / tonumber(args[1])
  issued = 0
end
function delay()
  local now = now_ms()
  if not start then start = now end
  local due = start + issued * interval
  if now - due > 1000 then
    start = now - issued * interval
    due = now
  end
  issued = issued + 1
  local wait = due - now
  if wait < 1 then return 0 end
  return math.floor(wait)
end
EOF
per_thread="$(awk -v t="$target_rps" -v n="$THREADS" 'BEGIN { printf "%.3f", t / n }')"
soak_cmd="wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency -s paced.lua $url -- $per_thread"
log "soak: $soak_cmd (SIGHUP + policy rewrite every ${RELOAD_EVERY}s, RSS every ${SAMPLE_EVERY}s)"
reloads_before="$(metrics)"
success_before="$(metric "$reloads_before" 'tollgate_policy_reloads_total{result="success"}')"
unchanged_before="$(metric "$reloads_before" 'tollgate_policy_reloads_total{result="unchanged"}')"
error_before="$(metric "$reloads_before" 'tollgate_policy_reloads_total{result="error"}')"
run_wrk "$work/soak.out" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/paced.lua" "$url" -- "$per_thread"
started_at=$SECONDS
next_sample=$SAMPLE_EVERY next_reload=$RELOAD_EVERY rewrites=0 sighups=0
samples=()
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 1
  elapsed=$((SECONDS - started_at))
  kill -0 "$proxy_pid" 2>/dev/null || { log "the proxy exited during the soak"; break; }
  if ((elapsed >= next_reload && elapsed < DURATION)); then
    rewrites=$((rewrites + 1))
    write_policy "$rewrites"
    kill -HUP "$proxy_pid"
    sighups=$((sighups + 1))
    log "t=${elapsed}s: policy rewritten (marker $rewrites), SIGHUP"
    next_reload=$((next_reload + RELOAD_EVERY))
  fi
  if ((elapsed >= next_sample && elapsed <= DURATION)); then
    rss="$(status_kb "$proxy_pid" VmRSS)"
    fds="$(ls "/proc/$proxy_pid/fd" 2>/dev/null | wc -l)"
    samples+=("$elapsed $rss $fds")
    log "t=${elapsed}s: RSS $(mib "$rss") MiB, $fds descriptors"
    next_sample=$((next_sample + SAMPLE_EVERY))
  fi
done
finish_wrk "$work/soak.out"
sleep 1  # a reload's metrics, and the last requests' logs, settle
proxy_alive=yes
kill -0 "$proxy_pid" 2>/dev/null || proxy_alive=no
after="$(metrics)"
success=$(($(metric "$after" 'tollgate_policy_reloads_total{result="success"}') - success_before))
unchanged=$(($(metric "$after" 'tollgate_policy_reloads_total{result="unchanged"}') - unchanged_before))
reload_errors=$(($(metric "$after" 'tollgate_policy_reloads_total{result="error"}') - error_before))
logged_reloads="$(grep -c 'policy reloaded' "$work/proxy.stderr" || true)"

# --- 5. summary ---------------------------------------------------------------------------------------
requests="$(wrk_requests "$work/soak.out")"
non2xx="$(wrk_non2xx "$work/soak.out")"
socket_errors="$(wrk_socket_errors "$work/soak.out")"
achieved="$(awk -v r="${requests:-0}" -v d="$DURATION" 'BEGIN { printf "%.0f", r / d }')"
((${#samples[@]} > 0)) || die "no RSS sample was taken"
read -r _ first_kb _ <<<"${samples[0]}"
read -r _ last_kb _ <<<"${samples[${#samples[@]} - 1]}"
max_kb=0
for s in "${samples[@]}"; do
  read -r _ kb _ <<<"$s"
  if ((kb > max_kb)); then max_kb=$kb; fi
done
ten_percent_kb=$((first_kb / 10)) four_mib_kb=4096
if ((ten_percent_kb >= four_mib_kb)); then allowed_kb=$ten_percent_kb allowance="10 % of the first sample"
else allowed_kb=$four_mib_kb allowance="4 MiB (more than 10 % of the first sample)"; fi
verdict=PASS reasons=()
((non2xx == 0)) || reasons+=("$non2xx non-2xx responses")
((socket_errors == 0)) || reasons+=("$socket_errors socket errors")
[ -n "$requests" ] && ((requests > 0)) || reasons+=("no requests counted")
((success == rewrites)) || reasons+=("$success successful reloads for $rewrites policy rewrites")
((reload_errors == 0)) || reasons+=("$reload_errors reload errors")
[ "$proxy_alive" = yes ] || reasons+=("the proxy exited")
((last_kb <= first_kb + allowed_kb)) || reasons+=("RSS grew: last $(mib "$last_kb") MiB > first $(mib "$first_kb") MiB + $(mib "$allowed_kb") MiB")
((${#reasons[@]} == 0)) || verdict=FAIL

stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
summary="$(cat <<EOF
requests: ${requests:-0} in ${DURATION}s ($achieved req/s achieved; target $target_rps = $LOAD_PERCENT % of peak $peak_rps)
non-2xx: $non2xx; socket errors: $socket_errors
reloads: $rewrites policy rewrites + $sighups SIGHUPs -> tollgate_policy_reloads_total success +$success, unchanged +$unchanged, error +$reload_errors ("policy reloaded" log lines: $logged_reloads)
RSS: first $(mib "$first_kb") MiB, last $(mib "$last_kb") MiB, max $(mib "$max_kb") MiB over ${#samples[@]} samples; flat means last <= first + $(mib "$allowed_kb") MiB ($allowance)
$verdict${reasons[*]:+: ${reasons[*]}}
EOF
)"
echo "$summary"

mkdir -p "$RESULTS_DIR"
report="$RESULTS_DIR/soak-$stamp.md"
{
  echo "# Soak: tollgate-proxy --data-path $DATA_PATH, ${DURATION}s at $LOAD_PERCENT % of peak ($stamp)"
  echo
  echo "- binary: \`$PROXY_BIN\` ($(stat -c '%y' "$PROXY_BIN" | cut -d. -f1) UTC mtime), \`--threads $PROXY_THREADS --data-path $DATA_PATH\`"
  echo "- upstream: nginx \`return 200 \"ok\\n\"\`, $UPSTREAM_WORKERS worker(s); machine: $(nproc) cores, load before $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- peak: \`$peak_cmd\` → $peak_rps req/s"
  echo "- soak: \`$soak_cmd\`; policy rewritten + SIGHUP every ${RELOAD_EVERY}s; RSS every ${SAMPLE_EVERY}s"
  echo
  echo "## Result"
  echo
  echo '```'
  echo "$summary"
  echo '```'
  echo
  echo "## RSS and descriptors"
  echo
  echo "| t (s) | VmRSS (MiB) | descriptors |"
  echo "|---:|---:|---:|"
  for s in "${samples[@]}"; do read -r t kb fds <<<"$s"; echo "| $t | $(mib "$kb") | $fds |"; done
  echo
  echo "## wrk (soak)"
  echo
  echo '```'
  cat "$work/soak.out"
  echo '```'
  echo
  echo "## paced.lua (wrk -s; its argument is the rate per wrk thread)"
  echo
  echo '```lua'
  cat "$work/paced.lua"
  echo '```'
  echo
  echo "## wrk (peak)"
  echo
  echo '```'
  cat "$work/peak.out"
  echo '```'
} >"$report"
log "report: $report"
[ "$verdict" = PASS ]
