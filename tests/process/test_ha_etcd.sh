#!/usr/bin/env bash
# test_ha_etcd.sh - origin leadership in a real etcd (node/ha): a 3-member
# etcd cluster on loopback (Debian's etcd-server), three `edgekv ha
# campaign` candidates, and the faults a leader meets:
#   - SIGKILL of the leader, ROUNDS times: another leads with a larger term
#     within the lease and a bound (the kill -> new leader time is printed
#     as p50/p99, a figure, not an assertion);
#   - SIGSTOP of the leader: another takes over; resumed, the paused one
#     reports itself deposed (deadline) and never acts after its deadline;
#   - one etcd member killed (the one every candidate asks first): the
#     election still works;
#   - SIGTERM of the leader: it revokes its lease, and the next leader
#     starts before that lease would have expired.
# Throughout: the candidates' own logs (times on one host-wide monotonic
# clock, ha_cli.c) never show two leadership intervals overlapping, terms
# grow with time, and every `act` of a leader lies inside its interval.
source "$(dirname "$0")/lib.sh"
trap 'echo "FAIL - unexpected failure at line $LINENO"' ERR
fail_out() { finish || exit 1; } # a step the rest depends on failed: report and stop

ETCD=${ETCD:-$(command -v etcd || true)}
if [[ -z $ETCD ]]; then
  bad "etcd is not installed (deploy/install-deps.sh installs etcd-server)"
  fail_out
fi
ROUNDS=${HA_ROUNDS:-10}
LEASE_MS=$(limit KV_HA_LEASE_MS_DEFAULT)
POLL_MS=200   # followers read the key 5 times a second: fast handover, cheap
BOUND_S=10    # a new leader within lease + this, even in the ASan build on 2 busy cores
CLUSTER=proc-test

# ---- the etcd cluster --------------------------------------------------------
etcd3_start edgekv-test
ENDPOINTS=$ETCD_ENDPOINTS
ok "a 3-member etcd cluster on loopback"

# ---- candidates ----------------------------------------------------------------
declare -A CPID=()
start_cand() { # start_cand NAME : its lines go to $TMP/NAME.log, appended over restarts
  local n=$1
  "$EDGEKV" ha campaign --etcd "$ENDPOINTS" --cluster "$CLUSTER" --name "$n" \
    --address "127.0.0.1:$((7400 + ${n#c}))" --ha-poll-ms "$POLL_MS" --act-ms 50 \
    >>"$TMP/$n.log" 2>>"$TMP/$n.err" &
  CPID[$n]=$!
  PIDS+=("$!")
  NODE_NAME[$!]=$n
}
# `ha status` into $TMP/status.json; fails while no member answers in time
# (an etcd election after a member died, a loaded machine): callers retry.
status() { "$EDGEKV" ha status --etcd "$ENDPOINTS" --cluster "$CLUSTER" >"$TMP/status.json"; }
has_leader() { status && [[ -n $(jq -r '.leader.name // empty' "$TMP/status.json") ]]; }
new_leader_above() { has_leader && [[ $(jq -r .term "$TMP/status.json") -gt $1 ]]; } # term > $1
# leader : sets L and T to the leader's name and term, as etcd has them now.
leader() {
  wait_for "a leader in ha status" 30 has_leader || fail_out
  L=$(jq -r '.leader.name' "$TMP/status.json")
  T=$(jq -r '.term' "$TMP/status.json")
}
now_ms() { local up _; read -r up _ </proc/uptime; echo $((${up/./} * 10)); } # CLOCK_BOOTTIME
# The time of the first "leader term=T" line, in any candidate's log.
# (awk reads the files itself: an early exit with a writer on a pipe would fail
# the pipeline under pipefail.)
leader_line_ms() { awk -v t="$1" '$2 == "leader" && $3 == "term=" t { print $1; exit }' "$TMP"/c?.log; }
has_leader_line() { [[ -n $(leader_line_ms "$1") ]]; }

for n in c0 c1 c2; do start_cand "$n"; done
wait_for "a leader" 30 has_leader || fail_out
leader
ok "one of three candidates leads ($L, term $T)"

# ---- SIGKILL of the leader, ROUNDS times -------------------------------------------
TAKEOVER=()
for r in $(seq 1 "$ROUNDS"); do
  leader
  t0=$(now_ms)
  stop_pid "${CPID[$L]}" KILL 137
  wait_for "a new leader after SIGKILL of $L (round $r)" $((LEASE_MS / 1000 + BOUND_S)) \
    new_leader_above "$T" || fail_out
  NT=$(jq -r .term "$TMP/status.json")
  wait_for "the leader line of term $NT" 10 has_leader_line "$NT" || fail_out
  TAKEOVER+=($(($(leader_line_ms "$NT") - t0)))
  start_cand "$L"
  wait_for "$L back as a follower" 30 grep -q "follower leader=" "$TMP/$L.log" || fail_out
done
check "$ROUNDS SIGKILL rounds, each with a new leader of a larger term" "$ROUNDS" "${#TAKEOVER[@]}"
read -r P50 P99 MAX < <(printf '%s\n' "${TAKEOVER[@]}" | sort -n | awk '
  { v[NR] = $1 } END { i50 = int((NR + 1) / 2); i99 = int(NR * 0.99 + 0.999);
  if (i99 < 1) i99 = 1; print v[i50], v[i99], v[NR] }')
echo "# takeover after SIGKILL of the leader (kill -> new leader), lease ${LEASE_MS} ms," \
  "poll ${POLL_MS} ms, $ROUNDS rounds: p50 ${P50} ms, p99 ${P99} ms, max ${MAX} ms"

# ---- SIGSTOP of the leader -----------------------------------------------------------
leader
kill -STOP "${CPID[$L]}"
wait_for "a new leader while $L is paused" $((LEASE_MS / 1000 + BOUND_S)) new_leader_above "$T" || fail_out
kill -CONT "${CPID[$L]}"
if wait_for "$L to report itself deposed after resuming" 10 \
  grep -q "deposed term=$T reason=deadline" "$TMP/$L.log"; then
  ok "paused leader $L, resumed, says: $(grep "deposed term=$T" "$TMP/$L.log" | cut -d' ' -f2-)"
fi

# ---- one etcd member killed ---------------------------------------------------------
stop_pid "${ETCD_PID[0]}" KILL 137 # the first endpoint: every candidate asked it first
leader
stop_pid "${CPID[$L]}" KILL 137
if wait_for "a new leader with etcd member e0 dead" $((LEASE_MS / 1000 + BOUND_S)) new_leader_above "$T"; then
  ok "with one etcd member dead, SIGKILL of $L: $(jq -r .leader.name "$TMP/status.json") leads, term $(jq -r .term "$TMP/status.json") > $T"
fi
start_cand "$L"

# ---- clean stop: SIGTERM of the leader hands over at once -------------------------------
leader
t0=$(now_ms)
stop_pid "${CPID[$L]}" TERM 0
wait_for "a new leader after SIGTERM of $L" $((LEASE_MS / 1000 + BOUND_S)) new_leader_above "$T" || fail_out
NT=$(jq -r .term "$TMP/status.json")
wait_for "the leader line of term $NT" 10 has_leader_line "$NT" || fail_out
since=$(leader_line_ms "$NT")
until=$(awk -v t="$T" '($2 == "leader" || $2 == "renewed") && $3 == "term=" t { sub("until=", "", $4); u = $4 } END { print u }' "$TMP/$L.log")
check "$L said it stepped down" 1 "$(grep -c "deposed term=$T reason=stopped" "$TMP/$L.log")"
if [[ -n $since && -n $until && $since -lt $until ]]; then
  ok "handover on SIGTERM: term $NT led $((since - t0)) ms after the stop, $((until - since)) ms before $L's lease would have run out"
else
  bad "handover on SIGTERM: new leader at ${since:-?}, old lease until ${until:-?} (the revoke did not hand over)"
fi

# ---- the candidates' own logs: never two leaders ----------------------------------------
for n in c0 c1 c2; do
  [[ -n ${CPID[$n]:-} && -n ${NODE_NAME[${CPID[$n]}]:-} ]] && stop_pid "${CPID[$n]}" TERM 0
done
verdict=$(python3 - "$TMP"/c0.log "$TMP"/c1.log "$TMP"/c2.log <<'EOF'
import sys
# Each log: "T campaign ...", "T leader term=N until=U", "T renewed term=N until=U",
# "T deposed term=N reason=R until=U", "T act term=N", "T follower ...", "T stopped".
# An interval runs from its leader line to min(deposed line, until); a process
# killed while leading ends at its last until.
intervals, acts, bad = [], [], []
for path in sys.argv[1:]:
    cur = None
    def close(end):
        global cur
        if cur:
            cur["end"] = min(end, cur["until"])
            intervals.append(cur)
            cur = None
    for line in open(path):
        f = line.split()
        if len(f) < 2:
            continue
        t, ev = int(f[0]), f[1]
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        if ev == "campaign":
            close(float("inf"))
        elif ev == "leader":
            close(float("inf"))
            cur = {"who": path, "term": int(kv["term"]), "since": t, "until": int(kv["until"])}
        elif ev == "renewed" and cur:
            cur["until"] = int(kv["until"])
        elif ev == "deposed":
            close(t)
        elif ev == "act":
            if not cur or int(kv["term"]) != cur["term"] or t < cur["since"] or t >= cur["until"]:
                bad.append(f"{path}: act at {t} outside its leadership")
    close(float("inf"))
intervals.sort(key=lambda i: i["since"])
for a, b in zip(intervals, intervals[1:]):
    if b["since"] < a["end"]:
        bad.append(f"overlap: term {a['term']} until {a['end']} and term {b['term']} from {b['since']}")
    if b["term"] <= a["term"]:
        bad.append(f"term {b['term']} after term {a['term']}")
print(len(intervals), "; ".join(bad) if bad else "ok")
EOF
)
n=${verdict%% *}
check "leadership intervals in the candidates' logs ($n of them): none overlap, terms grow, every act inside" \
  ok "${verdict#* }"

# ---- etcd down by PID -----------------------------------------------------------------
for i in 1 2; do stop_pid "${ETCD_PID[$i]}" TERM 143; done # etcd re-raises SIGTERM
finish
