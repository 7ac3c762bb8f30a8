#!/usr/bin/env bash
# Private test environment for idpush: a dockerd and a plain-HTTP distribution registry on a
# loopback port, both started by this script and stopped only through the pid files it wrote.
#
#   scripts/test-env.sh start            install what is missing, start (or reuse) both, write $DIR/env
#   scripts/test-env.sh stop [WHAT]      stop what this script started (WHAT: dockerd | registry | auth | tls | podman | dockertls | sshd | all)
#   scripts/test-env.sh status           one line per component; exit 0 only if all run
#   scripts/test-env.sh missing          the components not running now (what a caller will start)
#   scripts/test-env.sh clean            stop, then delete $DIR
#   scripts/test-env.sh install          only install the Debian packages that are missing
#
# State lives in $IDPUSH_TEST_ENV_DIR (default: <repo>/.tmp/test-env). $DIR/env holds
# shell-sourceable lines read by the e2e tests:
#   DOCKER_HOST=unix:///…/docker.sock
#   IDPUSH_TEST_REGISTRY=127.0.0.1:PORT
# Optional: IDPUSH_TEST_REGISTRY_PORT picks the registry port (default: a free one from 5100);
# IDPUSH_TEST_FORCE_INSTALL=1 runs apt-get even when the commands are there.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${IDPUSH_TEST_ENV_DIR:-$REPO/.tmp/test-env}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

LOG_NAME=test-env
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
alive() { pid_alive "$@"; }

# Unix socket paths are limited to 107 bytes, and containerd puts sockets a few levels below
# dockerd's exec-root: keep the socket and exec-root under a short directory. $DIR itself when it
# is short, else /tmp/idpush-env-<checksum of $DIR> (recorded in $DIR/rundir).
if [ -s "$DIR/rundir" ]; then
  RUN=$(cat "$DIR/rundir")
elif [ "${#DIR}" -le 48 ]; then
  RUN=$DIR
else
  RUN=/tmp/idpush-env-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
fi

DOCKER_SOCK=$RUN/docker.sock
EXEC_ROOT=$RUN/x
DOCKERD_PID=$DIR/dockerd.pid
REGISTRY_PID=$DIR/registry.pid

# ---------------------------------------------------------------------------------------------
# Installing

# jq: the shell test of `idpush push --json`; bsdutils' script (a pseudo-terminal) is in Debian's base.
PACKAGES=(docker.io docker-registry skopeo umoci curl ca-certificates jq)
need_install() {
  local c
  [ -n "${IDPUSH_TEST_FORCE_INSTALL:-}" ] && return 0
  for c in dockerd docker docker-registry skopeo umoci curl jq; do
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || return 0
  done
  return 1
}

install_packages() {
  need_install || return 0
  [ "$(id -u)" = 0 ] || die "missing packages (${PACKAGES[*]}) and not root: install them first"
  log "installing ${PACKAGES[*]}"
  # Keep package maintainer scripts from starting system daemons (a system dockerd or registry).
  local policy=/usr/sbin/policy-rc.d ours=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get update -q &&
      apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
  } </dev/null >"$DIR/apt.log" 2>&1 || rc=$?
  [ "$ours" = 1 ] && rm -f "$policy"
  if [ "$rc" != 0 ]; then
    tail -n 30 "$DIR/apt.log" >&2
    die "apt-get failed (exit $rc); full log: $DIR/apt.log"
  fi
  IDPUSH_TEST_FORCE_INSTALL='' need_install && die "packages installed but commands still missing"
  return 0
}

# ---------------------------------------------------------------------------------------------
# Processes (by pid file only)

dockerd_alive() { alive "$DOCKERD_PID" "$EXEC_ROOT"; }
registry_alive() { alive "$REGISTRY_PID" "$DIR/registry.yml"; }

docker_ping() {
  curl -fsS --max-time 2 --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1
}

start_dockerd() {
  if dockerd_alive && docker_ping; then
    log "dockerd already running (pid $(pid_of "$DOCKERD_PID")), reusing"
    return 0
  fi
  if dockerd_alive; then
    # Still starting, perhaps: give it a moment before deciding it is stuck.
    for _ in $(seq 1 50); do docker_ping && return 0; sleep 0.2; done
    die "dockerd (pid $(pid_of "$DOCKERD_PID")) is running but not answering on $DOCKER_SOCK; run: $0 stop"
  fi
  local dockerd
  dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
  mkdir -p "$RUN" "$DIR/docker-data" "$EXEC_ROOT"
  [ -s "$DIR/daemon.json" ] || echo '{}' >"$DIR/daemon.json"
  rm -f "$DOCKER_SOCK" "$DOCKERD_PID"
  # A containerd left from a dockerd that died: dockerd would trust its pid file (a zombie still
  # looks alive to it) and time out connecting. Stop it through that pid file, drop the file.
  local cpid=$EXEC_ROOT/containerd/containerd.pid
  if [ -e "$cpid" ]; then
    stop_pid "$cpid" "$EXEC_ROOT" "stale containerd"
    rm -f "$cpid"
  fi
  log "starting dockerd ($DOCKER_SOCK)"
  # setsid + nohup: the daemon outlives this script and ignores the caller's terminal.
  setsid nohup "$dockerd" \
    -H "unix://$DOCKER_SOCK" \
    --data-root "$DIR/docker-data" \
    --exec-root "$EXEC_ROOT" \
    --pidfile "$DOCKERD_PID" \
    --storage-driver vfs \
    --iptables=false --ip-masq=false --bridge=none \
    --config-file "$DIR/daemon.json" \
    --containerd-namespace idpush \
    --containerd-plugins-namespace idpush-plugins \
    </dev/null >"$DIR/dockerd.log" 2>&1 &
  local launched=$!
  # dockerd writes $DOCKERD_PID itself (and refuses to start if that file names a live process).
  for _ in $(seq 1 150); do
    if docker_ping && dockerd_alive; then
      log "dockerd ready (pid $(pid_of "$DOCKERD_PID"))"
      return 0
    fi
    if ! { echo "$launched" >"$DIR/dockerd.launch" && alive "$DIR/dockerd.launch" "$EXEC_ROOT"; }; then
      tail -n 20 "$DIR/dockerd.log" >&2 || true
      die "dockerd exited during start; log: $DIR/dockerd.log"
    fi
    sleep 0.2
  done
  tail -n 20 "$DIR/dockerd.log" >&2 || true
  die "dockerd did not answer /_ping within 30 s; log: $DIR/dockerd.log"
}

stop_dockerd() {
  stop_pid "$DOCKERD_PID" "$EXEC_ROOT" dockerd
  # dockerd supervises a containerd of its own; normally it stops it. If dockerd had to be
  # killed, that containerd is left behind: stop it through its pid file too.
  local cpid=$EXEC_ROOT/containerd/containerd.pid
  if [ -s "$cpid" ]; then
    stop_pid "$cpid" "$EXEC_ROOT" containerd
  fi
  rm -f "$DOCKER_SOCK"
}

registry_port() { sed -n 's/^IDPUSH_TEST_REGISTRY=127\.0\.0\.1://p' "$DIR/env" 2>/dev/null | head -n1; }

registry_ping() {
  local port=$1
  [ -n "$port" ] && curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null
}

start_registry() {
  local port
  if registry_alive; then
    port=$(sed -n 's/^ *addr: *127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DIR/registry.yml" | head -n1)
    if registry_ping "$port"; then
      log "registry already running (pid $(pid_of "$REGISTRY_PID"), port $port), reusing"
      REGISTRY_PORT=$port
      return 0
    fi
    stop_pid "$REGISTRY_PID" "$DIR/registry.yml" registry
  fi
  local registry candidates p
  registry=$(command -v docker-registry || echo /usr/bin/docker-registry)
  mkdir -p "$DIR/registry-data"
  if [ -n "${IDPUSH_TEST_REGISTRY_PORT:-}" ]; then
    candidates=("$IDPUSH_TEST_REGISTRY_PORT")
  else
    candidates=()
    for p in $(seq 5100 5199); do candidates+=("$p"); done
  fi
  for p in "${candidates[@]}"; do
    port_free "$p" || continue
    cat >"$DIR/registry.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $DIR/registry-data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$p
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    log "starting registry on 127.0.0.1:$p"
    setsid nohup "$registry" serve "$DIR/registry.yml" </dev/null >"$DIR/registry.log" 2>&1 &
    echo $! >"$REGISTRY_PID"
    for _ in $(seq 1 100); do
      if registry_ping "$p"; then
        REGISTRY_PORT=$p
        log "registry ready (pid $(pid_of "$REGISTRY_PID"))"
        return 0
      fi
      registry_alive || break
      sleep 0.1
    done
    stop_pid "$REGISTRY_PID" "$DIR/registry.yml" registry
    log "registry did not come up on port $p; last log lines:"
    tail -n 5 "$DIR/registry.log" >&2 || true
  done
  die "could not start the registry; log: $DIR/registry.log"
}

write_env() {
  local tmp=$DIR/env.tmp
  {
    echo "# written by scripts/test-env.sh; source it or read KEY=VALUE lines"
    echo "DOCKER_HOST=unix://$DOCKER_SOCK"
    echo "IDPUSH_TEST_REGISTRY=127.0.0.1:$REGISTRY_PORT"
    echo "IDPUSH_TEST_ENV_DIR=$DIR"
  } >"$tmp"
  mv "$tmp" "$DIR/env"
}

status() {
  local ok=0 port
  if dockerd_alive && docker_ping; then
    echo "dockerd running pid $(pid_of "$DOCKERD_PID") unix://$DOCKER_SOCK"
  else
    echo "dockerd stopped"
    ok=1
  fi
  port=$(sed -n 's/^ *addr: *127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DIR/registry.yml" 2>/dev/null | head -n1)
  if registry_alive && registry_ping "$port"; then
    echo "registry running pid $(pid_of "$REGISTRY_PID") 127.0.0.1:$port"
  else
    echo "registry stopped"
    ok=1
  fi
  "$REPO/scripts/env-auth.sh" status "$DIR" | sed 's/^/auth: /'
  grep -q running < <("$REPO/scripts/env-auth.sh" status "$DIR") || ok=1
  "$REPO/scripts/env-tls.sh" status "$DIR" | sed 's/^/tls: /' || ok=1
  "$REPO/scripts/env-podman.sh" status "$DIR" | sed 's/^/podman: /' || ok=1
  "$REPO/scripts/env-dockertls.sh" status "$DIR" | sed 's/^/dockertls: /' || ok=1
  "$REPO/scripts/env-sshd.sh" status "$DIR" | sed 's/^/sshd: /' || ok=1
  return $ok
}

cmd=${1:-}
case "$cmd" in
  install)
    install_packages
    ;;
  start)
    install_packages
    if [ "$RUN" != "$DIR" ]; then echo "$RUN" >"$DIR/rundir"; fi
    REGISTRY_PORT=
    start_dockerd
    start_registry
    write_env
    "$REPO/scripts/env-auth.sh" start "$DIR" # authenticated registries: appends to $DIR/env
    "$REPO/scripts/env-tls.sh" start "$DIR" # nginx TLS in front of the registry: appends to $DIR/env
    "$REPO/scripts/env-podman.sh" start "$DIR" # podman's Docker-compatible API: appends to $DIR/env
    "$REPO/scripts/env-dockertls.sh" start "$DIR" # the dockerd over tcp:// + TLS (nginx stream proxy): appends to $DIR/env
    "$REPO/scripts/env-sshd.sh" start "$DIR" # sshd for DOCKER_HOST=ssh://: appends to $DIR/env
    log "environment ready: $DIR/env"
    cat "$DIR/env"
    ;;
  stop)
    case "${2:-all}" in
      dockerd) stop_dockerd ;;
      registry) stop_pid "$REGISTRY_PID" "$DIR/registry.yml" registry ;;
      auth) "$REPO/scripts/env-auth.sh" stop "$DIR" ;;
      tls) "$REPO/scripts/env-tls.sh" stop "$DIR" ;;
      podman) "$REPO/scripts/env-podman.sh" stop "$DIR" ;;
      dockertls) "$REPO/scripts/env-dockertls.sh" stop "$DIR" ;;
      sshd) "$REPO/scripts/env-sshd.sh" stop "$DIR" ;;
      all)
        "$REPO/scripts/env-sshd.sh" stop "$DIR" # sshd for ssh:// tests
        "$REPO/scripts/env-dockertls.sh" stop "$DIR" # TLS proxy in front of dockerd
        "$REPO/scripts/env-podman.sh" stop "$DIR" # podman system service
        "$REPO/scripts/env-tls.sh" stop "$DIR" # nginx in front of the registry
        "$REPO/scripts/env-auth.sh" stop "$DIR" # the authenticated registries
        stop_pid "$REGISTRY_PID" "$DIR/registry.yml" registry
        stop_dockerd
        ;;
      *) die "unknown component '${2}' (dockerd | registry | auth | tls | podman | dockertls | sshd | all)" ;;
    esac
    ;;
  status)
    status
    ;;
  missing)
    # The components not running now, in stopping order: a caller that starts the environment
    # stops exactly these afterwards, and so only what it started.
    now=$(status 2>/dev/null || true)
    grep -q '^sshd: sshd running' <<<"$now" || echo sshd
    grep -q '^dockertls: nginx running' <<<"$now" || echo dockertls
    grep -q '^podman: podman running' <<<"$now" || echo podman
    grep -q '^tls: nginx running' <<<"$now" || echo tls
    grep -q '^auth: .*running' <<<"$now" || echo auth
    grep -q '^registry running' <<<"$now" || echo registry
    grep -q '^dockerd running' <<<"$now" || echo dockerd
    ;;
  clean)
    "$0" stop all
    log "removing $DIR"
    rm -rf "$DIR"
    [ "$RUN" = "$DIR" ] || rm -rf "$RUN"
    ;;
  *)
    echo "usage: $0 start | stop [dockerd|registry|auth|tls|podman|dockertls|sshd|all] | status | missing | clean | install" >&2
    exit 2
    ;;
esac
