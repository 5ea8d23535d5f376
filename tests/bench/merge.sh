#!/usr/bin/env bash
# Merges one tests/bench/all.sh run directory into all.json and all.md (the
# rows: merge.jq; the Markdown table: md.jq) and draws lag_cdf.png and
# lag_cdf.svg (lag_cdf.gp): the CDF of write -> visible delay, edgekv (all
# edges) vs the Redis replica, from the raw samples of repl.sh's delay run.
# all.sh runs it at the end; it can be run again on a directory later.
#   tests/bench/merge.sh DIR
# Reads DIR/run.json (written by all.sh), and when present
# DIR/{hot_get,lone,repl,sim_speed,store}.json and DIR/samples/lag_{edgekv,redis}.samples.
# A sub-benchmark that wrote nothing gives no rows; that is all.sh's failure to
# report, not this script's. Exit 1 when run.json is missing or a step fails.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:?usage: merge.sh DIR}

log() { echo "merge: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for c in jq awk sort gnuplot; do
  command -v "$c" >/dev/null || die "missing command $c"
done
[[ -s "$DIR/run.json" ]] || die "no $DIR/run.json"

args=(--slurpfile run "$DIR/run.json")
for k in hot_get:hot lone:lone repl:repl sim_speed:sim store:store; do
  f="$DIR/${k%%:*}.json"
  if [[ -s "$f" ]] && jq -e . "$f" >/dev/null 2>&1; then
    args+=(--slurpfile "${k#*:}" "$f")
  else
    args+=(--argjson "${k#*:}" '[]')
  fi
done
jq -n -L "$HERE" "${args[@]}" -f "$HERE/merge.jq" >"$DIR/all.json.tmp" || die "merge.jq failed"
mv "$DIR/all.json.tmp" "$DIR/all.json"
jq -r -L "$HERE" -f "$HERE/md.jq" "$DIR/all.json" >"$DIR/all.md" || die "md.jq failed"

# The figure: only when the delay run wrote its samples.
E="$DIR/samples/lag_edgekv.samples" R="$DIR/samples/lag_redis.samples"
if [[ ! -s "$E" || ! -s "$R" ]]; then
  if [[ $(jq -r '.results.repl.delay != null' "$DIR/all.json") == true ]]; then
    die "the delay run has no samples in $DIR/samples"
  fi
  log "no write -> visible samples (repl.sh did not run): no figure"
  exit 0
fi
cdf() { # cdf SAMPLES DAT: the empirical CDF, "delay_ms fraction" lines, sorted
  awk '!/^#/ { print $2 }' "$1" | sort -g | awk -v n="$(grep -vc '^#' "$1")" '{ print $1, NR / n }' >"$2"
}
cdf "$E" "$DIR/lag_cdf_edgekv.dat"
cdf "$R" "$DIR/lag_cdf_redis.dat"
IFS=$'\t' read -r ne nr sub < <(jq -r '[
  "edgekv, all \(.results.repl.edges) edges (\(.results.repl.delay.edgekv.per_port | map(.probes) | add) samples)",
  "Redis replica (\(.results.repl.delay.redis.probes) samples)",
  "\(.date), commit \(.commit), \(.machine.cpus) CPUs; \(.results.repl.delay.rate) writes/s paced, every \(.results.repl.delay.edgekv.probe_every)th write probed"
  ] | join("\t")' "$DIR/all.json")
gp() { printf '%s' "$1" | sed "s/'/''/g"; } # a gnuplot single-quoted string
gnuplot -e "dir='$(gp "$DIR")'; sub='$(gp "$sub")'; ne='$(gp "$ne")'; nr='$(gp "$nr")'" "$HERE/lag_cdf.gp" ||
  die "gnuplot failed"
log "wrote $DIR/all.json, $DIR/all.md, $DIR/lag_cdf.png, $DIR/lag_cdf.svg"
