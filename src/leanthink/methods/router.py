"""`route`: send each query to the cheapest method (and budget) that is likely to solve it.

A router file (`leanthink train-router`, train/router.py) holds, for every candidate (a method with its
settings, or the probe's own answer), a logistic model of P(correct | features) and a linear model of
its reasoning tokens, both learnt from harness results on training problems. Features come from the
query and from a cheap probe of the reasoner itself: one greedy direct answer (its log-probabilities and
entropies) and the reasoner's final hidden state at the end of the question. Never from the gold answer.

Per query the router picks argmax_c  p_c - mu * tokens_c. The trade-off mu is chosen from the router's
own curve (out-of-fold accuracy and tokens on its training problems, at every mu): `target_accuracy=a`
takes the cheapest point whose training accuracy reaches a (the most accurate point if none does),
`max_tokens=K` the most accurate point whose mean training tokens (probe included) stay within K (the
cheapest if none does). Every query pays for its probe; a query routed to
`probe` is answered by it at no further cost.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..engine.base import BASIC
from ..errors import LeanthinkError
from .base import EXECUTION, Method, Result

FORMAT = "leanthink-router/1"
FEATURE_SETS = ("query", "probe", "hidden")
PROBE = "probe"


def query_features(question: str, prompt_tokens: int) -> list[float]:
    """Task-agnostic features of the text: its length in tokens, its sentences and the numbers in it."""
    sentences = len([s for s in re.split(r"[.?!]\s", question) if s.strip()])
    numbers = len(re.findall(r"\d+(?:\.\d+)?", question))
    return [math.log1p(prompt_tokens), float(sentences), float(numbers)]


def probe_features(completion) -> list[float]:
    """Confidence of the greedy direct answer: mean and min token log-probability, mean and first-token
    entropy, and its length."""
    lps = completion.logprobs or [0.0]
    ents = completion.entropies or [0.0]
    return [float(np.mean(lps)), float(min(lps)), float(np.mean(ents)), float(ents[0]), float(len(lps))]


def run_probe(engine, problems, feature_sets, max_new_tokens: int = 16, batch_size: int = 16, seed: int = 0):
    """Per problem: (feature vector, probe Result). One greedy `direct` generation per problem, with the
    hidden state read after the prompt; its usage is the probe's cost."""
    from ..engine import SamplingParams, stream_seed

    style = engine.prompt_style
    prefix = style.response_prefix("direct")
    params = SamplingParams(max_new_tokens=max_new_tokens, entropy=True)
    out = []
    for start in range(0, len(problems), batch_size):
        chunk = problems[start:start + batch_size]
        seqs = engine.prefill([style.render(p, "direct", engine.tokenizer) for p in chunk],
                              seeds=[stream_seed(seed, "probe", p.id) for p in chunk])
        hidden = engine.hidden(seqs) if "hidden" in feature_sets else [[] for _ in chunk]
        completions = engine.extend(seqs, params)
        for p, c, h, u in zip(chunk, completions, hidden, engine.usage(seqs)):
            feats = []
            if "query" in feature_sets:
                feats += query_features(p.question, u.prompt_tokens)
            if "probe" in feature_sets:
                feats += probe_features(c)
            feats += list(h)
            out.append((feats, Result(problem_id=p.id, output=prefix + c.text, usage=u,
                                      trace={"finish_reason": c.finish_reason})))
    return out


def resolve_router(spec: str | Path) -> Path:
    """A router file's path: `builtin:NAME` is the router shipped for builtin:NAME (assets/routers/)."""
    from ..models.registry import ASSETS

    text = str(spec)
    if text.startswith("builtin:"):
        path = ASSETS / "routers" / f"{text.split(':', 1)[1]}.json"
        if not path.is_file():
            shipped = sorted(f"builtin:{p.stem}" for p in (ASSETS / "routers").glob("*.json"))
            raise LeanthinkError(f"router: no shipped router {text!r}; shipped: {', '.join(shipped) or 'none'}")
        return path
    return Path(spec)


@dataclass
class RouterModel:
    """A trained router (the JSON file's content)."""

    data: dict

    @classmethod
    def load(cls, path: str | Path) -> "RouterModel":
        path = resolve_router(path)
        if not path.is_file():
            raise LeanthinkError(f"router: no router file {str(path)!r} (train one with `leanthink train-router`)")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise LeanthinkError(f"router: {path} is not a router file: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LeanthinkError(f"router: {path} is not a {FORMAT} file (train one with `leanthink train-router`)")
        for key in ("features", "mean", "scale", "candidates", "curve"):
            if key not in data:
                raise LeanthinkError(f"router: {path} lacks the field {key!r}")
        return cls(data)

    @property
    def candidates(self) -> list[dict]:
        return self.data["candidates"]

    def predict(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(correct), predicted tokens), each (problems, candidates)."""
        x = (np.asarray(feats, dtype=float) - np.asarray(self.data["mean"])) / np.asarray(self.data["scale"])
        probs, costs = [], []
        for c in self.candidates:
            z = x @ np.asarray(c["coef"]) + c["intercept"]
            probs.append(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))
            costs.append(np.maximum(0.0, x @ np.asarray(c["cost_coef"]) + c["cost_intercept"]))
        return np.stack(probs, 1), np.stack(costs, 1)

    def mu_for(self, target_accuracy: float | None, max_tokens: float | None) -> float:
        """The trade-off that meets the user's goal on the router's training curve (see the module doc):
        the cheapest point reaching the target accuracy (else the most accurate), or the most accurate
        point within the mean token budget (else the cheapest); ties go to the cheaper point."""
        curve = self.data["curve"]
        cheapest = min(curve, key=lambda e: (e["tokens"], -e["accuracy"]))
        best = min(curve, key=lambda e: (-e["accuracy"], e["tokens"]))
        if target_accuracy is not None:
            ok = [e for e in curve if e["accuracy"] >= target_accuracy]
            return min(ok, key=lambda e: (e["tokens"], -e["accuracy"]))["mu"] if ok else best["mu"]
        ok = [e for e in curve if e["tokens"] <= max_tokens]
        return min(ok, key=lambda e: (-e["accuracy"], e["tokens"]))["mu"] if ok else cheapest["mu"]


def choose(probs: np.ndarray, costs: np.ndarray, mu: float) -> np.ndarray:
    """Per row the candidate maximising p - mu * tokens (ties go to the cheaper one)."""
    utility = probs - mu * costs
    best = utility.max(1, keepdims=True)
    masked = np.where(utility >= best - 1e-12, costs, np.inf)
    return masked.argmin(1)


def candidate_method(c: dict) -> Method:
    from . import get_method

    return get_method(c["method"], **c["settings"])


@dataclass(frozen=True)
class Route(Method):
    """Per query, the candidate method and budget a trained router picks (`leanthink train-router`)."""

    name = "route"
    requires: ClassVar[frozenset[str]] = BASIC | {"logprobs"}
    scorer: ClassVar[str] = "optional"

    router: str = ""
    """The router file (JSON) written by `leanthink train-router`, or builtin:NAME (shipped for that model)."""
    target_accuracy: float | None = None
    """Cheapest routing whose accuracy on the router's training problems reaches this (0..1)."""
    max_tokens: float | None = None
    """Most accurate routing whose mean reasoning tokens (probe included) on the training problems stay within this."""
    batch_size: int = field(default=16, metadata=EXECUTION)

    def __post_init__(self):
        from .. import checks

        if not self.router:
            raise LeanthinkError("method 'route' needs --set router=ROUTER.json (from `leanthink train-router`)")
        if (self.target_accuracy is None) == (self.max_tokens is None):
            raise LeanthinkError("method 'route': give exactly one of --set target_accuracy=A (0..1) "
                                 "or --set max_tokens=K")
        if self.target_accuracy is not None:
            checks.number("target_accuracy", self.target_accuracy, 0, 1)
        if self.max_tokens is not None:
            checks.number("max_tokens", self.max_tokens, 0, 1e9, low_open=True)
        checks.integer("batch_size", self.batch_size, 1)
        model = RouterModel.load(self.router)
        for c in model.candidates:
            if c["method"] is not None:
                candidate_method(c)   # a router naming an unknown method or setting fails here, in one line

    def identity(self) -> dict:
        out = super().identity()
        out["router"] = hashlib.sha256(resolve_router(self.router).read_bytes()).hexdigest()[:16]   # content, not path
        return out

    def needs_scorer(self) -> bool:
        return any(c["method"] is not None and candidate_method(c).needs_scorer()
                   for c in RouterModel.load(self.router).candidates)

    def solve(self, engine, task, problems, scorer=None) -> list[Result]:
        model = RouterModel.load(self.router)
        d = model.data
        if d.get("model_hash") and engine.model_hash and d["model_hash"] != engine.model_hash:
            raise LeanthinkError(f"router {self.router} was trained on the features of {d.get('model')!r} "
                                 f"(hash {d['model_hash']}), not of this model ({engine.model_hash})")
        if "hidden" in d["features"] and "hidden" not in engine.capabilities:
            raise LeanthinkError(f"router {self.router} reads hidden states, which the {engine.kind} engine cannot give")
        probed = run_probe(engine, problems, d["features"], d.get("probe_max_tokens", 16), self.batch_size)
        probs, costs = model.predict(np.array([f for f, _ in probed]))
        mu = model.mu_for(self.target_accuracy, self.max_tokens)
        picks = choose(probs, costs, mu)
        results: list[Result | None] = [None] * len(problems)
        for k, c in enumerate(model.candidates):
            rows = [i for i, pick in enumerate(picks) if pick == k]
            if not rows:
                continue
            if c["method"] is None:   # the probe's own answer
                solved = [probed[i][1] for i in rows]
            else:
                solved = candidate_method(c).solve(engine, task, [problems[i] for i in rows], scorer)
            for i, r in zip(rows, solved):
                probe = probed[i][1]
                usage = probe.usage if c["method"] is None else probe.usage.then(r.usage)
                trace = {"route": c["label"], "p_correct": round(float(probs[i, k]), 4),
                         "predicted_tokens": round(float(costs[i, k]), 1), "mu": mu, "probe_answer": probe.output,
                         **({"routed": r.trace} if c["method"] is not None else {})}
                results[i] = Result(problem_id=r.problem_id, output=r.output, usage=usage, answer=r.answer,
                                    trace=trace)
        return results
