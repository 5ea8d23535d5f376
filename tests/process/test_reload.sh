#!/usr/bin/env bash
# test_reload.sh - SIGHUP on a replicating origin and edge (node/cmd/main.c
# on_sighup, replica_reload_tls, auth_set_configured):
#  1. both nodes' replication certificates are re-issued from the same CA
#     and both get SIGHUP: the link is not dropped (the link counters
#     edgekv_replication_links_total and the "link up" log lines do not
#     move), writes keep flowing through the edge, the expiry gauge shows
#     the new certificates;
#  2. new connections get the new material: a TLS client at the origin's
#     replication port is shown the new serial; a forced reconnect (the
#     origin restarted on the same port) is made with the edge's new
#     certificate (the origin logs its serial) and the edge sees the new
#     origin certificate;
#  3. a reload with a broken certificate file keeps the old material: the
#     log says why, new connections still get the loaded certificate, the
#     link stays up;
#  4. tokens: a token added to the configuration file works at both nodes
#     after SIGHUP (reads, and a write through the edge that the origin
#     judges), a removed one stops; a configuration that does not parse
#     changes nothing.
source "$(dirname "$0")/lib.sh"

CERTS=$TMP/certs
# edge2's certificate is the TLS probe's (served_serial), never a replica's.
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
ACCT=acctreload
TOK_KEEP=reload-token-keep-0123456789
TOK_OLD=reload-token-old-0123456789
TOK_NEW=reload-token-new-0123456789
tokens_file() { # tokens_file TOKEN... : the configuration file both nodes read
  local t sep=""
  {
    printf '{"tokens": ['
    for t in "$@"; do
      printf '%s{"token": "%s", "account": "%s", "access": "write"}' "$sep" "$t" "$ACCT"
      sep=", "
    done
    printf ']}\n'
  } >"$TMP/tokens.json.new"
  mv "$TMP/tokens.json.new" "$TMP/tokens.json"
}
tokens_file "$TOK_KEEP" "$TOK_OLD"
COMMON=(--account "$ACCT" --config "$TMP/tokens.json" --threads 1)
reserve_port
RP=$RESERVED
start_origin() {
  start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
    --repl-listen "127.0.0.1:$RP" "${COMMON[@]}"
  OPID=$PID OPORT=$PORT TOKEN=$TOK_KEEP # start_node sets TOKEN from a banner that has none
}
start_origin
start_edge 1
EPORT1=${EPORT[1]} EPID1=${EPID[1]} TOKEN=$TOK_KEEP

metric() { # metric PORT NAME [LABEL-MATCH] -> the sample's value
  curl -s "http://127.0.0.1:$1/metrics" | grep "^$2[ {]" | grep -F -- "${3:-}" |
    awk '{print $2}' | head -1
}
ready() { [[ $(curl -s "http://127.0.0.1:$1/readyz") == ready ]]; }
serial_of() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=//'; }
enddate_of() { date -d "$(openssl x509 -noout -enddate -in "$1" | sed 's/^notAfter=//')" +%s; }
# The certificate the origin's replication port shows a new TLS client
# (with the probe's edge certificate, the cluster CA): its serial. The
# origin counts the probe as a link (it passed the handshake), so counters
# are compared only across steps without one.
served_serial() {
  openssl s_client -connect "127.0.0.1:$RP" -CAfile "$CERTS/ca.crt" -cert "$CERTS/edge2.crt" \
    -key "$CERTS/edge2.key" </dev/null 2>/dev/null | openssl x509 -noout -serial |
    sed 's/^serial=//'
}
links_up() { grep -c "replica: link [0-9]* up:" "$1" || true; }
logged() { grep -c -- "$2" "$1" >/dev/null; } # logged FILE TEXT

wait_for "the edge's link live" 30 ready "$EPORT1"
EBASE="http://127.0.0.1:$EPORT1/client/v4/accounts/$ACCT/storage/kv/namespaces"
OBASE="http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/storage/kv/namespaces"
NS=$(api POST "$EBASE" -H 'Content-Type: application/json' -d '{"title":"reload"}' | jq -r .result.id)
check "namespace created through the edge" 32 "${#NS}"
check "a write through the edge" true \
  "$(api PUT "$EBASE/$NS/values/before" --data-binary b | jq -r .success)"

O_SERIAL0=$(serial_of "$CERTS/origin.crt") E_SERIAL0=$(serial_of "$CERTS/edge1.crt")
check "the origin logged the edge's certificate serial" 1 \
  "$(grep -c "link [0-9]* up: edge edge1 (certificate serial $E_SERIAL0)" "$TMP/origin.err")"
check "one link made, counted at the origin" 1 "$(metric "$OPORT" edgekv_replication_links_total)"
check "one link made, counted at the edge" 1 "$(metric "$EPORT1" edgekv_replication_links_total)"
O_UP0=$(links_up "$TMP/origin.err") E_UP0=$(links_up "$TMP/edge1.err")

# ---- 1. rotation: a new pair from the same CA, SIGHUP to both -------------------------
# --days 30: the new certificates' notAfter differs from the old ones' (825 days).
"$EDGEKV" certs issue --dir "$CERTS" --role origin --name origin --days 30 >/dev/null
"$EDGEKV" certs issue --dir "$CERTS" --role edge --name edge1 --days 30 >/dev/null
O_SERIAL1=$(serial_of "$CERTS/origin.crt") E_SERIAL1=$(serial_of "$CERTS/edge1.crt")
check "the origin's new certificate has a new serial" 1 \
  "$([[ -n $O_SERIAL1 && $O_SERIAL1 != "$O_SERIAL0" ]] && echo 1 || echo 0)"
check "the edge's new certificate has a new serial" 1 \
  "$([[ -n $E_SERIAL1 && $E_SERIAL1 != "$E_SERIAL0" ]] && echo 1 || echo 0)"
check "before SIGHUP the origin still shows its loaded certificate" "$O_SERIAL0" \
  "$(served_serial)"
O_LINKS=$(metric "$OPORT" edgekv_replication_links_total) O_UP0=$(links_up "$TMP/origin.err")
kill -HUP "$OPID" "$EPID1"
wait_for "the origin's reload" 20 logged "$TMP/origin.err" "replication certificates reloaded"
wait_for "the edge's reload" 20 logged "$TMP/edge1.err" "replication certificates reloaded"
for i in $(seq 1 20); do
  api PUT "$EBASE/$NS/values/after$i" --data-binary "v$i" | jq -e .success >/dev/null ||
    bad "write after$i through the edge after the reload"
done
check "writes kept flowing: the last one read at the origin" v20 \
  "$(api GET "$OBASE/$NS/values/after20")"
check "the link was not dropped: origin link count" "$O_LINKS" \
  "$(metric "$OPORT" edgekv_replication_links_total)"
check "the link was not dropped: edge link count" 1 \
  "$(metric "$EPORT1" edgekv_replication_links_total)"
check "no new link in the origin's log" "$O_UP0" "$(links_up "$TMP/origin.err")"
check "no new link in the edge's log" "$E_UP0" "$(links_up "$TMP/edge1.err")"
check "the edge's link is live" 1 "$(metric "$EPORT1" edgekv_replication_link_live)"
check "origin gauge: the new certificate's expiry" "$(enddate_of "$CERTS/origin.crt")" \
  "$(metric "$OPORT" edgekv_certificate_not_after_seconds 'use="replication"')"
check "edge gauge: the new certificate's expiry" "$(enddate_of "$CERTS/edge1.crt")" \
  "$(metric "$EPORT1" edgekv_certificate_not_after_seconds 'use="replication"')"

# ---- 2. new connections get the new material ----------------------------------------
check "a new connection to the origin is shown its new certificate" "$O_SERIAL1" \
  "$(served_serial)"
# A forced reconnect: the origin restarts on the same port; the edge, not
# restarted, dials again with the certificate it reloaded.
stop_pid "$OPID" TERM 0
start_origin
wait_for "the edge's link live again" 30 ready "$EPORT1"
check "the reconnected edge presented its new certificate" 1 \
  "$(grep -c "link [0-9]* up: edge edge1 (certificate serial $E_SERIAL1)" "$TMP/origin.err")"
check "the edge saw the origin's new certificate" 1 \
  "$(grep -c "link [0-9]* up: origin origin (certificate serial $O_SERIAL1)" "$TMP/edge1.err")"
check "the edge counted the reconnect" 2 "$(metric "$EPORT1" edgekv_replication_links_total)"
check "a write through the edge after the reconnect" true \
  "$(api PUT "$EBASE/$NS/values/reconnected" --data-binary r | jq -r .success)"

# ---- 3. a broken file keeps the old material ----------------------------------------
O_UP1=$(links_up "$TMP/origin.err")
cp "$CERTS/origin.crt" "$TMP/origin.crt.good"
cp "$CERTS/edge1.key" "$TMP/edge1.key.good"
# The origin's certificate: a copy cut short. The edge's key: one of another pair.
head -c 200 "$TMP/origin.crt.good" >"$CERTS/origin.crt"
"$EDGEKV" certs init --dir "$TMP/other" --edges 1 >/dev/null
cp "$TMP/other/edge1.key" "$CERTS/edge1.key"
kill -HUP "$OPID" "$EPID1"
wait_for "the origin refuses the broken file" 20 logged "$TMP/origin.err" \
  "replication certificates not reloaded"
wait_for "the edge refuses the mismatched key" 20 logged "$TMP/edge1.err" \
  "replication certificates not reloaded"
check "the origin says what it keeps" 1 \
  "$(grep -c "new links still use the previous ones" "$TMP/origin.err")"
check "the write path still works" true \
  "$(api PUT "$EBASE/$NS/values/broken" --data-binary x | jq -r .success)"
check "the link stayed up" "$O_UP1" "$(links_up "$TMP/origin.err")"
check "the edge's link count did not move" 2 "$(metric "$EPORT1" edgekv_replication_links_total)"
check "the origin still shows the loaded certificate" "$O_SERIAL1" "$(served_serial)"
cp "$TMP/origin.crt.good" "$CERTS/origin.crt"
cp "$TMP/edge1.key.good" "$CERTS/edge1.key"

# ---- 4. tokens -----------------------------------------------------------------------
code() { # code PORT TOKEN -> HTTP status of listing the namespaces
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" \
    "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces"
}
check "before: the old token works at the edge" 200 "$(code "$EPORT1" "$TOK_OLD")"
check "before: the new token is unknown at the edge" 401 "$(code "$EPORT1" "$TOK_NEW")"
check "before: the new token is unknown at the origin" 401 "$(code "$OPORT" "$TOK_NEW")"
tokens_file "$TOK_KEEP" "$TOK_NEW"
kill -HUP "$OPID" "$EPID1"
wait_for "the origin's tokens reloaded" 20 logged "$TMP/origin.err" "2 configured tokens reloaded"
wait_for "the edge's tokens reloaded" 20 logged "$TMP/edge1.err" "2 configured tokens reloaded"
for p in "$OPORT" "$EPORT1"; do
  check "after: the new token works (port $p)" 200 "$(code "$p" "$TOK_NEW")"
  check "after: the removed token is refused (port $p)" 401 "$(code "$p" "$TOK_OLD")"
  check "after: the kept token works (port $p)" 200 "$(code "$p" "$TOK_KEEP")"
done
check "a write with the new token through the edge, judged at the origin" true \
  "$(TOKEN=$TOK_NEW api PUT "$EBASE/$NS/values/newtok" --data-binary n | jq -r .success)"
check "a write with the removed token is refused" 401 \
  "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK_OLD" \
    "$EBASE/$NS/values/oldtok" --data-binary o)"
# A configuration that does not parse: nothing changes.
echo '{"tokens": [' >"$TMP/tokens.json"
kill -HUP "$OPID"
wait_for "the origin refuses the broken configuration" 20 logged "$TMP/origin.err" \
  "the configuration does not parse"
check "the new token still works after a failed reload" 200 "$(code "$OPORT" "$TOK_NEW")"
check "the removed token stays refused" 401 "$(code "$OPORT" "$TOK_OLD")"
check "the failed reload left the certificates" "$O_SERIAL1" \
  "$(served_serial)"
echo "reload log lines (origin):"
grep "SIGHUP" "$TMP/origin.err" | sed 's/^/  /'
finish
