#!/usr/bin/env bash
# test_compact.sh - `edgekv compact` on the real binary. It refuses a store
# a running node holds (naming the node's pid) and a directory without a
# store; on a stopped node's store it drops the expired records and keeps
# every live one, and says so in its before/after sizes.
#
# Expiry needs time to pass: the records get the shortest TTL the API
# allows (60 s), and the compaction runs under clock_shim.c, its wall clock
# ten minutes ahead. Back on the real clock those records are not expired
# yet, so a restarted node answering 404 for them proves that the
# compaction removed them from disk (a read would still have served them).
source "$(dirname "$0")/lib.sh"

SHIM=${CLOCK_SHIM:?path to the clock shim}
D=$TMP/data
N_EXP=300
N_LIVE=5

# compact NAME ARGS... : runs `edgekv compact ARGS`, output in $TMP/NAME.out
# and $TMP/NAME.err (scanned for sanitizer reports); sets CRC.
compact() {
  local name=$1; shift
  set +e
  "$EDGEKV" compact "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  CRC=$?
  set -e
}
# sizes NAME ROW : "BEFORE AFTER" of a row of the size table.
sizes() { sed -n "s/^  $2 *\([0-9]*\) *\([0-9]*\)\$/\1 \2/p" "$TMP/$1.out"; }

start_node node --data "$D" --sync off --threads 1
NODE_PID=$PID
NS=$(api POST "$BASE" -H 'Content-Type: application/json' -d '{"title":"compact"}' | jq -r .result.id)
check "namespace id" 32 "${#NS}"
pad=$(head -c 400 /dev/zero | tr '\0' x)
jq -n --arg pad "$pad" --argjson ne "$N_EXP" --argjson nl "$N_LIVE" \
  '[range(0; $ne) | {key: ("exp-" + tostring), value: $pad, expiration_ttl: 60}]
   + [range(0; $nl) | {key: ("live-" + tostring), value: ("v" + tostring)}]' >"$TMP/bulk.json"
check "bulk put" $((N_EXP + N_LIVE)) \
  "$(api PUT "$BASE/$NS/bulk" -H 'Content-Type: application/json' --data-binary @"$TMP/bulk.json" |
    jq .result.successful_key_count)"

# A running node holds the store: refused, and the node is unharmed.
compact running --data-dir "$D"
check "refused while the node runs (exit 1)" 1 "$CRC"
check "the refusal names the node" \
  "edgekv compact: $D/db is in use by process $NODE_PID (a running node holds its lock); stop the node first" \
  "$(cat "$TMP/running.err")"
check "the node still serves" v0 "$(api GET "$BASE/$NS/values/live-0")"
stop_node TERM

# Arguments and a directory without a store.
compact noargs
check "no --data-dir (exit 2)" 2 "$CRC"
compact nostore --data-dir "$TMP/empty"
check "no store (exit 1)" 1 "$CRC"
check "no store: says what is missing" \
  "edgekv compact: no store in $TMP/empty ($TMP/empty/db/CURRENT is missing)" "$(cat "$TMP/nostore.err")"
[[ ! -e $TMP/empty ]] && ok "no store: nothing created" || bad "compact created $TMP/empty"
echo '{"tombstone_retention_s": 1}' >"$TMP/bad.json"
compact badconfig --data-dir "$D" --config "$TMP/bad.json"
check "a configuration the node would refuse (exit 2)" 2 "$CRC"

# Now: nothing has expired, every record stays.
compact now --data-dir "$D" --config <(echo '{"tombstone_retention_s": 86400}')
check "compaction on the real clock (exit 0)" 0 "$CRC"
grep -q "^edgekv compact: $D/db compacted in " "$TMP/now.out" && ok "reports what it compacted" ||
  bad "no summary line: $(cat "$TMP/now.out")"
read -r _ keys_now <<<"$(sizes now 'keys (estimate)')"
[[ -n $keys_now && $keys_now -ge $((N_EXP + N_LIVE)) ]] && ok "nothing expired: $keys_now keys kept" ||
  bad "keys after a compaction with nothing expired: [$keys_now]"

# Ten minutes later: the expired records go, the live ones stay.
EDGEKV_CLOCK_SHIFT_S=600 LD_PRELOAD="$SHIM" \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" compact later --data-dir "$D"
check "compaction ten minutes later (exit 0)" 0 "$CRC"
read -r keys_before keys_after <<<"$(sizes later 'keys (estimate)')"
read -r sst_before sst_after <<<"$(sizes later 'sst bytes')"
[[ -n $keys_after && $keys_before -ge $((N_EXP + N_LIVE)) && $keys_after -lt $((keys_before - N_EXP + 50)) ]] &&
  ok "expired records dropped: keys $keys_before -> $keys_after" ||
  bad "keys before/after the expiring compaction: [$keys_before] -> [$keys_after]"
[[ -n $sst_after && $sst_after -lt $sst_before ]] && ok "sst bytes $sst_before -> $sst_after" ||
  bad "sst bytes before/after: [$sst_before] -> [$sst_after]"

# The node on the real clock: live keys intact; the dropped ones, which it
# would still serve had they been on disk, are gone.
start_node node --data "$D" --sync off --threads 1
for i in $(seq 0 $((N_LIVE - 1))); do
  check "live-$i kept" "v$i" "$(api GET "$BASE/$NS/values/live-$i")"
done
check "an expired record is gone from disk" "10009" "$(api GET "$BASE/$NS/values/exp-7" | jq -r '.errors[0].code')"
check "the list holds the live keys only" "$N_LIVE" "$(api GET "$BASE/$NS/keys" | jq '.result | length')"
stop_node TERM

finish
