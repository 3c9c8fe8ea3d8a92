#!/usr/bin/env python3
"""Expert-parallel MoE dispatch and combine under mpirun (ctest).

Usage: moe_mpi_test.py <mpiexec> <dsbench> <suite.json> <bad_suite.json> <np> <faulty_rank_run>

With <np> ranks every case of the small MoE suite must pass on every rank (each rank checks every row
it received, and every token it combined, exactly), the merged rows must split the bytes into local
and crossed as DeepEP counts them (a rank's own pairs to its own experts stay local), and an expert
count that does not split over the ranks must be a precise error on every rank, not a hang. With 2
ranks, rank 1's MoE kernels are made faulty (faulty_rank_run --op): a corrupted output element is
caught on rank 1 only, a rank that hangs in the layer is ended by the watchdog with the case named in
the scorecard, and a rank that exits ends the job fast.
Prints PASS/FAIL lines and `N passed, M failed`.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

MPIEXEC, DSBENCH, SUITE, BAD, NP, FAULTY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def mpirun(*args, timeout=300):
    return checks.run([MPIEXEC, "--oversubscribe", "-np", str(NP)] + list(args), ENV, timeout)


def main():
    tmp = tempfile.mkdtemp(prefix="dsbench-moe-mpi-")
    out = os.path.join(tmp, "run.json")
    rc, log, _ = mpirun(DSBENCH, "run", "--suite", SUITE, "--out", out, "--seed", "13")
    check("np %d: dsbench run of the MoE suite exits 0" % NP, rc == 0, "rc=%s %s" % (rc, log[-2000:]))
    if not check("np %d: rank 0 wrote the scorecard" % NP, os.path.exists(out), log[-500:]):
        return checks.finish(tmp)
    doc = json.load(open(out))
    rows = [r for r in doc["results"] if r["op"] in ("moe_dispatch", "moe_combine", "moe_layer")]
    suite_cases = len(json.load(open(SUITE))["cases"])
    check("np %d: one row per case and kernel (reference and optimized)" % NP, len(rows) == 2 * suite_cases, len(rows))
    for r in rows:
        name = "np %d: %s %s" % (NP, r["case_id"], r["kernel"])
        if r["op"] == "moe_layer" and r["kernel"].endswith(".reference") and NP > 1:
            # The FP64 layer kernel runs on one rank; the check is the oracle for every rank's tokens.
            check(name + " is not_supported with the reason", r["disposition"] == "not_supported" and "one rank" in r["reason"],
                  r.get("reason", ""))
            continue
        check(name + " passed on every rank", r["disposition"] == "passed" and len(r.get("ranks", [])) == NP
              and all(x["disposition"] == "passed" for x in r["ranks"]), r.get("reason", ""))
        if r["op"] == "moe_layer" and r.get("timing"):
            stages = [s["stage"] for s in r["timing"].get("stages", [])]
            check(name + " times its seven stages", stages == ["route", "dispatch", "gemm_gate_up", "act_quant", "gemm_down",
                                                              "shared_expert", "combine"] or "stages_refused" in r["timing"],
                  r["timing"].get("stages_refused", stages))
        col = r.get("collective", {})
        total, local, crossed = col.get("bytes_total", -1), col.get("bytes_local", -1), col.get("bytes_crossed", -1)
        check(name + " splits the bytes into local and crossed",
              total > 0 and local > 0 and abs(local + crossed - total) < 1e-6 and (crossed > 0) == (NP > 1), col)
        sent = sum(x["send_bytes"] for x in r["ranks"])
        recv = sum(x["recv_bytes"] for x in r["ranks"])
        check(name + " every byte sent is received", abs(sent - recv) < 1e-6 and abs(sent - total) < 1e-6, (sent, recv, total))
        if "empty_rank1" in r["case_id"] and NP > 1:
            empty = r["ranks"][1]
            if r["op"] == "moe_layer":  # rank 1 still computes and returns rows for the experts it holds
                continue
            key = "send_bytes" if r["op"] == "moe_dispatch" else "recv_bytes"
            check(name + ": rank 1 has no tokens, sends (dispatch) / gets back (combine) nothing", empty[key] == 0, empty)
    if NP % 4 == 0:
        bad_out = os.path.join(tmp, "bad.json")
        rc, log, _ = mpirun(DSBENCH, "run", "--suite", BAD, "--out", bad_out, "--seed", "1", timeout=120)
        check("np %d: 6 experts over %d ranks ends (exit 1), no hang" % (NP, NP), rc == 1, "rc=%s %s" % (rc, log[-1000:]))
        if os.path.exists(bad_out):
            bad = json.load(open(bad_out))["results"]
            check("np %d: the error says why" % NP, bad and all(r["disposition"] == "error" and "split evenly" in r["reason"]
                                                              for r in bad), [r.get("reason") for r in bad])
    if NP == 2:
        faults(tmp)
    return checks.finish(tmp)


def faults(tmp):
    for op, case in (("moe_dispatch", "moe_dispatch/t64_h256_e32_k6_fp8_contiguous"),
                     ("moe_combine", "moe_combine/t64_h256_e32_k6_contiguous"),
                     ("moe_layer", "moe_layer/t48_h256_i128_e32_k6_contiguous")):
        out = os.path.join(tmp, "corrupt_%s.json" % op)
        rc, log, _ = mpirun(FAULTY, "--suite", SUITE, "--out", out, "--fault", "corrupt", "--rank", "1", "--op", op,
                         "--case", case, timeout=180)
        check("corrupt %s on rank 1: exit 1" % op, rc == 1, "rc=%s %s" % (rc, log[-800:]))
        rows = json.load(open(out))["results"] if os.path.exists(out) else []
        opt = [r for r in rows if r["kernel"].endswith(".optimized")]
        check("corrupt %s: incorrect, wrong elements on rank 1 only" % op,
              opt and all(r["disposition"] == "incorrect" and r["ranks"][1]["wrong_elements"] >= 1
                          and r["ranks"][0]["wrong_elements"] == 0 for r in opt), json.dumps(opt)[:1500])
    for fault in ("hang", "exit"):
        out = os.path.join(tmp, "%s_layer.json" % fault)
        rc, log, secs = mpirun(FAULTY, "--suite", SUITE, "--out", out, "--fault", fault, "--rank", "1", "--op", "moe_layer",
                               "--timeout", "4", "--case", "moe_layer/t48*", timeout=120)
        check("%s in moe_layer on rank 1: the job ends with an error, no hang" % fault,
              rc not in (0, None) and secs < 90, "rc=%s after %.0f s: %s" % (rc, secs, log[-800:]))
        if fault == "hang":
            doc = json.load(open(out)) if os.path.exists(out) else {}
            check("hang in moe_layer: rank 0 wrote the scorecard with an error row naming the case",
                  any(r["case_id"].startswith("moe_layer/t48") and r["disposition"] == "error"
                      for r in doc.get("results", [])) and doc.get("errors"), json.dumps(doc)[-1200:])


if __name__ == "__main__":
    sys.exit(main())
