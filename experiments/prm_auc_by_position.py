"""ROC AUC of a PRM by step position and for whole solutions, on rollouts cached by `train-prm`.

    .venv/bin/python experiments/prm_auc_by_position.py builtin:arith-prm runs/arith-prm3/data/eval.jsonl --limit 400

Prints, for each step index, how many held-out policy solutions have that step, the share right and
the AUC of P(right) at its separator (separated reading); then whole-solution AUCs (is every step
right?) by the last score, the minimum, the product, and the `model` reading (the solution as one
step). docs/builtin-models.md quotes its output for builtin:arith-prm.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import defaultdict

import torch
from sklearn.metrics import roc_auc_score

from leanthink.scorers import ProcessRewardModel
from leanthink.train.prm import encode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prm")
    ap.add_argument("rollouts", help="OUT/data/eval.jsonl of a train-prm run")
    ap.add_argument("--limit", type=int, default=400)
    args = ap.parse_args()
    prm = ProcessRewardModel.load(args.prm, dtype="float32")
    base, head, tok, sep = prm.engine.model, prm.head, prm.engine.tokenizer, prm.separator
    records = [json.loads(line) for line in open(args.rollouts)]
    records = [r for r in records if r["policy"] and r["steps"]][: args.limit]
    by_pos_y, by_pos_p = defaultdict(list), defaultdict(list)
    ys, agg = [], {"last": [], "min": [], "prod": [], "model": []}
    with torch.no_grad():
        for r in records:
            ids, pos, labels = encode(r, tok, sep, False, random.Random(0))
            p = torch.softmax(head(base(input_ids=torch.tensor([ids])).last_hidden_state[0, pos]), -1)[:, 1].tolist()
            for i, (pi, yi) in enumerate(zip(p, labels)):
                by_pos_y[i].append(yi)
                by_pos_p[i].append(pi)
            ys.append(int(all(r["labels"])))
            agg["last"].append(p[-1])
            agg["min"].append(min(p))
            agg["prod"].append(math.prod(p))
            agg["model"].append(prm.score_texts([r["question"]], ["\n".join(s.strip() for s in r["steps"])])[0][0])
    for i in sorted(by_pos_y):
        y = by_pos_y[i]
        if 0 < sum(y) < len(y):
            print(f"step {i + 1}: n {len(y)}, right {sum(y) / len(y):.2f}, AUC {roc_auc_score(y, by_pos_p[i]):.3f}")
    for k, v in agg.items():
        print(f"whole solution, {k}: AUC {roc_auc_score(ys, v):.3f}")


if __name__ == "__main__":
    main()
