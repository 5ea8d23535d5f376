# lib.sh - shell helpers shared by the benchmark scripts (sourced, not run).

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; reap. Only a PID the
# script started itself.
stop_pid() {
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# build_file REL: the path of REL (e.g. sim/edgekv-sim) in the build that
# EDGEKV_BIN belongs to (REL beside its node/ directory), or, without
# EDGEKV_BIN, in a build made now (deploy/build.sh; its output to stderr).
# Needs REPO. Fails when the build fails; whether the file exists is the
# caller's check.
build_file() {
  local rel=$1 bdir
  if [[ -n "${EDGEKV_BIN:-}" ]]; then
    echo "$(dirname "$EDGEKV_BIN")/../$rel"
    return 0
  fi
  echo "building" >&2
  bdir=$(cd "$REPO" && deploy/build.sh | tail -n1) || return 1
  [[ "$bdir" == /* ]] || bdir="$REPO/$bdir"
  echo "$bdir/$rel"
}

# start_watchdog SECONDS NAME: SIGTERM this script after SECONDS (its TERM
# trap then cleans up), saying NAME timed out; sets WD_PID, which the
# script's cleanup stops with SIGTERM.
start_watchdog() {
  local limit=$1 name=$2 main=$$
  (
    trap 'kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; exit 0' TERM
    sleep "$limit" &
    sp=$!
    wait "$sp"
    echo "$name: timeout after ${limit}s" >&2
    kill -TERM "$main"
  ) &
  WD_PID=$!
}

# hex N: N random bytes as 2N hex digits (tokens, account ids).
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# bench_tools DIR: sets BIN (edgekv), TOOL (repl_lag) and SHIM
# (src_addr_shim.c as an LD_PRELOAD library in DIR). BIN is EDGEKV_BIN, or
# the binary of a build made now (deploy/build.sh); TOOL is the repl_lag
# beside it, or one compiled into DIR. Needs REPO; returns non-zero (with
# a message) when something cannot be built.
bench_tools() {
  local dir=$1 bdir
  if [[ -n "${EDGEKV_BIN:-}" ]]; then
    BIN=$EDGEKV_BIN
    bdir="$(dirname "$EDGEKV_BIN")/.."
  else
    echo "building" >&2
    bdir=$(cd "$REPO" && deploy/build.sh | tail -n1) || { echo "deploy/build.sh failed" >&2; return 1; }
    [[ "$bdir" == /* ]] || bdir="$REPO/$bdir"
    BIN="$bdir/node/edgekv"
  fi
  [[ -x "$BIN" ]] || { echo "no edgekv binary at $BIN" >&2; return 1; }
  TOOL="$bdir/tests/bench/repl_lag"
  if [[ ! -x "$TOOL" ]]; then
    TOOL="$dir/repl_lag"
    cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$TOOL" "$REPO/tests/bench/repl_lag.c" ||
      { echo "cannot compile repl_lag" >&2; return 1; }
  fi
  SHIM="$dir/src_addr_shim.so"
  cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -shared -fPIC -o "$SHIM" \
    "$REPO/tests/bench/src_addr_shim.c" -ldl || { echo "cannot compile src_addr_shim" >&2; return 1; }
}
