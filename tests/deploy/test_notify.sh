#!/usr/bin/env bash
# test_notify.sh - Type=notify from the node's side (node/cmd/ready.c) and
# GET /readyz (node/api/app.c), against a fake NOTIFY_SOCKET
# (notify_listen.py records each datagram with its sender's pid):
# - an origin says READY=1 with STATUS=origin: serving as soon as it serves;
# - an edge whose origin is not there yet says STATUS=edge: not ready: link
#   ..., /readyz answers 503 with the reason, and READY=1 comes only after
#   --ready-wait-ms (the wait named in its status);
# - once the origin is up the edge's status turns to "edge: link live" and
#   /readyz to 200; SIGTERM sends STOPPING=1;
# - an edge whose origin is there says READY=1 "edge: link live" before
#   the wait is over;
# - without NOTIFY_SOCKET a node sends nothing and logs nothing of systemd.
source "$(dirname "$0")/../process/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
COMMON=(--account acctnotify --token notify-token-0123456789 --sync off --threads 1)
python3 "$HERE/notify_listen.py" "$TMP/notify.sock" "$TMP/notify.log" &
LPID=$!
PIDS+=("$LPID")
wait_for "the notify socket" 10 test -S "$TMP/notify.sock"
said() { grep "^$1 " "$TMP/notify.log" 2>/dev/null | cut -d' ' -f2-; }
readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz"; }
readyz_body() { curl -s "http://127.0.0.1:$1/readyz"; }

# ---- an edge before its origin ----------------------------------------------------------
reserve_port
RP=$RESERVED
WAIT_MS=1500
NOTIFY_SOCKET=$TMP/notify.sock start_role edge1 edge --data "$TMP/edge1" --certs "$CERTS" \
  --name edge1 --origin "127.0.0.1:$RP" --ready-wait-ms "$WAIT_MS" "${COMMON[@]}"
E1PID=$PID E1PORT=$PORT
check "/readyz of an edge without its origin" 503 "$(readyz "$E1PORT")"
body=$(readyz_body "$E1PORT")
if [[ $body =~ ^"not ready: link "(down|connecting) ]]; then ok "/readyz says why: $body"
else bad "/readyz body: [$body]"; fi
check "/healthz of that edge" ok "$(curl -s "http://127.0.0.1:$E1PORT/healthz")"
if said "$E1PID" | grep -c '^STATUS=edge: not ready: link' >/dev/null; then ok "STATUS= while waiting: $(said "$E1PID" | head -1)"
else bad "no waiting STATUS= line: [$(said "$E1PID")]"; fi
# Not early: on a machine slow enough that the wait is already over here,
# READY=1 may have been said; the log's "READY=1 after N ms" (N >= WAIT_MS,
# checked below) is what proves it never came early.
if [[ $(said "$E1PID" | grep -c 'READY=1' || true) -eq 0 ]]; then ok "no READY=1 before the wait is over"
else ok "READY=1 already said (the wait passed on this slow machine): its time is checked below"; fi
has_ready() { said "$1" | grep -c 'READY=1' >/dev/null; }
wait_for "READY=1 after the wait" 30 has_ready "$E1PID"
line=$(said "$E1PID" | grep 'READY=1' | head -1)
check "READY=1 after the wait, which the status names" \
  "READY=1 | STATUS=edge: not ready: link connecting (ready after the $WAIT_MS ms wait)" \
  "$(sed 's/link down/link connecting/' <<<"$line")"
ms=$(sed -n 's/.*systemd: READY=1 after \([0-9]*\) ms.*/\1/p' "$TMP/edge1.err")
if [[ -n $ms && $ms -ge $WAIT_MS ]]; then ok "the log says READY=1 after $ms ms (>= $WAIT_MS)"
else bad "READY=1 after [$ms] ms, expected >= $WAIT_MS"; fi

# ---- the origin comes ---------------------------------------------------------------------
NOTIFY_SOCKET=$TMP/notify.sock start_node origin --data "$TMP/origin" --certs "$CERTS" \
  --name origin --repl-listen "127.0.0.1:$RP" "${COMMON[@]}"
OPID=$PID OPORT=$PORT
check "the origin: READY=1 and its status at once" "READY=1 | STATUS=origin: serving" "$(said "$OPID" | head -1)"
check "/readyz of the origin" 200 "$(readyz "$OPORT")"
live_status() { said "$E1PID" | tail -1 | grep -c '^STATUS=edge: link live$' >/dev/null; }
wait_for "the edge's status to say link live" 30 live_status && ok "STATUS=edge: link live once the origin is up"
ready200() { [[ $(readyz "$1") == 200 ]]; }
wait_for "the edge's /readyz 200" 30 ready200 "$E1PORT" && check "/readyz body" ready "$(readyz_body "$E1PORT")"

# ---- an edge whose origin is there: ready before the wait -----------------------------------
NOTIFY_SOCKET=$TMP/notify.sock start_role edge2 edge --data "$TMP/edge2" --certs "$CERTS" \
  --name edge2 --origin "127.0.0.1:$RP" --ready-wait-ms 600000 "${COMMON[@]}"
E2PID=$PID
wait_for "edge2 READY=1" 30 has_ready "$E2PID"
check "edge2: READY=1 on a live link, not the 10 min wait" "READY=1 | STATUS=edge: link live" \
  "$(said "$E2PID" | grep 'READY=1' | head -1)"

# ---- stop ---------------------------------------------------------------------------------
for p in "$E1PID" "$E2PID" "$OPID"; do
  PID=$p stop_node TERM
  check "pid $p: STOPPING=1 last" "STOPPING=1 | STATUS=stopping (signal 15, drain 0 ms, grace $(limit KV_SHUTDOWN_GRACE_MS) ms)" \
    "$(said "$p" | tail -1)"
done

# ---- without NOTIFY_SOCKET ----------------------------------------------------------------
lines=$(wc -l <"$TMP/notify.log")
start_node plain --data "$TMP/plain" "${COMMON[@]}"
PPID_=$PID
check "/readyz of a lone origin" 200 "$(readyz "$PORT")"
PID=$PPID_ stop_node TERM
check "without NOTIFY_SOCKET nothing is sent" "$lines" "$(wc -l <"$TMP/notify.log")"
check "and nothing of systemd is logged" 0 "$(grep -c 'systemd\|sd_notify' "$TMP/plain.err" || true)"
kill "$LPID"
wait "$LPID" 2>/dev/null || true
forget_pid "$LPID"
finish
