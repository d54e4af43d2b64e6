"""PRMs in the Qwen2.5-Math-PRM format: incremental scores equal a full forward pass over the whole
solution, the PRM's state follows the policy's rows, and its cost is counted into the same Usage."""

from __future__ import annotations

import json

import pytest
import torch

from leanthink.engine import SamplingParams
from leanthink.engine.hf import HFEngine
from leanthink.errors import LeanthinkError
from leanthink.prompting import PromptStyle
from leanthink.scorers import ExactVerifier, ProcessRewardModel
from leanthink.tasks import get_task

from helpers import micro_llama, tiny_prm

STEPS = ["k=3+4=7\n\n", "  m=7*2=14\n\n", "Answer: 14"]


@pytest.fixture(scope="module")
def prm_dir(tmp_path_factory):
    return tiny_prm(tmp_path_factory.mktemp("prm") / "prm")


@pytest.fixture(scope="module")
def policy():
    model, tok = micro_llama()
    return HFEngine.from_model(model, tok, PromptStyle("plain"))


@pytest.fixture(scope="module")
def problems():
    return get_task("arith").load(split="easy", limit=2)


def full_pass_scores(prm, question: str, steps: list[str], aggregation: str) -> list[float]:
    """Per-step scores the Qwen way: the whole text at once, read at every separator."""
    sep = prm.format.step_separator
    if aggregation == "model":
        body = "".join(steps).rstrip() + sep
    else:
        body = sep.join(s.strip() for s in steps) + sep
    ids = prm.engine.encode(prm.prefix(question) + body)
    with torch.no_grad():
        hidden = prm.engine.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        probs = torch.softmax(prm.head(hidden), -1)[:, 1]
    return [float(probs[i]) for i, t in enumerate(ids) if t == prm.separator]


@pytest.mark.parametrize("aggregation", ["last", "min", "prod", "model"])
def test_incremental_scores_equal_a_full_pass(prm_dir, policy, problems, aggregation):
    prm = ProcessRewardModel.load(str(prm_dir), aggregation=aggregation)
    seqs = policy.prefill([policy.prompt_style.render(problems[0], "cot")])
    prm.attach(seqs, problems[:1])
    got = [prm.score(seqs, [s])[0] for s in STEPS]
    for k in range(1, len(STEPS) + 1):
        ref = full_pass_scores(prm, problems[0].question, STEPS[:k], aggregation)
        expected = {"last": ref[-1], "model": ref[-1], "min": min(ref), "prod": float(torch.tensor(ref).prod())}
        assert got[k - 1] == pytest.approx(expected[aggregation], abs=1e-5)
    assert len({round(x, 6) for x in prm.step_scores(seqs)[0]}) > 1   # a random PRM still tells steps apart


def test_prm_state_follows_fork_resampling_split_and_merge(prm_dir, policy, problems):
    prm = ProcessRewardModel.load(str(prm_dir), aggregation="min")
    seqs = policy.prefill([policy.prompt_style.render(p, "cot") for p in problems])
    prm.attach(seqs, problems)
    history = {0: [], 1: []}       # each policy row's own steps, tracked by hand
    prm.score(seqs, [STEPS[0], STEPS[1]])
    history = [[STEPS[0]], [STEPS[1]]]
    policy.fork(seqs, 2)                                   # rows: p0, p0, p1, p1
    history = [history[0], history[0], history[1], history[1]]
    new = ["a=1\n\n", "b=2\n\n", None, "c=3\n\n"]
    prm.score(seqs, new)
    history = [h + ([s] if s else []) for h, s in zip(history, new)]
    policy.select(seqs, [1, 1, 3, 2])                      # resampling
    history = [list(history[r]) for r in (1, 1, 3, 2)]
    moved = policy.split(seqs, [2])
    moved_history, history = [history[2]], [history[0], history[1], history[3]]
    prm.score(moved, ["d=4\n\n"])
    moved_history[0].append("d=4\n\n")
    policy.merge(seqs, moved)
    history += moved_history
    last = ["e\n\n", "f\n\n", "g\n\n", "h\n\n"]
    got = prm.score(seqs, last)
    history = [h + [s] for h, s in zip(history, last)]
    for r, h in enumerate(history):
        question = problems[seqs.request_key(r)].question
        assert got[r] == pytest.approx(min(full_pass_scores(prm, question, h, "min")), abs=1e-5)
        assert len(prm.step_scores(seqs)[r]) == len(h)


def test_prm_cost_is_counted_into_the_problems_usage(prm_dir, policy, problems):
    prm = ProcessRewardModel.load(str(prm_dir), aggregation="last")
    prompt = policy.prompt_style.render(problems[0], "cot")
    seqs = policy.prefill([prompt])
    lp, lq = policy.count_tokens(prompt), prm.engine.count_tokens(prm.prefix(problems[0].question))
    prm.attach(seqs, problems[:1])
    u = policy.usage(seqs)[0]
    assert u.prompt_tokens == lp and u.forward_tokens == lp and u.scorer_tokens == lq
    assert u.peak_tokens == lp + lq          # both caches are held at once
    policy.extend(seqs, SamplingParams(max_new_tokens=5, ignore_eos=True))
    steps = [STEPS[0], STEPS[1]]
    for s in steps:
        prm.score(seqs, [s])
    unique = lq + sum(prm.engine.count_tokens(s.strip()) + 1 for s in steps)
    assert u.scorer_tokens == unique          # incremental: nothing scored twice
    assert u.forward_tokens == lp + 4 and u.generated_tokens == 5
    assert u.scorer_calls == 3 and u.model_calls == 5
    assert u.peak_tokens == lp + 4 + unique
    policy.fork(seqs, 3)                       # copies of both caches
    assert u.peak_tokens == 3 * (lp + 4 + unique)


def test_model_aggregation_takes_its_probe_back_out(prm_dir, policy, problems):
    prm = ProcessRewardModel.load(str(prm_dir), aggregation="model")
    seqs = policy.prefill([policy.prompt_style.render(problems[0], "cot")])
    prm.attach(seqs, problems[:1])
    for s in STEPS:
        prm.score(seqs, [s])
    u = policy.usage(seqs)[0]
    body = prm.engine.count_tokens("".join(STEPS).rstrip())
    lq = prm.engine.count_tokens(prm.prefix(problems[0].question))
    assert u.scorer_tokens == lq + body + len(STEPS)           # each probe costs one separator
    assert u.scorer_tokens <= 1.1 * (lq + body) + len(STEPS)


def test_bad_prm_directories_and_settings(prm_dir, tmp_path):
    with pytest.raises(LeanthinkError, match="aggregation must be one of"):
        ProcessRewardModel.load(str(prm_dir), aggregation="mean")
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for f in prm_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    weights = {k: v for k, v in load_file(prm_dir / "model.safetensors").items() if not k.startswith("score.2")}
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(LeanthinkError, match="score.2.weight"):
        ProcessRewardModel.load(str(broken))
    meta = json.loads((prm_dir / "leanthink.json").read_text())
    assert meta["prm"]["step_separator"] == "<extra_0>"


def test_exact_verifier_is_an_oracle_and_follows_rows(policy, problems):
    task = get_task("arith")
    v = ExactVerifier()
    seqs = policy.prefill([policy.prompt_style.render(p, "cot") for p in problems])
    v.attach(seqs, problems, task)
    assert v.oracle
    assert v.score(seqs, ["x=1\n", None]) == [0.5, None]
    policy.fork(seqs, 2)
    got = v.score(seqs, [f"Answer: {problems[0].answer}", "Answer: -12345", None, f"Answer: {problems[1].answer}"])
    assert got == [1.0, 0.0, None, 1.0]
