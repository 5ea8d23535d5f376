#!/usr/bin/env bash
# Installs every Debian package edgekv's build, tests and benchmarks need.
# Idempotent and quiet when everything is present; needs root (or sudo).
#   deploy/install-deps.sh           build + tests
#   deploy/install-deps.sh --bench   also the benchmark peers (wrk, nginx, h2o, redis)
#   deploy/install-deps.sh --deploy  also docker.io, docker-compose, debootstrap, promtool (tests/deploy)
#   deploy/install-deps.sh --build   only what compiling edgekv needs (deploy/Dockerfile)
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libuv1-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev libssl-dev
  libcmocka-dev node-llhttp libjansson-dev libcurl4-openssl-dev
  libsystemd-dev # sd_notify: READY=1, STATUS=, STOPPING=1 under systemd (Type=notify)
)
PKGS=("${BUILD_PKGS[@]}"
  systemd strace # tests/deploy: systemd-analyze verify, the units' sandbox against the syscalls
  curl jq procps openssl python3-minimal gnuplot-nox
  iproute2 # deploy/lab: ip netns, veth pairs, the bridge (without it the lab runs on loopback)
  clang-format # tests/format_check.sh: Debian 12's, version 14 (the pinned one)
  clang libclang-rt-dev # tests/fuzz: libFuzzer and the sanitizer runtimes
  etcd-server # tests/process/test_ha_etcd.sh: origin leadership in a 3-member etcd (node/ha)
)
case "${1:-}" in
--bench) PKGS+=(wrk nginx-light h2o redis-server time) ;; # time: /usr/bin/time -f (sim_speed.sh)
--deploy) PKGS+=(docker.io docker-compose debootstrap prometheus) ;; # prometheus: promtool
--build) PKGS=("${BUILD_PKGS[@]}") ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
