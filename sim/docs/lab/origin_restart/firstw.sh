#!/usr/bin/env bash
# firstw.sh DIR: for a deploy/lab/run.sh output DIR whose scenario crashed the
# origin, the first write acknowledged after the origin's restart and its
# write -> visible delay at each edge (ms), from DIR/live/visibility.txt and
# the crash's kill and restart times in DIR/live/faults_more.txt.
set -euo pipefail
d=${1:?usage: firstw.sh DIR}
st=$(awk '/t_start_realtime_ns/ { print $3 }' "$d/live/visibility.txt")
read -r _ _ restart_ns _ < <(awk '$1 == "crash" && $4 == "origin"' "$d/live/faults_more.txt")
rs=$(((restart_ns - st) / 1000000))
echo "restart at $rs ms"
awk -v rs="$rs" '!/^#/ && $1 >= rs && !seen[$2]++ {
  printf "  edge %s write t %.0f (+%.0f after restart) delay %.1f\n", $2, $1, $1 - rs, $3 }' \
  "$d/live/visibility.txt"
