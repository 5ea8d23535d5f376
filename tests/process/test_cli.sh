#!/usr/bin/env bash
# test_cli.sh - `edgekv kv`, the command line client, against a real node on
# loopback: every command, its --help, configuration from flags and both
# families of environment variables, JSON and plain output, byte-exact
# values, bulk files of more than one batch, the documented exit statuses
# (0 ok, 1 API error, 2 usage, 3 not found, 4 auth, 5 connection), and
# HTTPS with the cluster's CA (--cacert, EDGEKV_CACERT; verification on).
source "$(dirname "$0")/lib.sh"
unset EDGEKV_URL EDGEKV_TOKEN EDGEKV_ACCOUNT CLOUDFLARE_API_BASE_URL CLOUDFLARE_API_TOKEN \
  CLOUDFLARE_ACCOUNT_ID EDGEKV_CACERT

start_node a --data "$TMP/data" --sync off --threads 2
URL=http://127.0.0.1:$PORT

# kv ARGS... : runs `edgekv kv` with the node's settings in EDGEKV_*; stdout
# to $TMP/out, stderr to $TMP/err, exit status in RC.
kv() {
  set +e
  EDGEKV_URL=$URL EDGEKV_TOKEN=$TOKEN EDGEKV_ACCOUNT=$ACCOUNT "$EDGEKV" kv "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}
out() { cat "$TMP/out"; }
err() { cat "$TMP/err"; }
has_err() { # has_err "description" TEXT : stderr contains TEXT
  if grep -qF -- "$2" "$TMP/err"; then ok "$1"; else bad "$1: stderr lacks [$2]: $(err)"; fi
}

# ---- help and usage -------------------------------------------------------------------
kv --help
check "kv --help exits 0" 0 "$RC"
grep -q "5  cannot connect" "$TMP/out" && ok "help documents exit statuses" || bad "help lacks exit statuses"
for c in "namespace create" "namespace list" "namespace rename" "namespace delete" \
  "key put" "key get" "key list" "key delete" "bulk put" "bulk get" "bulk delete"; do
  # shellcheck disable=SC2086
  kv $c --help
  if [[ $RC -eq 0 ]] && grep -q "^usage: edgekv kv $c" "$TMP/out"; then ok "$c --help"; else bad "$c --help ($RC)"; fi
done
kv key --help
check "group help exits 0" 0 "$RC"
kv
check "no command is a usage error" 2 "$RC"
kv key frobnicate
check "unknown command" 2 "$RC"
has_err "unknown command is named" "unknown command 'key frobnicate'"
kv key list --frob
check "unknown option" 2 "$RC"
kv key list
check "missing --namespace-id" 2 "$RC"
has_err "missing --namespace-id is named" "--namespace-id is required"
kv key put k --namespace-id x --ttl soon v
check "non-integer --ttl" 2 "$RC"
kv namespace create a b
check "too many arguments" 2 "$RC"
set +e
"$EDGEKV" kv namespace list >/dev/null 2>"$TMP/err"
RC=$?
set -e
check "no token configured" 2 "$RC"
has_err "no token is explained" "no API token"

# ---- namespaces, and where the configuration comes from --------------------------------
kv namespace create cli-one
check "namespace create" 0 "$RC"
NS=$(out)
[[ $NS =~ ^[0-9a-f]{32}$ ]] && ok "create prints the id" || bad "create printed [$NS]"
set +e
"$EDGEKV" kv namespace create cli-two --json --url "$URL/client/v4/" --token "$TOKEN" \
  --account "$ACCOUNT" >"$TMP/out" 2>"$TMP/err"
RC=$?
CLOUDFLARE_API_BASE_URL=$URL/client/v4 CLOUDFLARE_API_TOKEN=$TOKEN CLOUDFLARE_ACCOUNT_ID=$ACCOUNT \
  "$EDGEKV" kv namespace list --json >"$TMP/cf.json" 2>>"$TMP/err"
RC_CF=$?
EDGEKV_TOKEN=wrong CLOUDFLARE_API_TOKEN=wrong EDGEKV_URL=$URL EDGEKV_ACCOUNT=$ACCOUNT \
  "$EDGEKV" kv namespace list --token "$TOKEN" >/dev/null 2>>"$TMP/err"
RC_FLAG=$?
CLOUDFLARE_API_TOKEN=wrong EDGEKV_TOKEN=$TOKEN EDGEKV_URL=$URL EDGEKV_ACCOUNT=$ACCOUNT \
  "$EDGEKV" kv namespace list >/dev/null 2>>"$TMP/err"
RC_ENV=$?
set -e
check "flags configure (URL with /client/v4/)" 0 "$RC"
NS2=$(jq -r .id "$TMP/out")
check "create --json" "cli-two" "$(jq -r .title "$TMP/out")"
check "CLOUDFLARE_* configure" 0 "$RC_CF"
check "list --json (wrangler's variables)" "cli-one cli-two" "$(jq -r '[.[].title] | join(" ")' "$TMP/cf.json")"
check "--token beats the environment" 0 "$RC_FLAG"
check "EDGEKV_TOKEN beats CLOUDFLARE_API_TOKEN" 0 "$RC_ENV"
kv namespace list
check "list plain" "$NS  cli-one" "$(out | head -1)"
kv namespace rename cli-two --new-name cli-2
check "rename by title" 0 "$RC"
kv namespace rename --namespace-id "$NS2" --new-name cli-two-again --json
check "rename by id (--json)" "cli-two-again" "$(jq -r .title "$TMP/out")"
kv namespace rename nosuch --new-name x
check "rename of an unknown title" 3 "$RC"
kv namespace create cli-one
check "duplicate title" 1 "$RC"
has_err "duplicate title message" "title already exists' [code: 10014]"
kv namespace delete cli-two-again -y
check "delete by title" 0 "$RC"
kv namespace list --json
check "deleted namespace is gone" "cli-one" "$(jq -r '[.[].title] | join(" ")' "$TMP/out")"

# ---- keys ------------------------------------------------------------------------------
N=(--namespace-id "$NS")
now=$(date +%s)
kv key put greeting "Hello, edge!" "${N[@]}"
check "key put" 0 "$RC"
kv key get greeting "${N[@]}"
check "key get" "Hello, edge!" "$(out)"
kv key put ttl t --ttl 3600 "${N[@]}"
kv key put exp e --expiration $((now + 7200)) "${N[@]}"
kv key put meta m --metadata '{"plan":"pro"}' "${N[@]}"
check "put --metadata" 0 "$RC"
check "metadata stored (multipart)" '{"plan":"pro"}' "$(api GET "$BASE/$NS/metadata/meta" | jq -c .result)"
kv key list "${N[@]}" --json
check "list --json: expiration of --expiration" $((now + 7200)) "$(jq '.[] | select(.name=="exp") | .expiration' "$TMP/out")"
ttl_exp=$(jq '.[] | select(.name=="ttl") | .expiration' "$TMP/out")
((ttl_exp >= now + 3600 && ttl_exp <= now + 3610)) && ok "list --json: expiration of --ttl" || bad "ttl expiration $ttl_exp"
check "list --json: metadata" '{"plan":"pro"}' "$(jq -c '.[] | select(.name=="meta") | .metadata' "$TMP/out")"
kv key list "${N[@]}"
check "list plain" "exp greeting meta ttl" "$(out | tr '\n' ' ' | sed 's/ $//')"

head -c 200000 /dev/urandom >"$TMP/blob.bin"
kv key put blob --path "$TMP/blob.bin" "${N[@]}"
check "put --path" 0 "$RC"
kv key get blob "${N[@]}"
cmp -s "$TMP/blob.bin" "$TMP/out" && ok "get of a binary value is byte-exact" || bad "binary value differs"
kv key get blob "${N[@]}" --json
jq -r .value "$TMP/out" | base64 -d | cmp -s - "$TMP/blob.bin" && ok "get --json: base64 for non-UTF-8" || bad "get --json base64"
check "get --json: base64 flag" true "$(jq .base64 "$TMP/out")"
set +e
printf 'from\000stdin' | EDGEKV_URL=$URL EDGEKV_TOKEN=$TOKEN EDGEKV_ACCOUNT=$ACCOUNT \
  "$EDGEKV" kv key put stdin --path - --metadata '{"src":"pipe"}' "${N[@]}" >/dev/null 2>&1
set -e
kv key get stdin "${N[@]}" --json
check "put --path - (stdin) with metadata" '{"key":"stdin","value":"from\u0000stdin","metadata":{"src":"pipe"}}' "$(jq -c . "$TMP/out")"
ODD='dir/ключ ?&#%+=.😀'
kv key put "$ODD" odd "${N[@]}"
kv key get "$ODD" "${N[@]}"
check "odd key name round-trips" odd "$(out)"
kv key put "${N[@]}" -- -dash minus
kv key get "${N[@]}" -- -dash
check "key starting with '-' after --" minus "$(out)"
kv key put "" v "${N[@]}"
check "empty key is an API error" 1 "$RC"
kv key delete greeting "${N[@]}"
check "key delete" 0 "$RC"

# ---- error exit statuses ---------------------------------------------------------------
kv key get greeting "${N[@]}"
check "missing key: exit 3" 3 "$RC"
has_err "missing key message" "get: 'key not found' [code: 10009]"
kv key list --namespace-id 00000000000000000000000000000000
check "unknown namespace: exit 3" 3 "$RC"
has_err "unknown namespace message" "list keys: 'namespace not found' [code: 10013]"
kv key put k v --ttl 30 "${N[@]}"
check "invalid TTL: exit 1" 1 "$RC"
has_err "invalid TTL message" "put: 'Invalid expiration_ttl of 30. Expiration TTL must be at least 60.' [code: 10033]"
kv key put k v --metadata '[1,2]' "${N[@]}"
check "metadata not an object: exit 2" 2 "$RC"
kv key list "${N[@]}" --token not-the-token
check "bad token: exit 4" 4 "$RC"
has_err "bad token message" "Authentication error [code: 10000]"
# No server: a port held bound (never listening) by a process of this test,
# so a connection to it is refused whatever else runs on the machine.
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1], flush=True); time.sleep(300)' \
  >"$TMP/closed.port" &
HOLDER=$!
PIDS+=("$HOLDER")
port_held() { [[ -s $TMP/closed.port ]]; }
wait_for "a closed port" 30 port_held
CLOSED=$(cat "$TMP/closed.port")
kv key list "${N[@]}" --url "http://127.0.0.1:$CLOSED"
check "no server: exit 5" 5 "$RC"
has_err "no server message" "cannot reach http://127.0.0.1:$CLOSED"
kill "$HOLDER"

# ---- bulk ------------------------------------------------------------------------------
jq -n '[range(0; 2500) | {key: ("bulk/" + ("0000" + tostring)[-4:]), value: ("v" + tostring)}]
       + [{key: "b64", value: "aGVsbG8=", base64: true, metadata: {x: 1}, expiration_ttl: 600}]' >"$TMP/put.json"
kv bulk put "$TMP/put.json" "${N[@]}"
check "bulk put 2501 (3 requests)" "Wrote 2501 keys" "$(out)"
check "no progress bar when stderr is not a terminal" "" "$(err)"
kv key list --prefix bulk/ "${N[@]}"
check "list --prefix over 3 pages" 2500 "$(out | wc -l)"
check "list is in byte order" "bulk/0000 bulk/2499" "$(out | sed -n '1p;$p' | tr '\n' ' ' | sed 's/ $//')"
kv key get b64 "${N[@]}"
check "bulk put base64" hello "$(out)"
jq -n '[range(0; 250) | "bulk/" + ("0000" + tostring)[-4:]] + [{name: "b64"}, "missing"]' >"$TMP/get.json"
kv bulk get "$TMP/get.json" "${N[@]}" --progress
check "bulk get 252 (3 requests)" "252 v249 hello" "$(jq -r '[length, .["bulk/0249"], .b64] | join(" ")' "$TMP/out" 2>/dev/null || echo bad)"
check "bulk get 252: null for a missing key" null "$(jq .missing "$TMP/out")"
has_err "--progress draws on stderr" "reading [##############################] 100% 252/252 keys"
echo '[{"key":"a","value":"1"},{"key":2,"value":"x"},{"value":"y"}]' >"$TMP/bad.json"
kv bulk put "$TMP/bad.json" "${N[@]}"
check "malformed bulk file: exit 2" 2 "$RC"
has_err "malformed bulk file names the item" 'item 1: "key" must be a string'
kv key get a "${N[@]}"
check "malformed bulk file wrote nothing" 3 "$RC"
echo '[{"key":"bad","value":"!!","base64":true}]' >"$TMP/b64.json"
kv bulk put "$TMP/b64.json" "${N[@]}"
check "bulk put API error: exit 1" 1 "$RC"
has_err "bulk put API error message" "could not base64 decode value for key: \"bad\""
jq -n '[range(0; 2500) | if . % 2 == 0 then "bulk/" + ("0000" + tostring)[-4:]
        else {name: ("bulk/" + ("0000" + tostring)[-4:])} end]' >"$TMP/del.json"
kv bulk delete "$TMP/del.json" "${N[@]}" --json --progress
check "bulk delete 2500 (--json)" '{"successful_key_count":2500,"unsuccessful_keys":[]}' "$(jq -c . "$TMP/out")"
check "--progress off a terminal: one line per request" 3 "$(grep -c '^deleting \[' "$TMP/err")"
kv key list --prefix bulk/ "${N[@]}"
check "bulk delete emptied the prefix" "" "$(out)"

kv namespace delete --namespace-id "$NS"
check "namespace delete by id" 0 "$RC"
kv key list "${N[@]}"
check "keys of a deleted namespace: exit 3" 3 "$RC"

stop_node TERM
check "node stops cleanly" 0 "$RC"

# ---- HTTPS with a private CA (--cacert, EDGEKV_CACERT) --------------------------------
# Two lone origins serve HTTPS with API certificates of one cluster CA: h
# with one for 127.0.0.1 (certs api's default names), w with one that names
# only wrong.example. Verification is never off: without the CA, and
# against the wrong name, the request fails (exit 5) and says why.
"$EDGEKV" certs init --dir "$TMP/certs" --edges 0 >/dev/null
"$EDGEKV" certs api --dir "$TMP/certs" --name api >/dev/null
"$EDGEKV" certs api --dir "$TMP/certs" --name wrong --host wrong.example >/dev/null
# start_https NAME CERT : a lone origin serving HTTPS with CERT; sets HURL.
start_https() {
  start_node "$1" --data "$TMP/$1" --sync off --https-listen 127.0.0.1:0 \
    --https-cert "$TMP/certs/$2.crt" --https-key "$TMP/certs/$2.key"
  wait_for "the HTTPS banner of $1" 30 grep -q "serving https://127.0.0.1:" "$TMP/$1.log"
  HURL=https://127.0.0.1:$(sed -n 's|.*serving https://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/$1.log" | head -1)
}
start_https h api
H_PID=$PID
URL=$HURL
kv namespace create over-https --cacert "$TMP/certs/ca.crt"
check "--cacert: namespace create over HTTPS" 0 "$RC"
HNS=$(out)
kv key put k "over tls" --namespace-id "$HNS" --cacert "$TMP/certs/ca.crt"
check "--cacert: key put over HTTPS" 0 "$RC"
EDGEKV_CACERT=$TMP/certs/ca.crt kv key get k --namespace-id "$HNS"
check "EDGEKV_CACERT: key get over HTTPS" "over tls" "$(out)"
kv key get k --namespace-id "$HNS"
check "no CA given: exit 5 (the system's CAs do not know ours)" 5 "$RC"
has_err "no CA given: curl's reason" "SSL certificate problem: unable to get local issuer certificate"
has_err "no CA given: what to do" "pass --cacert FILE (its ca.crt) or set EDGEKV_CACERT"
kv key get k --namespace-id "$HNS" --cacert "$TMP/certs/other-ca.crt"
check "unreadable --cacert: usage error" 2 "$RC"
has_err "unreadable --cacert is named" "cannot read the CA file '$TMP/certs/other-ca.crt'"
"$EDGEKV" certs init --dir "$TMP/other" --edges 0 >/dev/null
kv key get k --namespace-id "$HNS" --cacert "$TMP/other/ca.crt"
check "another cluster's CA: exit 5" 5 "$RC"
has_err "another cluster's CA: why" "is not valid for this URL with the CA certificates of $TMP/other/ca.crt"
start_https w wrong
W_PID=$PID
URL=$HURL
kv namespace list --cacert "$TMP/certs/ca.crt"
check "a certificate for another name: exit 5" 5 "$RC"
has_err "a certificate for another name: curl's reason" "no alternative certificate subject name matches target host name '127.0.0.1'"
stop_pid "$W_PID" TERM 0
stop_pid "$H_PID" TERM 0
finish
