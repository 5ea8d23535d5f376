#!/usr/bin/env bash
# The second README command: install what is missing, build (release and
# ASan+UBSan), and run every test: cmocka unit tests, process-level tests
# against the real binaries on loopback, and the compatibility suites with
# the real wrangler, cloudflare SDK and workerd (tests/compat).
#   tests/run.sh            everything
#   tests/run.sh --quick    release build only (no sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
status=0

echo "== release build"
dir=$(deploy/build.sh)
(cd "$dir" && ctest --output-on-failure -j2) || status=1

echo "== compatibility: wrangler, the cloudflare SDK, workerd"
EDGEKV="$PWD/$dir/node/edgekv" tests/compat/run.sh || status=1

if [[ "${1:-}" != "--quick" ]]; then
  echo "== ASan+UBSan build"
  adir=$(deploy/build.sh --asan)
  (cd "$adir" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2) || status=1
fi

if [[ $status -ne 0 ]]; then
  echo "tests/run.sh: FAILED" >&2
fi
exit $status
