#!/bin/sh
# scripts/trixie-root.sh DEST: a fresh Debian 13 (trixie) minbase root at DEST.
# The debootstrap (~5 min on a fresh machine) runs once into
# $RR_CACHE/trixie-minbase (default /var/cache/routereflector); every later
# call copies that pristine root. Root only. DEST must not exist yet.
set -eu
dest="${1:?usage: trixie-root.sh DEST}"
cache="${RR_CACHE:-/var/cache/routereflector}"
base="$cache/trixie-minbase"
PATH="$PATH:/usr/sbin:/sbin"
if [ ! -x "$base/bin/sh" ]; then
  command -v debootstrap >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$cache"
  rm -rf "$base.tmp"
  debootstrap --variant=minbase trixie "$base.tmp" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  mv "$base.tmp" "$base"
fi
[ ! -e "$dest" ] || { echo "trixie-root: $dest exists" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
cp -a "$base" "$dest"
