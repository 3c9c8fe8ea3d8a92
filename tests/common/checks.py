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
