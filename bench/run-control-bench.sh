#!/usr/bin/env bash
# Control-plane benchmark (issue 6): wrk against a release tollgate-control on 127.0.0.1, SQLite in a
# temporary directory. Every wrk run is bounded by its --duration.
#   (a) POST /oauth/token, client_credentials, HTTP Basic, ES256 (target >= 20,000 issuances/s)
#   (b) the same with --signing-alg RS256, for comparison
#   (c) POST /oauth/introspect of one active token, HTTP Basic, at CONNECTIONS and at 1 and 4
#       connections (target p99 < 2 ms: latency is read at the low-concurrency runs; at saturation
#       p99 is queueing behind CONNECTIONS requests)
#   (d) GET /healthz: the HTTP ceiling of the same server on this machine
#
# Usage: bench/run-control-bench.sh [--no-build]
# Environment (defaults): CONNECTIONS=32 THREADS=1 DURATION=10s WARMUP=2s PORT=18410
#   RESULTS_DIR=bench/results   where control-<UTC date>.md is written
#   CONTROL=PATH                a tollgate-control binary to measure instead of building one
#                               (two commits compared in one session, runs alternated);
#   LABEL=TEXT                  names that binary in the report
set -Eeuo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-control-bench: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
PORT="${PORT:-18410}"
RESULTS_DIR="${RESULTS_DIR:-bench/results}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -n "${CONTROL:-}" ] && build=0
if [ "$build" = 1 ]; then
  echo "bench: building tollgate-control (release)"
  swift build -c release --product tollgate-control --scratch-path .build-bench 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]' || true; }
fi
control="${CONTROL:-$(swift build -c release --scratch-path .build-bench --show-bin-path)/tollgate-control}"

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

start() { # start ALG
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$work/data"; mkdir -p "$work/data"
  local storage=(--database "sqlite:$work/data/tollgate.db" --master-key-file "$work/data/master.key" --signing-alg "$1")
  secret="$("$control" bootstrap --client-id admin --json "${storage[@]}" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
  "$control" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" --log-level warning "${storage[@]}" >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  cat "$work/serve.log"; exit 1
}

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BASIC")
wrk.body = os.getenv("BODY")
LUA

report="$RESULTS_DIR/control-$(date -u +%Y%m%dT%H%M%SZ).md"
mkdir -p "$RESULTS_DIR"
{
  echo "# tollgate-control benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  [ -n "${CONTROL:-}" ] && { echo; echo "Binary: \`$CONTROL\`${LABEL:+ ($LABEL)}."; }
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, 127.0.0.1, $(nproc) cores shared by wrk and the server; SQLite."
  echo
  echo "| target (connections) | req/s | p50 | p90 | p99 | non-2xx |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} >"$report"

run() { # run NAME PATH [lua]   (CONNS overrides CONNECTIONS for one run)
  local name="$1" path="$2" script=("${@:3}") conns="${CONNS:-$CONNECTIONS}"
  [ "$WARMUP" != "0" ] && wrk -t"$THREADS" -c"$conns" -d"$WARMUP" "${script[@]}" "http://127.0.0.1:$PORT$path" >/dev/null
  local out
  out="$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "${script[@]}" "http://127.0.0.1:$PORT$path")"
  echo "$out" >"$work/$name.txt"
  local rps p50 p90 p99 errors
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p90="$(awk '$1=="90%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
  echo "| $name ($conns) | $rps | $p50 | $p90 | $p99 | ${errors:-0} |" >>"$report"
  echo "bench: $name: $rps req/s, p50 $p50, p99 $p99, non-2xx ${errors:-0}"
}

start ES256
export BASIC="Basic $(printf 'admin:%s' "$secret" | base64 -w0)"
export BODY="grant_type=client_credentials"
run "token ES256" /oauth/token -s "$work/post.lua"
token="$(curl -s -u "admin:$secret" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
export BODY="token=$token"
run "introspect (active ES256 token)" /oauth/introspect -s "$work/post.lua"
CONNS=1 run "introspect, 1 connection" /oauth/introspect -s "$work/post.lua"
CONNS=4 run "introspect, 4 connections" /oauth/introspect -s "$work/post.lua"
run "healthz" /healthz

start RS256
export BASIC="Basic $(printf 'admin:%s' "$secret" | base64 -w0)"
export BODY="grant_type=client_credentials"
run "token RS256" /oauth/token -s "$work/post.lua"

echo "bench: report in $report"
cat "$report"
