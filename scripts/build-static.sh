#!/usr/bin/env bash
# Builds the static musl binary: target/x86_64-unknown-linux-musl/release/idpush.
# Installs what it needs when missing (the rustup musl target, Debian's musl-tools for ring's C).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
if ! command -v musl-gcc >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "build-static: install musl-tools first" >&2; exit 1; }
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q musl-tools
fi
cargo build --release --target "$TARGET" --manifest-path "$REPO/Cargo.toml"
BIN=$REPO/target/$TARGET/release/idpush
file "$BIN" 2>/dev/null || ls -l "$BIN"
echo "$BIN"
