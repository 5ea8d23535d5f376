#!/usr/bin/env bash
# test_abuse_memory.sh - the origin's memory ceiling under combined abuse
# (README "Security and limits", "The memory ceiling"). An origin with small,
# test-sized limits (read cache, RocksDB block cache and memtable, the HTTP
# body budget) and one edge; then, all at once:
#  1. BODIES authenticated clients each announce a 25 MiB put and send
#     24 MiB of it, then stall: the body budget (http_body_budget_bytes)
#     admits floor(budget / 25 MiB) of them, the others get 503 with
#     Retry-After right after their heads;
#  2. PIPES clients pipeline GETs of a 4 MiB value and never read;
#  3. the edge is stopped (SIGSTOP: a non-reading edge with a valid
#     certificate) while WRITES values of 256 KiB stream into the origin.
# The origin's VmRSS (sampled) and VmHWM stay under the ceiling computed from
# the configured limits; /healthz and a normal GET are served throughout;
# the origin drops the edge that reads nothing ("edge not reading"); once
# resumed (SIGCONT) the edge reconnects, resumes from the log and has the
# last write. Every process is stopped by PID.
#
# EDGEKV_TEST_BODY_BUDGET overrides the node's budget, not the ceiling: with
# 1099511627776 (no effective budget) the test fails, every body is held.
source "$(dirname "$0")/lib.sh"

LIMITS=$KV_LIMITS_H
OUT_MAX=$(limit KV_HTTP_CONN_OUTPUT_MAX_BYTES)
READ_BUF=$(limit KV_HTTP_READ_BUF_BYTES)
HEAD_MAX=$(limit KV_HTTP_HEADER_MAX_BYTES)
PEER_BUF=$(limit KV_REPL_PEER_BUFFER_DEFAULT_BYTES)
FRAME_MAX=$(limit KV_FRAME_MAX_BYTES)
STALL_MS=$(limit KV_REPL_PEER_STALL_MS)
PEER_SLACK=$((FRAME_MAX + 1024 * 1024)) # KV_REPL_PEER_BUFFER_SLACK_BYTES
[[ $OUT_MAX -gt 0 && $READ_BUF -gt 0 && $PEER_BUF -gt 0 && $FRAME_MAX -gt 0 && $STALL_MS -gt 0 ]] || {
  bad "could not read the limits from $LIMITS"; finish; }

MIB=$((1024 * 1024))
CACHE=$((8 * MIB)) BLOCK_CACHE=$((8 * MIB)) MEMTABLE=$((8 * MIB))
BUDGET=100000000 # the smallest allowed: the largest body (100 MB)
VALUE_BODY=$((25 * MIB))                     # a maximal value's Content-Length
BODIES=24 PIPES=4 BIG=$((4 * MIB)) WRITES=160 WRITE_BYTES=$((256 * 1024))
cat >"$TMP/config.json" <<EOF
{"cache_bytes": $CACHE, "block_cache_bytes": $BLOCK_CACHE, "write_buffer_bytes": $MEMTABLE,
 "http_body_budget_bytes": ${EDGEKV_TEST_BODY_BUDGET:-$BUDGET}}
EOF

# The ceiling's terms that this abuse can reach (README "The memory
# ceiling"), over the origin's RSS once set up:
#   bodies held (the budget) + non-reading clients x (unsent output bound +
#   one answer + read buffer + header arena) + one edge link (send buffer +
#   slack + TLS) + what the writes add to the in-memory log tail and the
#   memtables (at most their bytes) + the caches + allocator and threads.
MISC=$((64 * MIB))
if grep -qa __asan_init "$EDGEKV"; then
  MISC=$((192 * MIB)) # redzones, and a quarantine kept small here
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi
CEIL=$((BUDGET + PIPES * (OUT_MAX + BIG + READ_BUF + HEAD_MAX) + PEER_BUF + PEER_SLACK + MIB +
  WRITES * WRITE_BYTES + CACHE + BLOCK_CACHE + 2 * MEMTABLE + MISC))
ADMIT=$((BUDGET / VALUE_BODY))
[[ $ADMIT -gt $BODIES ]] && ADMIT=$BODIES

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
ACCT=acctmemory TOK=memory-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --sync off --threads 2)
TOKEN=$TOK ACCOUNT=$ACCT
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  --config "$TMP/config.json" "${COMMON[@]}"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
start_edge 1
TOKEN=$TOK # start_role reads only a generated token
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
link_of() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status" | jq -r .replication.link; }
live() { [[ "$(link_of "$1")" == live ]]; }
wait_for "edge1 to link" 30 live "${EPORT[1]}" && ok "edge1 links"
NS=$(api POST "$(url "$OPORT" "")" -H 'Content-Type: application/json' -d '{"title":"memory"}' | jq -r .result.id)
check "namespace id" 32 "${#NS}"
head -c "$BIG" /dev/urandom >"$TMP/big.bin"
api PUT "$(url "$OPORT" "/$NS/values/big")" --data-binary @"$TMP/big.bin" >/dev/null
check "big value stored" "$BIG" "$(api GET "$(url "$OPORT" "/$NS/values/big")" | wc -c)"
big_at_edge() { [[ $(api GET "$(url "${EPORT[1]}" "/$NS/values/big")" | wc -c) -eq $BIG ]]; }
wait_for "edge1 to have the big value" 30 big_at_edge && ok "edge1 has the big value"

kill -STOP "${EPID[1]}"
ok "edge1 stopped (SIGSTOP): it reads nothing from now on"

cat >"$TMP/abuse.py" <<'EOF'
import http.client, os, select, socket, sys, threading, time

port, pid = int(sys.argv[1]), int(sys.argv[2])
bodies, admit, pipes, writes, wbytes, ceil_kib = (int(x) for x in sys.argv[3:9])
release = sys.argv[9]
token, base = os.environ["TOKEN"], os.environ["VPATH"]
auth = f"Authorization: Bearer {token}\r\n"

def status_kib(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1

rss0 = status_kib("VmRSS")
peak = [rss0]
stop = threading.Event()
def sampler():
    while not stop.is_set():
        peak[0] = max(peak[0], status_kib("VmRSS"))
        time.sleep(0.02)
threading.Thread(target=sampler, daemon=True).start()

def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=30)

def get_ok(path, want_len):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status == 200 and (want_len is None or len(data) == want_len)
    except OSError:
        return False

served = [0, 0]  # ok, failed
def normal():
    ok = get_ok("/healthz", None) and get_ok(base + "/big", int(os.environ["VBYTES"]))
    served[0 if ok else 1] += 1

# 1. bodies: announce 25 MiB, send 24 MiB, stall (a byte every few seconds
# keeps each under the read timeout; the body rate is long satisfied).
def answered(s, wait):
    r, _, _ = select.select([s], [], [], wait)
    return s.recv(4096) if r else None

held, refused, other = [], 0, []
chunk = b"b" * (1 << 20)
for i in range(bodies):
    s = conn()
    s.sendall((f"PUT {base}/body{i} HTTP/1.1\r\n{auth}Content-Length: {25 << 20}\r\n\r\n").encode())
    data = answered(s, 0.3)
    if data is None:
        for _ in range(24):
            s.sendall(chunk)
        data = answered(s, 0)
    if data is None:
        held.append(s)
    elif data.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: " in data:
        refused += 1
        s.close()
    else:
        other.append(data[:60])
        s.close()
def trickle():
    while not stop.wait(5.0):
        for s in held:
            try:
                s.send(b"b")
            except OSError:
                pass
threading.Thread(target=trickle, daemon=True).start()
normal()

# 2. pipelining clients that never read.
req = f"GET {base}/big HTTP/1.1\r\n{auth}\r\n".encode() * 64
psocks = []
for _ in range(pipes):
    s = conn()
    s.setblocking(False)
    psocks.append(s)
t_end = time.monotonic() + 3
while time.monotonic() < t_end:
    for s in psocks:
        try:
            s.send(req)
        except BlockingIOError:
            pass
    time.sleep(0.01)
normal()

# 3. writes stream in while the edge reads nothing.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
value = os.urandom(wbytes)
wrote = 0
for i in range(writes):
    c.request("PUT", f"{base}/w{i}", body=value, headers={"Authorization": f"Bearer {token}"})
    r = c.getresponse()
    r.read()
    wrote += r.status == 200
    if i % 40 == 0:
        normal()
c.close()
normal()
print(f"rss0_kib={rss0} bodies_held={len(held)} bodies_refused={refused} other={other} "
      f"writes_ok={wrote}", flush=True)
with open(release + ".ready", "w") as f:
    f.write("ready\n")
# Hold everything until told to let go (the edge's drop is awaited meanwhile).
t_end = time.monotonic() + 120
while not os.path.exists(release) and time.monotonic() < t_end:
    time.sleep(0.2)
normal()
stop.set()
hwm = status_kib("VmHWM")
peak[0] = max(peak[0], status_kib("VmRSS"))
print(f"peak_kib={peak[0]} hwm_kib={hwm} ceiling_kib={ceil_kib} served_ok={served[0]} "
      f"served_failed={served[1]}", flush=True)
for s in held + psocks:
    s.close()
EOF

RSS0=$(awk '/^VmRSS:/ {print $2}' "/proc/$OPID/status")
CEIL_KIB=$((RSS0 + CEIL / 1024))
echo "# origin RSS ${RSS0} KiB; ceiling ${CEIL_KIB} KiB (RSS + $((CEIL / 1024)) KiB from the limits)"
TOKEN=$TOK VPATH="/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values" VBYTES=$BIG \
  python3 "$TMP/abuse.py" "$OPORT" "$OPID" "$BODIES" "$ADMIT" "$PIPES" "$WRITES" "$WRITE_BYTES" \
  "$CEIL_KIB" "$TMP/release" >"$TMP/abuse.out" 2>"$TMP/abuse.err" &
DRIVER=$!
PIDS+=("$DRIVER")
driver_ready() { [[ -e $TMP/release.ready ]]; }
wait_for "the abuse to be in place" 150 driver_ready
cat "$TMP/abuse.out"
val() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" "$TMP/abuse.out" | head -1; }
check "bodies admitted by the budget" "$ADMIT" "$(val bodies_held)"
check "bodies refused with 503 + Retry-After" "$((BODIES - ADMIT))" "$(val bodies_refused)"
check "writes acknowledged while the edge reads nothing" "$WRITES" "$(val writes_ok)"

# The origin drops the edge that reads nothing, KV_REPL_PEER_STALL_MS after
# its buffer filled.
dropped() { grep -q "edge not reading" "$TMP/origin.err"; }
wait_for "the origin to drop the non-reading edge" $((STALL_MS / 1000 + 30)) dropped &&
  ok "the origin dropped it: $(grep -m1 -o 'closing link.*edge not reading.*' "$TMP/origin.err")"
touch "$TMP/release"
wait "$DRIVER" || bad "the abuse driver failed: $(cat "$TMP/abuse.err")"
forget_pid "$DRIVER"
cat "$TMP/abuse.out" | tail -1
PEAK=$(val peak_kib) HWM=$(val hwm_kib)
[[ -n $PEAK && $PEAK -le $CEIL_KIB ]] && ok "VmRSS peak ${PEAK} KiB <= ceiling ${CEIL_KIB} KiB" ||
  bad "VmRSS peak ${PEAK:-?} KiB over the ceiling ${CEIL_KIB} KiB"
[[ -n $HWM && $HWM -le $CEIL_KIB ]] && ok "VmHWM ${HWM} KiB <= ceiling ${CEIL_KIB} KiB" ||
  bad "VmHWM ${HWM:-?} KiB over the ceiling ${CEIL_KIB} KiB"
check "normal requests failed during the abuse" 0 "$(val served_failed)"
[[ $(val served_ok) -ge 5 ]] && ok "normal requests served during the abuse: $(val served_ok)" ||
  bad "only $(val served_ok) normal requests served"

# The edge resumes: it reconnects and catches up from the log.
kill -CONT "${EPID[1]}"
last_at_edge() { [[ $(api GET "$(url "${EPORT[1]}" "/$NS/values/w$((WRITES - 1))")" | wc -c) -eq $WRITE_BYTES ]]; }
wait_for "edge1 to resume and catch up" 60 last_at_edge && ok "edge1 resumed and has the last write"
wait_for "edge1 to be live" 30 live "${EPORT[1]}" && ok "edge1 is live again"
PID=${EPID[1]} stop_node TERM
PID=$OPID stop_node TERM
finish
