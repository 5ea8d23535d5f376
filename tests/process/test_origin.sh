#!/usr/bin/env bash
# test_origin.sh - the real edgekv binary on loopback: both APIs over HTTP,
# the generated token, a clean SIGTERM, a SIGKILL with sync=always, and a
# restart with every acknowledged write intact.
source "$(dirname "$0")/lib.sh"

start_node a --data "$TMP/data" --sync always --threads 2
check "token generated and printed" 64 "${#TOKEN}"
check "healthz" "ok" "$(curl -s "http://127.0.0.1:$PORT/healthz")"
check "no token is refused" "401 Unauthorized" "$(status_of GET "$BASE")"

# REST: namespace, values (raw and multipart), keys, bulk.
NS=$(api POST "$BASE" -H 'Content-Type: application/json' -d '{"title":"proc"}' | jq -r .result.id)
check "namespace id" 32 "${#NS}"
api PUT "$BASE/$NS/values/greeting" --data-binary 'hello world' >/dev/null
check "REST raw get" "hello world" "$(api GET "$BASE/$NS/values/greeting")"
api PUT "$BASE/$NS/values/withmeta" -F value=v1 -F 'metadata={"owner":"proc"}' >/dev/null
check "REST multipart metadata" '{"owner":"proc"}' "$(api GET "$BASE/$NS/metadata/withmeta" | jq -c .result)"
head -c 300000 /dev/urandom >"$TMP/blob.bin"
api PUT "$BASE/$NS/values/blob" --data-binary @"$TMP/blob.bin" >/dev/null
api GET "$BASE/$NS/values/blob" -o "$TMP/blob.out"
if cmp -s "$TMP/blob.bin" "$TMP/blob.out"; then ok "binary value byte-exact"; else bad "binary value differs"; fi
jq -n '[range(0; 1500) | {key: ("bulk-" + (. | tostring)), value: ("v" + (. | tostring))}]' >"$TMP/bulk.json"
check "bulk put 1500" 1500 "$(api PUT "$BASE/$NS/bulk" -H 'Content-Type: application/json' --data-binary @"$TMP/bulk.json" | jq .result.successful_key_count)"
page1=$(api GET "$BASE/$NS/keys?prefix=bulk-")
check "first page is 1000" 1000 "$(echo "$page1" | jq '.result | length')"
cursor=$(echo "$page1" | jq -r .result_info.cursor)
page2=$(api GET "$BASE/$NS/keys?prefix=bulk-&cursor=$cursor")
check "second page is 500" 500 "$(echo "$page2" | jq '.result | length')"
check "last cursor is empty" "" "$(echo "$page2" | jq -r .result_info.cursor)"
check "REST 404 envelope" '10009 get: '"'"'key not found'"'" \
  "$(api GET "$BASE/$NS/values/nope" | jq -r '.errors[0] | "\(.code) \(.message)"')"

# Binding protocol.
B=(-H "X-EdgeKV-Namespace: $NS" -H "Authorization: Bearer $TOKEN")
curl -s -X PUT "${B[@]}" -H 'CF-KV-Metadata: {"b":1}' --data-binary 'bound' \
  "http://127.0.0.1:$PORT/bkey?urlencoded=true&expiration_ttl=3600" >/dev/null
check "binding get" "bound" "$(curl -s "${B[@]}" "http://127.0.0.1:$PORT/bkey?urlencoded=true")"
check "binding metadata header" 'CF-KV-Metadata: {"b":1}' \
  "$(curl -s -D - -o /dev/null "${B[@]}" "http://127.0.0.1:$PORT/bkey?urlencoded=true" | grep -i '^CF-KV-Metadata' | tr -d '\r')"
check "binding reason phrase" "400 Invalid expiration_ttl of 30. Expiration TTL must be at least 60." \
  "$(status_of PUT "http://127.0.0.1:$PORT/x?urlencoded=true&expiration_ttl=30" "${B[@]}" --data-binary v)"
check "binding list" 1 "$(curl -s "${B[@]}" "http://127.0.0.1:$PORT/?prefix=bk" | jq '.keys | length')"

# Metrics saw the traffic.
check "metrics count binding gets" 1 \
  "$(curl -s "http://127.0.0.1:$PORT/metrics" | grep -c '^edgekv_http_requests_total{route="binding_get",status="200"}')"

# sync=always: every sequential acknowledged write is a WAL sync, and the
# node says so in /metrics.
wal_syncs() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^edgekv_rocksdb_wal_syncs_total \([0-9]*\)$/\1/p'; }
before=$(wal_syncs)
for i in $(seq 1 10); do api PUT "$BASE/$NS/values/synced-$i" --data-binary "s$i" >/dev/null; done
after=$(wal_syncs)
[[ -n $before && $((after - before)) -ge 10 ]] && ok "10 acknowledged writes, $((after - before)) WAL syncs (/metrics)" ||
  bad "WAL syncs for 10 writes under sync=always: [$before] -> [$after]"

# The background-work gauges are served, and fall to 0 once the store is quiet
# (the few writes above need no flush: waiting ends at once or after a
# compaction RocksDB scheduled at open).
bg() { curl -s "http://127.0.0.1:$PORT/metrics" |
  awk '/^edgekv_rocksdb_background_jobs_(running|pending) [0-9]+$/ { n++; s += $2 } END { print (n == 2 ? s : "missing") }'; }
for i in $(seq 1 300); do [[ $(bg) == 0 ]] && break; sleep 0.1; done
check "RocksDB background gauges, quiet" 0 "$(bg)"

# SIGTERM: clean stop.
stop_node TERM
check "SIGTERM exit status" 0 "$RC"
grep -q "stopped cleanly" "$TMP/a.err" && ok "logged a clean stop" || bad "no clean-stop log line"

# Restart: same token, same data.
OLD_TOKEN=$TOKEN
start_node b --data "$TMP/data" --sync always --threads 2
check "token kept across restart" "$OLD_TOKEN" "$TOKEN"
check "value survives restart" "hello world" "$(api GET "$BASE/$NS/values/greeting")"
check "bulk keys survive restart (bulk-1, bulk-1x, bulk-1xx, bulk-1xxx)" 611 "$(api GET "$BASE/$NS/keys?prefix=bulk-1" | jq '.result | length')"

# SIGKILL right after acknowledged writes (sync=always): none may be lost.
for i in $(seq 1 50); do
  api PUT "$BASE/$NS/values/acked-$i" --data-binary "v$i" >/dev/null
done
stop_node KILL
start_node c --data "$TMP/data" --sync always --threads 2
lost=0
for i in $(seq 1 50); do
  [[ "$(api GET "$BASE/$NS/values/acked-$i")" == "v$i" ]] || lost=$((lost + 1))
done
check "acknowledged writes lost after SIGKILL" 0 "$lost"
stop_node TERM

# Configuration file: scoped tokens, unknown keys refused.
cat >"$TMP/cfg.json" <<JSON
{"account_id": "acct-cfg", "sync": "batch",
 "tokens": [{"token": "writer-secret", "account": "acct-cfg", "access": "write"},
            {"token": "reader-secret", "account": "acct-cfg", "access": "read"}]}
JSON
start_node d --config "$TMP/cfg.json" --data "$TMP/data2"
check "account from config" "acct-cfg" "$ACCOUNT"
check "no generated token with configured ones" "" "$TOKEN"
TOKEN=writer-secret
NS2=$(api POST "$BASE" -H 'Content-Type: application/json' -d '{"title":"cfg"}' | jq -r .result.id)
check "writer creates" 32 "${#NS2}"
check "reader may not write" "403 Forbidden" \
  "$(status_of PUT "$BASE/$NS2/values/k" -H 'Authorization: Bearer reader-secret' --data-binary v)"
check "reader may read" "404 Not Found" \
  "$(status_of GET "$BASE/$NS2/values/k" -H 'Authorization: Bearer reader-secret')"
stop_node TERM
echo '{"listen": "127.0.0.1:0", "no_such_key": 1}' >"$TMP/bad.json"
set +e
"$EDGEKV" origin --config "$TMP/bad.json" --data "$TMP/data3" >/dev/null 2>"$TMP/bad.err"
rc=$?
set -e
check "bad config exit status" 2 "$rc"
grep -q "unknown or mistyped configuration key 'no_such_key'" "$TMP/bad.err" && ok "bad config message" || bad "bad config message: $(cat "$TMP/bad.err")"

finish
