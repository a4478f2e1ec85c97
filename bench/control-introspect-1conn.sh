#!/usr/bin/env bash
# Introspection latency at one connection only (issue 6's p99 < 2 ms target), several tollgate-control
# binaries alternated, a fresh server and database per run, 2 s of warm-up, then
# wrk -t1 -c1 -d10s --latency. Each run's line ends with the load average, for the noise.
#
# Usage: bench/control-introspect-1conn.sh LABEL=BINARY [LABEL=BINARY...]
# Environment (defaults): ROUNDS=6 PORT=28430
set -Eeuo pipefail
[ $# -ge 1 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
PORT="${PORT:-28430}"
work="$(mktemp -d)"; server=""
stop() { [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }; server=""; }
trap 'stop; rm -rf "$work"' EXIT
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BASIC")
wrk.body = os.getenv("BODY")
LUA
for round in $(seq 1 "${ROUNDS:-6}"); do
  for pair in "$@"; do
    which="${pair%%=*}"; control="${pair#*=}"
    stop; rm -rf "$work/data"; mkdir -p "$work/data"
    storage=(--database "sqlite:$work/data/tollgate.db" --master-key-file "$work/data/master.key")
    secret="$("$control" bootstrap --client-id admin --json "${storage[@]}" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
    "$control" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" --log-level warning "${storage[@]}" >"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    export BASIC="Basic $(printf 'admin:%s' "$secret" | base64 -w0)"
    token="$(curl -s -u "admin:$secret" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    export BODY="token=$token"
    wrk -t1 -c1 -d2s -s "$work/post.lua" "http://127.0.0.1:$PORT/oauth/introspect" >/dev/null
    out="$(wrk -t1 -c1 -d10s --latency -s "$work/post.lua" "http://127.0.0.1:$PORT/oauth/introspect")"
    echo "round $round $which $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s p50 $(awk '$1=="50%" {print $2}' <<<"$out") p90 $(awk '$1=="90%" {print $2}' <<<"$out") p99 $(awk '$1=="99%" {print $2}' <<<"$out") load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
