#!/usr/bin/env bash
# test_cluster.sh - a real cluster on loopback: one origin and three edges
# as separate processes over mutual TLS. Writes at one edge are read at the
# others; an edge killed with SIGKILL catches up by sequence; an edge kept
# away past the log window takes a snapshot and converges (digests equal);
# deletes made while an edge was away stay deleted; the origin killed with
# SIGKILL under a stream of writes loses none it acknowledged; untrusted,
# expired and wrong-role certificates are refused, each for its own
# reason, by the side that must refuse it; every node stops cleanly.
source "$(dirname "$0")/lib.sh"

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 3 >/dev/null
ACCT=acctcluster
TOK=cluster-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync always --threads 1)
TOKEN=$TOK
ACCOUNT=$ACCT

# The log keeps at most 40 entries for an edge that is away: past that it
# needs a snapshot.
# The replication port is reserved (not the kernel's pick): the origin comes
# back on it after its SIGKILL, and the edges were told it at start.
reserve_port
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen "127.0.0.1:$RESERVED" --log-retention 10 --log-retention-max 40 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
check "origin listens on the reserved replication port" "$RESERVED" "$RP"
# Its threads carry their names (README "Architecture", Threads).
check "the origin's threads are named" "ekv-http0 ekv-read ekv-repl ekv-store" \
  "$(cat /proc/"$OPID"/task/*/comm | grep -E '^ekv-(http0|read|repl|store)$' | sort -u | tr '\n' ' ' | sed 's/ $//')"
for n in 1 2 3; do start_edge "$n"; done
# edge4 refuses reads while stale (strict staleness, a 500 ms bound).
"$EDGEKV" certs issue --dir "$CERTS" --role edge --name edge4 >/dev/null
start_edge 4 --strict-staleness true --propagation-bound-ms 500

url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "$4" "$(url "$1" "/$2/values/$3")"; }
del() { curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
get() { curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
# /status and /digest want an operator token (the account's read+write one).
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
ops_status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
live() { [[ "$(ops_status "$1" | jq -r .replication.link)" == live ]]; }
# Equal digests, and real ones: two failed requests are not "the same data".
same_digest() {
  local a b
  a=$(digest "$1") b=$(digest "$OPORT")
  [[ $a =~ ^[0-9a-f]{64}$ && "$a" == "$b" ]]
}
has_value() { [[ "$(get "$1" "$2" "$3")" == "$4" ]]; }
is_gone() { [[ "$(code "$1" "$2" "$3")" == 404 ]]; }

up=0
for n in 1 2 3 4; do wait_for "edge$n live" 30 live "${EPORT[$n]}" && up=$((up + 1)); done
check "edges live over mutual TLS" 4 "$up"

# A namespace and a write through edge1, read everywhere.
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"cluster"}' "$(url "${EPORT[1]}" "")" | jq -r .result.id)
check "namespace created through an edge" 32 "${#NS}"
check "write at edge1" 200 "$(put "${EPORT[1]}" "$NS" greeting hello)"
check "read-your-write at edge1" hello "$(get "${EPORT[1]}" "$NS" greeting)"
wait_for "edge2 sees the write" 30 has_value "${EPORT[2]}" "$NS" greeting hello && ok "edge2 reads edge1's write"
wait_for "edge3 sees the write" 30 has_value "${EPORT[3]}" "$NS" greeting hello && ok "edge3 reads edge1's write"
check "origin has it" hello "$(get "$OPORT" "$NS" greeting)"

# Edge2 killed, written around, restarted: catches up by sequence.
put "${EPORT[1]}" "$NS" doomed x >/dev/null
wait_for "edge2 sees doomed" 30 has_value "${EPORT[2]}" "$NS" doomed x || true
snaps_before=$(grep -c "snapshot to link" "$TMP/origin.err" || true)
PID=${EPID[2]} stop_node KILL
for i in $(seq 1 20); do put "${EPORT[3]}" "$NS" "k$i" "v$i" >/dev/null; done
check "delete while edge2 is away" 200 "$(del "${EPORT[1]}" "$NS" doomed)"
start_edge 2
wait_for "edge2 converges after SIGKILL" 30 same_digest "${EPORT[2]}" && ok "edge2 caught up by sequence (digest equal)"
check "edge2 has a write made while away" v20 "$(get "${EPORT[2]}" "$NS" k20)"
check "a delete made while edge2 was away stays deleted" 404 "$(code "${EPORT[2]}" "$NS" doomed)"
check "edge2 resumed from the log (no new snapshot)" "$snaps_before" "$(grep -c "snapshot to link" "$TMP/origin.err" || true)"

# API tokens travel the log: created through one edge, usable at the others;
# revoked through another, refused everywhere within the bound.
TURL() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/tokens$2"; }
created=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"name":"ci-writer","access":"write"}' "$(TURL "${EPORT[1]}" "")")
NEWTOK=$(echo "$created" | jq -r .result.value) NEWID=$(echo "$created" | jq -r .result.id)
check "token created through edge1" 64 "${#NEWTOK}"
ro=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d "{\"name\":\"ci-reader\",\"access\":\"read\",\"namespaces\":[\"$NS\"]}" "$(TURL "${EPORT[1]}" "")")
ROTOK=$(echo "$ro" | jq -r .result.value)
with_tok() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$(url "$1" "/$NS/values/greeting")"; }
tok_works() { [[ "$(with_tok "$1" "$2")" == 200 ]]; }
wait_for "the new token at edge3" 30 tok_works "${EPORT[3]}" "$NEWTOK" && ok "a token created at edge1 works at edge3"
wait_for "the read token at edge2" 30 tok_works "${EPORT[2]}" "$ROTOK" && ok "a read token works at edge2"
check "a read token may not write" 403 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $ROTOK" --data-binary x "$(url "${EPORT[2]}" "/$NS/values/ro")")"
check "tokens are listed without secrets" "ci-reader ci-writer" "$(curl -s -H "Authorization: Bearer $TOK" "$(TURL "$OPORT" "")" | jq -r '[.result[].name] | sort | join(" ")')"
curl -s -H "Authorization: Bearer $TOK" "$(TURL "$OPORT" "")" | grep -q "$NEWTOK" && bad "a secret was listed" || ok "no secret in the list"
check "revoked through edge2" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOK" "$(TURL "${EPORT[2]}" "/$NEWID")")"
tok_refused() { [[ "$(with_tok "$1" "$NEWTOK")" == 401 ]]; }
for n in 1 2 3 4; do
  wait_for "the revoked token refused at edge$n" 30 tok_refused "${EPORT[$n]}" && ok "the revoked token is refused at edge$n"
done
check "the revoked token is refused at the origin" 401 "$(with_tok "$OPORT" "$NEWTOK")"

# Edge3 away past the log window: snapshot, then converge.
put "${EPORT[1]}" "$NS" doomed2 y >/dev/null
wait_for "edge3 sees doomed2" 30 has_value "${EPORT[3]}" "$NS" doomed2 y || true
snaps_before=$(grep -c "snapshot to link" "$TMP/origin.err" || true)
PID=${EPID[3]} stop_node KILL
for i in $(seq 1 100); do put "${EPORT[1]}" "$NS" "w$i" "$i" >/dev/null; done
del "${EPORT[1]}" "$NS" doomed2 >/dev/null
start_edge 3
wait_for "edge3 converges by snapshot" 30 same_digest "${EPORT[3]}" && ok "edge3 converged after a snapshot (digest equal)"
[[ $(grep -c "snapshot to link" "$TMP/origin.err" || true) -gt $snaps_before ]] && ok "origin streamed a snapshot to edge3" || bad "no snapshot was streamed"
check "snapshot keeps deletes" 404 "$(code "${EPORT[3]}" "$NS" doomed2)"
check "snapshot carries data" 100 "$(get "${EPORT[3]}" "$NS" w100)"
check "snapshot carries the tokens" 200 "$(with_tok "${EPORT[3]}" "$ROTOK")"
check "and not the revoked ones" 401 "$(with_tok "${EPORT[3]}" "$NEWTOK")"

# A bulk write too big for the loop (over 64 KiB: the store worker commits
# it) with small writes racing it. The loop commits a small group itself
# only while no group is out on the worker (REPLICA_INLINE_COMMIT_MAX_BYTES
# in node/replica/replica_int.h), so the log and the stored position stay
# in order: after a clean restart the origin is at the sequence it had.
jq -n '[range(0; 10000) | {key: ("mix-" + (. | tostring)), value: "0123456789012345678901234567890123456789"}]' >"$TMP/mix.json"
curl -s -o "$TMP/mix.out" -X PUT -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
  --data-binary @"$TMP/mix.json" "$(url "$OPORT" "/$NS/bulk")" &
BULK=$!
racer() { # racer N: small writes until the bulk write is answered
  local i=0
  while kill -0 "$BULK" 2>/dev/null; do
    [[ $(put "$OPORT" "$NS" "race$1-$i" "r$i") == 200 ]] && echo "race$1-$i r$i" >>"$TMP/race$1"
    i=$((i + 1))
  done
}
for r in 1 2 3 4; do : >"$TMP/race$r"; racer "$r" & RACERS[r]=$!; done
wait "$BULK"
for r in 1 2 3 4; do wait "${RACERS[r]}"; done
check "the bulk write beside small ones" 10000 "$(jq .result.successful_key_count "$TMP/mix.out")"
raced=$(cat "$TMP"/race[1-4] | wc -l)
[[ $raced -gt 0 ]] && ok "$raced small writes raced it" || bad "no small write was acknowledged beside the bulk write"
seq_before=$(ops_status "$OPORT" | jq .replication.last_seq)
PID=$OPID stop_node TERM
start_node origin1 --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen "127.0.0.1:$RP" --log-retention 10 --log-retention-max 40 "${COMMON[@]}"
OPID=$PID OPORT=$PORT
check "the origin's sequence after a clean restart" "$seq_before" "$(ops_status "$OPORT" | jq .replication.last_seq)"
lost=0
while read -r k v; do [[ "$(get "$OPORT" "$NS" "$k")" == "$v" ]] || lost=$((lost + 1)); done < <(cat "$TMP"/race[1-4])
check "small writes lost beside the bulk write" 0 "$lost"
check "a bulk key after the restart" 0123456789012345678901234567890123456789 "$(get "$OPORT" "$NS" mix-9999)"
for n in 1 2 3 4; do wait_for "edge$n live again" 30 live "${EPORT[$n]}"; done

# The origin killed with SIGKILL under a stream of writes: none of the
# acknowledged ones may be lost.
: >"$TMP/ledger"
(
  for i in $(seq 1 400); do
    c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT -H "Authorization: Bearer $TOK" \
      --data-binary "L$i" "$(url "$OPORT" "/$NS/values/ledger$i")")
    [[ "$c" == 200 ]] && echo "$i" >>"$TMP/ledger"
  done
) &
WRITER=$!
# The crash lands mid-stream: after 20 acknowledged writes, whatever the
# machine's speed.
acked_at_least() { [[ $(wc -l <"$TMP/ledger") -ge $1 ]]; }
wait_for "20 acknowledged writes" 60 acked_at_least 20
PID=$OPID stop_node KILL
wait "$WRITER" || true
acked=$(wc -l <"$TMP/ledger")
[[ $acked -gt 0 ]] && ok "$acked writes acknowledged before the crash" || bad "no write was acknowledged"
down() { [[ "$(ops_status "$1" | jq -r .replication.link)" != live ]]; }
wait_for "edge1 to see the origin gone" 30 down "${EPORT[1]}"
check "a write through an edge with the origin down is refused" 503 "$(put "${EPORT[1]}" "$NS" nowhere x)"
stale() { [[ "$(ops_status "$1" | jq -r .replication.stale)" == true ]]; }
wait_for "edge1 stale (past its 1000 ms bound)" 30 stale "${EPORT[1]}"
wait_for "edge4 stale (past its 500 ms bound)" 30 stale "${EPORT[4]}"
check "a stale edge still serves reads" hello "$(get "${EPORT[1]}" "$NS" greeting)"
curl -s -D - -o /dev/null -H "Authorization: Bearer $TOK" "$(url "${EPORT[1]}" "/$NS/values/greeting")" |
  grep -qi '^X-EdgeKV-Stale-Ms: [0-9]' && ok "and says how stale (X-EdgeKV-Stale-Ms)" || bad "no X-EdgeKV-Stale-Ms header"
check "a strict edge refuses reads while stale" 503 "$(code "${EPORT[4]}" "$NS" greeting)"
check "stale in /status" true "$(ops_status "${EPORT[4]}" | jq -r .replication.stale)"
start_node origin2 --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen "127.0.0.1:$RP" --log-retention 10 --log-retention-max 40 "${COMMON[@]}"
OPID=$PID OPORT=$PORT
lost=0
while read -r i; do
  [[ "$(get "$OPORT" "$NS" "ledger$i")" == "L$i" ]] || lost=$((lost + 1))
done <"$TMP/ledger"
check "acknowledged writes lost by the origin crash" 0 "$lost"
for n in 1 2 3 4; do
  wait_for "edge$n converges after the origin restart" 30 same_digest "${EPORT[$n]}" && ok "edge$n converged after the origin restart"
done
fresh() { [[ "$(ops_status "$1" | jq -r .replication.stale)" == false ]]; }
wait_for "edge4 fresh again" 30 fresh "${EPORT[4]}" || true
check "the strict edge serves reads again once fresh" hello "$(get "${EPORT[4]}" "$NS" greeting)"

# Certificates: an edge certificate from another CA, an edge that trusts
# another CA, an expired certificate. Each refusal is waited for in the log
# of the side that refuses, with its reason; the refused edge stays up and
# its link never goes live.
"$EDGEKV" certs init --dir "$TMP/other" --edges 1 >/dev/null
mkdir "$TMP/foreign"
cp "$TMP/other/edge1.crt" "$TMP/other/edge1.key" "$CERTS/ca.crt" "$TMP/foreign/"
"$EDGEKV" certs issue --dir "$CERTS" --role edge --name expired --valid-from -7200 --valid-until -3600 >/dev/null
count() { grep -c -- "$2" "$1" 2>/dev/null || true; }
more_than() { [[ $(count "$1" "$2") -gt $3 ]]; }
refused() { # refused NAME CERTDIR CERTNAME WHERE_REFUSED REASON EDGE_SEES
  local name=$1 where=$4 reason=$5 sees=$6 before log
  log=$TMP/$where.err
  [[ $where == edge ]] && log=$TMP/$name.err
  before=$(count "$log" "refused: $reason")
  start_role "$name" edge --data "$TMP/$name" --certs "$2" --name "$3" --origin "127.0.0.1:$RP" "${COMMON[@]}"
  wait_for "the $where to refuse $name ($reason)" 30 more_than "$log" "refused: $reason" "$before" &&
    ok "$name refused by the $where: $reason"
  wait_for "$name to see the refusal ($sees)" 30 more_than "$TMP/$name.err" "refused: $sees" 0 &&
    ok "$name sees: $sees"
  check "$name is still running" 0 "$(kill -0 "$PID" 2>/dev/null; echo $?)"
  check "$name link not live" false "$(ops_status "$PORT" | jq -r '.replication.link == "live"')"
  check "$name never went up" 0 "$(count "$TMP/$name.err" "link [0-9]* up")"
  stop_node TERM
}
refused foreign "$TMP/foreign" edge1 origin2 "peer certificate: unable to get local issuer certificate" \
  "peer refused the handshake (alert: unknown CA)"
refused trusts-other "$TMP/other" edge1 edge "peer certificate chain: self-signed certificate in certificate chain" \
  "peer certificate chain: self-signed certificate in certificate chain"
refused expired "$CERTS" expired origin2 "peer certificate: certificate has expired" \
  "peer refused the handshake (alert: certificate expired)"
# An edge given the origin's certificate refuses to start ...
set +e
"$EDGEKV" edge --listen 127.0.0.1:0 --data "$TMP/wrongrole" --certs "$CERTS" --name origin \
  --origin "127.0.0.1:$RP" "${COMMON[@]}" >/dev/null 2>"$TMP/wrongrole.err"
rc=$?
set -e
check "an edge with an origin certificate does not start" 1 "$rc"
grep -q "has role origin, but this node is an edge" "$TMP/wrongrole.err" && ok "wrong-role message" || bad "wrong-role message: $(cat "$TMP/wrongrole.err")"
# ... and an edge refuses a peer that presents an edge certificate as the
# origin (a rogue TLS server holding a valid edge certificate of the cluster).
reserve_port
RPORT=$RESERVED
openssl s_server -quiet -accept "127.0.0.1:$RPORT" -tls1_3 -cert "$CERTS/edge1.crt" -key "$CERTS/edge1.key" \
  -CAfile "$CERTS/ca.crt" -Verify 1 </dev/null >"$TMP/s_server.out" 2>&1 &
ROGUE=$!
PIDS+=("$ROGUE")
# No wait for the server to listen: the edge retries its connection until
# the refusal below.
start_role rogue edge --data "$TMP/rogue" --certs "$CERTS" --name edge3 --origin "127.0.0.1:$RPORT" "${COMMON[@]}"
wait_for "the rogue refused for its role" 30 more_than "$TMP/rogue.err" "refused: peer role edge where origin or relay expected" 0 &&
  ok "an edge refuses an edge certificate posing as the origin (wrong role)"
check "rogue link not live" false "$(ops_status "$PORT" | jq -r '.replication.link == "live"')"
stop_node TERM
kill "$ROGUE" 2>/dev/null || true

# Every node stops cleanly on SIGTERM (exit 0), edges first.
for n in 1 2 3 4; do PID=${EPID[$n]} stop_node TERM; done
PID=$OPID stop_node TERM
check "origin stops cleanly" 0 "$RC"
finish
