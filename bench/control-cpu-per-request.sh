#!/usr/bin/env bash
# Server CPU per request of tollgate-control (issue 14's storage comparison): the server's user +
# system time (/proc/PID/stat) over a bounded wrk run, divided by the requests it answered. Unlike
# latency percentiles this barely moves when other processes share the machine, so two binaries can
# be compared on a busy 2-core VM.
#   (a) POST /oauth/token, client_credentials, ES256      (b) POST /oauth/introspect of an active token
#
# Usage: bench/control-cpu-per-request.sh BINARY [BINARY...]   (each measured ROUNDS times, alternated)
# Environment (defaults): ROUNDS=3 CONNECTIONS=4 DURATION=10s PORT=28420
set -Eeuo pipefail
[ $# -ge 1 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-4}"
DURATION="${DURATION:-10s}"
PORT="${PORT:-28420}"
ticks_per_second="$(getconf CLK_TCK)"

work="$(mktemp -d)"
server=""
stop() { [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }; server=""; }
trap 'stop; rm -rf "$work"' EXIT INT TERM

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BASIC")
wrk.body = os.getenv("BODY")
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # measure NAME PATH -> "NAME requests µs/request"
  local before after out requests
  before="$(cpu_ticks "$server")"
  out="$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$work/post.lua" "http://127.0.0.1:$PORT$2")"
  after="$(cpu_ticks "$server")"
  requests="$(awk '/requests in/ {print $1}' <<<"$out")"
  awk -v n="$1" -v r="$requests" -v t=$((after - before)) -v hz="$ticks_per_second" \
    'BEGIN { printf "%s: %d requests, %.1f µs CPU each\n", n, r, t * 1e6 / hz / r }'
}

for round in $(seq 1 "$ROUNDS"); do
  for control in "$@"; do
    stop
    rm -rf "$work/data"; mkdir -p "$work/data"
    storage=(--database "sqlite:$work/data/tollgate.db" --master-key-file "$work/data/master.key")
    secret="$("$control" bootstrap --client-id admin --json "${storage[@]}" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
    "$control" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" --log-level warning "${storage[@]}" >"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    export BASIC="Basic $(printf 'admin:%s' "$secret" | base64 -w0)"
    export BODY="grant_type=client_credentials"
    echo "round $round, $control"
    measure "  token ES256" /oauth/token
    token="$(curl -s -u "admin:$secret" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    export BODY="token=$token"
    measure "  introspect" /oauth/introspect
  done
done
