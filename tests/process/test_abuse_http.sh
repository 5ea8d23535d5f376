#!/usr/bin/env bash
# test_abuse_http.sh - abusive HTTP clients against the real `edgekv origin`
# (node/http's abuse bounds, proto/kv_limits.h "HTTP server: abuse bounds"):
#  1. clients that pipeline GETs of a large value and never read the
#     answers: the origin's RSS stays within a bound derived from the limits
#     (per connection: KV_HTTP_CONN_OUTPUT_MAX_BYTES + one answer + its read
#     buffer and header arena), and a normal client is served meanwhile;
#  2. slowloris: heads that trickle in a byte at a time, and bodies below
#     the minimum rate, are cut with 408 at their deadline (never before),
#     while a normal client is served throughout;
#  3. a put of 25 MiB + 1 byte sent whole before reading gets its 413 and
#     then the end of the connection.
# The clients are a Python driver (raw sockets); every figure is printed.
source "$(dirname "$0")/lib.sh"

LIMITS=$KV_LIMITS_H
OUT_MAX=$(limit KV_HTTP_CONN_OUTPUT_MAX_BYTES)
READ_BUF=$(limit KV_HTTP_READ_BUF_BYTES)
HEAD_MAX=$(limit KV_HTTP_HEADER_MAX_BYTES)
HEAD_MS=$(limit KV_HTTP_HEAD_TIMEOUT_MS)
GRACE_MS=$(limit KV_HTTP_BODY_GRACE_MS)
[[ $OUT_MAX -gt 0 && $READ_BUF -gt 0 && $HEAD_MS -gt 0 && $GRACE_MS -gt 0 ]] || {
  bad "could not read the limits from $LIMITS"; finish; }

# ASan keeps freed memory in quarantine (256 MB by default), which RSS would
# count; a small one keeps RSS about live memory. No effect without ASan.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" \
  start_node a --data "$TMP/data" --threads 2
NS=$(api POST "$BASE" -H 'Content-Type: application/json' -d '{"title":"abuse"}' | jq -r .result.id)
check "namespace id" 32 "${#NS}"
VALUE_BYTES=$((4 * 1024 * 1024)) # over the read cache's entry cap: read (copied) per request
head -c "$VALUE_BYTES" /dev/urandom >"$TMP/big.bin"
api PUT "$BASE/$NS/values/big" --data-binary @"$TMP/big.bin" >/dev/null
check "big value stored" "$VALUE_BYTES" "$(api GET "$BASE/$NS/values/big" | wc -c)"

cat >"$TMP/abuse.py" <<'EOF'
import os, select, socket, sys, time

mode, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
token, path = os.environ["TOKEN"], os.environ["VPATH"]

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s

def normal_get():
    """A normal client: GET the big value, read it whole. True when served."""
    try:
        s = conn()
        s.sendall(f"GET {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        s.close()
        return data.startswith(b"HTTP/1.1 200 ") and len(data) > int(os.environ["VBYTES"])
    except OSError:
        return False

def healthz():
    try:
        s = conn()
        s.sendall(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        return data.startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False

if mode == "pipeline":
    clients, seconds, bound_kib = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    req = (f"GET {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    batch = req * 64
    base = rss_kib()
    peak = base
    socks = []
    for _ in range(clients):
        s = conn()
        s.setblocking(False)
        socks.append(s)
    sent = 0
    over = False
    end = time.monotonic() + seconds
    while time.monotonic() < end and not over:
        for s in socks:
            try:
                sent += s.send(batch)
            except BlockingIOError:
                pass
        r = rss_kib()
        peak = max(peak, r)
        over = r - base > bound_kib  # stop at once: an unbounded server would eat the machine
        time.sleep(0.01)
    served = normal_get() if not over else False
    peak = max(peak, rss_kib())
    print(f"base_kib={base} peak_kib={peak} growth_kib={peak - base} bound_kib={bound_kib} "
          f"requests_sent={sent // len(req)} normal_served={int(served)} over={int(over)}")
    for s in socks:
        s.close()

elif mode == "slowloris":
    heads, bodies, give_up = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    gap = 0.5
    conns = []  # [socket, kind, start, cut_at, got]
    for i in range(heads):
        s = conn()
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        conns.append([s, "head", time.monotonic(), None, b""])
    for i in range(bodies):
        s = conn()
        s.sendall((f"PUT {path}-slow HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
                   "Content-Length: 1000000\r\n\r\n").encode())
        conns.append([s, "body", time.monotonic(), None, b""])
    for c in conns:
        c[0].setblocking(False)
    t0 = time.monotonic()
    normal_ok = normal_bad = 0
    next_normal = t0
    while time.monotonic() - t0 < give_up and any(c[3] is None for c in conns):
        for c in conns:
            if c[3] is not None:
                continue
            try:
                while True:
                    b = c[0].recv(4096)
                    if not b:
                        c[3] = time.monotonic()
                        break
                    c[4] += b
            except BlockingIOError:
                pass
            except OSError:
                c[3] = time.monotonic()
            if c[3] is None:
                try:
                    c[0].send(b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    c[3] = time.monotonic()
        if time.monotonic() >= next_normal:
            if healthz():
                normal_ok += 1
            else:
                normal_bad += 1
            next_normal = time.monotonic() + 1.0
        time.sleep(gap)
    for kind in ("head", "body"):
        cs = [c for c in conns if c[1] == kind]
        cut = [c for c in cs if c[3] is not None]
        got408 = [c for c in cut if c[4].startswith(b"HTTP/1.1 408 ")]
        lives = [c[3] - c[2] for c in cut]
        print(f"{kind}_clients={len(cs)} {kind}_cut={len(cut)} {kind}_408={len(got408)} "
              f"{kind}_min_ms={int(min(lives) * 1000) if lives else -1} "
              f"{kind}_max_ms={int(max(lives) * 1000) if lives else -1}")
    print(f"normal_ok={normal_ok} normal_bad={normal_bad}")
    for c in conns:
        c[0].close()

elif mode == "refused":
    s = conn()
    s.settimeout(60)
    total = 25 * 1024 * 1024 + 1
    # The binding protocol, as a Worker's put arrives.
    s.sendall((f"PUT /huge?urlencoded=true HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
               f"X-EdgeKV-Namespace: {os.environ['NSID']}\r\n"
               f"Content-Length: {total}\r\n\r\n").encode())
    chunk = b"v" * (1 << 20)
    left = total
    try:
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
    except OSError as e:
        print(f"send_error={e.__class__.__name__}")
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        print("eof=1")
    except OSError as e:
        print(f"recv_error={e.__class__.__name__}")
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    print(f"status={status.replace(' ', '_')}")
    print(f"conn_close={int(b'Connection: close' in data)}")
EOF

val() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }
export TOKEN VPATH="/client/v4/accounts/$ACCOUNT/storage/kv/namespaces/$NS/values/big" \
  VBYTES=$VALUE_BYTES NSID=$NS

# 1. Pipelining non-readers. What each may pin: its unsent output up to the
# limit plus the one answer that crossed it, its read buffer and header
# arena; 64 MiB more for the allocator, RocksDB and the normal client, and
# ASan's quarantine (16 MiB, set above) in a sanitizer build.
CLIENTS=4
BOUND_KIB=$(((CLIENTS * (OUT_MAX + VALUE_BYTES + 64 * 1024 + READ_BUF + HEAD_MAX) + (64 + 16) * 1024 * 1024) / 1024))
r=$(python3 "$TMP/abuse.py" pipeline "$PORT" "$PID" "$CLIENTS" 5 "$BOUND_KIB")
echo "# pipelining non-readers: $r"
check "non-readers: origin RSS growth within $BOUND_KIB KiB" 0 "$(val over "$r")"
[[ $(val requests_sent "$r") -gt 1000 ]] && ok "non-readers sent $(val requests_sent "$r") requests" ||
  bad "non-readers sent only $(val requests_sent "$r") requests"
check "normal client served while they hold on" 1 "$(val normal_served "$r")"
check "origin still answers after they left" "ok" "$(curl -s "http://127.0.0.1:$PORT/healthz")"

# 2. Slowloris: a byte every 0.5 s, each far inside the read timeout.
HEADS=40 BODIES=20
GIVE_UP=$(((HEAD_MS > GRACE_MS ? HEAD_MS : GRACE_MS) * 3 / 1000))
r=$(python3 "$TMP/abuse.py" slowloris "$PORT" "$PID" "$HEADS" "$BODIES" "$GIVE_UP")
echo "# slowloris: $(tr '\n' ' ' <<<"$r")"
check "slow heads all cut" "$HEADS" "$(val head_cut "$r")"
check "slow heads got 408" "$HEADS" "$(val head_408 "$r")"
check "slow bodies all cut" "$BODIES" "$(val body_cut "$r")"
check "slow bodies got 408" "$BODIES" "$(val body_408 "$r")"
[[ $(val head_min_ms "$r") -ge $((HEAD_MS - 100)) ]] && ok "no head cut before its deadline" ||
  bad "a head was cut after $(val head_min_ms "$r") ms (deadline $HEAD_MS)"
[[ $(val body_min_ms "$r") -ge $((GRACE_MS - 100)) ]] && ok "no body cut before its grace" ||
  bad "a body was cut after $(val body_min_ms "$r") ms (grace $GRACE_MS)"
check "normal client never failed during slowloris" 0 "$(val normal_bad "$r")"
[[ $(val normal_ok "$r") -gt 0 ]] && ok "normal client served $(val normal_ok "$r") times" ||
  bad "normal client never served"

# 3. 25 MiB + 1 byte, sent whole before reading (as workerd does).
r=$(python3 "$TMP/abuse.py" refused "$PORT" "$PID")
echo "# refused body: $(tr '\n' ' ' <<<"$r")"
check "25 MiB + 1 put: 413 read by the client" "HTTP/1.1_413" "$(val status "$r" | cut -d_ -f1-2)"
check "25 MiB + 1 put: answer says Connection: close" 1 "$(val conn_close "$r")"
check "25 MiB + 1 put: then the connection ends" 1 "$(val eof "$r")"

stop_node TERM
check "SIGTERM exit status" 0 "$RC"
finish
