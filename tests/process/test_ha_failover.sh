#!/usr/bin/env bash
# test_ha_failover.sh - origin failover under a stream of writes
# (node/replica/replica_ha.c, replication/ "Origin leadership"): a 3-member
# etcd cluster on loopback, three origin candidates (`edgekv origin --etcd`,
# each reaching every etcd member through its own edgekv-proxy), two edges
# listing the three candidates as upstreams, and a writer that keeps writing
# through the edges and records every acknowledged write in a ledger.
# Failovers, in turn:
#   - SIGKILL of the leader, restarted at once as a candidate (a supervisor);
#   - a partition of the leader from etcd (its three proxies cut): it is
#     deposed at its deadline, another leads, it comes back as a standby;
#   - SIGKILL of the leader, restarted only once another leads (a host
#     that is gone: its lease has to run out).
# Then: every acknowledged write is readable at the final leader and at
# every edge, with its value; every edge's /digest equals the leader's; no
# candidate acknowledged a write while it was not leading (its log's
# "deposed" line is followed by no acknowledged write it answered: checked
# through the core's rule, see README); the write-unavailability window of
# each failover (from the fault to the first write acknowledged after it)
# is printed as p50/p99, a figure, not an assertion.
# Options: HA_FAILOVERS=N (default 4; 20 for the issue's run).
source "$(dirname "$0")/lib.sh"
trap 'echo "FAIL - unexpected failure at line $LINENO"' ERR
fail_out() { finish || exit 1; }

ETCD=${ETCD:-$(command -v etcd || true)}
CUTPROXY=${CUTPROXY:-$(dirname "$EDGEKV")/sim/edgekv-proxy}
if [[ -z $ETCD ]]; then
  bad "etcd is not installed (deploy/install-deps.sh installs etcd-server)"
  fail_out
fi
[[ -x $CUTPROXY ]] || { bad "edgekv-proxy not found ($CUTPROXY)"; fail_out; }
ROUNDS=${HA_FAILOVERS:-4}
LEASE_MS=2000
BOUND_S=20
SLACK_MS=200
CLUSTER=failover

# ---- etcd ---------------------------------------------------------------------
etcd3_start edgekv-failover
ENDPOINTS=$ETCD_ENDPOINTS
ok "a 3-member etcd cluster on loopback"

# ---- proxies: candidate c -> etcd member i ---------------------------------------
declare -A PXPORT=() PXCTL=()
proxy_up() { grep -q "control on port" "$TMP/px$1.log"; }
for c in 1 2 3; do
  for i in 0 1 2; do
    "$CUTPROXY" --listen 127.0.0.1:0 --upstream "127.0.0.1:${ETCD_CPORT[$i]}" --control 127.0.0.1:0 \
      >"$TMP/px$c$i.log" 2>"$TMP/px$c$i.err" &
    PIDS+=("$!")
    wait_for "proxy c$c->e$i" 10 proxy_up "$c$i" || fail_out
    PXPORT[$c$i]=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$TMP/px$c$i.log")
    PXCTL[$c$i]=$(sed -n 's/.*control on port \([0-9]*\).*/\1/p' "$TMP/px$c$i.log")
  done
done
ctl() { # ctl KEY COMMAND -> the proxy's answer
  local fd reply
  exec {fd}<>"/dev/tcp/127.0.0.1/${PXCTL[$1]}"
  echo "$2" >&"$fd"
  read -r -t 10 reply <&"$fd" || reply="(no answer)"
  exec {fd}>&-
  echo "$reply"
}

# ---- candidates and edges ----------------------------------------------------------
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
for c in 1 2 3; do
  "$EDGEKV" certs issue --dir "$CERTS" --role origin --name "c$c" --host 127.0.0.1 >/dev/null
done
ACCT=acctfailover
TOK=failover-token-0123456789
TOKEN=$TOK
ACCOUNT=$ACCT
COMMON=(--account "$ACCT" --token "$TOK" --sync always --threads 1)
declare -A RPORT=() CPID=() CHTTP=()
for c in 1 2 3; do reserve_port; RPORT[$c]=$RESERVED; done
start_cand() { # start_cand C
  local c=$1
  start_node "c$c" --data "$TMP/c$c" --certs "$CERTS" --name "c$c" \
    --repl-listen "127.0.0.1:${RPORT[$c]}" --ha-cluster "$CLUSTER" --ha-lease-ms "$LEASE_MS" \
    --etcd "http://127.0.0.1:${PXPORT[${c}0]},http://127.0.0.1:${PXPORT[${c}1]},http://127.0.0.1:${PXPORT[${c}2]}" \
    "${COMMON[@]}"
  CPID[$c]=$PID CHTTP[$c]=$PORT
}
for c in 1 2 3; do start_cand "$c" || fail_out; done
RP=${RPORT[1]}
UPS="127.0.0.1:${RPORT[1]},127.0.0.1:${RPORT[2]},127.0.0.1:${RPORT[3]}"
for n in 1 2; do start_edge "$n" --upstream "$UPS" || fail_out; done

status() { "$EDGEKV" ha status --etcd "$ENDPOINTS" --cluster "$CLUSTER" >"$TMP/status.json" 2>/dev/null; }
has_leader() { status && [[ -n $(jq -r '.leader.name // empty' "$TMP/status.json") ]]; }
new_leader_above() { has_leader && [[ $(jq -r .term "$TMP/status.json") -gt $1 ]]; }
leader() { # sets L (1..3) and T
  wait_for "a leader in ha status" 30 has_leader || fail_out
  L=$(jq -r '.leader.name' "$TMP/status.json")
  L=${L#c}
  T=$(jq -r '.term' "$TMP/status.json")
}
url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
ops_status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
field() { ops_status "$1" | jq -r ".replication.$2"; }
live() { [[ "$(field "$1" link)" == live ]]; }
leads_http() { [[ $(field "$1" term) -ge $2 && "$(ops_status "$1" | jq -r '.replication.link // "origin"')" == origin ]]; }
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
now_ms() { date +%s%3N; }

leader
ok "a leader: c$L, term $T"
wait_for "c$L serves as the leader" 30 leads_http "${CHTTP[$L]}" "$T" || fail_out
for n in 1 2; do wait_for "edge$n live" 60 live "${EPORT[$n]}" || fail_out; done
NS=""
mk_ns() { NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"failover"}' "$(url "${EPORT[1]}" "")" | jq -r '.result.id // empty'); [[ ${#NS} == 32 ]]; }
wait_for "a namespace created through edge1" 60 mk_ns || fail_out
ok "namespace $NS"

# ---- the writer: sequential writes through the edges, a ledger of outcomes ---------
LEDGER=$TMP/ledger
: >"$LEDGER"
writer() {
  local i=0 e code t0 t1
  while [[ ! -e $TMP/stop ]] && ((i < 100000)); do
    i=$((i + 1))
    e=${EPORT[$((i % 2 + 1))]}
    t0=$(now_ms)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PUT \
      -H "Authorization: Bearer $TOK" --data-binary "v$i" "$(url "$e" "/$NS/values/w$i")")
    t1=$(now_ms)
    echo "$i $code $t0 $t1" >>"$LEDGER"
    [[ $code == 200 ]] || sleep 0.05
  done
}
writer &
WPID=$!
acked_after() { awk -v t="$1" '$2 == 200 && $3 >= t { found = 1 } END { exit !found }' "$LEDGER"; }
# The longest time without an acknowledged write from the fault at $1 until
# $2: between the last acknowledgement before (or the fault) and the next.
window_ms() {
  awk '$2 == 200 { print $4 }' "$LEDGER" | sort -n | awk -v t0="$1" -v t1="$2" '
    $1 < t0 { last = $1; next }
    $1 <= t1 { if (!last) last = t0; if ($1 - last > gap) gap = $1 - last; last = $1 }
    END { print gap + 0 }'
}
iso_ms() { date -d "$1" +%s%3N; } # a log line's ISO time -> ms since the epoch
wait_for "writes acknowledged before the first failover" 60 acked_after 0 || fail_out
# The leader's synchronous standby: in /status, in /metrics and in etcd's record.
sync_shown() {
  SB=$(ops_status "${CHTTP[$L]}" | jq -r '.replication.sync.standbys | if length == 1 then .[0] else empty end')
  [[ -n $SB ]] && status && [[ $(jq -r .sync "$TMP/status.json") == "$T c$L $SB" ]]
}
wait_for "the leader's /status and etcd's record name one synchronous standby" 30 sync_shown || fail_out
check "the leader's /metrics counts one synchronous standby" 1 \
  "$(curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:${CHTTP[$L]}/metrics" |
    awk '$1 == "edgekv_replication_sync_standbys" { print $2 }')"

# ---- failovers -------------------------------------------------------------------------
WINDOWS=()
KIND_W=("" "" "")
for r in $(seq 1 "$ROUNDS"); do
  leader
  t0=$(now_ms)
  kind=$((r % 3)) # 1: SIGKILL, restarted at once; 2: partition; 0: SIGKILL, host gone
  if ((kind != 2)); then
    how="SIGKILL"
    ((kind == 1)) || how="SIGKILL (restarted after the failover)"
    PID=${CPID[$L]} stop_node KILL
    # Restarted at once, as its supervisor would: it finds the leader key of
    # its dead self and revokes that lease, so the next leader is chosen
    # without waiting for the lease to run out (node/ha/ha_elect.h). The
    # other kind is a host that is gone: the lease runs out.
    ((kind == 0)) || start_cand "$L" || fail_out
  else
    how="etcd partition"
    for i in 0 1 2; do
      reply=$(ctl "$L$i" "cut $((LEASE_MS * 4))")
      [[ $reply == ok* ]] || bad "cut c$L->e$i: $reply"
    done
  fi
  wait_for "a new leader after the $how of c$L (round $r)" $((LEASE_MS / 1000 + BOUND_S)) \
    new_leader_above "$T" || fail_out
  NT=$(jq -r .term "$TMP/status.json")
  NL=$(jq -r .leader.name "$TMP/status.json")
  wait_for "$NL rebuilt as the leader (round $r)" 30 grep -q "the leader now: term $NT" "$TMP/$NL.err" ||
    fail_out
  lead_ms=$(iso_ms "$(grep "the leader now: term $NT" "$TMP/$NL.err" | cut -d' ' -f1)")
  t_up=$(now_ms)
  wait_for "a write acknowledged after the $how of c$L (round $r)" 60 acked_after "$t_up" || fail_out
  WINDOWS+=($(window_ms "$t0" "$(now_ms)"))
  echo "# round $r: $how of c$L (term $T) -> $NL (term $NT): longest time without an acknowledged write ${WINDOWS[-1]} ms"
  KIND_W[$kind]+=" ${WINDOWS[-1]}"
  ((kind != 0)) || start_cand "$L" || fail_out
  if ((kind == 2)); then
    if wait_for "c$L says it was deposed" 30 grep -q "deposed: term $T" "$TMP/c$L.err"; then
      # Between its deposition and the new leader nobody leads: no write
      # may be acknowledged then (an answer decided before the deadline
      # may still be on its way: SLACK_MS).
      dep_ms=$(iso_ms "$(grep "deposed: term $T" "$TMP/c$L.err" | head -1 | cut -d' ' -f1)")
      late=$(awk -v a=$((dep_ms + SLACK_MS)) -v b="$lead_ms" '$2 == 200 && $4 > a && $4 < b' "$LEDGER" | wc -l)
      check "no write acknowledged between c$L's deposition and $NL's lead (round $r)" 0 "$late"
    fi
    for i in 0 1 2; do ctl "$L$i" heal >/dev/null; done
  fi
  wait_for "writes keep flowing (round $r)" 60 acked_after "$(now_ms)" || fail_out
done
touch "$TMP/stop"
wait "$WPID" || true
check "$ROUNDS failovers, each to a new leader" "$ROUNDS" "${#WINDOWS[@]}"
read -r P50 P99 MAX < <(printf '%s\n' "${WINDOWS[@]}" | sort -n | awk '
  { v[NR] = $1 } END { i50 = int((NR + 1) / 2); i99 = int(NR * 0.99 + 0.999);
  if (i99 < 1) i99 = 1; print v[i50], v[i99], v[NR] }')
ACKED=$(awk '$2 == 200' "$LEDGER" | wc -l)
TOTAL=$(wc -l <"$LEDGER")
echo "# write-unavailability window (fault -> first write acknowledged after it), lease" \
  "${LEASE_MS} ms, $ROUNDS failovers: p50 ${P50} ms, p99 ${P99} ms, max ${MAX} ms;" \
  "$ACKED of $TOTAL writes acknowledged"
echo "# by kind (ms): SIGKILL restarted at once:${KIND_W[1]}; etcd partition:${KIND_W[2]};" \
  "SIGKILL, host gone:${KIND_W[0]}"

# ---- nothing acknowledged is lost; everyone converges -------------------------------------
leader
wait_for "c$L serves as the leader" 30 leads_http "${CHTTP[$L]}" "$T" || fail_out
LP=${CHTTP[$L]}
lost=0
while read -r i code _; do
  [[ $code == 200 ]] || continue
  v=$(curl -s -H "Authorization: Bearer $TOK" "$(url "$LP" "/$NS/values/w$i")")
  [[ $v == "v$i" ]] || { lost=$((lost + 1)); echo "# lost: w$i (leader has '$v')"; }
done <"$LEDGER"
check "acknowledged writes readable at the leader c$L" 0 "$lost"
same_digest() { local a b; a=$(digest "$1") b=$(digest "$LP"); [[ $a =~ ^[0-9a-f]{64}$ && $a == "$b" ]]; }
for n in 1 2; do
  wait_for "edge$n converges with the leader (digest)" 60 same_digest "${EPORT[$n]}" &&
    ok "edge$n's digest equals the leader's"
done
refused=0
for n in 1 2; do refused=$((refused + $(field "${EPORT[$n]}" terms_refused))); done
echo "# frames of a deposed leader refused by the edges: $refused"

for c in 1 2 3; do PID=${CPID[$c]} stop_node TERM; done
finish
