#!/usr/bin/env bash
# THE test command: set up the environment (install packages if missing, start a private dockerd
# and a registry), build, run every test, build the static musl binary and run the end-to-end
# push tests with it, then stop what this run started.
#
#   scripts/test.sh [extra cargo test args…]      e.g. scripts/test.sh -- --test-threads=1
#
# Environment: IDPUSH_TEST_ENV_DIR (state dir, default <repo>/.tmp/test-env).
# A component (dockerd, registry, auth registries, TLS nginx) that was already running before this script is reused and left running.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export IDPUSH_TEST_ENV_DIR=${IDPUSH_TEST_ENV_DIR:-$REPO/.tmp/test-env}
ENV_SCRIPT=$REPO/scripts/test-env.sh

# What is not running yet is ours to stop afterwards.
mapfile -t stop_list < <("$ENV_SCRIPT" missing)

cleanup() {
  local rc=$?
  local c
  for c in "${stop_list[@]}"; do
    "$ENV_SCRIPT" stop "$c" || true
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ENV_SCRIPT" start
export IDPUSH_TEST_ENV_FILE=$IDPUSH_TEST_ENV_DIR/env

echo "== cargo build" >&2
cargo build --all-targets
echo "== cargo test" >&2
cargo test "$@"

# The static musl release binary (what users download): built and checked (static, stripped, size
# budget), then the end-to-end push and TLS tests run once more against it.
echo "== static binary" >&2
STATIC_BIN=$(scripts/build-static.sh | tail -n 1)
echo "== e2e push:: tls:: with $STATIC_BIN" >&2
IDPUSH_TEST_BIN=$STATIC_BIN cargo test --test e2e -- push:: tls::

# The benchmark's quick mode (small images, one run): checks that scripts/bench.sh works; the
# targets are judged by a full run (bench/RESULTS.md), not here.
echo "== bench --quick" >&2
DOCKER_HOST=$(sed -n 's/^DOCKER_HOST=//p' "$IDPUSH_TEST_ENV_FILE") scripts/bench.sh --quick
