#!/usr/bin/env bash
# TLS in front of the test registry, for the e2e tests: a test CA and a server certificate for
# 127.0.0.1/localhost (openssl), and one nginx instance of our own terminating TLS on two loopback
# ports in front of scripts/test-env.sh's plain registry:
#   - one with no body limit (client_max_body_size 0);
#   - one with client_max_body_size 1m, so a monolithic upload of a larger layer gets 413.
#
#   scripts/env-tls.sh start DIR     start (or reuse) nginx; append KEY=VALUE lines to DIR/env
#   scripts/env-tls.sh stop DIR      stop the nginx this script started (pid file)
#   scripts/env-tls.sh status DIR    one line
#
# Called by scripts/test-env.sh start/stop, after the registry is up and DIR/env written.
# Lines appended to DIR/env:
#   IDPUSH_TEST_TLS_REGISTRY=127.0.0.1:PORT        TLS, no body limit
#   IDPUSH_TEST_TLS_SMALL_REGISTRY=127.0.0.1:PORT  TLS, 1 MiB body limit (413 above)
#   IDPUSH_TEST_TLS_CA=DIR/tls/ca.crt               the test CA (PEM)
# Everything lives in DIR/tls: keys, certificates, nginx.conf, nginx.pid, error.log.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
T=$DIR/tls
mkdir -p "$T"
CONF=$T/nginx.conf
PIDFILE=$T/nginx.pid

LOG_NAME=env-tls
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Our nginx: its command line names our config file (nginx keeps it in the master's title).
alive() { pid_alive "$PIDFILE" "$CONF"; }
stop_nginx() { stop_pid "$PIDFILE" "$CONF" nginx; }

tls_ping() { curl -fsS --max-time 3 --cacert "$T/ca.crt" -o /dev/null "https://127.0.0.1:$1/v2/" 2>/dev/null; }

install_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && command -v openssl >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "nginx/openssl missing and not root: install the Debian packages nginx openssl"
  log "installing nginx openssl"
  # Keep the package's maintainer scripts from starting the system nginx.
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; ours=1; fi
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends nginx openssl
  } </dev/null >"$T/apt.log" 2>&1 || rc=$?
  [ "$ours" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || { tail -n 20 "$T/apt.log" >&2; die "apt-get failed; log: $T/apt.log"; }
}

make_certs() {
  [ -s "$T/ca.crt" ] && [ -s "$T/server.crt" ] && [ -s "$T/server.key" ] && return 0
  log "making a test CA and a server certificate for 127.0.0.1/localhost"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=idpush test CA" \
    -keyout "$T/ca.key" -out "$T/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >"$T/openssl.log" 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$T/server.key" -out "$T/server.csr" \
    >>"$T/openssl.log" 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$T/server.ext"
  openssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
    -days 3650 -extfile "$T/server.ext" -out "$T/server.crt" >>"$T/openssl.log" 2>&1
}

registry_port() { sed -n 's/^IDPUSH_TEST_REGISTRY=127\.0\.0\.1://p' "$DIR/env" | head -n1; }

# write_conf REGISTRY_PORT PORT SMALL_PORT
write_conf() {
  local user=""
  [ "$(id -u)" = 0 ] && user="user root;"
  mkdir -p "$T/tmp"
  cat >"$CONF.tmp" <<EOF
# written by scripts/env-tls.sh
$user
daemon on;
worker_processes 1;
pid $PIDFILE;
error_log $T/error.log info;
events { worker_connections 256; }
http {
  access_log $T/access.log;
  client_body_temp_path $T/tmp/body;
  proxy_temp_path $T/tmp/proxy;
  fastcgi_temp_path $T/tmp/fastcgi;
  uwsgi_temp_path $T/tmp/uwsgi;
  scgi_temp_path $T/tmp/scgi;
  ssl_certificate $T/server.crt;
  ssl_certificate_key $T/server.key;
  proxy_http_version 1.1;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_set_header Host \$http_host;
  proxy_set_header X-Forwarded-Proto \$scheme;
  proxy_set_header X-Forwarded-For \$remote_addr;
  proxy_read_timeout 600s;
  proxy_send_timeout 600s;
  server {
    listen 127.0.0.1:$2 ssl;
    client_max_body_size 0;
    location / { proxy_pass http://127.0.0.1:$1; }
  }
  server {
    listen 127.0.0.1:$3 ssl;
    client_max_body_size 1m;
    location / { proxy_pass http://127.0.0.1:$1; }
  }
}
EOF
}

conf_ports() { sed -n 's/^ *listen 127\.0\.0\.1:\([0-9]*\) ssl;/\1/p' "$CONF" 2>/dev/null | tr '\n' ' '; }

write_env() {
  local p1=$1 p2=$2
  grep -vE '^IDPUSH_TEST_TLS_' "$DIR/env" >"$DIR/env.tls.tmp" 2>/dev/null || true
  {
    cat "$DIR/env.tls.tmp"
    echo "IDPUSH_TEST_TLS_REGISTRY=127.0.0.1:$p1"
    echo "IDPUSH_TEST_TLS_SMALL_REGISTRY=127.0.0.1:$p2"
    echo "IDPUSH_TEST_TLS_CA=$T/ca.crt"
  } >"$DIR/env.tls.new"
  rm -f "$DIR/env.tls.tmp"
  mv "$DIR/env.tls.new" "$DIR/env"
}

start() {
  install_nginx
  make_certs
  local reg p1 p2 ports
  reg=$(registry_port)
  [ -n "$reg" ] || die "no IDPUSH_TEST_REGISTRY in $DIR/env: start the registry first (scripts/test-env.sh start)"
  if alive; then
    read -r p1 p2 <<<"$(conf_ports)"
    if grep -qF "proxy_pass http://127.0.0.1:$reg;" "$CONF" && tls_ping "$p1" && tls_ping "$p2"; then
      log "nginx already running (pid $(tr -dc '0-9' <"$PIDFILE"), ports $p1 $p2), reusing"
      write_env "$p1" "$p2"
      return 0
    fi
    stop_nginx
  fi
  p1=$(free_port 5400 5499) || die "no free port in 5400-5499"
  p2=$(free_port "$((p1 + 1))" 5499) || die "no free port in 5400-5499"
  write_conf "$reg" "$p1" "$p2"
  mv "$CONF.tmp" "$CONF"
  nginx_start "$CONF" "$T" "127.0.0.1:$p1 and 127.0.0.1:$p2 (TLS) in front of 127.0.0.1:$reg"
  for _ in $(seq 1 50); do
    if alive && tls_ping "$p1" && tls_ping "$p2"; then
      log "nginx ready (pid $(tr -dc '0-9' <"$PIDFILE"))"
      write_env "$p1" "$p2"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$T/error.log" >&2 || true
  stop_nginx
  die "nginx did not answer on $p1/$p2; log: $T/error.log"
}

case "$cmd" in
  start) start ;;
  stop) stop_nginx ;;
  status)
    if alive; then echo "nginx running pid $(tr -dc '0-9' <"$PIDFILE") ports $(conf_ports)"; else echo "nginx stopped"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
