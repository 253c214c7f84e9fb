#!/bin/sh
# Runtime packages of the routereflector image, on Debian bookworm (root).
# The Dockerfile's runtime stage runs exactly this script, and so does
# `npm run test:image` inside a debootstrapped root filesystem, so the test
# proves the very steps the image is built with.
#
#   bird      BIRD 1.6 (bird, bird6, birdc, birdc6)
#   s6        s6-svscan, s6-supervise, s6-svwait, s6-log, ...
#   mawk      the log filter (s6/.lib/log-filter); already in every Debian base
#   ca-certificates  etcd over https
#
# Debian's bird package ships system services; nothing starts them in a
# container (no init but s6), and its postinst may try: policy-rc.d says no.
set -eu
export DEBIAN_FRONTEND=noninteractive

if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  remove_policy=1
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends bird s6 mawk ca-certificates >/dev/null

# The image runs its own tree; Debian's sample configs are not used.
rm -f /etc/bird/bird.conf /etc/bird/bird6.conf

apt-get clean
rm -rf /var/lib/apt/lists/*
if [ -n "${remove_policy:-}" ]; then rm -f /usr/sbin/policy-rc.d; fi

# The directories the runtime contract defaults to (docs/architecture.md; volumes in the image).
mkdir -p /config /sockets
