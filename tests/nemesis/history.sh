#!/usr/bin/env bash
# history.sh - the history checker on a live cluster: the cluster of
# cluster.sh (origin and three edges over mutual TLS, each link through a
# edgekv-proxy), the recording client (client.c) with writers, readers and one
# session pinned to each edge for SECONDS seconds, during which edge2's link
# is frozen (a partition: nothing passes, the edge marks itself stale) and
# edge1's cut, each for FAULT_MS, then healed. After the workload: every
# link healed, every edge's digest equal to the origin's, final reads of
# every key at every node, and edgekv-check (sim/hcheck.h) over the history.
#
# Usage: history.sh [--seed N] [--seconds S] [--expect VIOLATION] [--out DIR]
# Without --expect the checker must pass; with it (the deliberately broken
# build edgekv-broken) it must fail with at least one VIOLATION of that
# kind: the test fails if the checker passes there. The binaries come from
# $EDGEKV, $CUTPROXY, $NEMESIS_CLIENT and $EDGEKV_CHECK (ctest sets them),
# else from $BUILD (default: build/ at the top of the source tree). The
# client's threads are seeded; the fault schedule is fixed. EDGEKV_KEEP_TMP=1
# keeps the history and every log. Every run draws its pictures
# (deploy/lab/viz.sh history: latency and operations/s over time with the
# partition and cut shaded, latency CDFs with bootstrap bands, a node x time
# heat map) into DIR (default: the run's temporary directory, figures/),
# with the history and the fault windows.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../../build}
export EDGEKV=${EDGEKV:-$BUILD/node/edgekv}
CUTPROXY=${CUTPROXY:-$BUILD/sim/edgekv-proxy}
NEMESIS_CLIENT=${NEMESIS_CLIENT:-$BUILD/tests/nemesis/nemesis_client}
EDGEKV_CHECK=${EDGEKV_CHECK:-$BUILD/sim/edgekv-check}
export EDGEKV_BAND=${EDGEKV_BAND:-$(dirname "$EDGEKV_CHECK")/edgekv-band}

SEED=12 SECONDS_RUN=20 EXPECT= OUT=
# Few keys, so the writers', the readers' and the sessions' operations
# collide: conflicting writes on every key within the run.
KEYS=8 WRITERS=2 READERS=2 SESSIONS=3
BOUND_MS=1000 # the edges' propagation bound (the default)
SLACK_MS=1000 # as run.sh: scheduling between the client's and the node's clocks
FAULT_MS=3000 # longer than the bound: the frozen edge must mark itself stale
FAULT_AT_S=4  # the first fault, after the workload started
# Enough operations that a run which did not exercise the cluster fails:
# the sessions read about 25 times a second each on an idle machine.
MIN_SESSION_READS=150
while [[ $# -gt 0 ]]; do
  case $1 in
  --seed) SEED=$2 ;;
  --seconds) SECONDS_RUN=$2 ;;
  --expect) EXPECT=$2 ;;
  --out) OUT=$2 ;;
  *) echo "history.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
source "$HERE/../process/lib.sh"
for b in "$CUTPROXY" "$NEMESIS_CLIENT" "$EDGEKV_CHECK"; do
  [[ -x $b ]] || { echo "history.sh: $b is missing (build the tests)"; exit 2; }
done
source "$HERE/cluster.sh"
cluster_ports
echo "history: $EDGEKV, seed $SEED, $SECONDS_RUN s, $KEYS keys, $WRITERS writers, $READERS readers, $SESSIONS sessions${EXPECT:+, expecting $EXPECT}"
cluster_start

HISTORY=$TMP/history.jsonl
OUT=${OUT:-$TMP/figures}
mkdir -p "$OUT"
# The fault windows for the pictures, "start_s end_s kind label" after the
# client's start (CLOCK_REALTIME): each from its proxy's at_ns= answer. The
# pictures' time axis starts at the history's first invoke, a few ms after.
WINDOWS=$OUT/windows_run.txt
: >"$WINDOWS"
window() { # window REPLY KIND LABEL
  local at
  at=$(sed -n 's/.* at_ns=\([0-9]*\)$/\1/p' <<<"$1")
  [[ -n $at ]] || return 0
  awk -v a="$at" -v s="$T_START" -v ms="$FAULT_MS" -v k="$2" -v l="$3" \
    'BEGIN { b = a / 1e9 - s; printf "%.3f %.3f %s %s\n", b, b + ms / 1000, k, l }' >>"$WINDOWS"
}
T_START=$EPOCHREALTIME
"$NEMESIS_CLIENT" --ledger "$HISTORY" --token "$TOK" "${NODES[@]}" --keys "$KEYS" \
  --writers "$WRITERS" --readers "$READERS" --sessions "$SESSIONS" --seconds "$SECONDS_RUN" \
  --seed "$SEED" >"$TMP/client.log" 2>&1 &
CLIENT=$!
PIDS+=("$CLIENT")

# The schedule (not a wait for a condition): a partition of edge2, then a
# cut of edge1, each healed by the proxy after FAULT_MS.
sleep "$FAULT_AT_S"
reply=$(ctl 2 "freeze $FAULT_MS")
[[ $reply == ok* ]] && ok "edge2's link frozen for $FAULT_MS ms" || bad "proxy2 freeze: $reply"
window "$reply" partition "partition edge2"
sleep "$((FAULT_MS / 1000 + 1))"
wait_for "edge2 live after the partition" 60 live "${EHTTP[2]}" && ok "edge2 back after the partition"
reply=$(ctl 1 "cut $FAULT_MS")
[[ $reply == ok* ]] && ok "edge1's link cut for $FAULT_MS ms" || bad "proxy1 cut: $reply"
window "$reply" cut "cut edge1"

set +e
wait "$CLIENT"
crc=$?
forget_pid "$CLIENT"
set -e
check "the workload client exits 0" 0 "$crc"
cluster_heal_converge
"$NEMESIS_CLIENT" --ledger "$HISTORY" --token "$TOK" "${NODES[@]}" --keys "$KEYS" --final >>"$TMP/client.log" 2>&1 ||
  bad "final reads failed: $(tail -1 "$TMP/client.log")"

set +e
"$EDGEKV_CHECK" --bound-ms "$BOUND_MS" --slack-ms "$SLACK_MS" "$HISTORY" >"$TMP/check.out" 2>&1
vrc=$?
set -e
cat "$TMP/check.out"
summary=$(grep '^edgekv-check: keys=' "$TMP/check.out" || true)
session_reads=$(sed -n 's/.*(in sessions \([0-9]*\),.*/\1/p' <<<"$summary")
stale_reads=$(sed -n 's/.*marked stale \([0-9]*\),.*/\1/p' <<<"$summary")
sessions=$(sed -n 's/.* sessions=\([0-9]*\) .*/\1/p' <<<"$summary")
check "sessions in the history" "$SESSIONS" "${sessions:-0}"
[[ ${session_reads:-0} -ge $MIN_SESSION_READS ]] && ok "$session_reads session reads" ||
  bad "only ${session_reads:-0} session reads (at least $MIN_SESSION_READS)"
[[ ${stale_reads:-0} -gt 0 ]] && ok "the partition showed: $stale_reads reads marked stale" ||
  bad "no read was marked stale: the partition did not show"
if [[ -z $EXPECT ]]; then
  check "edgekv-check passes" 0 "$vrc"
else
  check "edgekv-check fails on the broken build" 1 "$vrc"
  n=$(grep -c "^VIOLATION $EXPECT on key" "$TMP/check.out" || true)
  [[ $n -gt 0 ]] && ok "the counterexample is a $EXPECT violation" ||
    bad "no $EXPECT violation printed"
fi
# The pictures of the run.
cp "$HISTORY" "$OUT/history.jsonl"
if "$HERE/../../deploy/lab/viz.sh" history "$HISTORY" "$WINDOWS" "$OUT" >"$TMP/viz.log" 2>&1; then
  check "both fault windows recorded for the pictures" 2 "$(wc -l <"$WINDOWS")"
  for f in history_timeline history_latency history_heat; do
    command -v gnuplot >/dev/null || break
    [[ -s $OUT/$f.png && -s $OUT/$f.svg ]] && ok "$f drawn" || bad "$f missing"
  done
else
  bad "viz.sh history failed: $(tail -2 "$TMP/viz.log")"
fi
if [[ $FAIL -ne 0 && -z ${EDGEKV_KEEP_TMP:-} ]]; then
  cp "$HISTORY" "/tmp/history-$SEED.jsonl" && echo "history kept in /tmp/history-$SEED.jsonl"
fi
cluster_stop_proxies
finish
