#!/usr/bin/env bash
# test_powercut.sh - what an acknowledged write survives: a power cut, not
# only a kill (a SIGKILL leaves the page cache, so it cannot tell a synced
# write from an unsynced one). The real edgekv runs under powercut_shim.so,
# which records what each fsync made durable (powercut_shim.c states the
# model); it takes N sequential writes, each one answered 200 is put in a
# ledger of acknowledged writes, and it is SIGKILLed. powercut_apply then
# cuts every file back to what was durable, and a restarted edgekv must
# hold every acknowledged write.
#
# The same run with --sync off must lose acknowledged writes: that proves
# the cut bites and that the test tells the policies apart. It is certain,
# not likely: with sync off nothing syncs the WAL after the store opened
# (no write syncs, no interval thread; a few KiB never fill a memtable, so
# no flush syncs the closed WALs either), so the cut empties the WAL, and
# the writes, the namespace and the node's identity go with it.
source "$(dirname "$0")/../process/lib.sh"

SHIM=${POWERCUT_SHIM:?path to libpowercut_shim.so}
APPLY=${POWERCUT_APPLY:?path to powercut_apply}
REAL=$EDGEKV
N=50

# powercut POLICY: run, write, kill, cut, restart, read back. Sets ACKED
# (writes answered 200) and LOST (acknowledged, then not read back).
powercut() {
  local pol=$1 dir=$TMP/$1 code k v i
  mkdir -p "$dir/data" "$dir/stash"
  # The shim goes into edgekv alone (not curl, not this shell). With a
  # sanitizer runtime linked in, it sits in front of it in the symbol
  # order; the runtime then only needs to be told that is intended.
  cat >"$dir/edgekv" <<SH
#!/bin/sh
exec env LD_PRELOAD="$SHIM" POWERCUT_ROOT="$dir/data" POWERCUT_LEDGER="$dir/ledger" \\
  POWERCUT_STASH="$dir/stash" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" \\
  "$REAL" "\$@"
SH
  chmod +x "$dir/edgekv"
  EDGEKV=$dir/edgekv
  start_node "$pol-cut" --data "$dir/data" --sync "$pol" --threads 1
  EDGEKV=$REAL
  local ns
  ns=$(api POST "$BASE" -H 'Content-Type: application/json' -d '{"title":"powercut"}' | jq -r .result.id)
  check "$pol: namespace created" 32 "${#ns}"
  : >"$dir/acked"
  for i in $(seq 1 "$N"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
      "$BASE/$ns/values/k$i" --data-binary "v$i-$pol")
    if [[ $code == 200 ]]; then echo "k$i v$i-$pol" >>"$dir/acked"; fi
  done
  stop_node KILL
  if ! "$APPLY" "$dir/ledger" "$dir/data" "$dir/stash" >"$dir/cut" 2>&1; then
    bad "$pol: powercut_apply refused the run: $(cat "$dir/cut")"
    ACKED=0 LOST=0
    return
  fi
  echo "     $pol: $(cat "$dir/cut")"
  start_node "$pol-after" --data "$dir/data" --sync "$pol" --threads 1
  ACKED=$(wc -l <"$dir/acked")
  LOST=0
  # After a lost identity the node has a new account and token: BASE and
  # TOKEN are the restarted node's, and its answer for a lost write is an
  # error, never the value.
  while read -r k v; do
    [[ "$(api GET "$BASE/$ns/values/$k")" == "$v" ]] || LOST=$((LOST + 1))
  done <"$dir/acked"
  stop_node TERM
}

powercut always
check "always: every write acknowledged" "$N" "$ACKED"
check "always: acknowledged writes lost to the power cut" 0 "$LOST"

powercut off
check "off: every write acknowledged" "$N" "$ACKED"
if [[ $LOST -gt 0 ]]; then
  ok "off: the power cut loses acknowledged writes ($LOST of $ACKED)"
else
  bad "off: no acknowledged write lost: the cut did not bite"
fi

finish
