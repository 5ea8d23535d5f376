#!/usr/bin/env bash
# test_abuse_edge.sh - a hostile edge with a valid certificate against a
# real origin (tests/process/hostile_edge.c speaks the protocol).
#
# 1. Forged writes: the origin re-checks every forwarded op against the
#    token the edge names (node/replica/judge.h). A TOKEN_PUT for another
#    account, one made with a read token, with no token, an unknown or a
#    revoked one; a put into, a create for, a delete of another account's
#    namespace; a write mixing a fair op with a forged one. Each is refused
#    with the code the local check gives; nothing of them is committed; the
#    forged tokens' secrets get 401 at the origin's REST API; a fair write
#    through the same link is accepted, and a real edge's writes still work;
#    a token only the edge knows gets 401 through it, from the origin.
# 2. The same forged script REPEAT times more: the origin's RSS stays
#    within a bound and it keeps serving.
# 3. A Hello claiming the node id of a linked edge closes the link (the
#    origin logs why); that edge stays live. 4. A frame announcing more than KV_FRAME_MAX_BYTES closes
#    the link; the origin keeps serving.
# Every node is stopped by PID and must exit 0; finish scans for sanitizer
# reports.
source "$(dirname "$0")/lib.sh"

HOSTILE=${HOSTILE_EDGE:?HOSTILE_EDGE must name the hostile_edge tool}
REPEAT=${EDGEKV_ABUSE_EDGE_REPEAT:-150}
RSS_SLACK_KB=$((32 * 1024))
# An ASan build pays redzones and its quarantine (kept small here: freed
# memory held by the default 256 MiB quarantine would look like growth).
if grep -qa __asan_init "$EDGEKV"; then
  RSS_SLACK_KB=$((128 * 1024))
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
ACCT=acctfwd TOK=fwd-operator-token-0123456789 VTOK=fwd-victim-token-0123456789
cat >"$TMP/config.json" <<EOF
{"account_id": "$ACCT",
 "tokens": [{"name": "op", "token": "$TOK", "account": "$ACCT", "access": "write"},
            {"name": "victim", "token": "$VTOK", "account": "victim", "access": "write"}]}
EOF
COMMON=(--config "$TMP/config.json" --sync off --threads 1)
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
TOKEN=$TOK ACCOUNT=$ACCT
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
v4() { echo "http://127.0.0.1:$1/client/v4/accounts/$2"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# The origin's data: a namespace of each account, a read token of ACCT and
# a token made and revoked.
NS_OWN=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"own"}' "$(v4 "$OPORT" "$ACCT")/storage/kv/namespaces" | jq -r .result.id)
NS_VIC=$(curl -s -X POST -H "Authorization: Bearer $VTOK" -d '{"title":"vic"}' "$(v4 "$OPORT" victim)/storage/kv/namespaces" | jq -r .result.id)
check "a namespace of each account" "32 32" "${#NS_OWN} ${#NS_VIC}"
RID=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"name":"r","access":"read"}' "$(v4 "$OPORT" "$ACCT")/tokens" | jq -r .result.id)
XID=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"name":"x"}' "$(v4 "$OPORT" "$ACCT")/tokens" | jq -r .result.id)
check "a read token and a revoked one" "16 16" "${#RID} ${#XID}"
check "revoked" 200 "$(code -X DELETE -H "Authorization: Bearer $TOK" "$(v4 "$OPORT" "$ACCT")/tokens/$XID")"

# A real edge, linked: its writes still pass the origin's check. It also
# has a token of its own the origin does not know (EOTOK): the edge admits
# it, the origin refuses what it forwards, and the client gets the answer
# of the local check.
EOTOK=fwd-edge-only-token-0123456789
start_edge 1 --token "$EOTOK"
link_of() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r .replication.link; }
live() { [[ "$(link_of "$1")" == live ]]; }
wait_for "edge1 to link" 30 live "${EPORT[1]}" && ok "edge1 links"
has_ns() { [[ $(code -H "Authorization: Bearer $TOK" "$(v4 "${EPORT[1]}" "$ACCT")/storage/kv/namespaces/$NS_OWN") == 200 ]]; }
wait_for "edge1 to have the namespace" 30 has_ns
check "a fair write through a real edge" 200 "$(code -X PUT -H "Authorization: Bearer $TOK" --data-binary fair \
  "$(v4 "${EPORT[1]}" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/fair")"
ANSWER=$(curl -s -w ' %{http_code}' -X PUT -H "Authorization: Bearer $EOTOK" --data-binary x \
  "$(v4 "${EPORT[1]}" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/edge-only")
check "a token the origin does not know: 401 from the origin, as the local check says it" \
  '10000 Authentication error 401' "$(echo "$ANSWER" | jq -r '"\(.errors[0].code) \(.errors[0].message)"' 2>/dev/null) ${ANSWER##* }"
check "nothing of it written" 404 "$(code -H "Authorization: Bearer $TOK" \
  "$(v4 "$OPORT" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/edge-only")"
check "another account's token may not write through it" 403 "$(code -X PUT -H "Authorization: Bearer $VTOK" --data-binary x \
  "$(v4 "${EPORT[1]}" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/x")"

# ---- 1. forged writes ----------------------------------------------------------------
hostile() { # hostile NODE_ID SCRIPT REPEAT -> the tool's output
  "$HOSTILE" "$CERTS/ca.crt" "$CERTS/edge2.crt" "$CERTS/edge2.key" "$RP" "$1" "$2" "$3"
}
cat >"$TMP/forged" <<EOF
secret:$TOK tokput:f1f1f1f1f1f1f1f1:victim:w:forged-secret-1
id:$RID tokput:f2f2f2f2f2f2f2f2:$ACCT:w:forged-secret-2
- tokput:f3f3f3f3f3f3f3f3:$ACCT:w:forged-secret-3
id:0123456789abcdef tokput:f4f4f4f4f4f4f4f4:$ACCT:w:forged-secret-4
id:$XID tokput:f5f5f5f5f5f5f5f5:$ACCT:w:forged-secret-5
secret:$TOK put:$NS_VIC:stolen
secret:$TOK nscreate:abababababababababababababababab:victim:mine
secret:$TOK nsdelete:$NS_VIC
secret:$TOK put:$NS_OWN:mixed put:$NS_VIC:mixed
id:$RID put:$NS_OWN:read-only
secret:$TOK put:$NS_OWN:legit
EOF
OUT=$(hostile 777001 "$TMP/forged" 1)
echo "$OUT" | sed 's/^/  hostile: /'
want=("result 1 ok forbidden" "result 2 ok forbidden" "result 3 ok unauth" "result 4 ok unauth"
  "result 5 ok unauth" "result 6 ok forbidden" "result 7 ok forbidden" "result 8 ok forbidden"
  "result 9 ok forbidden forbidden" "result 10 ok forbidden" "result 11 ok ok")
why=("a token for another account" "a write token minted with a read token" "a token op naming no token"
  "a token op naming an unknown token" "a token op naming a revoked token" "a put into another account's namespace"
  "a namespace created for another account" "another account's namespace deleted"
  "a write mixing a fair op and a forged one (all refused)" "a put with a read token" "a fair write (accepted)")
for i in "${!want[@]}"; do
  check "${why[$i]}" "${want[$i]}" "$(echo "$OUT" | grep "^result $((i + 1)) ")"
done
works=0
for n in 1 2 3 4 5; do
  for a in "$ACCT" victim; do
    if [[ $(code -H "Authorization: Bearer forged-secret-$n" "$(v4 "$OPORT" "$a")/tokens/verify") != 401 ]]; then
      bad "forged token $n is known at the origin (account $a)"
      works=1
    fi
  done
done
[[ $works == 0 ]] && ok "no forged token is known at the origin's REST API (401)"
check "nothing written into the victim's namespace" 404 "$(code -H "Authorization: Bearer $VTOK" \
  "$(v4 "$OPORT" victim)/storage/kv/namespaces/$NS_VIC/values/stolen")"
check "nothing of the mixed write" 404 "$(code -H "Authorization: Bearer $TOK" \
  "$(v4 "$OPORT" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/mixed")"
check "the victim's namespace is still there" 200 "$(code -H "Authorization: Bearer $VTOK" \
  "$(v4 "$OPORT" victim)/storage/kv/namespaces/$NS_VIC")"
check "no namespace created for the victim" 1 "$(curl -s -H "Authorization: Bearer $VTOK" \
  "$(v4 "$OPORT" victim)/storage/kv/namespaces" | jq '.result | length')"
check "the fair write is there" forged "$(curl -s -H "Authorization: Bearer $TOK" \
  "$(v4 "$OPORT" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/legit")"

# ---- 2. the same again, many times: memory and service --------------------------------
RSS0=$(rss "$OPID")
hostile 777001 "$TMP/forged" "$REPEAT" >"$TMP/repeat.out"
check "every repeated request answered" $((REPEAT * 11)) "$(grep -c '^result' "$TMP/repeat.out")"
check "every repeated forged op refused" 0 "$(grep '^result' "$TMP/repeat.out" | grep -v '^result 11 ' | grep -c ' ok ok\| ok$' || true)"
RSS1=$(rss "$OPID")
[[ $((RSS1 - RSS0)) -le $RSS_SLACK_KB ]] && ok "origin RSS bounded over $((REPEAT * 11)) forged requests: $RSS0 -> $RSS1 KiB" ||
  bad "origin RSS grew $RSS0 -> $RSS1 KiB (bound +$RSS_SLACK_KB KiB)"
check "the origin keeps serving" 200 "$(code -H "Authorization: Bearer $TOK" \
  "$(v4 "$OPORT" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/fair")"

# ---- 3. a forged node id -------------------------------------------------------------
E1ID=$(curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$OPORT/status" | jq -r '.replication.edges[0].node_id')
[[ $E1ID =~ ^[0-9]+$ ]] && ok "edge1's node id: $E1ID" || bad "no node id for edge1 in /status"
echo "secret:$TOK put:$NS_OWN:impostor" >"$TMP/impostor"
OUT=$(hostile "$E1ID" "$TMP/impostor" 1)
echo "$OUT" | sed 's/^/  impostor: /'
echo "$OUT" | grep -q '^closed ' && ok "a Hello with edge1's node id closes the link" ||
  bad "the impostor's link was not closed"
check "the impostor never got a Welcome" 0 "$(echo "$OUT" | grep -c '^welcome' || true)"
grep -q "(edge2): node id bound to another certificate" "$TMP/origin.err" &&
  ok "the origin says why" || bad "the origin's log does not say why it closed the impostor"
check "edge1 is still live" live "$(link_of "${EPORT[1]}")"

# ---- 4. an oversized frame -----------------------------------------------------------
echo oversize >"$TMP/oversize"
OUT=$(hostile 777002 "$TMP/oversize" 1)
echo "$OUT" | sed 's/^/  oversize: /'
echo "$OUT" | grep -q '^closed ' && ok "an oversized frame closes the link" || bad "the oversized frame did not close the link"
check "the origin keeps serving" 200 "$(code -H "Authorization: Bearer $TOK" \
  "$(v4 "$OPORT" "$ACCT")/storage/kv/namespaces/$NS_OWN/values/fair")"
check "edge1 is still live" live "$(link_of "${EPORT[1]}")"

PID=${EPID[1]} stop_node TERM
PID=$OPID stop_node TERM
finish
