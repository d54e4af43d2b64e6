"""`route` and `train-router`: the decision rule, the probe's features (hidden state read by hand, never
the gold answer), and a router trained from harness results whose routed answers and costs are exactly
those of the method it picked plus the probe."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from leanthink.errors import LeanthinkError
from leanthink.methods import get_method
from leanthink.methods.router import RouterModel, choose, run_probe
from leanthink.tasks import get_task


def test_choose_maximises_utility_and_breaks_ties_by_cost():
    probs = np.array([[0.2, 0.9, 0.9], [0.5, 0.6, 0.95]])
    costs = np.array([[1.0, 50.0, 40.0], [1.0, 50.0, 100.0]])
    assert choose(probs, costs, 0.0).tolist() == [2, 2]          # most accurate; tie at 0.9 -> cheaper
    assert choose(probs, costs, 0.01).tolist() == [2, 0]         # 0.95 - 1.0 < 0.5 - 0.01
    assert choose(probs, costs, 1.0).tolist() == [0, 0]          # tokens dominate: cheapest


def _router_file(tmp_path, curve, **extra):
    data = {"format": "leanthink-router/1", "features": ["query"], "mean": [0, 0, 0], "scale": [1, 1, 1],
            "candidates": [{"label": "probe", "method": None, "settings": {}, "coef": [0, 0, 0], "intercept": 0.0,
                            "cost_coef": [0, 0, 0], "cost_intercept": 0.0}], "curve": curve, **extra}
    path = tmp_path / "router.json"
    path.write_text(json.dumps(data))
    return path


def test_mu_for_reads_the_training_curve(tmp_path):
    curve = [{"mu": 0.0, "accuracy": 0.9, "tokens": 200}, {"mu": 0.001, "accuracy": 0.85, "tokens": 120},
             {"mu": 0.01, "accuracy": 0.6, "tokens": 50}, {"mu": 0.1, "accuracy": 0.1, "tokens": 5}]
    model = RouterModel.load(_router_file(tmp_path, curve))
    assert model.mu_for(0.8, None) == 0.001      # cheapest that reaches 80%
    assert model.mu_for(0.95, None) == 0.0       # out of reach: the most accurate
    assert model.mu_for(None, 100) == 0.01       # most accurate within 100 tokens
    assert model.mu_for(None, 1) == 0.1          # nothing fits: the cheapest


def test_route_settings_errors(tmp_path):
    path = _router_file(tmp_path, [{"mu": 0.0, "accuracy": 1.0, "tokens": 1}])
    with pytest.raises(LeanthinkError, match="exactly one"):
        get_method("route", router=str(path))
    with pytest.raises(LeanthinkError, match="exactly one"):
        get_method("route", router=str(path), target_accuracy=0.5, max_tokens=10)
    with pytest.raises(LeanthinkError, match="target_accuracy"):
        get_method("route", router=str(path), target_accuracy=1.5)
    with pytest.raises(LeanthinkError, match="no router file"):
        get_method("route", router=str(tmp_path / "missing.json"), target_accuracy=0.5)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(LeanthinkError, match="not a leanthink-router/1 file"):
        get_method("route", router=str(tmp_path / "bad.json"), target_accuracy=0.5)


def test_hidden_is_the_final_norm_state_and_probe_never_reads_the_gold(micro_dir):
    from leanthink.engine.hf import HFEngine

    engine = HFEngine.load(str(micro_dir))
    problems = get_task("arith").load("easy", limit=3)
    prompts = [engine.prompt_style.render(p, "direct", engine.tokenizer) for p in problems]
    seqs = engine.prefill(prompts)
    got = torch.tensor(engine.hidden(seqs))
    for row, prompt in enumerate(prompts):   # by hand: one full pass, no cache, no padding
        ids = engine.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            want = engine.model(ids, output_hidden_states=True).hidden_states[-1][0, -1]
        assert torch.allclose(got[row], want, atol=1e-4)
    feats = [f for f, _ in run_probe(engine, problems, ("query", "probe", "hidden"))]
    wrong = [replace(p, answer="123456", steps=("nonsense",)) for p in problems]
    assert [f for f, _ in run_probe(engine, wrong, ("query", "probe", "hidden"))] == feats


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """direct and cot of builtin:arith on 30 training problems (mixed lengths), a router trained on them."""
    from leanthink.bench.harness import RunInfo, run
    from leanthink.engine import load_engine
    from leanthink.train.router import train_router

    tmp = tmp_path_factory.mktemp("router")
    engine, task = load_engine("builtin:arith"), get_task("arith")
    problems = task.load("mixed", limit=30, seed=1)
    for name in ("direct", "cot"):
        method = get_method(name)
        run(method, engine, task, problems, RunInfo.create("arith", "mixed", None, 1, method, name, "builtin:arith",
                                                           engine), tmp / "train.jsonl", progress=False)
    router = train_router([tmp / "train.jsonl"], "builtin:arith", tmp / "router.json", folds=3)
    return tmp, engine, task, router


def test_train_router_records_candidates_and_a_monotone_curve(trained):
    tmp, _, _, router = trained
    assert [c["label"] for c in router["candidates"]] == ["probe", "cot", "direct"]
    assert router["train"]["problems"] == 30
    curve = sorted(router["curve"], key=lambda e: e["mu"])
    assert curve[0]["tokens"] >= curve[-1]["tokens"]   # a larger trade-off never spends more on average here
    assert all(0.0 <= e["accuracy"] <= 1.0 for e in curve)


def test_routed_answers_and_costs_are_the_picked_method_plus_the_probe(trained):
    from leanthink.bench.harness import RunInfo, run

    tmp, engine, task, _ = trained
    problems = task.load("mixed", limit=12, seed=0)     # problems the router never saw
    route = get_method("route", router=str(tmp / "router.json"), target_accuracy=0.6)
    results = route.solve(engine, task, problems)
    probes = {r.problem_id: r for _, r in run_probe(engine, problems, ("query", "probe", "hidden"))}
    for name in ("cot", "direct"):
        method = get_method(name)
        run(method, engine, task, problems, RunInfo.create("arith", "mixed", None, 0, method, name, "builtin:arith",
                                                           engine), tmp / "test.jsonl", progress=False)
    lines = [json.loads(s) for s in (tmp / "test.jsonl").read_text().splitlines()]
    alone = {(x["method"], x["problem_id"]): x for x in lines}
    assert {r.trace["route"] for r in results} <= {"probe", "cot", "direct"}
    for r in results:
        probe = probes[r.problem_id]
        if r.trace["route"] == "probe":
            assert r.output == probe.output
            assert replace(r.usage, wall_time_s=0) == replace(probe.usage, wall_time_s=0)
            continue
        x = alone[(r.trace["route"], r.problem_id)]
        assert r.output == x["output"]
        assert r.usage.generated_tokens == probe.usage.generated_tokens + x["usage"]["generated_tokens"]
        assert r.usage.forward_tokens == probe.usage.forward_tokens + x["usage"]["forward_tokens"]


def test_router_refuses_another_model_and_mixed_runs(trained, micro_dir, tmp_path):
    from leanthink.engine.hf import HFEngine
    from leanthink.train.router import train_router

    tmp, _, task, _ = trained
    route = get_method("route", router=str(tmp / "router.json"), target_accuracy=0.6)
    with pytest.raises(LeanthinkError, match="trained on the features of"):
        route.solve(HFEngine.load(str(micro_dir)), task, task.load("easy", limit=2))
    mixed = tmp_path / "mixed.jsonl"
    lines = (tmp / "train.jsonl").read_text().splitlines()
    other = json.loads(lines[0])
    other.update(task="prosqa", run_id="x")
    mixed.write_text("\n".join(lines + [json.dumps(other)]) + "\n")
    with pytest.raises(LeanthinkError, match="mix tasks"):
        train_router([mixed], "builtin:arith", tmp_path / "r.json")
