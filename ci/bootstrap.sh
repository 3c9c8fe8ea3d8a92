#!/usr/bin/env bash
# Installs the Debian packages dsbench needs, only those missing (a second run installs nothing).
# Used by ci/quickstart.sh and ci/test.sh; safe to run by hand. Needs root or sudo for apt-get.
set -euo pipefail

packages=(cmake ninja-build g++ ccache git
          nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
          libxxhash-dev               # header-only hashing of inputs and reference-cache entries
          clang libclang-rt-14-dev libomp-14-dev   # libFuzzer targets under ASan/UBSan (ci/fuzz.sh)
          libopenmpi-dev openmpi-bin  # the MPI communicator and multi-rank tests (mpirun -np 2 and 4)
          hipcc libamdhip64-dev       # the HIP backend compiles for gfx90a and gfx940 (no AMD GPU needed)
          python3 python3-numpy python3-jsonschema
          chromium)  # headless, for the HTML report test (tests/report/report_chromium_test.py)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "bootstrap: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done"
