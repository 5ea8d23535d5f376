#!/usr/bin/env bash
# test_staleness.sh - staleness is the replication core's verdict, and the
# node keeps to it while an edge re-syncs by snapshot. Two edges, one with
# --strict-staleness true, are stopped, kept away while 200 000 records are
# written (far past the origin's log window), and restarted. While they
# re-sync (their stores wiped and refilled from a snapshot) the strict edge
# never answers 404 for a key that exists — 503 instead — and the
# non-strict edge marks every answer it gives meanwhile stale
# (X-EdgeKV-Stale-Ms); /status says stale: true; afterwards both digests
# equal the origin's and both are fresh again.
source "$(dirname "$0")/lib.sh"

RECORDS=${EDGEKV_STALENESS_RECORDS:-200000}
BULK=10000 # KV-SPEC's bulk limit
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
ACCT=acctstale TOK=stale-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 1)
TOKEN=$TOK ACCOUNT=$ACCT
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  --log-retention 10 --log-retention-max 1000 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
start_edge 1 --strict-staleness true
start_edge 2
status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r ".replication.$2"; }
live() { [[ "$(status "$1" link)" == live ]]; }
fresh() { [[ "$(status "$1" stale)" == false ]]; }
for n in 1 2; do wait_for "edge$n live and fresh" 30 fresh "${EPORT[$n]}"; done

url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"stale"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace" 32 "${#NS}"
check "the anchor key is written" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" \
  --data-binary anchor "$(url "$OPORT" "/$NS/values/zz-anchor")")"
has_anchor() { [[ "$(curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$NS/values/zz-anchor")")" == anchor ]]; }
for n in 1 2; do wait_for "edge$n has the anchor" 30 has_anchor "${EPORT[$n]}" && ok "edge$n has the anchor"; done

for n in 1 2; do PID=${EPID[$n]} stop_node TERM; done
python3 - "$TMP/bulk" "$RECORDS" "$BULK" <<'PY'
import json, sys
out, total, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for b in range(0, total, per):
    with open(f"{out}.{b // per}.json", "w") as f:
        json.dump([{"key": f"r{i:07d}", "value": f"v{i}"} for i in range(b, min(b + per, total))], f)
PY
written=0
for f in "$TMP"/bulk.*.json; do
  c=$(curl -s -X PUT -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
    --data-binary @"$f" "$(url "$OPORT" "/$NS/bulk")" | jq -r .result.successful_key_count)
  written=$((written + c))
done
check "records written while the edges were away" "$RECORDS" "$written"

# The anchor key sorts after every record, so a snapshot brings it last:
# a replica being refilled lacks it until the end.
# Pollers: the anchor at each edge and each edge's /status, as fast as curl
# goes, until the test says stop. One line per answer.
poll() { # poll PORT OUT
  while [[ ! -e $TMP/stop ]]; do
    curl -s -o /dev/null -w '%{http_code} %header{x-edgekv-stale-ms}\n' \
      -H "Authorization: Bearer $TOK" "$(url "$1" "/$NS/values/zz-anchor")" >>"$2" || echo "000 -" >>"$2"
  done
}
poll_status() { # poll_status PORT OUT
  while [[ ! -e $TMP/stop ]]; do status "$1" stale >>"$2" || true; done
}
for n in 1 2; do
  start_edge "$n" $([[ $n == 1 ]] && echo --strict-staleness true)
  poll "${EPORT[$n]}" "$TMP/answers$n" &
  PIDS+=("$!")
  poll_status "${EPORT[$n]}" "$TMP/stale$n" &
  PIDS+=("$!")
done
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
same_digest() { local a b; a=$(digest "$1") b=$(digest "$OPORT"); [[ $a =~ ^[0-9a-f]{64}$ && $a == "$b" ]]; }
for n in 1 2; do wait_for "edge$n converges by snapshot" 120 same_digest "${EPORT[$n]}" && ok "edge$n converged (digest equal)"; done
for n in 1 2; do wait_for "edge$n fresh again" 30 fresh "${EPORT[$n]}" && ok "edge$n fresh again"; done
touch "$TMP/stop"
wait_pollers() { for p in $(jobs -p); do [[ -n ${NODE_NAME[$p]:-} ]] || wait "$p" 2>/dev/null || true; done; }
wait_pollers
grep -q "snapshot to link" "$TMP/origin.err" && ok "the origin streamed snapshots" || bad "no snapshot was streamed"

# Strict edge: 200 or 503 only; stale for a while, then 200.
a1=$(wc -l <"$TMP/answers1")
check "strict edge: answers that are 404 (the key exists)" 0 "$(grep -c '^404' "$TMP/answers1" || true)"
check "strict edge: answers other than 200 and 503" 0 "$(grep -vc '^200\|^503' "$TMP/answers1" || true)"
[[ $(grep -c '^503' "$TMP/answers1" || true) -gt 0 ]] && ok "strict edge refused reads while re-syncing (503)" ||
  bad "strict edge never answered 503 ($a1 answers)"
check "strict edge: last answer" 200 "$(tail -1 "$TMP/answers1" | cut -d' ' -f1)"
# Non-strict edge: anything it answers that is not the value is marked stale.
check "non-strict edge: unmarked answers that are not 200" 0 "$(grep -v '^200' "$TMP/answers2" | grep -c ' $' || true)"
[[ $(grep -c ' [0-9]' "$TMP/answers2" || true) -gt 0 ]] && ok "non-strict edge marked answers stale while re-syncing" ||
  bad "non-strict edge never marked an answer stale"
check "non-strict edge: last answer" 200 "$(tail -1 "$TMP/answers2" | cut -d' ' -f1)"
for n in 1 2; do
  [[ $(grep -c true "$TMP/stale$n" || true) -gt 0 ]] && ok "edge$n /status said stale: true while re-syncing" ||
    bad "edge$n /status never said stale"
done
echo "answers: strict $(cut -d' ' -f1 "$TMP/answers1" | sort | uniq -c | tr -s ' \n' ' '); non-strict $(awk '{print $1 ($2 == "" ? "" : "+stale")}' "$TMP/answers2" | sort | uniq -c | tr -s ' \n' ' ')"
finish
