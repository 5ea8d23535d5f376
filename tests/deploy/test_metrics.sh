#!/usr/bin/env bash
# test_metrics.sh - deploy/prometheus and deploy/grafana against the real
# nodes: a real origin (replication certificates, HTTPS) and edge are
# started, written to and scraped; every edgekv_* metric named in the alert
# rules and the dashboard must be a sample one of them exports, and every
# label the rules and panels group or print by must be one those samples
# (or Prometheus' target: instance, job) carry. The new gauges are checked
# for their values: certificate expiry against `openssl x509 -enddate`, the
# data directory's file system against statvfs, WAL sync timing counted on
# the origin's sync=always writes. `promtool check rules` and `check config`
# run when promtool is installed (Debian's prometheus; deploy/install-deps.sh
# --deploy), else that check is skipped with a message.
source "$(dirname "$0")/../process/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
DEPLOY="$HERE/../../deploy"
RULES=$DEPLOY/prometheus/edgekv.rules.yml
DASH=$DEPLOY/grafana/dashboard.json

CERTS=$TMP/certs
"$EDGEKV" certs init --dir "$CERTS" --edges 1 >/dev/null
"$EDGEKV" certs api --dir "$CERTS" --name api --days 10 >/dev/null
ACCT=acctmetrics TOK=metrics-token-0123456789
COMMON=(--account "$ACCT" --token "$TOK" --threads 1)
start_node origin --data "$TMP/origin" --certs "$CERTS" --name origin --repl-listen 127.0.0.1:0 \
  --https-listen 127.0.0.1:0 --https-cert "$CERTS/api.crt" --https-key "$CERTS/api.key" "${COMMON[@]}"
OPORT=$PORT RP=$REPL_PORT
start_edge 1
TOKEN=$TOK
ready() { [[ $(curl -s "http://127.0.0.1:$1/readyz") == ready ]]; }
wait_for "the edge ready" 30 ready "${EPORT[1]}"
URL=http://127.0.0.1:${EPORT[1]}/client/v4/accounts/$ACCT/storage/kv/namespaces
NS=$(api POST "http://127.0.0.1:$OPORT/client/v4/accounts/$ACCT/storage/kv/namespaces" -d '{"title":"m"}' | jq -r .result.id)
for i in 1 2 3 4 5; do api PUT "$URL/$NS/values/k$i" --data-binary "v$i" >/dev/null; done
api GET "$URL/$NS/values/k1" >/dev/null
curl -s "http://127.0.0.1:$OPORT/metrics" >"$TMP/origin.prom"
curl -s "http://127.0.0.1:${EPORT[1]}/metrics" >"$TMP/edge.prom"
cat "$TMP/origin.prom" "$TMP/edge.prom" | grep -v '^#' | sed 's/[{ ].*//' | sort -u >"$TMP/exported"
cat "$TMP/origin.prom" "$TMP/edge.prom" | grep -v '^#' | grep -o '{[^}]*}' | grep -oE '[a-z_]+=' |
  tr -d = | sort -u >"$TMP/labels"
printf 'instance\njob\n' >>"$TMP/labels"
check "the nodes export samples" 1 "$([[ $(wc -l <"$TMP/exported") -gt 40 ]] && echo 1)"

# ---- every metric and label the rules and the dashboard use -------------------------------
check "the dashboard is JSON" 0 "$(jq empty "$DASH" >/dev/null 2>&1; echo $?)"
jq -r '.. | .expr? // empty' "$DASH" >"$TMP/dash.exprs"
jq -r '.. | .legendFormat? // empty' "$DASH" >"$TMP/dash.legends"
check "the dashboard has queries" 1 "$([[ $(wc -l <"$TMP/dash.exprs") -ge 10 ]] && echo 1)"
for src in "$RULES" "$TMP/dash.exprs"; do
  n=0
  for m in $(grep -oE 'edgekv_[a-z0-9_]+' "$src" | grep -v '^edgekv_cluster' | sort -u); do
    n=$((n + 1))
    grep -qx "$m" "$TMP/exported" || bad "$(basename "$src"): $m is not exported by an origin or an edge"
  done
  ok "$(basename "$src"): $n metric names, checked against the scrape"
done
used_labels=$( {
  grep -oE '\$labels\.[a-z_]+' "$RULES" | sed 's/.*\.//'
  grep -ohE 'by \([a-z_, ]+\)' "$RULES" "$TMP/dash.exprs" | sed 's/by (//; s/)//' | tr ',' '\n'
  grep -ohE '[{,] *[a-z_]+ *(=~|!=|=)' "$RULES" "$TMP/dash.exprs" | grep -oE '[a-z_]+'
  grep -oE '\{\{ *[a-z_]+ *\}\}' "$TMP/dash.legends" | grep -oE '[a-z_]+'
} | tr -d ' ' | grep -v '^le$' | sort -u)
for l in $used_labels; do
  grep -qx "$l" "$TMP/labels" || bad "label '$l' used by the rules or the dashboard is on no exported sample"
done
ok "labels used: $(echo $used_labels)"
for j in $(grep -oE 'job="[a-z-]+"' "$RULES" | sort -u | cut -d'"' -f2); do
  grep -q "job_name: $j\$" "$DEPLOY/prometheus/prometheus.example.yml" ||
    bad "job $j of the rules is not in prometheus.example.yml"
done
for a in EdgekvOriginDown EdgekvEdgeStale EdgekvEdgeLinkDown EdgekvReplicationLagOverBound \
  EdgekvFsyncLatencyHigh EdgekvDiskAlmostFull EdgekvCertificateExpiring; do
  grep -q "alert: $a\$" "$RULES" || bad "no alert $a"
done
ok "the alerts the deployment needs are there"

# ---- the new gauges' values ---------------------------------------------------------------
sample() { grep "^$2[ {]" "$1" | grep -F "${3:-}" | head -1 | awk '{print $NF}'; }
for f in ca.crt origin.crt api.crt; do
  use=$(case $f in ca.crt) echo ca ;; origin.crt) echo replication ;; *) echo https ;; esac)
  want=$(date -d "$(openssl x509 -in "$CERTS/$f" -noout -enddate | cut -d= -f2)" +%s)
  check "certificate expiry of $f ($use)" "$want" \
    "$(sample "$TMP/origin.prom" edgekv_certificate_not_after_seconds "use=\"$use\",file=\"$CERTS/$f\"")"
done
want=$(date -d "$(openssl x509 -in "$CERTS/edge1.crt" -noout -enddate | cut -d= -f2)" +%s)
check "the edge's own certificate" "$want" \
  "$(sample "$TMP/edge.prom" edgekv_certificate_not_after_seconds 'use="replication"')"
size=$(python3 -c 'import os,sys; s=os.statvfs(sys.argv[1]); print(s.f_blocks*s.f_frsize)' "$TMP/origin")
check "edgekv_disk_size_bytes is the data directory's file system" "$size" \
  "$(sample "$TMP/origin.prom" edgekv_disk_size_bytes)"
free=$(sample "$TMP/origin.prom" edgekv_disk_free_bytes)
check "0 < free <= size" 1 "$([[ $free -gt 0 && $free -le $size ]] && echo 1)"
count=$(sample "$TMP/origin.prom" edgekv_rocksdb_wal_sync_duration_seconds_count)
check "the origin (sync=always) timed its WAL syncs" 1 "$([[ $count -ge 5 ]] && echo 1)"
# A certificate replaced in place is read again at the next scrape.
"$EDGEKV" certs api --dir "$CERTS" --name api --days 40 >/dev/null # replaced (renamed over)
want=$(date -d "$(openssl x509 -in "$CERTS/api.crt" -noout -enddate | cut -d= -f2)" +%s)
curl -s "http://127.0.0.1:$OPORT/metrics" >"$TMP/origin2.prom"
check "a replaced certificate's new expiry at the next scrape" "$want" \
  "$(sample "$TMP/origin2.prom" edgekv_certificate_not_after_seconds 'use="https"')"

# ---- promtool -----------------------------------------------------------------------------
if command -v promtool >/dev/null; then
  set +e
  out=$(promtool check rules "$RULES" 2>&1)
  rc=$?
  set -e
  echo "$out" | sed 's/^/    /'
  check "promtool check rules" 0 "$rc"
  cp "$RULES" "$DEPLOY/prometheus/prometheus.example.yml" "$TMP/"
  check "promtool check config (the example scrape configuration)" 0 \
    "$(promtool check config "$TMP/prometheus.example.yml" >/dev/null 2>&1; echo $?)"
else
  echo "skip - promtool not installed: run deploy/install-deps.sh --deploy (Debian's prometheus) to check the rules' syntax"
fi
finish
