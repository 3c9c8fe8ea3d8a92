#!/usr/bin/env python3
"""The GPU check's summary (ci/gpu_check.sh prints it last; docs/gpu_check.md#reading-the-summary).

  gpu_check_summary.py --steps STEPS.tsv --log LOG --total-s N --budget-s N --gpu 0|1 SCORECARD...

Per step: its state and time. Per kernel over the scorecards: disposition counts, the best TFLOPS and
GB/s with their cases, and the best fraction of the card's measured ceiling (context.ceilings). Then
the rows that did not pass, and compute-sanitizer's error counts from the log. Standard library only
(it runs on the GPU machine's Python as well as here)."""
import argparse
import collections
import json
import os
import re
import sys

DISPOSITIONS = ("passed", "incorrect", "error", "not_supported", "skipped", "not_verified")


def short(text, n):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "~"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--total-s", type=int, required=True)
    ap.add_argument("--budget-s", type=int, required=True)
    ap.add_argument("--gpu", type=int, required=True)
    ap.add_argument("scorecards", nargs="*")
    a = ap.parse_args()

    lines = ["", "=" * 100, f"dsbench GPU check summary: {'GPU present' if a.gpu else 'no GPU'}; "
             f"{a.total_s} s of a {a.budget_s} s budget", "=" * 100, "", "steps:"]
    problems = []
    for row in open(a.steps):
        name, state, secs, note = (row.rstrip("\n").split("\t") + ["", "", ""])[:4]
        lines.append(f"  {name:17} {state:10} {secs:>5} s   {note}")
        if state in ("failed", "timed_out", "not_run"):
            problems.append(f"step {name} {state.replace('_', ' ')} ({note})")

    per_kernel = collections.OrderedDict()
    refs = collections.Counter()
    example_refusal = ""
    bad_rows = []
    device = ""
    ceilings = {}
    for path in a.scorecards:
        label = os.path.basename(path)
        if not os.path.exists(path):
            lines.append(f"\n{label}: not written (its step did not finish: see the log)")
            continue
        try:
            doc = json.load(open(path))
        except Exception as e:  # a half-written file must not cost the summary
            lines.append(f"\n{label}: unreadable ({e})")
            continue
        ctx = doc.get("context", {})
        for b in ctx.get("backends", []):
            if b.get("name") == "cuda" and b.get("devices"):
                device = b["devices"][0].get("name", "")
        ceilings = ctx.get("ceilings", {}).get("values", ceilings)
        for r in doc.get("results", []):
            k = r.get("kernel") or "(no kernel)"
            e = per_kernel.setdefault(k, {"counts": collections.Counter(), "tflops": (0, ""), "gbps": (0, ""),
                                          "frac": (0, "", "")})
            e["counts"][r["disposition"]] += 1
            if "reference" in r and r["disposition"] not in ("not_supported", "skipped"):
                refs[r["reference"]["source"]] += 1
            if r["disposition"] == "not_supported" and not example_refusal:
                example_refusal = f"{r['case_id']} x {k}: {short(r.get('reason', ''), 120)}"
            m = r.get("metrics", {})
            if r["disposition"] == "passed":
                if m.get("tflops", 0) > e["tflops"][0]:
                    e["tflops"] = (m["tflops"], r["case_id"])
                if m.get("gbps", 0) > e["gbps"][0]:
                    e["gbps"] = (m["gbps"], r["case_id"])
                for kind, f in m.get("of_ceiling", {}).items():
                    if f.get("fraction", 0) > e["frac"][0]:
                        e["frac"] = (f["fraction"], f.get("ceiling", kind), r["case_id"])
            if r["disposition"] in ("incorrect", "error"):
                bad_rows.append(f"  {label}: {r['case_id']} x {k}: {r['disposition']}: {short(r.get('reason', ''), 160)}")

    lines.append("")
    lines.append(f"device: {device or '(none)'}")
    if ceilings:
        lines.append("measured ceilings: " + ", ".join(f"{k} {v['value']:.4g}" for k, v in sorted(ceilings.items())))
    lines.append("")
    lines.append(f"{'kernel':42} " + " ".join(f"{d[:7]:>7}" for d in DISPOSITIONS) +
                 f"  {'best TFLOPS':>11}  {'best GB/s':>9}  best % of ceiling")
    for k, e in per_kernel.items():
        c = e["counts"]
        frac = f"{100 * e['frac'][0]:5.1f}% {e['frac'][1]} ({short(e['frac'][2], 40)})" if e["frac"][0] else "-"
        tf = f"{e['tflops'][0]:11.2f}" if e["tflops"][0] else f"{'-':>11}"
        gb = f"{e['gbps'][0]:9.1f}" if e["gbps"][0] else f"{'-':>9}"
        lines.append(f"{short(k, 42):42} " + " ".join(f"{c[d]:7d}" for d in DISPOSITIONS) + f"  {tf}  {gb}  {frac}")
    if bad_rows:
        lines.append("")
        lines.append(f"rows that did not pass ({len(bad_rows)}):")
        lines += bad_rows[:40]
        if len(bad_rows) > 40:
            lines.append(f"  ... and {len(bad_rows) - 40} more (the scorecards hold them all)")

    sanitizer = []
    try:
        text = open(a.log, errors="replace").read()
        for tool, n in re.findall(r"========= (ERROR|RACECHECK) SUMMARY: ([0-9]+)", text):
            sanitizer.append((tool, int(n)))
    except OSError:
        pass
    if sanitizer:
        errs = sum(n for _, n in sanitizer)
        lines.append("")
        lines.append(f"compute-sanitizer: {len(sanitizer)} runs, {errs} errors/hazards reported" +
                     (" (details in gpu_check.log)" if errs else ""))
        if errs:
            problems.append(f"compute-sanitizer reported {errs} errors/hazards")
    if refs:
        lines.append("")
        lines.append("references: " + ", ".join(f"{n} rows {src}" for src, n in sorted(refs.items())) +
                     " (cache: judged against the bundle's stored checks; computed: on this host)")
    incorrect = sum(e["counts"]["incorrect"] + e["counts"]["error"] for e in per_kernel.values())
    if incorrect:
        problems.append(f"{incorrect} rows incorrect or errored")
    if example_refusal:
        lines.append("")
        lines.append("a not_supported row, for example: " + example_refusal)
    judged = sum(e["counts"]["passed"] + e["counts"]["incorrect"] for e in per_kernel.values())
    if not a.gpu:
        problems.insert(0, "no GPU: nothing was judged on a GPU")
    elif not judged:
        problems.append("no row was judged (every one refused or failed)")
    lines.append("")
    lines.append("verdict: " + ("clean: every step ran, every judged row passed, no sanitizer report"
                                if not problems else "; ".join(problems)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
