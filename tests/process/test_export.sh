#!/usr/bin/env bash
# test_export.sh - `edgekv kv export` and `import` between two separate
# origins, A and B: A is filled with more than 2 500 keys in two namespaces
# (text, binary, odd names, metadata, expirations), exported with --all,
# imported into B by title; every key, value (byte for byte), metadata and
# expiration must equal the input that filled A. An export and an import
# are each killed (SIGKILL, by PID) once their state file shows progress,
# then resumed: the result holds every key exactly once. Expired records
# are skipped and counted. Requests of the interrupted runs go through a
# delaying proxy (python, below) so that there is a "mid-way" to kill in.
source "$(dirname "$0")/lib.sh"
unset EDGEKV_URL EDGEKV_TOKEN EDGEKV_ACCOUNT CLOUDFLARE_API_BASE_URL CLOUDFLARE_API_TOKEN \
  CLOUDFLARE_ACCOUNT_ID EDGEKV_CACERT

start_node a --data "$TMP/a" --sync off
A_URL=http://127.0.0.1:$PORT A_TOKEN=$TOKEN A_ACCOUNT=$ACCOUNT A_BASE=$BASE A_PORT=$PORT
start_node b --data "$TMP/b" --sync off
B_URL=http://127.0.0.1:$PORT B_TOKEN=$TOKEN B_ACCOUNT=$ACCOUNT B_BASE=$BASE

# kv NODE ARGS... : `edgekv kv` against node a or b; stdout to $TMP/out,
# stderr to $TMP/err, exit status in RC.
kv() {
  local n=$1 url token account
  shift
  if [[ $n == a ]]; then url=$A_URL token=$A_TOKEN account=$A_ACCOUNT; else url=$B_URL token=$B_TOKEN account=$B_ACCOUNT; fi
  set +e
  EDGEKV_URL=$url EDGEKV_TOKEN=$token EDGEKV_ACCOUNT=$account "$EDGEKV" kv "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
  cat "$TMP/err" >>"$TMP/kv-all.log" # every run's stderr, for finish's sanitizer scan
}
has_err() { # has_err "description" TEXT : stderr contains TEXT
  if grep -qF -- "$2" "$TMP/err"; then ok "$1"; else bad "$1: stderr lacks [$2]: $(cat "$TMP/err")"; fi
}

# ---- fill A ----------------------------------------------------------------------------
NOW=$(date +%s)
kv a namespace create alpha
ALPHA=$(cat "$TMP/out")
kv a namespace create 'beta/β'
BETA=$(cat "$TMP/out")
# alpha: 1 800 text keys; every 3rd with metadata, every 5th with an expiration.
jq -n --argjson now "$NOW" '[range(0; 1800) | {key: ("a/" + ("0000" + tostring)[-4:]), value: ("text " + tostring)}
  + (if . % 3 == 0 then {metadata: {i: ., tags: ["x", null]}} else {} end)
  + (if . % 5 == 0 then {expiration: ($now + 86400 + .)} else {} end)]' >"$TMP/alpha.json"
# beta: 860 text keys with odd names and Unicode values, 40 binary ones
# (a leading 0xff byte: never UTF-8, even for the 1-byte one).
jq -n --argjson now "$NOW" '[range(0; 860) | {key: ("dir/ключ ?&#%+=." + tostring + " 😀"), value: ("значение 😀 " + tostring + "\n\t\"q\"")}
  + (if . % 2 == 0 then {metadata: {"ü": tostring}} else {} end)
  + (if . % 7 == 0 then {expiration: ($now + 3600 + .)} else {} end)]' >"$TMP/beta_text.json"
for i in $(seq 0 39); do
  printf '{"key":"bin/%02d","value":"%s","base64":true%s}\n' "$i" \
    "$({ printf '\377'; head -c $((i * 997)) /dev/urandom; } | base64 -w0)" \
    "$( ((i % 4 == 0)) && echo ",\"metadata\":{\"bin\":$i},\"expiration\":$((NOW + 7200 + i))")"
done | jq -s . >"$TMP/beta_bin.json"
jq -s 'add' "$TMP/beta_text.json" "$TMP/beta_bin.json" >"$TMP/beta.json"
kv a bulk put "$TMP/alpha.json" --namespace-id "$ALPHA"
check "fill alpha" "Wrote 1800 keys" "$(cat "$TMP/out")"
kv a bulk put "$TMP/beta.json" --namespace-id "$BETA"
check "fill beta" "Wrote 900 keys" "$(cat "$TMP/out")"
TOTAL=2700

# The ground truth: what filled A, as sorted {ns, key, b64, metadata, expiration}.
truth_of() { # truth_of TITLE FILE
  jq -c --arg ns "$1" '.[] | {ns: $ns, key, b64: (if .base64 then .value else (.value | @base64) end),
    metadata: (.metadata // null), expiration: (.expiration // null)}' "$2"
}
{ truth_of alpha "$TMP/alpha.json"; truth_of 'beta/β' "$TMP/beta.json"; } | sort >"$TMP/truth"
# norm FILE : an export's lines in the same form, sorted.
norm() {
  jq -c '{ns: .namespace_title, key, b64: (if has("value_base64") then .value_base64 else (.value | @base64) end),
    metadata: (.metadata // null), expiration: (.expiration // null)}' "$1" | sort
}

# ---- export A --------------------------------------------------------------------------
kv a export --all --out "$TMP/full.jsonl"
check "export --all" 0 "$RC"
has_err "export summary" "Exported $TOTAL keys"
check "export: one line per key" "$TOTAL" "$(wc -l <"$TMP/full.jsonl")"
check "export: the state file is gone when done" no "$([[ -e $TMP/full.jsonl.state ]] && echo yes || echo no)"
if diff <(norm "$TMP/full.jsonl") "$TMP/truth" >"$TMP/diff"; then ok "export equals what filled A (values, metadata, expirations)"
else bad "export differs from the input: $(head -5 "$TMP/diff")"; fi
check "binary values travel as value_base64" 40 "$(grep -c '"value_base64"' "$TMP/full.jsonl" || true)"
check "text values travel as value" 2660 "$(grep -c '"value":' "$TMP/full.jsonl" || true)"
check "export lines name their namespace" "$ALPHA alpha" "$(head -1 "$TMP/full.jsonl" | jq -r '.namespace_id + " " + .namespace_title')"
kv a export --all --out "$TMP/full.jsonl"
check "an existing output is refused" 2 "$RC"
has_err "an existing output is named" "full.jsonl exists; pass --resume"
kv a export --namespace-id "$ALPHA"
check "export of one namespace to stdout" 1800 "$(wc -l <"$TMP/out")"
kv a export --namespace-id 00000000000000000000000000000000
check "export of an unknown namespace: exit 3" 3 "$RC"

# ---- a slow path to A, for the interrupted runs -----------------------------------------
# A TCP proxy that holds each request back DELAY seconds (client bytes
# after an answer begin a new request), so an export or import takes seconds.
cat >"$TMP/proxy.py" <<'EOF'
import socket, sys, threading, time
target, delay = int(sys.argv[1]), float(sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print(ls.getsockname()[1], flush=True)
def pipe(src, dst, st, upstream):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if upstream and st["answered"]:  # the first bytes of a new request
                time.sleep(delay)
            st["answered"] = not upstream
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
while True:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", target))
    st = {"answered": True}
    threading.Thread(target=pipe, args=(c, s, st, True), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c, st, False), daemon=True).start()
EOF
# proxy NAME PORT : starts a proxy to PORT; sets PROXY_URL, PROXY_PID.
proxy() {
  python3 "$TMP/proxy.py" "$2" 0.15 >"$TMP/$1.port" 2>"$TMP/$1.err" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  wait_for "proxy $1" 30 test -s "$TMP/$1.port"
  PROXY_URL=http://127.0.0.1:$(cat "$TMP/$1.port")
}
# kill_when NAME PID COMMAND... : SIGKILLs PID (by PID) as soon as
# COMMAND succeeds; fails if PID ended first.
kill_when() {
  local name=$1 pid=$2 deadline=$((SECONDS + 60))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then bad "$name ended before it could be interrupted"; return 1; fi
    if [[ $SECONDS -ge $deadline ]]; then bad "$name made no progress in 60 s"; return 1; fi
    sleep 0.02
  done
  kill -9 "$pid"
  set +e
  wait "$pid" 2>/dev/null
  local rc=$?
  set -e
  forget_pid "$pid"
  check "$name killed mid-way" 137 "$rc"
}
# A page saved in the state, and lines of the next one already written
# past the state's offset (a page cut short: --resume must drop them).
export_mid_page() {
  local st=$TMP/part.jsonl.state
  [[ -s $st ]] && jq -e '.keys > 0' "$st" && (($(stat -c %s "$TMP/part.jsonl") > $(jq .offset "$st")))
}
import_started() { [[ -s $TMP/full.jsonl.import-state ]] && jq -e '.line > 0' "$TMP/full.jsonl.import-state"; }

# ---- an interrupted export, resumed ----------------------------------------------------
proxy slow-a "$A_PORT"
set +e
EDGEKV_URL=$PROXY_URL EDGEKV_TOKEN=$A_TOKEN EDGEKV_ACCOUNT=$A_ACCOUNT \
  "$EDGEKV" kv export --all --out "$TMP/part.jsonl" >"$TMP/exp.out" 2>"$TMP/exp.err" &
EXP_PID=$!
set -e
PIDS+=("$EXP_PID")
kill_when "export" "$EXP_PID" export_mid_page
DONE=$(jq .keys "$TMP/part.jsonl.state")
PAST=$(($(stat -c %s "$TMP/part.jsonl") - $(jq .offset "$TMP/part.jsonl.state")))
((PAST > 0)) && ok "the killed export left $PAST bytes past its state" || bad "nothing past the state"
((DONE > 0 && DONE < TOTAL)) && ok "export state shows progress ($DONE of $TOTAL keys)" || bad "export state: $DONE keys"
kv a export --all --out "$TMP/part.jsonl"
check "without --resume an interrupted export's file is refused" 2 "$RC"
kv a export --all --out "$TMP/part.jsonl" --resume
check "export --resume" 0 "$RC"
has_err "resume summary" "Exported $TOTAL keys"
has_err "resume says where it began" "(resumed after $DONE)"
check "resumed export: every key exactly once" "$TOTAL 0" "$(wc -l <"$TMP/part.jsonl") $(jq -r '[.namespace_id, .key] | @json' "$TMP/part.jsonl" | sort | uniq -d | wc -l)"
if cmp -s <(sort "$TMP/part.jsonl") <(sort "$TMP/full.jsonl"); then ok "resumed export equals the uninterrupted one"
else bad "resumed export differs from the uninterrupted one"; fi
stop_pid "$PROXY_PID" TERM 143

# ---- an interrupted import into B, resumed ---------------------------------------------
proxy slow-b "$(sed -n 's|.*:\([0-9]*\)$|\1|p' <<<"$B_URL")"
set +e
EDGEKV_URL=$PROXY_URL EDGEKV_TOKEN=$B_TOKEN EDGEKV_ACCOUNT=$B_ACCOUNT \
  "$EDGEKV" kv import "$TMP/full.jsonl" --by-title >"$TMP/imp.out" 2>"$TMP/imp.err" &
IMP_PID=$!
set -e
PIDS+=("$IMP_PID")
kill_when "import" "$IMP_PID" import_started
LINE=$(jq .line "$TMP/full.jsonl.import-state")
((LINE > 0 && LINE < TOTAL)) && ok "import state shows progress (line $LINE of $TOTAL)" || bad "import state: line $LINE"
kv b import "$TMP/full.jsonl" --by-title
check "without --resume an interrupted import is refused" 2 "$RC"
has_err "the refusal names the state" "full.jsonl.import-state exists (an interrupted import)"
kv b import "$TMP/full.jsonl" --by-title --resume
check "import --resume" 0 "$RC"
sed "s/^/# import --resume: /" "$TMP/err"
check "import summary" "Imported $TOTAL keys into 2 namespaces from $TMP/full.jsonl" \
  "$(sed 's/ in [0-9.]* s.*//' "$TMP/out")"
check "import: the state file is gone when done" no "$([[ -e $TMP/full.jsonl.import-state ]] && echo yes || echo no)"
stop_pid "$PROXY_PID" TERM 143
kv b namespace list --json
check "B has both namespaces, once each" "alpha beta/β" "$(jq -r '[.[].title] | join(" ")' "$TMP/out")"
B_ALPHA=$(jq -r '.[] | select(.title == "alpha") | .id' "$TMP/out")
B_BETA=$(jq -r '.[] | select(.title == "beta/β") | .id' "$TMP/out")

# ---- B equals what filled A ------------------------------------------------------------
kv b export --all --out "$TMP/b.jsonl"
check "export of B" 0 "$RC"
if diff <(norm "$TMP/b.jsonl") "$TMP/truth" >"$TMP/diff"; then ok "B equals what filled A: every key, value, metadata and expiration"
else bad "B differs from the input: $(head -5 "$TMP/diff")"; fi
check "B: every key exactly once" "$TOTAL 0" "$(wc -l <"$TMP/b.jsonl") $(jq -r '[.namespace_id, .key] | @json' "$TMP/b.jsonl" | sort | uniq -d | wc -l)"
# Independently of export: each node's listing (names, metadata,
# expirations, through curl) and the binary values byte for byte.
listing() { # listing BASE TOKEN NS -> every key object, sorted
  local cursor="" body
  while :; do
    body=$(curl -s -H "Authorization: Bearer $2" "$1/$3/keys?limit=1000&cursor=$cursor")
    jq -c '.result[]' <<<"$body"
    cursor=$(jq -r '.result_info.cursor' <<<"$body")
    [[ -n $cursor ]] || break
  done | sort
}
if diff <(listing "$A_BASE" "$A_TOKEN" "$ALPHA") <(listing "$B_BASE" "$B_TOKEN" "$B_ALPHA") >/dev/null &&
  diff <(listing "$A_BASE" "$A_TOKEN" "$BETA") <(listing "$B_BASE" "$B_TOKEN" "$B_BETA") >/dev/null; then
  ok "curl listings of A and B are equal (names, metadata, expirations)"
else bad "curl listings of A and B differ"; fi
same=0
for i in $(seq -w 0 39); do
  if cmp -s <(curl -s -H "Authorization: Bearer $A_TOKEN" "$A_BASE/$BETA/values/bin%2F$i") \
    <(curl -s -H "Authorization: Bearer $B_TOKEN" "$B_BASE/$B_BETA/values/bin%2F$i"); then same=$((same + 1)); fi
done
check "binary values of A and B are byte-identical (curl)" 40 "$same"

# ---- expired records, --namespace-id, stdin --------------------------------------------
kv b namespace create gamma
GAMMA=$(cat "$TMP/out")
{
  echo '{"namespace_id":"x","namespace_title":"t","key":"past","value":"p","expiration":'$((NOW - 10))'}'
  echo '{"namespace_id":"x","namespace_title":"t","key":"soon","value":"s","expiration":'$((NOW + 30))'}'
  echo '{"namespace_id":"x","namespace_title":"t","key":"later","value":"l","expiration":'$((NOW + 7200))'}'
  echo '{"key":"plain","value_base64":"/wD+","metadata":{"m":[1,2]}}'
} >"$TMP/exp.jsonl"
kv b import "$TMP/exp.jsonl" --namespace-id "$GAMMA" --json
check "expired records are skipped and counted" '{"written":2,"expired_skipped":2,"namespaces":1,"created_namespaces":[],"unsuccessful_keys":[]}' "$(jq -c . "$TMP/out")"
kv b key list --namespace-id "$GAMMA"
check "only the live records were written" "later plain" "$(tr '\n' ' ' <"$TMP/out" | sed 's/ $//')"
set +e
EDGEKV_URL=$B_URL EDGEKV_TOKEN=$B_TOKEN EDGEKV_ACCOUNT=$B_ACCOUNT "$EDGEKV" kv export --namespace-id "$GAMMA" 2>/dev/null |
  sed 's/"later"/"later2"/' |
  EDGEKV_URL=$B_URL EDGEKV_TOKEN=$B_TOKEN EDGEKV_ACCOUNT=$B_ACCOUNT "$EDGEKV" kv import - --namespace-id "$GAMMA" >"$TMP/out" 2>"$TMP/err"
RC=$?
set -e
check "export | import - (stdin)" 0 "$RC"
kv b key get plain --namespace-id "$GAMMA" --json
check "stdin import kept binary value and metadata" '{"key":"plain","value":"/wD+","metadata":{"m":[1,2]},"base64":true}' "$(jq -c . "$TMP/out")"
echo '{"key":"x","value":"v","extra":1}' >"$TMP/bad.jsonl"
kv b import "$TMP/bad.jsonl" --namespace-id "$GAMMA"
check "a malformed line: exit 2" 2 "$RC"
has_err "a malformed line is named" "bad.jsonl: line 1: unknown field \"extra\""

finish
