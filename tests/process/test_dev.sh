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
kill -INT "$DEV"
set +e
wait "$DEV"
RC=$?
set -e
check "dev exits 0 on SIGINT" 0 "$RC"
grep -q "edgekv dev: stopped" "$TMP/dev.out" && ok "dev stopped every node" || bad "no stop message"
finish
