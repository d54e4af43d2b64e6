"""Control for the ProsQA lookup probe: does the training recipe learn associative recall at all, and
how does that depend on how many lookups each example supervises?

    .venv/bin/python experiments/recall_density_probe.py --queries 1 --steps 3000
    .venv/bin/python experiments/recall_density_probe.py --queries 8 --steps 2000

Multi-query associative recall (MQAR, as in the Zoology paper) on raw token ids, no tokenizer:
`k1 v1 k2 v2 ... kn vn` (n distinct keys from one half of the vocabulary, values from the other half)
followed by `queries` of the keys, each followed by its value. Only the values after the queries are
supervised. A `LlamaForCausalLM` of the given shape is trained from scratch with AdamW, gradients
clipped to norm 1 and a linear warm-up (the optimiser settings of `leanthink train`), and every
--eval-every steps the value of the first query is scored greedily on 500 fresh examples. Chance is
about 1/n (a value that occurs in the context). Prints one JSON line per evaluation.

This is the textbook form of the lookup that ProsQA's traces need (find the earlier occurrence of a
key, copy the word beside it), with none of ProsQA's text. The options add ProsQA's differences one
at a time: one vocabulary for keys and values (--shared-vocab), the value written before its key
(--value-first), filler tokens between them like " is a" (--gap). docs/builtin-models.md ("Third
round") has the measured curves.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def batch(generator: torch.Generator, size: int, pairs: int, queries: int, vocab: int,
          shared: bool = False, gap: int = 0, query_gap: int | None = None,
          value_first: bool = False, sep: int = 0, query_prefix: int = 0,
          extra_parents: int = 0, supervise_sep: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, labels) of `size` MQAR sequences; labels are -100 except at the queried values.

    Keys are distinct ids from the lower half of the vocabulary and values any ids from the upper half,
    or, with `shared`, keys and values are distinct ids of one vocabulary (as ProsQA's concept words
    are subjects in one sentence and objects in another). Fixed filler ids past the vocabulary model
    ProsQA's structural words:
    - `gap` of them stand between every key and its value, like " is a"; in each query too, or
      `query_gap` of them there (0 asks with the key itself, as a trace line "X P" asks right after X);
    - `sep` of them close every pair and every answer, like "." (and "Every");
    - `query_prefix` of them open every query, like "\nWho".
    With `value_first` the context holds each pair as `v k` (ProsQA's "Every P is a X" read backward,
    the parent before the concept), while queries still ask `k` -> `v`. `extra_parents` adds pairs
    whose key repeats a key that is not queried, with a new value (a concept with several parents);
    pairs are then in random order. `supervise_sep` also puts a label on the first separator after each
    answer (as a trace supervises the "." after every word it writes)."""
    qgap = gap if query_gap is None else query_gap
    half = vocab // 2
    if shared:
        words = torch.rand(size, vocab, generator=generator).argsort(dim=1)[:, :2 * pairs + extra_parents]
        keys, values, spare = words[:, :pairs], words[:, pairs:2 * pairs], words[:, 2 * pairs:]
    else:
        keys = torch.rand(size, half, generator=generator).argsort(dim=1)[:, :pairs]
        values = torch.randint(half, vocab, (size, pairs), generator=generator)
        spare = torch.randint(half, vocab, (size, extra_parents), generator=generator) if extra_parents else None
    asked = torch.rand(size, pairs, generator=generator).argsort(dim=1)
    asked, unasked = asked[:, :queries], asked[:, queries:]
    ctx_keys, ctx_values = keys, values
    if extra_parents:
        repeat = unasked[:, torch.arange(extra_parents) % unasked.shape[1]]
        order = torch.rand(size, pairs + extra_parents, generator=generator).argsort(dim=1)
        ctx_keys = torch.cat([keys, keys.gather(1, repeat)], dim=1).gather(1, order)
        ctx_values = torch.cat([values, spare], dim=1).gather(1, order)
    n = ctx_keys.shape[1]
    first, second = (ctx_values, ctx_keys) if value_first else (ctx_keys, ctx_values)

    def fill(start: int, count: int, rows: int) -> torch.Tensor:
        return torch.arange(vocab + start, vocab + start + count).expand(size, rows, count)

    # filler ids: [gap ids | sep ids | prefix ids], so each kind of structural word is its own token
    sep_at, pre_at = max(gap, qgap), max(gap, qgap) + sep
    context = torch.cat([first[..., None], fill(0, gap, n), second[..., None], fill(sep_at, sep, n)], dim=2)
    tail = torch.cat([fill(pre_at, query_prefix, queries), keys.gather(1, asked)[..., None], fill(0, qgap, queries),
                      values.gather(1, asked)[..., None], fill(sep_at, sep, queries)], dim=2)
    ids = torch.cat([context.reshape(size, -1), tail.reshape(size, -1)], dim=1)
    labels = torch.full_like(ids, -100)
    step = query_prefix + qgap + 2 + sep
    start = context.shape[1] * context.shape[2] + query_prefix + qgap + 1
    labels[:, start::step] = ids[:, start::step]
    if supervise_sep and sep:
        labels[:, start + 1::step] = ids[:, start + 1::step]
    return ids, labels


def filler_ids(gap: int, query_gap: int, sep: int, query_prefix: int) -> int:
    """How many ids past the vocabulary `batch` uses for its structural words."""
    return max(gap, query_gap) + sep + query_prefix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=1, help="supervised lookups per example (1..pairs)")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--shared-vocab", action="store_true",
                    help="keys and values drawn from one vocabulary (roles told apart by position only)")
    ap.add_argument("--gap", type=int, default=0, help="filler tokens between each key and its value")
    ap.add_argument("--query-gap", type=int, default=None,
                    help="filler tokens between a query key and its answer (default: --gap)")
    ap.add_argument("--sep", type=int, default=0, help="filler tokens closing each pair and each answer")
    ap.add_argument("--query-prefix", type=int, default=0, help="filler tokens opening each query")
    ap.add_argument("--extra-parents", type=int, default=0,
                    help="extra pairs whose key repeats an unqueried key (at most --pairs minus --queries keys repeat)")
    ap.add_argument("--supervise-sep", action="store_true",
                    help="also supervise the first --sep token after each answer (needs --sep)")
    ap.add_argument("--value-first", action="store_true", help="context pairs written value first: `v k`")
    ap.add_argument("--gap0-steps", type=int, default=0,
                    help="curriculum: the first this many steps train without filler (gap 0), then --gap")
    ap.add_argument("--untied", action="store_true", help="separate input and output embeddings")
    ap.add_argument("--no-clip", action="store_true", help="no gradient clipping (the recipe clips to norm 1)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not 1 <= args.queries <= args.pairs:
        ap.error(f"--queries must be in [1, --pairs={args.pairs}], got {args.queries}")
    if args.pairs > args.vocab // 2:
        ap.error(f"--pairs must be at most --vocab/2 = {args.vocab // 2} (keys are distinct), got {args.pairs}")
    if args.steps <= 0 or args.batch_size <= 0 or args.eval_every <= 0:
        ap.error("--steps, --batch-size and --eval-every must be positive")
    query_gap = args.gap if args.query_gap is None else args.query_gap
    if min(args.gap, query_gap, args.gap0_steps, args.sep, args.query_prefix, args.extra_parents) < 0:
        ap.error("--gap, --query-gap, --gap0-steps, --sep, --query-prefix and --extra-parents must be non-negative")
    if args.supervise_sep and not args.sep:
        ap.error("--supervise-sep needs --sep 1 or more")
    if args.gap0_steps and (args.sep or args.query_prefix):
        ap.error("--gap0-steps cannot be combined with --sep or --query-prefix")
    if args.extra_parents and args.queries == args.pairs:
        ap.error("--extra-parents needs a key that is not queried: use --queries below --pairs")
    if args.shared_vocab and 2 * args.pairs + args.extra_parents > args.vocab:
        ap.error(f"--shared-vocab needs 2*--pairs + --extra-parents <= --vocab = {args.vocab}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=args.vocab + filler_ids(args.gap, query_gap, args.sep, args.query_prefix), hidden_size=args.hidden,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
        intermediate_size=2 * args.hidden, tie_word_embeddings=not args.untied,
        max_position_embeddings=(2 + args.gap + args.sep) * (args.pairs + args.extra_parents)
        + (2 + max(args.gap, query_gap) + args.sep + args.query_prefix) * args.queries))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    train_gen = torch.Generator().manual_seed(args.seed)
    held_ids, _ = batch(torch.Generator().manual_seed(10_000 + args.seed), 500, args.pairs, 1, args.vocab,
                        args.shared_vocab, args.gap, args.query_gap, args.value_first, args.sep,
                        args.query_prefix, args.extra_parents)
    answer = (2 + args.gap + args.sep) * (args.pairs + args.extra_parents) + args.query_prefix + 1 + query_gap
    t0 = time.time()
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        gap = 0 if step < args.gap0_steps else args.gap
        ids, labels = batch(train_gen, args.batch_size, args.pairs, args.queries, args.vocab, args.shared_vocab,
                            gap, args.query_gap if gap else None, args.value_first, args.sep,
                            args.query_prefix, args.extra_parents, args.supervise_sep)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        if not args.no_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            with torch.no_grad():
                guess = model(input_ids=held_ids[:, :answer]).logits[:, -1].argmax(-1)
            model.train()
            print(json.dumps({"queries": args.queries, "shared_vocab": args.shared_vocab, "gap": gap,
                              "query_gap": args.query_gap, "value_first": args.value_first, "sep": args.sep,
                              "query_prefix": args.query_prefix, "extra_parents": args.extra_parents,
                              "supervise_sep": args.supervise_sep, "untied": args.untied, "no_clip": args.no_clip,
                              "step": step + 1,
                              "examples_seen": (step + 1) * args.batch_size, "loss": round(loss.item(), 4),
                              "held_out_accuracy": round((guess == held_ids[:, answer]).float().mean().item(), 4),
                              "elapsed_s": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
