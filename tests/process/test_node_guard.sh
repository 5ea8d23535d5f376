#!/usr/bin/env bash
# test_node_guard.sh - what a node guards at the process level: the env file
# with its token is private from its first byte (mode 0600 under any umask);
# the descriptor limit is raised to the hard limit and RocksDB keeps a
# bounded number of files open; /status and /digest need the operator
# token while /healthz (always) and /metrics (by default, configurable) are
# open; a token revoked while an edge was away is refused there after the
# edge re-synced by a snapshot that carries no token at all.
source "$(dirname "$0")/lib.sh"

HARD=$(ulimit -Hn)
# A soft limit below the hard one, for the node to raise.
if [[ $HARD == unlimited || $HARD -gt 2048 ]]; then ulimit -Sn 2048; fi

# ---- a lone origin, started under umask 000 ------------------------------------------
umask 000
start_node lone --data "$TMP/lone" --sync off --threads 1
umask 022
check "env file mode (umask 000)" 600 "$(stat -c %a "$TMP/lone/edgekv.env")"
check "env file holds the token" 1 "$(grep -c "^CLOUDFLARE_API_TOKEN=$TOKEN\$" "$TMP/lone/edgekv.env")"
check "no temporary env file left" 0 "$(find "$TMP/lone" -maxdepth 1 -name 'edgekv.env.tmp' | wc -l)"
soft=$(awk '/^Max open files/ {print $4}' "/proc/$PID/limits")
check "RLIMIT_NOFILE raised to the hard limit" "$HARD" "$soft"
grep -q "descriptors: RLIMIT_NOFILE $HARD; budget" "$TMP/lone.err" && ok "the node logs its descriptor limit and budget" ||
  bad "no descriptor log line: $(grep -i descriptors "$TMP/lone.err" || true)"
grep -qs "max_open_files=4096" "$TMP"/lone/db/OPTIONS-* && ok "RocksDB opened with max_open_files=4096" ||
  bad "RocksDB options: $(grep -hs max_open_files "$TMP"/lone/db/OPTIONS-* || echo none)"

U="http://127.0.0.1:$PORT"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "healthz without a token" 200 "$(code "$U/healthz")"
check "metrics without a token (metrics_public default)" 200 "$(code "$U/metrics")"
check "status without a token" 401 "$(code "$U/status")"
check "digest without a token" 401 "$(code "$U/digest")"
check "status with a wrong token" 401 "$(code -H "Authorization: Bearer nope" "$U/status")"
check "status with the node's token" origin "$(curl -s -H "Authorization: Bearer $TOKEN" "$U/status" | jq -r .role)"
[[ "$(curl -s -H "Authorization: Bearer $TOKEN" "$U/digest")" =~ ^[0-9a-f]{64}$ ]] &&
  ok "digest with the node's token" || bad "digest with the node's token"
stop_node TERM

# Restarted with metrics behind the token and RocksDB's bound lowered; an
# old world-readable env file is replaced by a private one.
chmod 644 "$TMP/lone/edgekv.env"
echo '{"metrics_public": false, "max_open_files": 100}' >"$TMP/lone.json"
start_node lone2 --data "$TMP/lone" --sync off --threads 1 --config "$TMP/lone.json"
check "env file mode after a restart over a 0644 one" 600 "$(stat -c %a "$TMP/lone/edgekv.env")"
U="http://127.0.0.1:$PORT"
check "metrics without a token (metrics_public false)" 401 "$(code "$U/metrics")"
check "metrics with the node's token" 200 "$(code -H "Authorization: Bearer $TOKEN" "$U/metrics")"
check "healthz stays open" 200 "$(code "$U/healthz")"
grep -qs "max_open_files=100" "$TMP"/lone/db/OPTIONS-* && ok "RocksDB reopened with max_open_files=100" ||
  bad "RocksDB options: $(grep -hs max_open_files "$TMP"/lone/db/OPTIONS-* || echo none)"
stop_node TERM

# ---- token revocation across a snapshot -------------------------------------------
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctguard TOK=guard-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 1)
TOKEN=$TOK ACCOUNT=$ACCT
# A log window of 5 entries: an edge away for more takes a snapshot.
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  --log-retention 1 --log-retention-max 5 "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
start_edge 1
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT$2"; }
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"guard"}' "$(url "$OPORT" /storage/kv/namespaces)" | jq -r .result.id)
check "namespace" 32 "${#NS}"
created=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"name":"away","access":"read"}' "$(url "$OPORT" /tokens)")
MINTED=$(echo "$created" | jq -r .result.value) MINTED_ID=$(echo "$created" | jq -r .result.id)
check "a stored token minted at the origin" 64 "${#MINTED}"
keys_with() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$(url "$1" "/storage/kv/namespaces/$NS/keys")"; }
works_at_edge() { [[ "$(keys_with "${EPORT[1]}" "$MINTED")" == 200 ]]; }
wait_for "the minted token at edge1" 30 works_at_edge && ok "the minted token works at edge1"
PID=${EPID[1]} stop_node TERM
check "revoked at the origin while edge1 is away" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOK" "$(url "$OPORT" "/tokens/$MINTED_ID")")"
for i in $(seq 1 20); do
  curl -s -o /dev/null -X PUT -H "Authorization: Bearer $TOK" --data-binary "v$i" \
    "$(url "$OPORT" "/storage/kv/namespaces/$NS/values/k$i")"
done
snaps_before=$(grep -c "snapshot to link" "$TMP/origin.err" || true)
start_edge 1
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
same_digest() { local a b; a=$(digest "$1") b=$(digest "$OPORT"); [[ $a =~ ^[0-9a-f]{64}$ && $a == "$b" ]]; }
wait_for "edge1 converges" 60 same_digest "${EPORT[1]}" && ok "edge1 converged (digest equal)"
[[ $(grep -c "snapshot to link" "$TMP/origin.err" || true) -gt $snaps_before ]] &&
  ok "edge1 re-synced by a snapshot" || bad "no snapshot was streamed to edge1"
check "the token revoked while edge1 was away is refused there" 401 "$(keys_with "${EPORT[1]}" "$MINTED")"
check "and at the origin" 401 "$(keys_with "$OPORT" "$MINTED")"
check "the configured token still works at edge1" 200 "$(keys_with "${EPORT[1]}" "$TOK")"
check "edge1 /status needs the token" 401 "$(code "http://127.0.0.1:${EPORT[1]}/status")"

finish
