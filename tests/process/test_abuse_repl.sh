#!/usr/bin/env bash
# test_abuse_repl.sh - the origin's replication port under abuse, and the
# edge's trust in the origin it dials.
#
# 1. A flood of bare TCP connections (no TLS, no certificate: anyone can
#    send them) to the replication port: FLOOD of them (default 1 100, past
#    the 1 024 links that used to abort the origin), opened within a
#    deadline from four loopback addresses and held open. The origin keeps
#    running, its RSS stays within a bound (it keeps at most
#    KV_REPL_HANDSHAKES_MAX half-open connections, evicting older ones, and
#    closes the idle rest at the TLS handshake deadline), and a real edge
#    links and converges while the flood is still held. Its log notes the
#    evictions (rate-limited).
# 2. An edge refuses an origin whose certificate does not name the address
#    the edge dials (`edgekv certs issue --host`), with a log line that says
#    so, and never links; the edge of part 1, whose origin certificate names
#    127.0.0.1, shows the normal case.
# Every node is stopped by PID and must exit 0; finish scans for sanitizer
# reports.
source "$(dirname "$0")/lib.sh"

FLOOD=${EDGEKV_ABUSE_REPL_CONNS:-1100}
# The flood needs descriptors on both sides (the origin inherits them).
HARD=$(ulimit -Hn)
WANT=$((FLOOD + 512))
if [[ $HARD != unlimited && $HARD -lt $WANT ]]; then WANT=$HARD; fi
ulimit -Sn "$WANT"
if [[ $WANT -lt $((FLOOD + 256)) ]]; then FLOOD=$((WANT - 256)); fi
# RSS bound over the idle origin: the half-open connections the origin keeps
# (REPLICA_UNPROVEN_MAX of ~90 KiB) and allocator slack. An ASan build pays
# redzones and its quarantine (kept small here).
RSS_SLACK_KB=$((40 * 1024))
if grep -qa __asan_init "$EDGEKV"; then
  RSS_SLACK_KB=$((128 * 1024))
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
ACCT=acctabuse TOK=abuse-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 1)
TOKEN=$TOK ACCOUNT=$ACCT
# The handshake deadline is HS_S (--repl-handshake-timeout-ms), well past
# the HELD_WAIT_S the test allows the origin to accept the whole flood: only
# eviction can bring the connections held down to 64 within that wait, and a
# machine slow to accept (other tests beside it) only uses more of the wait.
HS_S=15 HELD_WAIT_S=10
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  --repl-handshake-timeout-ms $((HS_S * 1000)) "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
RSS0=$(rss "$OPID")

# ---- 1. the flood --------------------------------------------------------------------
python3 - 127.0.0.1 "$RP" "$FLOOD" "$TMP/flood.ready" "$TMP/flood.release" <<'PY' &
import os, socket, sys, time
host, port, n, ready, release = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
# Paced (about 2 000 a second) so the listen backlog never overflows on a
# loaded machine: all of them are open well within the handshake deadline.
# From four loopback addresses (127.0.0.1-4): both the per-address cap and
# the cap on handshakes in all are reached.
socks, failed, end = [], 0, time.time() + 40
while len(socks) + failed < n and time.time() < end:
    src = f"127.0.0.{1 + (len(socks) + failed) % 4}"
    try:
        socks.append(socket.create_connection((host, port), timeout=5, source_address=(src, 0)))
    except OSError:
        failed += 1
    time.sleep(0.0005)
with open(ready + ".tmp", "w") as f:
    f.write(f"{len(socks)} {failed}\n")
os.rename(ready + ".tmp", ready)
end = time.time() + 120
while not os.path.exists(release) and time.time() < end:
    time.sleep(0.05)
for s in socks:
    s.close()
PY
FLOODER=$!
PIDS+=("$FLOODER")
peak=$RSS0
flood_done() { [[ -e $TMP/flood.ready ]]; }
deadline=$((SECONDS + 60))
until flood_done || [[ $SECONDS -ge $deadline ]] || ! kill -0 "$OPID" 2>/dev/null; do
  r=$(rss "$OPID" 2>/dev/null || echo 0)
  [[ $r -gt $peak ]] && peak=$r
  sleep 0.05
done
flood_done || wait_for "the flood to be opened" 5 flood_done
READY_AT=$SECONDS # the last connection is open; the origin accepts it at this time or later
read -r opened failed <"$TMP/flood.ready" || opened=0
check "the origin survives $FLOOD bare connections" 0 "$(kill -0 "$OPID" 2>/dev/null; echo $?)"
[[ $opened -gt 1024 ]] && ok "$opened bare connections opened ($failed failed)" ||
  bad "only $opened bare connections opened ($failed failed)"
r=$(rss "$OPID" 2>/dev/null || echo 0)
[[ $r -gt $peak ]] && peak=$r
[[ $((peak - RSS0)) -le $RSS_SLACK_KB ]] && ok "origin RSS stayed bounded: ${RSS0} KiB -> peak ${peak} KiB" ||
  bad "origin RSS grew ${RSS0} KiB -> ${peak} KiB (bound +${RSS_SLACK_KB} KiB)"
grep -q "replication port: evicted a half-open connection" "$TMP/origin.err" &&
  ok "the origin notes evictions" || bad "no eviction noted in the origin's log"
# Server-side sockets still open on the port, those in the listen queue
# included: the evicted ones are closed at once, the rest at the TLS
# handshake deadline (HS_S).
held() { ss -Htn state established "( sport = :$RP )" | wc -l; }
at_most() { [[ $(held) -le $1 ]]; }
wait_for "the origin to hold at most KV_REPL_HANDSHAKES_MAX of them" "$HELD_WAIT_S" at_most 64 &&
  ok "the origin holds at most 64 of them ($(held))"
# /metrics counts them: every connection opened and no longer held was
# evicted, closed at once or (past the deadline) timed out.
metric() { # metric PORT NAME -> its value in /metrics
  curl -s "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"
}
h=$(held)
ev=$(metric "$OPORT" edgekv_replication_port_evictions_total)
ref=$(metric "$OPORT" edgekv_replication_port_refused_total)
tmo=$(metric "$OPORT" edgekv_replication_port_handshake_timeouts_total)
[[ ${ev:-0} -gt 0 && $((${ev:-0} + ${ref:-0} + ${tmo:-0})) -ge $((opened - h)) ]] &&
  ok "/metrics: ${ev} evicted, ${ref} closed at once, ${tmo} timed out (${opened} opened, ${h} held)" ||
  bad "/metrics: evicted [${ev}] + closed at once [${ref}] + timed out [${tmo}] < ${opened} opened - ${h} held"

# A real edge links while the flood is still held, and converges.
start_edge 1
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
link_of() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r .replication.link; }
live() { [[ "$(link_of "$1")" == live ]]; }
wait_for "edge1 to link during the flood" 30 live "${EPORT[1]}" && ok "edge1 links during the flood"
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"abuse"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace" 32 "${#NS}"
check "a write at the origin" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" \
  --data-binary converged "$(url "$OPORT" "/$NS/values/k")")"
has_key() { [[ "$(curl -s -H "Authorization: Bearer $TOK" "$(url "$1" "/$NS/values/k")")" == converged ]]; }
wait_for "edge1 to converge" 30 has_key "${EPORT[1]}" && ok "edge1 converges"
wait_for "the idle half-open connections to be closed at the handshake deadline" $((HS_S + 15)) at_most 1 &&
  ok "idle half-open connections closed by the handshake deadline"
# ... and not before it: the last ones were accepted at READY_AT or later
# (SECONDS counts whole seconds, hence the 2 s of slack).
closed_after=$((SECONDS - READY_AT))
[[ $closed_after -ge $((HS_S - 2)) ]] &&
  ok "the last of them were held until the deadline (${closed_after} s, deadline ${HS_S} s)" ||
  bad "the last of them closed after ${closed_after} s, before the ${HS_S} s deadline"
tmo=$(metric "$OPORT" edgekv_replication_port_handshake_timeouts_total)
[[ ${tmo:-0} -ge 1 ]] && ok "/metrics: ${tmo} handshake timeouts" || bad "/metrics: handshake timeouts [${tmo}]"
unauth_zero() { [[ "$(metric "$OPORT" edgekv_replication_port_unauthenticated)" == 0 ]]; }
wait_for "/metrics to show no unauthenticated connection" 10 unauth_zero &&
  ok "/metrics: no unauthenticated connection left"
touch "$TMP/flood.release"
wait "$FLOODER" || true
forget_pid "$FLOODER"
check "the origin is still running" 0 "$(kill -0 "$OPID" 2>/dev/null; echo $?)"
check "edge1 still live" live "$(link_of "${EPORT[1]}")"

# ---- 2. the edge verifies the origin's host name ---------------------------------------
"$EDGEKV" certs issue --dir "$CERTS" --role origin --name elsewhere --host origin.example >/dev/null
start_node elsewhere --data "$TMP/elsewhere" --certs "$CERTS" --name elsewhere --repl-listen 127.0.0.1:0 "${COMMON[@]}"
EWPID=$PID EWRP=$REPL_PORT EWPORT=$PORT
start_role edge2 edge --data "$TMP/edge2" --certs "$CERTS" --name edge2 --origin "127.0.0.1:$EWRP" "${COMMON[@]}"
E2PID=$PID
refusal="refused: peer certificate: IP address mismatch; the upstream certificate must name 127.0.0.1"
seen() { grep -q -- "$refusal" "$TMP/edge2.err"; }
wait_for "edge2 to refuse the origin's certificate" 30 seen && ok "edge2: $refusal"
failed_hs() { [[ $(metric "$EWPORT" edgekv_replication_port_handshake_failures_total) -ge 1 ]]; }
wait_for "the refused origin to count the failed handshake" 10 failed_hs &&
  ok "/metrics: the refused origin counts the failed handshake"
check "edge2 never links" 0 "$(grep -c "link [0-9]* up" "$TMP/edge2.err" || true)"
PID=$E2PID stop_node TERM
PID=$EWPID stop_node TERM
PID=${EPID[1]} stop_node TERM
PID=$OPID stop_node TERM
finish
