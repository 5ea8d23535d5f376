#!/usr/bin/env bash
# cite_check.sh - every file the sources and documents cite exists.
# Registered with CTest as `cite_check` (label lint). Two kinds of citation
# are checked in every tracked C file, header, script, CMake file, proto
# and Markdown document (the last simulator run's outputs excepted):
#   a file's path from the top of the tree   node/replica/judge.h, sim/README.md
#   a bare C file name in C code         replica_work.c, kv_limits.h
# A path must name a tracked file or folder; a bare name must be the name of
# a tracked file somewhere in the tree. System headers (`#include <...>`) and
# names quoted from other projects are not citations of ours: lines that
# `#include` are skipped, and the few foreign names are listed in FOREIGN
# (with the headers generated into the build tree: edgekv.pb-c.h from
# proto/edgekv.proto, edgekv_version.h from cmake/edgekv_version.h.cmake).
set -euo pipefail
cd "$(dirname "$0")/.."

FOREIGN='^(rocksdb/c\.h|llhttp\.h|uv\.h|cmocka\.h|jansson\.h|curl\.h|edgekv\.pb-c\.[ch]|edgekv_version\.h|[a-z]\.[ch])$'
TOP='(cmake|deploy|node|proto|replication|sim|storage|tests)'
EXT='(c|h|sh|md|proto|json|txt|cmake|lua|js|mjs|py)'

mapfile -t tracked < <(git ls-files)
declare -A have base
for f in "${tracked[@]}"; do
  have[$f]=1
  base[${f##*/}]=1
  d=$f
  while [[ $d == */* ]]; do d=${d%/*}; have[$d]=1; done
done

bad=0
mapfile -t docs < <(printf '%s\n' "${tracked[@]}" |
  grep -E '\.(c|h|sh|md|txt|cmake|proto)$|CMakeLists\.txt$' | grep -v '^sim/figures/last-run/')
for f in "${docs[@]}"; do
  # Paths from the top of the tree.
  while IFS=: read -r line path; do
    path=${path%.}
    [[ -n ${have[$path]:-} ]] && continue
    echo "$f:$line: cites $path, which is not in the tree"
    bad=1
  done < <(grep -noE "(^|[^/A-Za-z0-9_$.-])$TOP/[A-Za-z0-9_./-]*\.$EXT\b" "$f" |
    sed -E "s/^([0-9]+):[^a-z]?/\1:/" || true)
  # Bare C file names, in C code only.
  case $f in *.c | *.h) ;; *) continue ;; esac
  while IFS=: read -r line name; do
    [[ -n ${base[$name]:-} ]] && continue
    [[ $name =~ $FOREIGN ]] && continue
    echo "$f:$line: cites $name, which is not in the tree"
    bad=1
  done < <(grep -nvE '^\s*#\s*include' "$f" | grep -oE '^[0-9]+:|\b[A-Za-z0-9_]+\.[ch]\b' |
    awk '/^[0-9]+:$/ {n = $0; next} {print n $0}' || true)
done
if ((bad)); then
  echo "cite_check: fix the citations above (or add a foreign name to FOREIGN in $0)" >&2
  exit 1
fi
echo "cite_check: ${#docs[@]} files, every cited file exists"
