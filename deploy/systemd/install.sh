#!/usr/bin/env bash
# install.sh - lays out edgekv on one host for systemd: the binary, a
# dedicated system user, /var/lib/edgekv (data, 0700), /etc/edgekv (sample
# configuration; certificates go in /etc/edgekv/certs) and the unit files
# edgekv-origin.service and edgekv-edge@.service. Idempotent: an existing
# configuration file or user is kept. Starts nothing (it prints what to run).
#
#   deploy/systemd/install.sh [--root DIR] [--bin FILE] [--user NAME] [--edge NAME]...
#
#   --root DIR   install under DIR instead of / (tests: a temporary root; the
#                user is added to DIR/etc/passwd with useradd --prefix)
#   --bin FILE   the edgekv binary to install (default: build/node/edgekv)
#   --user NAME  the service user and group (default: edgekv)
#   --edge NAME  also write /etc/edgekv/edge-NAME.json for `edgekv-edge@NAME`
#                (repeatable; each edge on this host gets the next API port)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=""
bin="$here/../../build/node/edgekv"
user=edgekv
edges=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --root) root=${2%/}; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --edge) edges+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $bin ]] || { echo "install.sh: no edgekv binary at $bin (build first, or --bin FILE)" >&2; exit 2; }

# The user: a system account without a shell or home of its own.
if [[ -n $root ]]; then
  mkdir -p "$root/etc"
  for f in passwd group shadow gshadow; do [[ -e $root/etc/$f ]] || : >"$root/etc/$f"; done
  prefix=(--prefix "$root")
else
  prefix=()
fi
if ! grep -q "^$user:" "$root/etc/passwd" 2>/dev/null; then
  useradd "${prefix[@]}" --system --user-group --no-create-home --home-dir /var/lib/edgekv \
    --shell /usr/sbin/nologin --comment "edgekv node" "$user"
  echo "user $user created"
fi
uid=$(awk -F: -v u="$user" '$1 == u {print $3}' "$root/etc/passwd")
gid=$(awk -F: -v u="$user" '$1 == u {print $4}' "$root/etc/passwd")

install -D -m 0755 "$bin" "$root/usr/local/bin/edgekv"
install -d -m 0700 "$root/var/lib/edgekv"
install -d -m 0750 "$root/etc/edgekv" "$root/etc/edgekv/certs"
chown "$uid:$gid" "$root/var/lib/edgekv"
chown "root:$gid" "$root/etc/edgekv" "$root/etc/edgekv/certs"
install -D -m 0644 "$here/edgekv-origin.service" "$root/etc/systemd/system/edgekv-origin.service"
install -D -m 0644 "$here/edgekv-edge@.service" "$root/etc/systemd/system/edgekv-edge@.service"

# write_config FILE : the sample on stdin, unless FILE exists (0640, group
# readable by the service: it may hold tokens).
write_config() {
  if [[ -e $1 ]]; then
    echo "kept $1"
    cat >/dev/null
  else
    install -m 0640 /dev/stdin "$1"
    chown "root:$gid" "$1"
    echo "wrote $1"
  fi
}

# The samples: every key is one of `edgekv origin --help` / `edgekv edge
# --help` (the file keys). data_dir and name come from the units' flags.
write_config "$root/etc/edgekv/origin.json" <<'JSON'
{
  "listen": "127.0.0.1:8788",
  "repl_listen": "0.0.0.0:7400",
  "certs_dir": "/etc/edgekv/certs",
  "name": "origin",
  "sync": "always",
  "log_level": "info"
}
JSON
port=8787
for e in "${edges[@]}"; do
  write_config "$root/etc/edgekv/edge-$e.json" <<JSON
{
  "listen": "127.0.0.1:$port",
  "origin": "127.0.0.1:7400",
  "certs_dir": "/etc/edgekv/certs",
  "propagation_bound_ms": 1000,
  "ready_wait_ms": 30000,
  "log_level": "info"
}
JSON
  port=$((port - 1))
done

cat <<EOF
installed under ${root:-/}. Next:
  edgekv certs init --dir /etc/edgekv/certs --edges N   (or copy this host's certificates there;
  chown $user the .key files, mode 0600)
  edit /etc/edgekv/origin.json or /etc/edgekv/edge-NAME.json
  systemctl daemon-reload
  systemctl enable --now edgekv-origin.service    # or edgekv-edge@NAME.service
EOF
