#!/usr/bin/env bash
# Every CPU test under AddressSanitizer and UBSan (CMake preset "asan": CPU backend, -O1, any finding
# aborts): the unit tests, the conformance test over every CPU kernel and smoke case, the CLI, report,
# plugin and in-process-rank end-to-end tests, then the smoke suite and the MLA correctness grid
# through the real binary. Called by ci/test.sh; safe to run by hand after ci/bootstrap.sh.
# Left out: the timing test report.compare_end_to_end (a sanitizer's slowdown is what it would
# measure) and the Chromium rendering of the HTML report (a browser, not our code);
# docs/reliability.md#sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR=1  # a -g build: let a clone in another folder reuse the cache (debug paths may name it)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)" | grep -vE '^\[[0-9]+/[0-9]+\] (Building|Linking)' || true
ctest --preset asan -j "$(nproc)" -L cpu --no-tests=error \
  -E '^report\.(compare_end_to_end|chromium_setup|html_in_chromium)$|^plugin\.end_to_end$'
# The faulty plugins crash on purpose: the test expects the raw signal (SIGSEGV, SIGILL, SIGABRT),
# which ASan's own handlers would turn into a report and an abort.
ASAN_OPTIONS=detect_leaks=1:handle_segv=0:handle_sigill=0:handle_abort=0 ctest --preset asan -R '^plugin\.end_to_end$' --no-tests=error
./build-asan/dsbench run --suite smoke --verify-only --out build-asan/smoke.json >/dev/null
./build-asan/dsbench run --suite mla-correctness --kernel '*optimized' --case '*sk20*' --verify-only \
  --out build-asan/mla_grid.json >/dev/null
echo "asan: every CPU test clean under AddressSanitizer and UBSan"
