#!/usr/bin/env bash
# test_dev.sh - `edgekv dev`, the first README command's cluster: it starts
# an origin and two edges on ports the kernel picks (--port 0), prints the
# endpoints, writes the env file and ports.env, replicates a write (also
# with --https: HTTPS on every node, the CA in the env files), and
# stops every process on SIGINT with exit 0 only when each node stopped
# cleanly: a node that dies makes dev exit 1, and so does a node that must
# be killed because it did not stop in time.
source "$(dirname "$0")/lib.sh"

# start_dev DIR ARGS... : runs `edgekv dev` on free ports, waits for its
# banner, loads DIR/ports.env; sets DEV (the PID).
start_dev() {
  local dir=$1; shift
  "$EDGEKV" dev --dir "$dir" --port 0 --repl-port 0 --sync off "$@" >"$dir.out" 2>&1 &
  DEV=$!
  PIDS+=("$DEV")
  banner() { grep -q "env file for wrangler" "$dir.out"; }
  wait_for "the cluster banner of $dir" 30 banner || { cat "$dir.out"; return 1; }
  set -a; . "$dir/ports.env"; set +a
  PIDS+=("$EDGEKV_ORIGIN_PID" "$EDGEKV_EDGE1_PID" "${EDGEKV_EDGE2_PID:-}")
}
# stop_dev SIGNAL : signals dev and waits; sets RC.
stop_dev() {
  kill -"$1" "$DEV"
  set +e
  wait "$DEV"
  RC=$?
  forget_pid "$DEV"
  set -e
}

start_dev "$TMP/dev" --edges 2 && ok "dev printed its endpoints"
set -a; . "$TMP/dev/edgekv.env"; set +a
check "env file points at edge1" "$EDGEKV_EDGE1_URL/client/v4" "$CLOUDFLARE_API_BASE_URL"
E1=$EDGEKV_EDGE1_URL E2=$EDGEKV_EDGE2_URL
grep -q "origin  $EDGEKV_ORIGIN_URL  (replication: mutual TLS on $EDGEKV_REPL_ADDR)" "$TMP/dev.out" &&
  ok "the banner names the ports ports.env holds" || bad "banner and ports.env differ: $(cat "$TMP/dev.out")"
A=$CLOUDFLARE_ACCOUNT_ID T=$CLOUDFLARE_API_TOKEN
live() { [[ "$(curl -s -H "Authorization: Bearer $T" "$1/status" | jq -r .replication.link)" == live ]]; }
wait_for "edge1 live" 30 live "$E1" && ok "edge1 live"
wait_for "edge2 live" 30 live "$E2" && ok "edge2 live"
NS=$(curl -s -X POST -H "Authorization: Bearer $T" -d '{"title":"dev"}' \
  "$CLOUDFLARE_API_BASE_URL/accounts/$A/storage/kv/namespaces" | jq -r .result.id)
check "namespace through edge1" 32 "${#NS}"
check "write through edge1" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $T" --data-binary v1 \
  "$CLOUDFLARE_API_BASE_URL/accounts/$A/storage/kv/namespaces/$NS/values/k")"
got() { [[ "$(curl -s -H "Authorization: Bearer $T" "$E2/client/v4/accounts/$A/storage/kv/namespaces/$NS/values/k")" == v1 ]]; }
wait_for "edge2 reads edge1's write" 30 got && ok "edge2 reads edge1's write"
# edgekv kv against the cluster: write through edge1, read through edge2.
kvc() { "$EDGEKV" kv "$@" --token "$T" --account "$A"; }
kvc key put cli-key cli-value --namespace-id "$NS" --url "$E1" >/dev/null && ok "kv key put through edge1" || bad "kv key put through edge1"
check "kv key get through edge1 (read-your-write)" cli-value "$(kvc key get cli-key --namespace-id "$NS" --url "$E1")"
cli_at_edge2() { [[ "$(kvc key get cli-key --namespace-id "$NS" --url "$E2" 2>/dev/null)" == cli-value ]]; }
wait_for "kv key get through edge2" 30 cli_at_edge2 && ok "kv key get through edge2"
printf '[{"key":"b1","value":"x"},{"key":"b2","value":"y"}]' >"$TMP/bulk.json"
kvc bulk put "$TMP/bulk.json" --namespace-id "$NS" --url "$E1" >/dev/null && ok "kv bulk put through edge1" || bad "kv bulk put through edge1"
listed() { [[ "$(kvc key list --namespace-id "$NS" --prefix b --json --url "$E2" 2>/dev/null | jq length)" == 2 ]]; }
wait_for "kv key list through edge2" 30 listed && ok "kv key list through edge2 sees the bulk"
kvc key delete cli-key --namespace-id "$NS" --url "$E1" >/dev/null
# Gone means "not found" (exit 3) from a live edge2, not any failure.
gone() { set +e; kvc key get cli-key --namespace-id "$NS" --url "$E2" >/dev/null 2>&1; local rc=$?; set -e; [[ $rc -eq 3 ]]; }
wait_for "the delete at edge2" 30 gone && ok "kv key delete through edge1 reaches edge2 (not found, exit 3)"

stop_dev INT
check "dev exits 0 on SIGINT" 0 "$RC"
grep -q "^edgekv dev: stopped$" "$TMP/dev.out" && ok "dev stopped every node" || bad "no stop message: $(tail -3 "$TMP/dev.out")"
outlived=0
for p in "$EDGEKV_ORIGIN_PID" "$EDGEKV_EDGE1_PID" "$EDGEKV_EDGE2_PID"; do
  if kill -0 "$p" 2>/dev/null; then outlived=$((outlived + 1)); fi
done
check "nodes that outlived dev" 0 "$outlived"
check "no HTTPS without --https" 0 "$(grep -c 'HTTPS\|EDGEKV_CA' "$TMP/dev/ports.env" "$TMP/dev/edgekv.env" | awk -F: '{s += $2} END {print s}')"

# --https: every node also serves HTTPS (ports the kernel picks, like the
# others) with one API certificate of the cluster CA; the banner and both
# env files give the URLs and the CA; curl and edgekv kv trust it.
start_dev "$TMP/tls" --edges 2 --https && ok "dev --https printed its endpoints"
set -a; . "$TMP/tls/edgekv.env"; set +a
CA=$(cd "$TMP/tls/certs" && pwd)/ca.crt
check "EDGEKV_CA: the cluster CA, absolute" "$CA" "$EDGEKV_CA"
check "NODE_EXTRA_CA_CERTS (wrangler, the SDK)" "$CA" "$NODE_EXTRA_CA_CERTS"
check "EDGEKV_CACERT (edgekv kv)" "$CA" "$EDGEKV_CACERT"
for v in EDGEKV_CA= NODE_EXTRA_CA_CERTS= EDGEKV_EDGE1_HTTPS_URL= CLOUDFLARE_API_BASE_URL=http://; do
  grep -q "^$v" "$TMP/tls/edgekv.env" && ok "edgekv.env has $v" || bad "edgekv.env lacks $v: $(cat "$TMP/tls/edgekv.env")"
done
urls=("$EDGEKV_ORIGIN_HTTPS_URL" "$EDGEKV_EDGE1_HTTPS_URL" "$EDGEKV_EDGE2_HTTPS_URL")
ports=()
for u in "${urls[@]}"; do
  [[ $u =~ ^https://127\.0\.0\.1:([0-9]+)$ ]] && ports+=("${BASH_REMATCH[1]}") || bad "HTTPS URL [$u]"
done
for u in "$EDGEKV_ORIGIN_URL" "$EDGEKV_EDGE1_URL" "$EDGEKV_EDGE2_URL" "http://$EDGEKV_REPL_ADDR"; do ports+=("${u##*:}"); done
check "seven distinct ports" 7 "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)"
grep -q "origin  $EDGEKV_ORIGIN_URL  $EDGEKV_ORIGIN_HTTPS_URL  (replication: mutual TLS on $EDGEKV_REPL_ADDR)" "$TMP/tls.out" &&
  grep -q "edge2   $EDGEKV_EDGE2_URL  $EDGEKV_EDGE2_HTTPS_URL   log" "$TMP/tls.out" &&
  ok "the banner gives the HTTPS URLs next to the HTTP ones" || bad "banner: $(cat "$TMP/tls.out")"
for u in "${urls[@]}"; do
  check "curl --cacert $u/healthz" ok "$(curl -s --cacert "$CA" "$u/healthz")"
done
check "the certificate served: the API one (no role)" "subject=O = edgekv, CN = api" \
  "$(openssl s_client -connect "${EDGEKV_EDGE1_HTTPS_URL#https://}" -verify_return_error -CAfile "$CA" </dev/null 2>/dev/null |
    openssl x509 -noout -subject)"
T=$CLOUDFLARE_API_TOKEN A=$CLOUDFLARE_ACCOUNT_ID
kvs() { "$EDGEKV" kv "$@" --token "$T" --account "$A"; } # EDGEKV_CACERT from the env file
NS=$(kvs namespace create tls --url "$EDGEKV_EDGE1_HTTPS_URL" || true)
check "kv namespace create over HTTPS (edge1)" 32 "${#NS}"
kvs key put k over-tls --namespace-id "$NS" --url "$EDGEKV_EDGE1_HTTPS_URL" >/dev/null && ok "kv key put over HTTPS (edge1)" || bad "kv key put over HTTPS"
tls_at_edge2() { [[ "$(kvs key get k --namespace-id "$NS" --url "$EDGEKV_EDGE2_HTTPS_URL" 2>/dev/null)" == over-tls ]]; }
wait_for "kv key get over HTTPS at edge2" 30 tls_at_edge2 && ok "edge2 serves edge1's write over HTTPS"
stop_dev INT
check "dev --https exits 0 on SIGINT" 0 "$RC"
unset EDGEKV_CA EDGEKV_CACERT NODE_EXTRA_CA_CERTS
# Fixed ports that cannot work are refused before anything starts.
set +e
"$EDGEKV" dev --dir "$TMP/high" --port 64900 --https >"$TMP/high.out" 2>&1
RC=$?
set -e
check "--https past port 65535: usage error" 2 "$RC"
grep -q "needs ports up to" "$TMP/high.out" && ok "and says why" || bad "high ports: $(cat "$TMP/high.out")"
set +e
"$EDGEKV" dev --dir "$TMP/clash" --port 6000 --repl-port 7000 --https >"$TMP/clash.out" 2>&1
RC=$?
set -e
check "--repl-port on an HTTPS port: usage error" 2 "$RC"
grep -q "repl-port 7000 is also an API port" "$TMP/clash.out" && ok "and says which" || bad "clash: $(cat "$TMP/clash.out")"

# A node that dies while the cluster runs: dev notices, stops the others
# and exits 1.
start_dev "$TMP/die" --edges 1 --stop-timeout-ms 5000
kill -KILL "$EDGEKV_EDGE1_PID"
set +e; wait "$DEV"; RC=$?; set -e
forget_pid "$DEV"
check "dev exits 1 when a node dies" 1 "$RC"
grep -q "edge1 exited unexpectedly (signal 9)" "$TMP/die.out" && ok "dev names the dead node and its signal" ||
  bad "no death message: $(cat "$TMP/die.out")"
grep -q "^edgekv dev: stopped, with errors" "$TMP/die.out" && ok "dev does not claim a clean stop" ||
  bad "stop message: $(tail -2 "$TMP/die.out")"

# A node that does not stop in time (SIGSTOPped): dev kills it and exits 1.
start_dev "$TMP/hang" --edges 1 --stop-timeout-ms 1000
kill -STOP "$EDGEKV_EDGE1_PID"
stop_dev INT
check "dev exits 1 when it must kill a node" 1 "$RC"
grep -q "edge1 did not stop within 1000 ms; killing it" "$TMP/hang.out" && ok "dev says which node it killed" ||
  bad "no kill message: $(cat "$TMP/hang.out")"
grep -q "^edgekv dev: stopped, with errors" "$TMP/hang.out" && ok "and that the stop was not clean" ||
  bad "stop message: $(tail -2 "$TMP/hang.out")"

# A node that cannot bind its port: dev reports which node and why.
# The holder binds a port the kernel picks and listens on it for 120 s at
# most (it is killed below).
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print("held", s.getsockname()[1], flush=True); time.sleep(120)' \
  >"$TMP/hold.out" 2>&1 &
HOLDER=$!
PIDS+=("$HOLDER")
held() { grep -q held "$TMP/hold.out"; }
if wait_for "the port holder" 30 held; then
  hold=$(sed -n "s/^held //p" "$TMP/hold.out")
  set +e
  "$EDGEKV" dev --dir "$TMP/busy" --edges 1 --port 0 --repl-port "$hold" --sync off >"$TMP/busy.out" 2>&1
  RC=$?
  set -e
  check "dev exits 1 when the origin cannot bind" 1 "$RC"
  grep -q "origin exited during start-up (exit 1)" "$TMP/busy.out" && ok "dev names the node that failed" ||
    bad "no start-up failure message: $(cat "$TMP/busy.out")"
  grep -q "cannot listen on 127.0.0.1:$hold\|127.0.0.1:$hold.*in use" "$TMP/busy/origin.log" && ok "the node's log names the busy port" ||
    bad "origin log: $(cat "$TMP/busy/origin.log")"
fi
kill "$HOLDER" 2>/dev/null || true
finish
