#!/usr/bin/env bash
# format_check.sh - every tracked C source and header is formatted as
# .clang-format says. Registered with CTest as `format_check` (label lint),
# so tests/run.sh and CI fail on a deviation; run it by hand the same way:
#   tests/format_check.sh            check; list the files that deviate
#   tests/format_check.sh -v         also show clang-format's first findings
# Fix a deviation with `clang-format -i FILE`. Generated code (protobuf-c's
# *.pb-c.[ch], written into the build tree) is never checked.
#
# The formatter is pinned: a different clang-format major version formats
# some constructs differently, so the check only runs with the one
# deploy/install-deps.sh installs (Debian 12's `clang-format`, version
# FORMAT_MAJOR below). Moving to another version is a deliberate commit:
# change FORMAT_MAJOR and reformat the tree with it in the same commit.
set -euo pipefail
cd "$(dirname "$0")/.."

FORMAT_MAJOR=14
EXCLUDE_RE='\.pb-c\.[ch]$'
verbose=0
[[ "${1:-}" == "-v" ]] && verbose=1

# The formatter: $CLANG_FORMAT, else the versioned binary, else the plain one.
cf=${CLANG_FORMAT:-}
if [[ -z $cf ]]; then
  for c in "clang-format-$FORMAT_MAJOR" clang-format; do
    if command -v "$c" >/dev/null 2>&1; then cf=$c; break; fi
  done
fi
if [[ -z $cf ]]; then
  echo "format_check: clang-format is not installed (deploy/install-deps.sh installs it)" >&2
  exit 1
fi
version=$("$cf" --version)
major=$(sed -n 's/.*clang-format version \([0-9]*\)\..*/\1/p' <<<"$version")
if [[ "$major" != "$FORMAT_MAJOR" ]]; then
  echo "format_check: $cf is version ${major:-unknown} ($version);" \
    "this tree is formatted with clang-format $FORMAT_MAJOR (see FORMAT_MAJOR in $0)" >&2
  exit 1
fi

# Tracked files from git; outside a git checkout, every C file of the tree
# but the build directories.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.c' '*.h' | grep -Ev "$EXCLUDE_RE" || true)
else
  mapfile -t files < <(find . -path './build*' -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
    -print | sed 's|^\./||' | grep -Ev "$EXCLUDE_RE" | sort || true)
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "format_check: no C files found" >&2
  exit 1
fi

# One clang-format run over every file (one process: fast even on a busy
# machine); its findings read "FILE:LINE:COL: error: code should be
# clang-formatted".
rc=0
out=$("$cf" --dry-run --Werror --style=file "${files[@]}" 2>&1) || rc=$?
mapfile -t bad < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' \
  <<<"$out" | awk '!seen[$0]++')
if [[ $rc -ne 0 && ${#bad[@]} -eq 0 ]]; then
  echo "format_check: $cf failed:" >&2
  echo "$out" | head -20 >&2
  exit 1
fi
if [[ $verbose -eq 1 ]]; then
  for f in "${bad[@]}"; do
    grep -F "$f:" <<<"$out" | grep -E ": error:" | head -3 | sed 's/^/    /' || true
  done
fi

echo "format_check: ${#files[@]} files checked with $version"
if [[ ${#bad[@]} -gt 0 ]]; then
  echo "format_check: ${#bad[@]} files deviate from .clang-format:"
  printf '  %s\n' "${bad[@]}"
  echo "fix: clang-format -i ${bad[*]}"
  exit 1
fi
echo "format_check: every file is formatted"
