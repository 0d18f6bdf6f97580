#!/usr/bin/env bash
# Runs every Warden test on a fresh machine: installs what the tests need (Python tools in
# .venv under the repo), starts moto server on a free loopback port, runs the Rust tests
# against it and the embedded engine, and stops moto afterwards. Fails loudly if anything
# it needs cannot be installed or started: no test is ever skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"
mkdir -p "$ROOT/target"

say() { printf '== %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# 1. Python tools (moto server, cfn-lint, ...), pinned, in .venv.
REQ="$ROOT/infra/requirements-test.txt"
STAMP="$VENV/.requirements.sha"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  say "installing Python test tools into .venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" || die "pip install failed"
  echo "$want" > "$STAMP"
fi
[ -x "$VENV/bin/moto_server" ] || die "moto_server missing from .venv"

# 1b. Lint the SAM template: cfn-lint (in .venv), then `sam validate --lint` (AWS SAM CLI,
# which also runs the SAM transform) in its own venv .venv/sam, as its pinned dependencies
# differ from moto's. Both work offline; no AWS credentials are needed.
say "cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml || die "cfn-lint found problems in template.yaml"
SAM_VENV="$VENV/sam"
SAM_REQ="$ROOT/infra/requirements-sam.txt"
want_sam=$(sha256sum "$SAM_REQ" | cut -d' ' -f1)
if [ ! -x "$SAM_VENV/bin/sam" ] || [ "$(cat "$SAM_VENV/.requirements.sha" 2>/dev/null)" != "$want_sam" ]; then
  say "installing the AWS SAM CLI into .venv/sam"
  python3 -m venv "$SAM_VENV" || die "python3 -m venv failed for .venv/sam"
  "$SAM_VENV/bin/pip" install -q --disable-pip-version-check -r "$SAM_REQ" || die "pip install aws-sam-cli failed"
  echo "$want_sam" > "$SAM_VENV/.requirements.sha"
fi
say "sam validate --lint"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$SAM_VENV/bin/sam" validate --lint -t template.yaml || die "sam validate --lint failed"

# 2. Headless Chromium (Debian) and playwright-core for the browser tests.
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null || die "apt-get install chromium failed"
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing"
command -v node >/dev/null || die "node is required for the browser tests"
if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ] || [ ! -d "$ROOT/tests/browser/node_modules/oidc-client-ts" ] || [ ! -d "$ROOT/tests/browser/node_modules/openid-client" ]; then
  say "installing playwright-core, oidc-client-ts and openid-client (npm ci)"
  (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund >/dev/null) || die "npm ci failed"
fi

# 3. moto server on a free loopback port.
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > "$ROOT/target/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1; then break; fi
  kill -0 "$MOTO_PID" 2>/dev/null || die "moto server exited: $(tail -5 "$ROOT/target/moto.log")"
  sleep 0.2
done
curl -fs "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 || die "moto server did not start on port $PORT"
export MOTO_ENDPOINT="http://127.0.0.1:$PORT"
export WARDEN_METRICS=off
export WARDEN_VENV="$VENV"
say "moto server at $MOTO_ENDPOINT"

# 4. Fuzzing: every cargo-fuzz target for a bounded time on the committed corpora
# (FUZZ_SECONDS per target, default 20; FUZZ_SECONDS=0 skips it, and says so).
if [ "${FUZZ_SECONDS:-20}" = "0" ]; then
  say "FUZZ_SECONDS=0: fuzzing NOT run"
else
  say "fuzzing (infra/fuzz.sh)"
  "$ROOT/infra/fuzz.sh" || die "fuzzing found a crash (see fuzz/artifacts/)"
fi

# 5. The Rust tests (unit, store and queue against dynoxide and moto, end-to-end HTTP).
# The log-capture security test runs the warden-local binary itself: build it fresh first.
cargo build -p warden-local --bin warden-local
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --retries 0
else
  cargo test --workspace --no-fail-fast
fi
