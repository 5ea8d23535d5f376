#!/usr/bin/env bash
# Storage-layer apply: store_apply (tests/bench/store_apply.c) with batches
# of 30 mutations (an edge's frame at a saturated origin) of random keys and
# of sequential keys, edgekv's stor_commit against RocksDB writing the same
# records with the same options, alternating rounds; CPU ns per mutation of
# the writing thread. See tests/bench/README.md.
#   tests/bench/store_apply.sh
# Env: EDGEKV_BENCH_STORE_MUTS (300000)  mutations per round (one 64 MiB memtable's worth)
#      EDGEKV_BENCH_STORE_ROUNDS (3)     rounds per side and key order
#      EDGEKV_BIN                        take the store_apply of that build (beside its
#                                        node/ directory) instead of building
#      EDGEKV_BENCH_OUT                  JSON result file (default $TMPDIR/edgekv-store_apply.json)
# Exit 0 when every commit succeeded; speed is not asserted.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MUTS=${EDGEKV_BENCH_STORE_MUTS:-300000}
ROUNDS=${EDGEKV_BENCH_STORE_ROUNDS:-3}
OUT=${EDGEKV_BENCH_OUT:-${TMPDIR:-/tmp}/edgekv-store_apply.json}

log() { echo "store_apply: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v jq >/dev/null || die "missing command jq"
# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh" # build_file
TOOL=$(build_file tests/bench/store_apply) || die "deploy/build.sh failed"
[[ -x "$TOOL" ]] || die "no store_apply at $TOOL (it is built with the tests: deploy/build.sh)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edgekv-store_apply.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
for keys in random sequential; do
  log "batches of 30, $keys keys, $MUTS mutations x $ROUNDS rounds per side"
  "$TOOL" --muts "$MUTS" --batch 30 --keys "$keys" --rounds "$ROUNDS" --dir "$TMP" \
    --json "$TMP/$keys.json" 2> >(grep -v ' store: ' >&2)
done
jq -n --slurpfile r "$TMP/random.json" --slurpfile s "$TMP/sequential.json" \
  '{random: $r[0], sequential: $s[0]}' >"$OUT"
log "JSON: $OUT"
