#!/usr/bin/env bash
# The second README command: install what is missing, build (release and
# ASan+UBSan), and run every test: cmocka unit tests, process-level tests
# against the real binaries on loopback, and the compatibility suites with
# the real wrangler, cloudflare SDK and workerd (tests/compat), and a
# bounded libFuzzer pass over every harness (tests/fuzz, clang build).
#   tests/run.sh            everything
#   tests/run.sh --quick    release build only (no sanitizer or fuzz pass)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
status=0

echo "== release build"
dir=$(deploy/build.sh)
(cd "$dir" && ctest --output-on-failure -j2) || status=1

echo "== compatibility: wrangler, the cloudflare SDK, workerd (plain HTTP and HTTPS)"
EDGEKV="$PWD/$dir/node/edgekv" tests/compat/run.sh || status=1

if [[ "${1:-}" != "--quick" ]]; then
  echo "== ASan+UBSan build"
  adir=$(deploy/build.sh --asan)
  (cd "$adir" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2) || status=1

  # Every harness for EDGEKV_FUZZ_SMOKE_SECONDS (15) on its seed corpus:
  # under 3 minutes in all (-V prints each harness's executions and
  # coverage). Only the harnesses are built in this tree.
  echo "== fuzz: libFuzzer smoke (clang, ASan+UBSan)"
  if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEKV_FUZZ=ON \
    >/dev/null && cmake --build build-fuzz --target fuzz_all -j2 >/dev/null; then
    (cd build-fuzz && ctest -L fuzz -V) || status=1
  else
    echo "tests/run.sh: the fuzz build failed" >&2
    status=1
  fi
fi

if [[ $status -ne 0 ]]; then
  echo "tests/run.sh: FAILED" >&2
fi
exit $status
