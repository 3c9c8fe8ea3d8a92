#!/usr/bin/env python3
"""Multi-rank runs under mpirun (ctest): all-to-all with 2 and 4 ranks, and faulty ranks.

Usage: mpi_test.py <mpiexec> <dsbench> <faulty_rank_run> <suite.json> <np>

With <np> ranks: `dsbench run` of the small all-to-all suite must pass every exchange (zero-count
peers and an empty exchange included), write one valid scorecard from rank 0 with the world and
per-rank results, and skip single-device ops with a reason. With 2 ranks it also checks faults:
one flipped bit on rank 1 is exactly one wrong element on rank 1 and exit 1; a rank that never
arrives at an agreement point is named by rank 0 in the scorecard within the timeout; a rank that
hangs inside the exchange is caught by the watchdog (rank 0 writes the scorecard naming the case);
a rank that exits ends the job instead of hanging it. Prints PASS/FAIL lines and `N passed, M failed`.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

MPIEXEC, DSBENCH, FAULTY, SUITE, NP = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")




def mpirun(np, *args, timeout=300):
    return checks.run([MPIEXEC, "--oversubscribe", "-np", str(np)] + list(args), ENV, timeout)


def a2a_rows(doc):
    return [r for r in doc["results"] if r["op"] == "all_to_all"]


def main():
    tmp = tempfile.mkdtemp(prefix="dsbench-mpi-")
    out = os.path.join(tmp, "run.json")
    rc, log, secs = mpirun(NP, DSBENCH, "run", "--suite", SUITE, "--out", out, "--seed", "11", "--warm-cache")
    check("np %d: dsbench run exits 0" % NP, rc == 0, "rc=%s %s" % (rc, log[-1500:]))
    if not check("np %d: rank 0 wrote the scorecard" % NP, os.path.exists(out), log[-500:]):
        return checks.finish(tmp)
    v = subprocess.run([DSBENCH, "validate", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check("np %d: the scorecard is valid" % NP, v.returncode == 0, v.stdout)
    doc = json.load(open(out))
    world = doc["context"].get("world", {})
    check("np %d: context.world records the ranks and the launcher" % NP,
          world.get("size") == NP and len(world.get("hosts", [])) == NP and world.get("launcher") == "mpirun"
          and "Open MPI" in world.get("mpi_library", "") and doc["context"]["world_size"] == NP, world)
    rows = a2a_rows(doc)
    check("np %d: one merged row per all-to-all case (rank 0 only)" % NP, len(rows) == 5, [r["case_id"] for r in rows])
    for r in rows:
        c = r.get("collective", {})
        ok = (r["disposition"] == "passed" and c.get("world_size") == NP and c.get("wrong_elements") == 0
              and len(r.get("ranks", [])) == NP and all(x["disposition"] == "passed" for x in r["ranks"]))
        check("np %d: %s passed on every rank" % (NP, r["case_id"]), ok, json.dumps(r)[:1200])
    eq = next(r for r in rows if r["case_id"] == "all_to_all/equal_64KiB")
    c = eq["collective"]
    check("np %d: equal exchange: busbw = algbw (n-1)/n, time = slowest rank's median" % NP,
          abs(c["busbw_gbps"] - c["algbw_gbps"] * (NP - 1) / NP) <= 1e-9 * max(1, c["algbw_gbps"])
          and abs(c["time_ms"] - max(x["median_ms"] for x in eq["ranks"])) < 1e-12
          and c["bytes_per_rank"] == 65536 // (2 * NP) * 2 * NP and c["iteration_p99_ms"] >= c["iteration_p50_ms"] > 0, c)
    zp = next(r for r in rows if r["case_id"] == "all_to_all/zero_peers_16KiB")["collective"]
    check("np %d: zero-peer exchange sends fewer bytes than the equal one would" % NP,
          zp["bytes_total"] < 16384 * NP, zp)
    hot = next(r for r in rows if r["case_id"] == "all_to_all/hot_receiver_16KiB_f32")
    check("np %d: hot receiver: rank 0 receives the most, imbalance > 1" % NP,
          hot["ranks"][0]["recv_bytes"] == max(x["recv_bytes"] for x in hot["ranks"]) and hot["collective"]["imbalance"] > 1,
          hot["collective"])
    gemm = [r for r in doc["results"] if r["op"] != "all_to_all"]
    check("np %d: single-device ops are skipped with a reason" % NP,
          gemm and all(r["disposition"] == "skipped" and "multi-rank run" in r["reason"] for r in gemm), gemm[:1])

    if NP == 2:
        out = os.path.join(tmp, "corrupt.json")
        rc, log, secs = mpirun(2, FAULTY, "--suite", SUITE, "--out", out, "--fault", "corrupt", "--rank", "1")
        check("corrupt: exit 1", rc == 1, "rc=%s %s" % (rc, log[-800:]))
        if os.path.exists(out):
            rows = a2a_rows(json.load(open(out)))
            nonempty = [r for r in rows if r["case_id"] != "all_to_all/empty"]
            check("corrupt: every non-empty exchange is incorrect with exactly one wrong element, on rank 1",
                  nonempty and all(r["disposition"] == "incorrect" and r["collective"]["wrong_elements"] == 1
                                   and r["ranks"][1]["wrong_elements"] == 1 and r["ranks"][0]["wrong_elements"] == 0
                                   and "first wrong" in r["accuracy"][0]["rule"] for r in nonempty),
                  json.dumps(nonempty[:1])[:1500])
            check("corrupt: the empty exchange still passes",
                  any(r["case_id"] == "all_to_all/empty" and r["disposition"] == "passed" for r in rows), rows[-1:])
        else:
            check("corrupt: scorecard written", False, log[-800:])

        for fault, wanted in (("hang_early", "ranks 1 of 2 did not arrive at 'ready'"),
                              ("hang", "not finished within 13 s (2 x --case-timeout + 5 s)")):
            out = os.path.join(tmp, fault + ".json")
            rc, log, secs = mpirun(2, FAULTY, "--suite", SUITE, "--out", out, "--fault", fault, "--rank", "1",
                                   "--timeout", "4", "--case", "all_to_all/equal*", timeout=120)
            check("%s: the job ends with an error, well before the harness limit" % fault,
                  rc not in (0, None) and secs < 90, "rc=%s after %.0f s: %s" % (rc, secs, log[-800:]))
            ok = os.path.exists(out)
            doc = json.load(open(out)) if ok else {}
            check("%s: rank 0 wrote the scorecard with an error row naming the case (%s)" % (fault, wanted),
                  ok and any(wanted in r["reason"] and r["case_id"] == "all_to_all/equal_64KiB"
                             for r in doc.get("results", [])) and doc.get("errors"),
                  json.dumps(doc)[-1200:] if ok else log[-800:])

        out = os.path.join(tmp, "exit.json")
        rc, log, secs = mpirun(2, FAULTY, "--suite", SUITE, "--out", out, "--fault", "exit", "--rank", "1",
                               "--timeout", "30", "--case", "all_to_all/equal*", timeout=120)
        check("exit: a rank that dies ends the job fast (no hang)", rc not in (0, None) and secs < 60,
              "rc=%s after %.0f s: %s" % (rc, secs, log[-800:]))
    return checks.finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
