#!/bin/sh
# The README's test command (`npm test`): install what is missing, build,
# then run every test (unit, marbles, integration with real etcd and BIRD).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
export PATH="$PATH:/usr/sbin:/sbin"
exec npx vitest run "$@"
