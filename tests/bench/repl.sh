#!/usr/bin/env bash
# Replication benchmark: one origin and N edges (separate processes, mutual
# TLS, all fsyncing) on loopback, and in the same run a Redis primary and
# replica driven by the same tool (repl_lag) the same way. Measures durable
# write throughput, write-to-visible delay at every edge under a fixed write
# rate, and catch-up speed (from the log and by snapshot). See
# tests/bench/README.md for what each row measures and how to read it.
#   tests/bench/repl.sh
# With EDGEKV_BENCH_EDGES=0 only the throughput rows run: a lone origin
# against a lone Redis primary (no replica), the same tool and settings.
# Env: EDGEKV_BENCH_EDGES (8)          edges (0: lone origin and primary, throughput only)
#      EDGEKV_BENCH_RATE (5000)        paced writes/s of the delay scenario
#      EDGEKV_BENCH_SECONDS (10)       duration of the delay scenario
#      EDGEKV_BENCH_TPUT_SECONDS (5)   timed seconds of each throughput row (+1 s warm-up)
#      EDGEKV_BENCH_TPUT_ROUNDS (3)    throughput rounds, edgekv and Redis alternating; each
#                                      row reports its median round, the JSON every round
#      EDGEKV_BENCH_WRITERS (64)       concurrent keep-alive writers (throughput, pacing pool)
#      EDGEKV_BENCH_CATCHUP (1000000)  mutations written while one edge is down
#      EDGEKV_BENCH_PROBE_EVERY (50)   every Nth paced write is a probe
#      EDGEKV_BENCH_POLL_US (200)      least interval between two polls of one edge
#      EDGEKV_BENCH_POLL_BACKOFF (0.05) ... or this fraction of the probe's age when longer
#      EDGEKV_BENCH_POLL_FROM (send)   start polling for a probe when its write is sent, or
#                                      once the origin acknowledged it (ack: fewer polls)
#      EDGEKV_BENCH_CATCHUP_TIMEOUT (60) seconds a catching-up edge may take
#      EDGEKV_BENCH_QUIET_TIMEOUT (120) seconds each catch-up waits at most for every node's
#                                      flushes and compactions to end before it starts
#      EDGEKV_BENCH_ONLY                catchup: only section 4 (bulk load, catch-up from the
#                                      log, snapshot), no Redis; with EDGEKV_BENCH_EDGES=1 the
#                                      edge that restarts is the only one
#      EDGEKV_BENCH_THREADS (2)        origin --threads
#      EDGEKV_BENCH_EDGE_THREADS (1)   edge --threads
#      EDGEKV_BENCH_OUT                JSON result file (default $TMPDIR/edgekv-repl.json)
#      EDGEKV_BENCH_SAMPLES_DIR        if set, every probe's delay into DIR/lag_edgekv.samples
#                                      and DIR/lag_redis.samples ("replica delay_ms" lines)
#      EDGEKV_BENCH_PERF_DIR           if set, `perf record -g` of the origin and the edges
#                                      during each step into DIR/STEP.data (linux-perf)
#      EDGEKV_BIN                      use this binary instead of building
#      EDGEKV_BENCH_TIMEOUT            hard limit for the whole run, seconds
# Exit 0 when every scenario ran and every read returned the bytes written;
# speed is not asserted. A catch-up that does not finish is reported in the
# table and fails the run at the end.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
NEDGES=${EDGEKV_BENCH_EDGES:-8}
RATE=${EDGEKV_BENCH_RATE:-5000}
SECS=${EDGEKV_BENCH_SECONDS:-10}
TSECS=${EDGEKV_BENCH_TPUT_SECONDS:-5}
ROUNDS=${EDGEKV_BENCH_TPUT_ROUNDS:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "repl.sh: EDGEKV_BENCH_TPUT_ROUNDS must be a positive integer" >&2; exit 1; }
WRITERS=${EDGEKV_BENCH_WRITERS:-64}
NCATCH=${EDGEKV_BENCH_CATCHUP:-1000000}
PROBE_EVERY=${EDGEKV_BENCH_PROBE_EVERY:-50}
POLL_US=${EDGEKV_BENCH_POLL_US:-200}
POLL_FROM=${EDGEKV_BENCH_POLL_FROM:-send}
POLL_BACKOFF=${EDGEKV_BENCH_POLL_BACKOFF:-0.05}
CATCH_TIMEOUT=${EDGEKV_BENCH_CATCHUP_TIMEOUT:-60}
QUIET_TIMEOUT=${EDGEKV_BENCH_QUIET_TIMEOUT:-120}
ONLY=${EDGEKV_BENCH_ONLY:-}
PERF_DIR=${EDGEKV_BENCH_PERF_DIR:-}
case "$ONLY" in "" | catchup) ;; *) echo "repl: EDGEKV_BENCH_ONLY: unknown step '$ONLY' (catchup)" >&2; exit 2 ;; esac
SAMPLES_DIR=${EDGEKV_BENCH_SAMPLES_DIR:-}
OTHREADS=${EDGEKV_BENCH_THREADS:-2}
ETHREADS=${EDGEKV_BENCH_EDGE_THREADS:-1}
WARMUP=1
VALUE_BYTES=100    # throughput and delay scenarios
CATCH_BYTES=16     # catch-up mutations ("small values")

log() { echo "repl: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

"$REPO/deploy/install-deps.sh" --bench
for c in redis-server redis-cli curl jq awk cc; do
  command -v "$c" >/dev/null || die "missing command $c"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edgekv-repl.XXXXXX")
OUT=${EDGEKV_BENCH_OUT:-${TMPDIR:-/tmp}/edgekv-repl.json}
declare -A EPID EPORT
OPID="" OPORT="" RPID="" RRPID="" WD_PID="" TOOL_PID="" STARTING_PID="" PERF_PID=""

# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh" # stop_pid, start_watchdog, hex
cleanup() {
  local rc=$? n f
  trap - EXIT INT TERM
  stop_pid "$TOOL_PID"
  perf_stop
  stop_pid "$STARTING_PID"
  for n in "${!EPID[@]}"; do stop_pid "${EPID[$n]}"; done
  stop_pid "$OPID"
  stop_pid "$RRPID"
  stop_pid "$RPID"
  if [[ -n "$WD_PID" ]]; then kill -TERM "$WD_PID" 2>/dev/null || true; wait "$WD_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$TMP"/*.err "$TMP"/redis*/*.log; do
      [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 15 "$f" >&2; }
    done
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LIMIT=${EDGEKV_BENCH_TIMEOUT:-$((600 + 3 * (TSECS + WARMUP) + 2 * SECS + 2 * CATCH_TIMEOUT + 2 * QUIET_TIMEOUT))}
start_watchdog "$LIMIT" repl

free_port() { # a TCP port on 127.0.0.1 that no socket uses, outside the ephemeral range
  local p i lo=32768 hi=60999 base span
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if ((lo > 11000)); then base=10000 span=$((lo - 10000)); else base=$((hi + 1)) span=$((65535 - hi)); fi
  for ((i = 0; i < 200; i++)); do
    p=$((base + RANDOM % span))
    [[ "$p" == "${1:-}" ]] && continue
    if command -v ss >/dev/null; then
      [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]] || continue
    fi
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# ---- build -----------------------------------------------------------------------------
if [[ -n "${EDGEKV_BIN:-}" ]]; then
  BIN=$EDGEKV_BIN
  TOOL=""
else
  log "building"
  bdir=$(cd "$REPO" && deploy/build.sh | tail -n1) || die "deploy/build.sh failed"
  [[ "$bdir" == /* ]] || bdir="$REPO/$bdir"
  BIN="$bdir/node/edgekv"
  TOOL="$bdir/tests/bench/repl_lag"
fi
[[ -x "$BIN" ]] || die "no edgekv binary at $BIN"
if [[ -z "$TOOL" || ! -x "$TOOL" ]]; then # EDGEKV_BIN given, or a build without tests
  TOOL="$TMP/repl_lag"
  cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$TOOL" "$REPO/tests/bench/repl_lag.c" ||
    die "cannot compile repl_lag"
fi

# ---- helpers -----------------------------------------------------------------------------
TOKEN=$(hex 16)
ACCT=$(hex 16)
AUTH="Authorization: Bearer $TOKEN"
CURL=(curl -sS --max-time 30)
CLK=$(getconf CLK_TCK)

# start_node VAR_PID VAR_PORT NAME ROLE ARGS...: starts edgekv, waits for its banner.
start_node() {
  local -n _pid=$1 _port=$2
  local name=$3 role=$4 i
  shift 4
  # The log is emptied before the fork, not by the child's redirection in its
  # own time: the banner poll below must never read a restarted node's old
  # banner (its dead port: the catch-up then polls nothing for its whole
  # timeout), nor a file not created yet (sed fails, and with pipefail and -e
  # the failed assignment ends the run).
  : >"$TMP/$name.log"
  "$BIN" "$role" --listen 127.0.0.1:0 --account "$ACCT" --token "$TOKEN" "$@" \
    >"$TMP/$name.log" 2>"$TMP/$name.err" &
  _pid=$!
  STARTING_PID=$_pid # stopped on exit until the caller has recorded it
  _port=""
  for ((i = 0; i < 1000; i++)); do # the whole banner line, not a partly written one
    _port=$(sed -n 's|.*serving http://127\.0\.0\.1:\([0-9][0-9]*\) (.*|\1|p' "$TMP/$name.log" 2>/dev/null | head -1)
    [[ -n "$_port" ]] && break
    kill -0 "$_pid" 2>/dev/null || die "$name exited at startup"
    sleep 0.01
  done
  [[ -n "$_port" ]] || die "$name printed no banner within 10 s"
}
started() { STARTING_PID=""; }
status() { "${CURL[@]}" -H "$AUTH" "http://127.0.0.1:$1/status"; }
origin_seq() { status "$OPORT" | jq -er .replication.last_seq; }
edge_applied() { status "$1" | jq -er .replication.applied_seq; }
# wait_converged SECONDS: every running edge live with applied_seq == origin last_seq.
wait_converged() {
  local deadline=$((SECONDS + $1)) n s target ok
  while :; do
    target=$(origin_seq)
    ok=1
    for n in "${!EPID[@]}"; do
      s=$(status "${EPORT[$n]}") || { ok=0; break; }
      [[ $(jq -r .replication.link <<<"$s") == live && $(jq -r .replication.applied_seq <<<"$s") -ge $target ]] ||
        { ok=0; break; }
    done
    ((ok)) && return 0
    ((SECONDS < deadline)) || die "edges did not converge to seq $target within $1 s"
    sleep 0.1
  done
}
# wait_quiet NAME SECONDS: until the origin's and every running edge's RocksDB runs and
# waits for no flush or compaction (their /metrics gauges), at most SECONDS; the seconds
# waited go into QUIET_S[NAME]. A catch-up then measures itself, not the compactions
# that the bulk load before it left on nine stores sharing two CPUs.
declare -A QUIET_S
wait_quiet() {
  local name=$1 t0 deadline=$((SECONDS + $2)) p busy
  t0=$(date +%s%N)
  while :; do
    busy=0
    for p in "$OPORT" "${EPORT[@]}"; do
      "${CURL[@]}" -H "$AUTH" "http://127.0.0.1:$p/metrics" |
        awk '/^edgekv_rocksdb_background_jobs_(running|pending) / { n += $2 } END { exit n > 0 ? 0 : 1 }' &&
        { busy=1; break; }
    done
    ((busy)) || break
    ((SECONDS < deadline)) || { log "the nodes' flushes and compactions still ran after $2 s; going on"; break; }
    sleep 0.2
  done
  QUIET_S[$name]=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
}
cpu_ticks() { # utime+stime of the given PIDs, summed
  local p t=0 x
  for p in "$@"; do
    [[ -n "$p" ]] || continue
    x=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || x=0
    t=$((t + ${x:-0}))
  done
  echo "$t"
}
edge_pids() { local n; for n in "${!EPID[@]}"; do echo "${EPID[$n]}"; done; }
# run_tool NAME ARGS...: repl_lag in the background (so a signal interrupts the
# wait), its JSON into $TMP/NAME.json, CPU % of origin, edges and redis during it.
# A failure ends the run, unless SOFT=1: then it is kept in FAILED[NAME].
declare -A CPU_O CPU_E CPU_R TICKS_O TICKS_E FAILED WRITES_ALL
# perf_start NAME PID...: with EDGEKV_BENCH_PERF_DIR, profile these processes until perf_stop.
perf_start() {
  local name=$1 list
  shift
  [[ -n "$PERF_DIR" ]] || return 0
  mkdir -p "$PERF_DIR"
  list=$(printf '%s,' "$@")
  perf record -q -F 999 -g -p "${list%,}" -o "$PERF_DIR/$name.data" 2>"$PERF_DIR/$name.perf.log" &
  PERF_PID=$!
}
perf_stop() {
  [[ -n "$PERF_PID" ]] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=""
}
SOFT=0
run_tool() {
  local name=$1 rc=0 t0 t1 o0 o1 e0 e1 r0 r1 pids=()
  shift
  mapfile -t pids < <(edge_pids)
  o0=$(cpu_ticks "$OPID") e0=$(cpu_ticks "${pids[@]}") r0=$(cpu_ticks "$RPID" "$RRPID") t0=$(date +%s%N)
  perf_start "$name" "$OPID" "${pids[@]}"
  "$TOOL" "$@" >"$TMP/$name.json" 2>"$TMP/$name.tool.err" &
  TOOL_PID=$!
  wait "$TOOL_PID" || rc=$?
  TOOL_PID=""
  perf_stop
  t1=$(date +%s%N) o1=$(cpu_ticks "$OPID") e1=$(cpu_ticks "${pids[@]}") r1=$(cpu_ticks "$RPID" "$RRPID")
  if [[ $rc -ne 0 ]]; then
    cat "$TMP/$name.tool.err" >&2
    ((SOFT)) || die "$name: repl_lag failed (exit $rc)"
    FAILED[$name]=$(sed -n 's/^repl_lag: FAIL: //p' "$TMP/$name.tool.err" | head -1)
    [[ -n "${FAILED[$name]}" ]] || FAILED[$name]="repl_lag exited with $rc"
    echo '{}' >"$TMP/$name.json"
    return 1
  fi
  pct() { awk -v d="$1" -v hz="$CLK" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", 100 * d / hz / (ns / 1e9) }'; }
  CPU_O[$name]=$(pct $((o1 - o0))) CPU_E[$name]=$(pct $((e1 - e0))) CPU_R[$name]=$(pct $((r1 - r0)))
  TICKS_O[$name]=$((o1 - o0)) TICKS_E[$name]=$((e1 - e0))
  jq -c . "$TMP/$name.json" >&2
}
J() { jq -r "$2" "$TMP/$1.json"; }
J0() { if [[ -s "$TMP/$1.json" ]]; then jq -r "$2 // 0" "$TMP/$1.json"; else echo 0; fi; } # 0 for a step not run

# ---- the edgekv cluster --------------------------------------------------------------------
"$BIN" certs init --dir "$TMP/certs" --edges $((NEDGES + 1)) >/dev/null
log "starting the origin and $NEDGES edges"
start_node OPID OPORT origin origin --data "$TMP/origin" --certs "$TMP/certs" --name origin \
  --repl-listen 127.0.0.1:0 --sync "${EDGEKV_BENCH_ORIGIN_SYNC:-always}" --threads "$OTHREADS"
started
RPORT=$(sed -n 's|.*replication: listening on [^:]*:\([0-9]*\).*|\1|p' "$TMP/origin.log" | head -1)
[[ -n "$RPORT" ]] || die "origin printed no replication port"
start_edge() { # start_edge N DATADIR
  local pid port
  start_node pid port "edge$1" edge --data "$2" --certs "$TMP/certs" --name "edge$1" \
    --origin "127.0.0.1:$RPORT" --threads "$ETHREADS"
  EPID[$1]=$pid EPORT[$1]=$port
  started
}
for ((n = 1; n <= NEDGES; n++)); do start_edge "$n" "$TMP/edge$n"; done
OBASE="http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/storage/kv/namespaces"
NSJSON=$("${CURL[@]}" -X POST -H "$AUTH" -H 'Content-Type: application/json' -d '{"title":"repl-bench"}' "$OBASE")
NS=$(jq -er 'select(.success == true) | .result.id' <<<"$NSJSON") || die "create namespace: $NSJSON"
r=$("${CURL[@]}" -X PUT -H "$AUTH" --data-binary "hello-edges" "$OBASE/$NS/values/hello")
jq -e '.success == true' <<<"$r" >/dev/null || die "put hello: $r"
wait_converged 30
for ((n = 1; n <= NEDGES; n++)); do
  got=$("${CURL[@]}" -H "$AUTH" -H "X-EdgeKV-Namespace: $NS" "http://127.0.0.1:${EPORT[$n]}/hello?urlencoded=true")
  [[ "$got" == hello-edges ]] || die "edge$n returned [$got] for hello"
done
log "cluster up: origin :$OPORT, edges ${EPORT[*]}"

# ---- redis -------------------------------------------------------------------------------------
start_redis() {
RP=$(free_port) || die "no free port"
RRP=$(free_port "$RP") || die "no free port"
mkdir -p "$TMP/redis1" "$TMP/redis2"
# The primary fsyncs every write (appendfsync always), as edgekv's origin does (--sync
# always); the replica fsyncs every second (everysec), as edgekv's edges do (--sync batch).
redis-server --bind 127.0.0.1 --port "$RP" --dir "$TMP/redis1" --daemonize no --save '' \
  --appendonly yes --appendfsync "$R_FSYNC" --repl-diskless-sync-delay 0 --logfile "$TMP/redis1/redis.log" &
RPID=$!
# With no edges, no replica either: a lone origin against a lone primary.
READ_RP=$RP
if ((NEDGES > 0)); then
  redis-server --bind 127.0.0.1 --port "$RRP" --dir "$TMP/redis2" --daemonize no --save '' \
    --appendonly yes --appendfsync "$RR_FSYNC" --replicaof 127.0.0.1 "$RP" --logfile "$TMP/redis2/redis.log" &
  RRPID=$!
  READ_RP=$RRP
fi
redis_up() { # the primary answers, and the replica, if any, is in sync
  [[ $(redis-cli -p "$RP" ping 2>/dev/null) == PONG ]] || return 1
  [[ -z "$RRPID" ]] || redis-cli -p "$RRP" info replication 2>/dev/null | grep -q '^master_link_status:up'
}
for ((i = 0; i < 300; i++)); do
  kill -0 "$RPID" 2>/dev/null || die "redis primary exited at startup"
  [[ -z "$RRPID" ]] || kill -0 "$RRPID" 2>/dev/null || die "redis replica exited at startup"
  redis_up && break
  sleep 0.1
done
((i < 300)) || die "redis not up (or replica not in sync) within 30 s"
redis-cli -p "$RP" set hello hello-replica >/dev/null
for ((i = 0; i < 100; i++)); do
  [[ $(redis-cli -p "$READ_RP" get hello) == hello-replica ]] && break
  sleep 0.05
done
((i < 100)) || die "redis (port $READ_RP) does not return a write"
log "redis primary :$RP, replica :${RRPID:+$RRP}${RRPID:-none} ($REDIS_VER)"
}
REDIS_VER=$(redis-server --version | awk '{ print $3 }' | sed 's/v=//')
R_FSYNC=always RR_FSYNC=everysec
[[ "$ONLY" == catchup ]] || start_redis

HTTP=(--acct "$ACCT" --ns "$NS" --token "$TOKEN")

# ---- 1. durable write throughput ------------------------------------------------------------------
# ROUNDS rounds, edgekv's rows and Redis's alternating, so that a spell of load on
# the machine falls on both; every round's keys are new (the snapshot row counts them).
# Each row's figures are then its median round's (by writes/s): tput_KIND.json.
run_tput() {
local r k
log "throughput: $WRITERS writers, ${TSECS}s (+${WARMUP}s warm-up) each, $ROUNDS rounds"
for ((r = 1; r <= ROUNDS; r++)); do
  run_tool "tput_origin.$r" tput "${HTTP[@]}" --port "$OPORT" --conns "$WRITERS" --seconds "$TSECS" \
    --warmup "$WARMUP" --prefix "t-o$r-" --value-bytes "$VALUE_BYTES"
  if ((NEDGES > 0)); then
    wait_converged 60
    run_tool "tput_edge.$r" tput "${HTTP[@]}" --port "${EPORT[1]}" --conns "$WRITERS" --seconds "$TSECS" \
      --warmup "$WARMUP" --prefix "t-e$r-" --value-bytes "$VALUE_BYTES"
    wait_converged 60
  fi
  run_tool "tput_redis.$r" tput --proto resp --port "$RP" --conns "$WRITERS" --seconds "$TSECS" \
    --warmup "$WARMUP" --prefix "t-r$r-" --value-bytes "$VALUE_BYTES"
done
local files
for k in tput_origin tput_edge tput_redis; do
  [[ -s "$TMP/$k.1.json" ]] || continue
  files=()
  for ((r = 1; r <= ROUNDS; r++)); do files+=("$TMP/$k.$r.json"); done
  jq -s '[.[] | .writes_per_s]' "${files[@]}" >"$TMP/$k.rounds.json"
  r=$(jq -r 'to_entries | sort_by(.value) | .[(length - 1) / 2 | floor].key + 1' "$TMP/$k.rounds.json")
  cp "$TMP/$k.$r.json" "$TMP/$k.json"
  CPU_O[$k]=${CPU_O[$k.$r]} CPU_E[$k]=${CPU_E[$k.$r]} CPU_R[$k]=${CPU_R[$k.$r]}
  WRITES_ALL[$k]=$(jq -s 'map(.writes_total) | add' "${files[@]}")
done
}
[[ "$ONLY" == catchup ]] || run_tput

# ---- 2./3. write-to-visible delay ----------------------------------------------------------------
run_delay() {
  local ports n samples_e=() samples_r=()
  ports=$(for ((n = 1; n <= NEDGES; n++)); do printf '%s,' "${EPORT[$n]}"; done)
  if [[ -n "$SAMPLES_DIR" ]]; then
    mkdir -p "$SAMPLES_DIR"
    samples_e=(--samples "$SAMPLES_DIR/lag_edgekv.samples")
    samples_r=(--samples "$SAMPLES_DIR/lag_redis.samples")
  fi
  log "delay: $RATE writes/s for ${SECS}s, every ${PROBE_EVERY}th probed on each of $NEDGES edges"
  wait_converged 60
  run_tool lag_edgekv lag "${HTTP[@]}" --write-port "$OPORT" --read-ports "${ports%,}" --rate "$RATE" \
    --seconds "$SECS" --conns "$WRITERS" --probe-every "$PROBE_EVERY" --poll-us "$POLL_US" \
    --poll-from "$POLL_FROM" --poll-backoff "$POLL_BACKOFF" --probe-timeout 30 --prefix l-e- \
    --value-bytes "$VALUE_BYTES" "${samples_e[@]}"
  run_tool lag_redis lag --proto resp --write-port "$RP" --read-ports "$RRP" --rate "$RATE" \
    --seconds "$SECS" --conns "$WRITERS" --probe-every "$PROBE_EVERY" --poll-us "$POLL_US" \
    --poll-from "$POLL_FROM" --poll-backoff "$POLL_BACKOFF" --probe-timeout 30 --prefix l-r- \
    --value-bytes "$VALUE_BYTES" "${samples_r[@]}"
}
((NEDGES == 0)) || [[ "$ONLY" == catchup ]] || run_delay
stop_pid "$RRPID"; RRPID=""
stop_pid "$RPID"; RPID=""

# ---- 4. catch-up -------------------------------------------------------------------------------
snaps() { grep -c "snapshot to link" "$TMP/origin.err" || true; }
declare -A LIFE_E # the catching-up edge's CPU ticks from its exec to the end of its catch-up
run_catchup() {
  local before snaps0 t0 digest_o digest_e digest_f
  wait_converged 60
  LAST=$NEDGES
  before=$(edge_applied "${EPORT[$LAST]}")
  log "stopping edge$LAST (applied_seq $before); writing $NCATCH mutations by bulk PUT"
  stop_pid "${EPID[$LAST]}"
  unset "EPID[$LAST]" "EPORT[$LAST]"
  run_tool bulk bulk "${HTTP[@]}" --port "$OPORT" --count "$NCATCH" --batch 10000 --prefix c- \
    --value-bytes "$CATCH_BYTES"
  wait_converged 300 # the other edges, so that the catch-up runs alone
  wait_quiet catchup_log "$QUIET_TIMEOUT"
  TARGET=$(origin_seq)
  MUT=$((TARGET - before))
  snaps0=$(snaps)
  log "restarting edge$LAST: catching up from seq $before to $TARGET"
  t0=$(date +%s%N)
  start_edge "$LAST" "$TMP/edge$LAST"
  SOFT=1
  if run_tool catchup_log catchup --port "${EPORT[$LAST]}" --target "$TARGET" --since-ns "$t0" --timeout "$CATCH_TIMEOUT" --token "$TOKEN"; then
    LIFE_E[catchup_log]=$(cpu_ticks "${EPID[$LAST]}")
    digest_o=$("${CURL[@]}" --max-time 120 -H "$AUTH" "http://127.0.0.1:$OPORT/digest")
    digest_e=$("${CURL[@]}" --max-time 120 -H "$AUTH" "http://127.0.0.1:${EPORT[$LAST]}/digest")
    [[ -n "$digest_o" && "$digest_o" == "$digest_e" ]] || die "edge$LAST digest differs after catch-up: $digest_e vs $digest_o"
  fi
  CATCH_MODE=log
  (($(snaps) == snaps0)) || CATCH_MODE=snapshot

  FRESH=$((NEDGES + 1))
  wait_quiet catchup_snap "$QUIET_TIMEOUT"
  log "starting a fresh edge$FRESH (empty data dir) at seq $TARGET"
  snaps0=$(snaps)
  t0=$(date +%s%N)
  start_edge "$FRESH" "$TMP/edge$FRESH"
  if run_tool catchup_snap catchup --port "${EPORT[$FRESH]}" --target "$TARGET" --since-ns "$t0" --timeout "$CATCH_TIMEOUT" --token "$TOKEN"; then
    LIFE_E[catchup_snap]=$(cpu_ticks "${EPID[$FRESH]}")
    digest_o=$("${CURL[@]}" --max-time 120 -H "$AUTH" "http://127.0.0.1:$OPORT/digest")
    digest_f=$("${CURL[@]}" --max-time 120 -H "$AUTH" "http://127.0.0.1:${EPORT[$FRESH]}/digest")
    [[ -n "$digest_o" && "$digest_f" == "$digest_o" ]] || die "edge$FRESH digest differs after the snapshot: $digest_f vs $digest_o"
  fi
  SOFT=0
  SNAP_MODE=snapshot
  (($(snaps) > snaps0)) || SNAP_MODE=log
  # Every write of this run used a distinct key: the live records the snapshot carried.
  RECORDS=$((1 + ${WRITES_ALL[tput_origin]:-0} + ${WRITES_ALL[tput_edge]:-0} + $(J0 lag_edgekv .writes) + NCATCH))
}
((NEDGES == 0)) || run_catchup
# A lone origin's bulk load: section 4's load, with no edge to feed.
((NEDGES > 0)) || run_tool bulk bulk "${HTTP[@]}" --port "$OPORT" --count "$NCATCH" --batch 10000 \
  --prefix c- --value-bytes "$CATCH_BYTES"
for n in "${!EPID[@]}"; do kill -0 "${EPID[$n]}" 2>/dev/null || die "edge$n died"; done
kill -0 "$OPID" 2>/dev/null || die "the origin died"
# Why a catch-up did not finish, from the edge's log.
why() { # why NAME EDGE_N
  [[ -n "${FAILED[$1]:-}" ]] || return 0
  local drops
  drops=$(grep -c "apply queue full" "$TMP/edge$2.err" || true)
  echo "  edge$2: ${FAILED[$1]}; its log: $(grep -c "replica reset for a snapshot" "$TMP/edge$2.err" || true) snapshot resets, $drops links closed for \"apply queue full\""
}

# ---- report ----------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
report_tput() {
  local s k rows=("tput_origin|edgekv PUT at the origin")
  ((NEDGES == 0)) || rows+=("tput_edge|edgekv PUT through edge1")
  rows+=("tput_redis|redis SET (primary)")
  echo "1. durable write throughput: $WRITERS keep-alive writers, ${TSECS}s, $VALUE_BYTES-byte values"
  printf '%-34s | %9s | %7s | %7s | %7s | %s\n' scenario "writes/s" "p50 ms" "p99 ms" "max ms" "CPU % origin / edges / redis"
  for s in "${rows[@]}"; do
    k=${s%%|*}
    printf '%-34s | %9.0f | %7.3f | %7.3f | %7.3f | %s / %s / %s\n' "${s#*|}" "$(J "$k" .writes_per_s)" \
      "$(J "$k" .p50_ms)" "$(J "$k" .p99_ms)" "$(J "$k" .max_ms)" "${CPU_O[$k]}" "${CPU_E[$k]}" "${CPU_R[$k]}"
  done
  s="ratio edgekv/redis (writes/s): origin $(ratio "$(J tput_origin .writes_per_s)" "$(J tput_redis .writes_per_s)")"
  ((NEDGES == 0)) || s+=", through an edge $(ratio "$(J tput_edge .writes_per_s)" "$(J tput_redis .writes_per_s)")"
  echo "$s"
  echo "each row is its median of $ROUNDS rounds (edgekv and redis alternating); every round, writes/s:"
  for s in "${rows[@]}"; do
    k=${s%%|*}
    printf '  %-32s %s\n' "${s#*|}" "$(jq -r 'map(. | round | tostring) | join("  ")' "$TMP/$k.rounds.json")"
  done
}
report_delay() {
  local n s k
  echo "2./3. write-to-visible delay: $RATE writes/s to the primary for ${SECS}s, every ${PROBE_EVERY}th probed,"
  echo "      a replica polled at most every max(${POLL_US} us, ${POLL_BACKOFF} x the probe's age) from the $POLL_FROM;"
  echo "      delay = first read returning the value - just before the write was sent"
  printf '%-22s | %8s | %6s | %7s | %7s | %7s | %-15s | %s\n' replica "achv w/s" probes "p50 ms" "p99 ms" "max ms" "ack p50/p99 ms" "after ack p50/p99 ms"
  for ((n = 1; n <= NEDGES; n++)); do
    printf '%-22s | %8s | %6s | %7.3f | %7.3f | %7.3f |\n' "edgekv edge$n" "" \
      "$(J lag_edgekv ".per_port[$((n - 1))].probes")" "$(J lag_edgekv ".per_port[$((n - 1))].p50_ms")" \
      "$(J lag_edgekv ".per_port[$((n - 1))].p99_ms")" "$(J lag_edgekv ".per_port[$((n - 1))].max_ms")"
  done
  for s in "lag_edgekv|edgekv, all edges" "lag_redis|redis replica"; do
    k=${s%%|*}
    printf '%-22s | %8.0f | %6s | %7.3f | %7.3f | %7.3f | %-15s | %.3f / %.3f\n' "${s#*|}" "$(J "$k" .achieved_rate)" \
      "$(J "$k" '.per_port | map(.probes) | add')" "$(J "$k" .p50_ms)" "$(J "$k" .p99_ms)" "$(J "$k" .max_ms)" \
      "$(printf '%.3f / %.3f' "$(J "$k" .ack_p50_ms)" "$(J "$k" .ack_p99_ms)")" "$(J "$k" .after_ack_p50_ms)" "$(J "$k" .after_ack_p99_ms)"
  done
  echo "ratio edgekv/redis (delay): p50 $(ratio "$(J lag_edgekv .p50_ms)" "$(J lag_redis .p50_ms)"), p99 $(ratio "$(J lag_edgekv .p99_ms)" "$(J lag_redis .p99_ms)")   (target: edgekv p99 < 5 ms)"
  for k in lag_edgekv lag_redis; do
    awk -v a="$(J $k .achieved_rate)" -v r="$RATE" 'BEGIN { exit !(a < 0.95 * r) }' &&
      echo "NOTE: ${k#lag_} did not sustain $RATE writes/s (achieved $(J $k .achieved_rate), up to $(J $k .max_backlog) writes behind schedule); delays count from the actual send"
  done
  echo "probes found on the first poll: edgekv $(J lag_edgekv .first_poll_hits) of $(J lag_edgekv .per_port | jq 'map(.probes) | add'), redis $(J lag_redis .first_poll_hits) of $(J lag_redis .probes) (polling from: $POLL_FROM)"
  echo "CPU % during the delay run: edgekv origin ${CPU_O[lag_edgekv]}, edges ${CPU_E[lag_edgekv]} (sum), tool $(J lag_edgekv .tool_cpu_pct) ($(J lag_edgekv .polls_per_s) polls/s);" \
    "redis ${CPU_R[lag_redis]} (both), tool $(J lag_redis .tool_cpu_pct)"
}
report_catchup() {
  echo "4. catch-up: $NCATCH mutations loaded while edge$LAST was down: $(J bulk .mutations_per_s | awk '{ printf "%.0f", $1 }')/s durable"
  echo "   (bulk PUT, 10 000 per request, $CATCH_BYTES-byte values; CPU % origin ${CPU_O[bulk]}, $((NEDGES - 1)) live edges ${CPU_E[bulk]})"
  printf '%-34s | %9s | %8s | %8s | %12s\n' scenario mutations "start s" "total s" "per second"
  catch_row catchup_log "edge$LAST restarted ($CATCH_MODE)" "$MUT" "$LOG_S" "$LOG_RATE"
  catch_row catchup_snap "fresh edge$FRESH ($SNAP_MODE)" "$RECORDS" "$SNAP_S" "$SNAP_RATE"
  echo "(start s: from exec until the link is live; total s: until applied_seq = origin last_seq $TARGET; target >= 400000/s)"
  echo "(each began once no node's RocksDB ran or awaited a flush or compaction: waited ${QUIET_S[catchup_log]:--} s and ${QUIET_S[catchup_snap]:--} s)"
  echo "CPU-s: bulk load origin $(cpu_s "${TICKS_O[bulk]:-}"), $((NEDGES - 1)) live edges $(cpu_s "${TICKS_E[bulk]:-}") -> $(per_cpu_s "$NCATCH" "${TICKS_O[bulk]:-}") mutations per origin CPU-s"
  echo "       log catch-up origin $(cpu_s "${TICKS_O[catchup_log]:-}"), edge$LAST (exec to done) $(cpu_s "${LIFE_E[catchup_log]:-}") -> $(per_cpu_s "$MUT" "${TICKS_O[catchup_log]:-}" "${LIFE_E[catchup_log]:-}") mutations per CPU-s (both)"
  echo "       snapshot origin $(cpu_s "${TICKS_O[catchup_snap]:-}"), edge$FRESH (exec to done) $(cpu_s "${LIFE_E[catchup_snap]:-}") -> $(per_cpu_s "$RECORDS" "${TICKS_O[catchup_snap]:-}" "${LIFE_E[catchup_snap]:-}") records per CPU-s (both)"
  echo "load average (1, 5, 15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  why catchup_log "$LAST"
  why catchup_snap "$FRESH"
}
cpu_s() { [[ -n "$1" ]] && awk -v t="$1" -v hz="$CLK" 'BEGIN { printf "%.2f", t / hz }' || echo -; }
per_cpu_s() { # per_cpu_s COUNT TICKS...: COUNT per CPU-second of the ticks summed
  local n=$1 t=0 x
  shift
  for x in "$@"; do [[ -n "$x" ]] || { echo -; return; }; t=$((t + x)); done
  awk -v n="$n" -v t="$t" -v hz="$CLK" 'BEGIN { if (t > 0) printf "%.0f", n / (t / hz); else print "-" }'
}
catch_row() { # catch_row NAME LABEL COUNT SECONDS RATE
  if [[ -n "${FAILED[$1]:-}" ]]; then
    printf '%-34s | %9s | %8s | %8s | %12s\n' "$2" "$3" - "> $CATCH_TIMEOUT" "FAILED"
  else
    printf '%-34s | %9s | %8.3f | %8.3f | %12s\n' "$2" "$3" "$(J "$1" .live_s)" "$4" "$5"
  fi
}
# CPU-seconds of the processes of each catch-up row (null where it did not run).
cpu_json() {
  local k t
  for k in bulk catchup_log catchup_snap; do
    jq -n --arg k "$k" --arg o "${TICKS_O[$k]:-}" --arg e "${TICKS_E[$k]:-}" --arg l "${LIFE_E[$k]:-}" --argjson hz "$CLK" \
      'def s: if . == "" then null else (tonumber / $hz) end;
       {($k): {origin: ($o | s), edges_during: ($e | s), edge_exec_to_done: ($l | s)}}'
  done | jq -s add
}
# What did not run (no edges) is null in the JSON.
for k in tput_origin tput_redis tput_edge lag_edgekv lag_redis bulk catchup_log catchup_snap \
  tput_origin.rounds tput_redis.rounds tput_edge.rounds; do
  [[ -s "$TMP/$k.json" ]] || echo null >"$TMP/$k.json"
done
MUT=${MUT:-0} RECORDS=${RECORDS:-0}
LOG_S=$(J catchup_log '.done_s // 0') SNAP_S=$(J catchup_snap '.done_s // 0')
LOG_RATE=$(awk -v m="$MUT" -v s="$LOG_S" 'BEGIN { printf "%.0f", (s > 0 ? m / s : 0) }')
SNAP_RATE=$(awk -v m="$RECORDS" -v s="$SNAP_S" 'BEGIN { printf "%.0f", (s > 0 ? m / s : 0) }')
echo
edges_cfg=", edges --sync batch (their default) --threads $ETHREADS"
((NEDGES > 0)) || edges_cfg=" (lone)"
echo "repl.sh: $NEDGES edges, $(nproc) CPUs; origin --sync ${EDGEKV_BENCH_ORIGIN_SYNC:-always} --threads $OTHREADS$edges_cfg;"
REDIS_CFG="primary appendfsync $R_FSYNC, $( ((NEDGES > 0)) && echo "replica appendfsync $RR_FSYNC" || echo "no replica")"
if [[ "$ONLY" == catchup ]]; then
  echo "only section 4 (EDGEKV_BENCH_ONLY=catchup): no throughput or delay rows, no redis"
else
  echo "redis $REDIS_VER, $REDIS_CFG"
  echo
  report_tput
fi
if ((NEDGES == 0)); then
  echo
  echo "4. bulk load at a lone origin: $NCATCH mutations, $(J bulk .mutations_per_s | awk '{ printf "%.0f", $1 }')/s durable"
  echo "   (bulk PUT, 10 000 per request, $CATCH_BYTES-byte values; CPU % origin ${CPU_O[bulk]};" \
    "$(per_cpu_s "$NCATCH" "${TICKS_O[bulk]:-}") mutations per origin CPU-s)"
fi
if ((NEDGES > 0)); then
  if [[ "$ONLY" != catchup ]]; then
    echo
    report_delay
  fi
  echo
  report_catchup
fi

jq -n --argjson edges "$NEDGES" --argjson cpus "$(nproc)" --argjson rate "$RATE" --argjson secs "$SECS" \
  --argjson tsecs "$TSECS" --argjson writers "$WRITERS" --argjson othreads "$OTHREADS" --argjson ethreads "$ETHREADS" \
  --arg osync "${EDGEKV_BENCH_ORIGIN_SYNC:-always}" --arg redis "$REDIS_VER" --arg rcfg "$REDIS_CFG" \
  --slurpfile to "$TMP/tput_origin.json" --slurpfile te "$TMP/tput_edge.json" --slurpfile tr "$TMP/tput_redis.json" \
  --slurpfile ro "$TMP/tput_origin.rounds.json" --slurpfile re "$TMP/tput_edge.rounds.json" \
  --slurpfile rr "$TMP/tput_redis.rounds.json" \
  --slurpfile le "$TMP/lag_edgekv.json" --slurpfile lr "$TMP/lag_redis.json" --slurpfile bulk "$TMP/bulk.json" \
  --slurpfile cl "$TMP/catchup_log.json" --slurpfile cs "$TMP/catchup_snap.json" \
  --argjson cpu "$(for k in "${!CPU_O[@]}"; do
    jq -n --arg k "$k" --argjson o "${CPU_O[$k]}" --argjson e "${CPU_E[$k]}" --argjson r "${CPU_R[$k]}" \
      '{($k): {origin: $o, edges: $e, redis: $r}}'; done | jq -s add)" \
  --argjson cpus_c "$(cpu_json)" --argjson mut "$MUT" --argjson recs "$RECORDS" --argjson lrate "$LOG_RATE" --argjson srate "$SNAP_RATE" \
  --arg lmode "${CATCH_MODE:-}" --arg smode "${SNAP_MODE:-}" \
  --arg qlog "${QUIET_S[catchup_log]:-}" --arg qsnap "${QUIET_S[catchup_snap]:-}" \
  --argjson failed "$(for k in "${!FAILED[@]}"; do jq -n --arg k "$k" --arg v "${FAILED[$k]}" '{($k): $v}'; done | jq -s 'add // {}')" \
  '{benchmark: "repl", edges: $edges, cpus: $cpus, redis_version: $redis, redis_config: $rcfg, origin_sync: $osync, origin_threads: $othreads, edge_threads: $ethreads,
    throughput: (if $to[0] == null then null else
                 {writers: $writers, seconds: $tsecs, origin: $to[0], through_edge: $te[0], redis: $tr[0],
                  ratio_origin_redis: ($to[0].writes_per_s / $tr[0].writes_per_s),
                  rounds: {origin: $ro[0], through_edge: $re[0], redis: $rr[0],
                           ratio_origin_redis: ([$ro[0], $rr[0]] | transpose | map(.[0] / .[1]))}} end),
    delay: (if $edges == 0 or $le[0] == null then null else
            {rate: $rate, seconds: $secs, edgekv: $le[0], redis: $lr[0],
             ratio_p99_edgekv_redis: (if $lr[0].p99_ms > 0 then $le[0].p99_ms / $lr[0].p99_ms else null end)} end),
    bulk_lone: (if $edges == 0 then $bulk[0] else null end),
    catchup: (if $edges == 0 then null else
              {bulk: $bulk[0],
               restart: ($cl[0] + {resumed_from: $lmode, mutations: $mut, mutations_per_s: $lrate,
                                   quiet_wait_s: ($qlog | tonumber? // null)}),
               fresh: ($cs[0] + {resumed_from: $smode, records: $recs, records_per_s: $srate,
                                 quiet_wait_s: ($qsnap | tonumber? // null)}),
               cpu_s: $cpus_c,
               failures: $failed} end),
    cpu_pct: $cpu}' >"$OUT"
echo
echo "JSON: $OUT"
[[ -z "${FAILED[*]:-}" ]] || die "did not finish: ${!FAILED[*]}"
