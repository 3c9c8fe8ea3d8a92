#!/usr/bin/env bash
# Nightly CI: run a suite, compare it with a baseline scorecard, write the HTML report, JUnit XML and
# Markdown summaries, and exit with the verdict (docs/ci.md shows it in GitHub Actions, GitLab, cron).
#
#   ci/nightly.sh [--suite NAME|PATH] [--baseline FILE] [--out DIR] [--backend NAME] [--price NAME=PER_HOUR]
#                 [--update-baseline] [-- extra `dsbench run` options, e.g. --reps 10 --budget 2]
#
# Exit: 0 all results passed (or not supported) and no regression against the baseline;
#       1 an incorrect or errored result, or a regression (slower, accuracy, coverage);
#       2 usage or configuration error (bad options, unreadable baseline, a run that could not start).
# Writes to --out (default nightly/<UTC date>): scorecard.json, report.html, junit.xml, summary.md,
# and with a baseline compare.md, compare.json, compare.txt. Appends the Markdown to
# $GITHUB_STEP_SUMMARY when it is set. With no baseline file the run is reported, not compared;
# --update-baseline copies the scorecard over the baseline when the verdict is 0.
set -uo pipefail
cd "$(dirname "$0")/.."

suite=smoke baseline="" out="nightly/$(date -u +%Y-%m-%d)" backend=auto update=0 prices=() run_extra=()
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite="${2:?--suite needs a value}"; shift 2 ;;
    --baseline) baseline="${2:?--baseline needs a file}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --backend) backend="${2:?--backend needs a name}"; shift 2 ;;
    --price) prices+=(--price "${2:?--price needs NAME=PER_HOUR}"); shift 2 ;;
    --update-baseline) update=1; shift ;;
    --) shift; run_extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "nightly: unknown option $1" >&2; usage ;;
  esac
done

dsbench="${DSBENCH:-./build/dsbench}"
if [ ! -x "$dsbench" ]; then
  ci/build.sh dsbench || { echo "nightly: build failed" >&2; exit 2; }
fi
mkdir -p "$out" || { echo "nightly: cannot create $out" >&2; exit 2; }
card="$out/scorecard.json"

echo "nightly: dsbench run --suite $suite --backend $backend ${run_extra[*]:-}"
"$dsbench" run --suite "$suite" --backend "$backend" --out "$card" "${run_extra[@]}" > "$out/run.txt"
run_rc=$?
tail -n 3 "$out/run.txt"
if [ ! -s "$card" ]; then
  echo "nightly: the run wrote no scorecard (exit $run_rc); see $out/run.txt" >&2
  exit 2
fi

compare_rc=0
cards=("$card")
if [ -n "$baseline" ] && [ -f "$baseline" ]; then
  "$dsbench" compare "$baseline" "$card" --markdown "$out/compare.md" --json "$out/compare.json" > "$out/compare.txt"
  compare_rc=$?
  tail -n 4 "$out/compare.txt"
  [ "$compare_rc" -eq 2 ] && { echo "nightly: compare could not run: see $out/compare.txt" >&2; cat "$out/compare.txt" >&2; }
  cards=("$baseline" "$card")
elif [ -n "$baseline" ]; then
  echo "nightly: no baseline at $baseline yet: this run is reported, not compared"
fi

"$dsbench" report "${cards[@]}" --out "$out/report.html" --junit "$out/junit.xml" --markdown "$out/summary.md" \
  --title "dsbench nightly: $suite, $(date -u +%Y-%m-%d)" "${prices[@]}"
report_rc=$?

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  { cat "$out/summary.md"; [ -f "$out/compare.md" ] && cat "$out/compare.md"; } >> "$GITHUB_STEP_SUMMARY"
fi

# The verdict: configuration errors first, then failures and regressions.
if [ "$run_rc" -eq 2 ] || [ "$compare_rc" -eq 2 ] || [ "$report_rc" -ne 0 ]; then
  verdict=2
elif [ "$run_rc" -ne 0 ] || [ "$compare_rc" -ne 0 ]; then
  verdict=1
else
  verdict=0
fi
if [ "$verdict" -eq 0 ] && [ "$update" -eq 1 ] && [ -n "$baseline" ]; then
  mkdir -p "$(dirname "$baseline")" && cp "$card" "$baseline" && echo "nightly: baseline updated: $baseline"
fi
echo "nightly: run exit $run_rc, compare exit $compare_rc, report exit $report_rc -> verdict $verdict ($out)"
exit "$verdict"
