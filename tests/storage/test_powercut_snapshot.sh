#!/usr/bin/env bash
# test_powercut_snapshot.sh - a fresh edge's snapshot survives a power cut
# once the edge reports it applied. The chunks of a snapshot are written
# unsynced whatever --sync says (node/replica/replica_work.c); the batch that
# ends the snapshot records the position and, under --sync always, syncs the
# WAL with every chunk before it. So after a cut the restarted edge must hold
# the position it had reported and every record under it, never a position
# without its data. The edge runs under powercut_shim.so (powercut_shim.c
# states the model), is SIGKILLed once its applied_seq reached the origin's,
# and powercut_apply cuts its files back to what was durable.
#
# The same run with the edge on --sync off must lose the position: nothing
# syncs its WAL then, which proves the cut bites and tells the policies apart.
source "$(dirname "$0")/../process/lib.sh"

SHIM=${POWERCUT_SHIM:?path to libpowercut_shim.so}
APPLY=${POWERCUT_APPLY:?path to powercut_apply}
REAL=$EDGEKV
N=300 # records of the snapshot, in one bulk write

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
ACCT=acctpowersnap
TOK=powersnap-token-0123456789
TOKEN=$TOK
ACCOUNT=$ACCT
# The origin is stopped while a cut edge restarts (so nothing refills it)
# and comes back on the same replication port for the next edge.
reserve_port
RP=$RESERVED
origin_up() {
  start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen "127.0.0.1:$RP" \
    --account "$ACCT" --token "$TOK" --sync always --threads 1
  OPID=$PID OPORT=$PORT OBASE=$BASE
  TOKEN=$TOK # start_role sets it to a generated token's, and none was
}
origin_up
NS=$(api POST "$OBASE" -H 'Content-Type: application/json' -d '{"title":"powersnap"}' | jq -r .result.id)
check "namespace created" 32 "${#NS}"
body=$(for i in $(seq 1 "$N"); do printf '{"key":"k%d","value":"v%d-snapshot"}\n' "$i" "$i"; done | jq -sc .)
check "bulk write at the origin" true "$(api PUT "$OBASE/$NS/bulk" -H 'Content-Type: application/json' -d "$body" | jq -r .success)"
ops_status() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/status"; }
TARGET=$(ops_status "$OPORT" | jq -r .replication.last_seq)
applied_at() { [[ "$(ops_status "$1" | jq -r .replication.applied_seq)" == "$2" ]]; }

# snapcut N POLICY: a fresh edgeN under the shim takes the snapshot and is
# killed once applied; the origin stops; the edge's files are cut and it
# restarts alone (no shim) on what is left. Sets AFTER (its applied_seq
# then) and MISSING (records not read back). The origin is up again after.
snapcut() {
  local n=$1 pol=$2 dir=$TMP/cut$1 i
  mkdir -p "$dir/stash" "$TMP/edge$n"
  cat >"$dir/edgekv" <<SH
#!/bin/sh
exec env LD_PRELOAD="$SHIM" POWERCUT_ROOT="$TMP/edge$n" POWERCUT_LEDGER="$dir/ledger" \\
  POWERCUT_STASH="$dir/stash" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" \\
  "$REAL" "\$@"
SH
  chmod +x "$dir/edgekv"
  EDGEKV=$dir/edgekv
  COMMON=(--account "$ACCT" --token "$TOK" --sync "$pol" --threads 1)
  start_edge "$n"
  EDGEKV=$REAL
  wait_for "$pol: edge$n applied the snapshot (seq $TARGET)" 60 applied_at "${EPORT[$n]}" "$TARGET" || true
  if grep -q "replica reset for a snapshot" "$TMP/edge$n.err"; then
    ok "$pol: edge$n took a snapshot"
  else
    bad "$pol: edge$n took no snapshot"
  fi
  stop_node KILL
  PID=$OPID
  stop_node TERM
  AFTER=-1 MISSING=-1
  if ! "$APPLY" "$dir/ledger" "$TMP/edge$n" "$dir/stash" >"$dir/cut" 2>&1; then
    bad "$pol: powercut_apply refused the run: $(cat "$dir/cut")"
    origin_up
    return
  fi
  echo "     $pol: $(cat "$dir/cut")"
  start_role "edge$n-after" edge --data "$TMP/edge$n" --certs "$CERTS" --name "edge$n" \
    --origin "127.0.0.1:$RP" "${COMMON[@]}"
  TOKEN=$TOK
  local base="http://127.0.0.1:$PORT/client/v4/accounts/$ACCT/storage/kv/namespaces"
  AFTER=$(ops_status "$PORT" | jq -r .replication.applied_seq)
  MISSING=0
  for i in $(seq 1 "$N"); do
    [[ "$(api GET "$base/$NS/values/k$i")" == "v$i-snapshot" ]] || MISSING=$((MISSING + 1))
  done
  stop_node TERM
  origin_up
}

snapcut 1 always
check "always: the position the edge reported survives the cut" "$TARGET" "$AFTER"
check "always: records of the snapshot lost to the cut" 0 "$MISSING"

snapcut 2 off
if [[ $AFTER != "$TARGET" ]]; then
  ok "off: the cut takes the unsynced position (applied_seq $AFTER, was $TARGET)"
else
  bad "off: the position survived a cut with nothing synced: the cut did not bite"
fi

finish
