#!/usr/bin/env bash
# Builds the container images of deploy/compose.yaml from a clean export of a
# commit (git archive; never the working tree, whose uncommitted edits and
# build directories stay out):
#   edgekv:TAG             deploy/Dockerfile
#   edgekv-prometheus:TAG  deploy/docker/prometheus.Dockerfile
# With no image registry reachable, the base is the local Debian image of
# deploy/docker/base.sh (made once, then cached by the daemon), and the build
# runs with --network host so apt reaches this host's Debian mirror.
#   deploy/docker/build-image.sh [--ref REF] [--tag TAG] [--base IMAGE] [--version V]
#     --ref   commit to build (default HEAD)
#     --tag   image tag (default latest)
#     --version  the version edgekv reports (EDGEKV_VERSION; default the
#             project's), e.g. a bumped one for a rolling-upgrade drill
#     --base  base image (default edgekv-base:bookworm, made if missing;
#             debian:bookworm-slim where a registry is reachable)
set -euo pipefail
cd "$(dirname "$0")/../.."
ref=HEAD tag=latest base=edgekv-base:bookworm version=
while [[ $# -gt 0 ]]; do
  case "$1" in
  --ref) ref=$2; shift 2 ;;
  --tag) tag=$2; shift 2 ;;
  --base) base=$2; shift 2 ;;
  --version) version=$2; shift 2 ;;
  *) echo "usage: $0 [--ref REF] [--tag TAG] [--base IMAGE] [--version V]" >&2; exit 2 ;;
  esac
done
if [[ "$base" == edgekv-base:* ]]; then
  deploy/docker/base.sh "$base"
fi
# The classic builder: Debian's docker.io has no buildx, and nothing here
# needs BuildKit.
export DOCKER_BUILDKIT=0
commit=$(git rev-parse --verify "$ref^{commit}") # once: the branch may move meanwhile
ctx=$(mktemp /tmp/edgekv-context.XXXXXX.tar)
trap 'rm -f "$ctx"' EXIT
git archive --format=tar "$commit" >"$ctx"
log=$(mktemp /tmp/edgekv-build.XXXXXX.log)
trap 'rm -f "$ctx" "$log"' EXIT
build() { # IMAGE DOCKERFILE [BUILD-ARG...]
  local image=$1 file=$2
  shift 2
  echo "building $image from ${commit:0:7} on $base${*:+ ($*)}"
  if ! docker build --network host --build-arg BASE="$base" "$@" -f "$file" -t "$image" - \
    <"$ctx" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "build-image.sh: building $image failed" >&2
    exit 1
  fi
  grep -E '^runtime packages:' "$log" || true
}
build "edgekv:$tag" deploy/Dockerfile ${version:+--build-arg EDGEKV_VERSION="$version"}
build "edgekv-prometheus:$tag" deploy/docker/prometheus.Dockerfile
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^edgekv(-prometheus)?:$tag " || true
