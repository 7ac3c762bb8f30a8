#!/usr/bin/env bash
# Benchmark: idpush push vs docker push vs skopeo copy, side by side in one run, on the same
# image from the same daemon to a loopback registry, reported as ratios.
#
#   scripts/bench.sh [--mb N] [--rounds R]
#
# Each push goes to a fresh registry (own storage, own port), so no tool profits from blobs or
# mount metadata left by an earlier round. Wall time is measured for all three; peak RSS for
# idpush and skopeo (docker push does its work inside dockerd, whose RSS is not the push's).
# The daemon comes from DOCKER_HOST, else the private test environment is started.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MB=200
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) MB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 1 ;;
  esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idpush-bench.XXXXXX")
REGPIDS=()
STARTED_ENV=0
cleanup() {
  local p
  for p in "${REGPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "$STARTED_ENV" = 1 ] && "$REPO/scripts/test-env.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${DOCKER_HOST:-}" ]; then
  "$REPO/scripts/test-env.sh" status >/dev/null 2>&1 || STARTED_ENV=1
  "$REPO/scripts/test-env.sh" start >&2
  # shellcheck disable=SC1091
  . "$REPO/.tmp/test-env/env"
  export DOCKER_HOST
fi
command -v docker-registry >/dev/null || { echo "bench: docker-registry is not installed (run scripts/test-env.sh install)" >&2; exit 1; }

echo "bench: building idpush (release)" >&2
cargo build --release --quiet --manifest-path "$REPO/Cargo.toml"
IDPUSH=$REPO/target/release/idpush

# The image: half random bytes (incompressible), half text (compressible), in two layers.
IMG=idpush-bench:${MB}mb
if ! docker image inspect "$IMG" >/dev/null 2>&1; then
  echo "bench: making a ${MB} MB image $IMG" >&2
  mkdir -p "$WORK/root/data" "$WORK/ctx"
  head -c $((MB * 1024 * 1024 / 2)) /dev/urandom >"$WORK/root/data/random.bin"
  echo '{"bench": true}' >"$WORK/root/data/meta.json"
  tar -C "$WORK/root" -cf - . | docker import - idpush-bench-base:latest >/dev/null
  # (process substitution: seq's SIGPIPE when head has enough must not fail the script)
  head -c $((MB * 1024 * 1024 / 2)) < <(seq 1 $((MB * 1024 * 1024))) >"$WORK/ctx/text.txt"
  printf 'FROM idpush-bench-base:latest\nCOPY text.txt /data/text.txt\n' >"$WORK/ctx/Dockerfile"
  docker build -q -t "$IMG" "$WORK/ctx" >/dev/null
  rm -rf "$WORK/root" "$WORK/ctx"
fi

# A fresh registry on a free port; prints the port.
fresh_registry() {
  local port=$1 dir=$WORK/reg-$1
  mkdir -p "$dir"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
EOF
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  REGPIDS+=($!)
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: registry on port $port did not start" >&2
  exit 1
}

# Runs a command under /usr/bin/time; prints "seconds maxrss_kb".
timed() {
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || {
    echo "bench: failed: $*" >&2; cat "$WORK/err" >&2; exit 1; }
  cat "$WORK/time"
}

port=5600
declare -A T M
for tool in idpush docker skopeo; do T[$tool]=""; M[$tool]=""; done
for r in $(seq 1 "$ROUNDS"); do
  for tool in idpush docker skopeo; do
    port=$((port + 1))
    fresh_registry "$port"
    dest=127.0.0.1:$port/bench/$tool:r$r
    case $tool in
      idpush) out=$(timed "$IDPUSH" push -q "$IMG" "$dest") ;;
      docker) docker tag "$IMG" "$dest"; out=$(timed docker push -q "$dest"); docker rmi "$dest" >/dev/null ;;
      skopeo) out=$(timed skopeo copy -q --src-daemon-host "$DOCKER_HOST" --dest-tls-verify=false "docker-daemon:$IMG" "docker://$dest") ;;
    esac
    T[$tool]+="${out% *} "
    M[$tool]+="${out#* } "
    echo "bench: round $r $tool: ${out% *} s, peak RSS ${out#* } KiB" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ti=$(echo "${T[idpush]}" | median); td=$(echo "${T[docker]}" | median); ts=$(echo "${T[skopeo]}" | median)
mi=$(echo "${M[idpush]}" | median); ms=$(echo "${M[skopeo]}" | median)
echo
echo "image: $IMG (${MB} MB, 2 layers), $ROUNDS rounds, medians"
printf '%-8s %8s s  %s\n' idpush "$ti" "$mi KiB peak RSS" docker "$td" "(peak RSS n/a: the work is in dockerd)" skopeo "$ts" "$ms KiB peak RSS"
awk -v i="$ti" -v d="$td" -v s="$ts" -v mi="$mi" -v ms="$ms" 'BEGIN {
  printf "time   idpush/docker push: %.2f   idpush/skopeo copy: %.2f   (below 1 = idpush faster)\n", i/d, i/s
  printf "memory idpush/skopeo copy: %.2f\n", mi/ms }'
