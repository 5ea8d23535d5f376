#!/usr/bin/env bash
# repro_stale_resume.sh - the smallest reproduction of the nemesis run's
# stale-read finding (tests/nemesis/README.md, "Findings"): an edge that
# resumed from the origin's log after being away served values older than
# its propagation bound without marking them stale.
#
# An origin and one edge. A sentinel key is written ("old") and seen at the
# edge; the edge is stopped; RECORDS records are written, then the sentinel
# is overwritten ("new", acknowledged); once that overwrite is more than 2 s
# old (twice the edge's 1000 ms propagation bound) the edge is restarted and
# the sentinel is read at the edge as fast as curl goes until it says "new".
# The log keeps every entry, so the edge resumes by sequence (no snapshot,
# which does mark its answers stale). Every answer "old" without
# X-EdgeKV-Stale-Ms is a read staler than the bound and not marked.
#
# The regression test process_stale_resume (tests/nemesis/CMakeLists.txt):
# it failed before the fix (the edge counted itself fresh from the first
# frame it heard) and passes since staleness counts from the last frame
# whose announced origin_seq is applied (repl_edge_fresh_until). Usage:
#   EDGEKV=build/node/edgekv tests/nemesis/repro_stale_resume.sh [RECORDS]
HERE=$(cd "$(dirname "$0")" && pwd)
export EDGEKV=${EDGEKV:-$HERE/../../build/node/edgekv}
RECORDS=${1:-60000}
source "$HERE/../process/lib.sh"

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctrepro TOK=repro-token-0123456789
TOKEN=$TOK ACCOUNT=$ACCT
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 1)
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  --log-retention 10 --log-retention-max 10000000 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
reserve_port
EHTTP=$RESERVED
start_edge 1 --listen "127.0.0.1:$EHTTP"
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r ".replication.$2"; }
fresh() { [[ "$(status "$1" stale)" == false ]]; }
wait_for "edge1 fresh" 30 fresh "$EHTTP"
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"repro"}' "$(url "$OPORT" "")" | jq -r .result.id)
put() { curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" --data-binary "$3" "$(url "$1" "/$NS/values/$2")"; }
get() { curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$NS/values/$2")"; }
check "sentinel written" 200 "$(put "$OPORT" sentinel old)"
has() { [[ "$(get "$1" sentinel)" == "$2" ]]; }
wait_for "edge1 has the sentinel" 30 has "$EHTTP" old

PID=${EPID[1]} stop_node TERM
written=0
for ((b = 0; b < RECORDS; b += 10000)); do
  seq "$b" $((b + 9999 < RECORDS - 1 ? b + 9999 : RECORDS - 1)) |
    awk 'BEGIN { printf "[" } NR > 1 { printf "," } { printf "{\"key\":\"r%07d\",\"value\":\"v%d\"}", $1, $1 } END { printf "]" }' \
      >"$TMP/bulk.json"
  c=$(curl -s -X PUT -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/bulk.json" "$(url "$OPORT" "/$NS/bulk")" | jq -r .result.successful_key_count)
  written=$((written + c))
done
check "records written while the edge was away" "$RECORDS" "$written"
check "sentinel overwritten (acknowledged)" 200 "$(put "$OPORT" sentinel new)"
overwritten_at=$(date +%s%N)
older_than_2s() { (($(date +%s%N) - overwritten_at > 2000000000)); }
wait_for "the overwrite to be 2 s old" 10 older_than_2s

start_edge 1 --listen "127.0.0.1:$EHTTP"
: >"$TMP/answers"
deadline=$((SECONDS + 60))
until [[ $SECONDS -ge $deadline ]]; do
  a=$(curl -s -w ' %{http_code} %header{x-edgekv-stale-ms}' -H "Authorization: Bearer $TOK" \
    "$(url "$EHTTP" "/$NS/values/sentinel")" || echo "- 000")
  echo "$a" >>"$TMP/answers"
  [[ $a == "new 200 "* ]] && break
done
echo "answers at the restarted edge (value code stale-ms), counted:"
awk '{ print $1, $2, ($3 == "" ? "unmarked" : "marked-stale") }' "$TMP/answers" | sort | uniq -c
unmarked_old=$(awk '$1 == "old" && $3 == ""' "$TMP/answers" | wc -l)
check "the edge ends with the overwrite" "new 200" "$(tail -1 "$TMP/answers" | cut -d' ' -f1-2)"
check "answers 'old' (overwritten > 2 s before) not marked stale" 0 "$unmarked_old"
PID=${EPID[1]} stop_node TERM
PID=$OPID stop_node TERM
finish
