#!/usr/bin/env bash
# lab.sh - the network lab: real edgekv hosts with WAN delays between them.
#
#   lab.sh up SCENARIO [--hosts N] [--loopback] [--clock-shim]   start the lab
#   lab.sh down                                   stop it, remove what it made
#   lab.sh fault partition EDGE|REGION MS         freeze the links of edges
#   lab.sh fault crash NODE|REGION MS             SIGKILL nodes, restart after MS
#   lab.sh fault clock NODE|REGION BY_MS          step nodes' wall clocks by BY_MS
#   lab.sh heal                                   end every fault now
#   lab.sh stats                                  every proxy's counters
#   lab.sh status                                 the hosts, one line each
#
# `up` reads the scenario's topology (sim/scenarios/*.json: the origin's
# place, regions with explicit edge counts, in order) and starts one origin
# and N-1 edges (default: all of the scenario's edges), each a real
# `edgekv` node with its own certificate (`edgekv certs issue`) carrying
# its own address. Every edge's replication link passes through its own
# `edgekv-proxy`, which delays it by the scenario's link model for that
# pair of places (sim/shape.h), and whose control port takes the faults.
#
# Two modes, chosen automatically and printed:
#   namespaces  (root, and `ip netns add` works) one network namespace per
#               host (ekvlab-h0 the origin, ekvlab-h1.. the edges), each
#               joined by a veth pair to the bridge ekvlab-br0 in the root
#               namespace; addresses 198.18.0.10+i/24 (the bridge has
#               198.18.0.1), from the benchmarking range 198.18.0.0/15 only.
#               The proxy runs in the edge's namespace on 127.0.0.1:7401;
#               the edge dials "origin:7400", which /etc/netns/<ns>/hosts
#               points at its proxy, so the origin's certificate is checked
#               against its name as on real hosts;
#   loopback    every node and proxy on 127.0.0.1 with ports the kernel
#               picks (--loopback forces it).
#
# Everything it makes is written to the state directory ($EDGEKV_LAB_DIR,
# default /tmp/edgekv-lab): pids (every process it started, as it starts
# it), hosts.tsv (one line per host: index, name,
# role, place, API address, proxy control address, node PID, proxy PID,
# namespace), and the nodes' data and logs. `down` ends exactly those PIDs
# (after checking each still runs the binary it started) and deletes
# exactly those namespaces, veths and the bridge, by name; it is a no-op
# when nothing is up, and `up` runs it first. Waits are bounded.
#
# Faults: a partition freezes the selected edges' proxies (each answers with
# the time it froze, at_ns=). A crash SIGKILLs each selected node by its PID,
# waits MS (the fault's schedule) and starts it again with the same data
# directory, flags and addresses (the command `up` saved), and records its
# new PID. A clock fault steps the selected nodes' wall clocks: `up` starts
# every node under tests/process/clock_shim.c (LD_PRELOAD; a node has no
# time-offset option, and its clocks are read nowhere else) when the
# scenario has clock_jump faults or --clock-shim is given, and the fault adds
# BY_MS to the node's shift file, which the shim re-reads every 5 ms; the
# node's timers (CLOCK_MONOTONIC) keep their pace, as in the simulator.
# Selectors: "origin", "edge:N" (0-based, as in scenarios), "edgeN" (the
# name), "region:NAME" / "NAME", "all" (every edge).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB=${EDGEKV_LAB_DIR:-/tmp/edgekv-lab}
BUILD=${EDGEKV_BUILD_DIR:-$REPO/build}
[[ $BUILD = /* ]] || BUILD=$REPO/$BUILD
EDGEKV=${EDGEKV:-$BUILD/node/edgekv}
PROXY=${EDGEKV_PROXY:-$BUILD/sim/edgekv-proxy}
CLOCK_SHIM=${EDGEKV_CLOCK_SHIM:-$BUILD/tests/process/libclock_shim.so}
NS_PREFIX=ekvlab-h
BRIDGE=ekvlab-br0
SUBNET=198.18.0     # /24 of the benchmarking range 198.18.0.0/15
BRIDGE_IP=$SUBNET.1
HOST_IP_BASE=10     # host i is $SUBNET.(HOST_IP_BASE + i)
HOSTS_MAX=200       # addresses left in the /24 above the base
REPL_PORT=7400 API_PORT=8787 PROXY_PORT=7401 CTL_PORT=7402
START_WAIT_S=60     # a node's banner, an edge's live link
STOP_WAIT_S=15      # SIGTERM before SIGKILL
LAB_ACCOUNT=acctlab LAB_TOKEN=lab-token-0123456789abcdef

die() { echo "lab.sh: $*" >&2; exit 1; }
say() { echo "lab: $*"; }

# ---- the scenario's hosts ------------------------------------------------------------------

# hosts_of SCENARIO N : "role place region" lines, the origin first, then
# the edges in the simulator's order (region by region).
hosts_of() {
  jq -r --argjson n "$2" '
    .topology as $t
    | [["origin", ($t.origin // "ashburn"), "-"]]
      + [ $t.regions[] | (if type == "object" then . else {name: ., edges: 0} end)
          | . as $r | range(0; ($r.edges // 0)) | ["edge", $r.name, $r.name] ]
    | .[:$n] | .[] | @tsv' "$1"
}

scenario_edges() {
  jq '[.topology.regions[] | if type == "object" then (.edges // 0) else 0 end] | add' "$1"
}

# ---- processes -----------------------------------------------------------------------------

# pid_is PID BINARY : PID is alive and runs BINARY (not a reused PID).
pid_is() {
  [[ $1 =~ ^[0-9]+$ ]] && [[ -r /proc/$1/cmdline ]] &&
    tr '\0' '\n' <"/proc/$1/cmdline" | head -1 | grep -qxF "$2"
}

stop_pid() { # stop_pid PID BINARY
  local pid=$1 bin=$2 t
  pid_is "$pid" "$bin" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((t = 0; t < STOP_WAIT_S * 10; t++)); do
    pid_is "$pid" "$bin" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

wait_line() { # wait_line FILE PATTERN PID WHAT [COUNT]: the COUNT-th line (default 1)
  local t need=${5:-1}
  for ((t = 0; t < START_WAIT_S * 20; t++)); do
    [[ $(grep -c "$2" "$1" 2>/dev/null) -ge $need ]] && return 0
    kill -0 "$3" 2>/dev/null || { tail -5 "${1%.log}.err" >&2; die "$4 exited early"; }
    sleep 0.05
  done
  die "$4: no '$2' in $START_WAIT_S s"
}

# in_ns NS CMD... : CMD in namespace NS (or here when NS is "-").
in_ns() {
  local ns=$1; shift
  if [[ $ns == - ]]; then exec "$@"; else exec ip netns exec "$ns" "$@"; fi
}

# real_pid PID BINARY : the process running BINARY that PID is or started:
# `ip netns exec` forks the command and waits for it, so the PID to record
# and end is its child's (bounded wait for the fork).
real_pid() {
  local pid=$1 bin=$2 t c
  for ((t = 0; t < START_WAIT_S * 20; t++)); do
    pid_is "$pid" "$bin" && { echo "$pid"; return 0; }
    for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
      pid_is "$c" "$bin" && { echo "$c"; return 0; }
    done
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  die "cannot find the process of $bin (started as $pid)"
}

# ---- namespaces ----------------------------------------------------------------------------

netns_usable() {
  [[ $(id -u) == 0 ]] && command -v ip >/dev/null || return 1
  local probe=${NS_PREFIX}probe$$
  ip netns add "$probe" 2>/dev/null || return 1
  ip netns del "$probe"
}

net_up() { # net_up NHOSTS
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local i ns
  for ((i = 0; i < $1; i++)); do
    ns=$NS_PREFIX$i
    ip netns add "$ns"
    ip link add "ekvlab-v$i" type veth peer name eth0 netns "$ns"
    ip link set "ekvlab-v$i" master "$BRIDGE" up
    ip -n "$ns" addr add "$SUBNET.$((HOST_IP_BASE + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    mkdir -p "/etc/netns/$ns"
    # The edge dials the origin by name; in its namespace the name is its proxy.
    printf '127.0.0.1 localhost\n%s origin\n' \
      "$([[ $i == 0 ]] && echo "$SUBNET.$HOST_IP_BASE" || echo 127.0.0.1)" >"/etc/netns/$ns/hosts"
  done
}

net_down() { # by name, only the lab's
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX[0-9]*$" || true); do
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  local v
  for v in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^ekvlab-v[0-9]*$' || true); do
    ip link del "$v" 2>/dev/null || true # gone with its namespace already, or now
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
  return 0
}

# ---- up / down -----------------------------------------------------------------------------

cmd_down() {
  if [[ -f $LAB/pids ]]; then
    local pid bin
    # Newest first: an edge's proxy and the edge before the origin.
    while read -r pid bin; do stop_pid "$pid" "$bin"; done < <(tac "$LAB/pids")
    rm -f "$LAB/pids"
    say "down"
  fi
  if [[ $(cat "$LAB/mode" 2>/dev/null) == namespaces ]]; then net_down; fi
  rm -f "$LAB/hosts.tsv" "$LAB/mode" "$LAB/clock_shim"
  return 0
}

# start_node NS NAME LOG ARGS... -> sets NODE_PID. Appends to the node's
# logs (a restart keeps the first run's lines), under the clock shim when
# the lab has one, and saves the command with the addresses the node got
# (a port 0 becomes the port it bound) for a restart.
start_node() {
  local ns=$1 name=$2 log=$3; shift 3
  local banners
  banners=$(grep -c "serving http://" "$log" 2>/dev/null || true)
  (
    if [[ -f $LAB/clock_shim ]]; then
      export EDGEKV_CLOCK_SHIFT_FILE=$LAB/nodes/$name.shift LD_PRELOAD=$CLOCK_SHIM
      export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
    fi
    in_ns "$ns" "$EDGEKV" "$@" >>"$log" 2>>"${log%.log}.err"
  ) &
  NODE_PID=$(real_pid $! "$EDGEKV")
  echo "$NODE_PID $EDGEKV" >>"$LAB/pids"
  wait_line "$log" "serving http://" "$NODE_PID" "$name" $((${banners:-0} + 1))
  [[ -f $LAB/nodes/$name.cmd ]] && return 0
  local api repl a prev= out=()
  api=$(sed -n 's|.*serving http://\([0-9.]*:[0-9]*\).*|\1|p' "$log" | head -1)
  repl=$(sed -n 's|.*replication: listening on \([^ ]*\).*|\1|p' "$log" | head -1)
  for a in "$@"; do
    case $prev in --listen) out+=("$api") ;; --repl-listen) out+=("$repl") ;; *) out+=("$a") ;; esac
    prev=$a
  done
  echo "$ns" >"$LAB/nodes/$name.ns"
  printf '%s\0' "${out[@]}" >"$LAB/nodes/$name.cmd"
}

# restart_node NAME : its saved command again; hosts.tsv gets the new PID.
restart_node() {
  local name=$1 ns args=()
  ns=$(cat "$LAB/nodes/$name.ns")
  mapfile -d '' args <"$LAB/nodes/$name.cmd"
  start_node "$ns" "$name" "$LAB/nodes/$name.log" "${args[@]}"
  (
    flock 9
    awk -F'\t' -v OFS='\t' -v n="$name" -v p="$NODE_PID" '$2 == n { $7 = p } { print }' \
      "$LAB/hosts.tsv" >"$LAB/hosts.tsv.new"
    mv "$LAB/hosts.tsv.new" "$LAB/hosts.tsv"
  ) 9>"$LAB/hosts.lock"
}

cmd_up() {
  local scenario=${1:?usage: lab.sh up SCENARIO [--hosts N] [--loopback]}; shift
  local nhosts= mode= shim=
  while [[ $# -gt 0 ]]; do
    case $1 in
    --hosts) nhosts=$2; shift 2 ;;
    --loopback) mode=loopback; shift ;;
    --clock-shim) shim=1; shift ;;
    *) die "unknown option $1" ;;
    esac
  done
  [[ -f $scenario ]] || die "no scenario $scenario"
  [[ -x $EDGEKV && -x $PROXY ]] || die "build first: $EDGEKV, $PROXY"
  local edges; edges=$(scenario_edges "$scenario")
  [[ $edges -gt 0 ]] || die "$scenario: regions need explicit edge counts for the lab"
  nhosts=${nhosts:-$((edges + 1))}
  ((nhosts >= 2 && nhosts <= edges + 1 && nhosts <= HOSTS_MAX)) ||
    die "--hosts must be 2..$((edges + 1))"
  cmd_down >/dev/null
  if [[ -z $mode ]]; then
    if netns_usable; then mode=namespaces; else mode=loopback; fi
  fi
  mkdir -p "$LAB"
  rm -rf "${LAB:?}/nodes" "$LAB/certs"
  mkdir -p "$LAB/nodes"
  echo "$mode" >"$LAB/mode"
  say "mode $mode ($([[ $mode == namespaces ]] && echo "one network namespace per host on $SUBNET.0/24" || echo "every host on 127.0.0.1: no namespaces here"))"
  rm -f "$LAB/clock_shim"
  if [[ -n $shim || $(jq '[.faults[]? | select(.type == "clock_jump")] | length' "$scenario") -gt 0 ]]; then
    [[ -f $CLOCK_SHIM ]] || die "clock faults need $CLOCK_SHIM (build the tests)"
    echo "$CLOCK_SHIM" >"$LAB/clock_shim"
    say "clock faults: every node under $(basename "$CLOCK_SHIM") (its wall clock + nodes/NAME.shift ms)"
  fi
  [[ $mode == namespaces ]] && net_up "$nhosts"
  printf '#idx\tname\trole\tplace\tapi\tcontrol\tnode_pid\tproxy_pid\tnetns\n' >"$LAB/hosts.tsv"
  "$EDGEKV" certs init --dir "$LAB/certs" --edges 0 >/dev/null
  local common=(--account "$LAB_ACCOUNT" --token "$LAB_TOKEN" --threads 1
    --heartbeat-ms "$(jq '.push.heartbeat_ms // 250' "$scenario")"
    --propagation-bound-ms "$(jq '.push.propagation_bound_ms // 1000' "$scenario")")
  local i=0 role place region name ns ip origin_repl= log
  while IFS=$'\t' read -r role place region; do
    name=$([[ $role == origin ]] && echo origin || echo "edge$i")
    ns=$([[ $mode == namespaces ]] && echo "$NS_PREFIX$i" || echo -)
    ip=$([[ $mode == namespaces ]] && echo "$SUBNET.$((HOST_IP_BASE + i))" || echo 127.0.0.1)
    log=$LAB/nodes/$name.log
    echo 0 >"$LAB/nodes/$name.shift"
    "$EDGEKV" certs issue --dir "$LAB/certs" --role "$role" --name "$name" --host "$name" \
      --host "$ip" $([[ $role == origin ]] && echo --host localhost --host 127.0.0.1) >/dev/null
    local ppid=- ctl=- listen
    if [[ $role == origin ]]; then
      listen=$([[ $mode == namespaces ]] && echo "$ip:$REPL_PORT" || echo 127.0.0.1:0)
      start_node "$ns" "$name" "$log" origin --data "$LAB/nodes/$name" --certs "$LAB/certs" \
        --name "$name" --repl-listen "$listen" \
        --listen "$([[ $mode == namespaces ]] && echo "$ip:$API_PORT" || echo 127.0.0.1:0)" \
        "${common[@]}"
      origin_repl=$(sed -n 's|.*replication: listening on \([^ ]*\).*|\1|p' "$log" | head -1)
    else
      local plog=$LAB/nodes/$name.proxy.log
      (in_ns "$ns" "$PROXY" --scenario "$scenario" --place "$place" --stream "$i" \
        --listen "$([[ $mode == namespaces ]] && echo "127.0.0.1:$PROXY_PORT" || echo 127.0.0.1:0)" \
        --upstream "$origin_repl" \
        --control "$([[ $mode == namespaces ]] && echo "$ip:$CTL_PORT" || echo 127.0.0.1:0)" \
        >"$plog" 2>"${plog%.log}.err") &
      ppid=$(real_pid $! "$PROXY")
      echo "$ppid $PROXY" >>"$LAB/pids"
      wait_line "$plog" "control on port" "$ppid" "proxy of $name"
      local pport cport
      pport=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$plog")
      cport=$(sed -n 's/.*control on port \([0-9]*\).*/\1/p' "$plog")
      ctl=$ip:$cport
      start_node "$ns" "$name" "$log" edge --data "$LAB/nodes/$name" --certs "$LAB/certs" \
        --name "$name" \
        --origin "$([[ $mode == namespaces ]] && echo "origin:$pport" || echo "127.0.0.1:$pport")" \
        --listen "$([[ $mode == namespaces ]] && echo "$ip:$API_PORT" || echo 127.0.0.1:0)" \
        "${common[@]}"
    fi
    local api
    api=$(sed -n 's|.*serving http://\([0-9.]*:[0-9]*\).*|\1|p' "$log" | head -1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$name" "$role" "$place" "$api" "$ctl" \
      "$NODE_PID" "$ppid" "$ns" >>"$LAB/hosts.tsv"
    say "$(printf '%-7s %-12s api %-20s %s' "$name" "$place" "$api" \
      "$([[ $role == edge ]] && sed -n 's/.*, \([a-z]*->[a-z]* base one-way [0-9.]* ms[^,]*\),.*/\1/p' "$LAB/nodes/$name.proxy.log")")"
    i=$((i + 1))
  done < <(hosts_of "$scenario" "$nhosts")
  # Up means every edge's link is live (bounded wait).
  local t live
  for ((t = 0; t < START_WAIT_S * 10; t++)); do
    live=0
    while IFS=$'\t' read -r _ name role _ api _; do
      [[ $role == edge ]] || continue
      [[ $(curl -s -m 2 -H "Authorization: Bearer $LAB_TOKEN" "http://$api/status" |
        jq -r .replication.link 2>/dev/null) == live ]] && live=$((live + 1))
    done < <(grep -v '^#' "$LAB/hosts.tsv")
    [[ $live == $((nhosts - 1)) ]] && break
    sleep 0.1
  done
  [[ $live == $((nhosts - 1)) ]] || die "only $live of $((nhosts - 1)) edges live after $START_WAIT_S s"
  say "up: $nhosts hosts, $live edges live; account $LAB_ACCOUNT, token $LAB_TOKEN; state in $LAB"
}

# ---- faults --------------------------------------------------------------------------------

ctl() { # ctl HOST:PORT COMMAND -> the proxy's answer
  local hp=$1
  exec {fd}<>"/dev/tcp/${hp%:*}/${hp#*:}"
  printf '%s\n' "$2" >&"$fd"
  local line; IFS= read -r -t 10 line <&"$fd" || line="err no answer"
  exec {fd}>&-
  echo "$line"
}

# select_hosts SEL FIELD : FIELD of every host SEL matches: "origin";
# "edge:N" (the N-th edge, 0-based as in scenarios, i.e. host N+1); "N" or
# "edgeN" (the host of that number or name); "region:NAME" / "NAME" (the
# edges of a region); "all" (every edge).
select_hosts() {
  local sel=$1
  [[ -f $LAB/hosts.tsv ]] || die "the lab is not up"
  awk -F'\t' -v sel="$sel" -v f="$2" '
    $1 !~ /^#/ {
      if (sel == "origin") { if ($3 == "origin") print $f; next }
      if ($3 != "edge") next
      if (sel ~ /^edge:[0-9]+$/) { if (substr(sel, 6) + 1 == $1) print $f; next }
      s = sel; sub(/^region:/, "", s)
      if (s == "all" || s == $1 || s == $2 || s == $4) print $f
    }' "$LAB/hosts.tsv"
}

# select_edges SEL [names] : the control addresses of the edges SEL matches
# ("NAME=ADDRESS" with names).
select_edges() {
  local sel=$1
  [[ $sel != origin ]] || die "a partition selects edges (all: every edge's link)"
  if [[ -n ${2:-} ]]; then
    paste -d= <(select_hosts "$sel" 2) <(select_hosts "$sel" 6)
  else
    select_hosts "$sel" 6
  fi
}

# Each edge's line names the edge and ends with its proxy's at_ns= (the
# time its freeze began): run.sh dates each edge's partition and heal by
# it, since the proxies are frozen one after the other.
cmd_fault() {
  [[ $# == 3 && $3 =~ ^-?[0-9]+$ ]] || die "usage: lab.sh fault partition|crash|clock SELECTOR MS"
  case $1 in
  crash) cmd_crash "$2" "$3"; return ;;
  clock) cmd_clock "$2" "$3"; return ;;
  partition) ;;
  *) die "usage: lab.sh fault partition|crash|clock SELECTOR MS" ;;
  esac
  local sel=$2 ms=$3 n=0 c
  for c in $(select_edges "$sel" names); do
    say "$sel: ${c%%=*}: $(ctl "${c#*=}" "freeze $ms")"
    n=$((n + 1))
  done
  [[ $n -gt 0 ]] || die "no edge matches $sel"
}

now_ns() { date +%s%N; }

# A crash: SIGKILL every selected node (by its PID, checked to run edgekv),
# wait until it is gone, MS later start it again. Prints one line per node
# and step, each with at_ns= (CLOCK_REALTIME): when it was gone, when it was
# started again; "serving" once it answers.
cmd_crash() {
  local sel=$1 ms=$2 name pid t names=()
  mapfile -t names < <(select_hosts "$sel" 2)
  [[ ${#names[@]} -gt 0 ]] || die "no node matches $sel"
  for name in "${names[@]}"; do
    pid=$(awk -F'\t' -v n="$name" '$2 == n { print $7 }' "$LAB/hosts.tsv")
    pid_is "$pid" "$EDGEKV" || die "$name (pid $pid) is not running"
    kill -KILL "$pid"
    for ((t = 0; t < STOP_WAIT_S * 100; t++)); do
      pid_is "$pid" "$EDGEKV" || break
      sleep 0.01
    done
    pid_is "$pid" "$EDGEKV" && die "$name (pid $pid) survived SIGKILL"
    say "$sel: $name: killed pid $pid at_ns=$(now_ns)"
  done
  sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')" # the fault's duration, not a wait
  for name in "${names[@]}"; do
    local at
    at=$(now_ns)
    restart_node "$name"
    say "$sel: $name: restarted pid $NODE_PID at_ns=$at, serving at_ns=$(now_ns)"
  done
}

# A clock fault: BY_MS more on each selected node's shift file (written
# whole, then renamed over the old one: the shim never reads half).
cmd_clock() {
  local sel=$1 by=$2 name cur n=0
  [[ -f $LAB/clock_shim ]] || die "the lab runs without the clock shim (lab.sh up ... --clock-shim)"
  for name in $(select_hosts "$sel" 2); do
    cur=$(cat "$LAB/nodes/$name.shift")
    echo $((cur + by)) >"$LAB/nodes/$name.shift.new"
    mv "$LAB/nodes/$name.shift.new" "$LAB/nodes/$name.shift"
    say "$sel: $name: clock stepped by $by ms, now $((cur + by)) ms at_ns=$(now_ns)"
    n=$((n + 1))
  done
  [[ $n -gt 0 ]] || die "no node matches $sel"
}

cmd_stats() { # every proxy's counters, one line per edge
  local idx name role place api ctl _
  while IFS=$'\t' read -r idx name role place api ctl _; do
    [[ $idx == "#"* || $role != edge ]] && continue
    echo "$name $place $(ctl "$ctl" stats)"
  done <"$LAB/hosts.tsv"
}

cmd_heal() {
  local c
  for c in $(select_edges all); do say "$(ctl "$c" heal)"; done
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
fault) shift; cmd_fault "$@" ;;
heal) cmd_heal ;;
stats) [[ -f $LAB/hosts.tsv ]] || die "the lab is not up"; cmd_stats ;;
status) [[ -f $LAB/hosts.tsv ]] && tr '\t' ' ' <"$LAB/hosts.tsv" || say "not up" ;;
*) die "usage: lab.sh up SCENARIO [--hosts N] [--loopback] [--clock-shim] | down | fault partition|crash|clock SELECTOR MS | heal | stats | status" ;;
esac
