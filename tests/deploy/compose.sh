#!/usr/bin/env bash
# The container deployment end to end (issue 11): builds the images from a
# clean export of HEAD (deploy/docker/build-image.sh; the local Debian base is
# cached by the daemon), starts deploy/compose.yaml (certs job, origin, three
# edges, Prometheus on 198.18.10.0/24), and checks:
#   1. a write through edge1 is read at edge2 (HTTP) and edge3 (HTTPS, the
#      API certificate verified) by host name, inside the compose network;
#   2. edge2, killed (SIGKILL) while writes go on, resumes when restarted:
#      its link live again, every write there, its digest equal to the origin's;
#   3. Prometheus scrapes every node (/api/v1/targets: four targets, all up);
#   4. an edge that dials the origin by a name its certificate does not
#      carry (edge4, profile mismatch) has its link refused, and says so.
# Everything is torn down at the end (compose down -v), whatever happened;
# a docker daemon the script started is stopped again (by its pid).
# Needs root, docker.io, docker-compose, debootstrap (install-deps.sh --deploy).
# Bound: 10 minutes with the base image cached (EDGEKV_DEPLOY_TIMEOUT_S).
#   tests/deploy/compose.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
proj=${EDGEKV_COMPOSE_PROJECT:-edgekv-test}
tag=${EDGEKV_DEPLOY_TAG:-test}
compose_file=$repo/deploy/compose.yaml
work=$(mktemp -d /tmp/edgekv-deploy.XXXXXX)
t_start=$SECONDS
t_step=$SECONDS
dockerd_pid=""

# The cluster's account and token, fresh for each run; every host port is
# left to Docker (an empty EDGEKV_*_PORT), so parallel clusters never collide.
EDGEKV_ACCOUNT=$(openssl rand -hex 16)
EDGEKV_TOKEN=$(openssl rand -hex 32)
EDGEKV_IMAGE=edgekv:$tag
EDGEKV_PROMETHEUS_IMAGE=edgekv-prometheus:$tag
export EDGEKV_ACCOUNT EDGEKV_TOKEN EDGEKV_IMAGE EDGEKV_PROMETHEUS_IMAGE
for v in ORIGIN ORIGIN_HTTPS EDGE1 EDGE1_HTTPS EDGE2 EDGE2_HTTPS EDGE3 EDGE3_HTTPS EDGE4 PROMETHEUS; do
  export "EDGEKV_${v}_PORT="
done
T=$EDGEKV_TOKEN
A=$EDGEKV_ACCOUNT

step() { # NAME: closes the previous step's timing and opens this one
  echo "== [$((SECONDS - t_start)) s] $*"
  t_step=$SECONDS
}
done_step() { echo "   ok ($((SECONDS - t_step)) s)"; }
fail() {
  echo "tests/deploy/compose.sh: FAILED: $*" >&2
  exit 1
}
dc() { docker-compose -f "$compose_file" -p "$proj" "$@"; }
dcm() { dc --profile mismatch "$@"; } # edge4 is in the profile "mismatch"
cid() { dcm ps -q "$1"; }
hostport() { dcm port "$1" "$2"; } # SERVICE PORT -> 127.0.0.1:NNNNN
# curl inside the compose network, from the Prometheus container (curl, no
# edgekv): names resolve through the network's DNS.
incluster() { docker exec "$(cid prometheus)" curl -sS --max-time 5 "$@"; }
# wait_for SECONDS WHAT CMD...: retries CMD every 0.5 s until it succeeds.
wait_for() {
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - t0 < limit)) || fail "$what: not within $limit s"
    sleep 0.5
  done
}

cleanup() {
  local rc=$?
  set +e
  [[ -n "${watchdog:-}" ]] && kill "$watchdog" 2>/dev/null
  echo "== [$((SECONDS - t_start)) s] teardown"
  if [[ $rc -ne 0 ]] && docker info >/dev/null 2>&1; then
    for s in origin edge1 edge2 edge3 edge4; do
      echo "-- last log lines of $s" >&2
      dcm logs --no-color --tail 15 "$s" >&2 2>/dev/null
    done
  fi
  if docker info >/dev/null 2>&1; then
    dcm down -v --remove-orphans >"$work/down.log" 2>&1 ||
      cat "$work/down.log" >&2
  fi
  if [[ -n "$dockerd_pid" ]]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    echo "   stopped the docker daemon this script started (pid $dockerd_pid)"
  fi
  rm -rf "$work"
  echo "== total $((SECONDS - t_start)) s"
  [[ $rc -eq 0 ]] && echo "tests/deploy/compose.sh: passed"
  exit $rc
}
trap cleanup EXIT

# A bound on the whole run: past it the watchdog sends this script SIGTERM,
# which ends it (after the command running then) through the teardown. The
# watchdog holds none of this script's output open.
timeout_s=${EDGEKV_DEPLOY_TIMEOUT_S:-600}
trap 'echo "tests/deploy/compose.sh: over $timeout_s s, stopping" >&2; exit 124' TERM
(
  trap 'kill $sl 2>/dev/null; exit 0' TERM
  sleep "$timeout_s" &
  sl=$!
  wait $sl && kill -TERM $$
) >/dev/null 2>&1 </dev/null &
watchdog=$!

# ---- the docker daemon ----------------------------------------------------------------
step "docker daemon"
if ! docker info >/dev/null 2>&1; then
  # No image registry, no NAT: the compose network is a plain bridge the host
  # reaches directly, and published ports go through docker-proxy on loopback.
  dockerd --iptables=false --ip6tables=false --bridge=none >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  t0=$SECONDS
  until docker info >/dev/null 2>&1; do
    if ! kill -0 "$dockerd_pid" 2>/dev/null || ((SECONDS - t0 >= 30)); then
      # The machine cannot run containers (no privileges for namespaces,
      # cgroups or overlay mounts): nothing of edgekv was tested. Exit 77,
      # "skipped", which .ci/run reports as such; any later failure is 1.
      echo "tests/deploy/compose.sh: SKIPPED: dockerd cannot run on this machine:" >&2
      tail -5 "$work/dockerd.log" >&2
      exit 77
    fi
    sleep 0.5
  done
  echo "   started dockerd (pid $dockerd_pid)"
else
  echo "   a daemon is running already"
fi
done_step

# ---- images -----------------------------------------------------------------------------
step "images: edgekv:$tag and edgekv-prometheus:$tag"
deploy/docker/build-image.sh --ref HEAD --tag "$tag" ${EDGEKV_DEPLOY_BASE:+--base "$EDGEKV_DEPLOY_BASE"}
done_step

# ---- the cluster ------------------------------------------------------------------------
step "compose up: certs job, origin, edge1..3, prometheus"
dcm down -v --remove-orphans >/dev/null 2>&1 || true # a leftover of a killed run
dc up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "compose up"; }
healthy() { [[ "$(docker inspect -f '{{.State.Health.Status}}' "$(cid "$1")")" == healthy ]]; }
for s in origin edge1 edge2 edge3 prometheus; do
  wait_for 60 "$s healthy" healthy "$s"
done
# grep -c, not -q: it reads all the logs (pipefail would count a SIGPIPE'd writer).
dc logs --no-color certs | grep -c "certificates ready" >/dev/null || fail "the certs job"
link_live() { # SERVICE
  curl -sf -H "Authorization: Bearer $T" "http://$(hostport "$1" 8787)/status" |
    jq -e '.replication.link == "live" and .replication.stale == false'
}
for s in edge1 edge2 edge3; do wait_for 30 "$s link live" link_live "$s"; done
dc ps
done_step

# ---- a write at edge1, read at edge2 and edge3 by host name ----------------------------
step "write through edge1, read at edge2 (HTTP) and edge3 (HTTPS) by host name"
e1=http://$(hostport edge1 8787)
base=/client/v4/accounts/$A/storage/kv/namespaces
ns=$(curl -sf -X POST "$e1$base" -H "Authorization: Bearer $T" -d '{"title":"deploy-test"}' |
  jq -r .result.id)
[[ "$ns" =~ ^[0-9a-f]{32}$ ]] || fail "namespace create at edge1: $ns"
curl -sf -X PUT "$e1$base/$ns/values/greeting" -H "Authorization: Bearer $T" \
  --data-binary 'hello from edge1' | jq -e .success >/dev/null || fail "write at edge1"
read_at() { # URL-PREFIX KEY EXPECTED [curl options...]: in the network, by host name
  local url=$1 key=$2 want=$3
  shift 3
  [[ "$(incluster "$@" -H "Authorization: Bearer $T" "$url$base/$ns/values/$key")" == "$want" ]]
}
wait_for 5 "read at edge2" read_at http://edge2:8787 greeting 'hello from edge1'
echo "   http://edge2:8787 answers: $(incluster -H "Authorization: Bearer $T" "http://edge2:8787$base/$ns/values/greeting")"
# HTTPS with the API certificate checked against the name edge3 and the CA.
docker cp "$(cid edge1):/etc/edgekv/certs/ca.crt" "$work/ca.crt"
docker cp "$work/ca.crt" "$(cid prometheus):/tmp/edgekv-ca.crt"
wait_for 5 "read at edge3 over HTTPS" read_at https://edge3:9787 greeting 'hello from edge1' \
  --cacert /tmp/edgekv-ca.crt
echo "   https://edge3:9787 answers: $(incluster --cacert /tmp/edgekv-ca.crt -H "Authorization: Bearer $T" "https://edge3:9787$base/$ns/values/greeting")"
done_step

# ---- an edge killed and restarted resumes -----------------------------------------------
step "kill edge2 (SIGKILL), write 50 keys through edge1, start edge2: it resumes"
since=$(date -u +%Y-%m-%dT%H:%M:%S)
docker kill -s KILL "$(cid edge2)" >/dev/null
for i in $(seq 1 50); do
  curl -sf -X PUT "$e1$base/$ns/values/k$i" -H "Authorization: Bearer $T" --data-binary "v$i" \
    >/dev/null || fail "write k$i at edge1 while edge2 is down"
done
o=http://$(hostport origin 8787)
curl -sf -H "Authorization: Bearer $T" "$o/status" |
  jq -c '[.replication.edges[] | {node_id, connected, acked_seq}]'
echo "   edge2 after the writes: $(docker inspect -f '{{.State.Status}} (restarts {{.RestartCount}})' "$(cid edge2)")"
dc start edge2 >/dev/null 2>&1
wait_for 30 "edge2 link live after its restart" link_live edge2
wait_for 10 "edge2 has k50" read_at http://edge2:8787 k50 v50
digest() { curl -sf -H "Authorization: Bearer $T" "http://$(hostport "$1" 8787)/digest"; }
same_digest() { [[ "$(digest origin)" == "$(digest edge2)" ]]; }
wait_for 10 "edge2's digest equal to the origin's" same_digest
echo "   edge2: $(curl -sf -H "Authorization: Bearer $T" "http://$(hostport edge2 8787)/status" | jq -c .replication)"
echo "   digest (origin = edge2): $(digest edge2 | head -c 120)"
# Resumed from the log, not refilled by a snapshot: no snapshot since the kill.
if docker logs --since "$since" "$(cid edge2)" 2>&1 | grep -c "taking a snapshot" >/dev/null; then
  fail "edge2 took a snapshot instead of resuming"
fi
docker logs --since "$since" "$(cid edge2)" 2>&1 | grep "link .* up" | sed 's/^/   edge2 log: /'
done_step

# ---- Prometheus --------------------------------------------------------------------------
step "Prometheus scrapes every node"
p=http://$(hostport prometheus 9090)
all_up() {
  curl -sf "$p/api/v1/targets" | jq -e '[.data.activeTargets[] | select(.health == "up")] | length == 4'
}
wait_for 60 "four targets up" all_up
curl -sf "$p/api/v1/targets" |
  jq -r '.data.activeTargets[] | "   \(.labels.node) \(.labels.role) \(.scrapeUrl) \(.health)"' | sort
done_step

# ---- a name the origin certificate does not carry is refused -----------------------------
step "edge4 dials the origin as origin-unnamed, a name its certificate does not carry"
dcm up -d --no-deps edge4 >"$work/up4.log" 2>&1 ||
  { cat "$work/up4.log" >&2; fail "compose up edge4"; }
refused() { docker logs "$(cid edge4)" 2>&1 | grep -c "refused: peer certificate: hostname mismatch" >/dev/null; }
wait_for 20 "edge4's link refused for the name" refused
docker logs "$(cid edge4)" 2>&1 | grep -m1 "refused: peer certificate" | sed 's/^/   edge4 log: /'
curl -sf -H "Authorization: Bearer $T" "http://$(hostport edge4 8787)/status" |
  jq -e '.replication.link != "live"' >/dev/null || fail "edge4's link is live"
echo "   edge4 /status: $(curl -sf -H "Authorization: Bearer $T" "http://$(hostport edge4 8787)/status" | jq -c '{link: .replication.link, stale: .replication.stale}')"
done_step

# ---- not covered by this script (issue 11 stays open for them) ---------------------------
# Certificate rotation with SIGHUP (the node reloads only its HTTPS files today, not the
# replication certificates); a rolling upgrade with a second image (build-image.sh --tag)
# replacing the edges one by one, then the origin; backup and restore between containers
# (tests/process/test_backup.sh runs that drill on processes).
echo "-- not covered here yet: SIGHUP rotation, rolling upgrade, backup and restore (issue 11)"
