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
#      carry (edge4, profile mismatch) has its link refused, and says so;
#   5. certificate rotation: new certificates from the same CA written into
#      the certificate volumes, `docker kill -s HUP` to every node: no link
#      drops (edgekv_replication_links_total), writes flow, the expiry
#      gauges move, and new links present the new certificates (serials);
#   6. a rolling upgrade to a second build (edgekv:TAG-next, the same tree
#      built with the version's patch bumped, EDGEKV_VERSION): edge1, edge2,
#      edge3, then the origin are replaced one at a time while a writer in
#      the network writes through the edges; each replaced node reports the
#      new version, the origin lists every edge's build (mixed while edges go
#      first, all new at the end) and the edges the origin's; every
#      acknowledged write (the ledger) is on every node at the end;
#   7. backup and restore: `edgekv backup` of the live origin over HTTP with
#      the operator token, `edgekv restore` into a fresh origin container and
#      volume; the edges do not resume onto the new history, they take a
#      snapshot of it, and every node ends equal to the backup.
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
# Both images (and the second tag of the rolling upgrade) from this commit,
# resolved once: a commit made meanwhile must not change what is tested.
commit=$(git rev-parse --verify "HEAD^{commit}")
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
    docker volume rm "${proj}_backup" >/dev/null 2>&1
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
deploy/docker/build-image.sh --ref "$commit" --tag "$tag" ${EDGEKV_DEPLOY_BASE:+--base "$EDGEKV_DEPLOY_BASE"}
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
# awk, not grep -m1: it reads to the end (under pipefail, a writer cut off by
# SIGPIPE would fail the pipeline, and the script with it).
docker logs "$(cid edge4)" 2>&1 | awk '/refused: peer certificate/ && !n++' | sed 's/^/   edge4 log: /'
curl -sf -H "Authorization: Bearer $T" "http://$(hostport edge4 8787)/status" |
  jq -e '.replication.link != "live"' >/dev/null || fail "edge4's link is live"
echo "   edge4 /status: $(curl -sf -H "Authorization: Bearer $T" "http://$(hostport edge4 8787)/status" | jq -c '{link: .replication.link, stale: .replication.stale}')"
dcm rm -sf edge4 >/dev/null 2>&1 # its retries would only fill the origin's log from here on
done_step

# ---- certificate rotation with SIGHUP ---------------------------------------------------
step "certificate rotation: new certificates from the same CA, SIGHUP to every node"
nodes=(origin edge1 edge2 edge3)
metric_of() { # SERVICE NAME [LABEL-MATCH]: a sample of the node's /metrics
  curl -sf "http://$(hostport "$1" 8787)/metrics" | grep "^$2[ {]" | grep -F -- "${3:-}" |
    awk 'NR == 1 {print $2}'
}
declare -A links0=() expiry0=()
for s in "${nodes[@]}"; do
  links0[$s]=$(metric_of "$s" edgekv_replication_links_total)
  expiry0[$s]=$(metric_of "$s" edgekv_certificate_not_after_seconds 'use="replication"')
done
# The serial each side showed at its last handshake (the logs name it).
last_serial() { # SERVICE PEER-NAME
  docker logs "$(cid "$1")" 2>&1 | sed -n "s/.*link [0-9]* up: [a-z]* $2 (certificate serial \([0-9A-F]*\)).*/\1/p" | tail -1
}
o_serial0=$(last_serial edge2 origin)
e1_serial0=$(last_serial origin edge1)
# Re-issue into the certificate volumes (the certs service has them all),
# 30 days instead of 825, so the expiry gauges must move.
dc run --rm --no-deps -T --entrypoint /bin/sh certs -ec '
  ca=/certs/ca
  edgekv certs issue --dir $ca --role origin --name origin --host origin --host 198.18.10.2 --days 30
  for i in 1 2 3; do
    edgekv certs issue --dir $ca --role edge --name edge$i --host edge$i --host 198.18.10.1$i --days 30
  done
  for n in origin edge1 edge2 edge3; do cp $ca/$n.crt $ca/$n.key /certs/$n/; done
  chown -R 10001:10001 /certs
  chmod 0600 /certs/*/*.key
  echo "certificates re-issued"' >"$work/reissue.log" 2>&1 ||
  { cat "$work/reissue.log" >&2; fail "re-issuing the certificates"; }
since=$(date -u +%Y-%m-%dT%H:%M:%S)
for s in "${nodes[@]}"; do docker kill -s HUP "$(cid "$s")" >/dev/null; done
reloaded() { docker logs --since "$since" "$(cid "$1")" 2>&1 | grep -c "replication certificates reloaded" >/dev/null; }
for s in "${nodes[@]}"; do wait_for 20 "$s reloaded its certificates" reloaded "$s"; done
docker logs --since "$since" "$(cid origin)" 2>&1 | grep "SIGHUP: " | sed 's/^/   origin log: /'
for i in $(seq 1 20); do
  curl -sf -X PUT "$e1$base/$ns/values/rot$i" -H "Authorization: Bearer $T" --data-binary "r$i" \
    >/dev/null || fail "write rot$i at edge1 after the reload"
done
wait_for 10 "rot20 at edge3" read_at http://edge3:8787 rot20 r20
for s in "${nodes[@]}"; do
  now=$(metric_of "$s" edgekv_replication_links_total)
  [[ $now == "${links0[$s]}" ]] || fail "$s: replication links went ${links0[$s]} -> $now: a link dropped"
  exp=$(metric_of "$s" edgekv_certificate_not_after_seconds 'use="replication"')
  # The new certificate expires in 30 days, the old one in 825.
  [[ -n $exp && $exp -lt ${expiry0[$s]} && $exp -le $(($(date +%s) + 31 * 86400)) ]] ||
    fail "$s: the expiry gauge shows $exp (was ${expiry0[$s]})"
  echo "   $s: links ${links0[$s]} -> $now, certificate expiry ${expiry0[$s]} -> $exp"
done
# New connections use the new certificates: edge2 restarted meets the origin's
# reloaded one; the origin restarted meets edge1's and edge3's reloaded ones.
since=$(date -u +%Y-%m-%dT%H:%M:%S)
dc restart edge2 >/dev/null 2>&1
wait_for 30 "edge2 link live after its restart" link_live edge2
o_serial1=$(last_serial edge2 origin)
[[ -n $o_serial1 && $o_serial1 != "$o_serial0" ]] ||
  fail "edge2 was shown the origin's serial $o_serial1 (before the rotation: $o_serial0)"
echo "   the origin's certificate on a new link: serial $o_serial0 -> $o_serial1"
dc restart origin >/dev/null 2>&1
for s in edge1 edge2 edge3; do wait_for 30 "$s link live after the origin's restart" link_live "$s"; done
e1_serial1=$(last_serial origin edge1)
[[ -n $e1_serial1 && $e1_serial1 != "$e1_serial0" ]] ||
  fail "the origin was shown edge1's serial $e1_serial1 (before the rotation: $e1_serial0)"
echo "   edge1's certificate on a new link: serial $e1_serial0 -> $e1_serial1"
done_step

# ---- a rolling upgrade with writes flowing -------------------------------------------------
next=$tag-next
# The running build's version, and the next one: its patch bumped.
v_old=$(docker run --rm "edgekv:$tag" version | awk '{print $2}')
[[ $v_old =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || fail "edgekv:$tag reports version '$v_old'"
v_new=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))
step "rolling upgrade from $v_old to $v_new (edgekv:$next): edge1, edge2, edge3, then the origin, writes flowing"
deploy/docker/build-image.sh --ref "$commit" --tag "$next" --version "$v_new" \
  ${EDGEKV_DEPLOY_BASE:+--base "$EDGEKV_DEPLOY_BASE"} | sed 's/^/   /'
[[ "$(docker run --rm "edgekv:$next" version)" == "edgekv $v_new" ]] ||
  fail "edgekv:$next reports '$(docker run --rm "edgekv:$next" version)', not $v_new"
status_of() { curl -sf -H "Authorization: Bearer $T" "http://$(hostport "$1" 8787)/status"; }
declare -A node_of=()
for s in edge1 edge2 edge3; do node_of[$s]=$(status_of "$s" | jq -r .node_id); done
# The origin's view of one edge's build: its last Hello's software.
edge_build() { # EDGE
  status_of origin | jq -r --argjson id "${node_of[$1]}" \
    '.replication.edges[] | select(.node_id == $id and .connected) | .version'
}
builds_are() { # VERSION-OF-edge1 VERSION-OF-edge2 VERSION-OF-edge3
  [[ "$(edge_build edge1) $(edge_build edge2) $(edge_build edge3)" == "$*" ]]
}
wait_for 20 "the origin lists every edge at $v_old" builds_are "$v_old" "$v_old" "$v_old"
# The writer runs in the network (the Prometheus container has a shell and
# curl): round robin over the three edges by host name, one write at a time;
# a write is in the ledger only once acknowledged (HTTP 200, success true).
docker exec -d "$(cid prometheus)" sh -c '
  rm -f /tmp/ledger /tmp/stop /tmp/writer.done; i=0
  while [ ! -e /tmp/stop ]; do
    i=$((i + 1)); e=edge$((i % 3 + 1))
    if curl -sf --max-time 5 -X PUT -H "Authorization: Bearer '"$T"'" --data-binary "u$i" \
         "http://$e:8787'"$base/$ns"'/values/up$i" | grep -q "\"success\":true"; then
      echo "up$i" >>/tmp/ledger
    fi
  done
  touch /tmp/writer.done'
ledger_n() { docker exec "$(cid prometheus)" sh -c 'wc -l </tmp/ledger 2>/dev/null || echo 0'; }
grows() { # past N acknowledged writes
  [[ $(ledger_n) -gt $1 ]]
}
wait_for 20 "the writer's first writes" grows 10
ready_in() { [[ "$(incluster "http://$1:8787/readyz")" == ready ]]; }
for s in edge1 edge2 edge3 origin; do
  before=$(ledger_n)
  EDGEKV_IMAGE=edgekv:$next dc up -d --no-deps "$s" >"$work/up-$s.log" 2>&1 ||
    { cat "$work/up-$s.log" >&2; fail "replacing $s"; }
  # Ready (asked over the network every 0.5 s) implies healthy, and comes
  # sooner than Docker's health check interval.
  wait_for 60 "$s ready on edgekv:$next" ready_in "$s"
  [[ "$(status_of "$s" | jq -r .version)" == "$v_new" ]] || fail "$s does not report $v_new"
  if [[ $s == origin ]]; then
    for e in edge1 edge2 edge3; do wait_for 30 "$e ready again after the origin's upgrade" ready_in "$e"; done
  fi
  wait_for 20 "writes flowing after $s" grows $((before + 10))
  echo "   $s now runs $(docker inspect -f '{{.Config.Image}}' "$(cid "$s")"), version $v_new; ledger $(ledger_n) writes"
  # Mixed versions while edges go first: the old origin lists them as they are.
  case $s in
  edge1) wait_for 20 "the origin lists edge1 at $v_new" builds_are "$v_new" "$v_old" "$v_old" ;;
  edge2) wait_for 20 "the origin lists edge2 at $v_new" builds_are "$v_new" "$v_new" "$v_old" ;;
  edge3) wait_for 20 "the origin lists edge3 at $v_new" builds_are "$v_new" "$v_new" "$v_new" ;;
  esac
  if [[ $s == edge1 ]]; then
    [[ "$(status_of edge1 | jq -r .replication.upstream_version)" == "$v_old" ]] ||
      fail "edge1 ($v_new) does not see the origin at $v_old"
    echo "   origin ($v_old) lists: $(status_of origin | jq -c '[.replication.edges[] | select(.connected) | {node_id, version, protocol}]')"
  fi
done
upstream_new() { [[ "$(status_of "$1" | jq -r .replication.upstream_version)" == "$v_new" ]]; }
for e in edge1 edge2 edge3; do wait_for 20 "$e sees the origin at $v_new" upstream_new "$e"; done
metric_of origin edgekv_build_info "version=\"$v_new\"" | grep -c '^1$' >/dev/null ||
  fail "the origin's edgekv_build_info does not show $v_new"
echo "   origin ($v_new) lists: $(status_of origin | jq -c '[.replication.edges[] | select(.connected) | {node_id, version, protocol}]')"
docker exec "$(cid prometheus)" touch /tmp/stop
writer_done() { docker exec "$(cid prometheus)" test -e /tmp/writer.done; }
wait_for 20 "the writer to stop" writer_done
docker exec "$(cid prometheus)" cat /tmp/ledger | sort >"$work/ledger"
n_acked=$(wc -l <"$work/ledger")
keys_of() { # SERVICE PREFIX: every key of the namespace with that prefix, sorted
  local url="http://$(hostport "$1" 8787)$base/$ns/keys?prefix=$2&limit=1000" cursor="" page
  while :; do
    page=$(curl -sf -H "Authorization: Bearer $T" "$url${cursor:+&cursor=$cursor}") || return 1
    jq -r '.result[].name' <<<"$page"
    cursor=$(jq -r '.result_info.cursor // empty' <<<"$page")
    [[ -n $cursor ]] || break
  done | sort
}
all_present() { # SERVICE: every acknowledged write is there
  keys_of "$1" up >"$work/keys-$1"
  [[ -z "$(comm -23 "$work/ledger" "$work/keys-$1")" ]]
}
for s in origin edge1 edge2 edge3; do
  wait_for 20 "every acknowledged write at $s" all_present "$s"
  [[ "$(docker inspect -f '{{.Config.Image}}' "$(cid "$s")")" == "edgekv:$next" ]] || fail "$s not upgraded"
  echo "   $s: all $n_acked acknowledged writes present ($(wc -l <"$work/keys-$s") up* keys)"
done
[[ $n_acked -ge 40 ]] || fail "only $n_acked writes acknowledged during the upgrade"
done_step

# ---- backup of the live origin, restored into a fresh origin ---------------------------
step "backup of the live origin over HTTP, restored into a fresh origin container"
net=${proj}_edgekv
vol_bk=${proj}_backup
docker volume create "$vol_bk" >/dev/null
# The backup is taken in the network by a one-off container of the image.
docker run --rm --user 0:0 --network "$net" -v "$vol_bk:/backup" "edgekv:$next" \
  backup --url http://origin:8787 --token "$T" --account "$A" --out /backup/b1 >"$work/backup.log" 2>&1 ||
  { cat "$work/backup.log" >&2; fail "edgekv backup"; }
tail -2 "$work/backup.log" | sed 's/^/   backup: /'
history0=$(curl -sf -H "Authorization: Bearer $T" "http://$(hostport origin 8787)/status" | jq -r .replication.history_id)
digest_bk=$(digest origin)
# A write after the backup: the restored origin must not have it.
e1=http://$(hostport edge1 8787) # edge1 was replaced: a new host port
curl -sf -X PUT "$e1$base/$ns/values/after-backup" -H "Authorization: Bearer $T" --data-binary x \
  >/dev/null || fail "a write after the backup"
# A fresh origin: the container removed and its data volume emptied, the
# backup restored into it, a new origin container started on it (same
# name, same certificates).
dc stop origin >/dev/null 2>&1
dc rm -f origin >/dev/null 2>&1
docker run --rm --user 0:0 -v "${proj}_data-origin:/var/lib/edgekv" -v "$vol_bk:/backup:ro" \
  --entrypoint /bin/sh "edgekv:$next" -ec \
  'find /var/lib/edgekv -mindepth 1 -delete
   edgekv restore --from /backup/b1 --data /var/lib/edgekv
   chown -R 10001:10001 /var/lib/edgekv' >"$work/restore.log" 2>&1 ||
  { cat "$work/restore.log" >&2; fail "edgekv restore"; }
tail -1 "$work/restore.log" | sed 's/^/   restore: /'
since=$(date -u +%Y-%m-%dT%H:%M:%S)
EDGEKV_IMAGE=edgekv:$next dc up -d --no-deps origin >"$work/up-o2.log" 2>&1 ||
  { cat "$work/up-o2.log" >&2; fail "starting the restored origin"; }
wait_for 60 "the restored origin ready" ready_in origin
history1=$(curl -sf -H "Authorization: Bearer $T" "http://$(hostport origin 8787)/status" | jq -r .replication.history_id)
[[ $history1 =~ ^[0-9a-f]{32}$ && $history1 != "$history0" ]] ||
  fail "the restored origin's history $history1 (was $history0)"
echo "   history $history0 -> $history1"
on_history() { # SERVICE HISTORY
  curl -sf -H "Authorization: Bearer $T" "http://$(hostport "$1" 8787)/status" |
    jq -e --arg h "$2" '.replication.history_id == $h and .replication.link == "live"'
}
snapshotted() { docker logs --since "$since" "$(cid "$1")" 2>&1 | grep -c "restored from a backup of this replica's history" >/dev/null; }
same_as_origin() { [[ "$(digest origin)" == "$(digest "$1")" ]]; }
[[ "$(digest origin)" == "$digest_bk" ]] || fail "the restored origin's data is not the backup's"
for s in edge1 edge2 edge3; do
  wait_for 60 "$s on the new history" on_history "$s" "$history1"
  wait_for 10 "$s took a snapshot of it" snapshotted "$s"
  wait_for 30 "$s equal to the restored origin" same_as_origin "$s"
  docker logs --since "$since" "$(cid "$s")" 2>&1 | awk '/restored from a backup/ && !n++' | sed "s/^/   $s log: /"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T" "$e1$base/$ns/values/after-backup")
[[ $code == 404 ]] || fail "the write after the backup is still at edge1 (HTTP $code)"
echo "   digest (origin = edge1..3 = the backup's): $(digest origin | head -c 64)"
done_step
