#!/usr/bin/env bash
# The test dockerd reached over tcp:// with TLS and client certificates (issue 11), without
# restarting it: one nginx of our own, a stream (TCP) proxy on a loopback port that terminates TLS
# with `ssl_verify_client on` and forwards to the dockerd's unix socket. Certificates come from
# the test CA of scripts/env-tls.sh (DIR/tls/ca.{crt,key}); the client side gets docker's names.
#
#   scripts/env-dockertls.sh start DIR     start (or reuse) it; append KEY=VALUE lines to DIR/env
#   scripts/env-dockertls.sh stop DIR      stop the nginx this script started (pid file)
#   scripts/env-dockertls.sh status DIR    one line
#
# Called by scripts/test-env.sh start/stop after dockerd and env-tls.sh. Lines appended to DIR/env:
#   IDPUSH_TEST_DOCKER_TLS_HOST=tcp://127.0.0.1:PORT    TLS, client certificate required
#   IDPUSH_TEST_DOCKER_CERT_PATH=DIR/dockertls/client   ca.pem, cert.pem, key.pem (for DOCKER_CERT_PATH)
# Everything lives in DIR/dockertls: keys, certificates, nginx.conf, nginx.pid, error.log.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
T=$DIR/dockertls
C=$T/client
mkdir -p "$T" "$C"
CONF=$T/nginx.conf
PIDFILE=$T/nginx.pid
CA=$DIR/tls

LOG_NAME=env-dockertls
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
alive() { pid_alive "$PIDFILE" "$CONF"; }
stop_nginx() { stop_pid "$PIDFILE" "$CONF" nginx; }

module() {
  local m
  for m in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
    [ -e "$m" ] && { echo "$m"; return 0; }
  done
  return 1
}

install_stream() {
  module >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "nginx's stream module is missing and not root: install the Debian package libnginx-mod-stream"
  log "installing libnginx-mod-stream"
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; ours=1; fi
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends libnginx-mod-stream || { apt-get update -q && apt-get install -y -q --no-install-recommends libnginx-mod-stream; }
  } </dev/null >"$T/apt.log" 2>&1 || rc=$?
  [ "$ours" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || { tail -n 20 "$T/apt.log" >&2; die "apt-get failed; log: $T/apt.log"; }
}

make_certs() {
  [ -s "$CA/ca.crt" ] && [ -s "$CA/ca.key" ] && [ -s "$CA/server.crt" ] || die "no test CA in $CA: start scripts/env-tls.sh first"
  [ -s "$C/ca.pem" ] && [ -s "$C/cert.pem" ] && [ -s "$C/key.pem" ] && return 0
  log "making a client certificate from the test CA"
  cp "$CA/ca.crt" "$C/ca.pem"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=idpush-docker-client" -keyout "$C/key.pem" -out "$T/client.csr" >"$T/openssl.log" 2>&1
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$T/client.ext"
  openssl x509 -req -in "$T/client.csr" -CA "$CA/ca.crt" -CAkey "$CA/ca.key" -CAcreateserial \
    -days 3650 -extfile "$T/client.ext" -out "$C/cert.pem" >>"$T/openssl.log" 2>&1
}

docker_sock() { sed -n 's|^DOCKER_HOST=unix://||p' "$DIR/env" | head -n1; }
conf_port() { sed -n 's/^ *listen 127\.0\.0\.1:\([0-9]*\) ssl;/\1/p' "$CONF" 2>/dev/null | head -n1; }

ping_tls() {
  curl -fsS --max-time 3 --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" -o /dev/null "https://127.0.0.1:$1/_ping" 2>/dev/null
}

write_env() {
  grep -vE '^IDPUSH_TEST_DOCKER_(TLS_HOST|CERT_PATH)=' "$DIR/env" >"$DIR/env.dtls.tmp" 2>/dev/null || true
  {
    cat "$DIR/env.dtls.tmp"
    echo "IDPUSH_TEST_DOCKER_TLS_HOST=tcp://127.0.0.1:$1"
    echo "IDPUSH_TEST_DOCKER_CERT_PATH=$C"
  } >"$DIR/env.dtls.new"
  rm -f "$DIR/env.dtls.tmp"
  mv "$DIR/env.dtls.new" "$DIR/env"
}

start() {
  install_stream
  make_certs
  local sock port user="" mod
  sock=$(docker_sock)
  [ -n "$sock" ] || die "no DOCKER_HOST=unix://… in $DIR/env: start dockerd first (scripts/test-env.sh start)"
  if alive; then
    port=$(conf_port)
    if grep -qF "proxy_pass unix:$sock;" "$CONF" && ping_tls "$port"; then
      log "nginx already running (pid $(tr -dc '0-9' <"$PIDFILE"), port $port), reusing"
      write_env "$port"
      return 0
    fi
    stop_nginx
  fi
  port=$(free_port 5500 5599) || die "no free port in 5500-5599"
  mod=$(module)
  [ "$(id -u)" = 0 ] && user="user root;"
  cat >"$CONF" <<CONF
# written by scripts/env-dockertls.sh
load_module $mod;
$user
daemon on;
worker_processes 1;
pid $PIDFILE;
error_log $T/error.log info;
events { worker_connections 256; }
stream {
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $CA/server.crt;
    ssl_certificate_key $CA/server.key;
    ssl_client_certificate $C/ca.pem;
    ssl_verify_client on;
    proxy_timeout 600s;
    proxy_pass unix:$sock;
  }
}
CONF
  nginx_start "$CONF" "$T" "127.0.0.1:$port (TLS, client certificates) in front of $sock"
  for _ in $(seq 1 50); do
    if alive && ping_tls "$port"; then
      log "nginx ready (pid $(tr -dc '0-9' <"$PIDFILE"))"
      write_env "$port"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$T/error.log" >&2 || true
  stop_nginx
  die "nginx did not answer on $port; log: $T/error.log"
}

case "$cmd" in
  start) start ;;
  stop) stop_nginx ;;
  status)
    if alive; then echo "nginx running pid $(tr -dc '0-9' <"$PIDFILE") port $(conf_port)"; else echo "nginx stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
