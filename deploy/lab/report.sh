#!/usr/bin/env bash
# report.sh - the sim-vs-live comparison of one scenario run in both worlds
# (deploy/lab/run.sh writes its inputs):
#
#   report.sh SCENARIO HOSTS_TSV SIM_SAMPLES LIVE_SAMPLES LIVE_FAULTS SIM_SUMMARY OUT_DIR
#
# SIM_SAMPLES and LIVE_SAMPLES are "t_ms edge delay_ms" lines (edgekv-sim
# --visibility; repl_lag --lab-samples): for every write and edge, when the
# write was committed (the origin's acknowledgement in the lab) and how long
# until the edge served it. Both go through the same code here:
#   - samples committed before the scenario's settle_ms are left out in both
#     worlds (the simulator's edges are still connecting then; the lab's
#     are live before the first write);
#   - p50/p90/p99 of write -> visible, per region and overall (nearest rank);
#   - the t-visibility CDF (overall and per region) as data files and a
#     gnuplot figure of both worlds;
#   - per-edge lag: the mean and p99 per edge;
#   - the fresh-read fraction: reads spread uniformly over time, edges and
#     keys (the scenario's keys, uniform popularity) see the latest value
#     unless a write to the key is committed but not yet visible there, so
#     the stale fraction is the sum over samples of the stale time
#     (delay_ms, cut at the end of the run) over keys x edges x run time;
#     the simulator's own reads (k-staleness k = 0) are printed beside it as
#     a check of that derivation;
#   - convergence after each partition heals: from the heal to the moment
#     the last write committed before the heal is visible at every
#     partitioned edge (0 when none was outstanding at the heal).
#   - per edge of a fault dated edge by edge (run.sh: each edge by its own
#     proxy's freeze), that edge's samples against that edge's heal.
# Writes OUT_DIR/report.md, report.json, the CDF data files, cdf.png,
# cdf.svg (gnuplot, when installed), and viz.sh's pictures: timeline,
# tvis_band and heat (.png, .svg) with their data files.
set -euo pipefail

[[ $# == 7 ]] || { echo "usage: report.sh SCENARIO HOSTS_TSV SIM_SAMPLES LIVE_SAMPLES LIVE_FAULTS SIM_SUMMARY OUT_DIR" >&2; exit 2; }
SCEN=$1 HOSTS=$2 SIMS=$3 LIVES=$4 LFAULTS=$5 SIMSUM=$6 OUT=$7
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
TARGET_PCT=10 # live within this many percent of the simulator at p50, p90, p99

SETTLE_MS=$(jq '.measure.settle_ms // 5000' "$SCEN")
KEYS=$(jq '.workload.keys // 1000' "$SCEN")
DUR_MS=$(jq '(.duration_s // 60) * 1000' "$SCEN")
NAME=$(jq -r .name "$SCEN")

# edge number -> region, from the lab's hosts (the simulator's order).
EDGEMAP=$(awk -F'\t' '$1 !~ /^#/ && $3 == "edge" { printf "%s%s=%s", sep, $1, $4; sep = "," }' "$HOSTS")
NEDGES=$(awk -F'\t' '$1 !~ /^#/ && $3 == "edge"' "$HOSTS" | wc -l)

# Partition windows per world: "start_ms dur_ms selector edge fault" lines,
# the fault's number in the scenario grouping them; edge "-": every edge the
# selector matches, from one date (the simulator's partitions, and live
# runs recorded before each edge was dated by its own proxy, whose
# faults.txt lines have three fields); else the one edge that line dates.
jq -r '.faults // [] | to_entries[] | .key as $k | .value | select(.type == "partition")
  | "\(.at_s * 1000) \((.duration_s // 1) * 1000) \(.nodes // .node // "all") - \($k)"' \
  "$SCEN" >"$OUT/faults_sim.txt"
LSTART=$(sed -n 's/^# t_start_realtime_ns \([0-9]*\)$/\1/p' "$LIVES")
awk -v t0="$LSTART" '{ printf "%.3f %s %s %s %s\n", ($1 - t0) / 1e6, $2, $3, (NF >= 5 ? $4 : "-"), (NF >= 5 ? $5 : "o" NR) }' \
  "$LFAULTS" | sort -s -n -k5,5 >"$OUT/faults_live.txt"
# The lab's crashes and clock jumps (run.sh: faults_more.txt beside
# LIVE_FAULTS), as windows for the pictures: "start_s end_s kind label".
LMORE=$(dirname "$LFAULTS")/faults_more.txt
if [[ -s $LMORE ]]; then
  awk -v t0="$LSTART" '{ l = $1 ($1 == "clock_jump" ? " " ($6 > 0 ? "+" : "") $6 " ms" : "") " " $4
    printf "%.3f %.3f %s %s\n", ($2 - t0) / 1e9, ($3 - t0) / 1e9, $1, l }' "$LMORE" >"$OUT/windows_live_more.txt"
else
  rm -f "$OUT/windows_live_more.txt"
fi

# analyse WORLD SAMPLES FAULTS -> one JSON object on stdout, CDF files.
analyse() {
  local world=$1 samples=$2 faults=$3
  # Sorted by delay: every group's values arrive in order (quantiles by rank).
  awk -v world="$world" -v settle="$SETTLE_MS" -v keys="$KEYS" -v dur="$DUR_MS" \
    -v edgemap="$EDGEMAP" -v nedges="$NEDGES" -v faultfile="$faults" -v out="$OUT" '
    function q(arr, n, p,   i) { i = int(p * n + 0.999999); if (i < 1) i = 1; return arr[i] }
    function selected(sel, e, reg,   s) {
      if (sel == "all" || sel == "origin") return 1
      if (sel ~ /^region:/) { s = sel; sub(/^region:/, "", s); return s == reg }
      if (sel ~ /^edge:/) { s = sel; sub(/^edge:/, "", s); return s + 1 == e }
      return 0
    }
    BEGIN {
      n = split(edgemap, em, ",")
      for (i = 1; i <= n; i++) { split(em[i], kv, "="); region[kv[1]] = kv[2]; if (!(kv[2] in seen)) { seen[kv[2]] = 1; regs[++nr] = kv[2] } }
      # one line per fault, or per edge of a fault dated edge by edge: a
      # sample is judged against its own edge'"'"'s heal; a fault'"'"'s
      # convergence is the worst over its edges, its window from its first
      # freeze to its last heal
      nf = 0; ng = 0
      while ((getline line < faultfile) > 0) {
        split(line, f, " "); nf++; fstart[nf] = f[1]; fdur[nf] = f[2]; fsel[nf] = f[3]; fedge[nf] = f[4]
        g = f[5]; if (!(g in gi)) { gi[g] = ++ng; gsel[ng] = f[3]; gstart[ng] = f[1]; gend[ng] = f[1] + f[2] }
        fg[nf] = gi[g]; if (f[1] < gstart[gi[g]]) gstart[gi[g]] = f[1]; if (f[1] + f[2] > gend[gi[g]]) gend[gi[g]] = f[1] + f[2]
      }
    }
    {
      t = $1; e = $2; d = $3; reg = region[e]
      for (k = 1; k <= nf; k++) {
        if (fedge[k] != "-" && fedge[k] != e) continue
        heal = fstart[k] + fdur[k]; g = fg[k]
        if (selected(fsel[k], e, reg) && t < heal && t + d > heal && t + d - heal > conv[g]) conv[g] = t + d - heal
      }
      if (t < settle) next
      all[++na] = d; r[reg, ++rn[reg]] = d
      es[e] += d; en[e]++; ev[e, en[e]] = d
      stale += (t + d > dur + 0 ? (dur > t ? dur - t : 0) : d)
      if (t > tmax) tmax = t
    }
    END {
      printf "{\"world\":\"%s\",\"samples\":%d,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f", world, na, q(all, na, .5), q(all, na, .9), q(all, na, .99), all[na]
      window = dur - settle
      printf ",\"fresh_read_fraction\":%.6f", 1 - stale / (keys * nedges * window)
      printf ",\"regions\":["
      for (i = 1; i <= nr; i++) {
        g = regs[i]; m = rn[g]; delete tmp
        for (j = 1; j <= m; j++) tmp[j] = r[g, j]
        printf "%s{\"region\":\"%s\",\"samples\":%d,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f}", (i > 1 ? "," : ""), g, m, q(tmp, m, .5), q(tmp, m, .9), q(tmp, m, .99)
        # CDF per region: ms, fraction
        for (j = 1; j <= m; j++) printf "%s %s %.3f %.6f\n", world, g, tmp[j], j / m > (out "/cdf_regions_" world ".txt")
      }
      printf "],\"edges\":["
      for (e = 1; e <= nedges; e++) {
        m = en[e]; delete tmp
        for (j = 1; j <= m; j++) tmp[j] = ev[e, j]
        printf "%s{\"edge\":%d,\"region\":\"%s\",\"mean_ms\":%.3f,\"p99_ms\":%.3f}", (e > 1 ? "," : ""), e, region[e], m ? es[e] / m : 0, m ? q(tmp, m, .99) : 0
      }
      printf "],\"heals\":["
      for (g = 1; g <= ng; g++)
        printf "%s{\"selector\":\"%s\",\"at_ms\":%.1f,\"duration_ms\":%.1f,\"converge_ms\":%.1f}", (g > 1 ? "," : ""), gsel[g], gstart[g], gend[g] - gstart[g], conv[g] + 0
      printf "]}\n"
      for (j = 1; j <= na; j++) printf "%.3f %.6f\n", all[j], j / na > (out "/cdf_all_" world ".txt")
    }' < <(grep -v '^#' "$samples" | sort -g -k3,3)
}

SIMJ=$(analyse sim "$SIMS" "$OUT/faults_sim.txt")
LIVEJ=$(analyse live "$LIVES" "$OUT/faults_live.txt")
SIM_READS=$(jq '.reads.kstale0 // null' "$SIMSUM" 2>/dev/null || echo null)

jq -n --argjson sim "$SIMJ" --argjson live "$LIVEJ" --arg name "$NAME" --argjson target "$TARGET_PCT" \
  --argjson simreads "$SIM_READS" --argjson settle "$SETTLE_MS" '
  def pct(a; b): if a == 0 then null else ((b - a) / a * 100 * 10 | round / 10) end;
  def within(a; b): (pct(a; b) // 0 | fabs) <= $target;
  {scenario: $name, settle_ms: $settle, target_pct: $target,
   sim: $sim, live: $live, sim_reads_fresh_fraction: $simreads,
   compare: ([{region: "all", s: $sim, l: $live}] + [range(0; $sim.regions | length) as $i
              | {region: $sim.regions[$i].region, s: $sim.regions[$i], l: $live.regions[$i]}])
     | map({region, sim: {p50: .s.p50_ms, p90: .s.p90_ms, p99: .s.p99_ms},
            live: {p50: .l.p50_ms, p90: .l.p90_ms, p99: .l.p99_ms},
            diff_pct: {p50: pct(.s.p50_ms; .l.p50_ms), p90: pct(.s.p90_ms; .l.p90_ms), p99: pct(.s.p99_ms; .l.p99_ms)},
            within_target: (within(.s.p50_ms; .l.p50_ms) and within(.s.p90_ms; .l.p90_ms) and within(.s.p99_ms; .l.p99_ms))})}
  ' >"$OUT/report.json"

# report.md from report.json
jq -r '
  def f: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
  def d: if . == null then "-" else ((if . > 0 then "+" else "" end) + tostring + " %") end;
  "# \(.scenario): simulator vs live lab\n",
  "Write -> visible at each edge (ms; samples committed after the first \(.settle_ms / 1000) s). Target: live within \(.target_pct) % of the simulator at p50, p90 and p99.\n",
  "| region | sim p50 | live p50 | diff | sim p90 | live p90 | diff | sim p99 | live p99 | diff | within |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
  (.compare[] | "| \(.region) | \(.sim.p50|f) | \(.live.p50|f) | \(.diff_pct.p50|d) | \(.sim.p90|f) | \(.live.p90|f) | \(.diff_pct.p90|d) | \(.sim.p99|f) | \(.live.p99|f) | \(.diff_pct.p99|d) | \(if .within_target then "yes" else "no" end) |"),
  "",
  "Samples: simulator \(.sim.samples), live \(.live.samples).\n",
  "| | simulator | live |",
  "|---|---:|---:|",
  "| fresh-read fraction (from the samples) | \(.sim.fresh_read_fraction * 10000 | round / 10000) | \(.live.fresh_read_fraction * 10000 | round / 10000) |",
  "| fresh-read fraction (the simulator'"'"'s own reads) | \(if .sim_reads_fresh_fraction == null then "-" else (.sim_reads_fresh_fraction * 10000 | round / 10000 | tostring) end) | - |",
  (range(0; .sim.heals | length) as $i | "| convergence after heal \($i + 1) (\(.sim.heals[$i].selector), \(.sim.heals[$i].duration_ms / 1000) s) | \(.sim.heals[$i].converge_ms|f) ms | \(.live.heals[$i].converge_ms // null|f) ms |"),
  "",
  "Per edge (mean / p99 ms):\n",
  "| edge | region | sim mean | live mean | sim p99 | live p99 |",
  "|---:|---|---:|---:|---:|---:|",
  (range(0; .sim.edges | length) as $i | "| \(.sim.edges[$i].edge) | \(.sim.edges[$i].region) | \(.sim.edges[$i].mean_ms|f) | \(.live.edges[$i].mean_ms|f) | \(.sim.edges[$i].p99_ms|f) | \(.live.edges[$i].p99_ms|f) |"),
  "",
  "![t-visibility CDFs](cdf.png)"
  ' "$OUT/report.json" >"$OUT/report.md"

# The live run's conditions: the machine's load and each proxy's own
# lateness (the delay it added beyond the model: timer and scheduling).
LIVEDIR=$(dirname "$LIVES")
{
  echo
  echo "Live run conditions:"
  echo
  [[ -f $LIVEDIR/machine.txt ]] && sed 's/^\([a-z]*\) \([^ ]*\) \([^ ]*\) \([^ ]*\) .* \([0-9]*\) cpus$/- load average at the \1: \2 (1 min), \3 (5 min), \4 (15 min) on \5 CPUs/' "$LIVEDIR/machine.txt"
  [[ -f $LIVEDIR/client.json ]] && jq -r '"- the client: \(.writes) writes, origin acknowledgement p50 \(.ack_p50_ms) ms, p99 \(.ack_p99_ms) ms; \(.polls_per_s) polls/s"' "$LIVEDIR/client.json"
  if [[ -f $LIVEDIR/proxy_stats.txt ]]; then
    echo "- each proxy's own lateness beyond the model (p50 / p99 / max ms):"
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
           printf "  %s (%s) %s / %s / %s;", $1, $2, v["late_p50_ms"], v["late_p99_ms"], v["late_max_ms"] } END { print "" }' "$LIVEDIR/proxy_stats.txt"
  fi
} >>"$OUT/report.md"

if command -v gnuplot >/dev/null; then
  gnuplot -e "dir='$OUT'; name='$NAME'" "$HERE/cdf.gp"
fi

# The run's pictures (viz.sh: timeline with fault windows, CDFs with
# bootstrap bands, lag heat map) and the quantiles' intervals.
"$HERE/viz.sh" lab "$SCEN" "$HOSTS" "$SIMS" "$LIVES" "$OUT"
bandq() { awk -v p="$2" '$1 == "#" && $2 == "q" && $3 == p { printf "%.1f [%.1f, %.1f]", $4, $5, $6 }' "$OUT/band_$1.txt"; }
{
  echo
  echo "All edges, nearest-rank quantiles with their bootstrap 95 % intervals (\`edgekv-band\`, 400 resamples, seed 1; ms):"
  echo
  echo "| | simulator | live |"
  echo "|---|---:|---:|"
  for p in 50 90 99; do echo "| p$p | $(bandq sim $p) | $(bandq live $p) |"; done
  echo
  echo "Fault windows (s after the start of the run; a live partition from its first freeze to its last heal):"
  echo
  for w in sim live; do
    echo "- $w: $(awk '{ l = $4; for (i = 5; i <= NF; i++) l = l " " $i; printf "%s%s %.3f-%.3f s", sep, l, $1, $2; sep = "; " }' "$OUT/windows_$w.txt")"
  done
  echo
  echo "![timeline: write -> visible over time, fault windows shaded](timeline.png)"
  echo
  echo "![t-visibility with bootstrap 95 % bands](tvis_band.png)"
  echo
  echo "![lag heat map, region x time](heat.png)"
} >>"$OUT/report.md"
echo "report: $OUT/report.md"
