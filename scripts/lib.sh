# Shared by scripts/test-env.sh and scripts/env-*.sh (sourced, not run): messages, the pid-file
# discipline (stop only what we started: a pid counts only if it is alive, not a zombie — PID 1
# here may not reap — and its command line holds a needle of ours, so a recycled pid is never
# killed) and free loopback ports. The sourcing script sets LOG_NAME first.

log() { printf '%s: %s\n' "${LOG_NAME:-scripts}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${LOG_NAME:-scripts}" "$*" >&2; exit 1; }

# pid_alive PIDFILE NEEDLE: the pid in PIDFILE is a live process whose command line contains
# NEEDLE.
pid_alive() {
  local pidfile=$1 needle=$2 pid state
  [ -s "$pidfile" ] || return 1
  # The process may remove its pid file as it exits (sshd does): then it is not alive.
  pid=$(tr -dc '0-9' 2>/dev/null <"$pidfile") || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/status" ] || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
  case "$state" in Z | X | "") return 1 ;; esac
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

pid_of() { tr -dc '0-9' 2>/dev/null <"$1"; }

# stop_pid PIDFILE NEEDLE NAME: TERM, wait up to 20 s, then KILL; the pid file goes either way.
stop_pid() {
  local pidfile=$1 needle=$2 name=$3 pid
  if ! pid_alive "$pidfile" "$needle"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(pid_of "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    pid_alive "$pidfile" "$needle" || break
    sleep 0.2
  done
  if pid_alive "$pidfile" "$needle"; then
    log "$name did not stop on TERM; killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port FROM TO [EXCLUDED…]: the first free loopback port in FROM..TO not excluded.
free_port() {
  local from=$1 to=$2 p
  shift 2
  for p in $(seq "$from" "$to"); do
    case " $* " in *" $p "*) continue ;; esac
    port_free "$p" && { echo "$p"; return 0; }
  done
  return 1
}

# nginx_start CONF PREFIX WHAT: checks CONF (nginx -t), then starts nginx with it (prefix dir
# PREFIX, logs there); WHAT is said in the start line. The caller waits for it to answer.
nginx_start() {
  local conf=$1 prefix=$2 what=$3 nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  "$nginx" -t -q -c "$conf" -p "$prefix" -e "$prefix/error.log" >"$prefix/nginx-test.log" 2>&1 ||
    { cat "$prefix/nginx-test.log" >&2; die "nginx rejected $conf"; }
  log "starting nginx on $what"
  "$nginx" -c "$conf" -p "$prefix" -e "$prefix/error.log" </dev/null >"$prefix/nginx.out" 2>&1 ||
    { cat "$prefix/nginx.out" >&2; die "nginx did not start; log: $prefix/error.log"; }
}
