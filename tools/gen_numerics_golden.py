#!/usr/bin/env python3
"""Generates tests/numerics/golden/numerics_golden.inc: FP8 and BF16 golden data from ml_dtypes.

The codecs in include/dsbench/numerics/ are checked against this data by tests/numerics/*_test.cpp,
so the expected values come from an implementation that shares no code with ours.

Re-run (from the repository root) after changing this script, and commit the result:

    pip install ml_dtypes        # pulls numpy; the version used is recorded in the .inc
    python3 tools/gen_numerics_golden.py

The output is deterministic for a given ml_dtypes/numpy version (fixed seed). Contents:
  * decode tables: the float32 bits of every one of the 256 codes of E4M3FN, E5M2, E4M3FNUZ and
    E5M2FNUZ (NaN codes are stored as kNanMarker; tests only check "is NaN");
  * FP8 encode vectors per variant: float32 inputs with |x| <= max (ml_dtypes does not saturate, so
    nothing beyond max is included) and the code ml_dtypes gives: every code value, every midpoint
    between adjacent values (ties), midpoint +-1 float32 ulp, subnormal-region values, random values;
  * BF16 encode vectors: float32 inputs (no NaN) and the code ml_dtypes.bfloat16 gives: midpoints,
    +-1 ulp, random bit patterns, float32 and bf16 subnormals, values near overflow.
"""

import os
import sys

import ml_dtypes
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "numerics", "golden",
                   "numerics_golden.inc")
NAN_MARKER = 0xFFFFFFFF
SEED = 20240607

# Order matches dsb_dtype (E4M3FN=4, E5M2=5, E4M3FNUZ=6, E5M2FNUZ=7).
VARIANTS = [
    ("E4m3fn", ml_dtypes.float8_e4m3fn),
    ("E5m2", ml_dtypes.float8_e5m2),
    ("E4m3fnuz", ml_dtypes.float8_e4m3fnuz),
    ("E5m2fnuz", ml_dtypes.float8_e5m2fnuz),
]


def f32(values):
    return np.asarray(values, dtype=np.float32)


def bits_to_f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def f32_to_bits(x):
    return f32(x).view(np.uint32)


def fp8_decode_table(t):
    vals = np.arange(256, dtype=np.uint8).view(t).astype(np.float32)
    bits = vals.view(np.uint32).copy()
    bits[np.isnan(vals)] = NAN_MARKER
    return bits


def with_neighbours(x):
    """x and x +- 1 float32 ulp."""
    x = f32(x)
    return np.concatenate([x, np.nextafter(x, f32(np.inf)), np.nextafter(x, f32(-np.inf))])


def fp8_encode_inputs(t, rng):
    vals = np.arange(256, dtype=np.uint8).view(t).astype(np.float32)
    finite = vals[np.isfinite(vals)]
    mags = np.unique(np.abs(finite))  # sorted, includes 0
    fmax = float(mags[-1])
    min_sub = float(mags[1])
    min_normal = float(ml_dtypes.finfo(t).smallest_normal)
    mids = (mags[:-1].astype(np.float64) + mags[1:]) / 2  # exact in float32: few significant bits
    assert np.all(f32(mids).astype(np.float64) == mids)
    parts = [
        finite,
        f32([0.0, -0.0]),
        with_neighbours(mids),
        with_neighbours(mags),
        # Subnormal region: uniform up to a little past the smallest normal, tiny float32 values
        # (float32 subnormals included) that round to zero, and fractions of the smallest subnormal.
        f32(rng.uniform(0, 1.25 * min_normal, 300)),
        bits_to_f32(rng.integers(1, 0x00800000, 100)),
        f32([1e-45, 1e-40, 1e-30, min_sub / 4, min_sub / 2, 0.75 * min_sub, 1.5 * min_sub,
             2.5 * min_sub]),
        # Random magnitudes, log-uniform over the whole range, and a plain uniform sample.
        f32(np.exp2(rng.uniform(np.log2(min_sub) - 2, np.log2(fmax), 1500))),
        f32(rng.uniform(0, fmax, 500)),
    ]
    x = np.concatenate([f32(p) for p in parts])
    x = np.concatenate([x, -x])
    x = x[np.isfinite(x) & (np.abs(x) <= fmax)]
    # Deduplicate by bit pattern (keeps -0 and +0 apart), sorted for stable output.
    return bits_to_f32(np.unique(f32_to_bits(x)))


def bf16_encode_inputs(rng):
    codes = np.concatenate([
        rng.integers(0, 0x7F7F, 1000),            # random finite positive codes below the max
        np.arange(0, 0x7F80, 0x80),               # mantissa 0 of every binade
        np.arange(0x7F, 0x7F80, 0x80),            # mantissa all ones of every binade (carry)
        np.arange(0, 0x80),                       # every subnormal and the smallest normal
        np.arange(0x7F70, 0x7F80),                # the top binade, next to overflow
    ]).astype(np.uint32)
    mids = (codes << 16) + 0x8000  # exact midpoint between code and code + 1
    bits = np.concatenate([
        codes << 16, mids, mids + 1, mids - 1,
        rng.integers(0, 1 << 32, 4000, dtype=np.uint64).astype(np.uint32),  # any pattern
        rng.integers(1, 0x00800000, 500).astype(np.uint32),                 # float32 subnormals
        np.array([0, 1, 0x7FFF, 0x8000, 0x8001, 0x18000, 0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF,
                  0x7F7EFFFF, 0x7F7E8000, 0x7F800000, 0x00800000, 0x007FFFFF], dtype=np.uint32),
    ]).astype(np.uint32)
    bits = np.concatenate([bits, bits | np.uint32(0x80000000)])
    x = bits_to_f32(bits)
    bits = bits[~np.isnan(x)]
    return bits_to_f32(np.unique(bits))


def emit_array(out, ctype, name, values, width, per_line):
    fmt = "0x%0" + str(width) + "x"
    out.append("static const %s %s[%d] = {" % (ctype, name, len(values)))
    vals = [int(v) for v in values]
    for i in range(0, len(vals), per_line):
        out.append("    " + ", ".join(fmt % v for v in vals[i:i + per_line]) + ",")
    out.append("};")


def main():
    rng = np.random.default_rng(SEED)
    out = [
        "// GENERATED by tools/gen_numerics_golden.py -- do not edit. Regenerate with:",
        "//   pip install ml_dtypes && python3 tools/gen_numerics_golden.py",
        "// Source of truth: ml_dtypes %s (numpy %s)." % (ml_dtypes.__version__, np.__version__),
        "// Variant order everywhere: E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ (as in dsb_dtype).",
        "#pragma once",
        "",
        "#include <cstdint>",
        "",
        "namespace numerics_golden {",
        "",
        'constexpr const char* kMlDtypesVersion = "%s";' % ml_dtypes.__version__,
        'constexpr const char* kNumpyVersion = "%s";' % np.__version__,
        "// Decode-table entry of a NaN code (only \"is NaN\" is checked).",
        "constexpr uint32_t kNanMarker = 0x%08xu;" % NAN_MARKER,
        "",
        "// Float32 bits of the decoded value of every code, per variant.",
        "static const uint32_t kFp8DecodeBits[4][256] = {",
    ]
    for name, t in VARIANTS:
        table = fp8_decode_table(t)
        out.append("  {  // %s" % name)
        for i in range(0, 256, 8):
            out.append("    " + ", ".join("0x%08xu" % int(v) for v in table[i:i + 8]) + ",")
        out.append("  },")
    out.append("};")
    out.append("")
    for name, t in VARIANTS:
        x = fp8_encode_inputs(t, rng)
        codes = x.astype(t).view(np.uint8)
        out.append("// %s encode vectors: float32 input bits -> code (round to nearest even)." % name)
        emit_array(out, "uint32_t", "k%sEncodeIn" % name, x.view(np.uint32), 8, 10)
        emit_array(out, "uint8_t", "k%sEncodeCode" % name, codes, 2, 20)
        out.append("")
    x = bf16_encode_inputs(rng)
    codes = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    out.append("// BF16 encode vectors: float32 input bits -> bf16 code (round to nearest even).")
    emit_array(out, "uint32_t", "kBf16EncodeIn", x.view(np.uint32), 8, 10)
    emit_array(out, "uint16_t", "kBf16EncodeCode", codes, 4, 16)
    out.append("")
    out.append("}  // namespace numerics_golden")
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes, ml_dtypes %s)" % (os.path.normpath(OUT), len(text),
                                                ml_dtypes.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
