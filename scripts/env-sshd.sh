#!/usr/bin/env bash
# An sshd of our own on a loopback port for the e2e tests of DOCKER_HOST=ssh://… (issue 11):
# throwaway host and client keys, root login by key only, and the docker CLI on the far side
# (the same machine) pointed at the test dockerd through the key's environment= option. The
# client side is an `ssh` wrapper (DIR/sshd/bin/ssh) with its own config and known_hosts, put
# first on PATH by the tests, so nothing in ~/.ssh is read or written.
#
#   scripts/env-sshd.sh start DIR     install openssh-server if missing, start (or reuse) sshd; append to DIR/env
#   scripts/env-sshd.sh stop DIR      stop the sshd this script started (pid file)
#   scripts/env-sshd.sh status DIR    one line
#
# Called by scripts/test-env.sh start/stop after dockerd. Lines appended to DIR/env:
#   IDPUSH_TEST_SSH_HOST=ssh://root@127.0.0.1:PORT
#   IDPUSH_TEST_SSH_PATH=DIR/sshd/bin     put first on PATH: its ssh uses the test keys
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
S=$DIR/sshd
mkdir -p "$S/bin"
CONF=$S/sshd_config
PIDFILE=$S/sshd.pid
SSHD=/usr/sbin/sshd

LOG_NAME=env-sshd
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
alive() { pid_alive "$PIDFILE" "$CONF"; }
stop_sshd() { stop_pid "$PIDFILE" "$CONF" sshd; }

conf_port() { sed -n 's/^Port \([0-9]*\)$/\1/p' "$CONF" 2>/dev/null | head -n1; }
docker_host() { sed -n 's|^DOCKER_HOST=||p' "$DIR/env" | head -n1; }

install_sshd() {
  [ -x "$SSHD" ] && command -v ssh >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "sshd missing and not root: install the Debian package openssh-server"
  log "installing openssh-server"
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; ours=1; fi
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends openssh-server openssh-client ||
      { apt-get update -q && apt-get install -y -q --no-install-recommends openssh-server openssh-client; }
  } </dev/null >"$S/apt.log" 2>&1 || rc=$?
  [ "$ours" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || { tail -n 20 "$S/apt.log" >&2; die "apt-get failed; log: $S/apt.log"; }
}

make_keys() {
  [ -s "$S/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C idpush-test-host -f "$S/host_key"
  [ -s "$S/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C idpush-test-client -f "$S/client_key"
  chmod 600 "$S/host_key" "$S/client_key"
}

# write_files PORT DOCKER_HOST
write_files() {
  local port=$1 dh=$2
  printf 'environment="DOCKER_HOST=%s" %s\n' "$dh" "$(cat "$S/client_key.pub")" >"$S/authorized_keys"
  chmod 600 "$S/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$S/host_key.pub")" >"$S/known_hosts"
  cat >"$S/ssh_config" <<CONF
Host *
  IdentityFile $S/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $S/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
CONF
  printf '#!/bin/sh\n# written by scripts/env-sshd.sh: ssh with the test keys\nexec /usr/bin/ssh -F %s "$@"\n' "$S/ssh_config" >"$S/bin/ssh"
  chmod 755 "$S/bin/ssh"
  cat >"$CONF" <<CONF
# written by scripts/env-sshd.sh
Port $port
ListenAddress 127.0.0.1
HostKey $S/host_key
PidFile $PIDFILE
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitUserEnvironment DOCKER_HOST
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel ERROR
CONF
}

ping_ssh() { "$S/bin/ssh" -o ConnectTimeout=5 -p "$1" root@127.0.0.1 true </dev/null >/dev/null 2>&1; }

write_env() {
  grep -vE '^IDPUSH_TEST_SSH_' "$DIR/env" >"$DIR/env.sshd.tmp" 2>/dev/null || true
  {
    cat "$DIR/env.sshd.tmp"
    echo "IDPUSH_TEST_SSH_HOST=ssh://root@127.0.0.1:$1"
    echo "IDPUSH_TEST_SSH_PATH=$S/bin"
  } >"$DIR/env.sshd.new"
  rm -f "$DIR/env.sshd.tmp"
  mv "$DIR/env.sshd.new" "$DIR/env"
}

start() {
  install_sshd
  make_keys
  local dh port
  dh=$(docker_host)
  [ -n "$dh" ] || die "no DOCKER_HOST in $DIR/env: start dockerd first (scripts/test-env.sh start)"
  if alive; then
    port=$(conf_port)
    if grep -qF "DOCKER_HOST=$dh\"" "$S/authorized_keys" && ping_ssh "$port"; then
      log "sshd already running (pid $(tr -dc '0-9' <"$PIDFILE"), port $port), reusing"
      write_env "$port"
      return 0
    fi
    stop_sshd
  fi
  port=$(free_port 5600 5699) || die "no free port in 5600-5699"
  write_files "$port" "$dh"
  mkdir -p /run/sshd # sshd's privilege separation directory
  "$SSHD" -t -f "$CONF" >"$S/sshd-test.log" 2>&1 || { cat "$S/sshd-test.log" >&2; die "sshd rejected $CONF"; }
  log "starting sshd on 127.0.0.1:$port"
  "$SSHD" -f "$CONF" -E "$S/sshd.log" </dev/null >/dev/null 2>&1 || { tail -n 20 "$S/sshd.log" >&2; die "sshd did not start"; }
  for _ in $(seq 1 50); do
    if alive && ping_ssh "$port"; then
      log "sshd ready (pid $(tr -dc '0-9' <"$PIDFILE"))"
      write_env "$port"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$S/sshd.log" >&2 || true
  stop_sshd
  die "sshd did not accept the test key on $port; log: $S/sshd.log"
}

case "$cmd" in
  start) start ;;
  stop) stop_sshd ;;
  status)
    if alive; then echo "sshd running pid $(tr -dc '0-9' <"$PIDFILE") port $(conf_port)"; else echo "sshd stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
