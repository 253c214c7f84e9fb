#!/bin/sh
# The README's test command (`npm test`): install what is missing, build,
# then run every test against the real components, in stages:
#   1. type check of the sources and the tests, unit and marble tests (pure code, virtual time)
#   2. integration tests and the benchmark smoke run (real etcd, BIRD, s6; two at a time)
#   3. the multi-host end-to-end fabric (once per route reflector BIRD: 1.6, 2, 3),
#      then the fault tests (the BIRD-dependent ones on BIRD 1.6 and the image's
#      BIRD), one file at a time: each builds a lab of its own and they must not
#      compete for two cores.
# With arguments, runs just `vitest run ARGS`.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$#" -gt 0 ]; then
  exec npx vitest run "$@"
fi
npm run --silent typecheck
npx vitest run test/unit test/marbles
npx vitest run test/integration test/bench
npx vitest run --maxWorkers=1 test/e2e
npx vitest run --maxWorkers=1 test/reliability
