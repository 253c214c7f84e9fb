#!/bin/sh
# scripts/birds.sh: BIRD 2 and BIRD 3 beside the host's BIRD 1.6, for the tests.
# Debian 13's bird3 (3.1.8) and bird2 (2.17.6) are built for trixie's glibc;
# they run here through the dynamic loader of a trixie root that holds them
# and their libraries. Prints nothing; leaves, under $RR_CACHE/bin:
#   bird2 birdc2 birdcl2   BIRD 2.17 (bird2 .deb unpacked into the root's /opt/bird2)
#   bird3 birdc3 birdcl3   BIRD 3.1  (Debian's bird3 package in the root)
# Idempotent; root only.
set -eu
cd "$(dirname "$0")/.."
cache="${RR_CACHE:-/var/cache/routereflector}"
root="$cache/birdroot"
bin="$cache/bin"
if [ ! -x "$root/usr/sbin/bird" ] || [ ! -x "$root/opt/bird2/usr/sbin/bird" ]; then
  rm -rf "$root"
  sh scripts/trixie-root.sh "$root"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" sh -eu -c '
    export DEBIAN_FRONTEND=noninteractive
    printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends bird3 >/dev/null
    cd /tmp && apt-get download -qq bird2 >/dev/null && dpkg -x bird2_*.deb /opt/bird2 && rm -f bird2_*.deb
    apt-get clean' >/dev/null 2>&1
fi
mkdir -p "$bin"
wrap() { # NAME PATH-IN-ROOT
  cat > "$bin/$1.tmp" <<W
#!/bin/sh
exec "$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" "$root$2" "\$@"
W
  chmod +x "$bin/$1.tmp" && mv "$bin/$1.tmp" "$bin/$1"
}
for t in bird birdc birdcl; do
  wrap "${t}3" "/usr/sbin/$t"
  wrap "${t}2" "/opt/bird2/usr/sbin/$t"
done
