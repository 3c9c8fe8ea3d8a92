#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build everything, run every test (ctest).
# Tests labelled gpu skip cleanly without a device; the last line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/bootstrap.sh
# MPI is required here (bootstrap installs Open MPI): a CI machine without it fails the configure
# instead of quietly dropping the multi-rank tests.
DSB_CONFIGURE_ARGS="-DDSB_ENABLE_MPI=ON" ci/build.sh
ci/asan.sh          # every CPU test under AddressSanitizer and UBSan
ci/tsan.sh          # the in-process ranks and the isolation worker under ThreadSanitizer
ci/fuzz.sh "${DSB_FUZZ_SECONDS:-60}"   # every input format fuzzed (libFuzzer, ASan + UBSan), 60 s a target
# The GPU bundle (docs/gpu_check.md), which ctest's gpu_check.* then checks in its no-GPU mode.
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then ci/gpu_bundle.sh build-gpu/bundle; fi
ctest --preset default -j "$(nproc)"
