#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build everything, run every test (ctest).
# Tests labelled gpu skip cleanly without a device; the last line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/bootstrap.sh
ci/build.sh
ci/asan.sh  # the MLA decode CPU paths under AddressSanitizer and UBSan: nothing reads out of bounds
ctest --preset default -j "$(nproc)"
