#!/bin/sh
# Install what the agent, its tests and the local run need on Debian (root):
# BIRD 1.6, etcd server and client, s6, iproute2, gobgpd and FRR (two more
# BGP implementations for the end-to-end tests: only FRR's bgpd runs, inside
# the tests' namespaces); then the npm dependencies.
# Idempotent: skips apt when every command is already there.
set -eu
cd "$(dirname "$0")/.."

need=""
for cmd in bird bird6 birdc etcd etcdctl s6-svscan ip gobgpd gobgp vtysh; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || need=1
done
[ -x /usr/lib/frr/bgpd ] || need=1
if [ -n "$need" ] || [ -n "${EXTRA_APT:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing bird/etcd/s6/gobgpd/frr and not root; install: bird etcd-server etcd-client s6 iproute2 gobgpd frr" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends bird etcd-server etcd-client s6 iproute2 gobgpd frr ca-certificates ${EXTRA_APT:-} >/dev/null
  # Debian starts these as system services where an init runs; the tests start their own.
  for svc in bird bird6 etcd gobgpd frr; do
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  done
fi

# BIRD 2.17 and 3.1 (Debian 13's) beside BIRD 1.6, for the tests of each dialect
# (test/support/dialect.ts): scripts/birds.sh, idempotent (one debootstrap of
# trixie on a fresh machine, cached under /var/cache/routereflector).
if [ "$(id -u)" -eq 0 ]; then
  sh scripts/birds.sh
elif [ ! -x "${RR_CACHE:-/var/cache/routereflector}/bin/bird3" ]; then
  echo "install-deps: BIRD 2/3 missing and not root: run scripts/birds.sh as root" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build

# `npm run test:image` (and .ci/run) also builds a Debian root filesystem.
if [ -n "${RR_IMAGE_TEST:-}" ] && ! PATH="$PATH:/usr/sbin:/sbin" command -v debootstrap >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
