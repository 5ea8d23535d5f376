#!/usr/bin/env bash
# test_abuse_clock.sh - wall clocks that step while an origin and an edge
# run (replication/repl.h, "Clocks"). Both run under clock_shim.c with a
# shift file each, rewritten at runtime to step that node's wall clock.
#   - The origin's wall runs 2 min ahead (its versions are stamped there),
#     steps back to true time, then to 2 min behind it: writes through the
#     edge keep succeeding, with pauses longer than max_clock_offset_ms,
#     because the edge's hints only echo the origin's own clock; and the
#     idle edge stays fresh (the origin's heartbeats follow its monotonic
#     clock, not its wall).
#   - The origin restarts 2 min behind with its saved clock 4 min ahead of
#     its wall: writes through the edge keep succeeding.
#   - The edge's wall runs 10 min ahead: its writes are refused with a 503
#     that names the clock (nothing written), it stays fresh; once back,
#     its writes succeed at once (a hint is not remembered).
#   - The edge's wall steps 10 min back and the origin stops (SIGSTOP): the
#     edge turns stale within seconds, not 10 min later; SIGCONT: fresh.
# Afterwards every write answered 200 is listed at the edge (the last of
# each phase read back with its value), the digests are equal, and both
# processes' peak RSS (sampled after each phase) stayed under RSS_MAX_KIB.
source "$(dirname "$0")/lib.sh"

SHIM=${CLOCK_SHIM:?path to the clock shim}
# A bound against runaway growth, with room for an ASan+UBSan build: a
# release node peaks near 26 MB here.
RSS_MAX_KIB=${EDGEKV_CLOCK_RSS_MAX_KIB:-400000}
MIN_MS=60000
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctclock TOK=clock-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 1)
TOKEN=$TOK ACCOUNT=$ACCT

# set_shift NODE MS : step NODE's wall clock to true time + MS (atomic).
set_shift() {
  echo "$2" >"$TMP/$1.shift.new"
  mv "$TMP/$1.shift.new" "$TMP/$1.shift"
}
# shimmed NODE CMD... : CMD with NODE's wall clock.
shimmed() {
  local node=$1
  shift
  EDGEKV_CLOCK_SHIFT_FILE="$TMP/$node.shift" LD_PRELOAD="$SHIM" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
}
set_shift origin 0
set_shift edge1 0

reserve_port
RP=$RESERVED
start_origin() {
  shimmed origin start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
    --repl-listen "127.0.0.1:$RP" "${COMMON[@]}"
  OPID=$PID OPORT=$PORT
}
start_origin
shimmed edge1 start_edge 1
E=${EPORT[1]}
status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r ".replication.$2"; }
fresh() { [[ "$(status "$E" stale)" == false ]]; }
stale() { [[ "$(status "$E" stale)" == true ]]; }
# Fresh is not enough before a write: an edge stays fresh for the bound after
# its link drops, and a write it forwards meanwhile finds no origin.
live_fresh() { [[ "$(status "$E" link)" == live ]] && fresh; }
wait_for "the edge live and fresh" 30 live_fresh
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"clock"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace" 32 "${#NS}"
has_ns() { curl -s -H "Authorization: Bearer $TOK" "$(url "$E" "/$NS/keys")" | jq -e .success; }
wait_for "the namespace at the edge" 30 has_ns

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
PEAK=0
note_rss() {
  local p r
  for p in "$OPID" "${EPID[1]}"; do
    r=$(rss "$p")
    [[ $r -gt $PEAK ]] && PEAK=$r
  done
  return 0
}

# put_edge KEY : PUT KEY=val-KEY through the edge; prints "CODE BODY".
put_edge() {
  curl -s -w ' %{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "val-$1" \
    "$(url "$E" "/$NS/values/$1")" | sed -E 's/^(.*) ([0-9]{3})$/\2 \1/'
}
WRITTEN=()
# writes PHASE N PAUSE : N writes through the edge, PAUSE s apart; each 200.
writes() {
  local phase=$1 n=$2 pause=$3 i r bad_n=0 first=
  for i in $(seq 1 "$n"); do
    r=$(put_edge "$phase-$i")
    if [[ ${r%% *} == 200 ]]; then WRITTEN+=("$phase-$i"); else
      bad_n=$((bad_n + 1))
      [[ -n $first ]] || first=$r
    fi
    # A pause longer than max_clock_offset_ms between writes, not a wait.
    [[ $pause == 0 || $i == "$n" ]] || sleep "$pause"

  done
  note_rss
  check "$phase: of $n writes through the edge, refused (first refusal: ${first:-none})" 0 "$bad_n"
}
# fresh_for SECONDS : the edge answers stale: false on every poll for
# SECONDS (the test shell's clock is not shifted).
usec() { echo "${EPOCHREALTIME/./}"; }
fresh_for() {
  local end=$(($(usec) + $1 * 1000000)) n=0 s
  while [[ $(usec) -lt $end ]]; do
    s=$(status "$E" stale)
    [[ $s == false ]] || n=$((n + 1))
  done
  echo "$n"
}

writes baseline 2 0
set_shift origin $((2 * MIN_MS))
writes "origin-ahead" 3 0
# Right after a step back, before anything else is sent, the origin's
# heartbeats must keep their pace: the idle edge stays fresh.
set_shift origin 0
check "idle edge fresh after the origin's wall stepped back 2 min (stale polls)" 0 "$(fresh_for 2)"
writes "origin-back-to-true-time" 2 0.7
set_shift origin $((-2 * MIN_MS))
check "idle edge fresh after the origin's wall stepped back 2 more min (stale polls)" 0 "$(fresh_for 2)"
writes "origin-behind" 2 0.7
set_shift origin $((2 * MIN_MS))
writes "origin-forward-again" 2 0

# Restart behind: its saved clock is then 4 minutes ahead of its wall.
PID=$OPID stop_node TERM
set_shift origin $((-2 * MIN_MS))
start_origin
wait_for "the edge live and fresh after the origin's restart" 30 live_fresh
writes "origin-restarted-behind" 2 0.7

# The edge's wall 10 minutes ahead: refused with an answer that says why.
set_shift edge1 $((10 * MIN_MS))
r=$(put_edge edge-ahead)
check "a write through an edge 10 min ahead: 503" 503 "${r%% *}"
grep -q "clock" <<<"$r" && ok "the refusal names the clock" || bad "refusal without a reason: $r"
check "nothing was written" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" \
  "$(url "$OPORT" "/$NS/values/edge-ahead")")"
check "the edge 10 min ahead stays fresh (stale polls)" 0 "$(fresh_for 2)"
set_shift edge1 0
writes "edge-back-to-true-time" 2 0

# The edge's wall 10 minutes back, and the origin silent: stale in seconds.
set_shift edge1 $((-10 * MIN_MS))
writes "edge-behind" 2 0
kill -STOP "$OPID"
t0=$SECONDS
wait_for "the edge stale with the origin stopped" 10 stale && ok "stale after $((SECONDS - t0)) s"
kill -CONT "$OPID"
wait_for "the edge fresh again" 30 fresh && ok "fresh again once the origin runs"
set_shift edge1 0
writes "final" 2 0

# Nothing lost: every write answered 200 is listed at the edge (one list:
# curl is slow on a loaded machine), the last of each phase reads back
# with its value, and the edge holds what the origin holds.
curl -s -H "Authorization: Bearer $TOK" "$(url "$E" "/$NS/keys?limit=1000")" | jq -r '.result[].name' >"$TMP/listed"
missing=0 last=
for k in "${WRITTEN[@]}"; do grep -qxF "$k" "$TMP/listed" || missing=$((missing + 1)); done
check "acknowledged writes missing at the edge (of ${#WRITTEN[@]})" 0 "$missing"
for k in "${WRITTEN[@]}" end-; do
  if [[ -n $last && ${last%-*} != "${k%-*}" ]]; then
    check "$last reads back at the edge" "val-$last" "$(curl -s -H "Authorization: Bearer $TOK" "$(url "$E" "/$NS/values/$last")")"
  fi
  last=$k
done
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
same_digest() { local a b; a=$(digest "$E") b=$(digest "$OPORT"); [[ $a =~ ^[0-9a-f]{64}$ && $a == "$b" ]]; }
wait_for "equal digests" 30 same_digest && ok "the edge's digest equals the origin's"
note_rss
[[ $PEAK -gt 0 && $PEAK -lt $RSS_MAX_KIB ]] && ok "peak RSS $PEAK KiB (limit $RSS_MAX_KIB)" ||
  bad "peak RSS $PEAK KiB (limit $RSS_MAX_KIB)"
finish
