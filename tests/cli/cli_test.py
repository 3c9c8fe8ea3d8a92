#!/usr/bin/env python3
"""End-to-end tests of the dsbench command line.

Usage: cli_test.py <path-to-dsbench> <repo-root>

Runs the built binary on small smoke cases and on the suites in tests/cli/fixtures/ (copied to a
temporary folder), and checks exit codes (0 all passed / not_supported / skipped / not_verified,
1 an incorrect or errored result, 2 usage or configuration error), that error messages name the
file, case and field at fault, and that the scorecard is written whole and validates against
results_schema/scorecard.schema.json (python-jsonschema, Draft 2020-12) whatever happened.

Prints one line per check (`PASS name` or `FAIL name: why`), then `N passed, M failed`; exits 1 if
any check failed. Standard library plus jsonschema only; no NumPy (.npy files are read and written
by hand). Runs in well under a minute on two cores.
"""

import ast
import json
import os
import re
import shutil
import signal
import struct
import stat
import subprocess
import sys
import tempfile
import time
import traceback

try:
    import jsonschema
except ImportError:  # reported as a failed check below, not a crash
    jsonschema = None

SMOKE_CASE = "gemm_fp8_blockscaled/m128*"          # one small dense case of suites/smoke.json
SMOKE_CASE_ID = "gemm_fp8_blockscaled/m128_n256_k512"
FAST_TIMING = ["--reps", "2", "--budget", "0.05"]


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, why=""):
        if ok:
            self.passed += 1
            print("PASS " + name, flush=True)
        else:
            self.failed += 1
            why = " ".join(str(why).split())  # one line
            if len(why) > 700:
                why = why[:700] + "..."
            print("FAIL %s: %s" % (name, why or "check failed"), flush=True)
        return ok


C = Checks()


# ------------------------------------------------------------------------------------------------
# Helpers

class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    @property
    def all(self):
        return self.out + self.err

    def brief(self):
        tail = (self.err.strip() or self.out.strip())[-400:]
        return "rc=%s, output: %s" % (self.rc, tail)


def run(args, cwd=None, timeout=60):
    t0 = time.monotonic()
    try:
        p = subprocess.run([DSBENCH] + args, cwd=cwd or REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        return Result(p.returncode, out, err, time.monotonic() - t0)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        return Result("timeout after %ss" % timeout, out, err, time.monotonic() - t0)


def check_rc(name, r, expected):
    return C.check(name, r.rc == expected, "expected exit %s, got %s" % (expected, r.brief()))


def check_contains(name, text, needles, what="message"):
    missing = [n for n in needles if n not in text]
    return C.check(name, not missing, "%s lacks %s: %r" % (what, missing, text.strip()[-600:]))


def load_json(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def schema_errors(doc):
    v = jsonschema.Draft202012Validator(SCHEMA)
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return ["/" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message[:200] for e in errs]


def check_scorecard(name, path, rc=None):
    """The scorecard exists, parses, validates against the schema; its exit_code matches rc. Returns it."""
    if not C.check(name + ".scorecard_written", os.path.isfile(path), "no scorecard at " + path):
        return None
    try:
        doc = load_json(path)
    except ValueError as e:
        C.check(name + ".scorecard_is_json", False, "%s: %s" % (path, e))
        return None
    errs = schema_errors(doc)
    C.check(name + ".scorecard_valid", not errs, "; ".join(errs[:5]))
    if rc is not None and isinstance(doc, dict):
        C.check(name + ".scorecard_exit_code", doc.get("exit_code") == rc,
                "scorecard exit_code %r, process exit %r" % (doc.get("exit_code"), rc))
    leftovers = [f for f in os.listdir(os.path.dirname(path) or ".") if ".tmp." in f]
    C.check(name + ".no_temp_files", not leftovers, "left behind: %s" % leftovers)
    return doc


def summary_matches(doc):
    """Whether summary.results / by_disposition / by_op agree with the result rows."""
    rows = doc["results"]
    disp = ["passed", "incorrect", "error", "not_supported", "skipped", "not_verified"]
    total = {d: 0 for d in disp}
    by_op = {}
    for r in rows:
        total[r["disposition"]] += 1
        op = r["op"] or "(no op)"  # a case that names no op is counted under "(no op)"
        by_op.setdefault(op, {d: 0 for d in disp})[r["disposition"]] += 1
    s = doc["summary"]
    problems = []
    if s["results"] != len(rows):
        problems.append("summary.results %d != %d rows" % (s["results"], len(rows)))
    if s["by_disposition"] != total:
        problems.append("by_disposition %s != counted %s" % (s["by_disposition"], total))
    if s["by_op"] != by_op:
        problems.append("by_op %s != counted %s" % (s["by_op"], by_op))
    return problems


def copy_fixture(name, dest_dir):
    dst = os.path.join(dest_dir, name)
    shutil.copyfile(os.path.join(FIXTURES, name), dst)
    return dst


# .npy v1.0, written and read by hand (no NumPy in this test's dependencies).
def npy_bytes(descr, shape, data):
    shape_str = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_str)
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


def npy_write(path, descr, shape, data):
    with open(path, "wb") as f:
        f.write(npy_bytes(descr, shape, data))


def npy_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:6] != b"\x93NUMPY":
        raise ValueError(path + ": bad magic")
    major = raw[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", raw[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", raw[8:12])
        start = 12
    header = ast.literal_eval(raw[start:start + hlen].decode("latin1"))
    data = raw[start + hlen:]
    return header["descr"], tuple(header["shape"]), data


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def fresh_dir(name):
    d = os.path.join(TMP, name)
    os.makedirs(d)
    return d


def case_folders(d):
    if not os.path.isdir(d):
        return []
    return sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e)))


# ------------------------------------------------------------------------------------------------
# Scenarios

def s01_happy_path():
    d = fresh_dir("s01")
    out = os.path.join(d, "x.json")
    r = run(["run", "--suite", "smoke", "--case", SMOKE_CASE, "--out", out] + FAST_TIMING)
    check_rc("s01.happy.exit_code", r, 0)
    doc = check_scorecard("s01.happy", out, r.rc)
    if doc is None:
        return
    v = run(["validate", out])
    check_rc("s01.happy.dsbench_validate_exit", v, 0)
    C.check("s01.happy.dsbench_validate_prints_valid", re.search(r":\s*valid\s*$", v.out.strip()) is not None,
            v.brief())
    rows = doc["results"]
    C.check("s01.happy.two_rows", len(rows) == 2 and all(x["case_id"] == SMOKE_CASE_ID for x in rows),
            "rows: %s" % [(x["case_id"], x["kernel"]) for x in rows])
    C.check("s01.happy.all_passed", rows and all(x["disposition"] == "passed" for x in rows),
            [(x["kernel"], x["disposition"], x["reason"]) for x in rows])
    C.check("s01.happy.timing_present",
            rows and all(isinstance(x["timing"], dict) and x["timing"]["samples"] >= 2 and x["timing"]["median_ms"] > 0
                         for x in rows),
            [x["timing"] for x in rows])
    C.check("s01.happy.verified_full", rows and all(x["verification"] == "full" and x["accuracy"] for x in rows),
            [x["verification"] for x in rows])
    commit = doc["context"]["tool"]["git_commit"]
    C.check("s01.happy.git_commit_40_hex", re.fullmatch(r"[0-9a-f]{40}", commit) is not None, repr(commit))
    timing = doc["context"]["config"]["timing"]
    C.check("s01.happy.cli_timing_overrides_suite_defaults",
            timing["min_reps"] == 2 and abs(timing["budget_s"] - 0.05) < 1e-12,
            "config.timing %s (suite defaults min_reps 3, budget_s 0.2; CLI gave 2, 0.05)" % timing)
    C.check("s01.happy.context", doc["context"]["backend"] == "cpu" and doc["context"]["suite"]["name"] == "smoke"
            and doc["errors"] == [] and doc["context"]["config"]["case_glob"] == SMOKE_CASE,
            "context backend %r suite %r errors %r" % (doc["context"]["backend"], doc["context"]["suite"],
                                                      doc["errors"]))
    seed = doc["context"]["seed"]
    C.check("s01.happy.random_seed_printed", ("--seed %d" % seed) in r.out,
            "stdout does not tell how to reproduce seed %d: %r" % (seed, r.out[:300]))
    probs = summary_matches(doc)
    C.check("s01.happy.summary_counts", not probs, "; ".join(probs))


def s02_verify_only_perf_only():
    d = fresh_dir("s02")
    out = os.path.join(d, "v.json")
    r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--out", out])
    check_rc("s02.verify_only.exit_code", r, 0)
    doc = check_scorecard("s02.verify_only", out, r.rc)
    if doc:
        rows = doc["results"]
        C.check("s02.verify_only.timing_null", rows and all(x["timing"] is None for x in rows),
                [x["timing"] for x in rows])
        C.check("s02.verify_only.passed", rows and all(x["disposition"] == "passed" for x in rows),
                [x["disposition"] for x in rows])
        C.check("s02.verify_only.no_rate_metrics", all("tflops" not in x["metrics"] for x in rows),
                [x["metrics"] for x in rows])
        C.check("s02.verify_only.config", doc["context"]["config"]["verify_only"] is True
                and doc["context"]["config"]["timing"]["min_reps"] == 3,
                "config %s (min_reps should be the smoke suite's default 3)" % doc["context"]["config"])
    out = os.path.join(d, "p.json")
    r = run(["run", "--case", SMOKE_CASE, "--perf-only", "--out", out] + FAST_TIMING)
    check_rc("s02.perf_only.exit_code", r, 0)
    doc = check_scorecard("s02.perf_only", out, r.rc)
    if doc:
        rows = doc["results"]
        C.check("s02.perf_only.not_verified",
                rows and all(x["disposition"] == "not_verified" and x["verification"] == "none"
                             and x["accuracy"] == [] for x in rows),
                [(x["disposition"], x["verification"]) for x in rows])
        C.check("s02.perf_only.timing_present", rows and all(isinstance(x["timing"], dict) for x in rows),
                [x["timing"] is None for x in rows])


def s03_malformed_suite():
    d = fresh_dir("s03")
    suite = copy_fixture("broken_suite.json", d)
    out = os.path.join(d, "x.json")
    r = run(["run", "--suite", suite, "--out", out, "--verify-only"])
    check_rc("s03.malformed_json.exit_code", r, 2)
    check_contains("s03.malformed_json.stderr_names_file", r.err, [suite, "not valid JSON"])
    doc = check_scorecard("s03.malformed_json", out, r.rc)
    if doc:
        errs = doc["errors"]
        C.check("s03.malformed_json.errors_recorded",
                errs and any(suite in e and "not valid JSON" in e for e in errs), errs)
        C.check("s03.malformed_json.no_rows", doc["results"] == [], "%d rows" % len(doc["results"]))
    # A suite that is JSON but not a suite: the file is named too.
    notsuite = os.path.join(d, "list.json")
    with open(notsuite, "w") as f:
        f.write('{"name": "x", "cases": {"id": 1}}\n')
    out2 = os.path.join(d, "y.json")
    r = run(["run", "--suite", notsuite, "--out", out2])
    check_rc("s03.cases_not_array.exit_code", r, 2)
    check_contains("s03.cases_not_array.message", r.err, [notsuite, "cases"])
    check_scorecard("s03.cases_not_array", out2, r.rc)
    # Suite-level timing defaults the scorecard cannot hold (max_reps >= 1, integer warmup).
    for label, timing, field in [("max_reps_zero", {"max_reps": 0}, "defaults.timing.max_reps"),
                                 ("warmup_fraction", {"warmup": 1.5}, "defaults.timing.warmup")]:
        path = os.path.join(d, "timing_%s.json" % label)
        with open(path, "w") as f:
            json.dump({"name": "t", "defaults": {"timing": timing},
                       "cases": [{"id": "a", "op": "gemm_fp8_blockscaled", "params": {"m": 16, "n": 64, "k": 128}}]}, f)
        out3 = os.path.join(d, "timing_%s_out.json" % label)
        r = run(["run", "--suite", path, "--kernel", "*.optimized", "--out", out3])
        check_rc("s03.suite_%s.exit_code" % label, r, 2)
        check_contains("s03.suite_%s.message" % label, r.err, [path, field])
        check_scorecard("s03.suite_%s" % label, out3, r.rc)


def s04_unknown_suite():
    d = fresh_dir("s04")
    out = os.path.join(d, "x.json")
    r = run(["run", "--suite", "no_such_suite_xyz", "--out", out])
    check_rc("s04.unknown_suite.exit_code", r, 2)
    check_contains("s04.unknown_suite.lists_where_it_looked", r.err,
                   ["no_such_suite_xyz", "suites/no_such_suite_xyz.json",
                    os.path.join(REPO, "suites", "no_such_suite_xyz.json")])
    check_scorecard("s04.unknown_suite", out, r.rc)
    missing = os.path.join(d, "missing.json")
    r = run(["run", "--suite", missing, "--out", out])
    check_rc("s04.missing_suite_path.exit_code", r, 2)
    check_contains("s04.missing_suite_path.message", r.err, [missing])
    # A folder given as the suite: say so, rather than "not valid JSON".
    r = run(["run", "--suite", d, "--out", out])
    check_rc("s04.suite_is_folder.exit_code", r, 2)
    C.check("s04.suite_is_folder.message", d in r.err and re.search(r"folder|directory|not a regular file", r.err)
            is not None, "expected the path and 'folder'/'directory': %r" % r.err.strip())


def s05_mixed_suite():
    d = fresh_dir("s05")
    suite = copy_fixture("mixed_suite.json", d)
    out = os.path.join(d, "x.json")
    r = run(["run", "--suite", suite, "--out", out, "--verify-only", "--seed", "11"])
    check_rc("s05.mixed.exit_code", r, 1)
    doc = check_scorecard("s05.mixed", out, r.rc)
    if doc is None:
        return
    rows = doc["results"]

    def rows_of(case_id, disposition=None):
        return [x for x in rows if x["case_id"] == case_id and (disposition is None or x["disposition"] == disposition)]

    good = rows_of("good", "passed")
    C.check("s05.mixed.good_case_passes",
            len(good) == 2 and all(x["params"] == {"m": 16, "n": 64, "k": 128} for x in good),
            [(x["case_id"], x["kernel"], x["disposition"], x["reason"]) for x in rows_of("good")])
    # (label, rows, substrings every reason must hold besides the suite path)
    expectations = [
        ("unknown_op", rows_of("unknown_op"), ['"unknown_op"', '"op"', "gemm_fp9_blockscaled"]),
        ("missing_id", rows_of("#2"), ["case 2", '"id"', "missing"]),
        ("duplicate_id", rows_of("good#3", "error"), ["case 3", '"good"', '"id"', "duplicate of case"]),
        ("k_not_multiple_of_128", rows_of("k100"), ['"k100"', "params.k: 100 is not a multiple of 128"]),
        ("k200_not_multiple_of_128", rows_of("k200"), ['"k200"', "params.k: 200 is not a multiple of 128"]),
        ("negative_m", rows_of("negative_m"), ['"negative_m"', "params.m: -4", "negative"]),
        ("masked_m_over_m_max", rows_of("masked_over_max"),
         ['"masked_over_max"', "params.masked_m[1]: 65", "m_max 64"]),
        ("m_per_group_length", rows_of("m_per_group_length"),
         ['"m_per_group_length"', "params.m_per_group", "2 entries", "num_groups = 3"]),
        ("unknown_param", rows_of("unknown_param"), ['"unknown_param"', "params.kk", "unknown"]),
        ("unknown_case_field", rows_of("unknown_case_field"), ['"unknown_case_field"', '"flavour"', "unknown"]),
        ("bad_tolerance_key", rows_of("bad_tolerance_key"), ['"bad_tolerance_key"', "tolerance.d.relx", "unknown"]),
        ("missing_op", rows_of("missing_op"), ["case 12", '"missing_op"', '"op"', "missing"]),
        ("negative_seed", rows_of("negative_seed"), ["case 13", '"negative_seed"', '"seed"', "non-negative"]),
    ]
    for label, sel, needles in expectations:
        name = "s05.mixed." + label
        if not C.check(name + ".error_rows", sel and all(x["disposition"] == "error" for x in sel),
                       "rows: %s" % [(x["kernel"], x["disposition"]) for x in sel]):
            continue
        bad = [x["reason"] for x in sel if not all(n in x["reason"] for n in [suite] + needles)]
        C.check(name + ".reason", not bad, "expected %s in reason, got %r" % ([suite] + needles, bad[:1]))
    # One row per kernel of the op (2 on the CPU), or one kernel-less row for an op nobody implements.
    for label in ["unknown_op", "missing_op"]:
        C.check("s05.mixed.%s_one_kernel_null_row" % label,
                len(rows_of(label)) == 1 and rows_of(label)[0]["kernel"] is None,
                [(x["kernel"]) for x in rows_of(label)])
    C.check("s05.mixed.summary_no_op_bucket", "(no op)" in doc["summary"]["by_op"]
            and "" not in doc["summary"]["by_op"], sorted(doc["summary"]["by_op"]))
    n_pass = sum(x["disposition"] == "passed" for x in rows)
    n_err = sum(x["disposition"] == "error" for x in rows)
    C.check("s05.mixed.row_counts", len(rows) == 26 and n_pass == 2 and n_err == 24,
            "%d rows, %d passed, %d error (expected 26, 2, 24)" % (len(rows), n_pass, n_err))
    probs = summary_matches(doc)
    C.check("s05.mixed.summary_counts", not probs, "; ".join(probs))
    C.check("s05.mixed.no_run_errors", doc["errors"] == [], doc["errors"])
    check_contains("s05.mixed.table_shows_reasons", r.out, ["params.m_per_group", "tolerance.d.relx"], "stdout")


def s06_unknown_backend_kernel_case():
    d = fresh_dir("s06")
    out = os.path.join(d, "b.json")
    r = run(["run", "--backend", "foo", "--case", SMOKE_CASE, "--out", out])
    check_rc("s06.unknown_backend.exit_code", r, 2)
    check_contains("s06.unknown_backend.lists_backends", r.err, ['"foo"', "cpu"])
    doc = check_scorecard("s06.unknown_backend", out, r.rc)
    if doc:
        C.check("s06.unknown_backend.errors_recorded", any("foo" in e for e in doc["errors"]), doc["errors"])
    out = os.path.join(d, "k.json")
    r = run(["run", "--kernel", "nope*", "--case", SMOKE_CASE, "--out", out])
    check_rc("s06.unknown_kernel.exit_code", r, 2)
    check_contains("s06.unknown_kernel.names_glob", r.err, ['"nope*"', "--kernel"])
    check_scorecard("s06.unknown_kernel", out, r.rc)
    out = os.path.join(d, "c.json")
    r = run(["run", "--case", "nothing/matches*", "--out", out])
    check_rc("s06.no_case.exit_code", r, 2)
    check_contains("s06.no_case.names_glob", r.err, ['"nothing/matches*"', "--case", "smoke"])
    check_scorecard("s06.no_case", out, r.rc)
    # Each glob matches something, but no selected kernel implements a selected case's op: nothing
    # would run, and a 0-result "success" would let a CI job pass while testing nothing.
    out = os.path.join(d, "e.json")
    r = run(["run", "--case", SMOKE_CASE, "--kernel", "cpu.gemm_fp8_grouped_masked.*", "--out", out])
    check_rc("s06.empty_selection.exit_code", r, 2)
    check_contains("s06.empty_selection.names_globs", r.err, [SMOKE_CASE, "cpu.gemm_fp8_grouped_masked.*"])
    check_scorecard("s06.empty_selection", out, r.rc)


def s07_unwritable_output():
    d = fresh_dir("s07")
    regular = os.path.join(d, "regular_file")
    with open(regular, "w") as f:
        f.write("x")
    targets = [("proc", "/proc/forbidden/x.json"), ("under_file", os.path.join(regular, "x.json"))]
    for label, target in targets:
        # The smoke suite in full would take seconds; refusing before any work takes milliseconds.
        # (a 5 s timeout bounds this test if the check ever moves after the run)
        r = run(["run", "--suite", "smoke", "--out", target, "--budget", "1"], timeout=5)
        name = "s07.unwritable_%s" % label
        check_rc(name + ".exit_code", r, 2)
        check_contains(name + ".names_path", r.err, [target])
        C.check(name + ".before_running", r.elapsed < 2.0 and "passed" not in r.out,
                "took %.2fs; stdout %r" % (r.elapsed, r.out[:200]))
    # An unwritable --dump folder is refused up front too, rather than "dump failed" in each reason.
    dump = os.path.join(regular, "D")
    out = os.path.join(d, "dump_unwritable.json")
    r = run(["run", "--suite", "smoke", "--dump", dump, "--out", out, "--budget", "1"], timeout=5)
    check_rc("s07.unwritable_dump.exit_code", r, 2)
    check_contains("s07.unwritable_dump.names_path", r.err, [dump])
    C.check("s07.unwritable_dump.before_running", r.elapsed < 2.0 and "passed" not in r.out,
            "took %.2fs; stdout %r" % (r.elapsed, r.out[:200]))
    if os.path.exists(out):
        check_scorecard("s07.unwritable_dump", out, r.rc)
    r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--out", d])
    check_rc("s07.out_is_folder.exit_code", r, 2)
    check_contains("s07.out_is_folder.names_path", r.err, [d, "folder"])


def s08_bad_flag_combinations():
    d = fresh_dir("s08")
    out = os.path.join(d, "vp.json")
    r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--perf-only", "--out", out])
    check_rc("s08.verify_and_perf_only.exit_code", r, 2)
    check_contains("s08.verify_and_perf_only.message", r.err, ["--verify-only", "--perf-only"])
    check_scorecard("s08.verify_and_perf_only", out, r.rc)
    for label, seed in [("abc", "abc"), ("negative", "-1"), ("trailing_garbage", "12x")]:
        out = os.path.join(d, "seed_%s.json" % label)
        r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--seed=" + seed, "--out", out])
        check_rc("s08.seed_%s.exit_code" % label, r, 2)
        check_contains("s08.seed_%s.message" % label, r.err, ["--seed", seed])
    out = os.path.join(d, "dd.json")
    r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--dump", os.path.join(d, "a"),
             "--dump-failures", os.path.join(d, "b"), "--out", out])
    check_rc("s08.dump_and_dump_failures.exit_code", r, 2)
    check_contains("s08.dump_and_dump_failures.message", r.err, ["--dump", "--dump-failures"])
    r = run(["run", "--no-such-flag"])
    check_rc("s08.unknown_flag.exit_code", r, 2)
    check_contains("s08.unknown_flag.message", r.all, ["--no-such-flag"])
    r = run(["run", "--reps", "many"])
    check_rc("s08.non_numeric_reps.exit_code", r, 2)


def s09_seeds():
    d = fresh_dir("s09")
    folders, docs = [], []
    for i, seed in enumerate(["1234", "1234", "1235"]):
        dump = os.path.join(d, "dump%d" % i)
        out = os.path.join(d, "s%d.json" % i)
        r = run(["run", "--case", SMOKE_CASE, "--kernel", "*.optimized", "--verify-only", "--seed", seed,
                 "--dump", dump, "--out", out])
        check_rc("s09.seed_run%d.exit_code" % i, r, 0)
        docs.append(check_scorecard("s09.seed_run%d" % i, out, r.rc))
        folders.append(case_folders(dump))
        folders[-1] = [os.path.join(dump, f) for f in folders[-1]]
    if not C.check("s09.seed.one_dump_each", all(len(f) == 1 for f in folders), folders):
        return

    def read(i, name):
        with open(os.path.join(folders[i][0], name), "rb") as f:
            return f.read()

    C.check("s09.seed.same_seed_same_a", read(0, "a.npy") == read(1, "a.npy"), "a.npy differs between two --seed 1234 runs")
    C.check("s09.seed.same_seed_same_b", read(0, "b.npy") == read(1, "b.npy"), "b.npy differs between two --seed 1234 runs")
    C.check("s09.seed.other_seed_other_a", read(0, "a.npy") != read(2, "a.npy"), "a.npy equal for seeds 1234 and 1235")
    if all(docs):
        C.check("s09.seed.run_seed_recorded", [x["context"]["seed"] for x in docs] == [1234, 1234, 1235],
                [x["context"]["seed"] for x in docs])
        rs = [x["results"][0]["seed"] for x in docs]
        C.check("s09.seed.case_seed_recorded", rs[0] == rs[1] and rs[0] != rs[2], rs)
        meta = json.loads(read(0, "case.json"))
        C.check("s09.seed.case_json_matches_row", meta.get("seed") == rs[0] and meta.get("case_id") == SMOKE_CASE_ID
                and docs[0]["results"][0].get("dump") == folders[0][0],
                "case.json seed %r case_id %r, row seed %r dump %r" % (meta.get("seed"), meta.get("case_id"), rs[0],
                                                                       docs[0]["results"][0].get("dump")))
    # A case with its own "seed" keeps it whatever the run's seed.
    suite = copy_fixture("tiny_suite.json", d)
    seeds = []
    for s in ["1", "2"]:
        out = os.path.join(d, "fixed%s.json" % s)
        r = run(["run", "--suite", suite, "--case", "masked/*", "--kernel", "*.optimized", "--verify-only",
                 "--seed", s, "--out", out])
        check_rc("s09.fixed_case_seed_run%s.exit_code" % s, r, 0)
        doc = check_scorecard("s09.fixed_case_seed_run%s" % s, out, r.rc)
        seeds.append(doc["results"][0]["seed"] if doc and doc["results"] else None)
    C.check("s09.fixed_case_seed.kept", seeds == [42, 42], seeds)


def s10_dump_replay():
    d = fresh_dir("s10")
    dump = os.path.join(d, "D")
    out = os.path.join(d, "x.json")
    r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--seed", "5", "--dump", dump, "--out", out])
    check_rc("s10.dump_run.exit_code", r, 0)
    doc = check_scorecard("s10.dump_run", out, r.rc)
    folders = case_folders(dump)
    C.check("s10.dump_run.one_folder_per_kernel", len(folders) == 2, folders)
    opt = [f for f in folders if re.search(r"optimized-[0-9a-f]{8}$", f)]
    if not C.check("s10.dump_run.optimized_folder", len(opt) == 1, folders):
        return
    src = os.path.join(dump, opt[0])
    expected_files = {"case.json", "a.npy", "scale_a.npy", "b.npy", "scale_b.npy", "d.npy", "d_ref.npy"}
    C.check("s10.dump_run.files", expected_files <= set(os.listdir(src)), sorted(os.listdir(src)))
    if doc:
        C.check("s10.dump_run.rows_name_dump", sorted(x.get("dump", "") for x in doc["results"])
                == sorted(os.path.join(dump, f) for f in folders), [x.get("dump") for x in doc["results"]])
    meta = load_json(os.path.join(src, "case.json"))

    # Replay as dumped.
    r = run(["replay", src])
    check_rc("s10.replay.exit_code", r, 0)
    C.check("s10.replay.verdict_passed", re.search(r"verdict:\s*passed", r.out) is not None, r.brief())
    rep = os.path.join(src, "replay")
    try:
        descr, shape, data = npy_read(os.path.join(rep, "d.npy"))
        want = tuple(meta["tensors"]["d"]["shape"])
        C.check("s10.replay.output_npy", descr == "<u2" and shape == want and len(data) == 2 * numel(want),
                "d.npy: descr %r shape %r (%d bytes), expected <u2 %r" % (descr, shape, len(data), want))
        C.check("s10.replay.reference_npy", os.path.isfile(os.path.join(rep, "d_ref.npy")), os.listdir(rep))
    except (OSError, ValueError, SyntaxError) as e:
        C.check("s10.replay.output_npy", False, e)
    # The dump's inputs are untouched by the replay.
    C.check("s10.replay.leaves_inputs", expected_files <= set(os.listdir(src)), sorted(os.listdir(src)))

    # Another kernel of the same op, outputs elsewhere.
    rep2 = os.path.join(d, "replay_ref_out")
    r = run(["replay", src, "--kernel", "cpu.gemm_fp8_blockscaled.reference", "--out", rep2])
    check_rc("s10.replay_reference_kernel.exit_code", r, 0)
    C.check("s10.replay_reference_kernel.verdict_passed", re.search(r"verdict:\s*passed", r.out) is not None
            and "cpu.gemm_fp8_blockscaled.reference" in r.out, r.brief())
    C.check("s10.replay_reference_kernel.outputs", os.path.isfile(os.path.join(rep2, "d.npy")),
            os.listdir(rep2) if os.path.isdir(rep2) else "no folder " + rep2)

    # Replay from another working directory.
    r = run(["replay", src], cwd=d)
    check_rc("s10.replay_other_cwd.exit_code", r, 0)

    def variant(label):
        v = os.path.join(d, "corrupt_" + label)
        shutil.copytree(src, v, ignore=shutil.ignore_patterns("replay"))
        return v

    def expect_fail(label, folder, needles, args=()):
        r = run(["replay", folder] + list(args))
        check_rc("s10.corrupt_%s.exit_code" % label, r, 2)
        check_contains("s10.corrupt_%s.message" % label, r.err, needles)
        C.check("s10.corrupt_%s.no_crash" % label, "terminate called" not in r.err and "Aborted" not in r.err, r.err)

    # Truncated input.
    v = variant("truncated")
    a_path = os.path.join(v, "a.npy")
    size = os.path.getsize(a_path)
    with open(a_path, "r+b") as f:
        f.truncate(size - size // 3)
    expect_fail("truncated", v, [a_path, "truncated"])

    # Missing input.
    v = variant("missing")
    os.remove(os.path.join(v, "scale_b.npy"))
    expect_fail("missing", v, [os.path.join(v, "scale_b.npy"), "missing", "scale_b"])

    # Wrong dtype: b as float32 of the right shape.
    v = variant("dtype")
    b_path = os.path.join(v, "b.npy")
    _, b_shape, _ = npy_read(b_path)
    npy_write(b_path, "<f4", b_shape, b"\0" * (4 * numel(b_shape)))
    expect_fail("dtype", v, [b_path, "dtype mismatch", "<f4", "|u1"])

    # Wrong shape: one more row of b.
    v = variant("shape")
    b_path = os.path.join(v, "b.npy")
    bad_shape = (b_shape[0] + 1,) + tuple(b_shape[1:])
    npy_write(b_path, "|u1", bad_shape, b"\0" * numel(bad_shape))
    expect_fail("shape", v, [b_path, "shape mismatch"])

    # Not a .npy at all.
    v = variant("not_npy")
    with open(os.path.join(v, "scale_a.npy"), "wb") as f:
        f.write(b"PK\x03\x04 this is a zip, not a .npy file")
    expect_fail("not_npy", v, [os.path.join(v, "scale_a.npy"), "not a .npy"])

    # case.json: not JSON; a required field missing; params that the driver refuses.
    v = variant("case_json_syntax")
    with open(os.path.join(v, "case.json"), "w") as f:
        f.write('{"op": "gemm_fp8_blockscaled",')
    expect_fail("case_json_syntax", v, [os.path.join(v, "case.json"), "not valid JSON"])
    v = variant("case_json_no_seed")
    m = dict(meta)
    del m["seed"]
    with open(os.path.join(v, "case.json"), "w") as f:
        json.dump(m, f)
    expect_fail("case_json_no_seed", v, [os.path.join(v, "case.json"), '"seed"'])
    v = variant("case_json_bad_param")
    m = json.loads(json.dumps(meta))
    m["params"]["k"] = 300
    with open(os.path.join(v, "case.json"), "w") as f:
        json.dump(m, f)
    expect_fail("case_json_bad_param", v, [os.path.join(v, "case.json"), "params.k", "300"])

    # case.json's tensor table, format and tolerance are checked against the op and the files, and
    # named when wrong (they were ignored or unnamed before).
    def edited(label, edit, needles):
        v = variant(label)
        m = json.loads(json.dumps(meta))
        edit(m)
        with open(os.path.join(v, "case.json"), "w") as f:
            json.dump(m, f)
        expect_fail(label, v, [os.path.join(v, "case.json")] + needles)
    edited("tensor_shape", lambda m: m["tensors"]["b"].update(shape=[1, 2]), ["tensors.b.shape", "[1,2]"])
    edited("tensor_dtype", lambda m: m["tensors"]["a"].update(dtype="e5m2"), ["tensors.a.dtype", '"e5m2"'])
    edited("tensor_file", lambda m: m["tensors"]["a"].update(file="../../etc/passwd"), ["tensors.a.file"])
    edited("tensor_missing", lambda m: m["tensors"].pop("scale_a"), ["tensors.scale_a", "missing"])
    edited("format", lambda m: m.update(format="dsbench-dump/9"), ['field "format"', "dsbench-dump/9"])
    edited("tolerance", lambda m: m["tolerance"]["d"].update(rel="lots"), ["tolerance.d.rel"])
    # All-NaN scales: refused by the op's own check instead of "passed" with cos_diff 0.
    v = variant("nan_scales")
    for name in ("scale_a", "scale_b"):
        path = os.path.join(v, name + ".npy")
        descr, shape, _ = npy_read(path)
        npy_write(path, descr, shape, struct.pack("<f", float("nan")) * numel(shape))
    expect_fail("nan_scales", v, ["scale_a[0]", "not a finite positive scale"])

    # A kernel of another op; an unknown kernel; a folder that is not a dump.
    expect_fail("kernel_other_op", src, ["cpu.gemm_fp8_grouped_masked.optimized", "gemm_fp8_blockscaled"],
                ["--kernel", "cpu.gemm_fp8_grouped_masked.optimized"])
    expect_fail("kernel_unknown", src, ["cpu.gemm_fp8_blockscaled.nope"], ["--kernel", "cpu.gemm_fp8_blockscaled.nope"])
    empty = fresh_dir("s10_not_a_dump")
    expect_fail("no_case_json", empty, [os.path.join(empty, "case.json")])
    expect_fail("no_such_folder", os.path.join(d, "does_not_exist"), [os.path.join(d, "does_not_exist")])

    # Grouped dumps (tests/cli/fixtures/tiny_suite.json): index tensors out of range.
    suite = copy_fixture("tiny_suite.json", d)
    gdump = os.path.join(d, "G")
    out = os.path.join(d, "g.json")
    r = run(["run", "--suite", suite, "--kernel", "*.optimized", "--verify-only", "--seed", "9", "--dump", gdump,
             "--out", out])
    check_rc("s10.grouped_dump_run.exit_code", r, 0)
    check_scorecard("s10.grouped_dump_run", out, r.rc)
    gfolders = case_folders(gdump)
    contig = [os.path.join(gdump, f) for f in gfolders if f.startswith("contiguous")]
    masked = [os.path.join(gdump, f) for f in gfolders if f.startswith("masked")]
    if not C.check("s10.grouped_dump_run.folders", len(contig) == 1 and len(masked) == 1 and len(gfolders) == 3,
                   gfolders):
        return
    for label, folder in [("contiguous", contig[0]), ("masked", masked[0])]:
        r = run(["replay", folder])
        check_rc("s10.replay_%s.exit_code" % label, r, 0)

    def gvariant(label, folder):
        v = os.path.join(d, "corrupt_" + label)
        shutil.copytree(folder, v, ignore=shutil.ignore_patterns("replay"))
        return v

    v = gvariant("m_indices", contig[0])
    mi_path = os.path.join(v, "m_indices.npy")
    descr, shape, data = npy_read(mi_path)
    vals = list(struct.unpack("<%di" % numel(shape), data))
    C.check("s10.m_indices_dumped", descr == "<i4" and vals[:6] == [0, 0, 0, 0, 0, -1] and 1 in vals,
            "m_indices %s %s %s..." % (descr, shape, vals[:8]))
    vals[3] = 7  # num_groups is 2
    npy_write(mi_path, "<i4", shape, struct.pack("<%di" % len(vals), *vals))
    expect_fail("m_indices", v, ["m_indices[3]", "7", "out of range"])

    v = gvariant("masked_m_npy", masked[0])
    mm_path = os.path.join(v, "masked_m.npy")
    descr, shape, data = npy_read(mm_path)
    vals = list(struct.unpack("<%di" % numel(shape), data))
    C.check("s10.masked_m_dumped", descr == "<i4" and vals == [3, 16], "masked_m %s %s %s" % (descr, shape, vals))
    npy_write(mm_path, "<i4", shape, struct.pack("<2i", 3, 40))
    expect_fail("masked_m_npy", v, ["masked_m[1]", "40", "m_max"])

    v = gvariant("masked_m_case_json", masked[0])
    m = load_json(os.path.join(v, "case.json"))
    m["params"]["masked_m"] = [3, 17]
    with open(os.path.join(v, "case.json"), "w") as f:
        json.dump(m, f)
    expect_fail("masked_m_case_json", v, [os.path.join(v, "case.json"), "params.masked_m[1]", "17", "m_max 16"])


def s11_validate():
    d = fresh_dir("s11")
    out = os.path.join(d, "good.json")
    r = run(["run", "--case", SMOKE_CASE, "--kernel", "*.optimized", "--out", out] + FAST_TIMING)
    check_rc("s11.base_run.exit_code", r, 0)
    if not os.path.isfile(out):
        C.check("s11.base_run.scorecard_written", False, out)
        return
    base = load_json(out)

    def write(name, doc):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            json.dump(doc, f)
        return p

    doc = json.loads(json.dumps(base))
    del doc["summary"]
    p = write("no_summary.json", doc)
    r = run(["validate", p])
    check_rc("s11.validate_missing_field.exit_code", r, 1)
    check_contains("s11.validate_missing_field.message", r.out, [p, "summary", "required"])

    doc = json.loads(json.dumps(base))
    del doc["results"][0]["disposition"]
    p = write("no_disposition.json", doc)
    r = run(["validate", p])
    check_rc("s11.validate_missing_nested_field.exit_code", r, 1)
    check_contains("s11.validate_missing_nested_field.message", r.out, ["/results/0", "disposition"])

    doc = json.loads(json.dumps(base))
    doc["results"][0]["timing"]["median_ms"] = -1.5
    p = write("negative_median.json", doc)
    r = run(["validate", p])
    check_rc("s11.validate_negative_median.exit_code", r, 1)
    check_contains("s11.validate_negative_median.message", r.out, ["/results/0/timing/median_ms", "-1.5"])
    # python-jsonschema agrees that it is invalid (and that the base is valid).
    C.check("s11.python_jsonschema_agrees", schema_errors(doc) and not schema_errors(base),
            "python-jsonschema: corrupted %s, base %s" % (schema_errors(doc)[:1], schema_errors(base)[:1]))

    p = os.path.join(d, "not_json.json")
    with open(p, "w") as f:
        f.write("this is { not json")
    r = run(["validate", p])
    check_rc("s11.validate_not_json.exit_code", r, 2)
    check_contains("s11.validate_not_json.message", r.err, [p, "not valid JSON"])
    p = os.path.join(d, "absent.json")
    r = run(["validate", p])
    check_rc("s11.validate_absent_file.exit_code", r, 2)
    check_contains("s11.validate_absent_file.message", r.err, [p])
    # From another working directory the schema is still found.
    r = run(["validate", out], cwd=d)
    check_rc("s11.validate_other_cwd.exit_code", r, 0)


def s12_dump_failures_all_pass():
    d = fresh_dir("s12")
    df = os.path.join(d, "DF")
    out = os.path.join(d, "x.json")
    r = run(["run", "--case", SMOKE_CASE, "--verify-only", "--dump-failures", df, "--out", out])
    check_rc("s12.dump_failures.exit_code", r, 0)
    doc = check_scorecard("s12.dump_failures", out, r.rc)
    C.check("s12.dump_failures.no_case_folders", case_folders(df) == [], case_folders(df))
    if doc:
        C.check("s12.dump_failures.rows_have_no_dump", all("dump" not in x for x in doc["results"]),
                [x.get("dump") for x in doc["results"]])


def s13_list_info_help():
    r = run(["list"])
    check_rc("s13.list.exit_code", r, 0)
    check_contains("s13.list.sections", r.out, ["ops:", "kernels:", "backends:", "suites:", "smoke",
                                                "gemm_fp8_blockscaled", "cpu.gemm_fp8_blockscaled.optimized"], "stdout")
    r = run(["list", "--kernels"])
    check_rc("s13.list_kernels.exit_code", r, 0)
    kernels = [l.strip() for l in r.out.splitlines()[1:] if l.strip()]
    C.check("s13.list_kernels.only_kernels", r.out.startswith("kernels:") and "suites:" not in r.out and kernels
            and all(re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+\.[A-Za-z0-9_]+", k) for k in kernels), r.out[:400])
    r = run(["list", "--suites"], cwd=TMP)
    check_contains("s13.list_suites_other_cwd", r.out, ["smoke", "deepseek-v3"], "stdout")
    r = run(["info"])
    check_rc("s13.info.exit_code", r, 0)
    check_contains("s13.info.content", r.out, ["dsbench", "backend cpu"], "stdout")
    r = run(["info", "--json"])
    check_rc("s13.info_json.exit_code", r, 0)
    try:
        j = json.loads(r.out)
        names = [b.get("name") for b in j.get("backends", [])]
        C.check("s13.info_json.backends", "cpu" in names and re.fullmatch(r"[0-9a-f]{40}", j["tool"]["git_commit"]),
                "backends %s tool %s" % (names, j.get("tool")))
    except (ValueError, KeyError, TypeError) as e:
        C.check("s13.info_json.backends", False, "not JSON with backends: %s: %r" % (e, r.out[:300]))
    r = run([])
    check_rc("s13.no_subcommand.exit_code", r, 2)
    check_contains("s13.no_subcommand.usage", r.all, ["subcommand"])
    r = run(["frobnicate"])
    check_rc("s13.unknown_subcommand.exit_code", r, 2)
    r = run(["--help"])
    check_rc("s13.help.exit_code", r, 0)
    check_contains("s13.help.subcommands", r.out, ["run", "validate", "replay", "list", "info", "Exit codes"], "stdout")
    r = run(["run", "--help"])
    check_rc("s13.run_help.exit_code", r, 0)
    check_contains("s13.run_help.options", r.out, ["--suite", "--dump", "--verify-only", "--perf-only", "--seed"],
                   "stdout")
    r = run(["replay"])
    check_rc("s13.replay_without_dir.exit_code", r, 2)


def s14_default_out_other_cwd():
    d = fresh_dir("s14")
    r = run(["run", "--suite", "smoke", "--case", SMOKE_CASE, "--verify-only"], cwd=d)
    check_rc("s14.default_out.exit_code", r, 0)
    doc = check_scorecard("s14.default_out", os.path.join(d, "dsbench-results", "smoke.json"), r.rc)
    if doc:
        path = doc["context"]["suite"]["path"]
        C.check("s14.default_out.suite_path", os.path.isfile(path if os.path.isabs(path) else os.path.join(d, path))
                and os.path.samefile(path if os.path.isabs(path) else os.path.join(d, path),
                                     os.path.join(REPO, "suites", "smoke.json")),
                "context.suite.path %r" % path)


def s15_sigint():
    d = fresh_dir("s15")
    out = os.path.join(d, "x.json")
    budget = 2.0
    p = subprocess.Popen([DSBENCH, "run", "--suite", "smoke", "--budget", str(budget), "--seed", "3", "--out", out],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    time.sleep(1.5)
    still_running = p.poll() is None
    C.check("s15.sigint.still_running_at_signal", still_running, "exited early with %s" % p.returncode)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        stdout, stderr = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, stderr = p.communicate()
        C.check("s15.sigint.exits", False, "still running 30 s after SIGINT")
        return
    waited = time.monotonic() - t0
    # The current case finishes its kernels (each at most --budget of timing), then the run stops.
    C.check("s15.sigint.prompt", waited < 2 * budget + 4, "took %.1fs after SIGINT" % waited)
    C.check("s15.sigint.exit_code", p.returncode == 2, "exit %s; stderr %r" % (p.returncode, stderr[-300:]))
    doc = check_scorecard("s15.sigint", out, p.returncode)
    if doc:
        C.check("s15.sigint.interrupted_error", any("interrupted" in e for e in doc["errors"]), doc["errors"])
        rows = doc["results"]
        total = 2 * 11  # smoke: 11 cases x 2 CPU kernels
        C.check("s15.sigint.partial_rows", 1 <= len(rows) < total and all(x["disposition"] == "passed" for x in rows),
                "%d rows: %s" % (len(rows), [(x["case_id"], x["disposition"]) for x in rows]))
        C.check("s15.sigint.rows_complete", all(isinstance(x["timing"], dict) for x in rows),
                [x["timing"] is None for x in rows])
        probs = summary_matches(doc)
        C.check("s15.sigint.summary_counts", not probs, "; ".join(probs))


def s16_option_ranges():
    """Out-of-range numeric options are usage errors (exit 2, the flag named), never a run whose
    scorecard then fails the schema."""
    d = fresh_dir("s16")
    cases = [("max_reps_zero", "--max-reps=0", "--max-reps"), ("reps_negative", "--reps=-1", "--reps"),
             ("budget_negative", "--budget=-1", "--budget"), ("noise_negative", "--noise=-1", "--noise"),
             ("warmup_negative", "--warmup=-1", "--warmup"), ("sample_rows_negative", "--sample-rows=-1", "--sample-rows"),
             ("sample_cols_negative", "--sample-cols=-1", "--sample-cols"),
             ("full_max_macs_negative", "--full-max-macs=-1", "--full-max-macs"),
             ("max_reference_gflop_negative", "--max-reference-gflop=-1", "--max-reference-gflop"),
             ("device_negative", "--device=-1", "--device"), ("device_absent", "--device=5", "5")]
    # Not-a-number passes every comparison, so it is refused on its own (and infinity with it).
    for flag in ("--budget", "--noise", "--full-max-macs", "--max-reference-gflop", "--case-timeout"):
        for value in ("nan", "inf", "-nan"):
            cases.append(("%s_%s" % (flag[2:].replace("-", "_"), value.replace("-", "minus_")), "%s=%s" % (flag, value),
                          "not a finite number"))
    for label, arg, needle in cases:
        out = os.path.join(d, label + ".json")
        reps = [] if arg.startswith("--reps") else ["--reps=2"]  # a repeated flag would fail for another reason
        r = run(["run", "--case", SMOKE_CASE, "--kernel", "*.optimized"] + reps + [arg, "--out", out])
        name = "s16." + label
        check_rc(name + ".exit_code", r, 2)
        check_contains(name + ".message", r.err, [needle])
        if os.path.exists(out):
            errs = schema_errors(load_json(out))
            C.check(name + ".scorecard_valid", not errs, "; ".join(errs[:3]))
    for flag, value in (("--confidence", "nan"), ("--error-growth", "nan")):
        r = run(["compare", "a.json", "b.json", flag, value])
        check_rc("s16.compare_%s_nan.exit_code" % flag[2:], r, 2)
        check_contains("s16.compare_%s_nan.message" % flag[2:], r.err, ["not a finite number"])


def s17_sigterm():
    d = fresh_dir("s17")
    out = os.path.join(d, "x.json")
    p = subprocess.Popen([DSBENCH, "run", "--suite", "smoke", "--budget", "0.5", "--noise", "0", "--seed", "4",
                          "--out", out], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    C.check("s17.sigterm.still_running_at_signal", p.poll() is None, "exited early with %s" % p.returncode)
    t0 = time.monotonic()
    p.terminate()
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        C.check("s17.sigterm.exits", False, "still running 30 s after SIGTERM")
        return
    C.check("s17.sigterm.prompt", time.monotonic() - t0 < 2 * 0.5 + 4, "took %.1fs" % (time.monotonic() - t0))
    C.check("s17.sigterm.exit_code", p.returncode == 2, "exit %s" % p.returncode)
    doc = check_scorecard("s17.sigterm", out, p.returncode)
    if doc:
        C.check("s17.sigterm.interrupted_error", any("interrupted" in e for e in doc["errors"]), doc["errors"])
        C.check("s17.sigterm.partial_rows", 1 <= len(doc["results"]) < 22, "%d rows" % len(doc["results"]))


def s18_outputs_not_ours():
    """A device, a symlink or a FIFO given as an output is written, never replaced by a regular file
    (the devices are made with mknod in a temporary folder: the real /dev is never touched)."""
    d = fresh_dir("s18")
    dev = os.path.join(d, "null")
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as e:
        C.check("s18.skipped_without_mknod", True, str(e))
        return
    card = os.path.join(d, "card.json")
    r = run(["run", "--suite", "smoke", "--case", SMOKE_CASE, "--out", card] + FAST_TIMING)
    check_rc("s18.setup", r, 0)
    for name, args in [("run", ["run", "--suite", "smoke", "--case", SMOKE_CASE, "--out", dev, "--junit", dev] + FAST_TIMING),
                       ("compare", ["compare", card, card, "--json", dev, "--markdown", dev]),
                       ("report", ["report", card, "--out", dev, "--junit", dev, "--markdown", dev])]:
        r = run(args)
        C.check("s18.%s.exit" % name, r.rc in (0, 1), r.brief())
        C.check("s18.%s.device_kept" % name, stat.S_ISCHR(os.lstat(dev).st_mode), "the device became a regular file")
    C.check("s18.no_probe_or_temp_files", sorted(os.listdir(d)) == ["card.json", "null"], sorted(os.listdir(d)))
    os.makedirs(os.path.join(d, "real"))
    os.symlink("real/linked.json", os.path.join(d, "link.json"))
    r = run(["run", "--suite", "smoke", "--case", SMOKE_CASE, "--out", os.path.join(d, "link.json")] + FAST_TIMING)
    check_rc("s18.symlink.exit", r, 0)
    C.check("s18.symlink.kept", os.path.islink(os.path.join(d, "link.json")), "the link was replaced")
    check_scorecard("s18.symlink", os.path.join(d, "real", "linked.json"), 0)
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    r = run(["run", "--suite", "smoke", "--case", SMOKE_CASE, "--out", fifo] + FAST_TIMING, timeout=60)
    check_contains("s18.fifo_without_reader.message", r.err, ["a FIFO has no reader: refusing to wait"])
    C.check("s18.fifo_without_reader.kept", stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")


def s19_hostile_files():
    """Long strings, deep nesting, out-of-range numbers and non-regular files get a message naming the
    file: no crash, and run still writes its scorecard."""
    d = fresh_dir("s19")
    card = os.path.join(d, "card.json")
    r = run(["run", "--suite", "smoke", "--case", SMOKE_CASE, "--out", card] + FAST_TIMING)
    check_rc("s19.setup", r, 0)
    good = load_json(card)
    variants = {}
    for field in ("schema_version", "kernel", "stop_reason"):
        doc = json.loads(json.dumps(good))
        if field == "schema_version":
            doc["schema_version"] = "1" * 30000
        elif field == "kernel":
            doc["results"][0]["kernel"] = "a" * 30000
        else:
            doc["results"][0]["timing"]["stop_reason"] = "s" * 30000
        variants["long_" + field] = json.dumps(doc)
    text = json.dumps(good)
    variants["deep_results"] = text.replace('"results": [', '"results": [' + "[" * 100000 + "]" * 100000 + ", ", 1)
    variants["number_overflow"] = text.replace('"seed": ', '"seed": 1e400, "x": ', 1)
    for label, body in variants.items():
        path = os.path.join(d, label + ".json")
        with open(path, "w") as f:
            f.write(body)
        for cmd in (["validate", path], ["compare", card, path], ["report", path, "--out", os.path.join(d, label + ".html")]):
            r = run(cmd)
            C.check("s19.%s.%s.no_crash" % (label, cmd[0]), 0 <= r.rc <= 2, r.brief())
            C.check("s19.%s.%s.names_file" % (label, cmd[0]), path in r.all or r.rc == 0, r.brief())
    # A suite that is deep, overflows a number, or is not a regular file: run writes its scorecard.
    deep = os.path.join(d, "deep_suite.json")
    with open(deep, "w") as f:
        f.write('{"name": "d", "cases": [{"id": "g/x", "op": "gemm_fp8_blockscaled", "params": ' + "[" * 100000 +
                "]" * 100000 + "}]}")
    big = os.path.join(d, "big_suite.json")
    with open(big, "w") as f:
        f.write('{"name": "b", "cases": [{"id": "g/x", "op": "gemm_fp8_blockscaled", "params": {"m": 1e400, "n": 64, "k": 128}}]}')
    fifo = os.path.join(d, "fifo_suite.json")
    os.mkfifo(fifo)
    for label, suite, needle in [("deep", deep, "nested deeper than"), ("overflow", big, "a number is out of range"),
                                 ("fifo", fifo, "not a regular file")]:
        out = os.path.join(d, "run_%s.json" % label)
        r = run(["run", "--suite", suite, "--out", out] + FAST_TIMING, timeout=30)
        check_rc("s19.run_%s.exit_code" % label, r, 2)
        check_contains("s19.run_%s.message" % label, r.err, [suite, needle])
        check_scorecard("s19.run_%s" % label, out, r.rc)


def s20_local_ranks_without_threads():
    """--local-ranks past what the process may start: a scorecard with the reason, not a segfault
    (address space limited with RLIMIT_AS, which holds for root too, so thread stacks run out)."""
    import resource
    d = fresh_dir("s20")
    out = os.path.join(d, "x.json")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    p = subprocess.run([DSBENCH, "run", "--suite", "all_to_all", "--local-ranks", "1024", "--out", out],
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    if "ReserveShadowMemoryRange" in p.stderr or "ThreadSanitizer" in p.stderr and "mmap" in p.stderr:
        C.check("s20.skipped_under_a_sanitizer", True, "a sanitizer's shadow memory does not fit under RLIMIT_AS")
        return
    C.check("s20.exit_code", p.returncode == 2, "rc=%s %s" % (p.returncode, p.stderr[-300:]))
    check_contains("s20.message", p.stderr, ["--local-ranks 1024: could not start the thread of rank", "no rank ran"])
    doc = check_scorecard("s20", out, 2)
    if doc:
        C.check("s20.reason_in_scorecard", any("could not start the thread" in e for e in doc["errors"]), doc["errors"])


# ------------------------------------------------------------------------------------------------

def main():
    global DSBENCH, REPO, FIXTURES, SCHEMA, TMP
    if len(sys.argv) != 3:
        print("usage: cli_test.py <path-to-dsbench> <repo-root>", file=sys.stderr)
        return 2
    DSBENCH = os.path.abspath(sys.argv[1])
    REPO = os.path.abspath(sys.argv[2])
    FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    t_start = time.monotonic()
    ok = C.check("setup.jsonschema_importable", jsonschema is not None, "python3 -c 'import jsonschema' fails")
    ok = C.check("setup.binary", os.path.isfile(DSBENCH) and os.access(DSBENCH, os.X_OK),
                 DSBENCH + " is not an executable file") and ok
    if ok:
        try:
            SCHEMA = load_json(os.path.join(REPO, "results_schema", "scorecard.schema.json"))
            jsonschema.Draft202012Validator.check_schema(SCHEMA)
            C.check("setup.schema", True)
        except Exception as e:  # noqa: BLE001 - any failure here is a failed check
            ok = C.check("setup.schema", False, e)
    if ok:
        TMP = tempfile.mkdtemp(prefix="dsbench-cli-test-")
        try:
            for scenario in [s01_happy_path, s02_verify_only_perf_only, s03_malformed_suite, s04_unknown_suite,
                             s05_mixed_suite, s06_unknown_backend_kernel_case, s07_unwritable_output,
                             s08_bad_flag_combinations, s09_seeds, s10_dump_replay, s11_validate,
                             s12_dump_failures_all_pass, s13_list_info_help, s14_default_out_other_cwd, s15_sigint,
                             s16_option_ranges, s17_sigterm, s18_outputs_not_ours,
                             s19_hostile_files, s20_local_ranks_without_threads]:
                try:
                    scenario()
                except Exception:  # noqa: BLE001 - a crash in the test is a failure of that scenario
                    C.check(scenario.__name__ + ".no_exception", False, traceback.format_exc())
        finally:
            shutil.rmtree(TMP, ignore_errors=True)
    print("elapsed %.1fs" % (time.monotonic() - t_start), file=sys.stderr)
    print("%d passed, %d failed" % (C.passed, C.failed), flush=True)
    return 1 if C.failed else 0


if __name__ == "__main__":
    sys.exit(main())
