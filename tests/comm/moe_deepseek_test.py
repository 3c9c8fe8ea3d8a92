#!/usr/bin/env python3
"""The DeepSeek-V3-sized MoE suite (suites/moe.json) under mpirun, checks only (ctest).

Usage: moe_deepseek_test.py <mpiexec> <dsbench> <suites/moe.json> <np>

With <np> ranks (1, 2 or 4: experts split evenly, tokens per rank), every dispatch and combine
case of the model suite (decode T = 128 and prefill T = 4096 per rank, 256 experts, hidden 7168,
gate / balanced / skewed routing, UE8M0 scales, a rank with no tokens), every routing case with one
rank (routing is a single-device op), and the CPU-sized MoE layer cases (32 experts of the model's
size) must pass on every rank with `--verify-only`: every row each rank received and every token it
combined is checked exactly. The model-sized layer (11.3 GB of FP8 weights) is left to hosts that
hold it. Prints PASS/FAIL lines and `N passed, M failed`.
"""
import fnmatch
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

MPIEXEC, DSBENCH, SUITE, NP = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
# (glob, what it selects): one `dsbench run` each. Routing is a single-device op (a multi-rank run
# refuses it with that reason), so it runs with one rank only.
SELECTIONS = ((("moe_[rdc]*", "routing, dispatch and combine") if NP == 1 else ("moe_[dc]*", "dispatch and combine")),
              ("moe_layer/*_e32_*", "the 32-expert layer"))


def main():
    tmp = tempfile.mkdtemp(prefix="dsbench-moe-deepseek-")
    suite_ids = [c["id"] for c in json.load(open(SUITE))["cases"]]
    for glob, what in SELECTIONS:
        want = [i for i in suite_ids if fnmatch.fnmatchcase(i, glob)]
        out = os.path.join(tmp, "%s.json" % glob.replace("*", "_").replace("/", "_").replace("[", "").replace("]", ""))
        rc, log, secs = checks.run([MPIEXEC, "--oversubscribe", "-np", str(NP), DSBENCH, "run", "--suite", SUITE,
                                    "--case", glob, "--verify-only", "--seed", "29", "--out", out], ENV, 1200)
        print("np %d: %s took %.0f s" % (NP, what, secs), flush=True)
        check("np %d: %s: dsbench exits 0" % (NP, what), rc == 0, "rc=%s %s" % (rc, log[-2000:]))
        if not check("np %d: %s: rank 0 wrote the scorecard" % (NP, what), os.path.exists(out), log[-500:]):
            continue
        rows = json.load(open(out))["results"]
        check("np %d: %s: every case has its rows (%d cases)" % (NP, what, len(want)),
              sorted({r["case_id"] for r in rows}) == sorted(want), sorted({r["case_id"] for r in rows}))
        for r in rows:
            name = "np %d: %s %s" % (NP, r["case_id"], r["kernel"])
            if r["op"] == "moe_layer" and r["kernel"].endswith(".reference") and r["disposition"] != "passed":
                # The FP64 layer as a kernel runs on one rank and up to --max-reference-gflop; the check
                # (the same chain in FP64) still judges the optimized row.
                reason = r.get("reason", "")
                check(name + " is not_supported on several ranks, or skipped above the reference GFLOP cap, with the reason",
                      (r["disposition"] == "not_supported" and "one rank" in reason)
                      or (r["disposition"] == "skipped" and "max-reference-gflop" in reason), reason)
                continue
            ranks = r.get("ranks", [])
            ok = r["disposition"] == "passed" and (NP == 1 or (len(ranks) == NP and all(x["disposition"] == "passed"
                                                                                         for x in ranks)))
            check(name + " passed" + (" on every rank" if NP > 1 else ""), ok, r.get("reason", r["disposition"]))
            col = r.get("collective")
            if col and r["op"] in ("moe_dispatch", "moe_combine") and "empty" not in r["case_id"]:
                check(name + " crosses ranks exactly when there are several", (col.get("bytes_crossed", 0) > 0) == (NP > 1),
                      col)
    return checks.finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
