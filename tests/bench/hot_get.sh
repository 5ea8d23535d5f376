#!/usr/bin/env bash
# Read benchmark: edgekv GET of a 100-byte value vs nginx and h2o serving the
# same 100 bytes as a static file, with identical wrk settings; and the same
# over HTTPS: edgekv's HTTPS port vs nginx with the same certificate and key.
# See tests/bench/README.md for what each row measures and how to read it.
#   tests/bench/hot_get.sh
# Env: EDGEKV_BENCH_SECONDS (10) wrk duration per scenario
#      EDGEKV_BENCH_THREADS (2)  edgekv --threads
#      EDGEKV_BENCH_WARMUP  (1)  seconds of untimed wrk before each scenario
#      EDGEKV_BENCH_OUT          JSON result file (default $TMPDIR/edgekv-hot_get.json)
#      EDGEKV_BENCH_NGINX_WORKERS (1) nginx worker_processes
#      EDGEKV_BENCH_H2O_THREADS (2) h2o num-threads
#      EDGEKV_BIN                use this binary instead of building
#      EDGEKV_BENCH_TIMEOUT      hard limit for the whole run, seconds
# Exit 0 when every scenario ran and returned the right bytes; speed is not
# asserted.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_DIR="$REPO/tests/bench"
SECS=${EDGEKV_BENCH_SECONDS:-10}
NTHREADS=${EDGEKV_BENCH_THREADS:-2}
WARMUP=${EDGEKV_BENCH_WARMUP:-1}
NKEYS=100000       # distinct keys for the miss scenario
NFILES=10000       # static files for nginx's random-file baseline
BULK=10000         # items per bulk PUT (the API maximum)
NGINX_WORKERS=${EDGEKV_BENCH_NGINX_WORKERS:-1}
H2O_THREADS=${EDGEKV_BENCH_H2O_THREADS:-2}
WRK_ARGS=(-t2 -c50 --latency)

log() { echo "hot_get: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

"$REPO/deploy/install-deps.sh" --bench
for c in wrk nginx h2o curl jq awk cmp; do
  command -v "$c" >/dev/null || die "missing command $c"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edgekv-bench.XXXXXX")
OUT=${EDGEKV_BENCH_OUT:-${TMPDIR:-/tmp}/edgekv-hot_get.json}
EDGE_PID="" NGINX_PID="" H2O_PID="" WD_PID="" WRK_PID=""

# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh" # stop_pid, start_watchdog, hex
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$WRK_PID"
  stop_pid "$EDGE_PID"
  stop_pid "$NGINX_PID"
  stop_pid "$H2O_PID"
  if [[ -n "$WD_PID" ]]; then kill -TERM "$WD_PID" 2>/dev/null || true; wait "$WD_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$TMP"/edgekv*.log "$TMP"/nginx/error.log "$TMP"/h2o/error.log; do
      [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 20 "$f" >&2; }
    done
  fi
  # Keep the JSON if it was asked for outside the temp dir.
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Watchdog: the whole run is bounded (9 wrk scenarios + setup).
LIMIT=${EDGEKV_BENCH_TIMEOUT:-$((600 + 10 * (SECS + WARMUP + 5)))}
start_watchdog "$LIMIT" hot_get

free_port() { # a TCP port on 127.0.0.1 that no socket uses, outside the ephemeral range
  local p i lo=32768 hi=60999 base span
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if ((lo > 11000)); then base=10000 span=$((lo - 10000)); else base=$((hi + 1)) span=$((65535 - hi)); fi
  for ((i = 0; i < 200; i++)); do
    p=$((base + RANDOM % span))
    [[ "$p" == "${1:-}" ]] && continue
    if command -v ss >/dev/null; then
      [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]] || continue
    fi
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# ---- build -----------------------------------------------------------------------------
if [[ -n "${EDGEKV_BIN:-}" ]]; then
  BIN=$EDGEKV_BIN
else
  log "building"
  bdir=$(cd "$REPO" && deploy/build.sh | tail -n1)
  [[ "$bdir" == /* ]] || bdir="$REPO/$bdir"
  BIN="$bdir/node/edgekv"
fi
[[ -x "$BIN" ]] || die "no edgekv binary at $BIN"

# ---- data --------------------------------------------------------------------------------
# Value of key kNNNNNN: exactly 100 printable bytes, derived from the key.
value_awk='function val(k,   s) { s = k ":"; while (length(s) < 100) s = s "abcdefghijklmnopqrstuvwxyz0123456789"; return substr(s, 1, 100) }'
mkdir -p "$TMP/www/r" "$TMP/bulk" "$TMP/nginx" "$TMP/h2o"

# One server certificate for both HTTPS servers (edgekv's and nginx's), from a
# private CA the checks below trust (curl --cacert); wrk does not verify.
"$BIN" certs init --dir "$TMP/certs" --edges 0 >/dev/null || die "certs init"
"$BIN" certs api --dir "$TMP/certs" --name api --host localhost --host 127.0.0.1 >/dev/null || die "certs api"
CERT=$TMP/certs/api.crt KEY=$TMP/certs/api.key CACERT=(--cacert "$TMP/certs/ca.crt")
awk 'BEGIN { s = "hot-value:"; while (length(s) < 100) s = s "0123456789"; printf "%s", substr(s, 1, 100) }' >"$TMP/www/hot"
[[ $(wc -c <"$TMP/www/hot") -eq 100 ]] || die "hot value is not 100 bytes"
awk -v n="$NKEYS" -v b="$BULK" -v dir="$TMP/bulk" "$value_awk"'
  BEGIN {
    for (i = 1; i <= n; i++) {
      f = sprintf("%s/%03d.json", dir, int((i - 1) / b))
      k = sprintf("k%06d", i)
      printf "%s{\"key\":\"%s\",\"value\":\"%s\"}", ((i - 1) % b ? "," : "["), k, val(k) > f
      if (i % b == 0 || i == n) { printf "]" > f; close(f) }
    }
  }'
awk -v n="$NFILES" -v dir="$TMP/www/r" "$value_awk"'
  BEGIN { for (i = 1; i <= n; i++) { k = sprintf("k%06d", i); f = dir "/" k; printf "%s", val(k) > f; close(f) } }'
expect() { awk -v k="$1" "$value_awk"' BEGIN { printf "%s", val(k) }'; }

# ---- edgekv --------------------------------------------------------------------------------
TOKEN=$(hex 16)
ACCT=$(hex 16)
EPORT=$(free_port) || die "no free port"
EBASE="http://127.0.0.1:$EPORT"
AUTH="Authorization: Bearer $TOKEN"
CURL=(curl -sS --max-time 60)

start_edgekv() { # start_edgekv LOGNAME [extra flags...]
  local name=$1 i
  shift
  "$BIN" origin --listen "127.0.0.1:$EPORT" --data "$TMP/data" --token "$TOKEN" \
    --account "$ACCT" --sync off --threads "$NTHREADS" "$@" >"$TMP/$name.log" 2>&1 &
  EDGE_PID=$!
  for ((i = 0; i < 300; i++)); do
    kill -0 "$EDGE_PID" 2>/dev/null || die "edgekv exited at startup"
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "$AUTH" \
      "$EBASE/client/v4/accounts/$ACCT/storage/kv/namespaces" 2>/dev/null) == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  die "edgekv did not answer within 30 s"
}

log "starting edgekv on port $EPORT and HTTPS on a free port (--threads $NTHREADS)"
start_edgekv edgekv --https-listen 127.0.0.1:0 --https-cert "$CERT" --https-key "$KEY"
# Port 0: the kernel's free port, read from the banner (printed before the node answers).
ESPORT=$(sed -n 's|.*serving https://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/edgekv.log" | head -1)
[[ -n "$ESPORT" ]] || die "edgekv printed no https port"
ESBASE="https://127.0.0.1:$ESPORT"
NSJSON=$("${CURL[@]}" -X POST -H "$AUTH" -H 'Content-Type: application/json' -d '{"title":"bench"}' \
  "$EBASE/client/v4/accounts/$ACCT/storage/kv/namespaces")
NS=$(jq -er 'select(.success == true) | .result.id' <<<"$NSJSON") || die "create namespace: $NSJSON"
VALS="$EBASE/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values"
SVALS="$ESBASE/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values"

r=$("${CURL[@]}" -X PUT -H "$AUTH" --data-binary @"$TMP/www/hot" "$VALS/hot")
jq -e '.success == true' <<<"$r" >/dev/null || die "put hot: $r"
log "loading $NKEYS keys (bulk of $BULK)"
for f in "$TMP"/bulk/*.json; do
  r=$("${CURL[@]}" -X PUT -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$f" \
    "$EBASE/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/bulk")
  jq -e '.success == true' <<<"$r" >/dev/null || die "bulk put $f: $(head -c 300 <<<"$r")"
done

check_bytes() { # check_bytes WHAT EXPECTED_FILE CURL_ARGS...
  local what=$1 want=$2 got="$TMP/got"
  shift 2
  code=$("${CURL[@]}" -o "$got" -w '%{http_code}' "$@") || die "$what: request failed"
  [[ "$code" == 200 ]] || die "$what: HTTP $code"
  cmp -s "$want" "$got" || die "$what: wrong bytes"
}
check_keys() { # a few of the bulk-loaded keys, REST path
  local k
  for k in k000001 k000002 k050000 k099999 k100000; do
    expect "$k" >"$TMP/want"
    check_bytes "REST GET $k" "$TMP/want" -H "$AUTH" "$VALS/$k"
  done
}
check_bytes "REST GET hot" "$TMP/www/hot" -H "$AUTH" "$VALS/hot"
check_bytes "binding GET hot" "$TMP/www/hot" -H "$AUTH" -H "X-EdgeKV-Namespace: $NS" "$EBASE/hot?urlencoded=true"
check_bytes "REST GET hot over HTTPS" "$TMP/www/hot" "${CACERT[@]}" -H "$AUTH" "$SVALS/hot"
check_keys

# ---- nginx ---------------------------------------------------------------------------------
NPORT=$(free_port "$EPORT") || die "no free port"
NBASE="http://127.0.0.1:$NPORT"
NSPORT=$(free_port "$EPORT") || die "no free port"
[[ "$NSPORT" != "$NPORT" ]] || NSPORT=$(free_port "$NPORT") || die "no free port"
NSBASE="https://127.0.0.1:$NSPORT"
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user root;"
cat >"$TMP/nginx/nginx.conf" <<EOF
$user_line
worker_processes $NGINX_WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    location / { root $TMP/www; }
  }
  # The same files over HTTPS with edgekv's certificate and key, and the TLS
  # versions edgekv offers (nginx 1.22 leaves TLS 1.3 off by default); nginx's
  # cipher choice otherwise, as edgekv uses its own (both printed below).
  server {
    listen 127.0.0.1:$NSPORT ssl;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { root $TMP/www; }
  }
}
EOF
log "starting nginx on port $NPORT"
nginx -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
# wait_peer NAME PID BASE: until the peer serves /hot (10 s), then check its bytes.
wait_peer() {
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || die "$1 exited at startup"
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$3/hot" 2>/dev/null) == 200 ]] && break
    sleep 0.1
  done
  check_bytes "$1 GET hot" "$TMP/www/hot" "$3/hot"
  expect k000042 >"$TMP/want"
  check_bytes "$1 GET r/k000042" "$TMP/want" "$3/r/k000042"
}
wait_peer nginx "$NGINX_PID" "$NBASE"
check_bytes "nginx GET hot over HTTPS" "$TMP/www/hot" "${CACERT[@]}" "$NSBASE/hot"
# What each HTTPS server negotiates with an OpenSSL client (curl; wrk uses OpenSSL too).
tls_of() { curl -sS -o /dev/null -v "${CACERT[@]}" "$@" 2>&1 | sed -n 's/.*SSL connection using \(.*\)$/\1/p' | head -1; }
EDGE_TLS=$(tls_of -H "$AUTH" "$SVALS/hot")
NGINX_TLS=$(tls_of "$NSBASE/hot")

# ---- h2o -----------------------------------------------------------------------------------
# The same directory; num-threads workers in one process. No access-log directive: h2o
# then writes none. As root, h2o would switch to nobody, who cannot read the mktemp dir.
HPORT=$(free_port "$EPORT") || die "no free port"
[[ "$HPORT" != "$NPORT" ]] || HPORT=$(free_port "$NPORT") || die "no free port"
HBASE="http://127.0.0.1:$HPORT"
h2o_user=""
[[ $(id -u) -eq 0 ]] && h2o_user="user: root"
cat >"$TMP/h2o/h2o.conf" <<EOF
$h2o_user
num-threads: $H2O_THREADS
error-log: $TMP/h2o/error.log
listen:
  host: 127.0.0.1
  port: $HPORT
hosts:
  default:
    paths:
      /:
        file.dir: $TMP/www
EOF
log "starting h2o on port $HPORT (num-threads $H2O_THREADS)"
h2o -c "$TMP/h2o/h2o.conf" >"$TMP/h2o/stdout.log" 2>&1 &
H2O_PID=$!
wait_peer h2o "$H2O_PID" "$HBASE"

# ---- wrk -------------------------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process and its direct children (nginx workers)
  local p t=0 x
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    x=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || x=0
    t=$((t + ${x:-0}))
  done
  echo "$t"
}
to_ms() { # 1.23ms / 456.00us / 1.20s / 2.00m -> ms
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    else if (u != "ms") { print "?"; exit }
    printf "%.3f", n }'
}
declare -A RPS P99 CPU
wrk_bg() { # wrk in the background so a signal interrupts the wait; killed by PID on exit
  local rc=0
  wrk "$@" &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return $rc
}
run_wrk() { # run_wrk NAME SERVER_PID wrk-args...
  local name=$1 pid=$2 out="$TMP/wrk.$1.txt" t0 t1 non2xx bad
  shift 2
  if [[ "$WARMUP" != 0 ]]; then
    wrk_bg "${WRK_ARGS[@]}" -d"${WARMUP}s" "$@" >/dev/null 2>&1 || die "$name: wrk warm-up failed"
  fi
  t0=$(cpu_ticks "$pid")
  wrk_bg "${WRK_ARGS[@]}" -d"${SECS}s" "$@" >"$out" 2>&1 || { cat "$out" >&2; die "$name: wrk failed"; }
  t1=$(cpu_ticks "$pid")
  kill -0 "$pid" 2>/dev/null || die "$name: server died during the run"
  echo "== $name" >&2
  sed 's/^/   /' "$out" >&2
  RPS[$name]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  CPU[$name]=$(awk -v d=$((t1 - t0)) -v hz="$CLK" -v s="$SECS" 'BEGIN { printf "%.0f", 100 * d / hz / s }')
  [[ -n "${RPS[$name]}" && "${P99[$name]}" != "?" ]] || die "$name: cannot parse wrk output"
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  [[ -z "$non2xx" || "$non2xx" == 0 ]] || die "$name: $non2xx non-2xx responses"
  bad=$(awk '/^miss.lua: bad responses/ { print $NF }' "$out")
  [[ -z "$bad" || "$bad" == 0 ]] || die "$name: $bad responses with a wrong status or size"
}

NG_HOT="nginx static"
H2_HOT="h2o static"
NG_RND="nginx static random ($NFILES files)"
H2_RND="h2o static random ($NFILES files)"
ED_REST="edgekv REST hot GET"
ED_BIND="edgekv binding hot GET"
ED_MISS="edgekv REST miss (cache off)"
NG_TLS="nginx static (https)"
ED_TLS="edgekv REST hot GET (https)"
HTTPS_TARGET=1.5 # edgekv's HTTPS req/s >= 1.5 x nginx's: reported, not asserted

run_wrk "$NG_HOT" "$NGINX_PID" "$NBASE/hot"
run_wrk "$H2_HOT" "$H2O_PID" "$HBASE/hot"
run_wrk "$ED_REST" "$EDGE_PID" -H "$AUTH" "$VALS/hot"
run_wrk "$ED_BIND" "$EDGE_PID" -H "$AUTH" -H "X-EdgeKV-Namespace: $NS" "$EBASE/hot?urlencoded=true"
run_wrk "$NG_TLS" "$NGINX_PID" "$NSBASE/hot"
run_wrk "$ED_TLS" "$EDGE_PID" -H "$AUTH" "$SVALS/hot"
run_wrk "$NG_RND" "$NGINX_PID" -s "$BENCH_DIR/miss.lua" "$NBASE/" -- "/r/" "$NFILES" 100
run_wrk "$H2_RND" "$H2O_PID" -s "$BENCH_DIR/miss.lua" "$HBASE/" -- "/r/" "$NFILES" 100

log "restarting edgekv with --cache-bytes 0"
stop_pid "$EDGE_PID"
EDGE_PID=""
start_edgekv edgekv-nocache --cache-bytes 0
check_keys
run_wrk "$ED_MISS" "$EDGE_PID" -H "$AUTH" -s "$BENCH_DIR/miss.lua" "$EBASE/" \
  -- "/client/v4/accounts/$ACCT/storage/kv/namespaces/$NS/values/" "$NKEYS" 100

# ---- report ----------------------------------------------------------------------------------
# Every row against both peers' baseline of its kind: the hot rows against each peer's one
# file, the miss row against each peer's random files. A peer's own row is 1.00 in its column
# and, in the other peer's, the ratio of the two peers. The HTTPS rows have nginx over HTTPS
# as their one baseline (h2o is not run over HTTPS: "-").
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rows=("$NG_HOT|$NG_HOT|$H2_HOT" "$H2_HOT|$NG_HOT|$H2_HOT" "$ED_REST|$NG_HOT|$H2_HOT" "$ED_BIND|$NG_HOT|$H2_HOT"
  "$NG_RND|$NG_RND|$H2_RND" "$H2_RND|$NG_RND|$H2_RND" "$ED_MISS|$NG_RND|$H2_RND"
  "$NG_TLS|$NG_TLS|" "$ED_TLS|$NG_TLS|")
NGINX_VER=$(nginx -v 2>&1 | sed -n 's|.*nginx/||p')
H2O_VER=$(h2o --version | awk 'NR == 1 { print $3 }')
json="[]"
echo
echo "wrk ${WRK_ARGS[*]} -d${SECS}s; edgekv --threads $NTHREADS --sync off; nginx $NGINX_VER worker_processes $NGINX_WORKERS;" \
  "h2o $H2O_VER num-threads $H2O_THREADS; $(nproc) CPUs"
printf '%-34s | %10s | %8s | %14s | %12s | %s\n' scenario "req/s" "p99 ms" "ratio to nginx" "ratio to h2o" "server CPU %"
for row in "${rows[@]}"; do
  IFS='|' read -r name base hbase <<<"$row"
  r=$(ratio "${RPS[$name]}" "${RPS[$base]}")
  rh=-
  [[ -n "$hbase" ]] && rh=$(ratio "${RPS[$name]}" "${RPS[$hbase]}")
  printf '%-34s | %10.0f | %8.3f | %14s | %12s | %s\n' "$name" "${RPS[$name]}" "${P99[$name]}" "$r" "$rh" "${CPU[$name]}"
  json=$(jq -c --arg s "$name" --arg b "$base" --arg hb "$hbase" --argjson rps "${RPS[$name]}" \
    --argjson p99 "${P99[$name]}" --argjson ratio "$r" --arg rh "$rh" --argjson cpu "${CPU[$name]}" \
    '. + [{scenario: $s, req_per_s: $rps, p99_ms: $p99, baseline: $b, ratio_req_per_s: $ratio,
           baseline_h2o: (if $hb == "" then null else $hb end),
           ratio_h2o_req_per_s: (if $rh == "-" then null else ($rh | tonumber) end), server_cpu_pct: $cpu}]' <<<"$json")
done
TLS_RATIO=$(ratio "${RPS[$ED_TLS]}" "${RPS[$NG_TLS]}")
echo "HTTPS: edgekv $EDGE_TLS, nginx $NGINX_TLS (same certificate and key);" \
  "edgekv/nginx req/s $TLS_RATIO (target >= $HTTPS_TARGET, not asserted)"
jq -n --argjson rows "$json" --argjson threads "$NTHREADS" --argjson ngw "$NGINX_WORKERS" --argjson h2t "$H2O_THREADS" \
  --argjson cpus "$(nproc)" --arg wrk "${WRK_ARGS[*]} -d${SECS}s" --arg ngv "$NGINX_VER" --arg h2v "$H2O_VER" \
  --arg etls "$EDGE_TLS" --arg ntls "$NGINX_TLS" --argjson tr "$TLS_RATIO" --argjson tt "$HTTPS_TARGET" \
  '{benchmark: "hot_get", wrk: $wrk, edgekv_threads: $threads, nginx_workers: $ngw, nginx_version: $ngv,
    h2o_threads: $h2t, h2o_version: $h2v, cpus: $cpus, value_bytes: 100, results: $rows,
    https: {edgekv_tls: $etls, nginx_tls: $ntls, ratio_req_per_s: $tr, target_ratio: $tt}}' >"$OUT"
echo
echo "JSON: $OUT"
