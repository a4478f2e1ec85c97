#!/usr/bin/env bash
# JWT verification and route matching micro-benchmarks, and `openssl speed` for the same algorithms
# on the same machine (docs/benchmarks.md, "JWT verification and route matching (micro)").
#
#   Benchmarks/run.sh                 build, run the ordo-one/benchmark suite, then the comparison
#   Benchmarks/run.sh --no-build      use the binaries already in Benchmarks/.build-bench
#   Benchmarks/run.sh --compare-only  only the speed-loop / openssl speed comparison
#   Benchmarks/run.sh --harness-only  only the ordo-one/benchmark suite
#
# Settings (environment, all optional):
#   SECONDS_PER_RUN=1   seconds per measurement, for speed-loop and `openssl speed -seconds`
#   ROUNDS=5            comparison rounds; each round alternates openssl and speed-loop per family.
#                       The table gives the best and the median of the rounds for each side: on a
#                       shared VM, short interleaved runs and best-of-N are what make the two comparable.
#   QUIET_TIMEOUT=120   before each part, wait up to this many seconds for an idle machine
#   BUILD_TIMEOUT=1800, HARNESS_TIMEOUT=900, COMPARE_TIMEOUT=900   bounds, in seconds, per part
#
# Every step runs under `timeout`; nothing is left running. Output goes to stdout only (tee it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
scratch=".build-bench"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-1}"
ROUNDS="${ROUNDS:-5}"
QUIET_TIMEOUT="${QUIET_TIMEOUT:-120}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-1800}"
HARNESS_TIMEOUT="${HARNESS_TIMEOUT:-900}"
COMPARE_TIMEOUT="${COMPARE_TIMEOUT:-900}"

build=1 harness=1 compare=1
for argument in "$@"; do
  case "$argument" in
    --no-build) build=0 ;;
    --compare-only) harness=0 ;;
    --harness-only) compare=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $argument" >&2; exit 2 ;;
  esac
done

log() { printf '== %s\n' "$*" >&2; }

clock_ticks="$(getconf CLK_TCK)"
busy_ticks() { awk '$1 == "cpu" { b = 0; for (i = 2; i <= NF; i++) if (i != 5 && i != 6) b += $i; print b; exit }' /proc/stat; }
wait_quiet() {  # up to QUIET_TIMEOUT s for a 1-second window in which the machine is < 25% of a core busy
  local deadline=$((SECONDS + QUIET_TIMEOUT)) a b
  while :; do
    a="$(busy_ticks)"; sleep 1; b="$(busy_ticks)"
    if (( (b - a) * 100 < 25 * clock_ticks )); then return 0; fi
    if ((SECONDS >= deadline)); then
      log "WARNING: the machine stayed busy for ${QUIET_TIMEOUT}s; measuring anyway (numbers suspect):"
      ps -eo pcpu=,comm= --sort=-pcpu | head -3 >&2
      return 0
    fi
  done
}

own_ticks() {  # own_ticks FILE: CPU ticks used so far by this script's reaped children (in the main shell)
  times >"$1.times"
  awk -v hz="$clock_ticks" 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
    printf "%.0f\n", t * hz }' "$1.times" >"$1"
}
others_check() {  # others_check PART START_BUSY START_OWN_FILE START_SECONDS: warn when other work used > 10% of a core
  local busy own_before own_after elapsed other
  busy=$(( $(busy_ticks) - $2 )); own_before="$(cat "$3")"; own_ticks "$3"; own_after="$(cat "$3")"
  elapsed=$((SECONDS - $4)); ((elapsed > 0)) || elapsed=1
  other=$(( (busy - (own_after - own_before)) * 100 / (clock_ticks * elapsed) ))
  if ((other > 10)); then
    echo "WARNING: during $1, other processes used ~${other}% of a core on average: its numbers are suspect."
  else
    echo "($1: other processes used ~${other}% of a core on average)"
  fi
}

echo "# Machine"
echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "nproc:    $(nproc)"
echo "cpu:      $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "kernel:   $(uname -r)"
echo "openssl:  $(openssl version)"
echo "swift:    $(swift --version 2>/dev/null | head -1)"
echo "commit:   $(git -C .. rev-parse --short HEAD 2>/dev/null)$(git -C .. diff --quiet HEAD -- Sources 2>/dev/null || echo ' + changes in Sources/')"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if ((build)); then
  log "building (release, --scratch-path $scratch)"
  timeout -k 10 "$BUILD_TIMEOUT" swift build -c release --scratch-path "$scratch" >&2
fi
speed_loop="$scratch/release/speed-loop"
[ -x "$speed_loop" ] || { echo "run.sh: $speed_loop is missing; run without --no-build" >&2; exit 1; }

marks="$(mktemp)"
trap 'rm -f "$marks" "$marks.times"' EXIT
if ((harness)); then
  wait_quiet
  start_busy="$(busy_ticks)"; own_ticks "$marks"; start_seconds=$SECONDS
  echo "# ordo-one/benchmark: swift package --scratch-path $scratch benchmark --no-progress"
  echo "# (times in ns per operation; '*' rows of scalingFactor .kilo benchmarks are per operation too)"
  timeout -k 10 "$HARNESS_TIMEOUT" swift package --scratch-path "$scratch" benchmark --no-progress 2>&1 |
    sed -n '/^Host /,$p'
  others_check "the ordo-one/benchmark run" "$start_busy" "$marks" "$start_seconds"
  echo
fi

if ((compare)); then
  wait_quiet
  work="$(mktemp -d)"
  trap 'rm -rf "$work" "$marks" "$marks.times"' EXIT
  start_busy="$(busy_ticks)"; own_ticks "$marks"; start_seconds=$SECONDS
  deadline=$((SECONDS + COMPARE_TIMEOUT))
  bounded() {  # bounded CMD...: runs CMD under what is left of COMPARE_TIMEOUT
    local left=$((deadline - SECONDS))
    ((left > 0)) || { echo "run.sh: COMPARE_TIMEOUT (${COMPARE_TIMEOUT}s) reached" >&2; exit 1; }
    timeout -k 5 "$left" "$@"
  }
  s="$SECONDS_PER_RUN"
  # openssl speed -mr lines: +F2:i:bits:sign/s:verify/s (RSA), +F4 (ECDSA), +F6:i:bits:name:sign/s:verify/s
  # (EdDSA): verify/s is the last field; +F:i:name:bytes/s (HMAC).
  # Each becomes "ROUND ALG openssl µs/op"; speed-loop's +SPEED lines become "ROUND ALG ours µs/op".
  openssl_verify() {  # openssl_verify ROUND MR-TAG BITS ALG... (one openssl row compared with several algorithms)
    local round="$1" tag="$2" bits="$3"; shift 3
    local rate
    rate="$(awk -F: -v t="$tag" -v b="$bits" '$1 == t && $3 == b { print $NF }' "$work/openssl.out" | tail -1)"
    [ -n "$rate" ] || { echo "run.sh: no $tag $bits line from openssl speed" >&2; cat "$work/openssl.out" >&2; exit 1; }
    for alg in "$@"; do awk -v r="$round" -v a="$alg" -v v="$rate" 'BEGIN { printf "%s %s openssl %.4f\n", r, a, 1e6 / v }'; done
  }
  ours() {  # ours ROUND ALG...
    local round="$1"; shift
    bounded "$speed_loop" --seconds "$s" --sig --direct "$@" >"$work/ours.out"
    awk -F: -v r="$round" '$1 == "+SPEED" { printf "%s %s %s %s\n", r, $3, ($2 == "sig" ? "ours" : $2), $4 }' "$work/ours.out"
    # signing-input lengths, for openssl speed -bytes with HMAC
    awk -F: '$1 == "+SPEED" { print $3, $7 }' "$work/ours.out" >>"$work/lengths"
    commands+=("$speed_loop --seconds $s --sig --direct $*")
  }
  commands=()
  for round in $(seq 1 "$ROUNDS"); do
    log "comparison round $round of $ROUNDS (${s}s per measurement)"
    cmd=(openssl speed -mr -elapsed -seconds "$s" rsa2048); commands+=("${cmd[*]}")
    bounded "${cmd[@]}" >"$work/openssl.out" 2>&1 || { echo "run.sh: ${cmd[*]} failed:" >&2; cat "$work/openssl.out" >&2; exit 1; }
    openssl_verify "$round" +F2 2048 RS256 RS384 RS512 PS256 PS384 PS512 >>"$work/rows"
    ours "$round" RS256 RS384 RS512 PS256 PS384 PS512 >>"$work/rows"

    cmd=(openssl speed -mr -elapsed -seconds "$s" ecdsap256 ecdsap384 ecdsap521); commands+=("${cmd[*]}")
    bounded "${cmd[@]}" >"$work/openssl.out" 2>&1 || { echo "run.sh: ${cmd[*]} failed:" >&2; cat "$work/openssl.out" >&2; exit 1; }
    openssl_verify "$round" +F4 256 ES256 >>"$work/rows"
    openssl_verify "$round" +F4 384 ES384 >>"$work/rows"
    openssl_verify "$round" +F4 521 ES512 >>"$work/rows"
    ours "$round" ES256 ES384 ES512 >>"$work/rows"

    cmd=(openssl speed -mr -elapsed -seconds "$s" ed25519); commands+=("${cmd[*]}")
    bounded "${cmd[@]}" >"$work/openssl.out" 2>&1 || { echo "run.sh: ${cmd[*]} failed:" >&2; cat "$work/openssl.out" >&2; exit 1; }
    openssl_verify "$round" +F6 253 EdDSA >>"$work/rows"
    ours "$round" EdDSA >>"$work/rows"

    ours "$round" HS256 HS384 HS512 >>"$work/rows.hmac"
    for pair in HS256:sha256 HS384:sha384 HS512:sha512; do
      alg="${pair%%:*}" digest="${pair##*:}"
      bytes="$(awk -v a="$alg" '$1 == a { print $2 }' "$work/lengths" | tail -1)"
      cmd=(openssl speed -mr -elapsed -seconds "$s" -bytes "$bytes" -hmac "$digest"); commands+=("${cmd[*]}")
      bounded "${cmd[@]}" >"$work/openssl.out" 2>&1 || { echo "run.sh: ${cmd[*]} failed:" >&2; cat "$work/openssl.out" >&2; exit 1; }
      awk -F: -v r="$round" -v a="$alg" -v n="$bytes" '$1 == "+F" { printf "%s %s openssl %.4f\n", r, a, 1e6 * n / $4 }' \
        "$work/openssl.out" >>"$work/rows"
    done
    cat "$work/rows.hmac" >>"$work/rows"; : >"$work/rows.hmac"
  done

  others_check "the comparison" "$start_busy" "$marks" "$start_seconds"
  echo "# Signature verification: SignatureVerifier.verify (speed-loop --sig, context reused), the same OpenSSL"
  echo "# calls made directly (speed-loop --direct), and openssl speed, interleaved per algorithm family:"
  printf '#   %s\n' "${commands[@]}" | awk '!seen[$0]++'
  echo "# µs/op = elapsed / count for all three (openssl: 1e6 / verify/s; HMAC: -bytes = the token's signing input)."
  echo "# RS*/PS* are compared with openssl's rsa2048 verify (PKCS#1 v1.5 over a 36-byte buffer, no hash, no PSS)."
  echo
  # Best of the rounds estimates each side's cost when the machine's noise (other guests on the host:
  # this VM slows down by up to ~1.3-1.7x for seconds at a time) was absent; the median shows the rest.
  awk -v rounds="$ROUNDS" '
    function median(list, count,   i, j, t, a) {
      for (i = 1; i <= count; i++) a[i] = list[i]
      for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return count % 2 ? a[(count + 1) / 2] : (a[count / 2] + a[count / 2 + 1]) / 2
    }
    { v[$2, $3, $1] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END {
      print "| alg | ours µs/op (best / median) | direct OpenSSL calls µs/op (best) | openssl speed µs/op (best / median) | ours / openssl speed (best / median) | ours / direct (best) | ≤ 1.15× (best) |"
      print "|---|---:|---:|---:|---:|---:|---|"
      for (i = 1; i <= n; i++) {
        a = order[i]; bo = bd = bs = 1e18
        for (r = 1; r <= rounds; r++) {
          o[r] = v[a, "ours", r]; d = v[a, "direct", r]; s[r] = v[a, "openssl", r]
          if (o[r] < bo) bo = o[r]; if (d < bd) bd = d; if (s[r] < bs) bs = s[r]
        }
        mo = median(o, rounds); ms = median(s, rounds)
        printf "| %s | %.2f / %.2f | %.2f | %.2f / %.2f | %.2f / %.2f | %.2f | %s |\n", a, bo, mo, bd, bs, ms, bo / bs, mo / ms, bo / bd, (bo / bs <= 1.15 ? "yes" : "no")
      }
    }' "$work/rows"
  echo
  echo "raw µs/op per round (round alg who µs/op):"
  sort -k2,2 -k1,1n -k3,3 "$work/rows" | awk '{ printf "  %s\n", $0 }'
fi
