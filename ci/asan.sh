#!/usr/bin/env bash
# The CPU paths of MLA decode under AddressSanitizer and UBSan (CMake preset "asan": CPU backend,
# -O1, any finding aborts): the MLA unit tests (NaN past every length, unused block_table entries,
# contract violations refused without a read) and the smoke and correctness-grid cases through the
# real binary. Called by ci/test.sh; safe to run by hand after ci/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR=1  # a -g build: let a clone in another folder reuse the cache (debug paths may name it)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)" --target dsbench dsbench_kernel_tests dsbench_reference_tests dsbench_harness_tests
ctest --preset asan -j "$(nproc)" -R 'Mla' --no-tests=error
./build-asan/dsbench run --suite smoke --case 'mla_decode/*' --verify-only --out build-asan/mla_smoke.json >/dev/null
./build-asan/dsbench run --suite mla-correctness --kernel '*optimized' --case '*sk20*' --verify-only \
  --out build-asan/mla_grid.json >/dev/null
echo "asan: MLA decode CPU paths clean under AddressSanitizer and UBSan"
