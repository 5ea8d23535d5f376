#!/usr/bin/env bash
# campaign.sh - long libFuzzer campaigns over the harnesses of tests/fuzz.
# Each harness runs SECONDS with JOBS worker processes (libFuzzer's -fork)
# on a corpus that grows in OUT/corpus/<name> (seeded from
# tests/fuzz/corpus/<name>, which is never written); crashes land in
# OUT/crashes/. At the end it prints, per harness: executions, coverage
# (cov: edges, ft: features), corpus size and the verdict.
#   tests/fuzz/campaign.sh [-b BUILD] [-s SECONDS] [-j JOBS] [-o OUT] [-n] [NAME...]
# BUILD: a build dir configured with CC=clang -DEDGEKV_FUZZ=ON (default
# build-fuzz; built here with `cmake --build BUILD --target fuzz_all`
# unless -n).
# Defaults: 600 s per harness, 1 job, OUT = BUILD/fuzz-campaign, every
# harness of harnesses.txt.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build-fuzz
secs=600
jobs=1
out=""
build_it=1
while getopts "b:s:j:o:n" opt; do
  case $opt in
    b) build=$OPTARG ;;
    s) secs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    o) out=$OPTARG ;;
    n) build_it=0 ;;
    *) sed -n 2,13p "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
out=${out:-$build/fuzz-campaign}
mkdir -p "$out/crashes" "$out/logs"
if [[ $build_it -eq 1 ]]; then
  cmake --build "$build" --target fuzz_all -j2 >/dev/null || { echo "build failed" >&2; exit 1; }
fi

declare -A maxlen
names=()
while read -r name ml _; do
  [[ -z $name || $name == \#* ]] && continue
  maxlen[$name]=$ml
  names+=("$name")
done <"$here/harnesses.txt"
[[ $# -gt 0 ]] && names=("$@")

summary=()
status=0
for name in "${names[@]}"; do
  [[ -n ${maxlen[$name]:-} ]] || { echo "unknown harness $name" >&2; exit 2; }
  mkdir -p "$out/corpus/$name"
  log="$out/logs/$name.log"
  mode=()
  [[ $jobs -gt 1 ]] && mode=(-fork="$jobs" -ignore_crashes=1)
  echo "== fuzz_$name: ${secs}s, $jobs job(s)"
  "$build/tests/fuzz/fuzz_$name" -max_total_time="$secs" -max_len="${maxlen[$name]}" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${mode[@]}" \
    -artifact_prefix="$out/crashes/$name-" "$out/corpus/$name" "$here/corpus/$name" \
    >"$log" 2>&1
  rc=$?
  # Executions: the exact final count, else the last status line's #N.
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  [[ -z $execs ]] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  corpus=$(find "$out/corpus/$name" -type f | wc -l)
  crashes=$(find "$out/crashes" -name "$name-*" -type f | wc -l)
  verdict=ok
  if [[ $rc -ne 0 || $crashes -gt 0 ]]; then verdict="FINDING ($crashes input(s) in $out/crashes)"; status=1; fi
  summary+=("$(printf '%-10s %14s %8s %8s %8s  %s' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$verdict")")
done

echo
printf '%-10s %14s %8s %8s %8s  %s\n' harness executions cov ft corpus verdict
printf '%s\n' "${summary[@]}"
exit $status
