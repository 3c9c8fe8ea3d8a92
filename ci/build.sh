#!/usr/bin/env bash
# Configures (CMake preset "default": Release, ccache, CUDA when nvcc is found, HIP when hipcc is found)
# and builds.
# Usage: ci/build.sh [target...]   (DSB_CONFIGURE_ARGS: extra configure arguments, e.g. -DDSB_ENABLE_MPI=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths relative to the checkout in ccache's hashes: a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
# shellcheck disable=SC2086  # the arguments are words
cmake --preset default ${DSB_CONFIGURE_ARGS:-} >/dev/null
if [ $# -gt 0 ]; then
  cmake --build --preset default -j "$(nproc)" --target "$@"
else
  cmake --build --preset default -j "$(nproc)"
fi
