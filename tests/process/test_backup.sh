#!/usr/bin/env bash
# test_backup.sh - the backup and restore drill on a real cluster (an
# origin and one edge over mutual TLS): a backup of the live origin over
# HTTP while writes go on is a consistent prefix of them; the operator
# endpoints refuse a missing, wrong or read-only token; a backup file that
# was damaged fails verification and a re-run repairs it; an interrupted
# download is continued; the origin is killed (SIGKILL), its backup restored
# into a new data directory and started on the same replication port: it
# starts a new history whose parent is the old one, so the edge, instead of
# resuming onto it or refusing it, takes a snapshot of it by itself; origin
# and edge converge on exactly the backup's content. Also the local form on a stopped node, and its refusal
# of a running one.
source "$(dirname "$0")/lib.sh"

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctbackup
TOK=backup-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync always --threads 2)
TOKEN=$TOK
ACCOUNT=$ACCT

reserve_port
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin \
  --repl-listen "127.0.0.1:$RESERVED" "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
start_edge 1

# runrc CMD... : run CMD (its output as redirected by the caller), its status in RC.
runrc() {
  set +e
  "$@"
  RC=$?
  set -e
}
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "$4" "$(url "$1" "/$2/values/$3")"; }
get() { curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "$(url "$1" "/$2/values/$3")"; }
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
ops_status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
live() { [[ "$(ops_status "$1" | jq -r .replication.link)" == live ]]; }
same_digest() {
  local a b
  a=$(digest "$1") b=$(digest "$2")
  [[ $a =~ ^[0-9a-f]{64}$ && "$a" == "$b" ]]
}
wait_for "edge1 live" 30 live "${EPORT[1]}" && ok "edge1 live over mutual TLS"

NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"backup"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace" 32 "${#NS}"
n=0
for i in $(seq 1 100); do [[ $(put "$OPORT" "$NS" "k$i" "v$i") == 200 ]] && n=$((n + 1)); done
check "100 writes before the backup" 100 "$n"
# A large value: RocksDB keeps it in a blob file, which the backup carries too.
head -c 300000 /dev/urandom | base64 -w0 >"$TMP/big.txt"
BIG_SHA=$(sha256sum <"$TMP/big.txt" | cut -d' ' -f1)
check "a large value" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" \
  --data-binary @"$TMP/big.txt" "$(url "$OPORT" "/$NS/values/big")")"

# ---- the operator endpoints refuse other tokens ----------------------------------
B="http://127.0.0.1:$OPORT/backup"
hcode() { curl -s -o "$TMP/answer.json" -w '%{http_code}' "$@"; }
check "POST /backup without a token: 401" 401 "$(hcode -X POST "$B")"
check "  in the REST envelope (code 10000)" 10000 "$(jq -r '.errors[0].code' "$TMP/answer.json")"
check "POST /backup with a wrong token: 401" 401 "$(hcode -X POST -H 'Authorization: Bearer nope' "$B")"
READ=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"name":"reader","access":"read"}' \
  "http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/tokens" | jq -r .result.value)
check "a read-only token minted" 64 "${#READ}"
check "POST /backup with a read-only token: 403" 403 "$(hcode -X POST -H "Authorization: Bearer $READ" "$B")"
check "GET a file with a read-only token: 403" 403 \
  "$(hcode -H "Authorization: Bearer $READ" "$B/0000000000000000/files/CURRENT")"
set +e
"$EDGEKV" backup --url "http://127.0.0.1:$OPORT" --token nope --out "$TMP/refused" >"$TMP/refused.out" 2>&1
rc=$?
set -e
check "edgekv backup with a wrong token exits 4" 4 "$rc"
grep -q "HTTP 401: Authentication error" "$TMP/refused.out" && ok "  and says why" || bad "refusal text: $(cat "$TMP/refused.out")"
[[ ! -e $TMP/refused/manifest.json ]] && ok "  and writes no manifest" || bad "a manifest after a refusal"
set +e
"$EDGEKV" backup --url "http://127.0.0.1:$OPORT" --token "$TOK" --account someoneelse --out "$TMP/other" >"$TMP/other.out" 2>&1
rc=$?
set -e
check "edgekv backup --account of another account refused" 1 "$rc"

# ---- the endpoints themselves -----------------------------------------------------
AUTH=(-H "Authorization: Bearer $TOK")
check "POST /backup makes a checkpoint" 200 "$(hcode -X POST "${AUTH[@]}" "$B")"
ID=$(jq -r .id "$TMP/answer.json")
check "  its manifest names the origin" origin "$(jq -r .role "$TMP/answer.json")"
FILE=$(jq -r '.files[] | select(.name=="CURRENT") | .name' "$TMP/answer.json")
check "  and lists CURRENT" CURRENT "$FILE"
CUR_SIZE=$(jq -r '.files[] | select(.name=="CURRENT") | .size' "$TMP/answer.json")
curl -s "${AUTH[@]}" "$B/$ID/files/CURRENT?offset=0&length=$CUR_SIZE" >"$TMP/CURRENT"
check "  a chunk is the file's bytes (SHA-256 as listed)" \
  "$(jq -r '.files[] | select(.name=="CURRENT") | .sha256' "$TMP/answer.json")" "$(sha256sum <"$TMP/CURRENT" | cut -d' ' -f1)"
check "  a chunk from an offset" "$(tail -c +3 "$TMP/CURRENT")" "$(curl -s "${AUTH[@]}" "$B/$ID/files/CURRENT?offset=2")"
check "  a chunk past the limit: 400" 400 "$(hcode "${AUTH[@]}" "$B/$ID/files/CURRENT?length=$(($(limit KV_BACKUP_CHUNK_MAX_BYTES) + 1))")"
check "  an offset past the end: 416" 416 "$(hcode "${AUTH[@]}" "$B/$ID/files/CURRENT?offset=99999")"
check "  a file not listed: 404" 404 "$(hcode "${AUTH[@]}" "$B/$ID/files/LOCK")"
check "  a path out of the checkpoint: 404" 404 "$(hcode "${AUTH[@]}" "$B/$ID/files/..%2F..%2Fedgekv.env")"
check "  more checkpoints than KV_BACKUP_CHECKPOINTS_MAX: 429" 429 \
  "$(for _ in $(seq 1 "$(limit KV_BACKUP_CHECKPOINTS_MAX)"); do hcode -X POST "${AUTH[@]}" "$B" >/dev/null; done; hcode -X POST "${AUTH[@]}" "$B")"
for id in $(ls "$TMP/origin/backups"); do curl -s -o /dev/null -X DELETE "${AUTH[@]}" "$B/$id"; done
check "DELETE removes every checkpoint" 0 "$(ls "$TMP/origin/backups" | wc -l)"
check "  a deleted checkpoint is gone: 404" 404 "$(hcode "${AUTH[@]}" "$B/$ID")"

# ---- a backup of the live origin while writes go on ----------------------------------
# The writer puts w1, w2, ... one after the other, each acknowledged before
# the next: a consistent checkpoint holds w1..wN for some N, each with its
# own value, and no gap.
writer() {
  local i=1
  while [[ ! -e $TMP/stop-writer ]]; do
    [[ $(put "$OPORT" "$NS" "w$i" "val-$i") == 200 ]] && echo "$i" >"$TMP/acked"
    i=$((i + 1))
  done
}
writer &
WRITER=$!
wait_for "the writer's first acknowledged write" 30 test -s "$TMP/acked"
runrc "$EDGEKV" backup --url "http://127.0.0.1:$OPORT" --token "$TOK" --account "$ACCT" --out "$TMP/bk" >"$TMP/bk.out" 2>&1
check "edgekv backup of the live origin while writes go on" 0 "$RC"
AT_END=$(cat "$TMP/acked")
more() { [[ $(cat "$TMP/acked") -ge $((AT_END + 3)) ]]; }
wait_for "writes after the backup" 30 more # the checkpoint must not hold them all
: >"$TMP/stop-writer"
wait "$WRITER"
cat "$TMP/bk.out"
check "the manifest: role" origin "$(jq -r .role "$TMP/bk/manifest.json")"
check "the manifest: history" "$(ops_status "$OPORT" | jq -r .replication.history_id)" "$(jq -r .history_id "$TMP/bk/manifest.json")"
check "the manifest: version" "$("$EDGEKV" version | cut -d' ' -f2)" "$(jq -r .version "$TMP/bk/manifest.json")"
check "the manifest: node id" "$(ops_status "$OPORT" | jq -r .node_id)" "$(jq -r .node_id "$TMP/bk/manifest.json")"
BK_SEQ=$(jq -r .seq "$TMP/bk/manifest.json")
[[ $BK_SEQ -gt 100 ]] && ok "the manifest: seq $BK_SEQ" || bad "manifest seq $BK_SEQ"
nbad=0
while read -r name sha; do
  [[ "$(sha256sum <"$TMP/bk/db/$name" | cut -d' ' -f1)" == "$sha" ]] || nbad=$((nbad + 1))
done < <(jq -r '.files[] | "\(.name) \(.sha256)"' "$TMP/bk/manifest.json")
check "every downloaded file matches the manifest's SHA-256" 0 "$nbad"
check "the node's checkpoint is deleted after the download" 0 "$(ls "$TMP/origin/backups" | wc -l)"

# ---- more writes, then the origin dies ---------------------------------------------
for i in $(seq 1 20); do put "$OPORT" "$NS" "after$i" "x$i" >/dev/null; done
check "an overwrite after the backup" 200 "$(put "$OPORT" "$NS" k1 changed)"
wait_for "edge1 converged before the crash" 30 same_digest "${EPORT[1]}" "$OPORT" && ok "edge1 converged with the origin"
OLD_HISTORY=$(ops_status "$OPORT" | jq -r .replication.history_id)
OLD_DIGEST=$(digest "$OPORT")
PID=$OPID stop_node KILL

# ---- verification: a damaged copy is refused, a re-run repairs it --------------------
cp -r "$TMP/bk" "$TMP/bk-bad"
VICTIM=$(jq -r '[.files[] | select(.name|endswith(".sst"))] | max_by(.size) | .name' "$TMP/bk-bad/manifest.json")
printf 'X' | dd of="$TMP/bk-bad/db/$VICTIM" bs=1 seek=100 conv=notrunc 2>/dev/null
set +e
"$EDGEKV" restore --from "$TMP/bk-bad" --data "$TMP/never" >"$TMP/bad.out" 2>&1
rc=$?
set -e
check "restore of a damaged backup refused" 1 "$rc"
grep -q "$VICTIM does not verify" "$TMP/bad.out" && ok "  naming the damaged file" || bad "damage text: $(cat "$TMP/bad.out")"
[[ ! -e $TMP/never ]] && ok "  and writing nothing" || bad "a damaged restore wrote $TMP/never"

# ---- restore into a new data directory, the new origin on the same port ----------------
mkdir -p "$TMP/full" && touch "$TMP/full/x"
set +e
"$EDGEKV" restore --from "$TMP/bk" --data "$TMP/full" >"$TMP/full.out" 2>&1
rc=$?
set -e
check "restore into a non-empty directory refused" 1 "$rc"
runrc "$EDGEKV" restore --from "$TMP/bk" --data "$TMP/origin2" >"$TMP/restore.out" 2>&1
check "edgekv restore" 0 "$RC"
cat "$TMP/restore.out"
start_node origin2 --data "$TMP/origin2" --certs "$CERTS" --name origin \
  --repl-listen "127.0.0.1:$RESERVED" "${COMMON[@]}"
O2PID=$PID O2PORT=$PORT
check "the new origin listens on the same replication port" "$RESERVED" "$REPL_PORT"
NEW_HISTORY=$(ops_status "$O2PORT" | jq -r .replication.history_id)
[[ $NEW_HISTORY =~ ^[0-9a-f]{32}$ && $NEW_HISTORY != "$OLD_HISTORY" ]] && ok "the restored origin started a new history" \
  || bad "history after restore: $NEW_HISTORY (was $OLD_HISTORY)"
grep -q "starting a new history $NEW_HISTORY (was '$OLD_HISTORY')" "$TMP/origin2.err" && ok "  and logged it" \
  || bad "no new-history line in origin2.err"

# The edge does not resume onto the new history, and does not refuse it
# either: the origin names the history it was restored over (its parent),
# so the edge's data is replaced by a snapshot of the restored one, with no
# operator step and no ALARM.
on_new() { [[ "$(ops_status "${EPORT[1]}" | jq -r .replication.history_id)" == "$NEW_HISTORY" ]]; }
wait_for "edge1 on the new history" 60 on_new && ok "edge1 follows the restored origin by itself"
wait_for "edge1 live again" 30 live "${EPORT[1]}" && ok "  and is live on the new history"
grep -q "restored from a backup of this replica's history" "$TMP/edge1.err" && ok "  after a snapshot (its log says why)" \
  || bad "no restored-origin snapshot line in edge1.err"
check "  no ALARM at edge1" "" "$(ops_status "${EPORT[1]}" | jq -r '.replication.alarm // empty')"
check "  /status: its history is the new one" "$NEW_HISTORY" "$(ops_status "${EPORT[1]}" | jq -r .replication.history_id)"
wait_for "edge1 and the new origin converge" 30 same_digest "${EPORT[1]}" "$O2PORT" && ok "edge1 and the restored origin converge (/digest equal)"

# The data is the backup's: w1..wN without a gap, each with its value; the
# writes after the backup are not there; the large value is intact.
NEW_DIGEST=$(digest "$O2PORT")
[[ $NEW_DIGEST != "$OLD_DIGEST" ]] && ok "the restored data is not the crashed origin's (writes after the backup are gone)" || bad "digest unchanged by the restore"
check "k1 has its value from before the backup" v1 "$(get "$O2PORT" "$NS" k1)"
check "a write after the backup is absent" 404 "$(code "$O2PORT" "$NS" after1)"
check "the large value is intact (at the edge)" "$BIG_SHA" "$(get "${EPORT[1]}" "$NS" big | sha256sum | cut -d' ' -f1)"
keys=$(curl -s -H "Authorization: Bearer $TOK" "$(url "$O2PORT" "/$NS/keys?prefix=w&limit=1000")" | jq -r '.result[].name' | sed 's/^w//' | sort -n)
N=$(echo "$keys" | grep -c . || true)
check "the backup holds w1..wN without a gap (N=$N)" "$(seq 1 "$N" | tr '\n' ' ')" "$(echo "$keys" | tr '\n' ' ')"
ACKED=$(cat "$TMP/acked")
[[ $N -ge 1 && $N -le $ACKED ]] && ok "  N=$N writes of the $ACKED acknowledged by the end of the backup" || bad "N=$N, acked $ACKED"
nvals=0
for i in $(seq 1 "$N"); do [[ "$(get "$O2PORT" "$NS" "w$i")" == "val-$i" ]] && nvals=$((nvals + 1)); done
check "  each with the value that was written" "$N" "$nvals"

# ---- resume: an interrupted download is continued ---------------------------------------
# A complete backup of the new origin, then one file cut in half as a
# NAME.part (where an interrupted run leaves it) and no manifest.
runrc "$EDGEKV" backup --url "http://127.0.0.1:$O2PORT" --token "$TOK" --out "$TMP/bk2" --chunk-bytes 65536 >/dev/null
check "a second backup" 0 "$RC"
VICTIM=$(jq -r '.files | max_by(.size) | .name' "$TMP/bk2/manifest.json")
VSIZE=$(stat -c %s "$TMP/bk2/db/$VICTIM")
head -c $((VSIZE / 2)) "$TMP/bk2/db/$VICTIM" >"$TMP/bk2/db/$VICTIM.part"
rm "$TMP/bk2/db/$VICTIM" "$TMP/bk2/manifest.json"
runrc "$EDGEKV" backup --url "http://127.0.0.1:$O2PORT" --token "$TOK" --out "$TMP/bk2" --chunk-bytes 65536 >"$TMP/resume.out" 2>&1
check "the interrupted backup re-run" 0 "$RC"
cat "$TMP/resume.out"
grep -q "; 1 continued), kept" "$TMP/resume.out" && ok "  continued the cut file from its .part" || bad "resume: $(cat "$TMP/resume.out")"
kept=$(sed -n 's/.*kept \([0-9]*\) already.*/\1/p' "$TMP/resume.out")
[[ ${kept:-0} -ge 1 ]] && ok "  kept the $kept files already complete" || bad "kept ${kept:-none}"
[[ -e $TMP/bk2/manifest.json && ! -e $TMP/bk2/db/$VICTIM.part ]] && ok "  and wrote the manifest" || bad "no manifest after the resume"
# The damaged copy from before: a re-run repairs it (the damaged file fetched again).
runrc "$EDGEKV" backup --url "http://127.0.0.1:$O2PORT" --token "$TOK" --out "$TMP/bk-bad" >"$TMP/repair.out" 2>&1
check "a re-run into the damaged backup" 0 "$RC"
runrc "$EDGEKV" restore --from "$TMP/bk-bad" --data "$TMP/repaired" >/dev/null 2>&1
check "  which then restores" 0 "$RC"

# ---- the local form: a stopped node ---------------------------------------------------
set +e
"$EDGEKV" backup --data "$TMP/origin2" --out "$TMP/bk-local" >"$TMP/local-running.out" 2>&1
rc=$?
set -e
check "edgekv backup --data of a running node refused" 1 "$rc"
grep -q "is in use by process $O2PID (a running node holds its lock)" "$TMP/local-running.out" && ok "  naming its process" \
  || bad "lock text: $(cat "$TMP/local-running.out")"
O2DIGEST=$(digest "$O2PORT")
PID=${EPID[1]} stop_node TERM
PID=$O2PID stop_node TERM
runrc "$EDGEKV" backup --data "$TMP/origin2" --out "$TMP/bk-local" >"$TMP/local.out" 2>&1
check "edgekv backup --data of the stopped origin" 0 "$RC"
cat "$TMP/local.out"
check "  its manifest: the node's history" "$NEW_HISTORY" "$(jq -r .history_id "$TMP/bk-local/manifest.json")"
check "  its manifest: role told from the store" origin "$(jq -r .role "$TMP/bk-local/manifest.json")"
check "  no checkpoint left in the data directory" 0 "$(ls "$TMP/origin2/backups" | wc -l)"
runrc "$EDGEKV" restore --from "$TMP/bk-local" --data "$TMP/origin3" >/dev/null
check "  restores" 0 "$RC"
start_node origin3 --data "$TMP/origin3" "${COMMON[@]}"
check "  with the same content (/digest)" "$O2DIGEST" "$(digest "$PORT")"
grep -q "starting a new history" "$TMP/origin3.err" && ok "  and, an origin's, a new history" || bad "no new history for origin3"
stop_node TERM
start_node origin3 --data "$TMP/origin3" "${COMMON[@]}"
check "the marker is honoured once: no new history at the next start" 1 \
  "$(cat "$TMP"/origin3.err* | grep -c "starting a new history")"
stop_node TERM

finish
