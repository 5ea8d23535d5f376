#!/usr/bin/env bash
# test_origin_name.sh - an edge reaches its origin by host name, as
# Kubernetes (edgekv-origin-0.edgekv-origin) and compose give it rather than
# an address: the name is looked up before every connect
# (node/replica/replica_net.c) and the origin's certificate is checked
# against the name.
# - `--origin localhost:PORT`: the link comes up, /readyz turns 200, a write
#   through the edge is applied;
# - a name that does not resolve: the edge serves, /readyz says why, the log
#   says "cannot resolve the upstream", and it stops at once with exit 0;
# - an origin whose certificate names 127.0.0.1 but not localhost is
#   refused by an edge that dials `localhost` (the name is what is checked).
source "$(dirname "$0")/../process/lib.sh"

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 3 >/dev/null # origin: localhost, 127.0.0.1
"$EDGEKV" certs issue --dir "$CERTS" --role origin --name ipsonly --host 127.0.0.1 >/dev/null
ACCT=acctname TOK=name-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 1)
readyz() { curl -s "http://127.0.0.1:$1/readyz"; }

start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 "${COMMON[@]}"
OPORT=$PORT RP=$REPL_PORT

# ---- by name --------------------------------------------------------------------------
start_role edge1 edge --data "$TMP/edge1" --certs "$CERTS" --name edge1 --origin "localhost:$RP" "${COMMON[@]}"
E1=$PORT E1PID=$PID
TOKEN=$TOK ACCOUNT=$ACCT # start_role read the banner's (none: configured tokens)
is_ready() { [[ $(readyz "$1") == ready ]]; }
wait_for "edge1 (origin localhost) ready" 30 is_ready "$E1" && ok "an edge dialing localhost:$RP is ready"
URL=http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/storage/kv/namespaces
NS=$(api POST "$URL" -d '{"title":"byname"}' | jq -r .result.id)
check "a write through the edge" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" \
  --data-binary v1 "http://127.0.0.1:$E1/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values/k")"
check "read back at the origin" v1 "$(api GET "$URL/$NS/values/k")"
check "link up named in the log" 1 "$(grep -c 'link 1 up: origin origin' "$TMP/edge1.err")"

# ---- a name that does not resolve -----------------------------------------------------------
start_role edge2 edge --data "$TMP/edge2" --certs "$CERTS" --name edge2 --origin "no-such-origin.invalid:$RP" "${COMMON[@]}"
E2=$PORT
has_resolve_error() { grep -q 'cannot resolve the upstream no-such-origin.invalid' "$TMP/edge2.err"; }
wait_for "the lookup error in the log" 30 has_resolve_error && ok "the edge logs: $(grep -m1 'cannot resolve' "$TMP/edge2.err" | cut -d' ' -f3-)"
body=$(readyz "$E2")
if [[ $body =~ ^"not ready: link "(down|connecting)$ ]]; then ok "/readyz: $body"; else bad "/readyz: [$body]"; fi
check "it still serves /healthz" ok "$(curl -s "http://127.0.0.1:$E2/healthz")"
t0=$SECONDS
stop_node TERM
if [[ $((SECONDS - t0)) -le 5 ]]; then ok "it stops at once ($((SECONDS - t0)) s)"; else bad "stop took $((SECONDS - t0)) s"; fi

# ---- the certificate must name the host dialed ------------------------------------------------
PID=$E1PID stop_node TERM
start_node ipsonly --data "$TMP/ipsonly" --certs "$CERTS" --name ipsonly --repl-listen 127.0.0.1:0 "${COMMON[@]}"
RP2=$REPL_PORT
start_role edge3 edge --data "$TMP/edge3" --certs "$CERTS" --name edge3 --origin "localhost:$RP2" "${COMMON[@]}"
E3=$PORT
refused() { grep -q 'refused: .*mismatch.*the upstream certificate must name localhost' "$TMP/edge3.err"; }
wait_for "the name mismatch refused" 30 refused && ok "an origin certificate without the name dialed is refused"
check "and the edge is not ready" 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$E3/readyz")"
finish
