#!/bin/sh
# A polling renderer in the style of confd's interval mode, for the bench's
# TOOL_CMD (not for production: no validation at all): every POLL_INTERVAL
# seconds read the whole prefix with etcdctl, render one line per BGP
# protocol, and replace bird.cfg when the text changed.
#   TOOL_CMD='sh bench/tools/poll-render.sh' npm run bench
# Uses ETCD_ENDPOINTS, CONFIG_DIR and IP as the bench sets them.
set -eu
here=$(dirname "$0")
out="$CONFIG_DIR/bird.cfg"
tmp="$CONFIG_DIR/.poll-render.tmp"
while :; do
  {
    echo "router id $IP;"
    ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" get --prefix /calico/bgp/v1/ | awk -v me="$IP" -f "$here/poll-render.awk" | sort
  } > "$tmp"
  cmp -s "$tmp" "$out" || mv "$tmp" "$out"
  sleep "${POLL_INTERVAL:-0.1}"
done
