#!/usr/bin/env bash
# run.sh - one scenario, two worlds: runs a sim/scenarios/*.json file in the
# simulator (edgekv-sim) and in the network lab (lab.sh: real nodes, the
# scenario's delays on every link), and writes the same outputs for both and
# the comparison (report.sh).
#
#   run.sh SCENARIO [--out DIR] [--hosts N] [--loopback] [--seconds S]
#
# --seconds shortens the workload in both worlds (the CI run); --hosts and
# --loopback go to lab.sh up. What the lab takes from the scenario: the
# topology (origin, regions with explicit edge counts), the link model (to
# the proxies), the heartbeat and propagation bound (to the nodes), the
# workload's write rate, keys and value size (to the client, which writes at
# the origin and polls every edge), the duration, and the faults at their
# times: partitions to the proxies as freezes (the simulator's partition
# holds frames and retransmits them after the heal, and so does a frozen
# proxy); crashes as SIGKILL and a restart after duration_s with the same
# data and flags; clock jumps as steps of the nodes' wall clocks (lab.sh:
# the clock shim). An edge's crash makes its polls fail until the restart:
# the client counts them as misses (--reconnect-reads); the origin's makes
# the writes sent while it is down fail: the client counts them and takes
# no sample of them (--reconnect-writes), as the simulator's failed writes
# have none. Outputs in DIR (default sim/docs/lab/NAME):
#   sim/        edgekv-sim's results and visibility.txt
#   live/       visibility.txt, faults.txt (partitions, one line per edge),
#               faults_more.txt (crashes and clock jumps: "KIND START_NS
#               END_NS SELECTOR NODE [BY_MS]"), hosts.tsv, the client's summary
#               (client.json), the proxies' counters and own lateness
#               (proxy_stats.txt), the load average before and after
#   report.md, report.json, cdf.png, cdf.svg and the CDF data files.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${EDGEKV_BUILD_DIR:-$REPO/build}
[[ $BUILD = /* ]] || BUILD=$REPO/$BUILD
export EDGEKV_BUILD_DIR=$BUILD
SIM=$BUILD/sim/edgekv-sim
CLIENT=$BUILD/tests/bench/repl_lag
LAB_DIR=${EDGEKV_LAB_DIR:-/tmp/edgekv-lab}
export EDGEKV_LAB_DIR=$LAB_DIR
POLL_US=1000        # the client's finest poll gap per edge
POLL_BACKOFF=0.002  # or this fraction of a write's age when longer (10 ms after 5 s)
CLIENT_CONNS=4      # write connections to the origin
PROBE_SLACK_S=60    # a write must be visible everywhere this long after the longest partition

die() { echo "run.sh: $*" >&2; exit 1; }

SCEN=${1:?usage: run.sh SCENARIO [--out DIR] [--hosts N] [--loopback] [--seconds S]}
shift
OUT= SECONDS_OVERRIDE= HOSTS_OVERRIDE= LAB_ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --out) OUT=$2; shift 2 ;;
  --hosts) HOSTS_OVERRIDE=$2; shift 2 ;;
  --loopback) LAB_ARGS+=(--loopback); shift ;;
  --seconds) SECONDS_OVERRIDE=$2; shift 2 ;;
  *) die "unknown option $1" ;;
  esac
done
[[ -f $SCEN ]] || die "no scenario $SCEN"
for b in "$SIM" "$CLIENT" "$BUILD/node/edgekv" "$BUILD/sim/edgekv-proxy"; do
  [[ -x $b ]] || die "$b is missing (build first: deploy/build.sh)"
done
NAME=$(jq -r .name "$SCEN")
OUT=${OUT:-$REPO/sim/docs/lab/$NAME}
rm -rf "$OUT/sim" "$OUT/live"
mkdir -p "$OUT/sim" "$OUT/live"

# The scenario both worlds run: the duration shortened when asked; with
# --hosts N, the topology cut to its first N-1 edges (in the simulator's
# order, region by region) and the faults on regions left out dropped.
jq --argjson s "${SECONDS_OVERRIDE:-null}" --argjson h "${HOSTS_OVERRIDE:-null}" '
  (if $s then .duration_s = $s else . end)
  | if $h then
      (reduce .topology.regions[] as $r ({left: ($h - 1), out: []};
         ($r | if type == "object" then (.edges // 0) else 0 end) as $n
         | ([$n, .left] | min) as $k
         | if $k > 0 then .out += [($r | .edges = $k)] | .left -= $k else . end)
         | .out) as $regs
      | .topology.regions = $regs | .topology.edges = ($h - 1)
      | ([$regs[].name]) as $names
      | .faults = [(.faults // [])[] | select((.nodes // .node // "all") as $sel
          | ($sel | startswith("region:") | not) or ($names | index($sel[7:])))]
    else . end' "$SCEN" >"$OUT/scenario.json"
SCEN=$OUT/scenario.json
DUR=$(jq '.duration_s // 60' "$SCEN")
RATE=$(jq '.workload.writes_per_s // 10' "$SCEN")
KEYS=$(jq '.workload.keys // 1000' "$SCEN")
VALUE_BYTES=$(jq '.workload.value_size | if type == "number" then . elif .type == "constant" then .value else 100 end | floor' "$SCEN")

echo "== simulator"
"$SIM" "$SCEN" --out "$OUT/sim" --visibility "$OUT/sim/visibility.txt" | tee "$OUT/sim/summary.txt"

echo "== live lab"
trap '"$HERE/lab.sh" down >/dev/null 2>&1 || true' EXIT
"$HERE/lab.sh" up "$SCEN" "${LAB_ARGS[@]}" | tee "$OUT/live/lab.txt"
cp "$LAB_DIR/hosts.tsv" "$OUT/live/hosts.tsv"
ORIGIN=$(awk -F'\t' '$3 == "origin" { print $5 }' "$LAB_DIR/hosts.tsv")
READS=$(awk -F'\t' '$1 !~ /^#/ && $3 == "edge" { printf "%s%s", sep, $5; sep = "," }' "$LAB_DIR/hosts.tsv")
ACCT=acctlab TOKEN=lab-token-0123456789abcdef
NSID=$(curl -s -m 10 -X POST -H "Authorization: Bearer $TOKEN" -d "{\"title\":\"lab-$$\"}" \
  "http://$ORIGIN/client/v4/accounts/$ACCT/storage/kv/namespaces" | jq -r .result.id)
[[ ${#NSID} == 32 ]] || die "cannot create a namespace at the origin"
# The namespace reaches every edge before the first write.
for api in ${READS//,/ }; do
  for ((t = 0; t < 300; t++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-EdgeKV-Namespace: $NSID" \
      -H "Authorization: Bearer $TOKEN" "http://$api/nothing?urlencoded=true")
    [[ $code == 404 ]] && break
    sleep 0.1
  done
done

# The partitions, at their times after the client starts. lab.sh freezes
# the selected edges' proxies one after the other, so each edge is dated by
# its own proxy: one line of faults.txt per edge, "AT_NS MS SELECTOR EDGE
# FAULT" (when that proxy's freeze took effect, CLOCK_REALTIME ns from its
# at_ns= answer; the duration in ms; the scenario's selector; the edge's
# number in hosts.tsv; the fault's number in the scenario). That edge's heal
# is AT_NS + MS, by the same proxy's timer.
: >"$OUT/live/faults.txt"
FAULT_PIDS=()
MAX_PART_S=0
while read -r fno at dur sel; do
  [[ -n $at ]] || continue
  MAX_PART_S=$(awk -v a="$MAX_PART_S" -v b="$dur" 'BEGIN { print (b > a ? b : a) }')
  (
    sleep "$at"
    lsel=$([[ $sel == origin ]] && echo all || echo "$sel")
    ms=$(awk -v d="$dur" 'BEGIN { printf "%d", d * 1000 }')
    lines=$("$HERE/lab.sh" fault partition "$lsel" "$ms" |
      sed -n 's/^lab: [^ ]*: edge\([0-9]*\): ok .* at_ns=\([0-9]*\)$/\2 \1/p')
    [[ -n $lines ]] || { echo "run.sh: no freeze time from the proxies of $sel" >&2; exit 1; }
    while read -r at_ns edge; do
      echo "$at_ns $ms $sel $edge $fno"
    done <<<"$lines" >>"$OUT/live/faults.txt"
  ) &
  FAULT_PIDS+=($!)
done < <(jq -r --argjson d "$DUR" '.faults // [] | to_entries[] | .key as $k | .value
  | select(.type == "partition" and .at_s < $d) | "\($k) \(.at_s) \(.duration_s // 1) \(.nodes // .node // "all")"' "$SCEN")

# Crashes and clock jumps, at their times: "KIND START_NS END_NS SELECTOR
# NODE [BY_MS]" lines of faults_more.txt, from lab.sh's at_ns= answers (a
# crash from the node gone to its start again; a clock jump at its step).
: >"$OUT/live/faults_more.txt"
RECONNECT=()
while read -r kind at val sel; do
  [[ -n $kind ]] || continue
  if [[ $kind == crash ]]; then
    RECONNECT=(--reconnect-reads --reconnect-writes)
    MAX_PART_S=$(awk -v a="$MAX_PART_S" -v b="$val" 'BEGIN { print (b > a ? b : a) }')
  fi
  (
    sleep "$at"
    if [[ $kind == crash ]]; then
      out=$("$HERE/lab.sh" fault crash "$sel" "$(awk -v d="$val" 'BEGIN { printf "%d", d * 1000 }')")
      while read -r node; do
        k=$(sed -n "s/^lab: [^ ]*: $node: killed pid [0-9]* at_ns=\([0-9]*\)$/\1/p" <<<"$out")
        r=$(sed -n "s/^lab: [^ ]*: $node: restarted pid [0-9]* at_ns=\([0-9]*\),.*/\1/p" <<<"$out")
        echo "crash ${k:?} ${r:?} $sel $node"
      done < <(sed -n 's/^lab: [^ ]*: \([a-z0-9]*\): killed .*/\1/p' <<<"$out")
    else
      "$HERE/lab.sh" fault clock "$sel" "$val" |
        sed -n "s/^lab: [^ ]*: \([a-z0-9]*\): clock stepped by \(-*[0-9]*\) ms.* at_ns=\([0-9]*\)$/clock_jump \3 \3 $sel \1 \2/p"
    fi >>"$OUT/live/faults_more.txt"
  ) &
  FAULT_PIDS+=($!)
done < <(jq -r --argjson d "$DUR" '.faults[]? | select(.at_s < $d)
  | select(.type == "clock_jump" or .type == "crash")
  | "\(.type) \(.at_s) \(if .type == "crash" then (.duration_s // 1) else .by_ms end) \(.node // .nodes // "all")"' "$SCEN")

echo "start $(cat /proc/loadavg) $(nproc) cpus" >"$OUT/live/machine.txt"
"$CLIENT" lag --write-addr "$ORIGIN" --read-addrs "$READS" --acct "$ACCT" --ns "$NSID" \
  --token "$TOKEN" --rate "$RATE" --seconds "$DUR" --conns "$CLIENT_CONNS" --probe-every 1 \
  --poll-from ack --poll-us "$POLL_US" --poll-backoff "$POLL_BACKOFF" --estimate mid "${RECONNECT[@]}" \
  --keys "$KEYS" --value-bytes "$VALUE_BYTES" --prefix lab \
  --probe-timeout "$(awk -v m="$MAX_PART_S" -v s="$PROBE_SLACK_S" 'BEGIN { print m + s }')" \
  --lab-samples "$OUT/live/visibility.txt" >"$OUT/live/client.json"
for p in "${FAULT_PIDS[@]}"; do wait "$p"; done
echo "end $(cat /proc/loadavg) $(nproc) cpus" >>"$OUT/live/machine.txt"
"$HERE/lab.sh" stats >"$OUT/live/proxy_stats.txt"
"$HERE/lab.sh" down >/dev/null
trap - EXIT

echo "== report"
"$HERE/report.sh" "$SCEN" "$OUT/live/hosts.tsv" "$OUT/sim/visibility.txt" \
  "$OUT/live/visibility.txt" "$OUT/live/faults.txt" "$OUT/sim/summary.json" "$OUT"
cat "$OUT/report.md"
