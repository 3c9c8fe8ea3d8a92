#!/usr/bin/env bash
# Builds the GPU bundle: everything the lent GPU machine needs to judge dsbench's CUDA kernels in one
# short lease, prepared here (no GPU needed). docs/gpu_check.md says what is in it and how to run it.
#
#   ci/gpu_bundle.sh OUT_DIR        build (preset gpu-bundle: Release, sm_90a + sm_80, no MPI/HIP/
#                                   OpenBLAS, libstdc++ linked in), copy, carry libraries, fill the
#                                   reference cache, write OUT_DIR/manifest.json
#
# OUT_DIR is replaced only if it is empty or an earlier bundle (it holds manifest.json): nothing
# else is ever deleted. The bundle must stay under 48 MiB (the device call carries at most 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ $# -eq 1 ] || { echo "usage: ci/gpu_bundle.sh OUT_DIR" >&2; exit 2; }
out=$1
limit=$((48 * 1024 * 1024))
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/manifest.json" ]; then
  echo "gpu_bundle: $out exists, is not empty and is not a bundle (no manifest.json): refusing to replace it" >&2
  exit 2
fi
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "gpu_bundle: no nvcc (CUDA toolkit) found" >&2; exit 2; }
start=$(date +%s)

echo "gpu_bundle: building (preset gpu-bundle, build-gpu/)"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
cmake --preset gpu-bundle >/dev/null
targets=(dsbench dsbench_cuda_tests dsbench_cuda_sm90_tests dsbench_nccl_tests)
cmake --build --preset gpu-bundle -j "$(nproc)" --target "${targets[@]}" | grep -vE '^\[[0-9]+/[0-9]+\] (Building|Linking)' || true
for t in build-gpu/dsbench build-gpu/tests/dsbench_cuda_tests build-gpu/tests/dsbench_cuda_sm90_tests \
         build-gpu/tests/cuda/dsbench_nccl_tests; do
  [ -x "$t" ] || { echo "gpu_bundle: $t was not built" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/bin"
cp build-gpu/dsbench "$out/bin/"
# The test binaries lose their symbol tables (gtest names its tests itself); dsbench keeps them for
# compute-sanitizer's host backtraces.
for t in build-gpu/tests/dsbench_cuda_tests build-gpu/tests/dsbench_cuda_sm90_tests build-gpu/tests/cuda/dsbench_nccl_tests; do
  cp "$t" "$out/bin/"
  strip --strip-unneeded "$out/bin/$(basename "$t")"
done
mkdir -p "$out/suites" "$out/results_schema" "$out/ci" "$out/tools"
cp suites/*.json "$out/suites/"
cp results_schema/scorecard.schema.json "$out/results_schema/"
cp ci/gpu_check.sh "$out/ci/"
cp tools/gpu_bundle.py tools/gpu_check_summary.py "$out/tools/"

echo "gpu_bundle: shared libraries (from readelf NEEDED, resolved by ldd)"
python3 tools/gpu_bundle.py carry "$out"
python3 tools/gpu_bundle.py stubs "$out"

# The reference checks of every case the check runs, computed here once (the GPU host then computes
# no FP64 reference for them: docs/gpu_check.md#reference-cache). The seed is the bundle's.
seed=$(( $(date +%s) % 1000000007 ))
echo "gpu_bundle: filling the reference cache (seed $seed)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for suite in smoke gpu-check gpu-sanitize; do
  ( cd "$out" && DSBENCH_CACHE_DIR="$work" bin/dsbench run --backend cpu --suite "$suite" --seed "$seed" \
      --kernel 'cpu.*.optimized' --reference-cache reference-cache --reference-only --ceilings off \
      --out "$work/$suite.json" >"$work/$suite.log" 2>&1 ) || {
    echo "gpu_bundle: filling the cache for suite $suite failed:" >&2; tail -20 "$work/$suite.log" >&2; exit 1; }
  python3 - "$work/$suite.json" "$suite" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
cached = sum(1 for r in rows if "reference" in r and (r["reference"]["source"] == "cache" or
                                                      r["reference"]["detail"].endswith("; stored")))
bad = [r for r in rows if r["disposition"] == "error"]
for r in bad:
    print(f"gpu_bundle: {r['case_id']}: {r['reason']}", file=sys.stderr)
print(f"  {sys.argv[2]:13} {len(rows)} cases, {cached} references in the cache, {len(rows) - cached} computed on the target "
      "(multi-rank ops and checks with per-run state)")
sys.exit(1 if bad else 0)
EOF
done

python3 - build-gpu/CMakeCache.txt >"$work/flags.json" <<'EOF'
import json, re, sys
keep = ("CMAKE_BUILD_TYPE", "CMAKE_CXX_COMPILER", "CMAKE_CXX_FLAGS", "CMAKE_CXX_FLAGS_RELEASE", "CMAKE_CUDA_COMPILER",
        "CMAKE_CUDA_FLAGS", "CMAKE_CUDA_FLAGS_RELEASE", "CMAKE_CUDA_ARCHITECTURES", "CMAKE_EXE_LINKER_FLAGS",
        "DSB_ENABLE_CUDA", "DSB_ENABLE_HIP", "DSB_ENABLE_MPI", "DSB_ENABLE_OPENBLAS")
flags = {}
for line in open(sys.argv[1]):
    m = re.match(r"([A-Z_]+):[A-Z]+=(.*)$", line.rstrip("\n"))
    if m and m.group(1) in keep:
        flags[m.group(1)] = m.group(2)
print(json.dumps(flags))
EOF
dirty=0
git diff --quiet HEAD -- 2>/dev/null || dirty=1
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
python3 tools/gpu_bundle.py manifest "$out" --commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --dirty "$dirty" --built-at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --compiler "$(c++ --version | head -1)" \
  --cuda-version "$("$nvcc_bin" --version | tail -2 | head -1)" --seed "$seed" --libs-json "$out/.libs.json" \
  --cmake-cache-json "$work/flags.json"
rm -f "$out/.libs.json"
python3 tools/gpu_bundle.py check "$out"

size=$(du -sb "$out" | cut -f1)
echo "gpu_bundle: $out: $(( size / 1024 / 1024 )) MiB ($size bytes) in $(find "$out" -type f | wc -l) files, built in $(( $(date +%s) - start )) s; largest:"
find "$out" -type f -printf '%s\t%P\n' | sort -rn | head -8 | awk -F'\t' '{printf "  %6.1f MiB  %s\n", $1 / 1048576, $2}'
if [ "$size" -gt "$limit" ]; then
  echo "gpu_bundle: FAILED: the bundle is over 48 MiB" >&2
  exit 1
fi
echo "gpu_bundle: ready. On the GPU machine: bash ci/gpu_check.sh $out \"\$OUT\" (docs/gpu_check.md)"
