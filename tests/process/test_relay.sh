#!/usr/bin/env bash
# test_relay.sh - a relay tier on loopback over mutual TLS: one origin, two
# relays (A and B) and six edges, three under each (edges 1-3 list A then B
# as upstreams, edges 4-6 B then A). Writes through an edge under A are
# read at the edges under B; relay A killed with SIGKILL: its edges move to
# B and resume by sequence, without a snapshot (their snapshot counters in
# /status stay where they were), and see new writes; relay A kept away past
# the origin's log window comes back, takes a snapshot, and when B is
# killed every edge follows A and converges with the origin (/digest).
# Certificates: a relay certificate cannot start an origin, an edge's
# cannot start a relay. Prints the failover figures the README quotes.
source "$(dirname "$0")/lib.sh"

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 6 --relays 2 >/dev/null
ACCT=acctrelay
TOK=relay-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync batch --threads 1)
TOKEN=$TOK
ACCOUNT=$ACCT

# The origin keeps at most 40 log entries for a node that is away.
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen 127.0.0.1:0 --log-retention 10 --log-retention-max 40 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT

# Relays listen on reserved ports: relay A comes back on its own after its
# SIGKILL, and the edges were told both at start.
reserve_port
RA=$RESERVED
reserve_port
RB=$RESERVED
start_relay() { # start_relay NAME PORT
  start_role "$1" relay --data "$TMP/$1" --certs "$CERTS" --name "$1" \
    --repl-listen "127.0.0.1:$2" --upstream "127.0.0.1:$RP" "${COMMON[@]}"
}
start_relay relay1 "$RA"
APID=$PID APORT=$PORT
check "relay A listens on its port" "$RA" "$REPL_PORT"
start_relay relay2 "$RB"
BPID=$PID BPORT=$PORT
for n in 1 2 3; do start_edge "$n" --upstream "127.0.0.1:$RA,127.0.0.1:$RB"; done
for n in 4 5 6; do start_edge "$n" --upstream "127.0.0.1:$RB,127.0.0.1:$RA"; done

url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "$4" "$(url "$1" "/$2/values/$3")"; }
get() { curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
ops_status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
field() { ops_status "$1" | jq -r ".replication.$2"; }
live() { [[ "$(field "$1" link)" == live ]]; }
live_fresh() { live "$1" && [[ "$(field "$1" stale)" == false ]]; }
upstream_is() { [[ "$(field "$1" upstream)" == "127.0.0.1:$2" ]] && live "$1"; }
same_digest() {
  local a b
  a=$(digest "$1") b=$(digest "$OPORT")
  [[ $a =~ ^[0-9a-f]{64}$ && "$a" == "$b" ]]
}
has_value() { [[ "$(get "$1" "$2" "$3")" == "$4" ]]; }
now_ms() { date +%s%3N; }
# The link gap of a failover, from the edge's own log: the last "gone" line
# to the "up" line of the link to RELAY after it (ms).
failover_ms() { # failover_ms EDGE_N RELAY_NAME
  local f=$TMP/edge$1.err gone up
  gone=$(grep "gone; next upstream" "$f" | tail -1 | cut -d' ' -f1)
  up=$(grep "up: relay $2" "$f" | tail -1 | cut -d' ' -f1)
  echo $(($(date -d "$up" +%s%3N) - $(date -d "$gone" +%s%3N)))
}

up=0
for p in "$APORT" "$BPORT"; do wait_for "relay live" 30 live_fresh "$p" && up=$((up + 1)); done
for n in 1 2 3 4 5 6; do wait_for "edge$n live" 30 live_fresh "${EPORT[$n]}" && up=$((up + 1)); done
check "two relays and six edges live and fresh" 8 "$up"
for n in 1 2 3; do check "edge$n follows relay A" "127.0.0.1:$RA" "$(field "${EPORT[$n]}" upstream)"; done
for n in 4 5 6; do check "edge$n follows relay B" "127.0.0.1:$RB" "$(field "${EPORT[$n]}" upstream)"; done
check "the origin serves the two relays, not the edges" 2 "$(ops_status "$OPORT" | jq '.replication.edges | map(select(.connected)) | length')"
check "relay A serves its three edges" 3 "$(ops_status "$APORT" | jq '.replication.downstream.edges | map(select(.connected)) | length')"

# A write through an edge under A, read at the edges under B.
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"relay"}' "$(url "${EPORT[1]}" "")" | jq -r .result.id)
check "namespace created through an edge under a relay" 32 "${#NS}"
check "write at edge1 (under A)" 200 "$(put "${EPORT[1]}" "$NS" greeting hello)"
check "read-your-write at edge1" hello "$(get "${EPORT[1]}" "$NS" greeting)"
for n in 4 5 6; do
  wait_for "edge$n sees edge1's write" 30 has_value "${EPORT[$n]}" "$NS" greeting hello &&
    ok "edge$n (under B) reads edge1's write"
done
check "the relays keep the origin's sequence numbers" "$(field "$OPORT" last_seq)" "$(field "$APORT" applied_seq)"
check "relay A has the history of the origin" "$(field "$OPORT" history_id)" "$(field "$APORT" history_id)"

# Relay A killed: its edges move to B by sequence, no snapshot.
for n in 1 2 3; do SNAPS[$n]=$(field "${EPORT[$n]}" snapshots_taken); done
served_b=$(field "$BPORT" downstream.snapshots_served)
PID=$APID stop_node KILL
t0=$(now_ms)
check "write at edge4 while A is down" 200 "$(put "${EPORT[4]}" "$NS" after-a "b-wrote")"
echo "# write at edge4 (under B) answered in $(($(now_ms) - t0)) ms"
moved=0
for n in 1 2 3; do
  wait_for "edge$n moves to relay B" 30 upstream_is "${EPORT[$n]}" "$RB" && moved=$((moved + 1))
  wait_for "edge$n sees the write made after A died" 30 has_value "${EPORT[$n]}" "$NS" after-a b-wrote
done
t1=$(now_ms)
check "edges 1-3 moved to relay B" 3 "$moved"
for n in 1 2 3; do
  check "edge$n resumed by sequence (no new snapshot)" "${SNAPS[$n]}" "$(field "${EPORT[$n]}" snapshots_taken)"
done
check "relay B streamed no snapshot for them" "$served_b" "$(field "$BPORT" downstream.snapshots_served)"
fresh=0
for n in 1 2 3; do wait_for "edge$n fresh again" 30 live_fresh "${EPORT[$n]}" && fresh=$((fresh + 1)); done
t2=$(now_ms)
check "edges 1-3 fresh under relay B" 3 "$fresh"
echo "# failover: relay A SIGKILL -> link gap (edge logs) edge1 $(failover_ms 1 relay2) ms," \
  "edge2 $(failover_ms 2 relay2) ms, edge3 $(failover_ms 3 relay2) ms;" \
  "seen by polling: new write $((t1 - t0)) ms, fresh $((t2 - t0)) ms"

# Relay A away past the origin's log window (40 entries): 60 writes.
for i in $(seq 1 60); do put "${EPORT[5]}" "$NS" "w$i" "$i" >/dev/null; done
start_relay relay1 "$RA"
APID=$PID APORT=$PORT
wait_for "relay A live again" 30 live_fresh "$APORT" && ok "relay A is back"
check "relay A took a snapshot (away past the window)" 1 "$(field "$APORT" snapshots_taken)"
wait_for "relay A converges by snapshot" 30 same_digest "$APORT" && ok "relay A's digest equals the origin's"

# Relay B killed: all six edges follow A and converge, with no wrong answer.
PID=$BPID stop_node KILL
t0=$(now_ms)
check "write at the origin while B is down" 200 "$(put "$OPORT" "$NS" after-b "origin-wrote")"
follow=0
for n in 1 2 3 4 5 6; do
  wait_for "edge$n follows relay A" 30 upstream_is "${EPORT[$n]}" "$RA" &&
    wait_for "edge$n converges" 30 same_digest "${EPORT[$n]}" && follow=$((follow + 1))
done
t1=$(now_ms)
check "all six edges follow relay A and converge with the origin" 6 "$follow"
for n in 1 2 3 4 5 6; do check "edge$n reads the origin's write" origin-wrote "$(get "${EPORT[$n]}" "$NS" after-b)"; done
check "edge6 reads a write from A's absence" 60 "$(get "${EPORT[6]}" "$NS" w60)"
check "a write through an edge now under A" 200 "$(put "${EPORT[4]}" "$NS" last x)"
wait_for "the origin has it" 30 has_value "$OPORT" "$NS" last x && ok "writes go through relay A"
gaps=""
for n in 4 5 6; do gaps+=" edge$n $(failover_ms "$n" relay1) ms"; done
echo "# failover: relay B SIGKILL -> link gap (edge logs)$gaps; 6 edges converged on relay A: $((t1 - t0)) ms;" \
  "snapshots served by A: $(field "$APORT" downstream.snapshots_served)"

# Roles in certificates: a relay certificate cannot start an origin, an
# edge certificate cannot start a relay.
rc=0
"$EDGEKV" origin --listen 127.0.0.1:0 --data "$TMP/bad1" --certs "$CERTS" --name relay2 \
  --repl-listen 127.0.0.1:0 "${COMMON[@]}" >"$TMP/bad1.out" 2>&1 || rc=$?
check "an origin with a relay certificate refuses to start" 1 "$rc"
grep -q "has role relay" "$TMP/bad1.out" && ok "it names the role" || bad "no role in: $(tail -2 "$TMP/bad1.out")"
rc=0
"$EDGEKV" relay --listen 127.0.0.1:0 --data "$TMP/bad2" --certs "$CERTS" --name edge1 \
  --repl-listen 127.0.0.1:0 --upstream "127.0.0.1:$RP" "${COMMON[@]}" >"$TMP/bad2.out" 2>&1 || rc=$?
check "a relay with an edge certificate refuses to start" 1 "$rc"
grep -q "has role edge" "$TMP/bad2.out" && ok "it names the role" || bad "no role in: $(tail -2 "$TMP/bad2.out")"

for p in "$APID" "${EPID[@]}" "$OPID"; do PID=$p stop_node TERM; done
finish
