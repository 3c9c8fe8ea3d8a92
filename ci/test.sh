#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build everything, run every test (ctest).
# Tests labelled gpu skip cleanly without a device; the last line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/bootstrap.sh
ci/build.sh
ctest --preset default -j "$(nproc)"
