#!/usr/bin/env bash
# The GPU check: one command on the lent GPU machine, over a bundle built here by ci/gpu_bundle.sh.
#
#   bash ci/gpu_check.sh BUNDLE_DIR OUT_DIR
#
# Steps, in order, each under its own timeout and all under one budget (DSB_GPU_CHECK_BUDGET_S,
# default 420 s), so that one hang cannot eat the lease; a step that times out is named in the
# summary and the later steps still run:
#   1 env        nvidia-smi, driver and toolkit versions, where the CUDA libraries were found, the
#                bundle's library check
#   2 gtests     the GPU gtests (the emulated ones ran in CI already)
#   3 calibrate  dsbench calibrate: the card's measured copy bandwidth and GEMM rates
#   4 smoke      the smoke suite on cuda, each case x kernel in its own worker (--isolate)
#   5 subset     suite gpu-check: each op's DeepSeek-V3 decode- and prefill-sized cases
#   6 memcheck   compute-sanitizer memcheck over suite gpu-sanitize (GEMM, MLA, MoE)
#   7 racecheck  compute-sanitizer racecheck, one case of each kernel that uses shared memory
# Without a GPU (here, CI) it runs to the end: "no GPU", every cuda row not_supported, exit 0.
# Environment: DSB_GPU_CHECK_BUDGET_S (all steps, default 420), DSB_GPU_CHECK_STEP_S (a cap on every
# step, default none), DSB_CUDA_LIB_DIRS (':'-separated folders to search for libcublasLt.so.13 and
# libnccl.so.2 instead of the toolkit's, PyTorch's nvidia/*/lib and ldconfig's).
# OUT_DIR receives at most 8 files, flat: summary.txt, gpu_check.log, the scorecards
# (smoke-cuda.json, gpu-check-cuda.json), gtests.json and manifest.json. The summary prints last.
# Exit status: 0 when every step ran to its end (rows may still be incorrect: read the summary),
# 1 when a step failed or timed out, 2 on a usage error.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: ci/gpu_check.sh BUNDLE_DIR OUT_DIR" >&2; exit 2; }
bundle=$(cd "$1" 2>/dev/null && pwd) || { echo "gpu_check: no bundle folder $1" >&2; exit 2; }
[ -f "$bundle/manifest.json" ] || { echo "gpu_check: $bundle is not a bundle (no manifest.json; build one with ci/gpu_bundle.sh)" >&2; exit 2; }
mkdir -p "$2" || exit 2
out=$(cd "$2" && pwd)
budget=${DSB_GPU_CHECK_BUDGET_S:-420}
t0=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$out/gpu_check.log
: >"$log"
steps=$work/steps.tsv
: >"$steps"
seed=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seed'])" "$bundle/manifest.json")
cp "$bundle/manifest.json" "$out/manifest.json"
# The cache is copied: a recomputed entry is written to the copy, never into the bundle.
cp -r "$bundle/reference-cache" "$work/reference-cache" 2>/dev/null || mkdir -p "$work/reference-cache"
export DSBENCH_CACHE_DIR=$work/ceilings   # calibrate's ceilings, read back by the runs
say() { echo "$*" | tee -a "$log"; }

# run_step NAME CAP_S COMMAND...: runs under min(CAP_S, what is left of the budget), output to the
# log (at most 4 MiB a step: its head and tail), a line per step in steps.tsv. Succeeds when the
# command's status is in OK_RC (default 0: dsbench run's 1, rows incorrect, is a result, not a failure).
run_step() {
  local name=$1 cap=$2
  shift 2
  local left=$(( budget - ($(date +%s) - t0) ))
  if [ "$left" -lt 5 ]; then
    printf '%s\tnot_run\t0\tthe %s s budget was spent\n' "$name" "$budget" >>"$steps"
    say "== $name: not run: the $budget s budget was spent"
    return 1
  fi
  [ -n "${DSB_GPU_CHECK_STEP_S:-}" ] && [ "$DSB_GPU_CHECK_STEP_S" -lt "$cap" ] && cap=$DSB_GPU_CHECK_STEP_S
  local lim=$(( cap < left ? cap : left ))
  say "== $name (timeout ${lim} s): $*"
  local s=$(date +%s)
  # timeout signals its whole process group, so a step's workers and sanitizer go with it; a step
  # that is a function of this script runs in a child bash (exported below).
  if declare -F "$1" >/dev/null; then
    timeout --kill-after=10 "$lim" bash -c '"$@"' _ "$@" >"$work/step.out" 2>&1
  else
    timeout --kill-after=10 "$lim" "$@" >"$work/step.out" 2>&1
  fi
  local rc=$?
  local dt=$(( $(date +%s) - s ))
  if [ "$(stat -c %s "$work/step.out")" -gt 4194304 ]; then
    { head -c 2097152 "$work/step.out"; printf '\n... [cut: over 4 MiB] ...\n'; tail -c 2097152 "$work/step.out"; } >>"$log"
  else
    cat "$work/step.out" >>"$log"
  fi
  local state=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then state=timed_out
  elif [ $rc -ne 0 ] && [[ " ${OK_RC:-0} " != *" $rc "* ]]; then state=failed; fi
  printf '%s\t%s\t%s\trc %s\n' "$name" "$state" "$dt" "$rc" >>"$steps"
  say "== $name: $state (rc $rc, $dt s)"
  [ "$state" = ok ]
}

# 1. Environment and libraries.
have_gpu=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then have_gpu=1; fi
libpath=()
missing=()
find_lib() {  # find_lib SONAME: prints the first folder that holds it
  local so=$1 d
  local dirs=("${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib)
  if [ -n "${DSB_CUDA_LIB_DIRS:-}" ]; then
    IFS=: read -r -a dirs <<<"$DSB_CUDA_LIB_DIRS"
    for d in "${dirs[@]}"; do
      if [ -e "$d/$so" ]; then echo "$d"; return 0; fi
    done
    echo "searched: ${dirs[*]} (DSB_CUDA_LIB_DIRS)" >&2
    return 1
  fi
  local py
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null || continue
    while IFS= read -r d; do dirs+=("$d"); done < <("$py" - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = list(site.getsitepackages()) + [site.getusersitepackages()] + sys.path
for r in dict.fromkeys(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        print(d)
EOF
)
  done
  for d in "${dirs[@]}"; do
    if [ -e "$d/$so" ]; then echo "$d"; return 0; fi
  done
  local hit
  hit=$(ldconfig -p 2>/dev/null | awk -v so="$so" '$1 == so {print $NF; exit}')
  if [ -n "$hit" ]; then dirname "$hit"; return 0; fi
  echo "searched: ${dirs[*]} and ldconfig -p" >&2
  return 1
}
env_step() {
  echo "bundle: $(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['git_commit'][:12] + ('+dirty' if m['git_dirty'] else ''), m['built_at'], m['cuda_version'])" "$bundle/manifest.json")"
  echo "host: $(uname -srm); $(ldd --version | head -1)"
  if [ $have_gpu -eq 1 ]; then nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; else echo "no GPU: nvidia-smi lists none (every cuda row will be not_supported)"; fi
  if command -v nvcc >/dev/null; then nvcc --version | tail -2; elif [ -x /usr/local/cuda/bin/nvcc ]; then /usr/local/cuda/bin/nvcc --version | tail -2; else echo "no nvcc on this host"; fi
  echo "CUDA libraries: $lib_report"
  # shellcheck disable=SC2086  # folders found by find_lib, one word each
  python3 "$bundle/tools/gpu_bundle.py" check "$bundle" $libpath_args
}
lib_report=""
for so in libcublasLt.so.13 libnccl.so.2; do
  if d=$(find_lib "$so" 2>"$work/search"); then
    libpath+=("$d")
    lib_report+="$so in $d; "
  else
    missing+=("$so")
    lib_report+="$so NOT FOUND ($(cat "$work/search")): its stand-in from the bundle fails every call; "
  fi
done
[ ${#missing[@]} -gt 0 ] && libpath+=("$bundle/stubs")
[ ${#libpath[@]} -gt 0 ] && mapfile -t libpath < <(printf '%s\n' "${libpath[@]}" | awk '!seen[$0]++')
libpath_args=""
for d in "${libpath[@]}"; do libpath_args+=" --lib-path $d"; done
export LD_LIBRARY_PATH="$bundle/lib${libpath[*]:+:$(IFS=:; echo "${libpath[*]}")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for so in "${missing[@]}"; do say "gpu_check: $so not found on this host; the bundle's stand-in is used (the steps still run)"; done
[ $have_gpu -eq 1 ] || say "gpu_check: no GPU"
failed=0
dsb=$bundle/bin/dsbench
export bundle out work seed dsb have_gpu lib_report libpath_args
export -f env_step
run_step env 60 env_step || failed=1

cd "$bundle" || exit 1  # dsbench finds suites/ and results_schema/ here

# 2. The GPU gtests. The emulated kernels ran in CI; the DeepSeek-V3 GEMM gtest's host references
# would cost minutes here (step 5 runs those shapes with cached references).
gtests_step() {
  local rc=0 t
  for t in dsbench_cuda_tests dsbench_cuda_sm90_tests dsbench_nccl_tests; do
    "$bundle/bin/$t" --gtest_filter='-*Emulated*:*DeepSeekV3*' --gtest_output="json:$work/gtest_$t.json" || rc=1
  done
  return $rc
}
export -f gtests_step
run_step gtests 120 gtests_step || failed=1
python3 - "$work" "$out/gtests.json" <<'EOF'
import glob, json, os, sys
merged = {"testsuites": []}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "gtest_*.json"))):
    try:
        doc = json.load(open(f))
    except Exception as e:
        doc = {"error": f"{os.path.basename(f)}: unreadable ({e})"}
    doc["binary"] = os.path.basename(f)[6:-5]
    merged["testsuites"].append(doc)
json.dump(merged, open(sys.argv[2], "w"), indent=1)
EOF

# 3. Ceilings.
if [ $have_gpu -eq 1 ]; then
  run_step calibrate 90 "$dsb" calibrate --backend cuda || failed=1
else
  printf 'calibrate\tskipped\t0\tno GPU\n' >>"$steps"; say "== calibrate: skipped (no GPU)"
fi

# 4. Smoke, isolated: the first time these kernels meet hardware, a crash costs one row.
OK_RC="0 1" run_step smoke 150 "$dsb" run --backend cuda --suite smoke --seed "$seed" --isolate --case-timeout 60 \
  --reference-cache "$work/reference-cache" --out "$out/smoke-cuda.json" || failed=1

# 5. The DeepSeek-V3 subset in one process; if that process dies, again with a worker per row.
subset() {
  "$dsb" run --backend cuda --suite gpu-check --seed "$seed" --reference-cache "$work/reference-cache" \
    --out "$out/gpu-check-cuda.json" "$@"
}
export -f subset
if ! OK_RC="0 1" run_step subset 200 subset; then
  state=$(tail -1 "$steps" | cut -f2)
  if [ "$state" = failed ]; then
    say "gpu_check: the subset run died ($(tail -1 "$steps" | cut -f4)): again with --isolate (a crash then costs one row)"
    OK_RC="0 1" run_step subset_isolated 200 subset --isolate --case-timeout 60 || failed=1
  else
    failed=1
  fi
fi

# 6-7. compute-sanitizer.
sanitizer=""
for c in "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" /usr/local/cuda/bin/compute-sanitizer "$(command -v compute-sanitizer)"; do
  [ -n "$c" ] && [ -x "$c" ] && { sanitizer=$c; break; }
done
if [ $have_gpu -eq 1 ] && [ -n "$sanitizer" ]; then
  # Status 99 is the sanitizer's finding; dsbench's own 1 (a row incorrect) is counted in the summary.
  OK_RC="0 1" run_step memcheck 100 "$sanitizer" --tool memcheck --leak-check no --error-exitcode 99 \
    "$dsb" run --backend cuda --suite gpu-sanitize --seed "$seed" --verify-only --ceilings off \
    --reference-cache "$work/reference-cache" --out "$work/memcheck.json" || failed=1
  racecheck_step() {
    local rc=0 pair
    for pair in "gemm_fp8_blockscaled/m128_n256_k512|cuda.gemm_fp8_blockscaled.sm90" \
                "mla_decode/b2_sq1_hq16_sk140|cuda.mla_decode.*" \
                "moe_route/t128_gate|cuda.moe_route.warp" \
                "moe_dispatch/t77_h256_e16_k4_fp8_masked_skewed|cuda.moe_dispatch.permute" \
                "moe_combine/t96_h512_e32_k6_contiguous|cuda.moe_combine.gather" \
                "moe_layer/t64_h256_i256_e16_k4_contiguous|cuda.moe_layer.chained_naive"; do
      echo "-- racecheck ${pair%%|*} x ${pair##*|}"
      "$sanitizer" --tool racecheck --racecheck-report all --error-exitcode 99 \
        "$dsb" run --backend cuda --suite gpu-sanitize --seed "$seed" --verify-only --ceilings off \
        --case "${pair%%|*}" --kernel "${pair##*|}" --reference-cache "$work/reference-cache" \
        --out "$work/racecheck.json"
      local r=$?
      [ $r -le 1 ] || rc=1
    done
    return $rc
  }
  export sanitizer
  export -f racecheck_step
  run_step racecheck 90 racecheck_step || failed=1
else
  why=$([ $have_gpu -eq 1 ] && echo "compute-sanitizer not found" || echo "no GPU")
  for s in memcheck racecheck; do printf '%s\tskipped\t0\t%s\n' "$s" "$why" >>"$steps"; say "== $s: skipped ($why)"; done
fi

# The summary: printed last, and kept.
python3 "$bundle/tools/gpu_check_summary.py" --steps "$steps" --log "$log" --total-s $(( $(date +%s) - t0 )) \
  --budget-s "$budget" --gpu "$have_gpu" "$out/smoke-cuda.json" "$out/gpu-check-cuda.json" >"$out/summary.txt" 2>&1 ||
  echo "gpu_check: the summary could not be made (see gpu_check.log)" >>"$out/summary.txt"
cat "$out/summary.txt" | tee -a "$log"
exit $failed
