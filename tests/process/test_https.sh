#!/usr/bin/env bash
# test_https.sh - HTTPS on the API port of the real `edgekv origin`
# (node/http/http_tls.c, node/tls/tls_api.c), with a private CA:
#  1. the REST API over HTTPS (TLS 1.2 and 1.3, a 1 MiB value byte-exact),
#     the plain port still serving the same data;
#  2. ALPN: http/1.1 is chosen when offered with h2; a client offering only
#     h2 is refused (no_application_protocol);
#  3. SNI picks the certificate whose name the client asked for;
#  4. clients refuse a certificate for another name and an expired one;
#  5. session resumption with tickets (TLS 1.2 and 1.3);
#  6. SIGHUP reload: new connections get the new certificate while a
#     connection opened before keeps working on the old one; a broken file
#     is refused and the old certificate stays;
#  7. a client that stalls in the handshake is cut at the deadline (not
#     before), plaintext on the TLS port is refused, and neither disturbs
#     a normal client;
#  8. --https-client-ca: a client without a certificate from that CA is
#     refused, one with it is served.
source "$(dirname "$0")/lib.sh"

HS_MS=1500 # the handshake deadline under test (--https-handshake-timeout-ms)
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
issue() { # issue NAME [certs issue args...]: a server certificate NAME.crt/.key
  local name=$1; shift
  "$EDGEKV" certs api --dir "$CERTS" --name "$name" "$@" >/dev/null
}
issue api --host localhost --host 127.0.0.1
issue alt --host alt.test
issue wrong --host wrong.test
issue expired --host localhost --host 127.0.0.1 --valid-from -200000 --valid-until -100000
CA=$CERTS/ca.crt
# The files the node serves, replaced in place by the reload step.
cp "$CERTS/api.crt" "$TMP/serve.crt"
cp "$CERTS/api.key" "$TMP/serve.key"

start_node a --data "$TMP/a" --https-listen 127.0.0.1:0 \
  --https-cert "$TMP/serve.crt,$CERTS/alt.crt" --https-key "$TMP/serve.key,$CERTS/alt.key" \
  --https-handshake-timeout-ms "$HS_MS"
A_PID=$PID
SPORT=$(sed -n 's|.*serving https://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/a.log" | head -1)
check "HTTPS port announced" 1 "$([[ $SPORT =~ ^[0-9]+$ ]] && echo 1 || echo 0)"
SBASE="https://127.0.0.1:$SPORT/client/v4/accounts/$ACCOUNT/storage/kv/namespaces"
sapi() { # sapi METHOD URL [curl args...] over HTTPS with the CA
  local m=$1 u=$2; shift 2
  curl -sS --cacert "$CA" -X "$m" -H "Authorization: Bearer $TOKEN" "$u" "$@"
}
metric() { # metric NAME -> value from /metrics (plain port)
  curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"
}

# ---- 1. the API over HTTPS ------------------------------------------------------------
NS=$(sapi POST "$SBASE" -H 'Content-Type: application/json' -d '{"title":"tls"}' | jq -r .result.id)
check "namespace created over HTTPS" 32 "${#NS}"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/v.bin"
check "1 MiB put over HTTPS" true \
  "$(sapi PUT "$SBASE/$NS/values/big" --data-binary @"$TMP/v.bin" | jq -r .success)"
sapi GET "$SBASE/$NS/values/big" -o "$TMP/got.bin"
check "1 MiB read back over HTTPS, byte-exact" same \
  "$(cmp -s "$TMP/v.bin" "$TMP/got.bin" && echo same || echo differs)"
api GET "$BASE/$NS/values/big" >"$TMP/plain.bin"
check "the plain port serves the same value" same \
  "$(cmp -s "$TMP/v.bin" "$TMP/plain.bin" && echo same || echo differs)"
for v in "--tlsv1.2 --tls-max 1.2" "--tlsv1.3"; do
  # shellcheck disable=SC2086
  check "healthz over $v" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" $v "https://127.0.0.1:$SPORT/healthz")"
done
# Three requests on one kept-alive connection: one handshake.
before=$(metric edgekv_https_handshakes_total)
curl -s -o /dev/null -o /dev/null -o /dev/null --cacert "$CA" "https://127.0.0.1:$SPORT/healthz" \
  "https://127.0.0.1:$SPORT/healthz" "https://127.0.0.1:$SPORT/healthz"
check "keep-alive: 3 requests, 1 handshake" 1 $(($(metric edgekv_https_handshakes_total) - before))

# ---- 2. ALPN ----------------------------------------------------------------------------
check "h2 offered with http/1.1: http/1.1 chosen" "http/1.1" \
  "$(openssl s_client -connect "127.0.0.1:$SPORT" -CAfile "$CA" -alpn h2,http/1.1 </dev/null 2>&1 |
    sed -n 's/^ALPN protocol: //p')"
check "h2 only: refused with no_application_protocol" 1 \
  "$(openssl s_client -connect "127.0.0.1:$SPORT" -CAfile "$CA" -alpn h2 </dev/null 2>&1 |
    grep -c 'no application protocol')"

# ---- 3. SNI, 4. names and expiry as the client judges them ------------------------------
sni_get() { # sni_get NAME -> curl's exit status fetching https://NAME:SPORT/healthz
  curl -s -o /dev/null --cacert "$CA" --resolve "$1:$SPORT:127.0.0.1" "https://$1:$SPORT/healthz"
  echo $?
}
check "SNI alt.test gets the alt.test certificate" 0 "$(sni_get alt.test || true)"
check "SNI localhost gets the default certificate" 0 "$(sni_get localhost || true)"
check "a name no certificate holds: curl refuses (60)" 60 "$(sni_get nothere.test || true)"

# ---- 5. resumption -----------------------------------------------------------------------
resumed() { # resumed TLSFLAG -> "Reused" when a second connection resumed the first's session
  local req='GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
  rm -f "$TMP/sess.pem"
  printf "$req" | openssl s_client -connect "127.0.0.1:$SPORT" -CAfile "$CA" "$1" -ign_eof \
    -sess_out "$TMP/sess.pem" >/dev/null 2>&1 || true
  printf "$req" | openssl s_client -connect "127.0.0.1:$SPORT" -CAfile "$CA" "$1" -ign_eof \
    -sess_in "$TMP/sess.pem" 2>/dev/null | grep -o '^Reused' | head -1 || true
}
check "TLS 1.2 session resumed with a ticket" Reused "$(resumed -tls1_2)"
check "TLS 1.3 session resumed with a ticket" Reused "$(resumed -tls1_3)"
check "resumptions counted" 1 "$([[ $(metric edgekv_https_resumed_total) -ge 2 ]] && echo 1 || echo 0)"

# ---- 6. reload on SIGHUP -------------------------------------------------------------------
cat >"$TMP/keep.py" <<'EOF'
# One kept-alive HTTPS connection across a reload: request, wait for the go
# file, request again on the same socket. Prints the certificate's names
# and both statuses.
import os, socket, ssl, sys, time
port, ca, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                    server_hostname="localhost")
def get():
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            return "closed"
        data += chunk
    return data.split(b" ")[1].decode()
names = ",".join(v for k, v in s.getpeercert()["subjectAltName"] if k == "DNS")
first = get()
print("ready", flush=True)
deadline = time.time() + 20
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
print(names, first, get(), flush=True)
EOF
python3 "$TMP/keep.py" "$SPORT" "$CA" "$TMP/go" >"$TMP/keep.out" 2>&1 &
KEEP=$!
wait_for "the kept-alive client's first answer" 20 grep -q ready "$TMP/keep.out"
issue renewed --host localhost --host 127.0.0.1 --host renewed.test
cp "$CERTS/renewed.crt" "$TMP/serve.crt"
cp "$CERTS/renewed.key" "$TMP/serve.key"
kill -HUP "$A_PID"
wait_for "reload logged" 20 grep -q "certificates reloaded (generation 1)" "$TMP/a.err"
check "after reload a new connection gets the new certificate" 0 "$(sni_get renewed.test || true)"
touch "$TMP/go"
wait "$KEEP" || true
check "the connection opened before the reload: old certificate, served before and after" \
  "localhost 200 200" "$(tail -1 "$TMP/keep.out")"
echo "not a certificate" >"$TMP/serve.crt"
kill -HUP "$A_PID"
wait_for "failed reload logged" 20 grep -q "certificates not reloaded" "$TMP/a.err"
check "after a failed reload the previous certificate is served" 0 "$(sni_get renewed.test || true)"

# ---- 7. stalls and garbage ------------------------------------------------------------------
cat >"$TMP/stall.py" <<'EOF'
# Connect to the TLS port and stall: send nothing (mode "silent") or half a
# ClientHello ("partial"); print how long the server took to close, in ms.
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
t0 = time.monotonic()
if mode == "partial":
    s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
elif mode == "plain":
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
print(int((time.monotonic() - t0) * 1000))
EOF
python3 "$TMP/stall.py" "$SPORT" silent >"$TMP/stall1.out" &
S1=$!
python3 "$TMP/stall.py" "$SPORT" partial >"$TMP/stall2.out" &
S2=$!
served=0
for _ in 1 2 3; do
  [[ $(curl -s --cacert "$CA" "https://127.0.0.1:$SPORT/healthz") == ok ]] && served=$((served + 1))
done
check "a normal HTTPS client is served while two stall" 3 "$served"
wait "$S1" "$S2" || true
for f in stall1 stall2; do
  ms=$(cat "$TMP/$f.out")
  check "$f: cut at the handshake deadline (${ms} ms for ${HS_MS} ms), not before" 1 \
    "$([[ $ms -ge $((HS_MS - 100)) && $ms -le $((HS_MS + 5000)) ]] && echo 1 || echo 0)"
done
check "handshake timeouts counted" 2 "$(metric edgekv_https_handshake_timeouts_total)"
fails=$(metric edgekv_https_failures_total)
python3 "$TMP/stall.py" "$SPORT" plain >/dev/null
check "plaintext HTTP on the TLS port: refused, counted" 1 \
  $(($(metric edgekv_https_failures_total) - fails))
check "still served after the abuse" ok "$(curl -s --cacert "$CA" "https://127.0.0.1:$SPORT/healthz")"

# ---- 7b. pipelining past a full read buffer, then a bare FIN ---------------------------------
# 3 000 pipelined GETs (> KV_HTTP_READ_BUF_BYTES of plaintext, so part of
# them waits decrypted in OpenSSL while the parser works), then the TCP FIN
# without close_notify: every request is still answered, in order.
cat >"$TMP/pipe.py" <<'EOF'
import socket, ssl, sys
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
s = socket.create_connection(("127.0.0.1", port), timeout=20)
def pump_out():
    data = out.read()
    if data:
        s.sendall(data)
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        pump_out()
        inc.write(s.recv(65536))
pump_out()
tls.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" * n)
pump_out()
s.shutdown(socket.SHUT_WR)  # FIN, no close_notify
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    inc.write(chunk)
    try:
        while True:
            got += tls.read(65536)
    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
        pass
print(got.count(b"HTTP/1.1 200 OK"))
EOF
check "3000 pipelined HTTPS requests, then FIN: all answered" 3000 \
  "$(python3 "$TMP/pipe.py" "$SPORT" "$CA" 3000)"

# ---- 8. client certificates -------------------------------------------------------------------
# The cluster CA signs edge1's certificate (clientAuth): it is the client's.
start_node b --data "$TMP/b" --https-listen 127.0.0.1:0 --https-cert "$CERTS/api.crt" \
  --https-key "$CERTS/api.key" --https-client-ca "$CA"
B_PID=$PID
BPORT=$(sed -n 's|.*serving https://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/b.log" | head -1)
rc=0
curl -s -o /dev/null --cacert "$CA" "https://127.0.0.1:$BPORT/healthz" || rc=$?
check "no client certificate: refused in the handshake" 1 "$([[ $rc -ne 0 ]] && echo 1 || echo 0)"
check "a client certificate from the CA: served" ok \
  "$(curl -s --cacert "$CA" --cert "$CERTS/edge1.crt" --key "$CERTS/edge1.key" \
    "https://127.0.0.1:$BPORT/healthz")"
"$EDGEKV" certs init --dir "$TMP/other" --edges 1 >/dev/null
rc=0
curl -s -o /dev/null --cacert "$CA" --cert "$TMP/other/edge1.crt" --key "$TMP/other/edge1.key" \
  "https://127.0.0.1:$BPORT/healthz" || rc=$?
check "a client certificate from another CA: refused" 1 "$([[ $rc -ne 0 ]] && echo 1 || echo 0)"
PID=$B_PID stop_node TERM

# ---- 4 (cont.). clients refuse a wrong name and an expired certificate ------------------------
for bad in wrong expired; do
  start_node "$bad" --data "$TMP/$bad" --https-listen 127.0.0.1:0 \
    --https-cert "$CERTS/$bad.crt" --https-key "$CERTS/$bad.key"
  P=$(sed -n 's|.*serving https://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/$bad.log" | head -1)
  msg=$(curl -sS --cacert "$CA" "https://localhost:$P/healthz" 2>&1 || true)
  case $bad in
    wrong) want="no alternative certificate subject name matches" ;;
    expired) want="certificate has expired" ;;
  esac
  check "curl refuses the $bad certificate ($want)" 1 "$(grep -c "$want" <<<"$msg")"
  stop_node TERM
done

PID=$A_PID stop_node TERM
finish
