#!/usr/bin/env bash
# Authenticated registries for the e2e tests, next to scripts/test-env.sh's plain one:
#   - a distribution registry with htpasswd Basic auth;
#   - a distribution registry with `auth: token`, whose realm is a token server that the e2e tests
#     themselves run (tests/e2e/token_server.rs) on a port chosen here, signing with an EC P-256
#     key whose self-signed certificate is the registry's rootcertbundle.
#
#   scripts/env-auth.sh start DIR     start (or reuse) both; append KEY=VALUE lines to DIR/env
#   scripts/env-auth.sh stop DIR      stop what this script started (pid files)
#   scripts/env-auth.sh status DIR    one line per registry
#
# Called by scripts/test-env.sh start/stop. Lines appended to DIR/env:
#   IDPUSH_TEST_AUTH_USER, IDPUSH_TEST_AUTH_PASSWORD   the user both registries accept
#   IDPUSH_TEST_REGISTRY_BASIC=127.0.0.1:PORT          htpasswd registry
#   IDPUSH_TEST_REGISTRY_TOKEN=127.0.0.1:PORT          token-auth registry
#   IDPUSH_TEST_TOKEN_SERVER=127.0.0.1:PORT            where the tests serve /v2/token
#   IDPUSH_TEST_TOKEN_SERVICE, IDPUSH_TEST_TOKEN_ISSUER
#   IDPUSH_TEST_TOKEN_KEY (PKCS#8 DER), IDPUSH_TEST_TOKEN_CERT (DER)
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
A=$DIR/auth
mkdir -p "$A"

USER_NAME=idpush-tester
PASSWORD=idpush-test-password-1
SERVICE=idpush-test-registry
ISSUER=idpush-test-token-issuer

LOG_NAME=env-auth
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The pid of a registry counts only if its command line names our config file (lib.sh).
alive() { pid_alive "$@"; }

# answers PORT: the registry answers /v2/ at all (401 is the expected answer here).
answers() {
  local code
  code=$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/" 2>/dev/null) || return 1
  [ "$code" = 401 ] || [ "$code" = 200 ]
}
cfg_port() { sed -n 's/^ *addr: *127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n1 || true; }

ensure_tools() {
  command -v htpasswd >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "htpasswd/openssl missing and not root: install apache2-utils openssl"
  log "installing apache2-utils openssl"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends apache2-utils openssl \
    </dev/null >"$A/apt.log" 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >>"$A/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends apache2-utils openssl \
      </dev/null >>"$A/apt.log" 2>&1
  } || die "apt-get failed; log: $A/apt.log"
}

make_material() {
  [ -s "$A/htpasswd" ] || htpasswd -Bbc "$A/htpasswd" "$USER_NAME" "$PASSWORD" 2>/dev/null
  if [ ! -s "$A/token.crt" ] || [ ! -s "$A/token.pk8" ] || [ ! -s "$A/token.der" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$A/token.key" 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$A/token.key" -outform DER -out "$A/token.pk8"
    openssl req -new -x509 -key "$A/token.key" -days 3650 -subj "/CN=$ISSUER" -out "$A/token.crt" 2>/dev/null
    openssl x509 -in "$A/token.crt" -outform DER -out "$A/token.der"
  fi
}

# start_one NAME PORT_RANGE_FROM PORT_RANGE_TO AUTH_YAML: starts (or reuses) a registry whose
# config is $A/NAME.yml; sets PORT.
start_one() {
  local name=$1 from=$2 to=$3 auth=$4 cfg=$A/$1.yml pidfile=$A/$1.pid registry p
  if alive "$pidfile" "$cfg"; then
    p=$(cfg_port "$cfg")
    if answers "$p"; then
      log "$name registry already running (pid $(pid_of "$pidfile"), port $p), reusing"
      PORT=$p
      return 0
    fi
    stop_pid "$pidfile" "$cfg" "$name registry"
  fi
  registry=$(command -v docker-registry || echo /usr/bin/docker-registry)
  mkdir -p "$A/$name-data"
  for _ in 1 2 3; do
    p=$(free_port "$from" "$to" "${EXCLUDE[@]}") || die "no free port in $from-$to"
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $A/$name-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$p
$auth
EOF
    log "starting $name registry on 127.0.0.1:$p"
    setsid nohup "$registry" serve "$cfg" </dev/null >"$A/$name.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if answers "$p"; then PORT=$p; log "$name registry ready"; return 0; fi
      alive "$pidfile" "$cfg" || break
      sleep 0.1
    done
    stop_pid "$pidfile" "$cfg" "$name registry"
    tail -n 5 "$A/$name.log" >&2 || true
    EXCLUDE+=("$p")
  done
  die "could not start the $name registry; log: $A/$name.log"
}

start() {
  ensure_tools
  make_material
  EXCLUDE=()
  # The token server port: kept across starts while the token registry's config names it.
  local tport
  tport=$(sed -n 's|^ *realm: *http://127\.0\.0\.1:\([0-9]*\)/v2/token.*|\1|p' "$A/token.yml" 2>/dev/null | head -n1 || true)
  if [ -z "$tport" ] || ! alive "$A/token.pid" "$A/token.yml"; then
    tport=$(free_port 5300 5399) || die "no free port for the token server"
  fi
  EXCLUDE+=("$tport")
  PORT=
  start_one basic 5200 5299 "auth:
  htpasswd:
    realm: idpush-basic
    path: $A/htpasswd"
  local basic=$PORT
  EXCLUDE+=("$basic")
  start_one token 5200 5299 "auth:
  token:
    realm: http://127.0.0.1:$tport/v2/token
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $A/token.crt"
  local token=$PORT
  # Replace our lines (a second start without test-env.sh rewriting the file first).
  grep -vE '^(IDPUSH_TEST_AUTH_|IDPUSH_TEST_REGISTRY_BASIC=|IDPUSH_TEST_REGISTRY_TOKEN=|IDPUSH_TEST_TOKEN_)' \
    "$DIR/env" >"$DIR/env.auth.tmp" 2>/dev/null || true
  mv "$DIR/env.auth.tmp" "$DIR/env"
  {
    echo "IDPUSH_TEST_AUTH_USER=$USER_NAME"
    echo "IDPUSH_TEST_AUTH_PASSWORD=$PASSWORD"
    echo "IDPUSH_TEST_REGISTRY_BASIC=127.0.0.1:$basic"
    echo "IDPUSH_TEST_REGISTRY_TOKEN=127.0.0.1:$token"
    echo "IDPUSH_TEST_TOKEN_SERVER=127.0.0.1:$tport"
    echo "IDPUSH_TEST_TOKEN_SERVICE=$SERVICE"
    echo "IDPUSH_TEST_TOKEN_ISSUER=$ISSUER"
    echo "IDPUSH_TEST_TOKEN_KEY=$A/token.pk8"
    echo "IDPUSH_TEST_TOKEN_CERT=$A/token.der"
  } >>"$DIR/env"
}

case "$cmd" in
  start) start ;;
  stop)
    stop_pid "$A/token.pid" "$A/token.yml" "token registry"
    stop_pid "$A/basic.pid" "$A/basic.yml" "basic registry"
    ;;
  status)
    for n in basic token; do
      if alive "$A/$n.pid" "$A/$n.yml" && answers "$(cfg_port "$A/$n.yml")"; then
        echo "$n registry running pid $(pid_of "$A/$n.pid") 127.0.0.1:$(cfg_port "$A/$n.yml")"
      else
        echo "$n registry stopped"
      fi
    done
    ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
