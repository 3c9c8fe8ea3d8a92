#!/usr/bin/env bash
# Configures (CMake preset "default": Release, ccache, CUDA when nvcc is found, HIP when hipcc is found)
# and builds.
# Usage: ci/build.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths relative to the checkout in ccache's hashes: a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
cmake --preset default >/dev/null
if [ $# -gt 0 ]; then
  cmake --build --preset default -j "$(nproc)" --target "$@"
else
  cmake --build --preset default -j "$(nproc)"
fi
