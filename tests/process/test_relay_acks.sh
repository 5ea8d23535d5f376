#!/usr/bin/env bash
# test_relay_acks.sh - a relay keeps its downstream edges' acknowledged
# positions across its own restart, as an origin does: one origin, one relay
# that keeps 5 log entries beyond the slowest edge it knows, one edge under
# it. The edge acknowledges, stops; the relay applies 10 more writes and
# restarts (SIGTERM, then SIGKILL) and still lists the edge with its
# position before the edge is back; 30 writes later its log still reaches
# the edge's position, so the edge resumes by sequence, without a snapshot,
# and converges (/digest).
# Without the kept positions the restarted relay would know no edge, trim
# its log to the last 5 entries and send the returning edge a snapshot.
source "$(dirname "$0")/lib.sh"

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 --relays 1 >/dev/null
ACCT=acctrelayacks
TOK=relay-acks-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync batch --threads 1)
TOKEN=$TOK
ACCOUNT=$ACCT

start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen 127.0.0.1:0 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
reserve_port
RR=$RESERVED # the relay comes back on the port its edge was told
start_relay() {
  start_role relay1 relay --data "$TMP/relay1" --certs "$CERTS" --name relay1 \
    --repl-listen "127.0.0.1:$RR" --upstream "127.0.0.1:$RP" \
    --log-retention 5 --log-retention-max 1000 "${COMMON[@]}"
  RPID=$PID RPORT=$PORT
}
start_relay
start_edge 1 --upstream "127.0.0.1:$RR"

url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "$4" "$(url "$1" "/$2/values/$3")"; }
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
ops_status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
field() { ops_status "$1" | jq -r ".replication.$2"; }
live() { [[ "$(field "$1" link)" == live ]]; }
same_digest() {
  local a b
  a=$(digest "$1") b=$(digest "$OPORT")
  [[ $a =~ ^[0-9a-f]{64}$ && "$a" == "$b" ]]
}
# The relay's record of its one downstream edge: "acked_seq connected".
known() { ops_status "$RPORT" | jq -r '.replication.downstream.edges[0] | "\(.acked_seq) \(.connected)"'; }
acked_is() { [[ "$(known)" == "$1 $2" ]]; }

wait_for "relay live" 30 live "$RPORT"
wait_for "edge1 live" 30 live "${EPORT[1]}"
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"acks"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace created" 32 "${#NS}"
for i in $(seq 1 5); do put "$OPORT" "$NS" "a$i" "$i" >/dev/null; done
SEQ=$(field "$OPORT" last_seq)
wait_for "edge1 acknowledged seq $SEQ at the relay" 30 acked_is "$SEQ" true &&
  ok "the relay knows edge1 at seq $SEQ"
check "edge1 took one snapshot (its first)" 1 "$(field "${EPORT[1]}" snapshots_taken)"

# The edge goes away. The relay stores the positions it knows on its loop
# once they changed, at most once per REPLICA_ACKS_SAVE_MS (1 s), and at a
# clean stop: the first restart (TERM) finds them saved at the stop at the
# latest; the second (KILL) finds them still stored.
PID=${EPID[1]} stop_node TERM
wait_for "the relay sees edge1 gone" 30 acked_is "$SEQ" false
# The relay moves on past edge1 first: a relay restarted exactly at an
# edge's position would resume it from its own starting point anyway.
for i in $(seq 1 10); do put "$OPORT" "$NS" "m$i" "$i" >/dev/null; done
MID=$(field "$OPORT" last_seq)
relay_at() { [[ "$(field "$RPORT" applied_seq)" -ge "$1" ]]; }
wait_for "relay applied seq $MID" 30 relay_at "$MID"

restarts=0
for sig in TERM KILL; do
  PID=$RPID stop_node "$sig"
  start_relay
  wait_for "relay live after $sig" 30 live "$RPORT" && restarts=$((restarts + 1))
  check "after its $sig restart the relay still knows edge1 at seq $SEQ (not connected)" \
    "$SEQ false" "$(known)"
done
check "the relay restarted twice" 2 "$restarts"

# 30 writes: past the relay's retention of 5, but it keeps them for edge1.
for i in $(seq 1 30); do put "$OPORT" "$NS" "b$i" "$i" >/dev/null; done
TARGET=$(field "$OPORT" last_seq)
wait_for "relay applied seq $TARGET" 30 relay_at "$TARGET"
served=$(field "$RPORT" downstream.snapshots_served)
start_edge 1 --upstream "127.0.0.1:$RR"
wait_for "edge1 converges" 30 same_digest "${EPORT[1]}" && ok "edge1's digest equals the origin's"
check "edge1 resumed by sequence (no snapshot since its restart)" 0 "$(field "${EPORT[1]}" snapshots_taken)"
check "the relay streamed it no snapshot" "$served" "$(field "$RPORT" downstream.snapshots_served)"
check "edge1 reads a write from its absence" 30 "$(curl -s -H "Authorization: Bearer $TOK" "$(url "${EPORT[1]}" "/$NS/values/b30")")"

for p in "${EPID[1]}" "$RPID" "$OPID"; do PID=$p stop_node TERM; done
finish
