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
