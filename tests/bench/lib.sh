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
