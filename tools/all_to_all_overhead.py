#!/usr/bin/env python3
"""dsbench's CPU all-to-all against a plain MPI_Alltoall loop on the same machine and sizes.

Runs, alternately for --rounds rounds (so that a machine whose speed drifts treats both alike):
  mpirun -np N dsbench run --suite all_to_all --case 'all_to_all/equal_*' --warm-cache ...
  mpirun -np N all_to_all_mpi_loop SIZES...
and prints, per size, the median over rounds of each side's busbw and of their per-round ratio.
A ratio of 1.00 means dsbench adds nothing; the issue's bar is within 2%.

usage: tools/all_to_all_overhead.py --dsbench build/dsbench --loop build/bench/all_to_all_mpi_loop
                                    [--np 2] [--rounds 5] [--max-bytes 67108864] [--reps 200]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--dsbench", required=True)
ap.add_argument("--loop", required=True)
ap.add_argument("--mpirun", default="mpirun")
ap.add_argument("--np", type=int, default=2)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--reps", type=int, default=200)
ap.add_argument("--max-bytes", type=int, default=64 << 20)
a = ap.parse_args()
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
mpi = [a.mpirun, "--oversubscribe", "-np", str(a.np)]
suite = json.load(open(os.path.join(os.path.dirname(__file__), "..", "suites", "all_to_all.json")))
sizes = [c["params"]["bytes_per_rank"] for c in suite["cases"]
         if c["id"].startswith("all_to_all/equal_") and "dtype" not in c["params"] and 0 < c["params"]["bytes_per_rank"] <= a.max_bytes]
ours, theirs = {s: [] for s in sizes}, {s: [] for s in sizes}
out = os.path.join(tempfile.mkdtemp(prefix="dsb-a2a-"), "run.json")
for r in range(a.rounds):
    cases = "all_to_all/equal_*"
    subprocess.run(mpi + [a.dsbench, "run", "--suite", "all_to_all", "--case", cases, "--warm-cache", "--reps", str(a.reps),
                          "--max-reps", str(a.reps), "--budget", "1000", "--out", out],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    for row in json.load(open(out))["results"]:
        b = row["params"].get("bytes_per_rank")
        if b in ours and "dtype" not in row["params"] and row["disposition"] == "passed":
            ours[b].append(row["collective"]["busbw_gbps"])
    p = subprocess.run(mpi + [a.loop, "--reps", str(a.reps)] + [str(s) for s in sizes], check=True, env=env,
                       stdout=subprocess.PIPE, text=True)
    for line in p.stdout.splitlines():
        j = json.loads(line)
        theirs[j["bytes_per_rank"]].append(j["busbw_gbps"])
    print("round %d of %d done" % (r + 1, a.rounds), file=sys.stderr)
print("| bytes per rank | dsbench busbw GB/s | MPI_Alltoall loop busbw GB/s | dsbench / loop (median of rounds) |")
print("|---:|---:|---:|---:|")
for s in sizes:
    ratios = [x / y for x, y in zip(ours[s], theirs[s]) if y > 0]
    print("| %d | %.3f | %.3f | %.3f (rounds: %s) |" % (s, statistics.median(ours[s]), statistics.median(theirs[s]),
          statistics.median(ratios), ", ".join("%.2f" % x for x in ratios)))
