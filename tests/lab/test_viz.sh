#!/usr/bin/env bash
# test_viz.sh - the lab's report and pictures on made-up samples, no nodes:
# report.sh and viz.sh on a 3-edge scenario with a partition of the two
# Sydney edges, a crash and a clock jump, and viz.sh history on a short
# history. Checks:
#   - each edge's partition is dated by its own proxy: the second Sydney
#     proxy froze 300 ms after the first, its writes were held to its own
#     heal + 200 ms, and the live convergence is 200 ms (dated by the first
#     proxy it would be 500 ms);
#   - the shaded windows are the scenario's faults (the simulator: every
#     fault, at its time, for its duration; live: from the first freeze to
#     the last heal) and each is labelled in the figure;
#   - edgekv-band: the same output twice, another with another seed; every
#     CDF point inside its band; the p50 interval holds the sample's median
#     (computed here by sort);
#   - every figure written and non-empty (when gnuplot is installed).
source "$(dirname "$0")/../process/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export EDGEKV_BAND=${EDGEKV_BAND:?set EDGEKV_BAND to edgekv-band}
D=$TMP/run
mkdir -p "$D/live" "$D/sim"

cat >"$D/scenario.json" <<'EOF'
{"name": "viz3", "duration_s": 20, "measure": {"settle_ms": 0}, "workload": {"keys": 20},
 "faults": [
   {"type": "partition", "nodes": "region:sydney", "at_s": 5, "duration_s": 4},
   {"type": "crash", "node": "edge:0", "at_s": 12, "duration_s": 2},
   {"type": "clock_jump", "node": "origin", "at_s": 16, "by_ms": -1500}]}
EOF
printf '#idx\tname\trole\tplace\tapi\tcontrol\tnode_pid\tproxy_pid\tnetns\n' >"$D/live/hosts.tsv"
printf '0\torigin\torigin\tfrankfurt\t127.0.0.1:1\t-\t1\t-\t-\n' >>"$D/live/hosts.tsv"
printf '1\tedge1\tedge\tmadrid\t127.0.0.1:2\t127.0.0.1:3\t1\t1\t-\n' >>"$D/live/hosts.tsv"
printf '2\tedge2\tedge\tsydney\t127.0.0.1:4\t127.0.0.1:5\t1\t1\t-\n' >>"$D/live/hosts.tsv"
printf '3\tedge3\tedge\tsydney\t127.0.0.1:6\t127.0.0.1:7\t1\t1\t-\n' >>"$D/live/hosts.tsv"

# A write every 100 ms; Madrid 12-20 ms, Sydney 120-140 ms (a fixed
# pseudo-random spread); a Sydney write committed while its edge's proxy is
# frozen becomes visible 200 ms after that edge's heal.
# samples WORLD HEAL2_MS HEAL3_MS FREEZE2_MS FREEZE3_MS
samples() {
  awk -v h2="$2" -v h3="$3" -v f2="$4" -v f3="$5" 'BEGIN {
    x = 7; for (t = 0; t < 20000; t += 100) for (e = 1; e <= 3; e++) {
      x = (x * 1103515245 + 12345) % 2147483648; u = x / 2147483648
      d = (e == 1) ? 12 + 8 * u : 120 + 20 * u
      if (e == 2 && t >= f2 && t < h2) d = h2 + 200 - t
      if (e == 3 && t >= f3 && t < h3) d = h3 + 200 - t
      printf "%.3f %d %.3f\n", t, e, d } }'
}
{ echo "# t_ms edge delay_ms"; samples sim 9000 9000 5000 5000; } >"$D/sim/visibility.txt"
T0=1796245322743273756
{ echo "# t_start_realtime_ns $T0"; echo "# t_ms edge delay_ms ack_ms"; samples live 9020 9320 5020 5320; } \
  >"$D/live/visibility.txt"
# faults.txt as run.sh writes it: one line per edge, each dated by its proxy
awk -v t0="$T0" 'BEGIN { printf "%.0f 4000 region:sydney 2 0\n%.0f 4000 region:sydney 3 0\n", t0 + 5020e6, t0 + 5320e6 }' \
  >"$D/live/faults.txt"
echo '{"reads": {"kstale0": 0.99}}' >"$D/sim/summary.json"

"$REPO/deploy/lab/report.sh" "$D/scenario.json" "$D/live/hosts.tsv" "$D/sim/visibility.txt" \
  "$D/live/visibility.txt" "$D/live/faults.txt" "$D/sim/summary.json" "$D" >"$TMP/report.log" 2>&1 ||
  { bad "report.sh failed"; tail -n 5 "$TMP/report.log"; }
check "simulator: convergence after the heal" 200 "$(jq '.sim.heals[0].converge_ms' "$D/report.json")"
check "live: each edge's heal by its own proxy, convergence" 200 "$(jq '.live.heals[0].converge_ms' "$D/report.json")"
check "live: one heal for the fault, not one per edge" 1 "$(jq '.live.heals | length' "$D/report.json")"

# The shaded windows: the scenario's faults, each labelled.
check "simulator windows = the scenario's faults" \
  "5 9 partition|12 14 crash|16 16 clock_jump" \
  "$(awk '{ printf "%s%g %g %s", sep, $1, $2, $3; sep = "|" }' "$D/windows_sim.txt")"
check "live window: first freeze to last heal" "5.020 9.320 partition" \
  "$(awk '{ print $1, $2, $3 }' "$D/windows_live.txt")"
check "one shaded rectangle per simulated fault" 3 "$(grep -c '^set object .* rect from' "$D/windows_sim.gp")"
check "the rectangles' edges are the faults' times" "5.000 9.000|12.000 14.000|16.000 16.050" \
  "$(sed -n 's/^set object [0-9]* rect from \([0-9.]*\), graph 0 to \([0-9.]*\), graph 1.*/\1 \2/p' "$D/windows_sim.gp" | paste -sd'|')"

# The bands.
for w in sim live; do
  check "$w: every CDF point inside its band" 0 \
    "$(awk '!/^#/ && !($3 <= $2 && $2 <= $4) { n++ } END { print n + 0 }' "$D/band_$w.txt")"
  col=$([[ $w == sim ]] && echo "$D/sim/visibility.txt" || echo "$D/live/visibility.txt")
  median=$(grep -v '^#' "$col" | awk '{ print $3 }' | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", v[int(NR * 0.5 + 0.999999)] }')
  check "$w: the p50 is the sample's median" "$median" "$(awk '$2 == "q" && $3 == 50 { print $4 }' "$D/band_$w.txt")"
  check "$w: the p50 interval holds the median" 1 \
    "$(awk -v m="$median" '$2 == "q" && $3 == 50 { print ($5 <= m && m <= $6) ? 1 : 0 }' "$D/band_$w.txt")"
done
vals() { grep -v '^#' "$D/live/visibility.txt" | awk '{ print $3 }'; }
check "edgekv-band is deterministic" "$(vals | "$EDGEKV_BAND" | md5sum)" "$(vals | "$EDGEKV_BAND" | md5sum)"
[[ $(vals | "$EDGEKV_BAND" --seed 2 | md5sum) != $(vals | "$EDGEKV_BAND" | md5sum) ]] &&
  ok "another seed, other bands" || bad "the seed changes nothing"
check "report.md carries the intervals" 3 "$(grep -c '^| p[059]* | [0-9.]* \[' "$D/report.md")"

# A history's pictures.
H=$TMP/h.jsonl
awk 'BEGIN { for (i = 0; i < 400; i++) {
  t0 = 1000000 + i * 25000; op = (i % 3 == 0) ? "put" : "get"; lat = (op == "put" ? 8000 : 500) + (i * 37) % 900
  if (i >= 160 && i < 200) lat += 3000000
  printf "{\"op\":\"%s\",\"node\":\"edge%d\",\"key\":\"k%d\",\"value\":%s,\"t0\":%d,\"t1\":%d,\"outcome\":\"ok\",\"code\":200,\"stale_ms\":-1}\n",
    op, i % 3, i % 5, (op == "put" ? "\"v" i "\"" : "null"), t0, t0 + lat } }' >"$H"
printf '4.000 7.000 partition partition edge2\n' >"$TMP/win.txt"
"$REPO/deploy/lab/viz.sh" history "$H" "$TMP/win.txt" "$TMP/hist" >"$TMP/viz.log" 2>&1 ||
  { bad "viz.sh history failed"; tail -n 5 "$TMP/viz.log"; }
check "history: gets and puts banded" 2 "$(cat "$TMP/hist/band_get.txt" "$TMP/hist/band_put.txt" | grep -c '^# q 50 ')"
check "history: the window shaded" 1 "$(grep -c '^set object .* rect from 4.000, graph 0 to 7.000' "$TMP/hist/windows.gp")"

if command -v gnuplot >/dev/null; then
  for f in cdf timeline tvis_band heat; do
    [[ -s $D/$f.png && -s $D/$f.svg ]] && ok "$f drawn" || bad "$f missing"
  done
  for l in "partition region:sydney" "crash edge:0" "clock_jump -1500 ms origin"; do
    check "the timeline labels $l" 1 "$(grep -c ">$l<" "$D/timeline.svg" | awk '{ print ($1 > 0) }')"
  done
  for f in history_timeline history_latency history_heat; do
    [[ -s $TMP/hist/$f.png && -s $TMP/hist/$f.svg ]] && ok "$f drawn" || bad "$f missing"
  done
fi
finish
