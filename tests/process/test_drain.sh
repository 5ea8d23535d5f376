#!/usr/bin/env bash
# test_drain.sh - graceful drain on SIGTERM (node/cmd/main.c on_signal,
# --drain-ms), on an edge and on the origin:
#  1. a slow upload through the edge is in flight when SIGTERM arrives;
#  2. /readyz answers 503 "draining" at once while the listener still takes
#     new connections (/healthz 200 on a fresh connection): readiness goes
#     false before the listener closes;
#  3. the upload in flight completes with success, and the value is at the
#     origin;
#  4. the drain period is long (a minute), so the node is still running and
#     serving after the upload: a second SIGTERM ends the drain at once, the
#     edge exits 0 and its port refuses connections;
#  5. the origin drains the same way (its /readyz 503) and a second SIGINT
#     stops it, exit 0.
# The drain is never timed: the test moves on by conditions and the second
# signal, so a slow machine only makes it slower.
source "$(dirname "$0")/lib.sh"

DRAIN_MS=60000
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctdrain TOK=drain-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --threads 1 --drain-ms "$DRAIN_MS")
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
start_edge 1
EPID1=${EPID[1]} EPORT1=${EPORT[1]}
TOKEN=$TOK

readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz"; }
readyz_body() { curl -s "http://127.0.0.1:$1/readyz"; }
is_code() { [[ $(readyz "$1") == "$2" ]]; }
logged() { grep -c -- "$2" "$1" >/dev/null; }
gauge() { curl -s "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
wait_for "the edge ready" 30 is_code "$EPORT1" 200
check "the origin is ready" 200 "$(readyz "$OPORT")"

EBASE="http://127.0.0.1:$EPORT1/client/v4/accounts/$ACCT/storage/kv/namespaces"
OBASE="http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/storage/kv/namespaces"
NS=$(api POST "$EBASE" -H 'Content-Type: application/json' -d '{"title":"drain"}' | jq -r .result.id)
check "namespace created" 32 "${#NS}"

# ---- 1. a request in flight -----------------------------------------------------------
# 256 KiB at 64 KiB/s: the upload lasts about four seconds whatever the node does.
head -c $((256 * 1024)) /dev/urandom >"$TMP/body.bin"
open0=$(gauge "$EPORT1" edgekv_http_connections_open)
curl -s -X PUT -H "Authorization: Bearer $TOK" --limit-rate 64K --data-binary @"$TMP/body.bin" \
  "$EBASE/$NS/values/inflight" >"$TMP/put.out" 2>&1 &
CURL=$!
# In flight: its connection is open at the edge (the scrape's own is the other).
conn_up() { [[ $(gauge "$EPORT1" edgekv_http_connections_open) -gt $open0 ]]; }
wait_for "the upload's connection at the edge" 20 conn_up

# ---- 2. SIGTERM: not ready, still serving ------------------------------------------------
kill -TERM "$EPID1"
wait_for "the edge's /readyz 503 after SIGTERM" 10 is_code "$EPORT1" 503
check "/readyz says why" "not ready: draining (stopping after a signal)" "$(readyz_body "$EPORT1")"
check "the listener still takes new connections while not ready (healthz)" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$EPORT1/healthz")"
check "reads are still served while draining" 1 \
  "$(api GET "$EBASE/$NS/keys" | jq -r '.success' | grep -c true)"
check "the edge logged the drain" 1 "$(grep -c "signal 15: draining $DRAIN_MS ms" "$TMP/edge1.err")"

# ---- 3. the request in flight completes ---------------------------------------------------
set +e
wait "$CURL"
crc=$?
set -e
check "the upload in flight finished (curl exit 0)" 0 "$crc"
check "the upload in flight succeeded" true "$(jq -r .success "$TMP/put.out")"
api GET "$OBASE/$NS/values/inflight" -o "$TMP/got.bin"
check "its value is at the origin, byte-exact" same \
  "$(cmp -s "$TMP/body.bin" "$TMP/got.bin" && echo same || echo differs)"

# ---- 4. still draining; a second signal stops it ----------------------------------------
check "the edge is still running (draining) after the upload" 1 \
  "$(kill -0 "$EPID1" 2>/dev/null && echo 1 || echo 0)"
check "and still not ready" 503 "$(readyz "$EPORT1")"
PID=$EPID1
stop_node TERM 0
check "the edge exited 0 after the second SIGTERM" 0 "$RC"
check "the edge logged the second signal" 1 "$(grep -c "signal 15 again: ending the drain now" "$TMP/edge1.err")"
check "the edge stopped cleanly" 1 "$(grep -c "stopped cleanly" "$TMP/edge1.err")"
check "the edge's port is closed" 000 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$EPORT1/healthz" || true)"
# The order in the log: the drain began, then the second signal, then the stop.
check "drain, second signal, stop: in that order" "draining again stopped" \
  "$(grep -oE "draining $DRAIN_MS|signal 15 again|stopped cleanly" "$TMP/edge1.err" |
    sed 's/^draining .*/draining/; s/^signal 15 again/again/; s/^stopped cleanly/stopped/' |
    tr '\n' ' ' | sed 's/ $//')"

# ---- 5. the origin drains too ------------------------------------------------------------
kill -TERM "$OPID"
wait_for "the origin's /readyz 503 after SIGTERM" 10 is_code "$OPORT" 503
check "the origin still serves while draining" v \
  "$(api PUT "$OBASE/$NS/values/late" --data-binary v >/dev/null && api GET "$OBASE/$NS/values/late")"
PID=$OPID
stop_node INT 0
check "the origin exited 0 after SIGINT" 0 "$RC"
check "the origin logged the second signal" 1 "$(grep -c "signal 2 again: ending the drain now" "$TMP/origin.err")"
finish
