#!/usr/bin/env bash
# test_systemd.sh - deploy/systemd: install.sh lays out a temporary root
# (user, directories, sample configuration, units; idempotent), the units
# pass `systemd-analyze verify` (their ExecStart pointed at the installed
# binary; a broken copy must fail, so the check can fail), LimitNOFILE
# covers the node's descriptor budget, every flag of ExecStart is one the
# binary knows, and the sample configurations start a real origin and edge.
#
# The sandbox: no systemd runs here (PID 1 is not systemd), so the units'
# sandbox cannot be started for real. Instead the nodes run as the user
# install.sh made (its uid and gid in the temporary root) with no capabilities and no_new_privs (setpriv: what User=,
# CapabilityBoundingSet= and NoNewPrivileges= leave them), under strace,
# while they serve, replicate, notify (a fake NOTIFY_SOCKET), reload on
# SIGHUP and stop; syscalls.py then checks every system call against the
# unit's SystemCallFilter= (expanded by this host's systemd-analyze), every
# socket family against RestrictAddressFamilies=, and every mapping against
# MemoryDenyWriteExecute=yes. Without strace or setpriv that part is
# skipped with a message.
source "$(dirname "$0")/../process/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SYSTEMD_DIR="$HERE/../../deploy/systemd"
ROOT=$TMP/root

# ---- install.sh ------------------------------------------------------------------------
out=$(bash "$SYSTEMD_DIR/install.sh" --root "$ROOT" --bin "$EDGEKV" --edge edge1 2>&1) ||
  bad "install.sh failed: $out"
check "install.sh creates the user" 1 "$(grep -c '^edgekv:' "$ROOT/etc/passwd")"
check "the user has no login shell" /usr/sbin/nologin "$(awk -F: '$1 == "edgekv" {print $7}' "$ROOT/etc/passwd")"
check "the binary is installed" 1 "$([[ -x $ROOT/usr/local/bin/edgekv ]] && echo 1)"
check "/var/lib/edgekv is 0700 and the user's" "700 edgekv" \
  "$(stat -c '%a %u' "$ROOT/var/lib/edgekv" | awk -v f="$ROOT/etc/passwd" '{u=$2; while ((getline l < f) > 0) {split(l, p, ":"); if (p[3] == u) u = p[1]} print $1, u}')"
check "the sample configuration is not world-readable" 640 "$(stat -c %a "$ROOT/etc/edgekv/origin.json")"
for u in edgekv-origin.service edgekv-edge@.service; do
  check "$u installed" 1 "$([[ -f $ROOT/etc/systemd/system/$u ]] && echo 1)"
done
echo '{"listen": "127.0.0.1:9999"}' >"$ROOT/etc/edgekv/origin.json"
out=$(bash "$SYSTEMD_DIR/install.sh" --root "$ROOT" --bin "$EDGEKV" --edge edge1 2>&1)
check "a second run keeps the user and the edited configuration" "0 kept" \
  "$(grep -c 'user edgekv created' <<<"$out") $(grep -o '^kept' <<<"$out" | head -1)"
rm -rf "$ROOT"
bash "$SYSTEMD_DIR/install.sh" --root "$ROOT" --bin "$EDGEKV" --edge edge1 >/dev/null

# ---- systemd-analyze verify ------------------------------------------------------------
# ExecStart must name an existing binary: the units are verified with it
# pointed at the one install.sh put in the temporary root.
UNITS=$TMP/units
mkdir -p "$UNITS"
for u in edgekv-origin.service edgekv-edge@.service; do
  sed "s|/usr/local/bin/edgekv|$ROOT/usr/local/bin/edgekv|" "$ROOT/etc/systemd/system/$u" >"$UNITS/$u"
done
if command -v systemd-analyze >/dev/null; then
  set +e
  out=$(systemd-analyze verify "$UNITS/edgekv-origin.service" "$UNITS/edgekv-edge@edge1.service" 2>&1)
  rc=$?
  set -e
  check "systemd-analyze verify: exit 0 and nothing to say" "0 []" "$rc [$out]"
  sed 's/^Type=notify/Type=notfy/; s/^ProtectSystem=strict/ProtectSystem=strictest/' \
    "$UNITS/edgekv-origin.service" >"$UNITS/broken.service"
  out=$(systemd-analyze verify "$UNITS/broken.service" 2>&1 || true)
  check "systemd-analyze verify finds a broken copy's mistakes" 2 "$(grep -c 'Failed to parse' <<<"$out")"
  score=$(systemd-analyze security --offline=yes "$UNITS/edgekv-origin.service" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
  if awk -v s="$score" 'BEGIN {exit !(s != "" && s <= 2.0)}'; then
    ok "systemd-analyze security: exposure $score (at most 2.0)"
  else
    bad "systemd-analyze security: exposure [$score], expected at most 2.0"
  fi
else
  echo "skip - systemd-analyze not installed (Debian package systemd)"
fi

# ---- the units against the binary -----------------------------------------------------
for role in origin edge; do
  unit=$ROOT/etc/systemd/system/edgekv-$role.service
  [[ $role == edge ]] && unit=$ROOT/etc/systemd/system/edgekv-edge@.service
  "$EDGEKV" "$role" --help >"$TMP/help.$role"
  for f in $(sed -n 's/^ExecStart=//p' "$unit" | grep -o -- '--[a-z-]*'); do
    if grep -q -- "^  $f " "$TMP/help.$role"; then ok "edgekv-$role: $f is a flag of edgekv $role"
    else bad "edgekv-$role: $f is not a flag of edgekv $role"; fi
  done
  check "edgekv-$role: Type=notify" notify "$(sed -n 's/^Type=//p' "$unit")"
  check "edgekv-$role: ExecReload sends SIGHUP" '/bin/kill -HUP $MAINPID' "$(sed -n 's/^ExecReload=//p' "$unit")"
  # The stop drains (--drain-ms), then in-flight requests get the shutdown
  # grace: systemd's SIGKILL must come after both.
  drain=$(sed -n 's/^ExecStart=.*--drain-ms \([0-9]*\).*/\1/p' "$unit")
  stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
  check "edgekv-$role: a drain is configured (--drain-ms)" 1 "$([[ $drain =~ ^[0-9]+$ && $drain -gt 0 ]] && echo 1 || echo 0)"
  check "edgekv-$role: TimeoutStopSec ${stop_s}s covers --drain-ms ${drain:-?} + KV_SHUTDOWN_GRACE_MS" 1 \
    "$((${stop_s:-0} * 1000 >= ${drain:-0} + $(limit KV_SHUTDOWN_GRACE_MS) ? 1 : 0))"
  for key in $(jq -r 'keys[]' "$ROOT/etc/edgekv/$([[ $role == edge ]] && echo edge-edge1 || echo origin).json"); do
    if grep -q "(file: \"$key\")" "$TMP/help.$role"; then ok "sample $role config: $key is a file key"
    else bad "sample $role config: $key is not a file key of edgekv $role"; fi
  done
done

# ---- the sample configurations run; the sandbox's system calls ------------------------
CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
"$EDGEKV" certs api --dir "$CERTS" --name api >/dev/null
chmod 0755 "$TMP"
chmod -R a+rX "$CERTS"
mkdir -m 0777 "$TMP/run"
SANDBOX=0
SVC_UID=$(awk -F: '$1 == "edgekv" {print $3}' "$ROOT/etc/passwd")
SVC_GID=$(awk -F: '$1 == "edgekv" {print $4}' "$ROOT/etc/passwd")
if command -v strace >/dev/null && command -v setpriv >/dev/null && [[ $(id -u) -eq 0 ]] &&
  setpriv --reuid="$SVC_UID" --regid="$SVC_GID" --clear-groups --no-new-privs --inh-caps=-all \
    --bounding-set=-all true 2>/dev/null; then
  SANDBOX=1
else
  echo "skip - the sandbox check needs root, setpriv and strace (Debian packages util-linux, strace)"
fi
# A sanitizer build's runtime makes system calls of its own, and LeakSanitizer
# cannot run under ptrace: such a build runs as the service user untraced.
TRACE="strace -f -qq -o $TMP/run/trace.\$\$"
# grep -c reads all its input: with pipefail, grep -q could leave ldd a SIGPIPE
# and fail the pipeline although it matched.
if ldd "$EDGEKV" 2>/dev/null | grep -c 'libasan\|libubsan' >/dev/null; then
  TRACE=""
  if [[ $SANDBOX -eq 1 ]]; then echo "skip - a sanitizer build: the system calls are checked with a plain build only"; fi
fi
# A wrapper in place of the binary: as the service user, no capabilities, traced.
WRAP=$TMP/run/edgekv-sandboxed
cat >"$WRAP" <<EOF
#!/bin/sh
exec setpriv --reuid=$SVC_UID --regid=$SVC_GID --clear-groups --no-new-privs --inh-caps=-all \\
  --bounding-set=-all $TRACE "$EDGEKV" "\$@"
EOF
chmod 0755 "$WRAP"
[[ $SANDBOX -eq 1 ]] && REAL=$EDGEKV && EDGEKV=$WRAP

# The fake notify socket, so sd_notify's path is traced too.
python3 "$HERE/notify_listen.py" "$TMP/run/notify.sock" "$TMP/run/notify.log" &
LPID=$!
PIDS+=("$LPID")
wait_for "the notify socket" 10 test -S "$TMP/run/notify.sock"
chmod 0777 "$TMP/run/notify.sock"
export NOTIFY_SOCKET=$TMP/run/notify.sock

COMMON=(--account acctsystemd --token systemd-token-0123456789)
start_role origin origin --config "$ROOT/etc/edgekv/origin.json" --data "$TMP/run/origin" "${COMMON[@]}" \
  --listen 127.0.0.1:0 --repl-listen 127.0.0.1:0 --certs "$CERTS" \
  --https-listen 127.0.0.1:0 --https-cert "$CERTS/api.crt" --https-key "$CERTS/api.key"
OPID=$PID OPORT=$PORT RP=$REPL_PORT
start_role edge1 edge --config "$ROOT/etc/edgekv/edge-edge1.json" --name edge1 \
  --data "$TMP/run/edge1" --listen 127.0.0.1:0 --origin "127.0.0.1:$RP" --certs "$CERTS" "${COMMON[@]}"
EPID=$PID EPORT=$PORT
unset NOTIFY_SOCKET
ready() { [[ $(curl -s "http://127.0.0.1:$1/readyz") == ready ]]; }
wait_for "the edge ready" 30 ready "$EPORT" && ok "the sample configurations run an origin and an edge"
BUDGET=$(sed -n 's/.*descriptors: RLIMIT_NOFILE [0-9]*; budget \([0-9]*\) .*/\1/p' "$TMP/origin.err" | head -1)
for u in edgekv-origin.service edgekv-edge@.service; do
  n=$(sed -n 's/^LimitNOFILE=//p' "$ROOT/etc/systemd/system/$u")
  if [[ -n $BUDGET && $n -ge $BUDGET ]]; then ok "$u: LimitNOFILE=$n covers the budget $BUDGET"
  else bad "$u: LimitNOFILE=$n below the node's descriptor budget [$BUDGET]"; fi
done
# Some work for the trace: writes through the edge, a scrape, a reload.
TOKEN=systemd-token-0123456789 ACCOUNT=acctsystemd # start_role reads the banner's
URL=http://127.0.0.1:$OPORT/client/v4/accounts/$ACCOUNT/storage/kv/namespaces
NS=$(api POST "$URL" -d '{"title":"systemd"}' | jq -r .result.id)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  --data-binary v "http://127.0.0.1:$EPORT/client/v4/accounts/$ACCOUNT/storage/kv/namespaces/$NS/values/k")
check "a write through the edge" 200 "$code"
curl -s "http://127.0.0.1:$EPORT/metrics" >/dev/null
curl -s "http://127.0.0.1:$OPORT/metrics" >/dev/null

# stop_traced PID NAME : SIGHUP then, once the node logged the reload's
# outcome, SIGTERM to the traced node (strace's child); strace exits with
# the node's status.
reloaded() { grep -c "node: SIGHUP: .*reloaded" "$TMP/$1.err" >/dev/null; }
stop_traced() {
  local pid=$1 node=$1
  if [[ $SANDBOX -eq 1 && -n $TRACE ]]; then node=$(pgrep -P "$pid" | head -1); fi
  kill -HUP "$node"
  wait_for "$2's reload" 30 reloaded "$2"
  kill -TERM "$node"
  set +e
  wait "$pid"
  RC=$?
  set -e
  forget_pid "$pid"
  unset "NODE_NAME[$pid]"
  check "$2 exits 0 after SIGHUP and SIGTERM" 0 "$RC"
}
stop_traced "$EPID" edge1
stop_traced "$OPID" origin
# Each sender's READY=1, RELOADING=1 and STOPPING=1 in order: the origin
# (HTTPS and replication certificates, tokens) and the edge (replication
# certificates, tokens) both reload on SIGHUP.
seqs=$(awk '{k = ""; for (i = 2; i <= NF; i++) if ($i ~ /^(READY|RELOADING|STOPPING)=1$/) k = k " " substr($i, 1, index($i, "=") - 1)
             if (k != "") s[$1] = s[$1] k} END {for (p in s) print substr(s[p], 2)}' "$TMP/run/notify.log" | sort)
check "what each node told systemd" "READY RELOADING READY STOPPING|READY RELOADING READY STOPPING" "$(paste -sd'|' <<<"$seqs")"
kill "$LPID" 2>/dev/null || true
wait "$LPID" 2>/dev/null || true
forget_pid "$LPID"

if [[ $SANDBOX -eq 1 ]]; then
  EDGEKV=$REAL
fi
if [[ $SANDBOX -eq 1 && -n $TRACE ]]; then
  set +e
  out=$(python3 "$HERE/syscalls.py" "$ROOT/etc/systemd/system/edgekv-origin.service" "$TMP"/run/trace.*)
  rc=$?
  set -e
  echo "$out" | sed 's/^/    /'
  check "the sandbox allows every system call, socket family and mapping the nodes used" 0 "$rc"
  check "the edge unit's sandbox is the origin's" \
    "$(grep -E '^(SystemCallFilter|RestrictAddressFamilies|MemoryDenyWriteExecute|CapabilityBoundingSet)=' "$ROOT/etc/systemd/system/edgekv-origin.service")" \
    "$(grep -E '^(SystemCallFilter|RestrictAddressFamilies|MemoryDenyWriteExecute|CapabilityBoundingSet)=' "$ROOT/etc/systemd/system/edgekv-edge@.service")"
fi
finish
