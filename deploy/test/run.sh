#!/usr/bin/env bash
# Tests the deployment and observability kit under deploy/ against the built binaries:
#   deploy/test/run.sh BIN_DIR        (scripts/test runs it with `swift build --show-bin-path`)
# Kubernetes manifests (rendered, validated against the API schemas, the kit's promises asserted),
# the image's run-stage packages against `ldd`, Prometheus configuration, rules and their unit
# tests, systemd units, and live: the binaries' /metrics name every metric the rules and the
# dashboard read, a real Prometheus scrapes a running sidecar and control plane, and a ConfigMap-style
# symlink swap reloads the sidecar's policies. Loopback only; every wait is bounded; everything it
# starts it stops. The last line is "deploy: N passed, M failed"; the exit status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 1 ] && [ -x "$1/tollgate-proxy" ] && [ -x "$1/tollgate-control" ] || {
  echo "usage: deploy/test/run.sh BIN_DIR   (holding tollgate-proxy and tollgate-control)" >&2
  exit 2
}
bin="$(cd "$1" && pwd)"
repo="$(pwd)"
kit="$repo/deploy"
if ! command -v promtool >/dev/null || ! command -v systemd-analyze >/dev/null ||
  ! python3 -c "import kubernetes_validate, yaml" >/dev/null 2>&1; then
  source scripts/setup >/dev/null
  set +e  # setup sets -e; here a failing check is counted, not fatal
fi
python="$(command -v python3)"

work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-deploy-test.XXXXXX")"
pids=()
stop_started() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_started; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
# check NAME COMMAND...: runs it, prints "ok NAME" or "FAIL NAME" with its output.
check() {
  local name="$1" started=$SECONDS
  shift
  if "$@" >"$work/check.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name ($((SECONDS - started))s)"
    grep -v '^[[:space:]]*$' "$work/check.log" | tail -n 3 | sed 's/^/     /'
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    tail -n 40 "$work/check.log" | sed 's/^/     /'
  fi
}

free_ports() { "$python" -c '
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))' "$1"; }

# wait_for SECONDS COMMAND...: retries every 0.1 s until it succeeds or the time is up.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# --- Kubernetes --------------------------------------------------------------------------------
k8s_render() {
  if command -v kubectl >/dev/null; then
    kubectl kustomize deploy/k8s >"$work/k8s.yaml" || return 1
    "$python" deploy/test/render_kustomization.py deploy/k8s >"$work/k8s-fallback.yaml" || return 1
    # The fallback renderer (for machines without kubectl) must agree with kubectl.
    "$python" -c '
import sys, yaml
load = lambda f: sorted((d for d in yaml.safe_load_all(open(f)) if d), key=lambda d: (d["kind"], d["metadata"]["name"]))
sys.exit(0 if load(sys.argv[1]) == load(sys.argv[2]) else "render_kustomization.py differs from kubectl kustomize")' \
      "$work/k8s.yaml" "$work/k8s-fallback.yaml" || return 1
    echo "rendered with kubectl kustomize ($(grep -c '^kind:' "$work/k8s.yaml") resources); the fallback renderer agrees"
  else
    "$python" deploy/test/render_kustomization.py deploy/k8s >"$work/k8s.yaml" || return 1
    echo "rendered with deploy/test/render_kustomization.py (no kubectl here)"
  fi
}
k8s_validate() {
  local version
  # The oldest version with the preStop `sleep` action on by default, and the newest schemas known.
  for version in 1.30.0 "$("$python" -c 'import kubernetes_validate.utils as u; print(u.latest_version())')"; do
    kubernetes-validate --strict --quiet -k "$version" "$work/k8s.yaml" || return 1
  done
  echo "every resource valid (strict) against the Kubernetes 1.30.0 and latest schemas"
}
check "kubernetes: kustomize renders deploy/k8s" k8s_render
check "kubernetes: manifests valid against the API schemas" k8s_validate
check "kubernetes: probes, shutdown, resources, security, policies, Secrets, discovery" \
  "$python" deploy/test/check_manifests.py "$work/k8s.yaml" "$kit"
check "kubernetes: the orders policies are valid" "$bin/tollgate-proxy" validate deploy/k8s/orders/policies

# --- Container image ---------------------------------------------------------------------------
check "image: run-stage packages match the binaries' ldd" \
  "$python" deploy/test/check_image_libraries.py deploy/Dockerfile "$bin/tollgate-proxy" "$bin/tollgate-control"

# --- Prometheus --------------------------------------------------------------------------------
prometheus_config() {
  "$python" deploy/test/prometheus_config.py promtool-view deploy/prometheus/prometheus.yml "$work/prometheus-check.yml" &&
    promtool check config "$work/prometheus-check.yml"
}
prometheus_rule_tests() {
  local file
  for file in deploy/prometheus/tests/*.test.yml; do
    (cd deploy/prometheus && promtool test rules "${file#deploy/prometheus/}") || return 1
  done
}
check "prometheus: promtool check config (kubernetes_sd_configs checked by prometheus_config.py)" prometheus_config
check "prometheus: promtool check rules" promtool check rules deploy/prometheus/rules/*.rules.yml
check "prometheus: promtool test rules" prometheus_rule_tests
check "prometheus: every alert has a firing and a quiet test" "$python" deploy/test/check_alert_tests.py deploy/prometheus

# --- systemd -----------------------------------------------------------------------------------
systemd_units() {
  local unit out
  mkdir -p "$work/systemd"
  for unit in deploy/systemd/*.service; do
    # The units name /usr/local/bin; verify checks that ExecStart exists, so point it at BIN_DIR.
    sed "s#/usr/local/bin/#$bin/#g" "$unit" >"$work/systemd/$(basename "$unit")"
  done
  # verify exits 0 on unknown keys and bad values (it only warns): any output is a failure.
  out="$(cd "$work/systemd" && systemd-analyze verify --man=no ./*.service 2>&1)"
  [ -z "$out" ] || { echo "$out"; return 1; }
  for unit in "$work"/systemd/*.service; do
    out="$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1 | grep 'Overall exposure')"
    echo "$out"
    # 0 is fully sandboxed, 10 not at all; systemd calls < 2 "OK".
    awk '{ if ($(NF-2) + 0 >= 2.0) exit 1 }' <<<"$out" || return 1
  done
}
check "systemd: units verify and are sandboxed (exposure < 2.0)" systemd_units

# --- Live: the binaries, Prometheus, and a ConfigMap swap -----------------------------------------
read -r control_port upstream_port proxy_port admin_port prometheus_port swap_port swap_admin_port <<<"$(free_ports 7)"
mkdir -p "$work/control" "$work/policies"
cat >"$work/policies/policy.yaml" <<EOF
version: 1
service: scrape-test
issuers:
  control:
    issuer: http://127.0.0.1:$control_port
    jwks_url: http://127.0.0.1:$control_port/.well-known/jwks.json
    audiences: [orders]
    algorithms: [ES256]
routes:
  - name: hello
    match: { prefix: /hello }
    auth: none
EOF

start_components() {
  "$bin/tollgate-control" serve --listen "127.0.0.1:$control_port" --issuer "http://127.0.0.1:$control_port" \
    --database "sqlite:$work/control/tollgate.db" --master-key-file "$work/control/master.key" --log-format text \
    >"$work/control.log" 2>&1 &
  pids+=($!)
  "$python" demo/upstream.py "$upstream_port" >"$work/upstream.log" 2>&1 &
  pids+=($!)
  wait_for 30 curl -fs "http://127.0.0.1:$control_port/readyz" || { cat "$work/control.log"; return 1; }
  "$bin/tollgate-proxy" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$proxy_port" \
    --admin "127.0.0.1:$admin_port" --policies "$work/policies" --threads 1 --log-format json \
    >"$work/access.log" 2>"$work/proxy.log" &
  pids+=($!)
  # Ready means the JWKS of the control plane was fetched: the two are wired together.
  wait_for 30 curl -fs "http://127.0.0.1:$admin_port/readyz" || { cat "$work/proxy.log"; return 1; }
  wait_for 10 curl -fs "http://127.0.0.1:$upstream_port/" || return 1
  curl -fs "http://127.0.0.1:$admin_port/metrics" >"$work/proxy.metrics" &&
    curl -fs "http://127.0.0.1:$control_port/metrics" >"$work/control.metrics" &&
    echo "control plane, upstream and sidecar (ready: JWKS fetched) on 127.0.0.1"
}
check "live: start tollgate-control, an upstream and tollgate-proxy" start_components
check "live: rules and dashboard name only exported or recorded metrics; dashboard parses" \
  "$python" deploy/test/check_metric_names.py "$kit" "$work/proxy.metrics" "$work/control.metrics" "$work"

# Prometheus API: query EXPR prints the first sample's value ("" when none).
query() {
  curl -fsG "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$1" |
    "$python" -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
equals() { [ "$(query "$1")" = "$2" ]; }
# within_extrapolation VALUE N: N/300 ≤ VALUE ≤ (1.2 + 1/N) × N/300 (see real_scrape).
within_extrapolation() {
  "$python" -c 'import sys; v, n = float(sys.argv[1] or "nan"), int(sys.argv[2]); sys.exit(0 if n / 300 <= v <= (1.2 + 1 / n) * n / 300 else 1)' "$1" "$2"
}
# A token request with an unknown client: 401 invalid_client, counted by the control plane.
refused_token_request() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' -u nobody:wrong -d grant_type=client_credentials \
    "http://127.0.0.1:$control_port/oauth/token")" = 401 ]
}
real_scrape() {
  local requests=50 refusals=10 value
  "$python" deploy/test/prometheus_config.py local deploy/prometheus/prometheus.yml "$work/prometheus.yml" \
    "tollgate-proxy=127.0.0.1:$admin_port" "tollgate-control=127.0.0.1:$control_port" --interval 1s || return 1
  # One request first, so the series exists in Prometheus' first scrape: the known traffic is then
  # an increase Prometheus sees, not a series appearing with its total.
  curl -fs -o /dev/null "http://127.0.0.1:$proxy_port/hello/warm-up" || return 1
  refused_token_request || return 1
  timeout 90 prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data" \
    --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
  pids+=($!)
  wait_for 20 curl -fs "http://127.0.0.1:$prometheus_port/-/ready" || { cat "$work/prometheus.log"; return 1; }
  # The first scrape waits for target discovery (about 5 s).
  wait_for 30 equals 'up{job="tollgate-proxy"}' 1 || { echo "sidecar: up is '$(query 'up{job="tollgate-proxy"}')'"; return 1; }
  wait_for 10 equals 'up{job="tollgate-control"}' 1 || { echo "control plane: up is '$(query 'up{job="tollgate-control"}')'"; return 1; }
  echo "up == 1 for tollgate-proxy and tollgate-control"
  wait_for 10 equals 'tollgate_requests_total{route="hello"}' 1 || return 1
  wait_for 10 equals 'tollgate_control_signing_keys_published' 1 || { echo "the control plane's signing key gauge was not scraped"; return 1; }
  wait_for 10 equals 'tollgate_control_token_errors_total{error="invalid_client"}' 1 || return 1
  for i in $(seq 1 $requests); do
    curl -fs -o /dev/null "http://127.0.0.1:$proxy_port/hello/$i" || return 1
  done
  for i in $(seq 1 $refusals); do refused_token_request || return 1; done
  wait_for 10 equals 'tollgate_requests_total{route="hello"}' $((requests + 1)) || return 1
  wait_for 10 equals 'tollgate_control_token_errors_total{error="invalid_client"}' $((refusals + 1)) || return 1
  # More scrapes at the new total keep the extrapolation below small.
  sleep 7
  # rate(...[5m]) of N requests is N/300 per second. Prometheus extrapolates the increase it
  # sampled (over S ≥ 6 s, the last evaluation included): toward the series' start by at most the
  # time the counter would take to fall from its first sample (1) to zero, 1/N of S, and toward the
  # evaluation time by at most 1.1 scrape intervals (< 20% of S). So the rule reads N/300 to
  # (1.2 + 1/N) × N/300, never less.
  value="$(query 'route:tollgate_requests:rate5m{job="tollgate-proxy",route="hello"}')"
  echo "route:tollgate_requests:rate5m{route=\"hello\"} = $value req/s after $requests requests (expected $requests/300 = 0.1667, at most +22%)"
  within_extrapolation "$value" "$requests" || return 1
  value="$(query 'error:tollgate_control_token_errors:rate5m{job="tollgate-control",error="invalid_client"}')"
  echo "error:tollgate_control_token_errors:rate5m{error=\"invalid_client\"} = $value/s after $refusals refused token requests (expected $refusals/300 = 0.0333, at most +30%)"
  within_extrapolation "$value" "$refusals" || return 1
  # Every rule evaluates without error on real series, and nothing fires on a healthy pair.
  curl -fs "http://127.0.0.1:$prometheus_port/api/v1/rules" | "$python" -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
firing = [r["name"] for r in rules if r.get("state") in ("firing", "pending")]
state = ", ".join(firing) or "none"
print(f"{len(rules)} rules loaded and healthy; alerts firing or pending: {state}")
sys.exit(1 if bad or firing or len(rules) < 20 else 0)' || return 1
}
check "live: a real Prometheus scrapes both; recording rules read the known traffic" real_scrape

# A ConfigMap volume as the kubelet writes it: the files are symlinks through `..data` to a
# timestamped directory, and an update swaps `..data` atomically (rename) to a new directory. With
# `items` paths in a folder (docs/deploy.md), the folder is the symlink: routes -> ..data/routes.
configmap_version() { # DIR NAME ROUTE: a policy set with route ROUTE in directory DIR/..NAME
  mkdir -p "$1/..$2/routes"
  printf 'version: 1\nservice: swap-test\n' >"$1/..$2/policy.yaml"
  cat >"$1/..$2/routes/route.yaml" <<EOF
version: 1
service: swap-test
routes:
  - name: $3
    match: { prefix: /$3 }
    auth: none
EOF
}
swap_to() { # DIR NAME: what the kubelet's atomic writer does
  ln -s "..$2" "$1/..data_tmp" && mv -T "$1/..data_tmp" "$1/..data"
}
status_of() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$swap_port$1"; }
answers() { [ "$(status_of "$1")" = "$2" ]; }
reloads() {
  curl -fs "http://127.0.0.1:$swap_admin_port/metrics" | grep -F "tollgate_policy_reloads_total{result=\"$1\"}" | awk '{ print $2 }'
}
reloads_are() { [ "$(reloads "$1")" = "$2" ]; }
configmap_swap() {
  local dir="$work/configmap" pid
  configmap_version "$dir" 2026_12_05_00_00_00.1 first
  ln -s ..2026_12_05_00_00_00.1 "$dir/..data"
  ln -s ..data/policy.yaml "$dir/policy.yaml"
  ln -s ..data/routes "$dir/routes"
  "$bin/tollgate-proxy" run --upstream "http://127.0.0.1:$upstream_port" --listen "127.0.0.1:$swap_port" \
    --admin "127.0.0.1:$swap_admin_port" --policies "$dir" --threads 1 >/dev/null 2>"$work/swap-proxy.log" &
  pid=$!
  pids+=($pid)
  wait_for 20 curl -fs "http://127.0.0.1:$swap_admin_port/readyz" || { cat "$work/swap-proxy.log"; return 1; }
  answers /first 200 && answers /second 404 || { echo "before the swap: /first $(status_of /first), /second $(status_of /second)"; return 1; }
  # An update: same file name, same size class; only the ..data symlink changes.
  configmap_version "$dir" 2026_12_05_00_01_00.2 second
  swap_to "$dir" 2026_12_05_00_01_00.2
  rm -rf "$dir/..2026_12_05_00_00_00.1"
  wait_for 5 answers /second 200 || { echo "the swap was not picked up within 5 s"; cat "$work/swap-proxy.log"; return 1; }
  answers /first 404 || return 1
  echo "symlink swap reloaded routes/route.yaml: /second 200, /first 404; reloads: success $(reloads success)"
  # A broken update is refused whole: the last good set keeps serving, the refusal is counted.
  configmap_version "$dir" 2026_12_05_00_02_00.3 third
  sed -i 's/auth: none/auth: nonsense/' "$dir/..2026_12_05_00_02_00.3/routes/route.yaml"
  swap_to "$dir" 2026_12_05_00_02_00.3
  wait_for 5 reloads_are error 1 || { echo "the refused reload was not counted: error=$(reloads error)"; return 1; }
  answers /second 200 || return 1
  echo "a broken swap is refused (reloads error $(reloads error)) and /second still answers 200"
  kill "$pid"
}
check "live: a ConfigMap-style ..data symlink swap hot-reloads the sidecar's policies" configmap_swap

stop_started
echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
