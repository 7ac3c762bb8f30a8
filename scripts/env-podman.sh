#!/usr/bin/env bash
# Podman's Docker-compatible API for the e2e tests (issue 11): Debian's podman, run without
# systemd as one `podman system service` of our own, with its own storage (vfs) under DIR/podman.
#
#   scripts/env-podman.sh start DIR     install podman if missing, start (or reuse) the service; append to DIR/env
#   scripts/env-podman.sh stop DIR      stop the service this script started (pid file)
#   scripts/env-podman.sh status DIR    one line
#
# Called by scripts/test-env.sh start/stop after DIR/env is written. Lines appended to DIR/env:
#   IDPUSH_TEST_PODMAN_HOST=unix://DIR/podman/podman.sock   the service's socket
#   IDPUSH_TEST_PODMAN_ROOT=DIR/podman/root                  its --root (tests run `podman --root … import`)
#   IDPUSH_TEST_PODMAN_RUNROOT=DIR/podman/run                its --runroot
# Everything lives in DIR/podman: root, run, podman.pid, podman.log.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
P=$DIR/podman
# Unix socket paths are limited to 107 bytes: a long DIR puts the socket under test-env.sh's rundir.
RUN=$P
if [ "${#P}" -gt 60 ]; then
  [ -s "$DIR/rundir" ] || { echo "env-podman: error: $DIR is long and has no rundir (start scripts/test-env.sh first)" >&2; exit 1; }
  RUN=$(cat "$DIR/rundir")/podman
fi
mkdir -p "$P" "$RUN"
SOCK=$RUN/podman.sock
PIDFILE=$P/podman.pid
# The flags every podman call against this storage needs (the tests use the same ones).
FLAGS=(--root "$P/root" --runroot "$P/run" --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)

LOG_NAME=env-podman
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Our podman service: its command line names our storage root.
alive() { pid_alive "$PIDFILE" "$P/root"; }
stop_podman() { stop_pid "$PIDFILE" "$P/root" "podman system service"; rm -f "$SOCK"; }

ping() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

install_podman() {
  command -v podman >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "podman missing and not root: install the Debian package podman"
  log "installing podman"
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; ours=1; fi
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends podman || { apt-get update -q && apt-get install -y -q --no-install-recommends podman; }
  } </dev/null >"$P/apt.log" 2>&1 || rc=$?
  [ "$ours" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || { tail -n 20 "$P/apt.log" >&2; die "apt-get failed; log: $P/apt.log"; }
}

write_env() {
  grep -vE '^IDPUSH_TEST_PODMAN_' "$DIR/env" >"$DIR/env.podman.tmp" 2>/dev/null || true
  {
    cat "$DIR/env.podman.tmp"
    echo "IDPUSH_TEST_PODMAN_HOST=unix://$SOCK"
    echo "IDPUSH_TEST_PODMAN_ROOT=$P/root"
    echo "IDPUSH_TEST_PODMAN_RUNROOT=$P/run"
  } >"$DIR/env.podman.new"
  rm -f "$DIR/env.podman.tmp"
  mv "$DIR/env.podman.new" "$DIR/env"
}

start() {
  install_podman
  if alive && ping; then
    log "podman system service already running (pid $(tr -dc '0-9' <"$PIDFILE")), reusing"
    write_env
    return 0
  fi
  stop_podman
  rm -f "$SOCK"
  log "starting podman system service (unix://$SOCK)"
  setsid nohup podman "${FLAGS[@]}" system service --time 0 "unix://$SOCK" </dev/null >"$P/podman.log" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 150); do
    if ping; then
      log "podman ready (pid $(tr -dc '0-9' <"$PIDFILE"))"
      write_env
      return 0
    fi
    alive || break
    sleep 0.2
  done
  tail -n 20 "$P/podman.log" >&2 || true
  stop_podman
  die "podman system service did not answer /_ping; log: $P/podman.log"
}

case "$cmd" in
  start) start ;;
  stop) stop_podman ;;
  status)
    if alive && ping; then echo "podman running pid $(tr -dc '0-9' <"$PIDFILE") unix://$SOCK"; else echo "podman stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
