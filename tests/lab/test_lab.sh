#!/usr/bin/env bash
# test_lab.sh - a short run of deploy/lab/run.sh in loopback mode (no
# namespaces: parallel test runs share no names) on lab12_partition cut to
# 6 hosts and 20 s: the simulator and the lab both run, the report and the
# figure are written, every edge has samples in both worlds, no live write
# became visible at an edge sooner than the one-way delay its proxy was
# configured with, and the writes committed during the New York partition
# reached New York only after the heal (the freeze held them), in both
# worlds. Behaviour of the lab, not speed of edgekv: no assertion compares
# the two worlds' figures.
source "$(dirname "$0")/../process/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$TMP/run
export EDGEKV_LAB_DIR=$TMP/lab

"$REPO/deploy/lab/run.sh" "$REPO/sim/scenarios/lab12_partition.json" --loopback --hosts 6 \
  --seconds 20 --out "$OUT" >"$TMP/run.log" 2>"$TMP/run.err" ||
  { bad "run.sh failed"; tail -n 20 "$TMP/run.log"; tail -n 5 "$TMP/run.err"; }
check "the lab chose loopback as asked" 1 "$(grep -c '^lab: mode loopback' "$OUT/live/lab.txt")"
for f in report.md report.json cdf_all_sim.txt cdf_all_live.txt; do
  [[ -s $OUT/$f ]] && ok "$f written" || bad "$f missing"
done
command -v gnuplot >/dev/null && { [[ -s $OUT/cdf.png ]] && ok "cdf.png drawn" || bad "cdf.png missing"; }
check "the report compares every region and the whole" 6 "$(jq '.compare | length' "$OUT/report.json")"
edges_with() { grep -v '^#' "$1" | awk '{ print $2 }' | sort -u | wc -l; }
check "every edge has simulator samples" 5 "$(edges_with "$OUT/sim/visibility.txt")"
check "every edge has live samples" 5 "$(edges_with "$OUT/live/visibility.txt")"

# No live write seen at an edge sooner after its send than its link's
# configured one-way delay (proxy banners): hit_ms, from the send (before
# the origin committed it) to the GET response that returned it, is an
# upper bound of the visibility whatever the machine's load; the delay
# estimate itself (the midpoint after a miss) may be early by half a poll
# gap, which a loaded machine stretches. A proxy that did not delay would be
# early by the whole delay (11.8 ms or more here).
SLACK_MS=0
declare -A BASE=()
for n in 1 2 3 4 5; do
  BASE[$n]=$(sed -n 's/.*base one-way \([0-9.]*\) ms.*/\1/p' "$TMP/lab/nodes/edge$n.proxy.log")
done
low=$(grep -v '^#' "$OUT/live/visibility.txt" | awk -v b="${BASE[1]} ${BASE[2]} ${BASE[3]} ${BASE[4]} ${BASE[5]}" \
  -v slack="$SLACK_MS" 'BEGIN { split(b, base, " ") } $5 < base[$2] - slack { n++ } END { print n + 0 }')
check "no write visible sooner than its link's one-way delay" 0 "$low"

# The partition of New York (edge 5) at 15 s for 3 s: writes committed in
# it are visible there only after the heal, in both worlds.
held() { # held SAMPLES HEAL_MS START_MS -> writes committed in the window, visible before the heal
  grep -v '^#' "$1" | awk -v h="$2" -v s="$3" '$2 == 5 && $1 >= s && $1 < h - 200 { n++; if ($1 + $3 < h) early++ }
    END { print (n > 0 ? "held " early + 0 : "no writes in the partition") }'
}
read -r lstart ldur _ <"$OUT/faults_live.txt"
check "simulator: partitioned writes wait for the heal" "held 0" "$(held "$OUT/sim/visibility.txt" 18000 15000)"
check "live: partitioned writes wait for the heal" "held 0" \
  "$(held "$OUT/live/visibility.txt" "$(awk -v s="$lstart" -v d="$ldur" 'BEGIN { print s + d }')" "$lstart")"
check "convergence after the heal reported in both worlds" 2 \
  "$(jq '[.sim.heals[0].converge_ms, .live.heals[0].converge_ms] | map(select(. > 0)) | length' "$OUT/report.json")"
check "the lab is down afterwards" "" "$(cat "$TMP/lab/pids" 2>/dev/null)"
finish
