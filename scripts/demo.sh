#!/usr/bin/env bash
# idpush end to end: build idpush (release), make a small image in the local daemon, push it to a
# registry, and show what the registry now holds.
#
#   scripts/demo.sh [--registry HOST:PORT] [--keep]
#
# IDPUSH_BIN=PATH uses that idpush instead of building one.
# Unless both DOCKER_HOST and --registry are given, the private test environment is started
# (scripts/test-env.sh start: its own dockerd and a plain-HTTP registry on a free 127.0.0.1 port)
# and its daemon or registry stands in for the one not given; whatever this run started is
# stopped at the end (unless --keep).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
ENV_SCRIPT=$REPO/scripts/test-env.sh
export IDPUSH_TEST_ENV_DIR=${IDPUSH_TEST_ENV_DIR:-$REPO/.tmp/test-env}

registry=
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --registry | -r) registry=${2:?--registry needs HOST:PORT}; shift 2 ;;
    --registry=*) registry=${1#--registry=}; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
registry=${registry#http://}
registry=${registry#https://}
registry=${registry%/}

# Bold headings only on a terminal: a log file or a pipe gets plain text.
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
else
  step() { printf '\n== %s\n' "$*" >&2; }
fi

stop_list=()
cleanup() {
  local rc=$? c
  for c in "${stop_list[@]}"; do "$ENV_SCRIPT" stop "$c" || true; done
  [ -n "${work:-}" ] && rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

if [ -z "${DOCKER_HOST:-}" ] || [ -z "$registry" ]; then
  step "starting the test environment (scripts/test-env.sh start)"
  [ "$keep" = 1 ] || mapfile -t stop_list < <("$ENV_SCRIPT" missing)
  "$ENV_SCRIPT" start >/dev/null
  env_docker_host=$(sed -n 's/^DOCKER_HOST=//p' "$IDPUSH_TEST_ENV_DIR/env")
  env_registry=$(sed -n 's/^IDPUSH_TEST_REGISTRY=//p' "$IDPUSH_TEST_ENV_DIR/env")
  export DOCKER_HOST=${DOCKER_HOST:-$env_docker_host}
  registry=${registry:-$env_registry}
fi
export DOCKER_HOST
export DOCKER_BUILDKIT=0 # the legacy builder: no buildx needed
echo "daemon:   $DOCKER_HOST" >&2
echo "registry: $registry" >&2

if [ -n "${IDPUSH_BIN:-}" ]; then
  IDPUSH=$IDPUSH_BIN # another build of idpush, e.g. an installed one
else
  step "building idpush (cargo build --release)"
  cargo build --release
  IDPUSH=$REPO/target/release/idpush
fi

step "making demo:latest (docker import of a generated rootfs + docker build)"
work=$(mktemp -d "${TMPDIR:-/tmp}/idpush-demo.XXXXXX")
mkdir -p "$work/rootfs/etc" "$work/rootfs/bin" "$work/rootfs/srv" "$work/ctx"
printf 'NAME="idpush demo"\nID=idpush-demo\n' >"$work/rootfs/etc/os-release"
echo "hello from the idpush demo base layer" >"$work/rootfs/srv/base.txt"
head -c 65536 /dev/urandom >"$work/rootfs/bin/payload"
tar -C "$work/rootfs" --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
docker import "$work/rootfs.tar" idpush-demo-base:latest >/dev/null
cat >"$work/ctx/Dockerfile" <<'EOF'
FROM idpush-demo-base:latest
COPY app.txt /srv/app.txt
LABEL org.opencontainers.image.title="idpush demo"
EOF
echo "the app layer, built $(date -u +%FT%TZ)" >"$work/ctx/app.txt"
docker build -q -t demo:latest "$work/ctx" >/dev/null 2>&1 || docker build -t demo:latest "$work/ctx"
original_id=$(docker image inspect -f '{{.Id}}' demo:latest)
docker image ls demo:latest >&2
echo "image ID: $original_id" >&2
echo "layers:   $(docker image inspect -f '{{len .RootFS.Layers}}' demo:latest)" >&2

dest=$registry/demo/app:latest
step "idpush push demo:latest $dest"
ref=$("$IDPUSH" push demo:latest "$dest")
echo "$ref"
# name:tag@digest -> name@digest (skopeo and docker want one or the other)
name=${ref%@*}
digest=${ref##*@}
last=${name##*/}
[[ $last == *:* ]] && name=${name%:*}
by_digest=$name@$digest

step "skopeo inspect docker://$by_digest"
skopeo inspect --tls-verify=false "docker://$by_digest"

step "pulling $by_digest back with docker and comparing image IDs"
docker pull -q "$by_digest" >/dev/null
pulled_id=$(docker image inspect -f '{{.Id}}' "$by_digest")
echo "original: $original_id" >&2
echo "pulled:   $pulled_id" >&2
if [ "$pulled_id" != "$original_id" ]; then
  echo "demo: image IDs differ" >&2
  exit 1
fi
echo "demo: OK, pushed $ref" >&2
