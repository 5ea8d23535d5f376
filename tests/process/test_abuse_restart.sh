#!/usr/bin/env bash
# test_abuse_restart.sh - an origin that loses the tail of its log in a crash
# and gives those sequence numbers to other writes: no edge stays diverged.
#
# How the tail is lost, deterministically: a SIGKILL alone loses nothing
# (the page cache keeps every unsynced byte), so each cycle runs the origin
# under powercut_shim (tests/storage/powercut_shim.c says what it models)
# with --sync off, writes while both edges follow, SIGKILLs it and cuts the
# power with powercut_apply: everything that run wrote is gone, as after a
# real power cut with sync=off (or the last interval of sync=batch). The run
# before it ended with a clean stop, so the history, the namespace and the
# writes before are durable and the origin comes back at a lower last_seq.
#
# Then, per cycle: edge1 stays up and reconnects at once (it is ahead of the
# origin); edge2 is stopped and comes back only after the origin wrote more
# than it lost (its applied seq now names another write). Before the resume
# proof (replication/repl.h), edge1 refused the origin for good and edge2
# resumed silently diverged: digests never matched. Now both take a
# snapshot, say why in their log, and every /digest equals the origin's.
source "$(dirname "$0")/lib.sh"

SHIM=${POWERCUT_SHIM:?path to libpowercut_shim.so}
APPLY=${POWERCUT_APPLY:?path to powercut_apply}
REAL=$EDGEKV
CYCLES=${CYCLES:-2}

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 2 >/dev/null
ACCT=acctrestart TOK=restart-token-0123456789
TOKEN=$TOK ACCOUNT=$ACCT
COMMON=(--account "$ACCT" --token "$TOK" --threads 1)
reserve_port
RP=$RESERVED
ODATA=$TMP/origin

# origin NAME SYNC [shim]: (re)start the origin on its data directory and
# replication port; with "shim", under powercut_shim with a fresh ledger.
origin() {
  local name=$1 sync=$2 cut=$TMP/cut-$1
  if [[ ${3:-} == shim ]]; then
    mkdir -p "$cut/stash"
    cat >"$cut/edgekv" <<SH
#!/bin/sh
exec env LD_PRELOAD="$SHIM" POWERCUT_ROOT="$ODATA" POWERCUT_LEDGER="$cut/ledger" \\
  POWERCUT_STASH="$cut/stash" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" \\
  "$REAL" "\$@"
SH
    chmod +x "$cut/edgekv"
    EDGEKV=$cut/edgekv
  fi
  start_node "$name" --data "$ODATA" --certs "$CERTS" --name origin --repl-listen "127.0.0.1:$RP" \
    --sync "$sync" "${COMMON[@]}"
  EDGEKV=$REAL
  OPID=$PID OPORT=$PORT
}

url() { echo "http://127.0.0.1:$1/client/v4/accounts/$ACCT/storage/kv/namespaces$2"; }
put() { # put KEY VALUE: at the origin, must be answered 200
  local c
  c=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" \
    --data-binary "$2" "$(url "$OPORT" "/$NS/values/$1")")
  [[ $c == 200 ]] || bad "put $1 at the origin: $c"
}
del() {
  curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOK" "$(url "$OPORT" "/$NS/values/$1")"
}
digest() { curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$1/digest"; }
same_digest() { # same_digest EDGE_PORT: the edge holds exactly the origin's data
  local a b
  a=$(digest "$1") b=$(digest "$OPORT")
  [[ $a =~ ^[0-9a-f]{64}$ && $a == "$b" ]]
}
converged() { same_digest "${EPORT[1]}" && same_digest "${EPORT[2]}"; }
warned() { cat "$TMP"/edge"$1".err* 2>/dev/null | grep -c "not on the origin's history" || true; }

origin origin0 batch
start_edge 1
start_edge 2
NS=$(curl -s -X POST -H "Authorization: Bearer $TOK" -d '{"title":"restart"}' "$(url "$OPORT" "")" | jq -r .result.id)
check "namespace" 32 "${#NS}"
for i in $(seq 1 10); do put "base$i" "v$i"; done
wait_for "edges follow the origin" 60 converged && ok "edges follow the origin"

for c in $(seq 1 "$CYCLES"); do
  # A clean stop: all of the above is durable.
  PID=$OPID stop_node TERM
  # The crash run: sync off under the power-cut shim, edges follow its writes.
  origin "crash$c" off shim
  for i in $(seq 1 15); do put "lost$c-$i" "lost"; done
  put "base$c" "overwritten-then-lost"
  del "base$((c + 5))"
  wait_for "cycle $c: edges hold the writes about to be lost" 60 converged &&
    ok "cycle $c: edges applied the tail the origin is about to lose"
  PID=$OPID stop_node KILL
  if "$APPLY" "$TMP/cut-crash$c/ledger" "$ODATA" "$TMP/cut-crash$c/stash" >"$TMP/cut-crash$c/out" 2>&1; then
    ok "cycle $c: power cut applied ($(tr '\n' ' ' <"$TMP/cut-crash$c/out"))"
  else
    bad "cycle $c: powercut_apply refused the run: $(cat "$TMP/cut-crash$c/out")"
  fi
  before1=$(warned 1) before2=$(warned 2)
  PID=${EPID[2]} stop_node TERM
  # Back without the tail: edge1 (ahead of it) reconnects at once.
  origin "after$c" batch
  [[ $(curl -s "$(url "$OPORT" "/$NS/values/lost$c-1")" -H "Authorization: Bearer $TOK" -o /dev/null -w '%{http_code}') == 404 ]] &&
    ok "cycle $c: the origin lost the tail" || bad "cycle $c: the cut did not bite"
  # Other writes take the lost seqs and more; then edge2 returns.
  for i in $(seq 1 25); do put "new$c-$i" "new"; done
  start_edge 2
  wait_for "cycle $c: both edges converge" 60 converged && ok "cycle $c: both edges converged (digests equal)"
  check "cycle $c: edge1 warned that it was off the history" 1 $(($(warned 1) > before1))
  check "cycle $c: edge2 warned that it was off the history" 1 $(($(warned 2) > before2))
  for e in 1 2; do
    check "cycle $c: no lost write left at edge$e" 404 \
      "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "$(url "${EPORT[$e]}" "/$NS/values/lost$c-3")")"
  done
done

# And replication goes on.
for i in $(seq 1 5); do put "after$i" "v"; done
wait_for "edges follow the origin at the end" 60 converged && ok "edges follow the origin at the end"
finish
