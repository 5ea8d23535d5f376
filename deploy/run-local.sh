#!/usr/bin/env bash
# The first README command: install what is missing, build, and start a
# real local cluster in the foreground: one origin and three edges as
# separate processes on loopback, replicating over mutual TLS, with
# certificates, an account and a token generated on the first run (all
# under ./data/dev). Ctrl-C stops every process cleanly.
#   deploy/run-local.sh [edgekv dev options...]     (see: edgekv dev --help)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
dir=$(deploy/build.sh)
exec "$dir/node/edgekv" dev "$@"
