#!/usr/bin/env bash
# Builds every Warden Lambda function the way `sam build` does for BuildMethod
# rust-cargolambda: `cargo lambda build --release --arm64` (cargo-lambda from PyPI, which
# brings zig as the cross linker), one `bootstrap` per function under target/lambda/<bin>/,
# then lists each bootstrap with its size.
#
#   ./infra/build-lambdas.sh          # build with cargo-lambda (what `sam build` runs)
#   ./infra/build-lambdas.sh --sam    # additionally run `sam build` itself (needs arm64)
#
# If the aarch64 Rust target cannot be added on this machine (rustup needs to download it),
# the script says so and builds x86_64 instead, so the build is still proven; deploy such a
# build only with `Architectures: [x86_64]`.
# Slow: a release build with LTO of 17 binaries. On a shared machine run it under nice.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"
CARGO_LAMBDA_VERSION=1.9.2

say() { printf '== %s\n' "$*"; }
die() { printf 'build-lambdas.sh: %s\n' "$*" >&2; exit 1; }

RUN_SAM=0
for a in "$@"; do
  case "$a" in
    --sam) RUN_SAM=1 ;;
    *) die "unknown argument $a (use --sam)" ;;
  esac
done

# 1. cargo-lambda (and zig) from PyPI into .venv.
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
fi
if [ "$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LAMBDA_VERSION" ]; then
  say "installing cargo-lambda $CARGO_LAMBDA_VERSION into .venv"
  "$VENV/bin/pip" install -q --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION" \
    || die "pip install cargo-lambda failed"
fi
export PATH="$VENV/bin:$PATH"
cargo lambda --version

# 2. The target: arm64 as deployed, x86_64 if this machine cannot add aarch64.
ARCH=arm64
ARCH_FLAG=--arm64
TARGET=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$TARGET"; then
  say "adding the Rust target $TARGET"
  if ! rustup target add "$TARGET"; then
    say "NOTE: cannot add the $TARGET target here; building x86_64 instead."
    say "      (template.yaml deploys arm64: build on a machine with the target, or use sam build there)"
    ARCH=x86_64
    ARCH_FLAG=--x86-64
  fi
fi

# 3. Every function binary: the [[bin]] names of functions/*/Cargo.toml.
BINS=()
for m in functions/*/Cargo.toml; do
  b=$(awk '/^\[\[bin\]\]/{inbin=1; next} /^\[/{inbin=0} inbin && /^name *=/{gsub(/.*= *"|".*/, ""); print; exit}' "$m")
  [ -n "$b" ] || die "$m has no [[bin]] name"
  BINS+=("$b")
done
say "building ${#BINS[@]} functions for $ARCH (release)"
BIN_ARGS=()
for b in "${BINS[@]}"; do BIN_ARGS+=(--bin "$b"); done
start=$(date +%s)
cargo lambda build --release "$ARCH_FLAG" "${BIN_ARGS[@]}" || die "cargo lambda build failed"
say "built in $(( $(date +%s) - start )) s"

# 4. Each bootstrap with its size.
printf '%-28s %10s  %s\n' function bytes bootstrap
missing=0
for b in "${BINS[@]}"; do
  f="target/lambda/$b/bootstrap"
  if [ -f "$f" ]; then
    printf '%-28s %10s  %s (%s)\n' "$b" "$(stat -c %s "$f")" "$f" "$(file -b "$f" 2>/dev/null | cut -d, -f1-2)"
  else
    printf '%-28s %10s  %s\n' "$b" MISSING "$f"
    missing=1
  fi
done
[ "$missing" = 0 ] || die "some bootstraps are missing"

# 5. Optionally `sam build` itself (the SAM CLI from .venv/sam, see infra/test.sh).
if [ "$RUN_SAM" = 1 ]; then
  [ "$ARCH" = arm64 ] || die "sam build needs the aarch64 target (template.yaml deploys arm64)"
  SAM="$VENV/sam/bin/sam"
  if [ ! -x "$SAM" ]; then
    python3 -m venv "$VENV/sam" && "$VENV/sam/bin/pip" install -q -r infra/requirements-sam.txt \
      || die "cannot install the SAM CLI"
  fi
  say "sam build"
  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
    "$SAM" build || die "sam build failed"
fi
