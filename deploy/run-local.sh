#!/usr/bin/env bash
# The first README command: install what is missing, build, and start a
# local edgekv node in the foreground (Ctrl-C stops it cleanly).
#   deploy/run-local.sh [edgekv origin options...]
# Data lives in ./data/origin; the token and account are generated on the
# first run and printed, and an env file for wrangler / the Cloudflare SDK is
# written to ./data/origin/edgekv.env.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
dir=$(deploy/build.sh)
exec "$dir/node/edgekv" origin "$@"
