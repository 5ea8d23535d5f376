#!/usr/bin/env bash
# Many writers at a lone origin: PROCS load generators (repl_lag tput) of
# 1 000 keep-alive connections each, every process from a loopback address
# of its own (127.0.0.N through tests/bench/src_addr_shim.c, as separate
# hosts: a node admits KV_HTTP_CONNS_PER_ADDR_MAX connections per address),
# each connection PUTting a new 100-byte key as soon as the last was
# answered. Then, in the same run, the same generators in RESP against a
# Redis primary with appendfsync always. It prints writes/s (summed), the
# worst generator's ack p50/p99, and each server's CPU (user+sys from
# /proc/PID/stat over the run: a share of one CPU, and microseconds per
# write), and the ratio edgekv / Redis. With thousands of writers waiting,
# any per-writer cost that grows with their number shows here and not in
# repl.sh's 64.
#   tests/bench/writers.sh
# Env: EDGEKV_WRITERS_PROCS (4)     generators, 1 000 connections each
#      EDGEKV_WRITERS_SECONDS (8)   measured seconds per server (after 1 s warm-up)
#      EDGEKV_WRITERS_OUT           JSON result file (default $TMPDIR/edgekv-writers.json)
#      EDGEKV_BIN                   use this binary instead of building
#      EDGEKV_WRITERS_TIMEOUT (120) hard limit for the whole run, seconds
# It asserts nothing about speed; it fails only when a server does not come
# up or a generator fails. It ends every process it started by PID.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PROCS=${EDGEKV_WRITERS_PROCS:-4}
SECS=${EDGEKV_WRITERS_SECONDS:-8}
LIMIT=${EDGEKV_WRITERS_TIMEOUT:-120}
OUT=${EDGEKV_WRITERS_OUT:-${TMPDIR:-/tmp}/edgekv-writers.json}
# Connections per generator: as many as a node admits from one address.
CONNS=$(sed -n 's/^#define KV_HTTP_CONNS_PER_ADDR_MAX \([0-9][0-9]*\).*/\1/p' "$REPO/proto/kv_limits.h")

log() { echo "writers: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }
for c in curl jq awk cc redis-server redis-cli; do command -v "$c" >/dev/null || die "missing command $c"; done
[[ -n "$CONNS" ]] || die "no KV_HTTP_CONNS_PER_ADDR_MAX in proto/kv_limits.h"
((PROCS >= 1 && PROCS <= 9)) || die "EDGEKV_WRITERS_PROCS must be 1..9"
(($(ulimit -n) > CONNS + 64)) || die "ulimit -n is $(ulimit -n): a generator needs more than $((CONNS + 64))"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edgekv-writers.XXXXXX")
SPID="" WD_PID="" GEN=()
# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh" # stop_pid, start_watchdog, hex, bench_tools
cleanup() {
  local rc=$? p f
  trap - EXIT INT TERM
  for p in "${GEN[@]}"; do stop_pid "$p"; done
  stop_pid "$SPID"
  if [[ -n "$WD_PID" ]]; then kill -TERM "$WD_PID" 2>/dev/null || true; wait "$WD_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$TMP"/*.err "$TMP"/redis/*.log; do [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 5 "$f" >&2; }; done
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_watchdog "$LIMIT" writers
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# ---- build ---------------------------------------------------------------------------------
bench_tools "$TMP" || die "cannot build the tools"

# run NAME ARGS...: the generators against one server (PID $SPID), at once;
# NAME.json holds the sum, the worst p50/p99 and the server's CPU.
run() {
  local name=$1 i c0 c1 t0 t1 clk
  shift
  GEN=()
  c0=$(ticks "$SPID") t0=$(date +%s%N)
  for ((i = 1; i <= PROCS; i++)); do
    EDGEKV_SRC_ADDR="127.0.0.$((20 + i))" LD_PRELOAD="$SHIM" "$TOOL" tput "$@" --conns "$CONNS" \
      --seconds "$SECS" --warmup 1 --prefix "w$i-" --value-bytes 100 >"$TMP/$name.$i.json" 2>"$TMP/$name.$i.err" &
    GEN+=("$!")
  done
  for i in "${GEN[@]}"; do wait "$i" || die "$name: a generator failed"; done
  GEN=()
  t1=$(date +%s%N) c1=$(ticks "$SPID") clk=$(getconf CLK_TCK)
  jq -s --argjson cpu_s "$(awk -v d=$((c1 - c0)) -v k="$clk" 'BEGIN { printf "%.3f", d / k }')" \
    --argjson wall_s "$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1e9 }')" \
    '{writes_per_s: (map(.writes_per_s) | add), p50_ms: (map(.p50_ms) | max), p99_ms: (map(.p99_ms) | max),
      writers: (map(.conns) | add), server_cpu_s: $cpu_s, wall_s: $wall_s,
      server_cpu_pct: (100 * $cpu_s / $wall_s),
      server_cpu_us_per_write: (1e6 * $cpu_s / $wall_s / (map(.writes_per_s) | add))}' \
    "$TMP/$name".[0-9]*.json >"$TMP/$name.json" || die "$name: no results"
}

# ---- edgekv: a lone origin -----------------------------------------------------------------
TOKEN=$(hex 16) ACCT=$(hex 16)
AUTH="Authorization: Bearer $TOKEN"
"$BIN" origin --listen 127.0.0.1:0 --account "$ACCT" --token "$TOKEN" --data "$TMP/origin" \
  --sync always --threads 2 >"$TMP/origin.log" 2>"$TMP/origin.err" &
SPID=$!
PORT=""
for ((i = 0; i < 3000; i++)); do
  PORT=$(sed -n 's|.*serving http://127\.0\.0\.1:\([0-9][0-9]*\) (.*|\1|p' "$TMP/origin.log" 2>/dev/null | head -1) || true
  [[ -n "$PORT" ]] && break
  kill -0 "$SPID" 2>/dev/null || die "the origin exited at startup"
  sleep 0.01
done
[[ -n "$PORT" ]] || die "the origin printed no banner within 30 s"
js=$(curl -sS --max-time 10 -X POST -H "$AUTH" -H 'Content-Type: application/json' -d '{"title":"writers"}' \
  "http://127.0.0.1:$PORT/client/v4/accounts/$ACCT/storage/kv/namespaces")
NS=$(jq -er 'select(.success == true) | .result.id' <<<"$js") || die "create namespace: $js"
log "origin :$PORT; $PROCS generators of $CONNS writers for ${SECS}s"
run edgekv --acct "$ACCT" --ns "$NS" --token "$TOKEN" --port "$PORT"
stop_pid "$SPID"
SPID=""

# ---- redis, appendfsync always -------------------------------------------------------------
mkdir -p "$TMP/redis"
RP=""
for ((i = 0; i < 200; i++)); do # a port nothing answers on, below the ephemeral range
  p=$((20000 + RANDOM % 9000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then RP=$p; break; fi
done
[[ -n "$RP" ]] || die "no free port for redis"
# Protected mode off: the generators come from 127.0.0.21.., which Redis does not count as
# loopback; it still listens on 127.0.0.1 only.
redis-server --bind 127.0.0.1 --port "$RP" --dir "$TMP/redis" --daemonize no --save '' \
  --protected-mode no --appendonly yes --appendfsync always --maxclients $((PROCS * CONNS + 100)) \
  --logfile "$TMP/redis/redis.log" &
SPID=$!
for ((i = 0; i < 300; i++)); do
  kill -0 "$SPID" 2>/dev/null || die "redis exited at startup"
  [[ $(redis-cli -p "$RP" ping 2>/dev/null) == PONG ]] && break
  sleep 0.1
done
((i < 300)) || die "redis not up within 30 s"
REDIS_VER=$(redis-server --version | awk '{ print $3 }' | sed 's/v=//')
run redis --proto resp --port "$RP"
stop_pid "$SPID"
SPID=""

# ---- report --------------------------------------------------------------------------------
J() { jq -r "$2" "$TMP/$1.json"; }
echo "writers.sh: $PROCS x $CONNS writers, ${SECS}s each, $(nproc) CPUs; origin --sync always --threads 2; redis $REDIS_VER appendfsync always"
printf '%-28s | %9s | %7s | %7s | %6s | %s\n' server "writes/s" "p50 ms" "p99 ms" "CPU %" "CPU us/write"
for k in edgekv redis; do
  printf '%-28s | %9.0f | %7.2f | %7.2f | %6.0f | %.1f\n' "$([[ $k == edgekv ]] && echo "edgekv origin (REST PUT)" || echo "redis SET")" \
    "$(J "$k" .writes_per_s)" "$(J "$k" .p50_ms)" "$(J "$k" .p99_ms)" "$(J "$k" .server_cpu_pct)" "$(J "$k" .server_cpu_us_per_write)"
done
echo "ratio edgekv/redis (writes/s): $(jq -rn --slurpfile e "$TMP/edgekv.json" --slurpfile r "$TMP/redis.json" '$e[0].writes_per_s / $r[0].writes_per_s * 100 | round / 100')"
jq -n --slurpfile e "$TMP/edgekv.json" --slurpfile r "$TMP/redis.json" --argjson procs "$PROCS" \
  --argjson conns "$CONNS" --argjson secs "$SECS" --arg redis "$REDIS_VER" --argjson cpus "$(nproc)" \
  '{benchmark: "writers", procs: $procs, conns_per_proc: $conns, seconds: $secs, cpus: $cpus,
    redis_version: $redis, edgekv: $e[0], redis: $r[0], ratio: ($e[0].writes_per_s / $r[0].writes_per_s)}' >"$OUT"
echo "JSON: $OUT"
