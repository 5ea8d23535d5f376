#!/usr/bin/env bash
# Relay scale on this machine: in one run, two clusters on loopback with
# mutual TLS, one after the other, each under the same paced write stream:
#   direct  1 origin + 40 edges that follow the origin;
#   relays  1 origin + 4 relays + 40 edges, ten under each relay (an edge
#           lists its relay, then the next relay, as --upstream).
# Every node is a small process (one HTTP loop, 2 write threads, a 4 MiB read
# cache, --sync batch: `edgekv dev`-style flags), and dials from a loopback
# address of its own (127.0.0.N, through tests/bench/src_addr_shim.c), as a
# separate host would: the origin admits at most 32 replication connections
# from one address (KV_REPL_CONNS_PER_ADDR_MAX). Per cluster it prints the
# origin's CPU (user+sys from /proc/PID/stat over the measured interval, as a
# share of one CPU and in CPU seconds), its RSS (VmRSS after the interval, and
# VmHWM, the peak), and write -> visible at all 40 edges measured by repl_lag
# (writes at the origin; every Nth write is a probe, polled at every edge
# until it returns the value): p50/p99 over every (probe, edge) sample, and
# p50/p99 of the time until the last of the 40 edges returned it.
#   tests/bench/relay_scale.sh
# Env: EDGEKV_SCALE_EDGES (40)       edges per cluster
#      EDGEKV_SCALE_RELAYS (4)       relays in the relay cluster
#      EDGEKV_SCALE_RATE (100)       paced writes/s at the origin
#      EDGEKV_SCALE_SECONDS (20)     measured seconds per cluster
#      EDGEKV_SCALE_PROBE_EVERY (5)  every Nth write is probed at every edge
#      EDGEKV_SCALE_POLL_US (1000)   least interval between two polls of one edge
#      EDGEKV_SCALE_OUT              JSON result file (default $TMPDIR/edgekv-relay-scale.json)
#      EDGEKV_BIN                    use this binary instead of building
#      EDGEKV_SCALE_TIMEOUT (290)    hard limit for the whole run, seconds
#      EDGEKV_SCALE_KEEP             set: keep the logs and data directories
# It asserts nothing about speed; it exits non-zero only when a cluster did
# not come up or converge, or repl_lag failed (a read returned other bytes,
# a probe never became visible). It ends every process it started by PID.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
NEDGES=${EDGEKV_SCALE_EDGES:-40}
NRELAYS=${EDGEKV_SCALE_RELAYS:-4}
RATE=${EDGEKV_SCALE_RATE:-100}
SECS=${EDGEKV_SCALE_SECONDS:-20}
PROBE_EVERY=${EDGEKV_SCALE_PROBE_EVERY:-5}
POLL_US=${EDGEKV_SCALE_POLL_US:-1000}
LIMIT=${EDGEKV_SCALE_TIMEOUT:-290}
OUT=${EDGEKV_SCALE_OUT:-${TMPDIR:-/tmp}/edgekv-relay-scale.json}
VALUE_BYTES=100
SMALL=(--threads 1 --write-threads 2 --cache-bytes 4194304 --sync batch)

log() { echo "relay_scale: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }
for c in curl jq awk cc; do command -v "$c" >/dev/null || die "missing command $c"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edgekv-relay-scale.XXXXXX")
PIDS=() WD_PID="" TOOL_PID=""

# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh" # stop_pid, start_watchdog, hex, bench_tools
stop_all() { # every node of the cluster, edges first; in parallel, each by its PID
  local p i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  PIDS=()
}
cleanup() {
  local rc=$? f
  trap - EXIT INT TERM
  stop_pid "$TOOL_PID"
  stop_all
  if [[ -n "$WD_PID" ]]; then kill -TERM "$WD_PID" 2>/dev/null || true; wait "$WD_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$TMP"/*.err; do [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 5 "$f" >&2; }; done
  fi
  if [[ -n "${EDGEKV_SCALE_KEEP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_watchdog "$LIMIT" relay_scale

# ---- build ---------------------------------------------------------------------------------
bench_tools "$TMP" || die "cannot build the tools"

TOKEN=$(hex 16) ACCT=$(hex 16)
AUTH="Authorization: Bearer $TOKEN"
CURL=(curl -sS --max-time 10)
CLK=$(getconf CLK_TCK)
"$BIN" certs init --dir "$TMP/certs" --edges "$NEDGES" --relays "$NRELAYS" >/dev/null

# start ROLE NAME ARGS...: starts a node, waits for its banner; sets PORT (API)
# and RPORT (replication listener, origin and relays).
start() {
  local role=$1 name=$2 i pid
  shift 2
  NODE_I=$((NODE_I + 1))
  EDGEKV_SRC_ADDR="127.0.0.$((10 + NODE_I))" LD_PRELOAD="$SHIM" "$BIN" "$role" --listen 127.0.0.1:0 --account "$ACCT" --token "$TOKEN" --data "$TMP/$CL/$name" \
    --certs "$TMP/certs" --name "$name" "${SMALL[@]}" "$@" >"$TMP/$CL-$name.log" 2>"$TMP/$CL-$name.err" &
  pid=$!
  PIDS+=("$pid")
  PID=$pid PORT="" RPORT=""
  for ((i = 0; i < 3000; i++)); do
    PORT=$(sed -n 's|.*serving http://127\.0\.0\.1:\([0-9][0-9]*\) (.*|\1|p' "$TMP/$CL-$name.log" 2>/dev/null | head -1) ||
      true # the child may not have created its log yet
    [[ -n "$PORT" ]] && break
    kill -0 "$pid" 2>/dev/null || die "$name exited at startup"
    sleep 0.01
  done
  [[ -n "$PORT" ]] || die "$name printed no banner within 30 s"
  RPORT=$(sed -n 's|.*replication: listening on [^:]*:\([0-9]*\).*|\1|p' "$TMP/$CL-$name.log" | head -1)
}
status() { "${CURL[@]}" -H "$AUTH" "http://127.0.0.1:$1/status"; }
# converged SEQ PORT...: every node live with applied_seq >= SEQ
converged() {
  local seq=$1 p s
  shift
  for p in "$@"; do
    s=$(status "$p") || return 1
    [[ $(jq -r .replication.link <<<"$s") == live && $(jq -r .replication.applied_seq <<<"$s") -ge $seq ]] || return 1
  done
}
wait_converged() { # wait_converged SECONDS PORT...
  local deadline=$((SECONDS + $1)) seq
  shift
  seq=$(status "$OPORT" | jq -er .replication.last_seq) || die "origin /status"
  until converged "$seq" "$@"; do
    ((SECONDS < deadline)) || die "$CL: nodes did not converge to seq $seq"
    sleep 0.2
  done
}
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# run_cluster NAME: start it, converge, measure, stop; results into $TMP/NAME.*
run_cluster() {
  CL=$1 NODE_I=0
  mkdir -p "$TMP/$CL"
  local n r ups=() eports=() t0 t1 c0 c1 upstream on_relay=0 first
  log "$CL: starting"
  start origin origin --repl-listen 127.0.0.1:0
  OPID=$PID OPORT=$PORT
  [[ -n "$RPORT" ]] || die "origin printed no replication port"
  local orp=$RPORT
  if [[ $CL == relays ]]; then
    local rports=()
    for ((r = 1; r <= NRELAYS; r++)); do
      start relay "relay$r" --repl-listen 127.0.0.1:0 --upstream "127.0.0.1:$orp"
      [[ -n "$RPORT" ]] || die "relay$r printed no replication port"
      ups[r]=$RPORT rports+=("$PORT")
    done
    wait_converged 60 "${rports[@]}" # edges dial relays that hold the history
  fi
  for ((n = 1; n <= NEDGES; n++)); do
    if [[ $CL == relays ]]; then
      r=$(((n - 1) % NRELAYS + 1))
      start edge "edge$n" --upstream "127.0.0.1:${ups[r]},127.0.0.1:${ups[r % NRELAYS + 1]}"
    else
      start edge "edge$n" --upstream "127.0.0.1:$orp"
    fi
    eports+=("$PORT")
  done
  local obase="http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/storage/kv/namespaces" js ns
  js=$("${CURL[@]}" -X POST -H "$AUTH" -H 'Content-Type: application/json' -d '{"title":"scale"}' "$obase")
  ns=$(jq -er 'select(.success == true) | .result.id' <<<"$js") || die "create namespace: $js"
  wait_converged 120 "${eports[@]}"
  if [[ $CL == relays ]]; then # each edge follows its first relay
    for ((n = 1; n <= NEDGES; n++)); do
      upstream=$(status "${eports[$((n - 1))]}" | jq -r .replication.upstream)
      first="127.0.0.1:${ups[$(((n - 1) % NRELAYS + 1))]}"
      [[ "$upstream" == "$first" ]] && on_relay=$((on_relay + 1))
    done
  fi
  log "$CL: $NEDGES edges live; measuring ${SECS}s at $RATE writes/s"
  local ports
  ports=$(printf '%s,' "${eports[@]}")
  c0=$(ticks "$OPID") t0=$(date +%s%N)
  "$TOOL" lag --acct "$ACCT" --ns "$ns" --token "$TOKEN" --write-port "$OPORT" --read-ports "${ports%,}" \
    --rate "$RATE" --seconds "$SECS" --conns 8 --probe-every "$PROBE_EVERY" --poll-us "$POLL_US" \
    --poll-backoff 0.05 --probe-timeout 30 --prefix "s-$CL-" --value-bytes "$VALUE_BYTES" \
    >"$TMP/$CL.json" 2>"$TMP/$CL.tool.err" &
  TOOL_PID=$!
  wait "$TOOL_PID" || { cat "$TMP/$CL.tool.err" >&2; die "$CL: repl_lag failed"; }
  TOOL_PID=""
  c1=$(ticks "$OPID") t1=$(date +%s%N)
  jq -n --argjson lag "$(cat "$TMP/$CL.json")" --arg cl "$CL" --argjson nodes "${#PIDS[@]}" \
    --argjson cpu_s "$(awk -v d=$((c1 - c0)) -v hz="$CLK" 'BEGIN { printf "%.2f", d / hz }')" \
    --argjson secs "$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }')" \
    --argjson rss "$(kib "$OPID" VmRSS)" --argjson hwm "$(kib "$OPID" VmHWM)" \
    --argjson on_relay "$on_relay" \
    '{cluster: $cl, processes: $nodes, interval_s: $secs, origin_cpu_s: $cpu_s,
      origin_cpu_pct: (100 * $cpu_s / $secs), origin_rss_kib: $rss, origin_hwm_kib: $hwm,
      edges_on_first_relay: $on_relay, lag: $lag}' >"$TMP/$CL.result.json"
  for ((n = 0; n < ${#PIDS[@]}; n++)); do kill -0 "${PIDS[$n]}" 2>/dev/null || die "$CL: a node died"; done
  log "$CL: stopping ${#PIDS[@]} processes"
  stop_all
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
run_cluster direct
run_cluster relays
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
jq -s --arg load0 "$LOAD0" --arg load1 "$LOAD1" --arg date "$(date -u +%FT%TZ)" --argjson cpus "$(nproc)" \
  '{date: $date, cpus: $cpus, loadavg_before: $load0, loadavg_after: $load1, clusters: .}' \
  "$TMP/direct.result.json" "$TMP/relays.result.json" >"$OUT"

R() { jq -r "$2" "$TMP/$1.result.json"; }
echo "relay scale: $NEDGES edges, $RATE writes/s of $VALUE_BYTES B at the origin for ${SECS}s, every ${PROBE_EVERY}th probed at every edge"
echo "($(nproc) CPUs, load average $LOAD0 before, $LOAD1 after; $(date -u +%F))"
printf '%-32s | %-9s | %-12s | %-16s | %-19s | %-19s\n' cluster "origin CPU" "origin RSS" "origin peak RSS" "visible p50/p99 ms" "at all edges p50/p99"
for c in direct relays; do
  label="1 origin + $NEDGES edges"
  [[ $c == relays ]] && label="1 origin + $NRELAYS relays + $NEDGES edges"
  printf '%-32s | %8.1f%% | %8.1f MiB | %12.1f MiB | %8.2f / %8.2f | %8.2f / %8.2f\n' "$label" \
    "$(R $c .origin_cpu_pct)" "$(R $c '.origin_rss_kib / 1024')" "$(R $c '.origin_hwm_kib / 1024')" \
    "$(R $c .lag.p50_ms)" "$(R $c .lag.p99_ms)" "$(R $c .lag.all_ports_p50_ms)" "$(R $c .lag.all_ports_p99_ms)"
done
echo "origin CPU seconds over the interval: direct $(R direct .origin_cpu_s) s, relays $(R relays .origin_cpu_s) s;" \
  "achieved writes/s: $(R direct .lag.achieved_rate), $(R relays .lag.achieved_rate);" \
  "probes: $(R direct .lag.probes), $(R relays .lag.probes);" \
  "edges on their first relay: $(R relays .edges_on_first_relay)/$NEDGES"
log "results in $OUT"
