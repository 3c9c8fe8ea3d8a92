#!/usr/bin/env python3
"""Generates suites/<model>.json from configs/<model>.json (the model's dimensions), so other
MLA+MoE models become new config files rather than new code.

  python3 tools/gen_suites.py            # rewrite every generated suite
  python3 tools/gen_suites.py --check    # exit 1 if a committed suite differs from its config

GEMM shapes follow ../shared/DEEPSEEK.md §3: each (N, K) is derived from the config's dimensions.
Grouped row counts are uneven, drawn from a seeded generator so the suite is reproducible.
MLA decode (§4) takes its dims (kv_lora_rank + qk_rope_head_dim, kv_lora_rank), heads (num_heads / TP)
and softmax scale (YaRN-adjusted) from the config; a config with "mla_correctness" also yields
suites/mla-correctness.json, FlashMLA's test grid at those dims."""
import argparse
import json
import math
import pathlib
import random
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def gemm_shapes(c):
    """(tag, N, K) of every FP8 GEMM of one transformer layer, from the model dimensions."""
    h, heads = c["hidden"], c["num_heads"]
    return [
        ("qa_kva", c["q_lora_rank"] + c["kv_lora_rank"] + c["qk_rope_head_dim"], h),  # fused q_a + kv_a
        ("q_b", heads * (c["qk_nope_head_dim"] + c["qk_rope_head_dim"]), c["q_lora_rank"]),
        ("kv_b", heads * (c["qk_nope_head_dim"] + c["v_head_dim"]), c["kv_lora_rank"]),
        ("o_proj", h, heads * c["v_head_dim"]),
        ("expert_gate_up", 2 * c["moe_intermediate"], h),
        ("expert_down", h, c["moe_intermediate"]),
        ("dense_gate_up", 2 * c["dense_intermediate"], h),
        ("dense_down", h, c["dense_intermediate"]),
    ]


def uneven_rows(rng, groups, mean, spread, lo, hi):
    return [max(lo, min(hi, int(round(mean * rng.uniform(1 - spread, 1 + spread))))) for _ in range(groups)]


def mla_dims(c):
    """(d_qk, d_v) of absorbed MLA decode: each cached key is the latent plus the RoPE dims, the value
    its latent part."""
    return c["kv_lora_rank"] + c["qk_rope_head_dim"], c["kv_lora_rank"]


def mla_softmax_scale(c):
    """The model's attention scale: (qk_nope_head_dim + qk_rope_head_dim)^-0.5, times mscale^2 under
    YaRN (mscale = 0.1 * mscale_all_dim * ln(factor) + 1), as DeepSeek-V3's attention computes it."""
    scale = (c["qk_nope_head_dim"] + c["qk_rope_head_dim"]) ** -0.5
    rs = c.get("rope_scaling") or {}
    if rs.get("type") == "yarn" and rs.get("mscale_all_dim"):
        mscale = 0.1 * rs["mscale_all_dim"] * math.log(rs["factor"]) + 1.0
        scale *= mscale * mscale
    return round(scale, 9)


def varlen(rng, b, mean, lo):
    """FlashMLA's test lengths: N(mean, mean/2) per sequence, at least lo."""
    return [max(lo, int(round(rng.normalvariate(mean, mean / 2)))) for _ in range(b)]


def mla_case(c, tag, b, s_q, h_q, seqlen, causal, scale, fp8=False):
    d_qk, d_v = mla_dims(c)
    params = {"b": b, "s_q": s_q, "h_q": h_q, "d_qk": d_qk, "d_v": d_v,
              "page_block_size": c["suite"]["mla"]["page_block_size"], "seqlen": seqlen,
              "softmax_scale": scale, "causal": causal}
    if fp8:
        params["kv_dtype"] = "e4m3fn"
    return {"id": f"mla_decode/{tag}", "op": "mla_decode", "params": params}


def mla_model_cases(c):
    """The decode grid: b x h_q (num_heads / TP) x s_q x mean length, varlen, the model's scale; the
    same lengths for every h_q and s_q of one (b, mean length)."""
    m = c["suite"]["mla"]
    rng = random.Random(c["suite"]["seed"] + 1)
    scale = mla_softmax_scale(c)
    lengths = {(b, sk): varlen(rng, b, sk, max(m["s_q"])) for b in m["b"] for sk in m["s_k"]}
    cases = []
    for b in m["b"]:
        for tp in m["tp"]:
            for s_q in m["s_q"]:
                for sk in m["s_k"]:
                    h_q = c["num_heads"] // tp
                    cases.append(mla_case(c, f"b{b}_sq{s_q}_hq{h_q}_sk{sk}_varlen", b, s_q, h_q, lengths[(b, sk)],
                                          m["causal"], scale))
    f = m["fp8"]
    for b in f["b"]:
        for tp in f["tp"]:
            for s_q in f["s_q"]:
                for sk in f["s_k"]:
                    h_q = c["num_heads"] // tp
                    lens = lengths.get((b, sk)) or varlen(rng, b, sk, max(m["s_q"]))
                    cases.append(mla_case(c, f"b{b}_sq{s_q}_hq{h_q}_sk{sk}_varlen_fp8", b, s_q, h_q, lens,
                                          m["causal"], scale, fp8=True))
    return cases


# FlashMLA's correctness grid (tests/test_flash_mla.py): odd sizes (s_k 20, 140; h_q 1, 3, 63) catch
# tail bugs. Heads 3, 63 and 128 use the model's scale (peaky weights), the others d_qk^-0.5 (flat).
MLA_GRID = {"b": [1, 2, 6, 64], "s_q": [1, 2, 4], "s_k": [20, 140, 4096], "h_q": [1, 3, 16, 63, 64, 128]}
MLA_MODEL_SCALE_HEADS = {3, 63, 128}
MLA_FP8_GRID = {"b": [2, 64], "s_q": [1, 2], "s_k": [20, 140, 4096], "h_q": [3, 16, 128]}
MLA_ZERO_GRID = {"b": [2, 6, 64], "s_q": [1, 4], "s_k": [20, 4096], "h_q": [16, 128]}


def mla_correctness_suite(c):
    d_qk, _ = mla_dims(c)
    rng = random.Random(c["suite"]["seed"] + 2)
    model_scale, flat_scale = mla_softmax_scale(c), round(d_qk ** -0.5, 9)
    lengths = {(b, sk): varlen(rng, b, sk, 1) for b in MLA_GRID["b"] for sk in MLA_GRID["s_k"]}

    def grid(g, fp8):
        out = []
        for b in g["b"]:
            for s_q in g["s_q"]:
                for sk in g["s_k"]:
                    for h_q in g["h_q"]:
                        scale = model_scale if h_q in MLA_MODEL_SCALE_HEADS else flat_scale
                        for var in (False, True):
                            lens = [max(s_q, x) for x in lengths[(b, sk)]] if var else sk
                            for causal in (False, True):
                                tag = f"b{b}_sq{s_q}_hq{h_q}_sk{sk}" + ("_varlen" if var else "") + \
                                      ("_causal" if causal else "") + ("_fp8" if fp8 else "")
                                out.append(mla_case(c, tag, b, s_q, h_q, lens, causal, scale, fp8))
        return out

    cases = grid(MLA_GRID, False) + grid(MLA_FP8_GRID, True)
    # Zero-length sequences (every third), and under causal MTP ones shorter than s_q (every fifth),
    # whose first queries see no key: out 0, lse +inf.
    for b in MLA_ZERO_GRID["b"]:
        for s_q in MLA_ZERO_GRID["s_q"]:
            for sk in MLA_ZERO_GRID["s_k"]:
                for h_q in MLA_ZERO_GRID["h_q"]:
                    lens = [0 if i % 3 == 1 else (s_q // 2 if i % 5 == 3 else x)
                            for i, x in enumerate(lengths[(b, sk)])]
                    scale = model_scale if h_q in MLA_MODEL_SCALE_HEADS else flat_scale
                    for causal in (False, True):
                        cases.append(mla_case(c, f"b{b}_sq{s_q}_hq{h_q}_sk{sk}_zeros" + ("_causal" if causal else ""),
                                              b, s_q, h_q, lens, causal, scale))
    cases.append(mla_case(c, "b1_sq4_hq16_sk0_causal", 1, 4, 16, [0], True, flat_scale))
    return {
        "name": "mla-correctness",
        "description": "MLA decode correctness grid (FlashMLA's test shapes: b, s_q, s_k, h_q, varlen, causal; zero-length "
                       f"sequences; FP8 cache) at the MLA dims of configs/{c['name']}.json, generated by "
                       "tools/gen_suites.py; do not edit by hand. Run it with --kernel '*optimized' --verify-only: "
                       "large cases are checked by sampling.",
        "generated_from": f"configs/{c['name']}.json",
        "defaults": {"timing": {"warmup": 0, "min_reps": 1, "max_reps": 1}},
        "cases": cases,
    }


def dumps(suite):
    """json.dumps with indent 2, but a list of numbers stays on one line."""
    text = json.dumps(suite, indent=2)
    return re.sub(r"\[\s+([-0-9., \n]+?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


def model_suite(c):
    s = c["suite"]
    rng = random.Random(s["seed"])
    cases = []
    for tag, n, k in gemm_shapes(c):
        for m in s["gemm_m"]:
            cases.append({"id": f"gemm_fp8_blockscaled/{tag}_m{m}_n{n}_k{k}", "op": "gemm_fp8_blockscaled",
                          "params": {"m": m, "n": n, "k": k}})
    experts = [(t, n, k) for t, n, k in gemm_shapes(c) if t.startswith("expert_")]
    for g in s["grouped_contiguous"]:
        rows = uneven_rows(rng, g["num_groups"], g["mean_rows"], s["row_spread"], s["min_rows"], s["max_rows"])
        for tag, n, k in experts:
            cases.append({"id": f"gemm_fp8_grouped_contiguous/{tag}_g{g['num_groups']}_m{sum(rows)}_n{n}_k{k}",
                          "op": "gemm_fp8_grouped_contiguous",
                          "params": {"num_groups": g["num_groups"], "m_per_group": rows, "n": n, "k": k}})
    for g in s["grouped_masked"]:
        rows = uneven_rows(rng, g["num_groups"], g["mean_rows"], s["row_spread"], 0, g["m_max"])
        for tag, n, k in experts:
            cases.append({"id": f"gemm_fp8_grouped_masked/{tag}_g{g['num_groups']}_mmax{g['m_max']}_n{n}_k{k}",
                          "op": "gemm_fp8_grouped_masked",
                          "params": {"num_groups": g["num_groups"], "m_max": g["m_max"], "masked_m": rows,
                                     "n": n, "k": k}})
    if "mla" in s:
        cases += mla_model_cases(c)
    return {
        "name": c["name"],
        "description": f"{c['name']} FP8 GEMM shapes (dense, grouped contiguous, grouped masked) and MLA decode "
                       f"(BF16 and FP8 caches), generated by tools/gen_suites.py from configs/{c['name']}.json; do not "
                       "edit by hand.",
        "generated_from": f"configs/{c['name']}.json",
        "defaults": {"timing": {"min_reps": 3, "budget_s": 2.0}},
        "cases": cases,
    }


MOE_ROUTE_CASES = [
    {"id": "moe_route/t128_gate", "op": "moe_route", "params": {"num_tokens": 128},
     "note": "DeepSeek-V3 decode batch: 256 experts, 8 groups, top-4 groups, top-8, sigmoid, x2.5"},
    {"id": "moe_route/t4096_gate", "op": "moe_route", "params": {"num_tokens": 4096}, "note": "prefill-sized batch"},
    {"id": "moe_route/t4096_balanced", "op": "moe_route", "params": {"num_tokens": 4096, "distribution": "balanced"},
     "note": "every expert equally loaded"},
    {"id": "moe_route/t4096_skewed", "op": "moe_route",
     "params": {"num_tokens": 4096, "distribution": "skewed", "zipf_s": 1.2}, "note": "Zipf-like hot experts"},
    {"id": "moe_route/t333_softmax_e64_g4_k6", "op": "moe_route",
     "params": {"num_tokens": 333, "num_experts": 64, "num_groups": 4, "topk_groups": 2, "topk": 6,
                "scoring": "softmax", "normalize": 0, "routed_scale": 1.0},
     "note": "another MoE config: softmax scores, no normalisation"},
    {"id": "moe_route/t1_ungrouped", "op": "moe_route",
     "params": {"num_tokens": 1, "num_experts": 160, "num_groups": 1, "topk_groups": 1, "topk": 6},
     "note": "a single group: plain top-k"},
    {"id": "moe_route/t0", "op": "moe_route", "params": {"num_tokens": 0},
     "note": "no tokens: an empty result, not an error"},
]


def moe_suite(c):
    """moe.json: routing cases, then dispatch and combine at the model's sizes per rank: decode (T = 128,
    masked layout for the masked GEMM, FP8 and BF16) and prefill (T = 4096, contiguous layout for the
    grouped-contiguous GEMM), for gate / balanced / skewed routing. Tokens are per rank and experts split
    over the ranks, so the same cases run with any world size that divides the expert count."""
    model = {"hidden": c["hidden"], "num_experts": c["num_routed_experts"], "num_groups": c["num_expert_groups"],
             "topk_groups": c["topk_groups"], "topk": c["experts_per_token"]}
    cases = list(MOE_ROUTE_CASES)
    for phase, t, layout in (("decode", 128, "masked"), ("prefill", 4096, "contiguous")):
        for dist in ("gate", "balanced", "skewed"):
            cases.append({"id": f"moe_dispatch/{phase}_t{t}_fp8_{layout}_{dist}", "op": "moe_dispatch",
                          "params": {"num_tokens": t, **model, "layout": layout, "recv_dtype": "e4m3fn",
                                     "distribution": dist},
                          "note": f"{phase}: FP8 rows (7168 + 224 bytes per token-copy), {dist} routing"})
        cases.append({"id": f"moe_dispatch/{phase}_t{t}_bf16_{layout}_gate", "op": "moe_dispatch",
                      "params": {"num_tokens": t, **model, "layout": layout}, "note": f"{phase}: BF16 rows"})
        for dist in ("gate", "skewed"):
            cases.append({"id": f"moe_combine/{phase}_t{t}_{layout}_{dist}", "op": "moe_combine",
                          "params": {"num_tokens": t, **model, "layout": layout, "distribution": dist},
                          "note": f"{phase}: BF16 rows home (14336 bytes per token-copy), {dist} routing"})
    cases.append({"id": "moe_dispatch/decode_t128_fp8_ue8m0_contiguous_gate", "op": "moe_dispatch",
                  "params": {"num_tokens": 128, **model, "recv_dtype": "e4m3fn", "scale_dtype": "ue8m0"},
                  "note": "power-of-two (UE8M0) scales"})
    for op in ("moe_dispatch", "moe_combine"):
        cases.append({"id": f"{op}/decode_t128_empty_rank0_unused_slots", "op": op,
                      "params": {"num_tokens": 128, **model, "empty_rank": 0, "unused_slots": 0.1},
                      "note": "rank 0 has no tokens (with one rank: nothing at all); 10% of slots unused (-1)"})
    # The whole layer (route -> FP8 dispatch -> grouped GEMMs -> combine, plus the shared expert).
    layer = {**model, "intermediate": c["moe_intermediate"],
             "shared_intermediate": c["num_shared_experts"] * c["moe_intermediate"]}
    cases.append({"id": "moe_layer/decode_t128_masked_gate", "op": "moe_layer",
                  "params": {"num_tokens": 128, **layer, "layout": "masked"},
                  "note": "the full layer at decode: every expert's FP8 weights on the rank (11.3 GB at EP 1; "
                          "capped by memory where a rank cannot hold them)"})
    cases.append({"id": "moe_layer/prefill_t4096_contiguous_gate", "op": "moe_layer",
                  "params": {"num_tokens": 4096, **layer, "layout": "contiguous"},
                  "note": "the full layer at prefill (3.2 TFLOP per rank at EP 1)"})
    small = {**layer, "num_experts": 32, "num_groups": 8, "topk_groups": 4}
    cases.append({"id": "moe_layer/decode_t128_e32_masked_skewed", "op": "moe_layer",
                  "params": {"num_tokens": 128, **small, "layout": "masked", "distribution": "skewed"},
                  "note": "model-sized experts, 32 of them (1.4 GB of weights): the layer on a CPU host"})
    cases.append({"id": "moe_layer/decode_t128_e32_empty_rank0", "op": "moe_layer",
                  "params": {"num_tokens": 128, **small, "layout": "masked", "empty_rank": 0},
                  "note": "rank 0 has no tokens (with one rank: nothing at all): an empty result, not an error"})
    return {
        "name": "moe",
        "description": "MoE ops: routing, dispatch, combine and the whole MoE layer at DeepSeek-V3's sizes per rank (decode T = 128, "
                       "prefill T = 4096; experts split evenly over the ranks, so any world size dividing 256 runs "
                       "it). Generated by tools/gen_suites.py from configs/" + c["name"] + ".json; do not edit by "
                       "hand. Every token and row is checked; prefill cases take seconds to check on a CPU "
                       "(--verify-only is enough for conformance).",
        "generated_from": f"configs/{c['name']}.json",
        "defaults": {"timing": {"min_reps": 3, "budget_s": 0.2}},
        "cases": cases,
    }


# The GPU check's subset (ci/gpu_check.sh, docs/gpu_check.md): each op's decode- and prefill-sized
# cases, picked by id from the generated model and MoE suites so that they are the same cases.
GPU_CHECK_CASES = [
    "gemm_fp8_blockscaled/o_proj_m1_n7168_k16384",            # decode: weight-bandwidth bound
    "gemm_fp8_blockscaled/o_proj_m128_n7168_k16384",
    "gemm_fp8_blockscaled/o_proj_m4096_n7168_k16384",         # prefill: DeepGEMM's published anchor shape
    "gemm_fp8_blockscaled/expert_gate_up_m4096_n4096_k7168",
    "gemm_fp8_grouped_contiguous/expert_gate_up_g8_m32405_n4096_k7168",  # prefill, 8 local experts
    "gemm_fp8_grouped_masked/expert_down_g32_mmax128_n7168_k2048",       # decode, 32 local experts
    "mla_decode/b64_sq1_hq128_sk8192_varlen",                 # decode, memory-bound
    "mla_decode/b128_sq2_hq128_sk8192_varlen",                # MTP decode: 256 query rows per KV
    "mla_decode/b128_sq1_hq128_sk32768_varlen_fp8",           # the 656-byte FP8 cache
    "moe_route/t128_gate",
    "moe_route/t4096_gate",
    "moe_dispatch/decode_t128_fp8_masked_gate",
    "moe_dispatch/prefill_t4096_fp8_contiguous_gate",
    "moe_combine/decode_t128_masked_gate",
    "moe_combine/prefill_t4096_contiguous_gate",
    "moe_layer/decode_t128_e32_masked_skewed",                # model-sized experts, 32 of them
    "moe_layer/decode_t128_masked_gate",                      # the whole layer at decode (11.3 GB of weights)
]

# compute-sanitizer's cases: small smoke cases of every GPU kernel family (memcheck runs them all,
# racecheck those of the kernels with shared memory).
GPU_SANITIZE_CASES = [
    "gemm_fp8_blockscaled/m67_n200_k384",
    "gemm_fp8_blockscaled/m128_n256_k512",
    "gemm_fp8_grouped_contiguous/g4_m100-0-256-37_n256_k512",
    "gemm_fp8_grouped_masked/g2_mmax64_n100_k256",
    "mla_decode/b2_sq1_hq16_sk140",
    "mla_decode/b2_sq4_hq16_sk200-65_causal_fp8",
    "moe_route/t128_gate",
    "moe_dispatch/t77_h256_e16_k4_fp8_masked_skewed",
    "moe_combine/t96_h512_e32_k6_contiguous",
    "moe_layer/t64_h256_i256_e16_k4_contiguous",
]


def pick_suite(name, description, sources, ids, timing):
    by_id = {c["id"]: c for s in sources for c in s["cases"]}
    missing = [i for i in ids if i not in by_id]
    if missing:
        sys.exit(f"{name}: no such case in the generated suites: {', '.join(missing)}")
    return {"name": name, "description": description + " Generated by tools/gen_suites.py; do not edit by hand.",
            "defaults": {"timing": timing}, "cases": [by_id[i] for i in ids]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    stale = checked = 0
    outputs = []
    for cfg_path in sorted((ROOT / "configs").glob("*.json")):
        cfg = json.loads(cfg_path.read_text())
        outputs.append((f"{cfg['name']}.json", model_suite(cfg)))
        if cfg["suite"].get("mla_correctness"):
            outputs.append(("mla-correctness.json", mla_correctness_suite(cfg)))
        if cfg["suite"].get("moe"):
            outputs.append(("moe.json", moe_suite(cfg)))
    generated = {n: suite for n, suite in outputs}
    smoke = json.loads((ROOT / "suites" / "smoke.json").read_text())
    if "deepseek-v3.json" in generated and "moe.json" in generated:
        outputs.append(("gpu-check.json", pick_suite(
            "gpu-check", "The GPU check's DeepSeek-V3 subset (ci/gpu_check.sh): each op's decode- and prefill-sized "
            "cases from suites deepseek-v3 and moe, with a short timing budget so that it fits a 15-minute lease.",
            [generated["deepseek-v3.json"], generated["moe.json"]], GPU_CHECK_CASES,
            {"min_reps": 3, "budget_s": 0.25})))
        outputs.append(("gpu-sanitize.json", pick_suite(
            "gpu-sanitize", "Small smoke cases of every GPU kernel family, for compute-sanitizer memcheck and "
            "racecheck in the GPU check (ci/gpu_check.sh).", [smoke], GPU_SANITIZE_CASES,
            {"min_reps": 1, "budget_s": 0.01})))
    names = [n for n, _ in outputs]
    if len(set(names)) != len(names):
        sys.exit("two configs generate the same suite: " + ", ".join(sorted(n for n in names if names.count(n) > 1)))
    for name, suite in outputs:
        text = dumps(suite)
        out = ROOT / "suites" / name
        if args.check:
            checked += 1
            ok = out.exists() and out.read_text() == text
            stale += not ok
            print(f"{out.relative_to(ROOT)}: {'up to date' if ok else 'STALE: run python3 tools/gen_suites.py'}")
        else:
            out.write_text(text)
            print(f"wrote {out.relative_to(ROOT)} ({len(suite['cases'])} cases)")
    if args.check:
        print(f"{checked - stale} passed, {stale} failed")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
