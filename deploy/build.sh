#!/usr/bin/env bash
# Configures and builds edgekv into build/ (or $EDGEKV_BUILD_DIR).
#   deploy/build.sh            release build with debug info
#   deploy/build.sh --asan     ASan+UBSan build into build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${EDGEKV_BUILD_DIR:-build}
extra=()
if [[ "${1:-}" == "--asan" ]]; then
  dir=${EDGEKV_BUILD_DIR:-build-asan}
  extra=(-DEDGEKV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S . -B "$dir" "${extra[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir"
