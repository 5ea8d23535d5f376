#!/usr/bin/env bash
# test_k8s.sh - deploy/k8s without a cluster: every object validated against
# the Kubernetes schema (the kubernetes-models npm package, installed once
# into $EDGEKV_K8S_TOOLS, default ~/.cache/edgekv-k8s; `kubectl apply
# --dry-run=client` is no help offline: it asks the API server for its
# resource types), and the manifests against the binary (k8s_check.mjs):
# every flag known to `edgekv ROLE --help`, ports, probe paths a real node
# answers, volumes, Services and the PodDisruptionBudget. Skipped with a
# message when node or npm is missing or the package cannot be installed.
source "$(dirname "$0")/../process/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
K8S="$HERE/../../deploy/k8s"
TOOLS=${EDGEKV_K8S_TOOLS:-$HOME/.cache/edgekv-k8s}

# Which paths a node answers without a token (a probe gets no token): a
# lone origin and an edge without its origin, so both answers of /readyz.
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
start_node origin --data "$TMP/origin"
OPORT=$PORT
reserve_port
start_role edge1 edge --data "$TMP/edge1" --certs "$CERTS" --name edge1 --origin "127.0.0.1:$RESERVED"
EPORT=$PORT
probes=()
for p in /healthz /readyz /livez /status; do
  o=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OPORT$p")
  e=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$EPORT$p")
  echo "    $p: origin $o, edge without its origin $e"
  if [[ $o =~ ^(200|503)$ && $e =~ ^(200|503)$ ]]; then probes+=("$p"); fi
done
check "the probe paths a node answers without a token" "/healthz /readyz" "${probes[*]}"
check "/readyz: the origin ready, the edge without its origin not" "200 503" \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OPORT/readyz") $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$EPORT/readyz")"
# The stop drains (--drain-ms), then in-flight requests get the shutdown
# grace: the kubelet's SIGKILL must come after both.
for m in "$K8S"/origin.yaml "$K8S"/edge.yaml; do
  drain=$(sed -n 's/^ *- --drain-ms=\([0-9]*\)$/\1/p' "$m")
  grace_s=$(sed -n 's/^ *terminationGracePeriodSeconds: \([0-9]*\)$/\1/p' "$m")
  check "$(basename "$m"): a drain is configured (--drain-ms)" 1 "$([[ $drain =~ ^[0-9]+$ && $drain -gt 0 ]] && echo 1 || echo 0)"
  check "$(basename "$m"): terminationGracePeriodSeconds ${grace_s} covers --drain-ms ${drain:-?} + KV_SHUTDOWN_GRACE_MS" 1 \
    "$((${grace_s:-0} * 1000 >= ${drain:-0} + $(limit KV_SHUTDOWN_GRACE_MS) ? 1 : 0))"
done
mkdir -p "$TMP/help"
"$EDGEKV" origin --help >"$TMP/help/origin.help"
"$EDGEKV" edge --help >"$TMP/help/edge.help"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "skip - node and npm are needed to validate the manifests (Debian: nodejs, npm)"
  finish
  exit $?
fi
if [[ ! -d $TOOLS/node_modules/kubernetes-models || ! -d $TOOLS/node_modules/js-yaml ]]; then
  mkdir -p "$TOOLS"
  cp "$HERE/k8s_package.json" "$TOOLS/package.json"
  if ! (cd "$TOOLS" && timeout 300 npm install --no-audit --no-fund --silent >"$TMP/npm.log" 2>&1); then
    echo "skip - npm could not install kubernetes-models into $TOOLS:"; tail -5 "$TMP/npm.log"
    finish
    exit $?
  fi
fi
# The checker runs from the tools directory, where its packages resolve.
cp "$HERE/k8s_check.mjs" "$TOOLS/k8s_check.mjs"
set +e
(cd "$TOOLS" && node k8s_check.mjs "$TMP/help" "$(IFS=,; echo "${probes[*]}")" "$K8S"/*.yaml) >"$TMP/k8s.out" 2>&1
rc=$?
set -e
sed 's/^/    /' "$TMP/k8s.out"
check "k8s_check.mjs: the manifests are valid and match the binary ($(tail -1 "$TMP/k8s.out"))" 0 "$rc"
# The checker must be able to fail: a flag the binary lacks, a probe path it
# does not answer and a port type the schema refuses, in a broken copy.
mkdir -p "$TMP/broken"
sed 's/--propagation-bound-ms=1000/--propagation-bound=1000/; s|path: /readyz|path: /ready|; s/containerPort: 8787}/containerPort: "8787"}/' \
  "$K8S/edge.yaml" >"$TMP/broken/edge.yaml"
(cd "$TOOLS" && node k8s_check.mjs "$TMP/help" "$(IFS=,; echo "${probes[*]}")" "$TMP/broken/edge.yaml") >"$TMP/broken.out" 2>&1 || true
for want in "--propagation-bound is a flag of edgekv edge" "readinessProbe /ready is answered" "containerPort must be integer"; do
  if grep -q "FAIL.*$want" "$TMP/broken.out"; then ok "a broken copy fails: $want"
  else bad "a broken copy should fail on: $want"; fi
done
finish
