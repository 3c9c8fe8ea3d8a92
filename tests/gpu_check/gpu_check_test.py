#!/usr/bin/env python3
"""The GPU check without a GPU (ctest gpu_check.*; docs/gpu_check.md): the bundle's library check
passes here, ci/gpu_check.sh runs to the end with every cuda row not_supported and exits 0, and its
bad-input paths hold: a missing CUDA library is named with the folders searched while the other
steps still run; a step that hangs is ended, named in the summary, and the later steps and the files
already written are kept; a subset run that crashes is rerun with a worker per row.

  gpu_check_test.py SOURCE_DIR BUNDLE_DIR

BUNDLE_DIR is built by ci/gpu_bundle.sh (ci/test.sh does it before ctest). Without one the test is
skipped (exit 77), except in CI (CI=true), where a missing bundle fails it."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

checks = failures = 0


def expect(cond, what):
    global checks, failures
    checks += 1
    if not cond:
        failures += 1
        print(f"FAILED: {what}")


def run_check(src, bundle, out, **env_extra):
    env = dict(os.environ, **env_extra)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    r = subprocess.run(["bash", os.path.join(src, "ci", "gpu_check.sh"), bundle, out], capture_output=True,
                       text=True, env=env, timeout=600)
    return r.returncode, r.stdout + r.stderr


def out_files_ok(out, label):
    names = sorted(os.listdir(out))
    expect(len(names) <= 8, f"{label}: at most 8 files in OUT_DIR, got {names}")
    for n in names:
        p = os.path.join(out, n)
        expect(os.path.isfile(p), f"{label}: {n} is a plain file (OUT_DIR is flat)")
        expect(re.fullmatch(r"[A-Za-z0-9._-]+", n) is not None, f"{label}: {n}: a name the device tool returns")
        expect(os.path.getsize(p) <= 16 << 20, f"{label}: {n} is at most 16 MiB")
    return names


def cuda_rows(path):
    with open(path) as f:
        return [r for r in json.load(f)["results"] if r["backend"] == "cuda"]


def copy_with_wrapper(bundle, tmp, script):
    """A copy of the bundle whose bin/dsbench is a wrapper (a fault injected from outside)."""
    dst = os.path.join(tmp, "bundle")
    shutil.copytree(bundle, dst, symlinks=True)
    real = os.path.join(dst, "bin", "dsbench.real")
    os.rename(os.path.join(dst, "bin", "dsbench"), real)
    w = os.path.join(dst, "bin", "dsbench")
    with open(w, "w") as f:
        f.write("#!/bin/sh\n" + script + '\nexec "$(dirname "$0")/dsbench.real" "$@"\n')
    os.chmod(w, os.stat(w).st_mode | stat.S_IXUSR)
    return dst


def main():
    src, bundle = sys.argv[1], os.path.abspath(sys.argv[2])
    if not os.path.isfile(os.path.join(bundle, "manifest.json")):
        msg = f"no GPU bundle at {bundle}: build it with ci/gpu_bundle.sh {bundle}"
        if os.environ.get("CI") == "true":
            print("FAILED: " + msg + " (ci/test.sh builds it before ctest)")
            return 1
        print("SKIPPED: " + msg)
        return 77
    with open(os.path.join(bundle, "manifest.json")) as f:
        m = json.load(f)
    for key in ("git_commit", "compiler", "flags", "cuda_version", "files", "seed", "glibc_required", "libraries"):
        expect(key in m, f"manifest.json has {key}")
    expect(m.get("total_bytes", 1 << 40) <= 48 << 20, f"the bundle is at most 48 MiB ({m.get('total_bytes')} bytes)")
    expect("libcublasLt.so.13" in m["libraries"]["target_provided"], "cuBLASLt is the target's, not carried")
    expect(not any(n.startswith(("libc.so", "libm.so")) for n in m["libraries"]["carried"]), "glibc is never carried")

    r = subprocess.run([sys.executable, os.path.join(bundle, "tools", "gpu_bundle.py"), "check", bundle],
                       capture_output=True, text=True)
    expect(r.returncode == 0 and "library check: passed" in r.stdout, "the bundle's library check passes here:\n" + r.stdout + r.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        # 1. No GPU: runs to the end, every cuda row not_supported, exit 0, the summary last.
        out = os.path.join(tmp, "plain")
        rc, text = run_check(src, bundle, out)
        expect(rc == 0, f"no-GPU run exits 0 (got {rc}):\n{text[-3000:]}")
        expect("no GPU" in text, "it says 'no GPU'")
        expect(text.rstrip().splitlines()[-1].startswith("verdict: no GPU"), "the summary is the last thing printed")
        names = out_files_ok(out, "no-GPU run")
        for n in ("summary.txt", "gpu_check.log", "smoke-cuda.json", "gpu-check-cuda.json", "gtests.json", "manifest.json"):
            expect(n in names, f"no-GPU run writes {n}")
        for card in ("smoke-cuda.json", "gpu-check-cuda.json"):
            rows = cuda_rows(os.path.join(out, card))
            expect(len(rows) > 0, f"{card} has cuda rows")
            expect(all(r["disposition"] == "not_supported" for r in rows), f"{card}: every cuda row is not_supported")
            v = subprocess.run([os.path.join(bundle, "bin", "dsbench"), "validate", os.path.join(out, card)],
                               capture_output=True, text=True, cwd=bundle)
            expect(v.returncode == 0, f"{card} validates against the schema: {v.stdout}{v.stderr}")
        with open(os.path.join(out, "gpu_check.log")) as f:
            log = f.read()
        for step in ("env", "gtests", "smoke", "subset"):
            expect(f"== {step}: ok" in log, f"step {step} ran to its end")
        for step in ("calibrate", "memcheck", "racecheck"):
            expect(f"== {step}: skipped (no GPU)" in log, f"step {step} is skipped without a GPU")
        with open(os.path.join(out, "summary.txt")) as f:
            summary = f.read()
        expect("cuda.gemm_fp8_blockscaled.sm90" in summary and "not_sup" in summary, "the summary counts per kernel")

        # 2. The CUDA libraries missing: named with the folders searched; the steps still run.
        out = os.path.join(tmp, "nolibs")
        rc, text = run_check(src, bundle, out, DSB_CUDA_LIB_DIRS=os.path.join(tmp, "nowhere"))
        with open(os.path.join(out, "gpu_check.log")) as f:
            log = f.read()
        expect("libcublasLt.so.13 NOT FOUND (searched: " + os.path.join(tmp, "nowhere") in log,
               "a missing cuBLASLt is named with the folders searched")
        expect("libnccl.so.2 NOT FOUND" in log, "a missing NCCL is named")
        for card in ("smoke-cuda.json", "gpu-check-cuda.json"):
            expect(os.path.exists(os.path.join(out, card)), f"with the libraries missing, {card} is still written")
        expect("verdict:" in text.rstrip().splitlines()[-1], "the summary still ends the output")

        # 3. A step that hangs: ended at its cap, named, later steps run, earlier files kept.
        hung = copy_with_wrapper(bundle, os.path.join(tmp, "h"), 'case " $* " in *" gpu-check "*) exec sleep 600;; esac')
        out = os.path.join(tmp, "hang")
        rc, text = run_check(src, hung, out, DSB_GPU_CHECK_STEP_S="4")
        expect(rc == 1, f"a timed-out step makes the check exit 1 (got {rc})")
        with open(os.path.join(out, "summary.txt")) as f:
            summary = f.read()
        expect("step subset timed out" in summary, "the summary names the step that timed out:\n" + summary[-800:])
        expect(os.path.exists(os.path.join(out, "smoke-cuda.json")), "the files written before it are kept")
        with open(os.path.join(out, "gpu_check.log")) as f:
            log = f.read()
        expect("== memcheck: skipped" in log and "== racecheck: skipped" in log, "the steps after it still run")

        # 4. The subset run crashes: rerun with a worker per row, and its scorecard is written.
        crash = copy_with_wrapper(bundle, os.path.join(tmp, "c"),
                                  'case " $* " in *" gpu-check "*) case " $* " in *" --isolate "*) ;; *) kill -SEGV $$;; esac;; esac')
        out = os.path.join(tmp, "crash")
        rc, text = run_check(src, crash, out)
        with open(os.path.join(out, "gpu_check.log")) as f:
            log = f.read()
        expect("again with --isolate" in log and "== subset_isolated: ok" in log, "a crashed subset run is rerun isolated")
        expect(os.path.exists(os.path.join(out, "gpu-check-cuda.json")), "the isolated rerun writes the scorecard")
        expect(rc == 0, f"a rerun that completes leaves the check green without a GPU (got {rc})")

    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
