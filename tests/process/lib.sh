# lib.sh - helpers for the process-level tests: start the real edgekv
# binary on a free loopback port, talk to it with curl, stop it by PID.
# Every test sources this file; every process it starts is ended on exit.
#
# What a test proves about its nodes, not only about their answers:
# - every node it starts is waited for, and must exit with the status the
#   test expects: 0 after SIGTERM (stop_node TERM), 137 after SIGKILL;
#   nodes still running at `finish` get SIGTERM and must exit 0;
# - before cleanup, `finish` scans every output file under $TMP (node
#   stderr, stdout, `edgekv dev` logs) for AddressSanitizer,
#   LeakSanitizer and UBSan ("runtime error") reports: in the ASan+UBSan
#   build a leak or use-after-free in a node's shutdown path fails the test.
# - ports: nodes bind port 0 and report the port they got; a port that must
#   be reused across a restart comes from reserve_port (outside the kernel's
#   ephemeral range, held with flock), so no outgoing connection or other
#   test can take it.

set -euo pipefail

EDGEKV=${EDGEKV:?path to the edgekv binary}
TMP=$(mktemp -d /tmp/edgekv-proc-XXXXXX)
PIDS=()
declare -A NODE_NAME=() # PID -> name, for every node not yet reaped
PASS=0
FAIL=0
SANITIZER_RE='AddressSanitizer|LeakSanitizer|runtime error:'

# cleanup: SIGKILL what the test started and has not reaped. A reaped PID
# may be reused by an unrelated process at any time, so every wait on a
# PID of PIDS takes it out (stop_pid, forget_pid).
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true
  done
  if [[ $FAIL -gt 0 || ${FINISHED:-0} -eq 0 ]]; then
    # Keep what explains a failure in the test's output.
    for p in "$TMP"/*.err; do
      [[ -s $p ]] && { echo "---- tail of $p"; tail -20 "$p"; }
    done 2>/dev/null || true
  fi
  if [[ -n ${EDGEKV_KEEP_TMP:-} ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # check "description" expected actual
  if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}
# forget_pid PID : PID was reaped (waited for); cleanup must not signal it.
forget_pid() {
  local i
  for i in "${!PIDS[@]}"; do [[ ${PIDS[$i]} == "$1" ]] && unset "PIDS[$i]"; done
  return 0
}
# stop_pid PID SIGNAL EXPECTED : signals a node, waits for it, sets RC;
# a status other than EXPECTED fails the test.
stop_pid() {
  local pid=$1 sig=$2 want=$3 name=${NODE_NAME[$1]:-pid $1}
  kill -"$sig" "$pid" 2>/dev/null || true
  set +e
  wait "$pid"
  RC=$?
  set -e
  unset "NODE_NAME[$pid]"
  forget_pid "$pid"
  if [[ $RC -ne $want ]]; then bad "$name exited $RC after SIG$sig (expected $want)"; fi
}

# scan_sanitizer : every output file under $TMP is free of sanitizer
# reports. RocksDB's own LOG files are skipped (they hold no stderr).
scan_sanitizer() {
  local f
  while IFS= read -r -d '' f; do
    if grep -aqE "$SANITIZER_RE" "$f"; then
      bad "sanitizer report in ${f#"$TMP"/}"
      grep -aE -A12 "$SANITIZER_RE" "$f" | head -40
    fi
  done < <(find "$TMP" -type f ! -name 'LOG*' ! -name '*.sst' ! -name '*.blob' -size -20M -print0)
}

finish() {
  local pid
  for pid in "${!NODE_NAME[@]}"; do stop_pid "$pid" TERM 0; done
  scan_sanitizer
  FINISHED=1
  echo "$PASS passed, $FAIL failed"
  [[ $FAIL -eq 0 ]]
}

# reserve_port : sets RESERVED to a loopback port that nothing else can
# take while this test runs: below the kernel's ephemeral range (so no
# outgoing connection is given it), not listened on, and locked with flock
# against the other tests (the lock dies with this shell). For a listener
# that must come back on the same port after a restart.
reserve_port() {
  local lo hi base span p fd _
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  if [[ $lo -gt 12000 ]]; then base=10000 span=$((lo - 10000))
  else base=$((hi + 1)) span=$((65535 - hi)); fi
  mkdir -p /tmp/edgekv-port-locks
  for _ in $(seq 1 200); do
    p=$((base + ((RANDOM << 15) | RANDOM) % span))
    exec {fd}>"/tmp/edgekv-port-locks/$p"
    if flock -n "$fd" && python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$p" 2>/dev/null; then
      RESERVED=$p
      return 0
    fi
    exec {fd}>&-
  done
  bad "no port to reserve"
  return 1
}

# start_node NAME ARGS... : starts `edgekv origin ARGS`, waits for its
# banner, sets PORT, TOKEN (if generated), ACCOUNT, PID.
start_node() {
  local name=$1; shift
  start_role "$name" origin "$@"
}

# start_role NAME ROLE ARGS... : as start_node for `edgekv ROLE ARGS`.
start_role() {
  local name=$1 role=$2; shift 2
  local log=$TMP/$name.log
  # A restarted node's old output is moved aside here, before the fork (the
  # child's redirection truncates in its own time, and an old banner must
  # never be read as the new one's); finish still scans the old files.
  local f n=1
  while [[ -e $log.$n ]]; do n=$((n + 1)); done
  for f in "$log" "$TMP/$name.err"; do [[ -e $f ]] && mv "$f" "$f.$n"; done
  : >"$log"
  "$EDGEKV" "$role" --listen 127.0.0.1:0 "$@" >"$log" 2>"$TMP/$name.err" &
  PID=$!
  PIDS+=("$PID")
  NODE_NAME[$PID]=$name
  local deadline=$((SECONDS + 30)) # an ASan node on a loaded machine starts slowly
  until grep -q "serving http://" "$log" 2>/dev/null; do
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "edgekv exited early:"; cat "$TMP/$name.err"; return 1
    fi
    if [[ $SECONDS -ge $deadline ]]; then bad "$name did not print its banner in 30 s"; return 1; fi
    sleep 0.05
  done
  PORT=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
  ACCOUNT=$(sed -n 's|.*(account \([^,]*\),.*|\1|p' "$log" | head -1)
  TOKEN=$(sed -n 's|.*token ([^)]*): \(.*\)$|\1|p' "$log" | head -1)
  REPL_PORT=$(sed -n 's|.*replication: listening on [^:]*:\([0-9]*\).*|\1|p' "$log" | head -1)
  BASE="http://127.0.0.1:$PORT/client/v4/accounts/$ACCOUNT/storage/kv/namespaces"
}

# start_edge N [ARGS...] : starts `edgekv edge` named edgeN with its data in
# $TMP/edgeN, the test's certificates ($CERTS), origin replication port
# ($RP) and common options (the COMMON array); sets EPID[N] and EPORT[N].
declare -A EPID=() EPORT=()
start_edge() {
  local n=$1; shift
  start_role "edge$n" edge --data "$TMP/edge$n" --certs "$CERTS" --name "edge$n" \
    --origin "127.0.0.1:$RP" "${COMMON[@]}" "$@"
  EPID[$n]=$PID EPORT[$n]=$PORT
}

# wait_for DESCRIPTION SECONDS COMMAND... : retry COMMAND (every 0.1 s)
# until it succeeds; fails the test (and returns 1) on timeout.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ $SECONDS -ge $deadline ]]; then bad "timed out waiting for $what"; return 1; fi
    sleep 0.1
  done
  return 0
}

# stop_node SIGNAL [EXPECTED] : signals PID and waits; sets RC to the exit
# status, which must be EXPECTED (default: 0 after TERM or INT, 137 after
# KILL).
stop_node() {
  local want=${2:-}
  if [[ -z $want ]]; then case $1 in KILL | 9) want=137 ;; *) want=0 ;; esac; fi
  stop_pid "$PID" "$1" "$want"
}

api() { # api METHOD URL [curl args...] -> body on stdout
  local m=$1 u=$2; shift 2
  curl -s -X "$m" -H "Authorization: Bearer $TOKEN" "$u" "$@"
}

status_of() { # status_of METHOD URL [curl args...] -> "CODE REASON"
  local m=$1 u=$2; shift 2
  curl -s -o /dev/null -D - -X "$m" "$u" "$@" | head -1 | tr -d '\r' | cut -d' ' -f2-
}

# The value of a simple "#define NAME (a * b * c)" in proto/kv_limits.h, so
# tests derive their bounds from the named limits rather than copy them.
KV_LIMITS_H="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../proto" && pwd)/kv_limits.h"
limit() { # limit NAME -> the value
  local e
  e=$(sed -n "s/^#define $1 \(.*\)$/\1/p" "$KV_LIMITS_H" | tr -d 'u()')
  echo $((e))
}

# etcd3_start TOKEN: a 3-member etcd cluster on loopback ($ETCD, Debian's
# etcd-server), members e0..e2 with data in $TMP/etcdI. Sets
# ETCD_CPORT[i] (client) and ETCD_PPORT[i] (peer), reserved ports;
# ETCD_ENDPOINTS, the client URLs joined by commas; ETCD_PID[i], each in
# PIDS too. Returns once every member answers /health as healthy (60 s
# each), or fails the test.
etcd3_start() {
  local token=$1 i initial=""
  declare -ga ETCD_CPORT ETCD_PPORT ETCD_PID
  for i in 0 1 2; do
    reserve_port; ETCD_CPORT[$i]=$RESERVED
    reserve_port; ETCD_PPORT[$i]=$RESERVED
    initial+="${initial:+,}e$i=http://127.0.0.1:${ETCD_PPORT[$i]}"
  done
  ETCD_ENDPOINTS="http://127.0.0.1:${ETCD_CPORT[0]},http://127.0.0.1:${ETCD_CPORT[1]},http://127.0.0.1:${ETCD_CPORT[2]}"
  for i in 0 1 2; do
    "$ETCD" --name "e$i" --data-dir "$TMP/etcd$i" \
      --listen-client-urls "http://127.0.0.1:${ETCD_CPORT[$i]}" \
      --advertise-client-urls "http://127.0.0.1:${ETCD_CPORT[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${ETCD_PPORT[$i]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PPORT[$i]}" \
      --initial-cluster "$initial" --initial-cluster-state new \
      --initial-cluster-token "$token-$$" \
      --logger zap --log-level warn >"$TMP/etcd$i.out" 2>"$TMP/etcd$i.err" &
    ETCD_PID[$i]=$!
    PIDS+=("$!")
  done
  for i in 0 1 2; do wait_for "etcd member e$i healthy" 60 etcd3_healthy "$i" || fail_out; done
}
etcd3_healthy() { [[ $(curl -sf "http://127.0.0.1:${ETCD_CPORT[$1]}/health") == *'"health":"true"'* ]]; }
