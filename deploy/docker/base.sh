#!/usr/bin/env bash
# Makes the local base image edgekv-base:bookworm (Debian 12, minbase) for
# machines that reach the Debian package mirror but no image registry:
# debootstrap into a temporary directory, then `docker import`. The image's
# apt sources are this host's own (apt-get indextargets: every enabled
# bookworm* suite with its mirror), so apt inside the build reaches the same
# mirror; no mirror name is written into the repository. Skipped when the
# image exists already (the cache between runs).
#   deploy/docker/base.sh [IMAGE]      default edgekv-base:bookworm
# Needs root, debootstrap and a running docker daemon.
set -euo pipefail
image=${1:-edgekv-base:bookworm}
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image: cached"
  exit 0
fi

# The host's enabled Debian sources, one "URI SUITE COMPONENT" per line.
mapfile -t srcs < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(TARGET_OF)' |
  awk '$4 == "deb" && $2 ~ /^bookworm/ { print $1, $2, $3 }' | sort -u)
mirror=$(printf '%s\n' "${srcs[@]}" | awk '$2 == "bookworm" { print $1; exit }')
if [[ -z "$mirror" ]]; then
  echo "base.sh: this host's apt sources name no bookworm suite (apt-get indextargets)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/edgekv-base.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "base image $image: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -20 "$dir.log" >&2
  rm -f "$dir.log"
  exit 1
}
rm -f "$dir.log"
# The same suites as the host (updates and security included), one-line format.
rm -f "$dir/etc/apt/sources.list.d/"*
printf '%s\n' "${srcs[@]}" | awk '{ print "deb", $1, $2, $3 }' >"$dir/etc/apt/sources.list"
# Keep the image small: no downloaded .debs or package lists.
rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
tar -C "$dir" -c . | docker import - "$image" >/dev/null
echo "base image $image: imported"
