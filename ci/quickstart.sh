#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, and run the default suite (smoke) on the
# best available backend (a GPU when there is one, else the CPU). Prints the results table and
# writes the scorecard to dsbench-results/smoke.json. Extra arguments go to `dsbench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/bootstrap.sh
ci/build.sh dsbench
exec ./build/dsbench run --suite smoke --backend auto --out dsbench-results/smoke.json "$@"
