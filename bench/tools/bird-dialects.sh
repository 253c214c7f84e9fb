#!/bin/bash
# bench/tools/bird-dialects.sh [N]: what each BIRD costs with N client
# sessions (default 10000), for the image's choice of BIRD (README "The
# image"). Each dialect (BIRD 1.6 of the host, BIRD 2 and 3 of
# scripts/birds.sh) runs alone in a network namespace of its own with only
# `lo` (its sessions to 10.77.x.y cannot leave it), on a config shaped like the
# agent's (the bgp_template of templates/, N `Node_` sessions with `rr client`
# and `rr cluster id`). Prints per dialect: start until the control socket
# answers, RSS, CPU while idle, and `configure` unchanged (3 times), with one
# session added and with it removed again. Root only; starts and stops its own
# BIRD and namespace.
set -eu
n=${1:-10000}
bin="${RR_CACHE:-/var/cache/routereflector}/bin"
work=$(mktemp -d /tmp/rr-dialects.XXXXXX)
trap 'rm -rf "$work"' EXIT

config() { # SESSIONS DIALECT(1|2)
  cat <<H
router id 10.77.62.1;
log stderr all;
graceful restart wait 30;
protocol device { scan time 10; }
template bgp bgp_template {
  debug off;
  description "routereflector";
  multihop;
$(if [ "$2" = 1 ]; then printf '  import all;\n  export all;'; else printf '  ipv4 { import all; export all; };'; fi)
  source address 10.77.62.1;
  graceful restart;
}
H
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) { a = int(i / 250); b = i % 250 + 1;
    printf "\nprotocol bgp Node_10_77_%d_%d from bgp_template {\n  local as 64512;\n  neighbor 10.77.%d.%d as 64512;\n  rr client;\n  rr cluster id 1.0.0.1;\n}\n", a, b, a, b } }'
}
ms() { date +%s%3N; }

measure() { # NAME BIRD BIRDC SYNTAX
  local name=$1 bird=$2 birdc=$3 syntax=$4 ns="rrdial$$-$1" d="$work/$1"
  mkdir -p "$d"
  config "$n" "$syntax" > "$d/n.conf"; config $((n + 1)) "$syntax" > "$d/n1.conf"
  cp "$d/n.conf" "$d/bird.conf"
  ip netns add "$ns"; ip -n "$ns" link set lo up
  local t0; t0=$(ms)
  ip netns exec "$ns" "$bird" -c "$d/bird.conf" -s "$d/ctl" -P "$d/pid" -d > "$d/log" 2>&1 &
  until "$birdc" -s "$d/ctl" show status 2>/dev/null | grep -q 'up and running'; do sleep 0.05; done
  local t1; t1=$(ms); local pid; pid=$(cat "$d/pid")
  rss() { awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status"; }
  cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
  echo "$name: $("$birdc" -s "$d/ctl" show protocols | grep -c Node_) sessions up in $((t1 - t0)) ms, RSS $(rss) MiB, $(ls "/proc/$pid/task" | wc -l) threads"
  sleep 5; local c0; c0=$(cpu); sleep 20; local c1; c1=$(cpu)
  echo "$name: CPU while idle: $(((c1 - c0) * 10 / 20)) ms/s; RSS $(rss) MiB"
  conf() { local s e r; s=$(ms); r=$("$birdc" -s "$d/ctl" configure 2>&1 | tail -1); e=$(ms); echo "$name: configure $1: $((e - s)) ms ($r)"; }
  conf unchanged; conf unchanged; conf unchanged
  cp "$d/n1.conf" "$d/bird.conf"; conf '+1 session'
  cp "$d/n.conf" "$d/bird.conf"; conf '-1 session'
  sleep 2; echo "$name: RSS after the configures: $(rss) MiB"
  kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  ip netns del "$ns"
}

measure bird1.6 /usr/sbin/bird /usr/sbin/birdc 1
measure bird2 "$bin/bird2" "$bin/birdc2" 2
measure bird3 "$bin/bird3" "$bin/birdc3" 2
