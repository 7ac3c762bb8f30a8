#!/usr/bin/env bash
# Benchmark: idpush push against `docker push`, `skopeo copy docker-daemon:…` and the floor (the
# daemon's own export, GET /images/get read to /dev/null), in one run on one machine, as medians
# and ratios, with peak RSS; writes the report (bench/RESULTS.md by default).
#
#   scripts/bench.sh [--quick] [--runs N] [--out FILE] [--idpush PATH] [--rebuild-images]
#
#   --quick            small images (a few MB), one run, the debug build: checks that the
#                      script works (CI), not the targets; exits 0 whatever the ratios
#   --runs N           runs per tool and case (default 3; 1 with --quick)
#   --out FILE         the report (default bench/RESULTS.md; .tmp/bench/RESULTS-quick.md with --quick)
#   --idpush PATH      the binary to measure (default: cargo build --release, or the debug
#                      build with --quick), e.g. target/x86_64-unknown-linux-musl/release/idpush
#   --rebuild-images   make the images again even if the daemon has them
#
# Images (bench/mkimages.py, deterministic, loaded once into the daemon as idpush-bench/*:KEY):
# base (4 layers of real files, ~300 MB), inc (base + one new 1 MiB layer), big (one 1 GiB
# random layer), small (40 small layers). Cases, each tool alternating with the others run by
# run (the order rotates), every run into a fresh docker-registry on its own port:
#   first      base into the empty registry (also idpush --compression none, if it has the flag)
#   inc        inc, right after base, into the same repository
#   tag        base again under a new tag
#   repo       base into a second repository of the same registry
#   big        big into an empty registry
#   latency    small into an empty registry through bench/latency_proxy.py (+50 ms per request)
#   limits     what bounds the first pushes here (the report's "Limits here"): when the export's
#              first byte comes, the registry's ingest of the same bytes from curl, the layer
#              codec's deflate work on one thread (bench/codec_bench.rs)
# idpush gets a fresh cache directory (IDPUSH_CACHE_DIR) per run, kept through one registry's
# cases, so "first" is really first and the later cases see what the first push left.
# The daemon is DOCKER_HOST's; without DOCKER_HOST the private test environment is started
# (scripts/test-env.sh), and afterwards exactly the components this script started are stopped.
# The images stay in the daemon for the next run; remove them with
#   docker rmi $(docker images -q 'idpush-bench/*')
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_SCRIPT=$REPO/scripts/test-env.sh
QUICK=0 RUNS="" OUT="" IDPUSH="" REBUILD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --idpush) IDPUSH=$2; shift 2 ;;
    --rebuild-images) REBUILD=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$QUICK" = 1 ]; then
  MODE=quick LAYER_BYTES=$((1 << 20)) INC_BYTES=$((256 << 10)) BIG_BYTES=$((8 << 20))
  SMALL_LAYERS=8 SMALL_BYTES=$((4 << 10)) RUNS=${RUNS:-1} VERSION_RUNS=10
  OUT=${OUT:-$REPO/.tmp/bench/RESULTS-quick.md}
else
  MODE=full LAYER_BYTES=$((75 << 20)) INC_BYTES=$((1 << 20)) BIG_BYTES=$((1 << 30))
  SMALL_LAYERS=40 SMALL_BYTES=$((16 << 10)) RUNS=${RUNS:-3} VERSION_RUNS=100
  OUT=${OUT:-$REPO/bench/RESULTS.md}
fi
DELAY_MS=50
case "$RUNS" in '' | *[!0-9]* | 0) echo "bench: --runs needs a positive number" >&2; exit 2 ;; esac

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for c in docker docker-registry skopeo curl python3 openssl /usr/bin/time; do
  command -v "$c" >/dev/null || die "$c is not installed (scripts/test-env.sh install installs the packages)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/idpush-bench.XXXXXX")
PIDS=() TAGS=() ENV_STARTED=()
cleanup() {
  local rc=$? p c
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for p in "${TAGS[@]}"; do docker rmi "$p" >/dev/null 2>&1; done
  for c in "${ENV_STARTED[@]}"; do "$ENV_SCRIPT" stop "$c" >&2; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date -u +%s)

# ---------------------------------------------------------------------------------------------
# The daemon, idpush, the images

if [ -z "${DOCKER_HOST:-}" ]; then
  export IDPUSH_TEST_ENV_DIR=${IDPUSH_TEST_ENV_DIR:-$REPO/.tmp/test-env}
  mapfile -t ENV_STARTED < <("$ENV_SCRIPT" missing)
  "$ENV_SCRIPT" start >/dev/null
  DOCKER_HOST=$(sed -n 's/^DOCKER_HOST=//p' "$IDPUSH_TEST_ENV_DIR/env")
  export DOCKER_HOST
fi
case "$DOCKER_HOST" in
  unix://*) CURL_DAEMON=(--unix-socket "${DOCKER_HOST#unix://}") DAEMON_URL=http://localhost ;;
  tcp://*) CURL_DAEMON=() DAEMON_URL=http://${DOCKER_HOST#tcp://} ;;
  *) die "DOCKER_HOST=$DOCKER_HOST: only unix:// and tcp:// are supported" ;;
esac
docker version >/dev/null 2>&1 || die "the Docker daemon at $DOCKER_HOST does not answer"

if [ -z "$IDPUSH" ]; then
  if [ "$QUICK" = 1 ]; then
    log "building idpush (debug)"
    cargo build --quiet --manifest-path "$REPO/Cargo.toml"
    IDPUSH=$REPO/target/debug/idpush
  else
    log "building idpush (release)"
    cargo build --release --quiet --manifest-path "$REPO/Cargo.toml"
    IDPUSH=$REPO/target/release/idpush
  fi
fi
[ -x "$IDPUSH" ] || die "no idpush binary at $IDPUSH"
# The layer codec alone (bench/codec_bench.rs), for the deflate work a first push must do.
if [ "$QUICK" = 1 ]; then
  cargo build --quiet --manifest-path "$REPO/Cargo.toml" --example codec_bench
  CODEC_BENCH=$REPO/target/debug/examples/codec_bench
else
  cargo build --release --quiet --manifest-path "$REPO/Cargo.toml" --example codec_bench
  CODEC_BENCH=$REPO/target/release/examples/codec_bench
fi
HAVE_NONE=0
"$IDPUSH" push --help 2>/dev/null | grep -q -- '--compression ' && HAVE_NONE=1

# Image names carry a key of the generator and its sizes: a changed script or size makes new images.
KEY=$(printf '%s %s %s %s %s %s\n' "$LAYER_BYTES" "$INC_BYTES" "$BIG_BYTES" "$SMALL_LAYERS" \
  "$SMALL_BYTES" "$(sha256sum <"$REPO/bench/mkimages.py")" | sha256sum | cut -c1-12)
declare -A IMG
for i in base inc big small; do IMG[$i]=idpush-bench/$i:$MODE-$KEY; done
have_images() {
  local i
  for i in base inc big small; do docker image inspect "${IMG[$i]}" >/dev/null 2>&1 || return 1; done
}
if [ "$REBUILD" = 1 ] || ! have_images; then
  log "making the images (${MODE}: ${LAYER_BYTES} B x 4 real-file layers, ${BIG_BYTES} B random, $SMALL_LAYERS small layers)"
  python3 "$REPO/bench/mkimages.py" "$WORK/images" \
    --layer-bytes "$LAYER_BYTES" --inc-bytes "$INC_BYTES" --big-bytes "$BIG_BYTES" \
    --small-layers "$SMALL_LAYERS" --small-bytes "$SMALL_BYTES" \
    --base "${IMG[base]}" --inc "${IMG[inc]}" --big "${IMG[big]}" --small "${IMG[small]}"
  tar -C "$WORK/images" -cf - . | docker load -q >/dev/null
  rm -rf "$WORK/images"
fi
declare -A IMG_ID IMG_SIZE
for i in base inc big small; do
  IMG_ID[$i]=$(docker image inspect -f '{{.Id}}' "${IMG[$i]}")
  IMG_SIZE[$i]=$(docker image inspect -f '{{.Size}}' "${IMG[$i]}")
done

# ---------------------------------------------------------------------------------------------
# Registries, the proxy, measuring

NEXT_PORT=5600
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_registry: a fresh docker-registry (own storage) on a free port: sets REG_PORT, REG_PID.
start_registry() {
  local dir
  while :; do
    NEXT_PORT=$((NEXT_PORT + 1))
    [ "$NEXT_PORT" -lt 6600 ] || die "no free port for a registry in 5601-6599"
    port_free "$NEXT_PORT" || continue
    dir=$WORK/reg-$NEXT_PORT
    mkdir -p "$dir"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
  cache: {blobdescriptor: inmemory}
http: {addr: 127.0.0.1:$NEXT_PORT}
EOF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REG_PID=$! REG_PORT=$NEXT_PORT
    PIDS+=("$REG_PID")
    for _ in $(seq 1 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$REG_PORT/v2/" 2>/dev/null && return 0
      kill -0 "$REG_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    log "registry on port $REG_PORT did not start: $(tail -n 3 "$dir/log")"
  done
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
stop_registry() { stop_pid "$REG_PID"; rm -rf "$WORK/reg-$REG_PORT"; }

# start_proxy UPSTREAM_PORT: the latency proxy in front of it: sets PROXY_PORT, PROXY_PID, PROXY_LOG.
start_proxy() {
  local pf=$WORK/proxy-$1.port
  PROXY_LOG=$WORK/proxy-$1.log
  python3 "$REPO/bench/latency_proxy.py" --upstream "127.0.0.1:$1" --delay-ms "$DELAY_MS" \
    --port-file "$pf" --log "$PROXY_LOG" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  for _ in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || die "the latency proxy did not start"
  PROXY_PORT=$(cat "$pf")
}

# Samples: T[case/tool] wall seconds, M[case/tool] peak RSS KiB, N[case/tool] requests, B[case/floor]
# the export's first byte (seconds), C[limit/…] a registry's CPU seconds; space-separated.
declare -A T M N B C

# measure KEY CMD...: runs CMD once under /usr/bin/time; appends its wall time and peak RSS.
measure() {
  local key=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >"$WORK/out" 2>"$WORK/err"; then
    log "failed ($key): $*"
    tail -n 20 "$WORK/err" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  T[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') "
  M[$key]+="$(tail -n 1 "$WORK/rss") "
}

# floor KEY IMAGE: the daemon's export of IMAGE (by ID, as idpush asks for it) read to /dev/null;
# also records when its first byte came (B[KEY]): no push can start its work before that.
floor() {
  measure "$1" curl -fsS "${CURL_DAEMON[@]}" -o /dev/null -w '%{time_starttransfer}' \
    "$DAEMON_URL/images/get?names=${IMG_ID[$2]}"
  B[$1]+="$(awk '{printf "%.3f", $1}' "$WORK/out") "
}

# cpu_of PID: the CPU time (user + system, in clock ticks) the process has used so far.
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# layers_file KEY IMAGE: the layers of IMAGE's export, uncompressed, concatenated into
# $WORK/layers-KEY.tar (what any push of IMAGE must get into the registry when it does not
# compress), and its sha256 in LAYERS_DIGEST[KEY]. Made once.
declare -A LAYERS_DIGEST
layers_file() {
  local d=$WORK/x-$1
  [ -n "${LAYERS_DIGEST[$1]:-}" ] && return 0
  mkdir -p "$d"
  curl -fsS "${CURL_DAEMON[@]}" "$DAEMON_URL/images/get?names=${IMG_ID[$2]}" | tar -x -C "$d"
  find "$d" -type f ! -name '*.json' ! -name json ! -name VERSION ! -name repositories \
    ! -name oci-layout -print0 | sort -z | xargs -0 cat >"$WORK/layers-$1.tar"
  rm -rf "$d"
  LAYERS_DIGEST[$1]=sha256:$(sha256sum <"$WORK/layers-$1.tar" | cut -c1-64)
}

# ingest KEY FILE DIGEST: FILE uploaded by curl in one PUT into a fresh registry (timed as KEY),
# and the CPU the registry spent on it (C[KEY], seconds): how fast the registry takes bytes
# from the fastest client there is.
ingest() {
  local key=$1 file=$2 digest=$3 loc c0
  start_registry
  loc=$(curl -fsS -o /dev/null -D - -X POST "http://127.0.0.1:$REG_PORT/v2/bench/ingest/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [ -n "$loc" ] || die "the registry gave no upload location"
  c0=$(cpu_of "$REG_PID")
  measure "$key" curl -fsS -o /dev/null -T "$file" -H 'Content-Type: application/octet-stream' "$loc&digest=$digest"
  C[$key]+="$(awk -v a="$c0" -v b="$(cpu_of "$REG_PID")" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / hz}') "
  stop_registry
}

# push KEY TOOL IMAGE HOST:PORT REPO:TAG [REGISTRY_PORT]: one timed push, then a check that
# the registry (REGISTRY_PORT, default the one in the destination) serves the manifest.
push() {
  local key=$1 tool=$2 image=${IMG[$3]} host=$4 dest=$4/$5 port=${6:-${4#*:}}
  case $tool in
    idpush | idpush-none)
      local extra=()
      [ "$tool" = idpush-none ] && extra=(--compression none)
      measure "$key" env IDPUSH_CACHE_DIR="$CACHE" XDG_CACHE_HOME="$CACHE/xdg" \
        "$IDPUSH" push -q "${extra[@]}" "$image" "$dest" ;;
    docker)
      docker tag "$image" "$dest"
      TAGS+=("$dest")
      measure "$key" docker push -q "$dest"
      docker rmi "$dest" >/dev/null ;;
    skopeo)
      measure "$key" skopeo copy -q --src-daemon-host "$DOCKER_HOST" --dest-tls-verify=false \
        "docker-daemon:$image" "docker://$dest" ;;
  esac
  curl -fsS -o /dev/null -I \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:$port/v2/${5%:*}/manifests/${5##*:}" ||
    die "$tool: the registry has no manifest for $dest after the push"
  log "  $key $tool: $(echo "${T[$key]}" | awk '{print $NF}') s, peak RSS $(echo "${M[$key]}" | awk '{print $NF}') KiB"
}

# order RUN ITEMS...: the items rotated by RUN, so no tool always goes first.
order() {
  local r=$1
  shift
  local items=("$@") n=$# i
  for ((i = 0; i < n; i++)); do echo "${items[$(((i + r) % n))]}"; done
}

TOOLS=(idpush docker skopeo)
SEQ=(floor "${TOOLS[@]}")
[ "$HAVE_NONE" = 1 ] && SEQ+=(idpush-none)

# ---------------------------------------------------------------------------------------------
# The cases

for r in $(seq 1 "$RUNS"); do
  log "run $r/$RUNS: first push, incremental, new tag, second repository (${IMG[base]})"
  for tool in $(order "$r" "${SEQ[@]}"); do
    CACHE=$WORK/cache-$r-$tool
    case $tool in
      floor) floor first/floor base; floor inc/floor inc ;;
      idpush-none)
        start_registry
        push first/idpush-none idpush-none base "127.0.0.1:$REG_PORT" bench/base:v1
        stop_registry ;;
      *)
        start_registry
        push first/$tool "$tool" base "127.0.0.1:$REG_PORT" bench/base:v1
        push inc/$tool "$tool" inc "127.0.0.1:$REG_PORT" bench/base:inc
        push tag/$tool "$tool" base "127.0.0.1:$REG_PORT" bench/base:v2
        push repo/$tool "$tool" base "127.0.0.1:$REG_PORT" bench/other:v1
        stop_registry ;;
    esac
    rm -rf "$CACHE"
  done

  log "run $r/$RUNS: random layer (${IMG[big]})"
  for tool in $(order "$r" floor "${TOOLS[@]}"); do
    CACHE=$WORK/cache-$r-$tool
    if [ "$tool" = floor ]; then floor big/floor big; continue; fi
    start_registry
    push big/$tool "$tool" big "127.0.0.1:$REG_PORT" bench/big:v1
    stop_registry
    rm -rf "$CACHE"
  done

  # What bounds the first pushes here: the registry's own ingest of the bytes (base's layers
  # uncompressed for --compression none, big's), and the deflate work for base (the layer
  # codec on one thread: its CPU time) with the registry's ingest of what it makes.
  log "run $r/$RUNS: limits (the registry's ingest, the deflate work)"
  layers_file base base
  layers_file big big
  ingest limit/ingest-base "$WORK/layers-base.tar" "${LAYERS_DIGEST[base]}"
  ingest limit/ingest-big "$WORK/layers-big.tar" "${LAYERS_DIGEST[big]}"
  measure limit/deflate-base "$CODEC_BENCH" pgzip 1 "$WORK/layers-base.tar" "$WORK/layers-base.gz"
  ingest limit/ingest-gz-base "$WORK/layers-base.gz" "sha256:$(sha256sum <"$WORK/layers-base.gz" | cut -c1-64)"
  rm -f "$WORK/layers-base.gz"

  log "run $r/$RUNS: $SMALL_LAYERS small layers through +${DELAY_MS} ms per request (${IMG[small]})"
  for tool in $(order "$r" floor "${TOOLS[@]}"); do
    CACHE=$WORK/cache-$r-$tool
    if [ "$tool" = floor ]; then floor latency/floor small; continue; fi
    start_registry
    start_proxy "$REG_PORT"
    push latency/$tool "$tool" small "127.0.0.1:$PROXY_PORT" bench/small:v1 "$REG_PORT"
    N[latency/$tool]+="$(wc -l <"$PROXY_LOG") "
    stop_pid "$PROXY_PID"
    stop_registry
    rm -rf "$CACHE"
  done
done

log "idpush --version, $VERSION_RUNS runs"
version_ms() {
  local bin=$1 i t0 t1 s=""
  for ((i = 0; i < VERSION_RUNS; i++)); do
    t0=$EPOCHREALTIME
    "$bin" --version >/dev/null
    t1=$EPOCHREALTIME
    s+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) * 1000}') "
  done
  echo "$s"
}
VERSION_SAMPLES=$(version_ms "$IDPUSH")
STATIC=$REPO/target/x86_64-unknown-linux-musl/release/idpush
STATIC_SIZE="" STATIC_VERSION_SAMPLES=""
if [ "$QUICK" = 0 ]; then
  log "building the static binary (scripts/build-static.sh)"
  "$REPO/scripts/build-static.sh" >&2 || die "scripts/build-static.sh failed"
fi
if [ -x "$STATIC" ]; then
  STATIC_SIZE=$(stat -c %s "$STATIC")
  STATIC_VERSION_SAMPLES=$(version_ms "$STATIC")
fi

# ---------------------------------------------------------------------------------------------
# The report

# median: of the numbers on stdin (spaces or newlines); empty if there are none.
median() { tr ' ' '\n' | awk 'NF {print $1}' | sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
# med CASE/TOOL: the median time; the new-tag and second-repository cases share the first push's floor.
med() {
  local k=$1
  case $k in tag/floor | repo/floor) k=first/floor ;; esac
  echo "${T[$k]:-}" | median
}
medm() { echo "${M[$1]:-}" | median; }
# ratio A B: A/B with two decimals, or "–" if either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f", a / b}'; }
# check VALUE LIMIT: ✓ if VALUE <= LIMIT, ✗ if not, – if VALUE is missing.
check() { awk -v v="$1" -v l="$2" 'BEGIN {if (v == "" || v == "–") print "–"; else print (v + 0 <= l + 0 ? "✓" : "✗")}'; }
median_min() { awk 'NF && (m == "" || $1 < m) {m = $1} END {print m}'; }
mib() { awk -v k="$1" 'BEGIN {if (k == "") print "–"; else printf "%.1f", k / 1024}'; }
secs() { [ -n "$1" ] && printf '%s' "$1" || printf '–'; }

case_name() {
  case $1 in
    first) echo "first push, empty registry (base)" ;;
    inc) echo "incremental (inc right after base)" ;;
    tag) echo "unchanged, new tag (base)" ;;
    repo) echo "second repository (base)" ;;
    big) echo "$(awk -v b="$BIG_BYTES" 'BEGIN {printf "%g MiB", b / 1048576}') random layer, empty registry (big)" ;;
    latency) echo "$SMALL_LAYERS small layers, +${DELAY_MS} ms/request" ;;
  esac
}
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date -u +%s) - START_TIME))
NPROC=$(nproc)
mkdir -p "$(dirname "$OUT")"
{
  echo "# idpush benchmark ($MODE)"
  echo
  echo "Written by \`scripts/bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $RUNS run(s) per tool and case, medians; took ${ELAPSED} s."
  [ "$QUICK" = 1 ] && echo "Quick mode: small images and one run — this checks the script, not the targets."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), nproc $NPROC; memory $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "- kernel: $(uname -sr); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "- load average (1/5/15 min): $LOAD_START at the start, $LOAD_END at the end"
  if awk -v l="${LOAD_START%% *}" -v n="$NPROC" 'BEGIN {exit !(l > n / 2)}'; then
    echo "- **warning: the machine was busy when the run started (load ${LOAD_START%% *} on $NPROC cores); the times are not reliable**"
  fi
  echo "- idpush: \`$("$IDPUSH" --version)\` ($IDPUSH), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' + local changes')"
  echo "- docker: $(docker version -f 'client {{.Client.Version}}, daemon {{.Server.Version}} (API {{.Server.APIVersion}})'), storage driver $(docker info -f '{{.Driver}}')"
  echo "- $(skopeo --version); $(docker-registry --version 2>&1 | head -n1); $(curl --version | head -n1 | cut -d' ' -f1-2); $(python3 --version)"
  echo
  echo "## Images"
  echo
  echo "| image | layers | size (daemon) |"
  echo "|---|---:|---:|"
  for i in base inc big small; do
    echo "| \`${IMG[$i]}\` | $(docker image inspect -f '{{len .RootFS.Layers}}' "${IMG[$i]}") | $(awk -v b="${IMG_SIZE[$i]}" 'BEGIN {if (b >= 1e6) printf "%.1f MB", b / 1e6; else printf "%.0f kB", b / 1e3}') |"
  done
  echo
  echo "## Results (seconds, medians)"
  echo
  echo "Floor: the daemon's export (\`GET /images/get\` by image ID, read to /dev/null by curl), which no first push avoids."
  echo "Peak RSS: /usr/bin/time's maximum resident set size (docker push works inside dockerd, so none)."
  echo
  echo "| case | floor | idpush | docker push | skopeo copy | idpush/floor | idpush/skopeo | idpush/docker | idpush RSS MiB | skopeo RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in first inc tag repo big latency; do
    f=$(med "$c/floor") i=$(med "$c/idpush") d=$(med "$c/docker") s=$(med "$c/skopeo")
    echo "| $(case_name "$c") | $(secs "$f") | $(secs "$i") | $(secs "$d") | $(secs "$s") | $(ratio "$i" "$f") | $(ratio "$i" "$s") | $(ratio "$i" "$d") | $(mib "$(medm "$c/idpush")") | $(mib "$(medm "$c/skopeo")") |"
  done
  if [ "$HAVE_NONE" = 1 ]; then
    f=$(med first/floor) i=$(med first/idpush-none)
    echo "| first push, \`--compression none\` | $(secs "$f") | $(secs "$i") | | | $(ratio "$i" "$f") | $(ratio "$i" "$(med first/skopeo)") | $(ratio "$i" "$(med first/docker)") | $(mib "$(medm first/idpush-none)") | |"
  fi
  echo
  echo "Requests through the latency proxy (median): idpush $(echo "${N[latency/idpush]:-}" | median), docker $(echo "${N[latency/docker]:-}" | median), skopeo $(echo "${N[latency/skopeo]:-}" | median)."
  echo
  echo "## Targets"
  echo
  echo "| target | measured | |"
  echo "|---|---:|:-:|"
  target() { echo "| $1 | $2 | $(check "$2" "$3") |"; }
  target "first push ≤ 1.5 × floor" "$(ratio "$(med first/idpush)" "$(med first/floor)")" 1.5
  if [ "$HAVE_NONE" = 1 ]; then
    target "first push, \`--compression none\` ≤ 1.15 × floor" "$(ratio "$(med first/idpush-none)" "$(med first/floor)")" 1.15
  else
    echo "| first push, \`--compression none\` ≤ 1.15 × floor | not measured: \`idpush push --help\` has no \`--compression\` | – |"
  fi
  target "1 GiB random layer ≤ 1.25 × its floor" "$(ratio "$(med big/idpush)" "$(med big/floor)")" 1.25
  peer=$(printf '%s\n%s\n' "$(med latency/docker)" "$(med latency/skopeo)" | median_min)
  target "$SMALL_LAYERS small layers, +${DELAY_MS} ms ≤ 0.5 × the faster peer" "$(ratio "$(med latency/idpush)" "$peer")" 0.5
  target "incremental ≤ 1.1 × floor" "$(ratio "$(med inc/idpush)" "$(med inc/floor)")" 1.1
  target "unchanged image, new tag ≤ 0.1 × floor" "$(ratio "$(med tag/idpush)" "$(med tag/floor)")" 0.1
  target "second repository ≤ 0.1 × floor" "$(ratio "$(med repo/idpush)" "$(med repo/floor)")" 0.1
  maxrss=$(for c in first inc tag repo big latency; do medm "$c/idpush"; done; medm first/idpush-none)
  maxrss=$(echo "$maxrss" | awk 'NF && (m == "" || $1 > m) {m = $1} END {print m}')
  target "peak RSS ≤ 10 MiB (the largest over all cases)" "$(mib "$maxrss")" 10
  target "\`idpush --version\` < 5 ms (median of $VERSION_RUNS, fork+exec from bash included)" "$(echo "$VERSION_SAMPLES" | median)" 4.999
  if [ -n "$STATIC_SIZE" ]; then
    target "static binary ≤ 3 MB (3,000,000 bytes; MB)" "$(awk -v b="$STATIC_SIZE" 'BEGIN {printf "%.2f", b / 1e6}')" 3
    echo "| static binary \`--version\` (ms, median) | $(echo "$STATIC_VERSION_SAMPLES" | median) | $(check "$(echo "$STATIC_VERSION_SAMPLES" | median)" 4.999) |"
  else
    echo "| static binary ≤ 3 MB | not measured: no target/x86_64-unknown-linux-musl/release/idpush (scripts/build-static.sh) | – |"
  fi
  echo
  echo "## Limits here"
  echo
  echo "What no push can beat on this machine, from measurements of this run (medians):"
  echo
  echo "- **The export's first byte.** The daemon writes the whole export before it sends a byte of it (dockerd's"
  echo "  classic \`docker save\` tars a temp dir it fills first), so a push gets nothing to work on until then:"
  echo "  here it came at $(awk -v b="$(echo "${B[first/floor]:-}" | median)" -v f="$(med first/floor)" 'BEGIN {if (b == "" || f == "") print "–"; else printf "%.0f%%", 100 * b / f}') of base's export and $(awk -v b="$(echo "${B[big/floor]:-}" | median)" -v f="$(med big/floor)" 'BEGIN {if (b == "" || f == "") print "–"; else printf "%.0f%%", 100 * b / f}') of big's."
  echo "- **The registry's ingest.** curl uploading the same bytes in one PUT from the page cache, into a fresh"
  echo "  registry, is the fastest any client can hand them over."
  echo "- **The deflate work.** The layer codec alone on one thread over base's layers (its CPU time), plus the"
  echo "  registry's CPU for taking what it makes, spread over all $NPROC cores from the first byte on (dockerd's"
  echo "  own CPU for sending the export and every hash are left out, so the bound is low)."
  echo "- **Round trips.** Uploads go one at a time (the design); this registry answers \`202\` to a one-request"
  echo "  upload, so a blob costs at least POST + PUT: $(( 2 * (SMALL_LAYERS + 1) + 1 )) round trips for $SMALL_LAYERS layers, the config and the"
  echo "  manifest (a registry that answers \`201\`, as Gitea does, needs $(( SMALL_LAYERS + 2 )))."
  echo
  echo "| case | target | export's first byte | then at least | bound | bound/floor | idpush/floor |"
  echo "|---|---:|---:|---|---:|---:|---:|"
  fb=$(echo "${B[first/floor]:-}" | median) ff=$(med first/floor)
  ib=$(med limit/ingest-base) dz=$(med limit/deflate-base) gz=$(echo "${C[limit/ingest-gz-base]:-}" | median)
  bound=$(awk -v f="$fb" -v d="$dz" -v g="$gz" -v n="$NPROC" 'BEGIN {if (f == "" || d == "" || g == "") print ""; else printf "%.3f", f + (d + g) / n}')
  echo "| first push (gzip) | 1.5 | $(secs "$fb") | (deflate $(secs "$dz") s + registry $(secs "$gz") s CPU) / $NPROC cores | $(secs "$bound") | $(ratio "$bound" "$ff") | $(ratio "$(med first/idpush)" "$ff") |"
  if [ "$HAVE_NONE" = 1 ]; then
    bound=$(awk -v f="$fb" -v i="$ib" 'BEGIN {if (f == "" || i == "") print ""; else printf "%.3f", f + i}')
    echo "| first push, \`--compression none\` | 1.15 | $(secs "$fb") | the registry's ingest of the layers, $(secs "$ib") s | $(secs "$bound") | $(ratio "$bound" "$ff") | $(ratio "$(med first/idpush-none)" "$ff") |"
  fi
  fb=$(echo "${B[big/floor]:-}" | median) ff=$(med big/floor) ib=$(med limit/ingest-big)
  bound=$(awk -v f="$fb" -v i="$ib" 'BEGIN {if (f == "" || i == "") print ""; else printf "%.3f", f + i}')
  echo "| random layer (stored, not deflated) | 1.25 | $(secs "$fb") | the registry's ingest of the layer, $(secs "$ib") s | $(secs "$bound") | $(ratio "$bound" "$ff") | $(ratio "$(med big/idpush)" "$ff") |"
  bound=$(awk -v n="$(( 2 * (SMALL_LAYERS + 1) + 1 ))" -v d="$DELAY_MS" 'BEGIN {printf "%.3f", n * d / 1000}')
  echo "| $SMALL_LAYERS small layers, +${DELAY_MS} ms (vs the faster peer) | 0.5 | – | $(( 2 * (SMALL_LAYERS + 1) + 1 )) round trips of ${DELAY_MS} ms, one at a time | $(secs "$bound") | $(ratio "$bound" "$peer") (of the peer) | $(ratio "$(med latency/idpush)" "$peer") (of the peer) |"
  echo
  echo "## All samples"
  echo
  echo "Seconds per run, in run order; peak RSS in KiB."
  echo
  echo '```'
  for k in $(printf '%s\n' "${!T[@]}" | sort); do
    printf '%-20s %s' "$k" "${T[$k]}"
    case $k in */floor | limit/*) ;; *) printf '  rss %s' "${M[$k]}" ;; esac
    [ -n "${N[$k]:-}" ] && printf '  requests %s' "${N[$k]}"
    [ -n "${B[$k]:-}" ] && printf '  first byte %s' "${B[$k]}"
    [ -n "${C[$k]:-}" ] && printf '  registry cpu %s' "${C[$k]}"
    echo
  done
  echo "idpush --version ms  $VERSION_SAMPLES"
  echo '```'
} >"$WORK/report.md"
mv "$WORK/report.md" "$OUT"
cat "$OUT"
log "report: $OUT (${ELAPSED} s)"
