#!/usr/bin/env bash
# run.sh - the nemesis run: an origin (sync=always) and three edges over
# mutual TLS (edge3 with --strict-staleness true: it refuses reads while
# stale), each edge's replication link through its own fault proxy
# (edgekv-proxy, sim/proxy.c, without delays), under the workload of nemesis_client
# (tests/nemesis/client.c) for DURATION_S seconds, while a seeded nemesis
# every few seconds SIGKILLs and restarts the origin, SIGKILLs and restarts
# an edge, or cuts or freezes an edge's link for a few seconds. At the end
# it heals every link, waits (bounded) until every edge's /digest equals the
# origin's, reads every key at every node, and runs edgekv-check
# (sim/hcheck.h) over the ledger: no acknowledged write lost, no
# deleted key back, one final value per key everywhere, reads at the origin
# linearizable, reads at an edge within the propagation bound or marked
# stale.
#
# Usage: run.sh DURATION_S [--seed N] [--interval-ms MS] [--keys K]
#               [--writers W] [--readers R] [--slack-ms MS] [--allow-stale-reads]
# --allow-stale-reads: stale reads at an edge are counted and printed but do
# not fail the run (see tests/nemesis/README.md, "Findings").
# The binaries come from $EDGEKV, $CUTPROXY, $NEMESIS_CLIENT and
# $EDGEKV_CHECK (ctest sets them), else from $BUILD (default: build/ at the
# top of the source tree). The seed is printed; the same seed replays the
# same fault schedule (the timing of the workload around it differs).
# EDGEKV_KEEP_TMP=1 keeps the directory with the ledger and every log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../../build}
export EDGEKV=${EDGEKV:-$BUILD/node/edgekv}
CUTPROXY=${CUTPROXY:-$BUILD/sim/edgekv-proxy}
NEMESIS_CLIENT=${NEMESIS_CLIENT:-$BUILD/tests/nemesis/nemesis_client}
EDGEKV_CHECK=${EDGEKV_CHECK:-$BUILD/sim/edgekv-check}

DURATION=${1:?usage: run.sh DURATION_S [--seed N] [--interval-ms MS] [--keys K] [--writers W] [--readers R] [--slack-ms MS] [--allow-stale-reads]}
shift
SEED=$(((RANDOM << 15) | RANDOM))
INTERVAL_MS=3000 # mean time between two faults
KEYS=32 WRITERS=4 READERS=4
BOUND_MS=1000 # the edges' propagation bound (the default)
FAULT_MS_MIN=1000 FAULT_MS_SPAN=3000 # a cut or freeze lasts 1-4 s
# Slack on top of the bound for the edge-read check: scheduling, between a
# client's clock readings and the node's. Nothing for faults: an edge dates
# what it has caught up with by round-trip probes, so a frozen link's late
# frames make it stale, not wrong (README, "Nemesis runs").
SLACK_MS=1000
CHECK_OPTS=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --allow-stale-reads) CHECK_OPTS+=(--allow-stale-reads); shift; continue ;;
  --seed) SEED=$2 ;;
  --interval-ms) INTERVAL_MS=$2 ;;
  --keys) KEYS=$2 ;;
  --writers) WRITERS=$2 ;;
  --readers) READERS=$2 ;;
  --slack-ms) SLACK_MS=$2 ;;
  *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
source "$HERE/../process/lib.sh"
for b in "$CUTPROXY" "$NEMESIS_CLIENT" "$EDGEKV_CHECK"; do
  [[ -x $b ]] || { echo "run.sh: $b is missing (build the tests)"; exit 2; }
done

source "$HERE/cluster.sh"
# Every node comes back on the same ports after a SIGKILL: the client and
# the proxies were told them once.
cluster_ports
# The fault schedule is a function of the seed alone (cluster_ports drew
# from RANDOM before this).
RANDOM=$SEED
echo "nemesis: seed $SEED, $DURATION s, a fault every ~$INTERVAL_MS ms, $KEYS keys, $WRITERS writers, $READERS readers"

cluster_start

LEDGER=$TMP/ledger.jsonl
"$NEMESIS_CLIENT" --ledger "$LEDGER" --token "$TOK" "${NODES[@]}" --keys "$KEYS" \
  --writers "$WRITERS" --readers "$READERS" --seconds $((DURATION + 60)) --stop "$TMP/stop" \
  --seed "$SEED" >"$TMP/client.log" 2>&1 &
CLIENT=$!
PIDS+=("$CLIENT")

# The nemesis. Faults come in rounds of three, one of each kind in a seeded
# order, so every kind is drawn about as often whatever the seed. The pause
# between faults is the schedule (not a wait for a condition).
declare -A FAULTS=([origin_kill]=0 [edge_kill]=0 [link_cut]=0 [link_freeze]=0)
bag=()
t_end=$((SECONDS + DURATION))
while [[ $SECONDS -lt $t_end ]]; do
  if [[ ${#bag[@]} -eq 0 ]]; then
    bag=(origin edge link)
    for i in 2 1; do # Fisher-Yates
      j=$((RANDOM % (i + 1)))
      tmp=${bag[$i]} bag[$i]=${bag[$j]} bag[$j]=$tmp
    done
  fi
  kind=${bag[0]} bag=("${bag[@]:1}")
  n=$((RANDOM % 3 + 1))
  ms=$((FAULT_MS_MIN + RANDOM % FAULT_MS_SPAN))
  pause_ms=$((INTERVAL_MS / 2 + RANDOM % (INTERVAL_MS + 1)))
  case $kind in
  origin)
    PID=$OPID stop_node KILL
    start_origin
    FAULTS[origin_kill]=$((FAULTS[origin_kill] + 1))
    echo "nemesis: t=$((SECONDS - t_end + DURATION))s SIGKILL origin, restarted (pid $OPID)"
    ;;
  edge)
    PID=${EPID[$n]} stop_node KILL
    start_edge_n "$n"
    FAULTS[edge_kill]=$((FAULTS[edge_kill] + 1))
    echo "nemesis: t=$((SECONDS - t_end + DURATION))s SIGKILL edge$n, restarted (pid ${EPID[$n]})"
    ;;
  link)
    if ((RANDOM % 2)); then f=cut; else f=freeze; fi
    reply=$(ctl "$n" "$f $ms")
    [[ $reply == ok* ]] || bad "proxy$n: $f: $reply"
    FAULTS[link_$f]=$((FAULTS[link_$f] + 1))
    echo "nemesis: t=$((SECONDS - t_end + DURATION))s $f edge$n's link for $ms ms: $reply"
    ;;
  esac
  sleep "$((pause_ms / 1000)).$(printf %03d $((pause_ms % 1000)))"
done

# Quiet: the workload stops, every link heals, the cluster converges.
touch "$TMP/stop"
set +e
wait "$CLIENT"
crc=$?
forget_pid "$CLIENT"
set -e
check "the workload client exits 0" 0 "$crc"
cluster_heal_converge
"$NEMESIS_CLIENT" --ledger "$LEDGER" --token "$TOK" "${NODES[@]}" --keys "$KEYS" --final >>"$TMP/client.log" 2>&1 ||
  bad "final reads failed: $(tail -1 "$TMP/client.log")"

set +e
"$EDGEKV_CHECK" --bound-ms "$BOUND_MS" --slack-ms "$SLACK_MS" "${CHECK_OPTS[@]}" "$LEDGER" >"$TMP/check.out" 2>&1
vrc=$?
set -e
cat "$TMP/check.out"
check "edgekv-check over the ledger" 0 "$vrc"
for n in 1 2 3; do echo "proxy$n: $(ctl "$n" stats)"; done
echo "nemesis: seed $SEED; faults: origin SIGKILL ${FAULTS[origin_kill]}, edge SIGKILL ${FAULTS[edge_kill]}, link cut ${FAULTS[link_cut]}, link freeze ${FAULTS[link_freeze]}"
[[ ${FAULTS[origin_kill]} -gt 0 && ${FAULTS[edge_kill]} -gt 0 && $((FAULTS[link_cut] + FAULTS[link_freeze])) -gt 0 ]] &&
  ok "every kind of fault was applied" || bad "a kind of fault was never applied"
if [[ $vrc -ne 0 && -z ${EDGEKV_KEEP_TMP:-} ]]; then
  cp "$LEDGER" "/tmp/nemesis-ledger-$SEED.jsonl" && echo "ledger kept in /tmp/nemesis-ledger-$SEED.jsonl"
fi
cluster_stop_proxies
finish
