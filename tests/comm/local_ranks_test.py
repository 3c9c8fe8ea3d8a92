#!/usr/bin/env python3
"""In-process ranks (ctest): `dsbench run --local-ranks N`, the path nccl-tests' one-process mode takes
on GPUs, exercised on the CPU backend (threads exchanging through shared memory), no MPI needed.

Usage: local_ranks_test.py <dsbench> <faulty_rank_run> <suite.json> <n>

With <n> in-process ranks: every exchange of the small suite passes on every rank, the scorecard
says launcher single-process, world size n, one host with n ranks, per-rank timings, and the
nccl-tests relations hold. With 2 ranks also: one flipped bit on rank 1 is exactly one wrong element
on rank 1; a rank that never arrives is named by rank 0; the flag is refused with a launcher-only
option. Prints PASS/FAIL lines and `N passed, M failed`.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

DSBENCH, FAULTY, SUITE, N = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def run(*cmd, timeout=300):
    return checks.run(list(cmd), ENV, timeout)


def a2a_rows(doc):
    return [r for r in doc["results"] if r["op"] == "all_to_all"]


def main():
    tmp = tempfile.mkdtemp(prefix="dsbench-local-")
    out = os.path.join(tmp, "run.json")
    rc, log, _ = run(DSBENCH, "run", "--suite", SUITE, "--backend", "cpu", "--local-ranks", str(N), "--out", out,
                     "--seed", "11", "--warm-cache")
    check("local %d: dsbench run exits 0" % N, rc == 0, "rc=%s %s" % (rc, log[-1500:]))
    if not check("local %d: the scorecard is written" % N, os.path.exists(out), log[-500:]):
        return checks.finish(tmp)
    v = subprocess.run([DSBENCH, "validate", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check("local %d: the scorecard is valid" % N, v.returncode == 0, v.stdout)
    doc = json.load(open(out))
    world = doc["context"].get("world", {})
    check("local %d: context.world: single-process launcher, n ranks on one host, the in-process communicator" % N,
          world.get("size") == N and world.get("launcher") == "single-process" and len(world.get("hosts", [])) == N
          and list(world.get("ranks_per_host", {}).values()) == [N] and world.get("communicator", {}).get("name") == "local"
          and doc["context"]["world_size"] == N and "mpi_library" not in world, world)
    rows = a2a_rows(doc)
    check("local %d: one merged row per all-to-all case" % N, len(rows) == 5, [r["case_id"] for r in rows])
    for r in rows:
        c = r.get("collective", {})
        ok = (r["disposition"] == "passed" and c.get("world_size") == N and c.get("wrong_elements") == 0
              and len(r.get("ranks", [])) == N and all(x["disposition"] == "passed" and "median_ms" in x for x in r["ranks"]))
        check("local %d: %s passed on every rank, each timed" % (N, r["case_id"]), ok, json.dumps(r)[:1200])
    eq = next((r for r in rows if r["case_id"] == "all_to_all/equal_64KiB"), None)
    if eq:
        c = eq["collective"]
        check("local %d: busbw = algbw (n-1)/n, time = slowest rank's median" % N,
              abs(c["busbw_gbps"] - c["algbw_gbps"] * (N - 1) / N) <= 1e-9 * max(1, c["algbw_gbps"])
              and abs(c["time_ms"] - max(x["median_ms"] for x in eq["ranks"])) < 1e-12, c)
    zp = next((r for r in rows if r["case_id"] == "all_to_all/zero_peers_16KiB"), None)
    check("local %d: zero-peer exchange sends fewer bytes than the equal one would" % N,
          zp and zp["collective"]["bytes_total"] < 16384 * N, zp and zp["collective"])

    if N == 2:
        out = os.path.join(tmp, "corrupt.json")
        rc, log, _ = run(FAULTY, "--local-ranks", "2", "--suite", SUITE, "--out", out, "--fault", "corrupt", "--rank", "1")
        check("corrupt: exit 1", rc == 1, "rc=%s %s" % (rc, log[-800:]))
        rows = a2a_rows(json.load(open(out))) if os.path.exists(out) else []
        nonempty = [r for r in rows if r["case_id"] != "all_to_all/empty"]
        check("corrupt: every non-empty exchange is incorrect with exactly one wrong element, on rank 1",
              nonempty and all(r["disposition"] == "incorrect" and r["collective"]["wrong_elements"] == 1
                               and r["ranks"][1]["wrong_elements"] == 1 and r["ranks"][0]["wrong_elements"] == 0
                               for r in nonempty), json.dumps(nonempty[:1])[:1500] or log[-800:])

        out = os.path.join(tmp, "hang_early.json")
        rc, log, secs = run(FAULTY, "--local-ranks", "2", "--suite", SUITE, "--out", out, "--fault", "hang_early",
                            "--rank", "1", "--timeout", "2", "--case", "all_to_all/equal*", timeout=120)
        doc = json.load(open(out)) if os.path.exists(out) else {}
        check("hang_early: the process ends (exit 3) and rank 0's scorecard names rank 1 and the case",
              rc == 3 and secs < 60 and any("ranks 1 of 2 did not arrive at 'ready'" in r["reason"]
                                            and r["case_id"] == "all_to_all/equal_64KiB" for r in doc.get("results", [])),
              "rc=%s after %.0f s: %s" % (rc, secs, json.dumps(doc)[-800:] or log[-800:]))

        rc, log, _ = run(DSBENCH, "run", "--suite", SUITE, "--local-ranks", "2", "--device", "0", "--out", out)
        check("--local-ranks with --device is a usage error (exit 2)", rc == 2 and "--local-ranks" in log, log[-500:])
    return checks.finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
