#!/usr/bin/env python3
"""The HTML report in a real browser: headless Chromium loads it, and the DOM it builds is checked.

Usage: report_chromium_test.py <dsbench> <repo-root>

Writes a small scorecard with `dsbench run`, makes a hostile copy (a <script> and an <img onerror> in
the device name, markup in a case id and a reason, an incorrect result), renders both side by side
with `dsbench report --price`, then asks Chromium for the DOM (--dump-dom) and a screenshot:
the page renders, the throughput and accuracy charts exist as SVG with one bar per result, every
hostile string is text (no script or img element appears), and nothing is fetched from a network.
Prints PASS/FAIL lines and `N passed, M failed`.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import checks  # noqa: E402
from checks import check  # noqa: E402

DSBENCH, REPO = sys.argv[1], sys.argv[2]
EVIL_DEVICE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">CPU"




def chromium(tmp, *args):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--user-data-dir=" + os.path.join(tmp, "profile")] + list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def hostile_copy(card_path, out_path):
    doc = json.load(open(card_path))
    cpu = next(b for b in doc["context"]["backends"] if b["name"] == "cpu")
    cpu["devices"][0]["name"] = EVIL_DEVICE
    first = doc["results"][0]
    first["case_id"] = "gemm_fp8_blockscaled/<b>m128</b>"
    first["disposition"] = "incorrect"
    first["reason"] = "d: 3 mismatches <i>injected</i>"
    first["accuracy"][0]["passed"] = False
    first["accuracy"][0]["mismatches"] = 3
    counts = {d: 0 for d in ("passed", "incorrect", "error", "not_supported", "skipped", "not_verified")}
    for r in doc["results"]:
        counts[r["disposition"]] += 1
    doc["summary"]["by_disposition"] = counts
    doc["summary"]["by_op"] = {first["op"]: dict(counts)}
    json.dump(doc, open(out_path, "w"))


def main():
    tmp = tempfile.mkdtemp(prefix="dsbench-report-chromium-")
    card, evil, html, png = (os.path.join(tmp, n) for n in ("plain.json", "hostile.json", "report.html", "report.png"))
    p = subprocess.run([DSBENCH, "run", "--backend", "cpu", "--suite", "smoke", "--case", "gemm_fp8_blockscaled/m*k512", "--seed", "3",
                        "--reps", "3", "--budget", "0.05", "--out", card], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, cwd=REPO)
    if not check("a scorecard to report on", p.returncode == 0, p.stderr):
        return 1
    hostile_copy(card, evil)
    p = subprocess.run([DSBENCH, "report", card, evil, "--out", html, "--price", "cpu=0.5", "--title", "dsbench report"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    check("dsbench report exits 0", p.returncode == 0, p.stderr)
    source = open(html, encoding="utf-8").read()
    check("the file fetches nothing", not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", source), "remote reference")

    dom = chromium(tmp, "--dump-dom", "file://" + html)
    check("chromium renders the page", dom.returncode == 0 and "<main>" in dom.stdout, dom.stderr[-600:])
    d = dom.stdout
    timed = sum(1 for f in (card, evil) for r in json.load(open(f))["results"] if r["timing"] is not None)
    charts = len(re.findall(r'<svg class="chart throughput"', d))
    check("a throughput chart per op is in the DOM", charts == 1, charts)
    check("an accuracy chart per op is in the DOM", len(re.findall(r'<svg class="chart accuracy"', d)) == 1)
    bars = re.search(r'<svg class="chart throughput".*?</svg>', d, re.S)
    check("one bar per timed result", bars and bars.group(0).count('<rect class="bar"') == timed,
          "expected %d bars" % timed)
    check("no script element was injected", "<script" not in d.lower(), "found <script in the DOM")
    check("no img element was injected", "<img" not in d.lower(), "found <img in the DOM")
    check("the title was not changed by injected code", "<title>dsbench report</title>" in d and "PWNED</title>" not in d)
    check("the device name shows as text", "&lt;script&gt;document.title='PWNED'&lt;/script&gt;&lt;img" in d,
          "escaped device name not found")
    check("the case id shows as text", "gemm_fp8_blockscaled/&lt;b&gt;m128&lt;/b&gt;" in d)
    check("the reason shows as text", "d: 3 mismatches &lt;i&gt;injected&lt;/i&gt;" in d)
    check("conformance counts the incorrect result", re.search(r'<td class="n incorrect">1</td>', d) is not None)

    shot = chromium(tmp, "--screenshot=" + png, "--window-size=1400,2000", "--hide-scrollbars", "file://" + html)
    ok = shot.returncode == 0 and os.path.exists(png)
    check("chromium takes a screenshot", ok, shot.stderr[-600:])
    if ok:
        head = open(png, "rb").read(24)
        w, h = struct.unpack(">II", head[16:24])
        check("the screenshot is a 1400x2000 PNG with content", head[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (1400, 2000)
              and os.path.getsize(png) > 30000, "%dx%d, %d bytes" % (w, h, os.path.getsize(png)))
    return checks.finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
