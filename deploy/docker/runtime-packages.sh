#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY links
# directly (its DT_NEEDED entries, found where ldd resolves them), one a line.
# The Dockerfile's runtime stage installs exactly these (apt adds what they
# depend on), so a library the build starts linking (libsystemd0, say) reaches
# the image with no list to keep in step.
#   deploy/docker/runtime-packages.sh build/node/edgekv
set -euo pipefail
bin=$1
libs=$(ldd "$bin")
for so in $(readelf -d "$bin" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }'); do
  path=$(awk -v s="$so" '$1 == s && $2 == "=>" { print $3 }' <<<"$libs")
  if [[ -z "$path" || "$path" == "not" ]]; then
    echo "runtime-packages.sh: $so is not found (ldd)" >&2
    exit 1
  fi
  # usrmerge: dpkg may know the file under /usr/lib or /lib; try both spellings.
  dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path"
done | cut -d: -f1 | sort -u
