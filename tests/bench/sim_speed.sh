#!/usr/bin/env bash
# Simulator speed: runs edgekv-sim on one scenario (default world300_push: 300
# edges x 10 virtual minutes, ~45 CPU-s) and records its events, the CPU time
# of the simulation (the simulator's own getrusage around the run) and of the
# whole process (/usr/bin/time: loading, the run, writing the results), events
# per CPU second and the trace hash. See tests/bench/README.md.
#   tests/bench/sim_speed.sh
# Env: EDGEKV_BENCH_SIM_SCENARIO (sim/scenarios/world300_push.json) scenario file
#      EDGEKV_SIM_BIN            use this edgekv-sim instead of building (default with
#                                EDGEKV_BIN: the sim/edgekv-sim beside its node/ directory)
#      EDGEKV_BIN                see above
#      EDGEKV_BENCH_OUT          JSON result file (default $TMPDIR/edgekv-sim_speed.json)
#      EDGEKV_BENCH_SIM_DIR      keep the simulator's --out files and stdout here (default:
#                                a temporary directory, removed)
#      EDGEKV_BENCH_TIMEOUT (900) hard limit of the run, seconds
# Exit 0 when the simulator ran and every checker passed; 1 otherwise. Speed is
# not asserted. The trace hash repeats exactly for a given build and scenario;
# the CPU times depend on the machine and its load.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SCEN=${EDGEKV_BENCH_SIM_SCENARIO:-$REPO/sim/scenarios/world300_push.json}
LIMIT=${EDGEKV_BENCH_TIMEOUT:-900}
OUT=${EDGEKV_BENCH_OUT:-${TMPDIR:-/tmp}/edgekv-sim_speed.json}

log() { echo "sim_speed: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

"$REPO/deploy/install-deps.sh" --bench
for c in jq timeout; do
  command -v "$c" >/dev/null || die "missing command $c"
done
[[ -x /usr/bin/time ]] || die "missing /usr/bin/time (Debian package time)"
[[ -r "$SCEN" ]] || die "no scenario $SCEN"

# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh" # build_file
SIM=${EDGEKV_SIM_BIN:-}
[[ -n "$SIM" ]] || SIM=$(build_file sim/edgekv-sim) || die "deploy/build.sh failed"
[[ -x "$SIM" ]] || die "no edgekv-sim at $SIM (set EDGEKV_SIM_BIN)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edgekv-sim_speed.XXXXXX")
RUN_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # timeout(1) passes the signal on to the simulator and waits for it.
  if [[ -n "$RUN_PID" ]]; then kill -TERM "$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n "${EDGEKV_BENCH_SIM_DIR:-}" ]]; then
  mkdir -p "$EDGEKV_BENCH_SIM_DIR"
  KEEP=$(cd "$EDGEKV_BENCH_SIM_DIR" && pwd)
else
  KEEP=$TMP
fi

# timeout(1) bounds the run; in the background so that a signal interrupts the wait. No
# plots, so that the process CPU time is the simulator's alone (gnuplot runs as its child).
log "running $(basename "$SCEN") (limit ${LIMIT}s)"
rc=0
timeout -k 10 "$LIMIT" /usr/bin/time -f '%U %S %e %M' -o "$TMP/time.txt" \
  "$SIM" "$SCEN" --out "$KEEP/out" --no-plots >"$KEEP/stdout.txt" 2>"$TMP/stderr.txt" &
RUN_PID=$!
wait "$RUN_PID" || rc=$?
RUN_PID=""
cat "$KEEP/stdout.txt"
[[ -s "$TMP/stderr.txt" ]] && cat "$TMP/stderr.txt" >&2
((rc != 124)) || die "edgekv-sim did not finish within ${LIMIT}s"
[[ -s "$KEEP/out/summary.json" ]] || die "edgekv-sim exited with $rc and wrote no summary.json"
# GNU time prepends "Command exited with non-zero status N" when the command failed.
read -r user sys wall rss < <(grep -v '^Command' "$TMP/time.txt")

jq --arg scen "$(basename "$SCEN" .json)" --argjson rc "$rc" --argjson user "$user" --argjson sys "$sys" \
  --argjson wall "$wall" --argjson rss "$rss" --argjson cpus "$(nproc)" \
  --arg cmd "edgekv-sim ${SCEN#"$REPO"/} --out DIR --no-plots" \
  '{benchmark: "sim_speed", scenario: $scen, exit_code: $rc, cpus: $cpus, command: $cmd,
    seed: .seed, edges: .edges, virtual_s: .virtual_s, events: .events, trace_hash: .trace_hash,
    run_cpu_s: .cpu_s, run_wall_s: .wall_s, events_per_cpu_s: .events_per_cpu_s,
    process_cpu_s: ($user + $sys), process_user_s: $user, process_sys_s: $sys, process_wall_s: $wall,
    process_max_rss_kb: $rss,
    events_per_process_cpu_s: (if $user + $sys > 0 then .events / ($user + $sys) else null end),
    checks: (.checks | map_values(.verdict))}' "$KEEP/out/summary.json" >"$OUT"
echo
jq -r '"sim_speed: \(.scenario) seed \(.seed): \(.events) events, trace hash \(.trace_hash)\n" +
  "  run      \(.run_cpu_s * 100 | round / 100) CPU-s, \(.run_wall_s * 100 | round / 100) s wall: " +
  "\(.events_per_cpu_s / 1e4 | round / 100) M events/CPU-s\n" +
  "  process  \(.process_cpu_s) CPU-s (user \(.process_user_s), sys \(.process_sys_s)), " +
  "\(.process_wall_s) s wall, max RSS \(.process_max_rss_kb / 1024 | round) MiB: " +
  (if .events_per_process_cpu_s == null then "- (a run under the CPU clock'"'"'s resolution)"
   else "\(.events_per_process_cpu_s / 1e4 | round / 100) M events/CPU-s" end)' "$OUT"
echo "JSON: $OUT"
((rc == 0)) || die "edgekv-sim exited with $rc (a checker failed?)"
