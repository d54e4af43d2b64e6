"""`leanthink train-router`: learn, from harness results on training problems, which method and budget
to send each query to (methods/router.py has the decision rule).

Input: results files of candidate runs (any methods, any settings) of one model on the same problems.
Every run becomes a candidate; the probe (one greedy direct answer, paid by every routed query) is a
candidate too. Per candidate, a logistic regression predicts whether it solves a query and a ridge
regression how many reasoning tokens (generated + latent) it spends, both on standardised features of
the query and the probe (never the gold answer). The trade-off curve stored with the router is computed
out of fold (k-fold: each problem's choice made by models that never saw it), so the accuracy a target
promises is the accuracy measured on problems the models did not train on. scikit-learn does the
fitting; only the decision rule is ours.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import LeanthinkError
from ..methods.router import FEATURE_SETS, FORMAT, PROBE, choose, run_probe

#: trade-offs tried for the curve: 0 (most accurate) up to 1 (a token outweighs a solved problem)
MU_GRID = [0.0] + [float(x) for x in np.logspace(-5, 0, 41)]


def candidate_label(method: str, settings: dict, defaults: dict) -> str:
    changed = {k: v for k, v in settings.items() if defaults.get(k) != v}
    return method + (":" + ",".join(f"{k}={v}" for k, v in sorted(changed.items())) if changed else "")


def read_candidates(files: list[Path]):
    """(runs, problem keys): runs maps a label to {"method", "settings", "rows": {problem_id: line}}; every
    run must be of one task and one model."""
    from ..bench.results import read_results
    from ..methods import get_method, method_class

    runs: dict[str, dict] = {}
    tasks, models = set(), set()
    for path in files:
        rows = read_results(checks.input_file("RESULTS", Path(path)))
        if not rows:
            raise LeanthinkError(f"RESULTS: {path} has no result lines")
        for r in rows:
            if r.get("method") in ("route", "reference"):
                continue
            tasks.add(r["task"])
            models.add(r.get("model_hash") or r["model"])
            cls = method_class(r["method"])
            execution = {f for f, d in cls.__dataclass_fields__.items() if d.metadata.get("execution")}
            settings = {k: v for k, v in r["settings"].items() if k not in execution}
            label = candidate_label(r["method"], settings, get_method(r["method"]).settings())
            run = runs.setdefault(label, {"method": r["method"], "settings": settings, "rows": {}})
            run["rows"].setdefault(r["problem_id"], r)
    if len(tasks) > 1 or len(models) > 1:
        raise LeanthinkError(f"RESULTS: the runs mix tasks {sorted(tasks)} or models {sorted(models)}; a router is "
                             "trained on one model's runs on one task")
    if not runs:
        raise LeanthinkError("RESULTS: no candidate runs (route and reference lines are not candidates)")
    return runs


def load_problems(task, runs: dict) -> list:
    """The problems every run answered, rebuilt from the lines' split and data seed (or data file)."""
    common = set.intersection(*(set(r["rows"]) for r in runs.values()))
    if not common:
        raise LeanthinkError("RESULTS: no problem was answered by every candidate run")
    sources = defaultdict(int)
    for run in runs.values():
        for r in run["rows"].values():
            if r["problem_id"] in common:
                key = (r.get("split"), r.get("data"), r.get("data_seed"))
                sources[key] = max(sources[key], len(run["rows"]))
    problems = {}
    for (split, data, seed), n in sources.items():
        limit = None if data else n
        for p in task.load(split=split, data=Path(data) if data else None, limit=limit, seed=seed or 0):
            if p.id in common:
                problems[p.id] = p
    missing = common - set(problems)
    if missing:
        raise LeanthinkError(f"RESULTS: {len(missing)} problems (e.g. {sorted(missing)[0]!r}) could not be rebuilt "
                             "from their split and seed")
    return [problems[k] for k in sorted(problems)]


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def _fit_candidate(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> dict:
    """Logistic model of success (regularisation chosen by inner cross-validation) and ridge model of tokens."""
    with warnings.catch_warnings():   # scikit-learn's notices of future defaults; the results do not change
        warnings.simplefilter("ignore", FutureWarning)
        return _fit(x, y, t)


def _fit(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge

    if y.min() == y.max():   # always right or always wrong: a constant, smoothed towards 1/2
        p = (y.sum() + 0.5) / (len(y) + 1)
        coef, intercept = np.zeros(x.shape[1]), float(np.log(p / (1 - p)))
    elif min(y.sum(), len(y) - y.sum()) < 5:   # too few of one class for an inner split
        m = LogisticRegression(C=0.1, max_iter=2000).fit(x, y)
        coef, intercept = m.coef_[0], float(m.intercept_[0])
    else:
        m = LogisticRegressionCV(Cs=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0], cv=3, max_iter=2000, scoring="neg_log_loss").fit(x, y)
        coef, intercept = m.coef_[0], float(m.intercept_[0])
    r = Ridge(alpha=10.0).fit(x, t)
    return {"coef": coef.tolist(), "intercept": intercept, "cost_coef": r.coef_.tolist(),
            "cost_intercept": float(r.intercept_)}


def _predict(fit: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = x @ np.asarray(fit["coef"]) + fit["intercept"]
    return 1 / (1 + np.exp(-np.clip(z, -50, 50))), np.maximum(0, x @ np.asarray(fit["cost_coef"]) + fit["cost_intercept"])


def trade_off_curve(x, y, t, probe_tokens, folds: int, seed: int) -> list[dict]:
    """Out-of-fold accuracy and mean tokens (probe included) of the routing at every mu of MU_GRID."""
    n, c = y.shape
    probs, costs = np.zeros((n, c)), np.zeros((n, c))
    for held in _folds(n, folds, seed):
        train = np.setdiff1d(np.arange(n), held)
        for k in range(c):
            probs[held, k], costs[held, k] = _predict(_fit_candidate(x[train], y[train, k], t[train, k]), x[held])
    curve = []
    for mu in MU_GRID:
        pick = choose(probs, costs, mu)
        rows = np.arange(n)
        curve.append({"mu": mu, "accuracy": float(y[rows, pick].mean()),
                      "tokens": float((probe_tokens + t[rows, pick]).mean()),
                      "shares": {int(k): float((pick == k).mean()) for k in np.unique(pick)}})
    return curve


def train_router(files: list[Path], model: str, out: Path, features: tuple[str, ...] = FEATURE_SETS, folds: int = 5,
                 probe_max_tokens: int = 16, seed: int = 0, progress: bool = True) -> dict:
    from ..engine import load_engine
    from ..tasks import get_task
    from .data import base_task_options

    bad = set(features) - set(FEATURE_SETS)
    if bad or not features:
        raise LeanthinkError(f"--features: choose from {', '.join(FEATURE_SETS)} (got {', '.join(features) or 'none'})")
    checks.integer("--folds", folds, 2, 20)
    checks.integer("--probe-max-tokens", probe_max_tokens, 1, 256)
    out = checks.output_file("--out", Path(out))
    t0 = time.time()
    runs = read_candidates(files)
    task_name = next(iter(next(iter(runs.values()))["rows"].values()))["task"]
    task = get_task(task_name, **base_task_options(task_name, model))
    problems = load_problems(task, runs)
    if len(problems) < 2 * folds:
        raise LeanthinkError(f"RESULTS: {len(problems)} problems answered by every run; need at least {2 * folds}")
    engine = load_engine(model, requires=frozenset({"prefill", "extend", "logprobs"} |
                                                   ({"hidden"} if "hidden" in features else set())), method="route")
    hashes = {r.get("model_hash") for run in runs.values() for r in run["rows"].values()} - {None, ""}
    if hashes and engine.model_hash and engine.model_hash not in hashes:
        raise LeanthinkError(f"--model {model}: its hash {engine.model_hash} is not the hash of the model the results "
                             f"were run with ({', '.join(sorted(hashes))})")
    probed = run_probe(engine, problems, features, probe_max_tokens)
    x_raw = np.array([f for f, _ in probed], dtype=float)
    mean, scale = x_raw.mean(0), x_raw.std(0)
    scale[scale < 1e-8] = 1.0
    x = (x_raw - mean) / scale
    labels = [PROBE] + sorted(runs)
    probe_ok = [task.grade(task.extract(r.output), p) for (_, r), p in zip(probed, problems)]
    probe_tokens = np.array([r.usage.generated_tokens + r.usage.latent_tokens for _, r in probed], dtype=float)
    y = np.zeros((len(problems), len(labels)))
    t = np.zeros_like(y)
    y[:, 0] = probe_ok
    for k, label in enumerate(labels[1:], 1):
        for i, p in enumerate(problems):
            line = runs[label]["rows"][p.id]
            y[i, k] = bool(line["correct"])
            t[i, k] = line["usage"]["generated_tokens"] + line["usage"].get("latent_tokens", 0)
    curve = trade_off_curve(x, y, t, probe_tokens, folds, seed)
    candidates = []
    for k, label in enumerate(labels):
        run = runs.get(label, {"method": None, "settings": {}})
        candidates.append({"label": label, "method": run["method"], "settings": run["settings"],
                           "train_accuracy": float(y[:, k].mean()), "train_tokens": float(t[:, k].mean()),
                           **_fit_candidate(x, y[:, k], t[:, k])})
    router = {"format": FORMAT, "model": model, "model_hash": engine.model_hash, "task": task_name,
              "features": list(features), "probe_max_tokens": probe_max_tokens, "mean": mean.tolist(),
              "scale": scale.tolist(), "candidates": candidates, "curve": curve,
              "train": {"files": [str(f) for f in files], "problems": len(problems), "folds": folds, "seed": seed,
                        "probe_accuracy": float(np.mean(probe_ok)), "probe_tokens": float(probe_tokens.mean()),
                        "train_time_s": round(time.time() - t0, 1)}}
    from ..fileio import write_text

    write_text(out, json.dumps(router, indent=1))
    return router
