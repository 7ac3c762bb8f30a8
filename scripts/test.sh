#!/usr/bin/env bash
# THE test command: set up the environment (install packages if missing, start a private dockerd
# and a registry), build, run every test, then stop what this run started.
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

# What runs already (not ours to stop).
before=$("$ENV_SCRIPT" status 2>/dev/null || true)
stop_list=()
# (in stopping order: what sits in front of the registry first)
grep -q '^tls: nginx running' <<<"$before" || stop_list+=(tls)
grep -q '^auth: .*running' <<<"$before" || stop_list+=(auth)
grep -q '^registry running' <<<"$before" || stop_list+=(registry)
grep -q '^dockerd running' <<<"$before" || stop_list+=(dockerd)

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
