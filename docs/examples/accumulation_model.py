#!/usr/bin/env python3
"""Error model behind the GEMM tolerances (docs/accuracy.md): replays a dumped dense FP8 GEMM case
with simulated accumulators and applies dsbench's test (rel 2.01/256 or abs 5e-4 x RMS; cos_diff).

  ./build/dsbench run --suite smoke --case 'gemm_fp8_blockscaled/m16_n64_k4096' \
      --kernel '*reference' --verify-only --seed 11 --dump /tmp/dumps --out /tmp/x.json
  python3 docs/examples/accumulation_model.py /tmp/dumps/gemm_fp8_blockscaled_m16_n64_k4096__*

Needs numpy and ml_dtypes. The 14-bit accumulator is a model of Hopper's FP8 MMA (truncating adds,
one per 32-deep step), not a measurement."""
import json, pathlib, sys
import numpy as np, ml_dtypes

folder = pathlib.Path(sys.argv[1])
meta = json.loads((folder / "case.json").read_text())
assert meta["op"] == "gemm_fp8_blockscaled", "dense cases only"
load = lambda name: np.load(folder / meta["tensors"][name]["file"])
f8 = {"e4m3fn": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}[meta["tensors"]["a"]["dtype"]]
sc = ml_dtypes.float8_e8m0fnu if meta["tensors"]["scale_a"]["dtype"] == "ue8m0" else np.float32
A = load("a").view(f8).astype(np.float64) * np.repeat(load("scale_a").view(sc).astype(np.float64), 128, 1)
sb = np.repeat(np.repeat(load("scale_b").view(sc).astype(np.float64), 128, 0), 128, 1)
B = load("b").view(f8).astype(np.float64) * sb[: load("b").shape[0]]
ref = load("d_ref").view(ml_dtypes.bfloat16).astype(np.float64)   # dsbench's oracle
assert not np.isnan(ref).any(), "dump a fully checked case (small, or run with --verify-full)"
(m, k), n = A.shape, B.shape[0]
exact = A @ B.T
rms = np.sqrt(np.mean(exact ** 2))
bf16 = lambda x: x.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)

def report(name, d):
    err = np.abs(d - ref)
    fails = ~((err <= 5e-4 * rms) | (err / (np.abs(ref) + 1e-6) <= 2.01 / 256))
    cos_diff = 1 - 2 * np.sum(d * ref) / np.sum(d * d + ref * ref)
    print(f"{name:44s} cos_diff {cos_diff:8.1e}   element-test failures {fails.sum()}/{fails.size}")

# FP32: operands dequantised to FP32, one FP32 add per product.
Af, Bf = A.astype(np.float32), B.astype(np.float32)
acc = np.zeros((m, n), np.float32)
for i in range(k):
    acc += Af[:, i:i + 1] * Bf[:, i][None, :]
print(f"k = {k}: FP32 accumulation error before rounding: max {np.abs(acc - exact).max() / rms:.1e} x RMS")
report("FP32 accumulation", bf16(acc))

def trunc14(x):
    mant, e = np.frexp(x)
    return np.ldexp(np.trunc(mant * 2.0 ** 14) / 2.0 ** 14, e)

for promote in (None, 128):
    acc, outer = np.zeros((m, n)), np.zeros((m, n), np.float32)
    for g in range(0, k, 32):
        acc = trunc14(acc + A[:, g:g + 32] @ B[:, g:g + 32].T)
        if promote and (g + 32) % promote == 0:
            outer += acc.astype(np.float32)
            acc[:] = 0
    report(f"14-bit accumulator, promoted every {promote} K" if promote else "14-bit accumulator, never promoted",
           bf16(outer + acc))

a_codes = load("a").view(f8).astype(np.float64)
first_scale = load("scale_a").view(sc).astype(np.float64)[:, :1]
report("A scale of K-block 0 used for every block", bf16((a_codes * first_scale) @ B.T))
