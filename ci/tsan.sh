#!/usr/bin/env bash
# The in-process ranks (--local-ranks: ranks as threads, their rendezvous, barrier and shared-memory
# exchange) and the isolation worker (fork/exec, pipes, timeouts, signals) under ThreadSanitizer
# (preset "tsan", CPU backend, -O1). libgomp is excluded (tests/tsan.supp says why). Called by
# ci/test.sh; safe to run by hand after ci/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$(nproc)" --target dsbench dsbench_harness_tests faulty_rank_run dsbench_plugin_tests |
  grep -vE '^\[[0-9]+/[0-9]+\] (Building|Linking)' || true
ctest --preset tsan -j "$(nproc)" --no-tests=error \
  -R '^(LocalWorld|LocalCommunicator|RunnerRows)\.|^comm\.local_ranks_|^plugin\.end_to_end$|^PluginLoader\.'
echo "tsan: in-process ranks and isolation worker clean under ThreadSanitizer"
