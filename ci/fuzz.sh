#!/usr/bin/env bash
# Fuzzes every input format dsbench reads (libFuzzer, clang; AddressSanitizer and UBSan; preset
# "fuzz"): the suite loader with every op's params reader, .npy, case.json, the scorecard loader and
# schema validator, compare's input, the plugin table. docs/reliability.md has the figures.
#
#   ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target; CI runs it)
#
# Each target starts from its committed seed corpus (tests/fuzz/corpus/<target>: the real suites,
# scorecards and dumps, and the regression inputs of the hardening defects) copied into
# build-fuzz/corpus/<target>, where what it learns accumulates between runs. A crash, leak, hang
# (over 10 s on one input) or sanitizer report fails the script; the input that caused it is kept
# in build-fuzz/artifacts/<target>/ and its path printed, for a regression seed and a fix.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(suite npy case_json scorecard compare plugin_table)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR=1
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" | grep -vE '^\[[0-9]+/[0-9]+\] (Building|Linking)' || true
# The scorecard loader finds the schema in the working folder.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
summary=()
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t artifacts=build-fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log=build-fuzz/fuzz_$t.log
  if build-fuzz/tests/fuzz/fuzz_"$t" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=1048576 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    state=clean
  else
    state=FAILED
    failed=1
  fi
  stats=$(grep -E '^#[0-9]+\s+DONE' "$log" | tail -1 | sed -E 's/^#([0-9]+)\s+DONE\s+cov: ([0-9]+) ft: ([0-9]+).*exec\/s: ([0-9]+).*/\1 runs, cov \2, ft \3, \4 exec\/s/' || true)
  summary+=("$(printf '  %-13s %-7s %s; corpus %s inputs' "$t" "$state" "${stats:-no final stats}" "$(ls "$corpus" | wc -l)")")
  if [ "$state" = FAILED ]; then
    echo "fuzz: $t FAILED: the last lines of $log:" >&2
    tail -30 "$log" >&2
    ls "$artifacts" | sed "s|^|  kept: $artifacts/|" >&2
  fi
done
echo "fuzz: ${#targets[@]} targets, $seconds s each (AddressSanitizer + UBSan):"
printf '%s\n' "${summary[@]}"
[ $failed -eq 0 ] && echo "fuzz: 0 crashes" || echo "fuzz: FAILED (inputs kept under build-fuzz/artifacts/)"
exit $failed
