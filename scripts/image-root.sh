#!/bin/sh
# scripts/image-root.sh DEST: the image's root filesystem at DEST, built as
# the Dockerfile's runtime stage builds it, without Docker: a Debian 13 root
# (scripts/trixie-root.sh), `image/install.sh system` with the pinned Node
# (scripts/image-node.sh), the app laid out as the Dockerfile's COPY steps do
# (/app/{package.json,node_modules (production only),dist,templates,s6}),
# then `image/install.sh app`. Run `npm run build` first. Root only; DEST
# must not exist. Used by `npm run test:image` (test/image/rootfs.test.ts),
# and by whatever runs the image's tree as a container would.
set -eu
dest="${1:?usage: image-root.sh DEST}"
cd "$(dirname "$0")/.."
repo=$(pwd)
PATH="$PATH:/usr/sbin:/sbin"
[ -f dist/app/main.js ] || { echo "image-root: dist/app/main.js missing: npm run build" >&2; exit 1; }
sh scripts/trixie-root.sh "$dest"
tgz=$(sh scripts/image-node.sh)
cp /etc/resolv.conf "$dest/etc/resolv.conf"
# (the Dockerfile bind-mounts image/ at /tmp/image and the tarball at /tmp/node.tgz)
cp -R image "$dest/tmp/image"
cp "$tgz" "$dest/tmp/node.tgz"
in_root() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  unshare --mount --pid --fork --mount-proc="$dest/proc" chroot "$dest" "$@"; }
in_root sh /tmp/image/install.sh system /tmp/node.tgz
rm -f "$dest/tmp/node.tgz"
mkdir -p "$dest/app"
cp package.json "$dest/app/"
npm ls --omit=dev --all --parseable | grep "^$repo/node_modules/" | while read -r m; do
  rel=${m#"$repo/"}
  mkdir -p "$dest/app/$(dirname "$rel")"
  [ -e "$dest/app/$rel" ] || cp -R "$m" "$dest/app/$rel"
done
cp -R dist templates s6 "$dest/app/"
in_root sh /tmp/image/install.sh app
rm -rf "$dest/tmp/image"
