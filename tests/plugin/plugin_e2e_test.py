#!/usr/bin/env python3
"""End-to-end plugin runs through the CLI: the example plugin passes the smoke suite; faulty plugins
become contained, precise failures (signal named, timeout, incorrect, refused) while the run goes on
and the scorecard stays whole and valid.

  plugin_e2e_test.py DSBENCH EXAMPLE_PLUGIN_DIR FAULTY_PLUGIN_DIR REPO_ROOT"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import jsonschema

dsbench, example_dir, faulty_dir, root = (str(pathlib.Path(a).resolve()) for a in sys.argv[1:5])
example_dir, faulty_dir, root = pathlib.Path(example_dir), pathlib.Path(faulty_dir), pathlib.Path(root)
schema = json.loads((root / "results_schema/scorecard.schema.json").read_text())
tmp = pathlib.Path(tempfile.mkdtemp(prefix="dsbench_plugin_e2e_"))
example = str(example_dir / "libdsbench_plugin_host.so")
results = []


def check(name, cond, why=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + why))


def faulty(kind):
    return str(faulty_dir / f"libdsbench_faulty_{kind}.so")


def run(args, timeout=240):
    t0 = time.monotonic()
    p = subprocess.run([dsbench] + args, cwd=root, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def scorecard(path, name):
    try:
        doc = json.loads(pathlib.Path(path).read_text())
        jsonschema.Draft202012Validator(schema).validate(doc)
        check(name + ".scorecard_valid", True)
        return doc
    except Exception as e:  # noqa: BLE001 - any failure here is the test's finding
        check(name + ".scorecard_valid", False, str(e)[:300])
        return {"results": [], "errors": [], "context": {"backends": []}}


two_cases = tmp / "two.json"
two_cases.write_text(json.dumps({"name": "two", "cases": [
    {"id": "gemm_fp8_blockscaled/m8_n64_k256", "op": "gemm_fp8_blockscaled", "params": {"m": 8, "n": 64, "k": 256}},
    {"id": "gemm_fp8_blockscaled/m3_n100_k128", "op": "gemm_fp8_blockscaled", "params": {"m": 3, "n": 100, "k": 128}}]}))
fast = ["--reps", "2", "--budget", "0.01"]

# 1. The example plugin passes the smoke suite, isolated by default, and shows up like a backend.
out = tmp / "example.json"
p, _ = run(["run", "--plugin", example, "--backend", "host_example", "--suite", "smoke", "--out", str(out)] + fast)
check("example.exit_0", p.returncode == 0, p.stdout[-800:] + p.stderr[-800:])
check("example.says_isolated", "isolated" in p.stdout, p.stdout[:300])
doc = scorecard(out, "example")
rows = doc["results"]
# Every op the plugin implements passes; ops it has no kernel for are not_supported, never failures.
gemm = [r for r in rows if r["op"].startswith("gemm_fp8_")]
check("example.every_gemm_passed", gemm and all(r["disposition"] == "passed" for r in gemm),
      str([(r["case_id"], r["disposition"], r["reason"]) for r in gemm if r["disposition"] != "passed"]))
check("example.other_ops_not_supported", all(r["disposition"] == "not_supported" and "has no kernel for op" in r["reason"]
                                             for r in rows if not r["op"].startswith("gemm_fp8_")))
check("example.kernel_ids", gemm and all(r["kernel"].startswith("host_example.") for r in gemm))
be = [b for b in doc["context"]["backends"] if b["name"] == "host_example"]
check("example.backend_in_context", be and be[0]["build_info"].get("plugin_path") == example, str(be)[:300])

# 2-4. A crash, an abort and an illegal instruction become error rows naming the signal; both cases run.
for kind, sig in (("crash", "SIGSEGV"), ("abort", "SIGABRT"), ("illegal", "SIGILL")):
    out = tmp / f"{kind}.json"
    p, _ = run(["run", "--plugin", faulty(kind), "--backend", f"faulty_{kind}", "--suite", str(two_cases),
                "--out", str(out)] + fast)
    check(f"{kind}.exit_1", p.returncode == 1, f"rc={p.returncode} {p.stderr[-500:]}")
    rows = scorecard(out, kind)["results"]
    check(f"{kind}.both_cases_have_rows", len(rows) == 2, str(len(rows)))
    check(f"{kind}.error_names_signal", rows and all(r["disposition"] == "error" and sig in r["reason"] for r in rows),
          str([r["reason"] for r in rows]))

# 5. A hang is killed at the per-case timeout; the next case still runs.
out = tmp / "hang.json"
p, took = run(["run", "--plugin", faulty("hang"), "--backend", "faulty_hang", "--suite", str(two_cases),
               "--case-timeout", "2", "--out", str(out)] + fast)
check("hang.exit_1", p.returncode == 1, f"rc={p.returncode}")
rows = scorecard(out, "hang")["results"]
check("hang.timeout_named", len(rows) == 2 and all("timed out after 2 s" in r["reason"] for r in rows),
      str([r["reason"] for r in rows]))
check("hang.killed_promptly", took < 20, f"{took:.1f} s")

# 6. Wrong results are incorrect, with the one bad element counted.
out = tmp / "wrong.json"
p, _ = run(["run", "--plugin", faulty("wrong"), "--backend", "faulty_wrong", "--suite", str(two_cases),
            "--dump-failures", str(tmp / "dumps"), "--out", str(out)] + fast)
check("wrong.exit_1", p.returncode == 1, f"rc={p.returncode}")
rows = scorecard(out, "wrong")["results"]
check("wrong.incorrect_one_mismatch", rows and all(r["disposition"] == "incorrect" and
                                                   r["accuracy"][0]["mismatches"] == 1 for r in rows),
      str([(r["disposition"], r["reason"]) for r in rows]))

# 7. The failing case replays from its dump, through the plugin, with the same verdict.
dumps = sorted((tmp / "dumps").glob("*"))
check("wrong.dumped", len(dumps) == 2, str(dumps))
if dumps:
    p, _ = run(["replay", str(dumps[0]), "--plugin", faulty("wrong")])
    check("wrong.replay_incorrect", p.returncode == 1 and "verdict: incorrect" in p.stdout, p.stdout[-500:] + p.stderr[-300:])
    p, _ = run(["replay", str(dumps[0]), "--plugin", faulty("wrong"), "--kernel", "cpu.gemm_fp8_blockscaled.optimized"])
    check("wrong.replay_on_cpu_passes", p.returncode == 0 and "verdict: passed" in p.stdout, p.stdout[-500:])

    # A kernel that hangs or crashes in replay costs the replay, not the terminal: the replay runs in a
    # child killed at --timeout, and a crash is named with its signal.
    p, took = run(["replay", str(dumps[0]), "--plugin", faulty("hang"), "--kernel", "faulty_hang.gemm_fp8_blockscaled.hang",
                   "--timeout", "3"], timeout=60)
    check("replay_hang.killed", p.returncode == 1 and "did not finish within 3 s (--timeout): killed" in p.stderr,
          f"rc={p.returncode} {p.stderr[-300:]}")
    check("replay_hang.prompt", took < 20, f"{took:.1f} s")
    p, _ = run(["replay", str(dumps[0]), "--plugin", faulty("crash"), "--kernel", "faulty_crash.gemm_fp8_blockscaled.crash"])
    check("replay_crash.named", p.returncode == 1 and "killed by SIGSEGV" in p.stderr, f"rc={p.returncode} {p.stderr[-300:]}")
    p, _ = run(["replay", str(dumps[0]), "--plugin", faulty("init_crash")])
    check("replay_init_crash.named", p.returncode == 2 and "crashed while loading: SIGSEGV" in p.stderr,
          f"rc={p.returncode} {p.stderr[-300:]}")

# 7b. list and info probe plugins in a worker: one that crashes while loading is named and left out,
# and the command goes on with the rest (it segfaulted them before).
for cmd in ("list", "info"):
    p, _ = run([cmd, "--plugin", faulty("init_crash"), "--plugin", example])
    check(f"{cmd}_init_crash.exit_2", p.returncode == 2, f"rc={p.returncode} {p.stderr[-300:]}")
    check(f"{cmd}_init_crash.named", "crashed while loading: SIGSEGV" in p.stderr and "(left out)" in p.stderr, p.stderr[-300:])
    check(f"{cmd}_init_crash.rest_listed", "host_example" in p.stdout and "cpu" in p.stdout, p.stdout[-300:])

# 8. A plugin of another ABI version is refused with a message; the scorecard still records why.
out = tmp / "abi.json"
p, _ = run(["run", "--plugin", faulty("abi"), "--suite", str(two_cases), "--out", str(out)])
check("abi.exit_2", p.returncode == 2, f"rc={p.returncode}")
check("abi.message", "built for plugin ABI v2, this dsbench speaks v1" in p.stderr, p.stderr[-400:])
doc = scorecard(out, "abi")
check("abi.error_recorded", any("ABI v2" in e for e in doc["errors"]), str(doc["errors"]))

# 8b. A plugin that crashes while loading is refused with the signal named; dsbench survives.
out = tmp / "init_crash.json"
p, _ = run(["run", "--plugin", faulty("init_crash"), "--suite", str(two_cases), "--out", str(out)])
check("init_crash.exit_2", p.returncode == 2, f"rc={p.returncode} {p.stderr[-300:]}")
check("init_crash.message", "crashed while loading: SIGSEGV" in p.stderr, p.stderr[-400:])
doc = scorecard(out, "init_crash")
check("init_crash.error_recorded", any("crashed while loading" in e for e in doc["errors"]), str(doc["errors"]))

# 9. --no-isolate runs plugin kernels in process; --isolate works for built-in backends too.
out = tmp / "noiso.json"
p, _ = run(["run", "--plugin", example, "--backend", "host_example", "--suite", str(two_cases), "--no-isolate",
            "--out", str(out)] + fast)
check("no_isolate.exit_0", p.returncode == 0 and "isolated" not in p.stdout, p.stdout[-400:])
out = tmp / "cpu_iso.json"
p, _ = run(["run", "--backend", "cpu", "--suite", str(two_cases), "--isolate", "--out", str(out)] + fast)
check("cpu_isolate.exit_0", p.returncode == 0, p.stdout[-400:] + p.stderr[-400:])
rows = scorecard(out, "cpu_isolate")["results"]
check("cpu_isolate.rows_timed", len(rows) == 4 and all(r["timing"] and r["timing"]["samples"] >= 2 for r in rows))

print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
