#!/usr/bin/env python3
"""The HIP backend through the command line on a machine without an AMD GPU (CI): `list` and `info`
show it with zero devices and the runtime's reason, and `run --backend hip` writes a scorecard in
which every case is not_supported, exits 0, and validates against the schema.

Usage: hip_cli_test.py <path-to-dsbench>
Prints one line per check, then `N passed, M failed`; exits 1 if any check failed.
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

DSBENCH = sys.argv[1]


def run(args):
    p = subprocess.run([DSBENCH] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="dsbench-hip-cli-")
    rc, out = run(["list", "--backends", "--kernels"])
    check("list exits 0", rc == 0, out)
    hip_line = [l for l in out.splitlines() if l.strip().startswith("hip ")]
    check("list shows the hip backend", len(hip_line) == 1, out)
    device_less = bool(hip_line) and "devices: 0" in hip_line[0]
    if device_less:
        check("list says why hip has no device", "hipGetDeviceCount" in hip_line[0], hip_line)
    for k in ["hip.gemm_fp8_blockscaled.naive", "hip.gemm_fp8_grouped_contiguous.naive",
              "hip.gemm_fp8_grouped_masked.naive", "hip.gemm_fp8_blockscaled.hipblaslt", "hip.moe_route.warp",
              "hip.all_to_all.library", "hip.mla_decode.naive", "hip.moe_dispatch.permute", "hip.moe_combine.gather"]:
        check("list shows kernel " + k, ("  " + k + "\n") in out, out)

    rc, out = run(["info", "--json"])
    check("info --json exits 0", rc == 0, out)
    info = json.loads(out) if rc == 0 else {}
    hip = [b for b in info.get("backends", []) if b.get("name") == "hip"]
    check("info lists the hip backend", len(hip) == 1, out[:600])
    if hip:
        check("info: hip build_info names the architectures", "gfx" in str(hip[0]["build_info"].get("hip_architectures")),
              hip[0])
        if device_less:
            check("info: hip unavailable with the reason", not hip[0]["available"] and "hipGetDeviceCount" in hip[0]["reason"],
                  hip[0])

    if not device_less:
        print("an AMD GPU is present: the not_supported checks do not apply")
        return checks.finish(tmp)
    card = os.path.join(tmp, "hip.json")
    rc, out = run(["run", "--backend", "hip", "--suite", "smoke", "--out", card])
    check("run --backend hip exits 0 (not_supported is no failure)", rc == 0, out[-800:])
    rows = json.load(open(card))["results"] if os.path.exists(card) else []
    check("the scorecard has rows", len(rows) > 0, out[-400:])
    bad = [(r["case_id"], r["kernel"], r["disposition"]) for r in rows if r["disposition"] != "not_supported"]
    check("every hip case is not_supported", not bad, bad[:5])
    hip_rows = [r for r in rows if (r.get("kernel") or "").startswith("hip.")]
    check("GEMM and routing rows name hip kernels and the missing device",
          len(hip_rows) > 0 and all("no hip device 0: hipGetDeviceCount" in r["reason"] for r in hip_rows),
          [(r["kernel"], r["reason"]) for r in hip_rows][:3])
    check("every row is on backend hip", all(r["backend"] == "hip" for r in rows), rows[:1])
    rc, out = run(["validate", card])
    check("the scorecard validates", rc == 0, out[-400:])
    return checks.finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
