# lib.sh - helpers for the process-level tests: start the real edgekv
# binary on a free loopback port, talk to it with curl, stop it by PID.
# Every test sources this file; every process it starts is ended on exit.

set -euo pipefail

EDGEKV=${EDGEKV:?path to the edgekv binary}
TMP=$(mktemp -d /tmp/edgekv-proc-XXXXXX)
PIDS=()
PASS=0
FAIL=0

cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # check "description" expected actual
  if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}
finish() {
  echo "$PASS passed, $FAIL failed"
  [[ $FAIL -eq 0 ]]
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
  "$EDGEKV" "$role" --listen 127.0.0.1:0 "$@" >"$log" 2>"$TMP/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 100); do
    if grep -q "serving http://" "$log" 2>/dev/null; then break; fi
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "edgekv exited early:"; cat "$TMP/$name.err"; return 1
    fi
    sleep 0.1
  done
  PORT=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
  ACCOUNT=$(sed -n 's|.*(account \([^,]*\),.*|\1|p' "$log" | head -1)
  TOKEN=$(sed -n 's|.*token ([^)]*): \(.*\)$|\1|p' "$log" | head -1)
  REPL_PORT=$(sed -n 's|.*replication: listening on [^:]*:\([0-9]*\).*|\1|p' "$log" | head -1)
  BASE="http://127.0.0.1:$PORT/client/v4/accounts/$ACCOUNT/storage/kv/namespaces"
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

# stop_node SIGNAL : signals PID and waits; sets RC to the exit status.
stop_node() {
  kill -"$1" "$PID"
  set +e
  wait "$PID"
  RC=$?
  set -e
}

api() { # api METHOD URL [curl args...] -> body on stdout
  local m=$1 u=$2; shift 2
  curl -s -X "$m" -H "Authorization: Bearer $TOKEN" "$u" "$@"
}

status_of() { # status_of METHOD URL [curl args...] -> "CODE REASON"
  local m=$1 u=$2; shift 2
  curl -s -o /dev/null -D - -X "$m" "$u" "$@" | head -1 | tr -d '\r' | cut -d' ' -f2-
}
