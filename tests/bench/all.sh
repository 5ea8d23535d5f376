#!/usr/bin/env bash
# Every benchmark in one run, into one directory: reads vs nginx and h2o
# (hot_get.sh), durable writes at a lone origin vs a lone Redis primary
# (repl.sh with 0 edges), replication vs a Redis primary and replica: writes,
# write -> visible delay, bulk load, catch-up, snapshot (repl.sh), the
# simulator's speed (sim_speed.sh), and an edge's batch apply at the storage
# layer vs RocksDB alone (store_apply.sh). Then merge.sh writes all.json (date,
# commit, machine, every row and every sub-benchmark's JSON), all.md (one
# table: row | edgekv | peer | ratio | target) and lag_cdf.png/.svg (the CDF
# of write -> visible delay, edgekv's edges vs the Redis replica). See
# tests/bench/README.md.
#   tests/bench/all.sh
# Env: EDGEKV_BENCH_DIR       output directory (default $TMPDIR/edgekv-bench-YYYYMMDD-HHMMSS)
#      EDGEKV_BENCH_SKIP      comma list of steps not to run: hot_get, lone, repl, sim, store
#      EDGEKV_BENCH_TOTAL_TIMEOUT (2700) hard limit of the whole run, seconds: a step
#                             still running then is stopped, and what ran is merged
#      EDGEKV_BIN             use this edgekv instead of building (and EDGEKV_SIM_BIN, by
#                             default the sim/edgekv-sim beside its node/ directory)
#      every other EDGEKV_BENCH_* variable of the steps is passed on to them (e.g.
#      EDGEKV_BENCH_SECONDS to both hot_get.sh and repl.sh); EDGEKV_BENCH_OUT,
#      EDGEKV_BENCH_SAMPLES_DIR and EDGEKV_BENCH_SIM_DIR are set by this script
# Exit 0 when every step that was not skipped exited 0 and the merge succeeded;
# 1 otherwise (130/143 on a signal), after writing what it has. Speed is not asserted.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$REPO/tests/bench"
STAMP=$(date -u +%Y%m%d-%H%M%S)
DIR=${EDGEKV_BENCH_DIR:-${TMPDIR:-/tmp}/edgekv-bench-$STAMP}
SKIP=",${EDGEKV_BENCH_SKIP:-},"
TOTAL=${EDGEKV_BENCH_TOTAL_TIMEOUT:-2700}
MERGE_RESERVE=60 # seconds kept for stopping the last step and merging

log() { echo "all: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
T_START=$SECONDS
DEADLINE=$((SECONDS + TOTAL))
log "output in $DIR (hard limit ${TOTAL}s)"

"$REPO/deploy/install-deps.sh" --bench
for c in jq gnuplot timeout git; do
  command -v "$c" >/dev/null || die "missing command $c"
done

# One build for every step.
if [[ -z "${EDGEKV_BIN:-}" ]]; then
  log "building"
  bdir=$(cd "$REPO" && deploy/build.sh | tail -n1) || die "deploy/build.sh failed"
  [[ "$bdir" == /* ]] || bdir="$REPO/$bdir"
  export EDGEKV_BIN="$bdir/node/edgekv"
fi
export EDGEKV_SIM_BIN=${EDGEKV_SIM_BIN:-$(dirname "$EDGEKV_BIN")/../sim/edgekv-sim}
[[ -x "$EDGEKV_BIN" ]] || die "no edgekv binary at $EDGEKV_BIN"

# ---- the run's record: run.json ---------------------------------------------------------------
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
# Tracked files changed but not committed: the build (deploy/build.sh) includes them.
DIRTY=false
[[ -z $(git -C "$REPO" status --porcelain --untracked-files=no) ]] || DIRTY=true
LOAD0=$(loadavg)
machine_json() {
  jq -n --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    --argjson cpus "$(nproc)" --arg kernel "$(uname -sr)" \
    --argjson mem "$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" \
    --arg l0 "$LOAD0" --arg l1 "$(loadavg)" \
    '{cpu_model: $cpu, cpus: $cpus, kernel: $kernel, memory_gib: $mem, loadavg_start: $l0, loadavg_end: $l1}'
}
# The EDGEKV_BENCH_* settings the user gave (the steps' own defaults otherwise).
# No EDGEKV_BENCH_* setting at all (a run with the defaults) is no error.
SETTINGS=$(env | sed -n 's/^\(EDGEKV_BENCH_[A-Z0-9_]*\)=\(.*\)/\1 \2/p' | { grep -v '^EDGEKV_BENCH_DIR ' || true; } | sort |
  jq -R -n '[inputs | capture("^(?<key>[^ ]+) (?<value>.*)$")] | from_entries')
BINARY=$(jq -n --arg p "$EDGEKV_BIN" --arg m "$(date -u -r "$EDGEKV_BIN" +%Y-%m-%dT%H:%M:%SZ)" '{path: $p, modified: $m}')
declare -a NAMES=()
declare -A STATUS=() SECS=() RC=()
write_run() {
  local n runs="[]"
  for n in "${NAMES[@]}"; do
    runs=$(jq -c --arg n "$n" --arg s "${STATUS[$n]}" --argjson rc "${RC[$n]:-null}" --argjson t "${SECS[$n]:-null}" \
      '. + [{name: $n, status: $s, exit_code: $rc, seconds: $t}]' <<<"$runs")
  done
  jq -n --arg date "$(date -u -d "@$RUN_EPOCH" '+%Y-%m-%d %H:%M UTC')" --arg commit "$COMMIT" --argjson dirty "$DIRTY" \
    --argjson machine "$(machine_json)" --argjson settings "$SETTINGS" --argjson binary "$BINARY" \
    --argjson runs "$runs" --argjson total "$((SECONDS - T_START))" \
    '{date: $date, commit: $commit, uncommitted_changes: $dirty, machine: $machine, binary: $binary, settings: $settings,
      runs: $runs, total_seconds: $total}' >"$DIR/run.json"
}
RUN_EPOCH=$(date +%s)

# ---- the steps -----------------------------------------------------------------------------------
STEP_PID="" CUR=""
# step NAME ENV=VALUE... -- COMMAND...: runs it under timeout(1) with the time left,
# stdout to DIR/NAME.txt and stderr to DIR/NAME.log; records its status.
step() {
  local name=$1 left rc=0 t0=$SECONDS envs=()
  shift
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  NAMES+=("$name")
  if [[ "$SKIP" == *",$name,"* ]]; then
    STATUS[$name]=skipped
    log "$name: skipped"
    return 0
  fi
  left=$((DEADLINE - SECONDS - MERGE_RESERVE))
  if ((left <= 0)); then
    STATUS[$name]="not run (total timeout)"
    FAILS+=("$name")
    log "$name: not run, no time left"
    return 0
  fi
  log "$name: running (at most ${left}s; output in $DIR/$name.txt, $name.log)"
  CUR=$name
  # timeout(1) puts the step in its own process group and signals all of it.
  env "${envs[@]}" timeout -k 30 "$left" "$@" >"$DIR/$name.txt" 2>"$DIR/$name.log" &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID="" CUR=""
  SECS[$name]=$((SECONDS - t0)) RC[$name]=$rc
  case $rc in
  0) STATUS[$name]=ok ;;
  124 | 137) STATUS[$name]="timed out"; FAILS+=("$name") ;;
  *) STATUS[$name]=failed; FAILS+=("$name") ;;
  esac
  log "$name: ${STATUS[$name]} (exit $rc, ${SECS[$name]}s)"
  ((rc == 0)) || tail -n 5 "$DIR/$name.log" | sed 's/^/    /' >&2
}
FAILS=()
finish() { # [EXIT_CODE]: writes run.json, merges, prints the table; exits
  local rc=${1:-$?}
  trap - EXIT INT TERM
  if [[ -n "$STEP_PID" ]]; then
    kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
    STATUS[$CUR]=interrupted
    FAILS+=("$CUR")
  fi
  write_run
  if "$BENCH/merge.sh" "$DIR"; then
    echo
    cat "$DIR/all.md"
    echo
    echo "all: $DIR/all.json, $DIR/all.md$([[ -s "$DIR/lag_cdf.png" ]] && echo ", $DIR/lag_cdf.png, $DIR/lag_cdf.svg")"
  else
    log "FAIL: merge.sh"
    ((rc != 0)) || rc=1
  fi
  if ((${#FAILS[@]} > 0)); then
    log "FAIL: ${FAILS[*]}"
    ((rc != 0)) || rc=1
  fi
  exit "$rc"
}
trap finish EXIT
trap 'finish 130' INT
trap 'finish 143' TERM

step hot_get EDGEKV_BENCH_OUT="$DIR/hot_get.json" -- "$BENCH/hot_get.sh"
step lone EDGEKV_BENCH_OUT="$DIR/lone.json" EDGEKV_BENCH_EDGES=0 -- "$BENCH/repl.sh"
step repl EDGEKV_BENCH_OUT="$DIR/repl.json" EDGEKV_BENCH_SAMPLES_DIR="$DIR/samples" -- "$BENCH/repl.sh"
step sim EDGEKV_BENCH_OUT="$DIR/sim_speed.json" EDGEKV_BENCH_SIM_DIR="$DIR/sim" -- "$BENCH/sim_speed.sh"
step store EDGEKV_BENCH_OUT="$DIR/store.json" -- "$BENCH/store_apply.sh"
