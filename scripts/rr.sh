#!/bin/sh
# `npm run rr -- ARGS`: the `routereflector` CLI of this checkout, with the
# environment of the local tree that `npm run up` started.
#
#   npm run rr -- status
#   npm run rr -- rr list
#   npm run --silent rr -- status --json | jq .    (--silent: no npm banner on stdout)
#
# Reads .state/up/env (written by scripts/up.sh: IP, etcd, CONFIG_DIR, the
# control sockets, ...) and sets each variable there that this shell has not
# set, so a variable you give wins (e.g. ETCD_ENDPOINTS of another etcd).
# No .state/up/env: the CLI's own defaults (/sockets/bird.ctl, etcd on
# 127.0.0.1:2379). .state/up/bin/routereflector is a link to this script, so
# with that directory on PATH `routereflector ARGS` is the same command.
set -eu
self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
main="$repo/dist/app/main.js"
envfile="$repo/.state/up/env"

if [ ! -f "$main" ]; then
  echo "rr: $main is missing: run npm run up (or npm run build) first" >&2
  exit 2
fi
if [ -f "$envfile" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    name=${line%%=*}
    case $name in
      *[!A-Z0-9_]* | '' | [0-9]*) echo "rr: $envfile: skipped a line that is not NAME='value'" >&2; continue ;;
    esac
    eval "isset=\${$name+x}"
    [ -z "$isset" ] || continue
    # The value is one single-quoted shell word ('\'' for a quote), as
    # scripts/up.sh writes it; it is unquoted here, never evaluated.
    quoted=${line#*=}
    inner=$(printf '%s\n' "$quoted" | sed -n "s/^'\(.*\)'\$/\1/p")
    case $(printf '%s' "$inner" | sed "s/'\\\\''//g") in
      *"'"*) inner= ;;
    esac
    if [ -z "$inner" ]; then
      echo "rr: $envfile: skipped $name (not one single-quoted value)" >&2
      continue
    fi
    export "$name=$(printf '%s' "$inner" | sed "s/'\\\\''/'/g")"
  done <"$envfile"
fi
# Through its #! line (node's flags for the agent), as the image's routereflector.
[ -x "$main" ] || exec node "$main" "$@"
exec "$main" "$@"
