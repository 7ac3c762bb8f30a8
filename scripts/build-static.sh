#!/usr/bin/env bash
# Builds the static musl binary target/x86_64-unknown-linux-musl/release/idpush and checks it:
# statically linked (`file`: "statically linked"; `ldd`: no libraries), stripped, and no larger
# than IDPUSH_STATIC_MAX_BYTES (default 3000000, issue 8's 3 MB target, so growth past it fails CI;
# scripts/bench.sh reports it with the other targets).
#
# Linked as a plain static executable (`-C relocation-model=static`), not a static PIE: a
# static PIE carries its own relocations (.rela.dyn, ~110 KB here) to be loaded at a random
# address. Go's static binaries (crane, skopeo, the docker CLI) are not PIE either.
# Linked by the toolchain's own lld (rust-lld, through its gcc-ld wrapper), for two size
# options GNU ld lacks or does worse: identical code folding (`--icf=all`, ~40 KB: generic code
# instantiated for types of the same layout; Rust does not promise distinct functions distinct
# addresses, and rustc's own merge-functions pass already folds at the LLVM level) and no
# .eh_frame_hdr (~42 KB: the lookup table an unwinder uses; with panic = "abort" nothing
# unwinds, and a backtrace of a stripped binary has no names to show anyway).
# Prints the binary's path on stdout as the last line; the size and build time go to stderr.
#
#   scripts/build-static.sh
#
# Installs what it needs when missing, idempotently: the rustup musl target, and as root
# Debian's musl-tools (musl-gcc, for ring's C and assembly) and file.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=x86_64-unknown-linux-musl
MAX_BYTES=${IDPUSH_STATIC_MAX_BYTES:-3000000}

die() { echo "build-static: $*" >&2; exit 1; }

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
missing=()
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v file >/dev/null || missing+=(file)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "install ${missing[*]} first (apt-get install -y ${missing[*]}), or run as root"
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

start=$(date +%s)
host=$(rustc -vV | sed -n 's/^host: //p')
GCC_LD=$(rustc --print sysroot)/lib/rustlib/$host/bin/gcc-ld
[ -x "$GCC_LD/ld.lld" ] || die "$GCC_LD/ld.lld is missing: the Rust toolchain ships rust-lld there (rustup component add rustc, or a newer toolchain)"
CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C relocation-model=static -C link-arg=-fuse-ld=lld -C link-arg=-B$GCC_LD -C link-arg=-Wl,--icf=all -C link-arg=-Wl,--no-eh-frame-hdr" \
  cargo build --release --target "$TARGET" --manifest-path "$REPO/Cargo.toml" >&2
took=$(($(date +%s) - start))
BIN=$REPO/target/$TARGET/release/idpush

kind=$(file -b "$BIN")
case "$kind" in
  *"static-pie linked"* | *"statically linked"*) ;;
  *) die "$BIN is not statically linked (file says: $kind); check the musl target and linker" ;;
esac
case "$kind" in
  *", stripped"*) ;;
  *) die "$BIN is not stripped (file says: $kind); check strip = true in [profile.release]" ;;
esac
# ldd: "statically linked" for a static PIE, "not a dynamic executable" (status 1) otherwise.
libs=$(ldd "$BIN" 2>&1 || true)
case "$libs" in
  *"statically linked"* | *"not a dynamic executable"*) ;;
  *) die "$BIN loads shared libraries (ldd says: $(tr '\n' ' ' <<<"$libs"))" ;;
esac
size=$(stat -c %s "$BIN")
echo "build-static: $BIN: $size bytes, static, stripped; built in ${took}s" >&2
[ "$size" -le "$MAX_BYTES" ] ||
  die "$BIN is $size bytes, over the $MAX_BYTES-byte budget; size-optimize what is not hot ([profile.release] in Cargo.toml)"
echo "$BIN"
