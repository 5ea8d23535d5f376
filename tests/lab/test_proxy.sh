#!/usr/bin/env bash
# test_proxy.sh - edgekv-proxy between a real origin and a real edge over
# mutual TLS (the bytes pass through untouched), with the delays of lab12's
# Frankfurt-Sydney link (about 125 ms one-way): a write at the origin is not
# visible at the edge before one one-way delay has passed; a freeze holds a
# write back until the heal, then it arrives; a cut resets the link, the
# edge reconnects through the proxy and catches up; the control port
# answers stats. Lower bounds and orders only: no assertion on speed.
source "$(dirname "$0")/../process/lib.sh"
PROXY=${EDGEKV_PROXY:?path to edgekv-proxy}
SCENARIO=$(cd "$(dirname "$0")/../../sim/scenarios" && pwd)/lab12.json

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctproxy TOK=proxy-token-0123456789
TOKEN=$TOK ACCOUNT=$ACCT
COMMON=(--account "$ACCT" --token "$TOK" --sync always --threads 1)
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen 127.0.0.1:0 "${COMMON[@]}"
OPORT=$PORT RP=$REPL_PORT

"$PROXY" --listen 127.0.0.1:0 --upstream "127.0.0.1:$RP" --control 127.0.0.1:0 \
  --scenario "$SCENARIO" --place sydney >"$TMP/proxy.log" 2>"$TMP/proxy.err" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
proxy_up() { grep -q "control on port" "$TMP/proxy.log"; }
wait_for "proxy banner" 10 proxy_up
PPORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$TMP/proxy.log")
CPORT=$(sed -n 's/.*control on port \([0-9]*\).*/\1/p' "$TMP/proxy.log")
BASE_MS=$(sed -n 's/.*base one-way \([0-9.]*\) ms.*/\1/p' "$TMP/proxy.log")
check "the proxy took the world profile's Frankfurt-Sydney delay" 1 \
  "$(awk -v b="$BASE_MS" 'BEGIN { print (b > 100 && b < 150) }')"
RP=$PPORT start_edge 1
EPORT1=${EPORT[1]}

ctl() { # ctl COMMAND -> the proxy's answer line
  python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])))
s.sendall((sys.argv[2]+"\n").encode()); print(s.makefile().readline().strip())' "$CPORT" "$1"
}
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "$4" "$(url "$1" "/$2/values/$3")"; }
get() { curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
has_value() { [[ "$(get "$1" "$2" "$3")" == "$4" ]]; }
live() { [[ "$(curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r .replication.link)" == live ]]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

wait_for "edge live through the proxy" 60 live "$EPORT1" && ok "edge links to the origin through the proxy (TLS passes through)"
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"proxy"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace at the origin" 32 "${#NS}"

# Not before one one-way delay: the proxy holds every byte at least base_ms.
t0=$(now_ms)
check "write at the origin" 200 "$(put "$OPORT" "$NS" k1 v1)"
wait_for "k1 at the edge" 30 has_value "$EPORT1" "$NS" k1 v1
dt=$(($(now_ms) - t0))
check "visible at the edge no sooner than the one-way delay ($dt ms >= $BASE_MS ms)" 1 \
  "$(awk -v d="$dt" -v b="$BASE_MS" 'BEGIN { print (d >= b) }')"

# A freeze holds the write; the heal lets it through.
check "freeze" "ok freeze 1 connections for 600000 ms at_ns=" "$(ctl 'freeze 600000' | sed 's/=[0-9]*$/=/')"
check "write during the freeze" 200 "$(put "$OPORT" "$NS" k2 v2)"
# Twice the one-way delay and more: the write would have arrived by now.
t_frozen=$(now_ms)
until (($(now_ms) - t_frozen > 1000)); do
  [[ "$(get "$EPORT1" "$NS" k2)" == v2 ]] && break
  sleep 0.05
done
check "nothing passes a frozen link" "" "$([[ "$(get "$EPORT1" "$NS" k2)" == v2 ]] && echo leaked)"
check "heal" "ok healed" "$(ctl heal)"
wait_for "k2 after the heal" 30 has_value "$EPORT1" "$NS" k2 v2 && ok "the held write arrives after the heal"

# A cut resets the link; the edge reconnects through the proxy.
check "cut" "ok cut 1 connections for 500 ms at_ns=" "$(ctl 'cut 500' | sed 's/=[0-9]*$/=/')"
check "write during the cut" 200 "$(put "$OPORT" "$NS" k3 v3)"
wait_for "k3 after the cut" 60 has_value "$EPORT1" "$NS" k3 v3 && ok "the edge reconnects after a cut and catches up"
stats=$(ctl stats)
check "stats: the link was cut once and frozen once" "cuts=1 freezes=1" \
  "$(grep -o 'cuts=[0-9]* freezes=[0-9]*' <<<"$stats")"
check "stats: bytes passed both ways, shaped" 1 \
  "$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
          END { print (v["bytes_up"] > 0 && v["bytes_down"] > 0 && v["reset"] == 1 && v["shaping"] == "on") }' <<<"$stats")"
check "an unknown command is refused" "err unknown command: bogus" "$(ctl bogus)"

stop_pid "$PROXY_PID" TERM 0
finish
