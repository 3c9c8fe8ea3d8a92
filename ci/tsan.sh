#!/usr/bin/env bash
# The in-process ranks (--local-ranks: ranks as threads, their rendezvous, barrier and shared-memory
# exchange) and the isolation worker (fork/exec, pipes, timeouts, signals) under ThreadSanitizer
# (preset "tsan", CPU backend, -O1). libgomp is excluded: OMP_NUM_THREADS=1 and tests/tsan.supp. Called by
# ci/test.sh; safe to run by hand after ci/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR=1
# handle_segv/sigill/abort=0: the faulty plugins crash on purpose, and the tests expect the raw signal.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:handle_segv=0:handle_sigill=0:handle_abort=0:suppressions=$PWD/tests/tsan.supp"
# libgomp is not built with TSan: a parallel region's worker threads touch the caller's stack through
# synchronisation TSan cannot see, and it reports them as races in our code. OpenMP therefore runs
# one thread here (no worker threads exist); our own threads (ranks, watchdogs) are what this checks.
export OMP_NUM_THREADS=1
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$(nproc)" --target dsbench dsbench_harness_tests faulty_rank_run dsbench_plugin_tests |
  grep -vE '^\[[0-9]+/[0-9]+\] (Building|Linking)' || true
ctest --preset tsan -j "$(nproc)" --no-tests=error \
  -R '^(LocalWorld|LocalCommunicator|RunnerRows)\.|^comm\.local_ranks_|^plugin\.end_to_end$|^PluginLoader\.'
echo "tsan: in-process ranks and isolation worker clean under ThreadSanitizer"
