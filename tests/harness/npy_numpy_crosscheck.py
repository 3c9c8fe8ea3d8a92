#!/usr/bin/env python3
"""Proves harness/npy.cpp and real NumPy agree, in both directions.

usage: npy_numpy_crosscheck.py PATH/TO/npy_tool

1. `npy_tool write DIR`; every file must numpy.load with the expected dtype, shape and bits.
2. numpy.save (plus format versions 2.0 and 3.0) the same arrays as py_*.npy, together with a
   Fortran-order, a big-endian and a structured file that our reader must refuse; then
   `npy_tool check DIR` must accept the former and reject the latter, naming the file.
The last line is "N passed, M failed"; exit 0 only when M is 0.
"""
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit(f"npy_numpy_crosscheck: numpy is not importable by {sys.executable}; "
             "run with a python3 that has it (Debian: python3-numpy, /usr/bin/python3)")


def fixtures():
    """The arrays npy_tool.cpp builds, from the same formulas."""
    out = {
        "u2_3d": ((np.arange(24, dtype=np.uint32) * 4099 + 1) & 0xFFFF).astype("<u2").reshape(2, 3, 4),
        "u1": np.arange(256, dtype="|u1"),
        "f4": ((np.arange(12, dtype="<f4") - 5) * np.float32(0.375)).reshape(3, 4),
        "i8": np.array([-2**63, -1, 0, 1, 2**40, 2**63 - 1], dtype="<i8"),
        "scalar_f8": np.array(math.pi, dtype="<f8"),
        "b1": np.array([True, False, False, True]),
        "f2": np.array([1.0, -2.0, 65504.0], dtype="<f2"),
        "empty_i4": np.zeros((3, 0, 2), dtype="<i4"),
    }
    for descr in ["|i1", "<i2", "<u4", "<i4", "<u8", "<f8", "<u2", "<f4", "<f2"]:
        size = np.dtype(descr).itemsize * 10
        raw = bytes((j * 31 + 7) & 0xFF for j in range(size))
        out["pattern_" + descr[1:]] = np.frombuffer(raw, dtype=descr).reshape(2, 5)
    return out


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")


def same(got, want):
    """dtype, shape and bits all equal (bits, so NaN patterns compare too)."""
    if got.dtype.str != want.dtype.str:
        return f"dtype {got.dtype.str}, expected {want.dtype.str}"
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if got.tobytes() != want.tobytes():
        return "data differs"
    return ""


def check_cpp_files(tool, cpp_dir, want, tally):
    run = subprocess.run([tool, "write", cpp_dir], capture_output=True, text=True)
    tally.check("npy_tool write", run.returncode == 0, run.stdout + run.stderr)
    names = sorted(f[:-4] for f in os.listdir(cpp_dir) if f.endswith(".npy"))
    tally.check("npy_tool wrote exactly the expected files", names == sorted(want),
                f"got {names}")
    for name, expected in want.items():
        path = os.path.join(cpp_dir, name + ".npy")
        try:
            got = np.load(path)
            with open(path, "rb") as f:  # NumPy's own view of the layout we wrote
                version = np.lib.format.read_magic(f)
                np.lib.format.read_array_header_1_0(f) if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0(f)
                aligned = f.tell() % 64 == 0
            why = same(got, expected) or ("" if version == (1, 0) else f"version {version}") or \
                ("" if aligned else "data not 64-byte aligned")
        except Exception as e:  # report, keep counting
            why = f"numpy.load failed: {e}"
        tally.check(f"numpy.load {name}.npy", not why, why)


def check_numpy_files(tool, py_dir, want, tally):
    for name, array in want.items():
        np.save(os.path.join(py_dir, f"py_{name}.npy"), array)
    for name, version in [("f4", (2, 0)), ("u2_3d", (3, 0))]:
        with open(os.path.join(py_dir, f"py_v{version[0]}_{name}.npy"), "wb") as f:
            np.lib.format.write_array(f, want[name], version=version)
    fortran = np.asfortranarray(want["f4"])
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    np.save(os.path.join(py_dir, "py_fortran_f4.npy"), fortran)
    np.save(os.path.join(py_dir, "py_big_endian_f4.npy"), want["f4"].astype(">f4"))
    np.save(os.path.join(py_dir, "py_structured.npy"),
            np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4", (2,))]))

    run = subprocess.run([tool, "check", py_dir], capture_output=True, text=True)
    for line in run.stdout.splitlines():
        if line.startswith("ok "):
            verb = "rejects" if "(rejected:" in line else "reads"
            tally.check(f"npy_tool {verb} " + os.path.basename(line[3:].split(" ")[0]), True)
        elif line.startswith("FAIL "):
            tally.check("npy_tool read", False, line[5:])
    expected_ok = len(want) + 2 + 3  # fixtures, two versions, three refusals
    ok_lines = sum(line.startswith("ok ") for line in run.stdout.splitlines())
    tally.check("npy_tool check exit status and count", run.returncode == 0 and ok_lines == expected_ok,
                f"rc {run.returncode}, {ok_lines}/{expected_ok} ok; {run.stderr.strip()}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tool = os.path.abspath(sys.argv[1])
    want = fixtures()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="dsbench_npy_") as tmp:
        cpp_dir, py_dir = os.path.join(tmp, "cpp"), os.path.join(tmp, "py")
        os.makedirs(py_dir)
        check_cpp_files(tool, cpp_dir, want, tally)
        check_numpy_files(tool, py_dir, want, tally)
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 0 if tally.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
