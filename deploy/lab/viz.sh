#!/usr/bin/env bash
# viz.sh - the pictures of a run, drawn the same way for the simulator and the
# live lab (report.sh calls `viz.sh lab`), and for a recorded history
# (tests/nemesis/history.sh calls `viz.sh history`):
#
#   viz.sh lab SCENARIO HOSTS_TSV SIM_SAMPLES LIVE_SAMPLES OUT_DIR
#   viz.sh history HISTORY.jsonl WINDOWS OUT_DIR
#   viz.sh windows SCENARIO     a scenario's faults as WINDOWS lines (for a
#                               simulated history: edgekv-sim --history)
#
# lab: SIM_SAMPLES / LIVE_SAMPLES are the "t_ms edge delay_ms" visibility
# samples (report.sh's inputs); OUT_DIR must hold report.sh's
# faults_sim.txt and faults_live.txt. Writes, per world W in sim, live:
#   windows_W.txt   the fault windows: "start_s end_s kind label" (the
#                   simulator's from the scenario, every fault type; the
#                   live ones as dated by the proxies and the lab)
#   band_W.txt      the t-visibility CDF with its bootstrap 95 % band and
#                   p50/p90/p99 with their intervals (edgekv-band, seed 1)
#   heat_W.txt      region x time bin: the largest write -> visible delay of
#                   the writes committed in the bin ("t_s region_index ms")
# and the figures (png and svg):
#   timeline   write -> visible per region over time in each world, and the
#              writes/s, with the fault windows shaded and labelled
#   tvis_band  both worlds' CDFs with their bands (log time axis)
#   heat       the lag heat map of each world on one colour scale
# history: HISTORY is edgekv-check's format (one operation a line, t0/t1 in
# us on one clock); WINDOWS "start_s end_s kind label" on the history's
# time axis (seconds after its first invoke). Writes windows.txt,
# band_get.txt, band_put.txt, heat.txt (node x time: the slowest operation)
# and the figures history_timeline (latency of every operation by type and
# outcome, operations/s, fault windows), history_latency (the latency CDFs
# with bands) and history_heat.
# Figures need gnuplot; without it the data files are still written.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${EDGEKV_BUILD_DIR:-$REPO/build}
BAND=${EDGEKV_BAND:-$BUILD/sim/edgekv-band}
BAND_RESAMPLES=400
BAND_SEED=1
HEAT_BINS=60 # time bins over a run: 1 s bins for a 60 s run, never under 0.1 s

die() { echo "viz.sh: $*" >&2; exit 2; }
[[ -x $BAND ]] || die "$BAND is missing (build first)"

# gp_windows WINDOWS OUT.gp : gnuplot objects for the windows (rectangles
# for faults with a duration, a line for an instantaneous one), labelled.
gp_windows() {
  awk -v obj="${3:-100}" '
    { lab = $4; for (i = 5; i <= NF; i++) lab = lab " " $i
      w = $2 - $1; if (w < 0.05) w = 0.05
      col = ($3 == "partition") ? "#f4a261" : ($3 == "crash") ? "#e63946" : "#6a4c93"
      printf "set object %d rect from %.3f, graph 0 to %.3f, graph 1 back fc rgb \"%s\" fs transparent solid 0.25 noborder\n", obj, $1, $1 + w, col
      printf "set label %d \"%s\" at %.3f, graph %.2f left offset char 0.5,0 front font \",8\" tc rgb \"%s\"\n", obj, lab, $1, 0.95 - 0.07 * (NR % 4), col
      obj++ }' "$1" >"$2"
}

# scenario_windows SCENARIO : its faults as windows (a clock jump lasts 0 s).
scenario_windows() {
  jq -r '.faults[]? | "\(.at_s) \(.at_s + (if .type == "clock_jump" then 0 else (.duration_s // 1) end)) \(.type) \(.type)\(if .type == "clock_jump" then " \(if .by_ms > 0 then "+" else "" end)\(.by_ms) ms" else "" end) \(.nodes // .node // "all")"' "$1"
}

band() { # band OUT < values
  "$BAND" --resamples "$BAND_RESAMPLES" --seed "$BAND_SEED" >"$1"
}

have_gnuplot() { command -v gnuplot >/dev/null; }

viz_lab() {
  [[ $# == 5 ]] || die "usage: viz.sh lab SCENARIO HOSTS_TSV SIM_SAMPLES LIVE_SAMPLES OUT_DIR"
  local scen=$1 hosts=$2 sims=$3 lives=$4 out=$5
  local settle dur regions edgemap bin_s name
  settle=$(jq '.measure.settle_ms // 5000' "$scen")
  dur=$(jq '(.duration_s // 60)' "$scen")
  name=$(jq -r .name "$scen")
  edgemap=$(awk -F'\t' '$1 !~ /^#/ && $3 == "edge" { printf "%s%s=%s", sep, $1, $4; sep = "," }' "$hosts")
  regions=$(awk -F'\t' '$1 !~ /^#/ && $3 == "edge" && !seen[$4]++ { printf "%s%s", sep, $4; sep = " " }' "$hosts")
  bin_s=$(awk -v d="$dur" -v b="$HEAT_BINS" 'BEGIN { s = d / b; print (s < 0.1 ? 0.1 : s) }')

  # The simulator's windows: every fault of the scenario.
  scenario_windows "$scen" >"$out/windows_sim.txt"
  # The live windows: a partition from its first edge's freeze to its last
  # edge's heal (report.sh's faults_live.txt: one line per edge when each
  # is dated by its own proxy); crash and clock faults as the lab ran them.
  awk '{ k = NF >= 5 ? $5 : NR; if (!(k in s) || $1 < s[k]) s[k] = $1; if ($1 + $2 > e[k]) e[k] = $1 + $2
         sel[k] = $3; kind[k] = NF >= 6 ? $6 : "partition"; if (!(k in seen)) { seen[k] = 1; ord[++n] = k } }
       END { for (i = 1; i <= n; i++) { k = ord[i]
               printf "%.3f %.3f %s %s %s\n", s[k] / 1000, e[k] / 1000, kind[k], kind[k], sel[k] } }' \
    "$out/faults_live.txt" >"$out/windows_live.txt"
  # crashes and clock jumps as the lab ran them (report.sh)
  [[ -f $out/windows_live_more.txt ]] && cat "$out/windows_live_more.txt" >>"$out/windows_live.txt"

  local w
  for w in sim live; do
    local samples=$sims
    [[ $w == live ]] && samples=$lives
    gp_windows "$out/windows_$w.txt" "$out/windows_$w.gp"
    grep -v '^#' "$samples" | awk -v s="$settle" '$1 >= s { print $3 }' | band "$out/band_$w.txt"
    # timeline points (every sample, region index) and writes per second
    grep -v '^#' "$samples" | awk -v edgemap="$edgemap" -v regions="$regions" -v out="$out/tl_$w.txt" '
      BEGIN { n = split(edgemap, em, ","); for (i = 1; i <= n; i++) { split(em[i], kv, "="); reg[kv[1]] = kv[2] }
              m = split(regions, rs, " "); for (i = 1; i <= m; i++) ri[rs[i]] = i - 1 }
      { printf "%.3f %d %.3f\n", $1 / 1000, ri[reg[$2]], $3 > out
        if (!($1 in seen)) { seen[$1] = 1; wps[int($1 / 1000)]++; if (int($1 / 1000) > last) last = int($1 / 1000) } }
      END { for (b = 0; b <= last; b++) printf "%d %d\n", b, wps[b] + 0 }' >"$out/tput_$w.txt"
    # the heat map: every (region, bin) cell, NaN where no write was committed
    grep -v '^#' "$samples" | awk -v edgemap="$edgemap" -v regions="$regions" -v bin="$bin_s" -v dur="$dur" '
      BEGIN { n = split(edgemap, em, ","); for (i = 1; i <= n; i++) { split(em[i], kv, "="); reg[kv[1]] = kv[2] }
              m = split(regions, rs, " "); for (i = 1; i <= m; i++) ri[rs[i]] = i - 1
              nb = int(dur / bin + 0.5) }
      { b = int($1 / 1000 / bin); r = ri[reg[$2]]; if (!((r, b) in mx) || $3 > mx[r, b]) mx[r, b] = $3 }
      END { for (r = 0; r < m; r++) { for (b = 0; b < nb; b++)
              printf "%.3f %d %s\n", (b + 0.5) * bin, r, ((r, b) in mx) ? sprintf("%.3f", mx[r, b]) : "NaN"
            print "" } }' >"$out/heat_$w.txt"
  done
  have_gnuplot || return 0
  gnuplot -e "dir='$out'; name='$name'; regions='$regions'; dur=$dur" "$HERE/viz_lab.gp"
}

viz_history() {
  [[ $# == 3 ]] || die "usage: viz.sh history HISTORY.jsonl WINDOWS OUT_DIR"
  local hist=$1 windows=$2 out=$3
  mkdir -p "$out"
  cp "$windows" "$out/windows.txt" 2>/dev/null || true
  gp_windows "$out/windows.txt" "$out/windows.gp"
  # "t_s op_index latency_ms outcome node" after the first invoke; finals left out
  jq -r 'select(.op != "final") | "\(.t0) \(.t1) \(.op) \(.outcome) \(.node)"' "$hist" |
    sort -n -k1,1 | awk 'NR == 1 { t0 = $1 } {
      op = ($3 == "get") ? 0 : ($3 == "put") ? 1 : 2
      printf "%.6f %d %.3f %s %s\n", ($1 - t0) / 1e6, op, ($2 - $1) / 1e3, $4, $5 }' >"$out/ops.txt"
  [[ -s $out/ops.txt ]] || die "no operations in $hist"
  awk '$2 == 0 { print $3 }' "$out/ops.txt" | band "$out/band_get.txt"
  awk '$2 == 1 { print $3 }' "$out/ops.txt" | band "$out/band_put.txt"
  awk '{ b = int($1); n[b, $4]++; if (b > last) last = b }
       END { for (b = 0; b <= last; b++) printf "%d %d %d %d\n", b, n[b, "ok"] + 0, n[b, "fail"] + 0, n[b, "unknown"] + 0 }' \
    "$out/ops.txt" >"$out/tput.txt"
  local nodes dur bin_s
  nodes=$(awk '!seen[$5]++ { print $5 }' "$out/ops.txt" | sort -V | tr '\n' ' ')
  dur=$(awk '$1 > m { m = $1 } END { printf "%d", m + 1 }' "$out/ops.txt")
  bin_s=$(awk -v d="$dur" -v b="$HEAT_BINS" 'BEGIN { s = d / b; print (s < 0.1 ? 0.1 : s) }')
  awk -v nodes="$nodes" -v bin="$bin_s" -v dur="$dur" '
    BEGIN { m = split(nodes, ns, " "); for (i = 1; i <= m; i++) ni[ns[i]] = i - 1; nb = int(dur / bin + 0.5) }
    { b = int($1 / bin); r = ni[$5]; if (!((r, b) in mx) || $3 > mx[r, b]) mx[r, b] = $3 }
    END { for (r = 0; r < m; r++) { for (b = 0; b < nb; b++)
            printf "%.3f %d %s\n", (b + 0.5) * bin, r, ((r, b) in mx) ? sprintf("%.3f", mx[r, b]) : "NaN"
          print "" } }' "$out/ops.txt" >"$out/heat.txt"
  have_gnuplot || return 0
  gnuplot -e "dir='$out'; nodes='$nodes'; dur=$dur; name='$(basename "$hist" .jsonl)'" "$HERE/viz_history.gp"
}

case ${1:-} in
lab) shift; viz_lab "$@" ;;
history) shift; viz_history "$@" ;;
windows) [[ $# == 2 ]] || die "usage: viz.sh windows SCENARIO"; scenario_windows "$2" ;;
*) die "usage: viz.sh lab SCENARIO HOSTS_TSV SIM_SAMPLES LIVE_SAMPLES OUT_DIR | history HISTORY.jsonl WINDOWS OUT_DIR | windows SCENARIO" ;;
esac
