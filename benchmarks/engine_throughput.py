"""Decoding throughput of leanthink's engine against Hugging Face `generate` on the same model.

Greedy, the same prompts, exactly `--new-tokens` tokens per row on both sides (EOS banned on both,
so both do the same work), at batch sizes 1 and 16, tokenisation included on both sides. Each side
runs `--repeats` times after a warm-up, in alternating order, and its best time counts (the least
disturbed by other processes on a shared machine). Prints a table and JSON with tokens/s per
side and the ratio ours / HF, measured in this one run:

    .venv/bin/python benchmarks/engine_throughput.py --model builtin:arith
    .venv/bin/python benchmarks/engine_throughput.py --model path/to/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2

The two sides also agree on the tokens (checked and reported: a faster engine that decodes something
else would be no result).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from leanthink.engine import SamplingParams, load_engine, stream_seed
from leanthink.tasks import get_task


def prompts_for(engine, n: int) -> list[str]:
    problems = get_task("gsm8k").load(data=args.data, limit=n) if args.data else \
        get_task("arith").load(split="hard", limit=n, seed=1)
    return [engine.prompt_style.render(p, "cot", engine.tokenizer) for p in problems]


def ours(engine, prompts, new_tokens):
    params = SamplingParams(max_new_tokens=new_tokens, ignore_eos=True)
    t = time.perf_counter()
    outs, _ = engine.generate(prompts, params, seeds=[stream_seed(i) for i in range(len(prompts))])
    return time.perf_counter() - t, [c.token_ids for c in outs]


def hf(engine, prompts, new_tokens):
    tok = engine.tokenizer
    tok.padding_side = "left"
    t = time.perf_counter()   # tokenising counts on both sides
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=engine.add_special_tokens).to(engine.device)
    with torch.no_grad():
        out = engine.model.generate(**enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=engine.pad_id,
                                    eos_token_id=None, suppress_tokens=sorted(engine.eos_ids))
    return time.perf_counter() - t, out[:, enc["input_ids"].shape[1]:].tolist()


def main():
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = load_engine(args.model, device=args.device, dtype=args.dtype)
    rows = []
    for batch in args.batch:
        prompts = prompts_for(engine, batch)
        for fn in (ours, hf):          # warm-up (allocator, kernels)
            fn(engine, prompts, 4)
        best = {}
        for i in range(args.repeats):   # alternate the order, keep each side's best time
            sides = (("leanthink", ours), ("hf_generate", hf))
            for name, fn in sides if i % 2 == 0 else sides[::-1]:
                dt, toks = fn(engine, prompts, args.new_tokens)
                if name not in best or dt < best[name][0]:
                    best[name] = (dt, toks)
        same = sum(a == b for a, b in zip(best["leanthink"][1], best["hf_generate"][1]))
        n_tok = batch * args.new_tokens
        row = {"batch": batch, "new_tokens": args.new_tokens, "leanthink_tok_s": n_tok / best["leanthink"][0],
               "hf_generate_tok_s": n_tok / best["hf_generate"][0], "identical_rows": f"{same}/{batch}"}
        row["ratio"] = row["leanthink_tok_s"] / row["hf_generate_tok_s"]
        rows.append(row)
        print(f"batch {batch:3d}: leanthink {row['leanthink_tok_s']:8.1f} tok/s   HF generate "
              f"{row['hf_generate_tok_s']:8.1f} tok/s   ratio {row['ratio']:.2f}x   identical rows {same}/{batch}",
              flush=True)
    print(json.dumps({"model": args.model, "device": str(engine.device), "dtype": engine.dtype_name, "threads": torch.get_num_threads(),
                      "results": rows}, indent=2))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="builtin:arith")
    ap.add_argument("--data", default=None, help="GSM8K JSONL for prompts (real models); default: arith hard")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args()
    main()
