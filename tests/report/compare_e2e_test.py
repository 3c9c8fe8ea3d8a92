#!/usr/bin/env python3
"""End-to-end tests of `dsbench compare` and `dsbench report` on real runs.

Usage: compare_e2e_test.py <dsbench> <slowed_run> <repo-root>

1. Two ordinary smoke runs (same binary, same machine) must compare with exit 0 in both orders,
   every result "same" (none slower or faster).
2. A run whose kernels all take 20% longer (slowed_run: the real harness over a CPU backend whose
   kernels spin for 20% of their own duration) must compare with exit 1, name the regressed
   results, and none may come out "faster". Its --junit and --format markdown outputs are checked.
3. Bad input (another major version, truncated, hand-edited, no overlap, empty, missing, usage
   errors) must give exit 2 and a message naming the file and field, never a verdict.

The verdict assertions (identical runs: exit 0, none slower or faster, most "same" where compare
keeps its floor; 20% slowdown: exit 1, the suite slower, the regressed results named, host-timed
results reported but not gated) are asserted on synthetic scorecards of known noise (the live base
run's rows with seeded log-normal samples: 2% within a run, 2% drift between runs), so a busy host
cannot fail them. The same judgements on the live runs are printed as REPORT lines that cannot fail
the test: on a loaded CI machine all 40 live results once came out "noisy" at a 7% spread, which is
compare doing its job, not a defect. Everything else (the runs themselves, --rounds, --junit,
--format markdown, report, bad input) is asserted. Prints PASS/FAIL lines and `N passed, M failed`.
"""

import json
import math
import re
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

DSBENCH, SLOWED, REPO = sys.argv[1], sys.argv[2], sys.argv[3]
ROUNDS = 2
RUN_ARGS = ["--suite", "smoke", "--seed", "7", "--reps", "4", "--budget", "0.1"]  # per round
NOISE_FLOOR = 0.10  # compare's default --noise-floor for host-timed (CPU) results




def dsbench(*args):
    return subprocess.run([DSBENCH] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def compare(a, b, name):
    """dsbench compare a b; returns (process, {key: verdict}, suite dict)."""
    path = os.path.join(TMP, "cmp-%s.json" % name)
    p = dsbench("compare", a, b, "--json", path)
    if not os.path.exists(path):
        return p, {}, {}
    doc = json.load(open(path))
    return p, {r["key"]: r["verdict"] for r in doc["rows"]}, doc["suite"]


def percentile(sorted_values, q):
    """NumPy's default (linear) percentile, as the harness computes it."""
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def merged_timing(timings):
    """One timing out of several rounds' timings of the same result: all samples, statistics
    recomputed as harness/timing.cpp's summarize() does."""
    t = dict(timings[0])
    raw = [x for tm in timings for x in tm["raw_ms"]]
    v = sorted(raw)
    n = len(v)
    mean = sum(v) / n
    var = sum((x - mean) ** 2 for x in v) / (n - 1) if n > 1 else 0.0
    t.update(raw_ms=raw, samples=n, median_ms=percentile(v, 0.5), p10_ms=percentile(v, 0.1),
             p90_ms=percentile(v, 0.9), min_ms=v[0], max_ms=v[-1], mean_ms=mean, stdev_ms=math.sqrt(var),
             stop_reason="%d rounds, each ended by %s" % (len(timings), timings[-1]["stop_reason"]))
    t["rel_spread"] = (t["p90_ms"] - t["p10_ms"]) / t["median_ms"] if t["median_ms"] > 0 else 0.0
    t["noise"] = math.sqrt(var) / (mean * math.sqrt(n)) if n > 1 and mean > 0 else 0.0
    return t


def merge_scorecards(by_case, out):
    """One scorecard out of per-case, per-round ones of the same run configuration: results in suite
    order, each with every round's samples, and the summary recomputed as the harness writes it."""
    docs = {i: [json.load(open(f)) for f in files] for i, files in by_case.items()}
    doc = json.loads(json.dumps(docs[min(docs)][0]))
    doc["results"] = []
    for i in sorted(docs):
        rounds = docs[i]
        for j, r in enumerate(rounds[0]["results"]):
            timings = [d["results"][j]["timing"] for d in rounds]
            if all(t is not None for t in timings):
                r["timing"] = merged_timing(timings)
                if r["metrics"].get("gbps") is not None:
                    s = r["timing"]["median_ms"] * 1e-3
                    r["metrics"]["gbps"] = r["metrics"]["bytes"] / s / 1e9
                    r["metrics"]["tflops"] = r["metrics"]["flops"] / s / 1e12
            doc["results"].append(r)
    kinds = ["passed", "incorrect", "error", "not_supported", "skipped", "not_verified"]
    by_disp = {k: 0 for k in kinds}
    by_op = {}
    for r in doc["results"]:
        by_disp[r["disposition"]] += 1
        op = r["op"] or "(no op)"
        by_op.setdefault(op, {k: 0 for k in kinds})[r["disposition"]] += 1
    doc["summary"] = {"results": len(doc["results"]), "by_disposition": by_disp, "by_op": by_op}
    doc["exit_code"] = max(d["exit_code"] for ds in docs.values() for d in ds)
    with open(out, "w") as f:
        json.dump(doc, f)


def noise_floor_in_force(name):
    return json.load(open(os.path.join(TMP, "cmp-%s.json" % name)))["options"]["noise_floor_in_force"]


def count(d, v):
    return sum(1 for x in d.values() if x == v)


def bad_input_checks(tmp, base):
    doc = json.load(open(base))
    text = open(base).read()

    def write(name, content):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return p

    def refused(name, path, *parts, args=None):
        p = dsbench(*(args or ["compare", base, path]))
        out = p.stdout + p.stderr
        check("bad input: %s exits 2" % name, p.returncode == 2, "rc=%d: %s" % (p.returncode, out[-600:]))
        check("bad input: %s says why" % name, all(x in out for x in parts), "wanted %s in: %s" % (parts, out[-600:]))
        check("bad input: %s gives no verdict" % name, "verdict:" not in p.stdout, p.stdout[-300:])

    v2 = dict(doc, schema_version="2.0.0")
    refused("other major version", write("v2.json", v2), "v2.json: /schema_version", "major version 2")
    refused("truncated file", write("cut.json", text[: len(text) // 2]), "cut.json: not valid JSON", "truncated?")
    edited = json.loads(text)
    edited["results"][1]["timing"]["median_ms"] = edited["results"][1]["timing"]["median_ms"] * 0.5
    refused("edited median", write("edited.json", edited), "edited.json: /results/1/timing/median_ms", "edited by hand")
    broken = json.loads(text)
    broken["results"][0]["disposition"] = "great"
    refused("schema violation", write("broken.json", broken), "broken.json", "/results/0/disposition")
    other = json.loads(text)
    for r in other["results"]:
        r["case_id"] = "other_op/" + r["case_id"]
    refused("no overlapping results", write("other.json", other), "no overlapping results")
    empty = os.path.join(tmp, "empty.json")
    p = dsbench("run", "--suite", os.path.join(tmp, "no-such-suite.json"), "--out", empty)
    check("a run that cannot start writes an empty scorecard", p.returncode == 2 and os.path.exists(empty), p.stderr)
    refused("empty scorecard", empty, "empty.json: /results: empty", "no-such-suite")
    refused("missing file", os.path.join(tmp, "absent.json"), "absent.json: cannot be opened")
    refused("missing argument", None, "new", args=["compare", base])
    refused("bad threshold", None, "--threshold", "\"abc\"", args=["compare", base, base, "--threshold", "abc"])
    refused("report of a truncated card", None, "cut.json", args=["report", base, os.path.join(tmp, "cut.json"),
                                                                    "--out", os.path.join(tmp, "x.html")])
    refused("report with a bad price", None, "--price", args=["report", base, "--price", "cpu=free",
                                                                "--out", os.path.join(tmp, "x.html")])


TMP = tempfile.mkdtemp(prefix="dsbench-compare-e2e-")


def synthetic_cards(template, tmp, sigma_within=0.02, sigma_between=0.02, slowdown=1.2, seed=7):
    """base, again and slowed scorecards made from a real one's rows with samples of known noise:
    each result's samples scatter log-normally by sigma_within, and each run moves each result by its
    own log-normal factor of sigma_between (run-to-run drift); slowed is base's truth x slowdown.
    Deterministic (seeded), so the verdicts do not depend on the machine."""
    import random
    rng = random.Random(seed)
    doc = json.load(open(template))
    out = []
    for label, factor in (("base", 1.0), ("again", 1.0), ("slowed", slowdown)):
        d = json.loads(json.dumps(doc))
        for r in d["results"]:
            t = r.get("timing")
            if not t:
                continue
            centre = t["median_ms"] * factor * math.exp(rng.gauss(0.0, sigma_between))
            t = dict(t, raw_ms=[centre * math.exp(rng.gauss(0.0, sigma_within)) for _ in range(30)])
            r["timing"] = merged_timing([t])
            s = r["timing"]["median_ms"] * 1e-3
            if r["metrics"].get("gbps") is not None:
                r["metrics"]["gbps"] = r["metrics"]["bytes"] / s / 1e9
                r["metrics"]["tflops"] = r["metrics"]["flops"] / s / 1e12
        path = os.path.join(tmp, "synthetic-%s.json" % label)
        with open(path, "w") as f:
            json.dump(d, f)
        out.append(path)
    return out


def judge(base, again, slowed, label, strict):
    """compare's verdicts on identical runs and on a 20% slowdown. strict: failed expectations fail
    the test; otherwise they are printed as a report. Returns whether the host looked quiet."""
    def expect(name, cond, why=""):
        name = "%s: %s" % (label, name)
        if strict:
            return check(name, cond, why)
        print("REPORT (live timing, not gated): %s: %s" % ("as expected" if cond else "NOT as expected", name))
        return cond

    quiet = True
    for a, b, name in ((base, again, label + "-base-vs-again"), (again, base, label + "-again-vs-base")):
        p, v, suite = compare(a, b, name)
        summary = "rc=%d, %d same, %d noisy, %d slower, %d faster; suite %s x%.3f, spread %.1f%%" % (
            p.returncode, count(v, "same"), count(v, "noisy"), count(v, "slower"), count(v, "faster"),
            suite.get("verdict"), suite.get("ratio", 0), 100 * suite.get("spread", 0))
        print("identical runs, %s: %s" % (name, summary))
        expect("identical runs (%s): the suite as a whole is not slower or faster" % name,
               suite.get("verdict") in ("same", "noisy"), summary)
        expect("identical runs (%s) exit 0" % name, p.returncode == 0, summary + p.stdout[-1500:])
        expect("identical runs (%s): no result slower or faster" % name,
               v and count(v, "slower") == 0 and count(v, "faster") == 0, summary + p.stdout[-1500:])
        if noise_floor_in_force(name) > NOISE_FLOOR + 1e-9:
            quiet = False
            expect("identical runs (%s) on a noisy machine: compare says it widened the intervals" % name,
                   "widened to the measured noise" in p.stdout, p.stdout[-800:])
        else:
            # A few results wander further than the floor even on a quiet host: "noisy", never a
            # verdict. A majority of those with enough samples must be "same".
            rows = json.load(open(os.path.join(TMP, "cmp-%s.json" % name)))["rows"]
            few = {r["key"] for r in rows if any("too few samples" in n for n in r.get("notes", []))}
            judged = {k: x for k, x in v.items() if k not in few}
            expect("identical runs (%s) on a quiet machine: a majority of results with enough samples same" % name,
                   count(judged, "same") >= 0.5 * len(judged),
                   "%s; %d with too few samples left out%s" % (summary, len(few), p.stdout[-1500:]))
    if strict:
        check("%s: the synthetic identical runs look quiet to compare (their noise is 2%%)" % label, quiet)

    p, v, suite = compare(base, slowed, label + "-slowed")
    summary = "rc=%d, %d slower, %d noisy, %d same, %d faster; suite %s x%.3f" % (
        p.returncode, count(v, "slower"), count(v, "noisy"), count(v, "same"), count(v, "faster"),
        suite.get("verdict"), suite.get("ratio", 0))
    print("20%% slowdown, %s: %s" % (label, summary))
    expect("20% slowdown exits 1", p.returncode == 1, summary + p.stdout[-1500:])
    expect("20% slowdown: the suite as a whole is slower", suite.get("verdict") == "slower", summary)
    regressed = [k for k, x in v.items() if x == "slower"]
    expect("20% slowdown names the regressed results", all(k in p.stdout for k in regressed) and
           "the suite as a whole is slower" in p.stdout, p.stdout[-800:])
    expect("20% slowdown: no result faster", count(v, "faster") == 0, summary)
    # CPU results are host-timed: one by one they are reported, not gated (compare --gate-host-timing
    # gates them on a dedicated machine); the suite as a whole gates.
    expect("20% slowdown: host-timed results are reported as beyond their intervals, not gated",
           any("host-timed result" in n for r in json.load(open(os.path.join(TMP, "cmp-%s-slowed.json" % label)))["rows"]
               for n in r["notes"]), p.stdout[-800:])
    return quiet


def main():
    tmp = TMP
    base, again, slowed = (os.path.join(tmp, n) for n in ("base.json", "again.json", "slowed.json"))
    t0 = time.monotonic()
    junit = os.path.join(tmp, "slowed.xml")
    # The three runs are interleaved case by case (base, slowed, again for each case), in ROUNDS
    # rounds over the whole suite, and each side's pieces are merged into one scorecard with every
    # round's samples: a host whose speed drifts over minutes (5-20% between sequential smoke runs on
    # the 2-vCPU VM) shifts all three alike, and a slowdown lasting seconds (one case moved 51% once)
    # hits one round of a case, not all its samples. `dsbench run --rounds` does the same within one
    # run; across processes, this test does it by hand.
    # The single-device ops: the MoE dispatch/combine/layer smoke cases (multi-rank ops run as a world of
    # one, which slowed_run's single-process run_suite does not drive) take tens of microseconds, where a 2-core VM's scatter alone decides "same" or "noisy";
    # they add nothing to what this test checks of compare itself.
    cases = [c["id"] for c in json.load(open(os.path.join(REPO, "suites", "smoke.json")))["cases"]
             if c["op"] not in ("moe_dispatch", "moe_combine", "moe_layer")]
    parts = {base: {}, slowed: {}, again: {}}
    first_slowed = None
    for rnd in range(ROUNDS):
        for i, case in enumerate(cases):
            for out, cmd in ((base, [DSBENCH, "run", "--backend", "cpu"]), (slowed, [SLOWED, "--slowdown", "0.2"]),
                             (again, [DSBENCH, "run", "--backend", "cpu"])):
                part = "%s.%d.%d.json" % (out, i, rnd)
                extra = ["--junit", junit, "--format", "markdown"] if out == slowed and i == 0 and rnd == 0 else []
                p = subprocess.run(cmd + RUN_ARGS + ["--case", case, "--out", part] + extra,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
                if not check("%s of %s, round %d" % (os.path.basename(out), case, rnd + 1),
                             p.returncode == 0 and os.path.exists(part), p.stderr[-500:]):
                    return 1
                if extra:
                    first_slowed = (p, part)
                parts[out].setdefault(i, []).append(part)
    for out, by_case in parts.items():
        merge_scorecards(by_case, out)
    print("three interleaved suite runs took %.0f s" % (time.monotonic() - t0))
    p, first_part = first_slowed

    # dsbench run --rounds: every case timed in rounds spread over the run, samples of all rounds kept.
    rounds_out = os.path.join(tmp, "rounds.json")
    q = dsbench("run", "--backend", "cpu", "--suite", "smoke", "--case", "gemm_fp8_blockscaled/m1*", "--rounds", "3",
                "--reps", "6", "--budget", "0.3", "--out", rounds_out)
    ok = q.returncode == 0 and os.path.exists(rounds_out)
    rows = json.load(open(rounds_out))["results"] if ok else []
    check("dsbench run --rounds 3: every timed result says 3 rounds and keeps their samples",
          ok and rows and all(r["timing"]["stop_reason"].startswith("3 rounds") and r["timing"]["samples"] >= 6
                              for r in rows if r["timing"]) and
          json.load(open(rounds_out))["context"]["config"]["timing"]["rounds"] == 3, q.stderr[-500:] + str(rows[:1])[:500])

    # The CI outputs of a run (the same code `dsbench run --junit --format markdown` calls).
    check("--format markdown puts the summary on stdout", p.stdout.startswith("## dsbench run: smoke on cpu"), p.stdout[:300])
    check("--format markdown moves the live output to stderr", re.search(r"slowed_run: \d+ results", p.stderr) is not None,
          p.stderr[-300:])
    try:
        tcs = ET.parse(junit).getroot().findall(".//testcase")
        check("--junit: one testcase per result", len(tcs) == len(json.load(open(first_part))["results"]), len(tcs))
    except (ET.ParseError, OSError) as e:
        check("--junit writes parseable XML", False, e)

    # The verdicts on the live runs depend on how busy this host is (all 40 results came out "noisy"
    # at a 7% spread once, on a loaded CI machine): they are reported, never asserted. The same
    # assertions hold below on synthetic cards of known noise, which no load can move.
    live = judge(base, again, slowed, "live", strict=False)
    syn = synthetic_cards(base, tmp)
    judge(*syn, "synthetic", strict=True)

    p = dsbench("compare", base, slowed, "--format", "markdown")
    check("compare --format markdown", p.stdout.startswith("## dsbench compare: ") and "### Regressions" in p.stdout,
          p.stdout[:300])
    html = os.path.join(tmp, "report.html")
    p = dsbench("report", base, again, slowed, "--out", html, "--price", "cpu=0.8")
    check("report of three cards", p.returncode == 0 and os.path.getsize(html) > 10000, p.stderr)

    bad_input_checks(tmp, base)
    if checks.summary():
        print("files kept in " + tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    if not live:
        print("this machine is noisy (spread above the %.0f%% floor): live per-result verdicts were 'noisy'"
              % (100 * NOISE_FLOOR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
