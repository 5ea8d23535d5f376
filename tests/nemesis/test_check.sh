#!/usr/bin/env bash
# test_check.sh - edgekv-check (sim/hcheck.h) on hand-written
# ledgers (tests/nemesis/ledgers/): every pass_* ledger passes; every fail_*
# ledger fails with the violation its name is listed with below, and the
# counterexample names the ledger lines involved.
set -euo pipefail
CHECK=${EDGEKV_CHECK:?path to edgekv-check}
DIR=$(dirname "$0")/ledgers
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
declare -A WANT=(
  [fail_lost_ack]=lost-ack [fail_lost_first_put]=lost-ack [fail_resurrected]=resurrected
  [fail_diverged]=diverged [fail_failed_write_visible]=phantom [fail_phantom]=phantom
  [fail_future_read]=future [fail_origin_stale_read]=origin-read
  [fail_edge_unmarked_stale]=stale-read [fail_final_unanswered]=final-read-failed
  [fail_read_your_writes]=read-your-writes [fail_read_your_delete]=read-your-writes
  [fail_monotonic_read]=monotonic-read [fail_lww_order]=lww-order
  [fail_version_mismatch]=version-mismatch [fail_versions_lost]=lost-ack
)
n_fail=0
for f in "$DIR"/*.jsonl; do
  name=$(basename "$f" .jsonl)
  set +e
  out=$("$CHECK" "$f" 2>&1)
  rc=$?
  set -e
  case $name in
  pass_*) [[ $rc -eq 0 ]] && ok "$name passes" || { bad "$name: exit $rc"; echo "$out"; } ;;
  fail_*)
    n_fail=$((n_fail + 1))
    want=${WANT[$name]:-}
    if [[ -z $want ]]; then bad "$name: no expected violation listed in test_check.sh"; continue; fi
    if [[ $rc -eq 1 ]] && grep -q "^VIOLATION $want on key" <<<"$out" && grep -q '^    ' <<<"$out"; then
      ok "$name fails with $want"
    else
      bad "$name: exit $rc, expected a $want violation"
      echo "$out"
    fi
    ;;
  esac
done
[[ $n_fail -eq ${#WANT[@]} ]] && ok "every listed failing ledger exists" || bad "${#WANT[@]} listed, $n_fail found"
# The edge-read bound is the checker's option: the same stale read passes
# with a slack that covers it.
"$CHECK" --slack-ms 5000 "$DIR/fail_edge_unmarked_stale.jsonl" >/dev/null && ok "a larger slack admits the late read" ||
  bad "--slack-ms 5000 still fails the late read"
"$CHECK" --allow-stale-reads "$DIR/fail_edge_unmarked_stale.jsonl" >/dev/null &&
  ok "--allow-stale-reads does not fail on a stale read alone" || bad "--allow-stale-reads still fails"
out=$("$CHECK" --allow-stale-reads "$DIR/fail_lost_ack.jsonl") && bad "--allow-stale-reads passes a lost write" ||
  ok "--allow-stale-reads still fails a lost write"
# A ledger cut short by a kill: the partial last line is skipped, not fatal.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{ cat "$DIR/pass_mixed.jsonl"; printf '{"op":"put","node":"ori'; } >"$tmp"
"$CHECK" "$tmp" >/dev/null 2>&1 && ok "a torn last line is skipped" || bad "a torn last line fails the check"
# Versions order concurrent writes that real time cannot: without them the
# same final value is allowed.
sed 's/"version":[0-9]*,//' "$DIR/fail_versions_lost.jsonl" >"$tmp"
"$CHECK" "$tmp" >/dev/null && ok "without versions the concurrent write may win" ||
  bad "without versions the concurrent write still fails"
# The session checks look at marked reads too: an edge may lag, never go back.
grep -q '"stale_ms":2' "$DIR/fail_monotonic_read.jsonl" && ok "the backward read is marked stale" ||
  bad "fail_monotonic_read lost its marked read"
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
