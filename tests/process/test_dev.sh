#!/usr/bin/env bash
# test_dev.sh - `edgekv dev`, the first README command's cluster: it starts
# an origin and two edges, prints the endpoints and the env file, replicates
# a write, and stops every process on SIGINT.
source "$(dirname "$0")/lib.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Ports: the origin's P, edges P+2+i; find a P with room around it.
P=$(( ( $(free_port) % 20000 ) + 30000 ))
R=$(free_port)
"$EDGEKV" dev --dir "$TMP/dev" --edges 2 --port "$P" --repl-port "$R" --sync off >"$TMP/dev.out" 2>&1 &
DEV=$!
PIDS+=("$DEV")
wait_for "the cluster banner" 20 grep -q "env file for wrangler" "$TMP/dev.out" && ok "dev printed its endpoints"
set -a; . "$TMP/dev/edgekv.env"; set +a
check "env file points at edge1" "http://127.0.0.1:$((P + 3))/client/v4" "$CLOUDFLARE_API_BASE_URL"
A=$CLOUDFLARE_ACCOUNT_ID T=$CLOUDFLARE_API_TOKEN
live() { [[ "$(curl -s "http://127.0.0.1:$1/status" | jq -r .replication.link)" == live ]]; }
wait_for "edge1 live" 10 live $((P + 3))
wait_for "edge2 live" 10 live $((P + 4))
NS=$(curl -s -X POST -H "Authorization: Bearer $T" -d '{"title":"dev"}' \
  "$CLOUDFLARE_API_BASE_URL/accounts/$A/storage/kv/namespaces" | jq -r .result.id)
check "namespace through edge1" 32 "${#NS}"
curl -s -o /dev/null -X PUT -H "Authorization: Bearer $T" --data-binary v1 \
  "$CLOUDFLARE_API_BASE_URL/accounts/$A/storage/kv/namespaces/$NS/values/k"
got() { [[ "$(curl -s -H "Authorization: Bearer $T" "http://127.0.0.1:$((P + 4))/client/v4/accounts/$A/storage/kv/namespaces/$NS/values/k")" == v1 ]]; }
wait_for "edge2 reads edge1's write" 5 got && ok "edge2 reads edge1's write"
# edgekv kv against the cluster: write through edge1, read through edge2.
E1="http://127.0.0.1:$((P + 3))" E2="http://127.0.0.1:$((P + 4))"
kvc() { "$EDGEKV" kv "$@" --token "$T" --account "$A"; }
kvc key put cli-key cli-value --namespace-id "$NS" --url "$E1" >/dev/null && ok "kv key put through edge1" || bad "kv key put through edge1"
check "kv key get through edge1 (read-your-write)" cli-value "$(kvc key get cli-key --namespace-id "$NS" --url "$E1")"
cli_at_edge2() { [[ "$(kvc key get cli-key --namespace-id "$NS" --url "$E2" 2>/dev/null)" == cli-value ]]; }
wait_for "kv key get through edge2" 5 cli_at_edge2 && ok "kv key get through edge2"
printf '[{"key":"b1","value":"x"},{"key":"b2","value":"y"}]' >"$TMP/bulk.json"
kvc bulk put "$TMP/bulk.json" --namespace-id "$NS" --url "$E1" >/dev/null && ok "kv bulk put through edge1" || bad "kv bulk put through edge1"
listed() { [[ "$(kvc key list --namespace-id "$NS" --prefix b --json --url "$E2" 2>/dev/null | jq length)" == 2 ]]; }
wait_for "kv key list through edge2" 5 listed && ok "kv key list through edge2 sees the bulk"
kvc key delete cli-key --namespace-id "$NS" --url "$E1" >/dev/null
gone() { ! kvc key get cli-key --namespace-id "$NS" --url "$E2" >/dev/null 2>&1; }
wait_for "the delete at edge2" 5 gone && ok "kv key delete through edge1 reaches edge2"

kill -INT "$DEV"
set +e
wait "$DEV"
RC=$?
set -e
check "dev exits 0 on SIGINT" 0 "$RC"
grep -q "edgekv dev: stopped" "$TMP/dev.out" && ok "dev stopped every node" || bad "no stop message"
finish
