#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 20 s each) on the committed
# corpora in fuzz/corpus/. Installs cargo-fuzz if missing. The machine's stable toolchain
# runs libFuzzer through RUSTC_BOOTSTRAP (cargo-fuzz needs -Z flags); debug builds without
# a sanitizer keep the build short (Warden is safe Rust: the fuzzers hunt panics).
# A crash fails the run; the reproducer lands in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2 >/dev/null
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build --dev -s none
for t in $(cargo fuzz list); do
  echo "== fuzzing $t for ${SECONDS_EACH}s"
  mkdir -p "corpus/$t"
  # Run on a scratch copy so CI does not rewrite the committed corpus.
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  cargo fuzz run --dev -s none "$t" "$work" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 2>&1 | tail -3
  rm -rf "$work"
done
echo "fuzz: all targets ran without a crash"
# CI (FUZZ_CLEAN=1): the fuzz build (its own target triple directory, GBs) is not needed by
# the tests that follow.
if [ -n "${FUZZ_CLEAN:-}" ]; then
  rm -rf "${CARGO_TARGET_DIR:-$PWD/target}/$(rustc -vV | sed -n 's/^host: //p')"
fi
