#!/usr/bin/env bash
# test_lab.sh - a short run of deploy/lab/run.sh in loopback mode (no
# namespaces: parallel test runs share no names) on lab12_partition cut to
# 6 hosts and 20 s, with a crash of edge:1 (Istanbul) at 8 s for 2 s, a
# crash of the origin at 11 s for 1 s and a clock jump of edge:2 (Dubai)
# by +300 ms at 5 s added: the simulator and
# the lab both run every fault, the report and the figures are written,
# every edge has samples in both worlds, no live write became visible at an
# edge sooner than the one-way delay its proxy was configured with, the
# writes committed during the New York partition reached New York only
# after the heal (the freeze held them) and those committed while Istanbul
# was down reached it only after its restart, in both worlds; writes sent
# while the origin was down failed in both worlds and none was acknowledged
# then; the crashed nodes were SIGKILLed and started again on the same
# data, the clock step
# reached the shifted node's shim file, and the shaded windows name the
# crash and the clock jump. Behaviour of the lab, not speed of edgekv: no
# assertion compares the two worlds' figures.
source "$(dirname "$0")/../process/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$TMP/run
export EDGEKV_LAB_DIR=$TMP/lab

jq '.faults += [{"type": "crash", "node": "edge:1", "at_s": 8, "duration_s": 2},
                {"type": "crash", "node": "origin", "at_s": 11, "duration_s": 1},
                {"type": "clock_jump", "node": "edge:2", "at_s": 5, "by_ms": 300}]' \
  "$REPO/sim/scenarios/lab12_partition.json" >"$TMP/scenario.json"
"$REPO/deploy/lab/run.sh" "$TMP/scenario.json" --loopback --hosts 6 \
  --seconds 20 --out "$OUT" >"$TMP/run.log" 2>"$TMP/run.err" ||
  { bad "run.sh failed"; tail -n 20 "$TMP/run.log"; tail -n 5 "$TMP/run.err"; }
check "the lab chose loopback as asked" 1 "$(grep -c '^lab: mode loopback' "$OUT/live/lab.txt")"
for f in report.md report.json cdf_all_sim.txt cdf_all_live.txt; do
  [[ -s $OUT/$f ]] && ok "$f written" || bad "$f missing"
done
command -v gnuplot >/dev/null && { [[ -s $OUT/cdf.png ]] && ok "cdf.png drawn" || bad "cdf.png missing"; }
for f in timeline tvis_band heat; do
  command -v gnuplot >/dev/null || break
  [[ -s $OUT/$f.png && -s $OUT/$f.svg ]] && ok "$f drawn" || bad "$f missing"
done
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
# The crash of edge:1 (host edge2, Istanbul) and the clock jump of edge:2
# (edge3, Dubai): both worlds run them, the lab as SIGKILL + restart and as
# a step of the node's shim-shifted wall clock.
check "no fault left to the simulator alone" 0 "$(grep -c 'simulator only' "$TMP/run.log" || true)"
crash=$(awk '$1 == "crash" && $5 == "edge2"' "$OUT/live/faults_more.txt")
read -r _ kill_ns restart_ns _ <<<"${crash:-x 0 0}"
check "the crash recorded for edge2" 1 "$(grep -c . <<<"$crash")"
[[ $((restart_ns - kill_ns)) -ge 2000000000 ]] && ok "edge2 down for the crash's 2 s at least" ||
  bad "edge2 restarted $(((restart_ns - kill_ns) / 1000000)) ms after it was killed"
check "edge2 served twice from one data directory" 2 "$(grep -c 'serving http://' "$TMP/lab/nodes/edge2.log")"
check "the clock jump recorded for edge3" "clock_jump edge:2 edge3 300" \
  "$(awk '$1 == "clock_jump" { print $1, $4, $5, $6 }' "$OUT/live/faults_more.txt")"
check "edge3's wall clock shifted by 300 ms" 300 "$(cat "$TMP/lab/nodes/edge3.shift")"
t0_ns=$(sed -n 's/^# t_start_realtime_ns \([0-9]*\)$/\1/p' "$OUT/live/visibility.txt")
down_ms=$(awk -v a="$kill_ns" -v t="$t0_ns" 'BEGIN { printf "%.3f", (a - t) / 1e6 }')
up_ms=$(awk -v a="$restart_ns" -v t="$t0_ns" 'BEGIN { printf "%.3f", (a - t) / 1e6 }')
held2() { # held2 SAMPLES DOWN_MS UP_MS -> writes committed while edge2 was down, visible before its restart
  grep -v '^#' "$1" | awk -v s="$2" -v u="$3" '$2 == 2 && $1 >= s && $1 < u - 200 { n++; if ($1 + $3 < u) early++ }
    END { print (n > 0 ? "held " early + 0 : "no writes in the crash") }'
}
check "simulator: writes wait for the crashed edge's restart" "held 0" "$(held2 "$OUT/sim/visibility.txt" 8000 10000)"
check "live: writes wait for the crashed edge's restart" "held 0" "$(held2 "$OUT/live/visibility.txt" "$down_ms" "$up_ms")"
# The origin's crash: SIGKILLed and restarted; the writes sent meanwhile
# failed (the simulator's too) and none was acknowledged while it was down.
ocrash=$(awk '$1 == "crash" && $5 == "origin"' "$OUT/live/faults_more.txt")
read -r _ okill_ns orestart_ns _ <<<"${ocrash:-x 0 0}"
check "the origin's crash recorded" 1 "$(grep -c . <<<"$ocrash")"
check "the origin served twice from one data directory" 2 "$(grep -c 'serving http://' "$TMP/lab/nodes/origin.log")"
[[ $(jq '.writes_failed' "$OUT/live/client.json") -gt 0 ]] && ok "live: writes failed while the origin was down" ||
  bad "live: no write failed during the origin's crash"
[[ $(sed -n 's/.* acked [0-9]*, failed \([0-9]*\),.*/\1/p' "$OUT/sim/summary.txt") -gt 0 ]] &&
  ok "simulator: writes failed while the origin was down" || bad "simulator: no write failed"
check "live: no write acknowledged while the origin was down" 0 \
  "$(grep -v '^#' "$OUT/live/visibility.txt" | awk -v a="$okill_ns" -v b="$orestart_ns" -v t="$t0_ns" \
    'BEGIN { lo = (a - t) / 1e6 + 50; hi = (b - t) / 1e6 } $1 > lo && $1 < hi { n++ } END { print n + 0 }')"
for w in sim live; do
  check "$w: the origin's crash shaded" 1 "$(grep -c ' crash crash origin$' "$OUT/windows_$w.txt")"
  check "$w: the crash shaded" 1 "$(grep -c ' crash crash edge:1$' "$OUT/windows_$w.txt")"
  check "$w: the clock jump marked" 1 "$(grep -c ' clock_jump clock_jump +300 ms edge:2$' "$OUT/windows_$w.txt")"
done
check "convergence after the heal reported in both worlds" 2 \
  "$(jq '[.sim.heals[0].converge_ms, .live.heals[0].converge_ms] | map(select(. > 0)) | length' "$OUT/report.json")"
check "the lab is down afterwards" "" "$(cat "$TMP/lab/pids" 2>/dev/null)"
left=0
for c in /proc/[0-9]*/cmdline; do
  tr '\0' ' ' <"$c" 2>/dev/null | grep -qF -- "--data $TMP/lab/nodes/" && left=$((left + 1))
done
check "no node of the lab left running (the restarted one included)" 0 "$left"
finish
