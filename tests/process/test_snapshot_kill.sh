#!/usr/bin/env bash
# test_snapshot_kill.sh - a fresh edge SIGKILLed in the middle of its
# snapshot, while the snapshot's records sit in an SST file not yet ingested
# (node/replica/replica_work.c, storage/store_bulk.c): on restart the file
# is deleted, the store (whose position names no history) is reset, a new
# snapshot is taken and the edge ends with exactly the origin's data; the
# bulk directory is empty once it is done.
source "$(dirname "$0")/lib.sh"

N_REQ=10 # bulk requests of 10 000 records: the snapshot is ~100 000 records
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctsnapkill TOK=snapkill-token-0123456789
TOKEN=$TOK
COMMON=(--account "$ACCT" --token "$TOK" --threads 1)
reserve_port
RP=$RESERVED
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen "127.0.0.1:$RP" \
  --sync batch "${COMMON[@]}"
OPORT=$PORT OBASE=$BASE
TOKEN=$TOK
NS=$(api POST "$OBASE" -H 'Content-Type: application/json' -d '{"title":"snapkill"}' | jq -r .result.id)
check "namespace created" 32 "${#NS}"
for r in $(seq 1 "$N_REQ"); do
  # On stdin: one argument may not hold 400 KB.
  jq -nc --argjson r "$r" '[range(0;10000) | {key: "r\($r)-k\(.)", value: "v\($r)-\(.)"}]' |
    api PUT "$OBASE/$NS/bulk" -H 'Content-Type: application/json' --data-binary @- >"$TMP/bulk.json"
  [[ $(jq -r .success "$TMP/bulk.json") == true ]] || bad "bulk write $r at the origin: $(head -c 200 "$TMP/bulk.json")"
done
ops() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/$2"; }
TARGET=$(ops "$OPORT" status | jq -r .replication.last_seq)

# The edge starts empty; it is killed as soon as its bulk file exists.
start_edge 1
TOKEN=$TOK
deadline=$((SECONDS + 60))
until compgen -G "$TMP/edge1/db/bulk/*.sst" >/dev/null; do
  if [[ $SECONDS -ge $deadline ]] || [[ "$(ops "${EPORT[1]}" status | jq -r .replication.applied_seq)" == "$TARGET" ]]; then
    bad "edge1 never held a bulk file before its snapshot ended"
    break
  fi
  sleep 0.01
done
PID=${EPID[1]}
stop_node KILL
check "the killed edge left its bulk file" 1 "$(compgen -G "$TMP/edge1/db/bulk/*.sst" | wc -l)"

start_edge 1
TOKEN=$TOK # start_role takes a generated token's, and none was
applied() { [[ "$(ops "${EPORT[1]}" status | jq -r .replication.applied_seq)" == "$TARGET" ]]; }
wait_for "edge1 to apply up to $TARGET after the restart" 120 applied
check "edge1's digest equals the origin's" "$(ops "$OPORT" digest)" "$(ops "${EPORT[1]}" digest)"
check "the bulk file was deleted at open" 1 "$(grep -c "bulk file(s) an interrupted load left" "$TMP/edge1.err")"
check "a new snapshot after the restart" 1 "$(grep -c "replica reset for a snapshot: success" "$TMP/edge1.err")"
check "nothing left in the bulk directory" 0 "$(compgen -G "$TMP/edge1/db/bulk/*" | wc -l)"
check "a record of the last request" v10-9999 "$(api GET "http://127.0.0.1:${EPORT[1]}/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values/r10-k9999")"
finish
