"""PASS/FAIL bookkeeping shared by the end-to-end test scripts (each prints one line per check and
ends with `N passed, M failed`, which is what a CI log reader scans for)."""

passed = 0
failed = 0


def check(name, ok, why="", limit=1500):
    global passed, failed
    if ok:
        passed += 1
        print("PASS " + name, flush=True)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, " ".join(str(why).split())[:limit]), flush=True)
    return ok


def run(cmd, env, timeout):
    """Runs cmd (a list); returns (exit code, or None when it ran past `timeout` seconds and was
    killed, stdout + stderr, seconds it took)."""
    import subprocess
    import time
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=timeout)
        return p.returncode, p.stdout + p.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired as e:
        return None, "timed out after %d s: %s" % (timeout, e), time.monotonic() - t0


def summary():
    """Prints the closing line; returns the number of failures."""
    print("%d passed, %d failed" % (passed, failed))
    return failed


def finish(tmp):
    """The closing line; on failure keeps `tmp` for inspection (says where), else removes it.
    Returns the script's exit code."""
    import shutil
    if summary():
        print("files kept in " + tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0
