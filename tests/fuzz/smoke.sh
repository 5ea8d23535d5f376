#!/usr/bin/env bash
# smoke.sh - the fuzz_smoke test (label fuzz): every harness of
# harnesses.txt marked "yes" runs for SECONDS on its seed corpus
# (corpus/<name>, read only; what it finds goes to a temporary directory),
# and the test fails if any harness crashes, leaks, times out or runs out
# of memory. A crashing input is kept as BIN_DIR/crash-<name>-* and its
# log's end is printed; reproduce with `BIN_DIR/fuzz_<name> FILE`.
#   tests/fuzz/smoke.sh BIN_DIR [SECONDS]     (BIN_DIR: build-fuzz/tests/fuzz)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
secs=${2:-15}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
ran=0
failed=0
while read -r name maxlen smoke; do
  [[ -z $name || $name == \#* ]] && continue
  if [[ $smoke != yes ]]; then
    echo "fuzz_$name: not in the smoke test (harnesses.txt)"
    continue
  fi
  mkdir -p "$work/$name"
  ran=$((ran + 1))
  "$bin/fuzz_$name" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$name-" \
    "$work/$name" "$here/corpus/$name" >"$work/$name.log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/$name.log" | tail -1)
  if [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
    status=1
    echo "fuzz_$name: FAILED (exit $rc)"
    tail -n 40 "$work/$name.log"
    for f in "$work/$name"-*; do
      [[ -e $f ]] && cp "$f" "$bin/crash-$name-${f##*/$name-}" && echo "kept $bin/crash-$name-${f##*/$name-}"
    done
  else
    echo "fuzz_$name: ok, ${execs:-?} executions in ${secs}s, ${cov:-no coverage line}"
  fi
done <"$here/harnesses.txt"
echo "fuzz_smoke: $((ran - failed)) passed, $failed failed"
exit $status
