"""Scaling methods on a random micro policy and a random Qwen-format PRM: the batched particle filter
equals the readable reference, every method runs batched with honest counters, and settings are
checked."""

from __future__ import annotations

import numpy as np
import pytest

from leanthink.errors import LeanthinkError
from leanthink.methods import get_method
from leanthink.methods.scaling.particle_filter import ess_triggered, systematic
from leanthink.methods.scaling.reference import particle_filter
from leanthink.scorers import ExactVerifier, ProcessRewardModel
from leanthink.tasks import get_task

from cli_helpers import run_cli
from helpers import tiny_prm

SHORT = {"max_steps": 4, "step_tokens": 6, "max_new_tokens": 24}


@pytest.fixture(scope="module")
def prm(tmp_path_factory):
    return ProcessRewardModel.load(str(tiny_prm(tmp_path_factory.mktemp("prm") / "prm")))


@pytest.fixture(scope="module")
def task():
    return get_task("arith")


@pytest.fixture(scope="module")
def problems(task):
    return task.load(split="easy", limit=3)


def test_batched_particle_filter_equals_the_reference(engine, task, problems, prm):
    got = get_method("particle-filter", budget=4, batch_size=3, **SHORT).solve(engine, task, problems, scorer=prm)
    for p, r in zip(problems, got):
        ref = particle_filter(engine, task, p, prm, n=4, **SHORT)
        assert r.output == ref["text"] and r.answer == ref["answer"]
        assert r.trace["answers"] == ref["answers"]
        assert r.trace["scores"] is not None


@pytest.mark.parametrize("name,extra", [
    ("self-consistency", {}), ("best-of-n", {}), ("weighted-best-of-n", {}), ("beam", {"width": 2}),
    ("dvts", {"width": 2}), ("particle-filter", {}), ("particle-filter", {"resampling": "systematic"}),
    ("particle-filter", {"resampling": "ess", "weighting": "ratio", "answer": "vote"}),
    ("particle-filter", {"weights": "self-certainty"}), ("particle-filter", {"aggregation": "min"}),
    ("particle-gibbs", {"iterations": 2}), ("particle-gibbs", {"iterations": 2, "ancestor": True}),
    ("parallel-tempering", {"chains": 2, "iterations": 1}),
    ("best-of-n", {"aggregation": "prod"})])
def test_every_method_runs_batched_with_counted_costs(engine, task, problems, prm, name, extra):
    m = get_method(name, budget=4, batch_size=2, **SHORT, **extra)
    res = m.solve(engine, task, problems, scorer=prm if m.needs_scorer() else None)
    assert [r.problem_id for r in res] == [p.id for p in problems]
    for r in res:
        u = r.usage
        assert u.generated_tokens >= 4 and u.forward_tokens >= u.prompt_tokens > 0
        assert (u.scorer_tokens > 0) == m.needs_scorer()
        assert len(r.trace["answers"]) >= 1
    again = get_method(name, budget=4, batch_size=3, **SHORT, **extra).solve(
        engine, task, problems, scorer=prm if m.needs_scorer() else None)
    assert [r.output for r in again] == [r.output for r in res]        # batching changes nothing


def test_particle_filter_recomputes_nothing(engine, task, problems, prm):
    for r in get_method("particle-filter", budget=8, **SHORT).solve(engine, task, problems, scorer=prm):
        u = r.usage
        assert u.forward_tokens <= u.prompt_tokens + u.generated_tokens
        assert u.peak_tokens >= 8 * u.prompt_tokens // 8


def test_particle_gibbs_with_one_iteration_is_a_particle_filter(engine, task, problems, prm):
    pf = get_method("particle-filter", budget=4, **SHORT).solve(engine, task, problems, scorer=prm)
    pg = get_method("particle-gibbs", budget=4, iterations=1, **SHORT).solve(engine, task, problems, scorer=prm)
    assert [r.output for r in pf] == [r.output for r in pg]


def test_ancestor_sampling_scores_the_reference_future(engine, task, problems, prm):
    kw = dict(budget=4, iterations=2, **SHORT)
    plain = get_method("particle-gibbs", **kw).solve(engine, task, problems[:1], scorer=prm)[0].usage
    anc = get_method("particle-gibbs", ancestor=True, **kw).solve(engine, task, problems[:1], scorer=prm)[0].usage
    assert anc.forward_tokens > plain.forward_tokens


def test_oracle_scorer_is_labelled(engine, task, problems):
    res = get_method("best-of-n", budget=2, **SHORT).solve(engine, task, problems[:1], scorer=ExactVerifier())
    assert res[0].trace["oracle"] is True


def test_resampling_strategies():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.25, 0.125, 0.125])
    counts = np.zeros(4)
    for _ in range(2000):
        counts += np.bincount(systematic(p, rng), minlength=4)
    assert np.allclose(counts / counts.sum(), p, atol=0.01)
    assert sorted(systematic(np.array([0.25] * 4), rng)) == [0, 1, 2, 3]   # equal weights: each once
    assert ess_triggered(np.array([0.25] * 4), rng) is None
    assert ess_triggered(np.array([0.97, 0.01, 0.01, 0.01]), rng) is not None


def test_settings_are_checked():
    for name, bad in [("particle-filter", {"budget": 0}), ("particle-filter", {"tau": 0.0}),
                      ("particle-filter", {"resampling": "stratified"}), ("particle-filter", {"weights": "vibes"}),
                      ("beam", {"width": 0}), ("particle-gibbs", {"budget": 5, "iterations": 2}),
                      ("particle-filter", {"aggregation": "mean"}), ("particle-filter", {"temperature": float("nan")})]:
        with pytest.raises(LeanthinkError):
            get_method(name, **bad)


def test_cli_runs_a_particle_filter_and_checks_the_scorer(micro_dir, tmp_path, capsys, prm):
    prm_dir = prm.name
    out = tmp_path / "r.jsonl"
    base = ["eval", "--task", "arith", "--model", micro_dir, "--limit", "2", "--out", out, "--no-progress",
            "--set", "max_steps=3", "--set", "step_tokens=5"]
    code, _, err = run_cli(base + ["--method", "particle-filter", "--budget", "2", "--prm", prm_dir], capsys)
    assert code == 0, err
    code, _, err = run_cli(base + ["--method", "particle-filter", "--budget", "2"], capsys)
    assert code == 2 and "needs a scorer" in err
    code, _, err = run_cli(base[:-4] + ["--method", "self-consistency", "--budget", "2", "--prm", prm_dir], capsys)
    assert code == 2 and "--prm does not apply" in err


def test_particle_gibbs_usage_adds_up_over_iterations(engine, task, problems, prm):
    """Each iteration prefills again and generates again; the Usage of a problem holds all of it."""
    pf = get_method("particle-filter", budget=2, **SHORT).solve(engine, task, problems, scorer=prm)
    pg = get_method("particle-gibbs", budget=4, iterations=2, **SHORT).solve(engine, task, problems, scorer=prm)
    for a, b in zip(pf, pg):
        assert b.usage.prompt_tokens == a.usage.prompt_tokens              # the prompt, counted once
        assert b.usage.generated_tokens > a.usage.generated_tokens         # iteration 1 is this PF, then more
        assert b.usage.forward_tokens >= 2 * a.usage.prompt_tokens + b.usage.generated_tokens
