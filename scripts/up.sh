#!/bin/sh
# `npm run up`: run the route reflector locally, without Docker, the same s6
# tree the image runs, in the foreground. Ctrl-C stops everything it started.
#
#   sudo npm run up                       # IP = this host's main IPv4, local etcd
#   sudo IP=10.0.0.1 IP6=fd00::1 ETCD_ENDPOINTS=http://etcd:2379 npm run up
#
# 1. installs what is missing (Debian bird, etcd-server, etcd-client, s6; npm ci; build)
# 2. without ETCD_ENDPOINTS/ETCD_AUTHORITY: starts etcd on 127.0.0.1:2379,
#    data in .state/etcd (kept between runs)
# 3. copies s6/ to .state/up/s6 and runs `s6-svscan` on it with CONFIG_DIR,
#    BIRD_SOCKET, BIRD6_SOCKET and LOG_DIR under .state/up unless given.
# 4. writes that environment to .state/up/env (no password), which
#    `npm run rr -- ARGS` (scripts/rr.sh) reads in a second shell: the CLI
#    finds this tree's sockets and etcd without an export.
#
# BIRD binds TCP port 179 of this host (like the container's --net=host).
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH="$PATH:/usr/sbin:/sbin"

if [ "$(id -u)" -ne 0 ]; then
  echo "up: run as root (BIRD binds port 179 and the install uses apt)" >&2
  exit 1
fi
sh scripts/install-deps.sh

state="$repo/.state/up"
mkdir -p "$state/bin" "$repo/.state/etcd"
# `routereflector` for the tree's agent (and for a PATH of your own): scripts/rr.sh.
ln -sf "$repo/scripts/rr.sh" "$state/bin/routereflector"

: "${IP:=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1)}"
: "${IP:=127.0.0.1}"
export IP
export CONFIG_DIR="${CONFIG_DIR:-$state/config}"
export BIRD_SOCKET="${BIRD_SOCKET:-$state/sockets/bird.ctl}"
export BIRD6_SOCKET="${BIRD6_SOCKET:-$state/sockets/bird6.ctl}"
export LOG_DIR="${LOG_DIR:-$state/logs}"
export LOG_FORMAT="${LOG_FORMAT:-json}"
export PATH="$state/bin:$(dirname "$(command -v node)"):$PATH"
mkdir -p "$CONFIG_DIR" "$(dirname "$BIRD_SOCKET")" "$(dirname "$BIRD6_SOCKET")" "$LOG_DIR"

etcd_pid=
scan_pid=
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$scan_pid" ] && kill -0 "$scan_pid" 2>/dev/null; then
    kill -TERM "$scan_pid" 2>/dev/null || true
    wait "$scan_pid" 2>/dev/null || true
  fi
  if [ -n "$etcd_pid" ] && kill -0 "$etcd_pid" 2>/dev/null; then
    kill -TERM "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
  echo "up: stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

if [ -z "${ETCD_ENDPOINTS:-}" ] && [ -z "${ETCD_AUTHORITY:-}" ]; then
  export ETCD_ENDPOINTS=http://127.0.0.1:2379
  if etcdctl --endpoints "$ETCD_ENDPOINTS" --dial-timeout 1s endpoint health >/dev/null 2>&1; then
    echo "up: an etcd already answers on $ETCD_ENDPOINTS; using it"
  else
    # Own session: Ctrl-C reaches s6 first; etcd is stopped after the tree is down.
    setsid etcd --name rr-local --data-dir "$repo/.state/etcd/data" \
      --listen-client-urls "$ETCD_ENDPOINTS" --advertise-client-urls "$ETCD_ENDPOINTS" \
      --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
      --initial-cluster rr-local=http://127.0.0.1:2380 \
      --log-level warn --logger zap >"$repo/.state/etcd/etcd.log" 2>&1 &
    etcd_pid=$!
    i=0
    until etcdctl --endpoints "$ETCD_ENDPOINTS" --dial-timeout 1s endpoint health >/dev/null 2>&1; do
      i=$((i + 1))
      if [ $i -gt 50 ] || ! kill -0 "$etcd_pid" 2>/dev/null; then
        echo "up: etcd did not start; see $repo/.state/etcd/etcd.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "up: started etcd (pid $etcd_pid) on $ETCD_ENDPOINTS, data in $repo/.state/etcd/data"
  fi
fi

rm -rf "$state/s6"
cp -a "$repo/s6" "$state/s6"

# The environment of this tree, for the CLI in a second shell (scripts/rr.sh
# sets each variable that shell has not set). Single-quoted shell words; the
# etcd password is left out: give ETCD_PASSWORD in that shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
  echo "# written by npm run up ($(date -u +%Y-%m-%dT%H:%M:%SZ)); read by npm run rr (scripts/rr.sh)"
  for name in IP IP6 ETCD_ENDPOINTS ETCD_AUTHORITY ETCD_SCHEME ETCD_CA_CERT_FILE ETCD_CERT_FILE ETCD_KEY_FILE \
    ETCD_USERNAME CONFIG_DIR BIRD_SOCKET BIRD6_SOCKET HTTP_LISTEN LOG_FORMAT; do
    eval "value=\${$name-}"
    [ -z "$value" ] || echo "$name=$(q "$value")"
  done
} >"$state/env.tmp"
mv "$state/env.tmp" "$state/env"

ep=${ETCD_ENDPOINTS:-${ETCD_SCHEME:-http}://${ETCD_AUTHORITY}}
cat <<MSG
up: route reflector IP=$IP${IP6:+ IP6=$IP6}, etcd ${ep}
  configs : $CONFIG_DIR/bird.cfg, $CONFIG_DIR/bird6.cfg
  sockets : $BIRD_SOCKET, $BIRD6_SOCKET
  logs    : this terminal (tagged per service); files in $LOG_DIR/{agent,bird,bird6}/current
  s6 tree : $state/s6   (s6-svstat $state/s6/bird)
  env     : $state/env (read by npm run rr)
  in a second shell, in $repo (as root):
    npm run rr -- rr add --ip $IP --cluster-id 1.0.0.1
    ETCDCTL_API=3 etcdctl --endpoints $ep put /calico/bgp/v1/host/node1/ip_addr_v4 10.0.0.5
    ETCDCTL_API=3 etcdctl --endpoints $ep put /calico/bgp/v1/host/node1/peer_v4/$IP '{"ip":"$IP","as_num":"64511"}'
    npm run rr -- rr list
    npm run rr -- status
    npm run rr -- explain 10.0.0.5
  (this RR in the mesh, a node as its client, then what the CLI sees)
  Ctrl-C stops everything.
MSG
# Own session: a terminal's Ctrl-C (SIGINT to the whole foreground process
# group) must not hit s6-supervise and the services directly; the trap above
# turns it into one SIGTERM to s6-svscan, i.e. the tree's ordered stop.
setsid s6-svscan "$state/s6" &
scan_pid=$!
wait "$scan_pid" || true
scan_pid=
