#!/usr/bin/env bash
# Warden benchmarks, run by hand from anywhere:   infra/bench/run.sh [all|side|dispatch|coldstart|report]
# Loopback only, bounded runs. Writes infra/bench/results/*.json and docs/benchmarks.md.
#
# Environment: PROFILE=release|profiling|debug (default release; the release build is slow,
# built once with nice; `profiling` is release code with symbols and thin LTO, for perf), DURATION (s per wrk run, default 10), CONCURRENCY (default 32),
# ONLY (comma-separated side-by-side operations), SIDE_ARGS (extra `warden-bench side` flags),
# SKIP_BUILD=1 (use the binaries already built).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PROFILE=${PROFILE:-release}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-32}
WHAT=${1:-all}
BIN=$ROOT/target/$PROFILE
export WARDEN_BENCH_PROFILE=$PROFILE
WPORT=${WPORT:-18080}; NPORT=${NPORT:-13001}; CPORT=${CPORT:-19098}; SPORT=${SPORT:-19099}
LOG=$ROOT/target/bench-logs; mkdir -p "$LOG" infra/bench/results

need() { command -v "$1" >/dev/null || { echo "run.sh: $1 is missing ($2)"; exit 1; }; }
need wrk "apt-get install -y wrk"
need node "Node.js 20+"

flag=""; [ "$PROFILE" != debug ] && flag="--profile $PROFILE"
FN_PKGS=$(for f in functions/*/; do printf -- '-p warden-fn-%s ' "$(basename "$f")"; done)
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "== building ($PROFILE; nice)"
  nice -n 10 cargo build $flag -p warden-local -p warden-bench $FN_PKGS
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "run.sh: $1 did not come up"; exit 1; }

side() {
  [ -d infra/bench/node/node_modules/oidc-provider ] || (cd infra/bench/node && npm install --no-audit --no-fund)
  # One key-encryption key for the stack and the bench's fixtures, which sign ID-token hints
  # with the stack's keys from their own process.
  WARDEN_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=')
  export WARDEN_KEY_ENCRYPTION_KEY
  "$BIN/warden-bench" sink --addr 127.0.0.1:$SPORT >"$LOG/sink.log" 2>&1 & PIDS+=($!)
  "$BIN/warden-bench" ceiling --addr 127.0.0.1:$CPORT >"$LOG/ceiling.log" 2>&1 & PIDS+=($!)
  RUST_LOG=warn "$BIN/warden-local" --memory --addr 127.0.0.1:$WPORT >"$LOG/warden-local.log" 2>&1 & PIDS+=($!)
  (cd infra/bench/node && NODE_ENV=production PORT=$NPORT BACKCHANNEL_URI=http://127.0.0.1:$SPORT/backchannel exec node server.mjs) >"$LOG/node.log" 2>&1 & PIDS+=($!)
  wait_http http://127.0.0.1:$WPORT/health
  wait_http http://127.0.0.1:$NPORT/.well-known/openid-configuration
  wait_http http://127.0.0.1:$CPORT/
  wait_http http://127.0.0.1:$SPORT/count
  EP=$(grep -o 'storage: *http://[0-9.:]*' "$LOG/warden-local.log" | awk '{print $2}')
  echo "== side by side (load: $(cut -d' ' -f1-3 /proc/loadavg); storage $EP)"
  "$BIN/warden-bench" side --warden http://127.0.0.1:$WPORT --dynamodb-endpoint "$EP" \
    --node http://127.0.0.1:$NPORT --ceiling http://127.0.0.1:$CPORT/ --sink http://127.0.0.1:$SPORT \
    --concurrency "$CONCURRENCY" --duration "$DURATION" ${ONLY:+--only "$ONLY"} ${SIDE_ARGS:-}
  cleanup; PIDS=()
}

case $WHAT in
  side) side ;;
  dispatch) "$BIN/warden-bench" dispatch >"$LOG/dispatch.log" ;;
  coldstart) "$BIN/warden-bench" coldstart --bin-dir "target/$PROFILE" ;;
  report) ;;
  all) side; "$BIN/warden-bench" dispatch >"$LOG/dispatch.log"; "$BIN/warden-bench" coldstart --bin-dir "target/$PROFILE" ;;
  *) echo "usage: $0 [all|side|dispatch|coldstart|report]"; exit 2 ;;
esac
"$BIN/warden-bench" report
