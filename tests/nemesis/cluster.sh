# cluster.sh - the cluster of run.sh and history.sh, sourced after
# tests/process/lib.sh: an origin (--sync always: acknowledged means
# durable) and three edges over mutual TLS on loopback (edge3 with
# --strict-staleness true: it refuses reads while stale), each edge's
# replication link through its own edgekv-proxy (sim/proxy.c), one namespace.
#
#   cluster_ports    reserves the ports every node keeps across a restart
#                    (RP, OHTTP, EHTTP[1..3]); draws from RANDOM, so a
#                    seeded schedule sets RANDOM after it
#   cluster_start    certificates, origin, proxies, edges, the namespace;
#                    sets NS and the client's node list NODES
#   start_origin, start_edge_n N   (re)start a node on its ports
#   ctl N COMMAND    one command to proxy N's control port (cut MS,
#                    freeze MS, heal, stats); prints the answer
#   live PORT, same_digest PORT    conditions for wait_for
#   cluster_heal_converge          heals every link, waits (bounded) until
#                    every edge is live with the origin's digest and fresh
#   cluster_stop_proxies
# Needs $EDGEKV and $CUTPROXY.
CERTS=$TMP/certs
ACCT=acctnemesis TOK=nemesis-token-0123456789
TOKEN=$TOK ACCOUNT=$ACCT
COMMON=(--account "$ACCT" --token "$TOK" --sync always --threads 1)
declare -A EHTTP=() PPORT=() CPORT=() PROXY=()

cluster_ports() {
  reserve_port; RP=$RESERVED
  reserve_port; OHTTP=$RESERVED
  local n
  for n in 1 2 3; do reserve_port; EHTTP[$n]=$RESERVED; done
}

start_origin() {
  start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
    --repl-listen "127.0.0.1:$RP" --listen "127.0.0.1:$OHTTP" "${COMMON[@]}"
  OPID=$PID
}

start_edge_n() { # start_edge_n N : edge N, its link through proxy N; edge3 strict
  start_edge "$1" --origin "127.0.0.1:${PPORT[$1]}" --listen "127.0.0.1:${EHTTP[$1]}" \
    $([[ $1 == 3 ]] && echo --strict-staleness true)
}

ops_status() { curl -s --max-time 5 -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
live() { [[ "$(ops_status "$1" | jq -r .replication.link)" == live ]]; }
# Within its staleness bound: a strict edge answers reads only then. A frozen link
# stays live, and its held bytes bring the digest level as it heals, before the
# next heartbeat's round trip proves the edge current again.
fresh() { [[ "$(ops_status "$1" | jq -r .replication.stale)" == false ]]; }
digest() { curl -s --max-time 30 -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
same_digest() {
  local a b
  a=$(digest "$1") b=$(digest "$OHTTP")
  [[ $a =~ ^[0-9a-f]{64}$ && "$a" == "$b" ]]
}
ctl() {
  local fd reply
  exec {fd}<>"/dev/tcp/127.0.0.1/${CPORT[$1]}"
  echo "$2" >&"$fd"
  read -r -t 10 reply <&"$fd" || reply="(no answer)"
  exec {fd}>&-
  echo "$reply"
}
proxy_up() { grep -q "control on port" "$TMP/proxy$1.log"; }
has_ns() { [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" \
  "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values/none") == 404 ]]; }
base() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS"; }

cluster_start() {
  local n
  "$EDGEKV" certs init --dir "$CERTS" --edges 3 >/dev/null
  start_origin
  for n in 1 2 3; do
    "$CUTPROXY" --listen 127.0.0.1:0 --upstream "127.0.0.1:$RP" --control 127.0.0.1:0 \
      >"$TMP/proxy$n.log" 2>"$TMP/proxy$n.err" &
    PROXY[$n]=$!
    PIDS+=("$!")
    wait_for "proxy$n banner" 10 proxy_up "$n"
    PPORT[$n]=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$TMP/proxy$n.log")
    CPORT[$n]=$(sed -n 's/.*control on port \([0-9]*\).*/\1/p' "$TMP/proxy$n.log")
  done
  for n in 1 2 3; do start_edge_n "$n"; done
  for n in 1 2 3; do wait_for "edge$n live" 30 live "${EHTTP[$n]}"; done
  NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"nemesis"}' \
    "http://127.0.0.1:$OHTTP/client/v4/accounts/$ACCT/storage/kv/namespaces" | jq -r .result.id)
  check "namespace created" 32 "${#NS}"
  for n in 1 2 3; do wait_for "edge$n knows the namespace" 30 has_ns "${EHTTP[$n]}"; done
  NODES=(--node "origin=$(base "$OHTTP")")
  for n in 1 2 3; do NODES+=(--node "edge$n=$(base "${EHTTP[$n]}")"); done
}

cluster_heal_converge() {
  local n reply converged=0
  for n in 1 2 3; do
    reply=$(ctl "$n" heal)
    [[ $reply == ok* ]] || bad "proxy$n heal: $reply"
  done
  for n in 1 2 3; do
    wait_for "edge$n live after the faults" 60 live "${EHTTP[$n]}" &&
      wait_for "edge$n converges (digest equal to the origin's)" 120 same_digest "${EHTTP[$n]}" &&
      wait_for "edge$n fresh (within its staleness bound)" 60 fresh "${EHTTP[$n]}" &&
      converged=$((converged + 1))
  done
  check "edges converged (digests equal)" 3 "$converged"
}

cluster_stop_proxies() {
  local n
  for n in 1 2 3; do stop_pid "${PROXY[$n]}" TERM 0; done
}
