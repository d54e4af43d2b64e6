"""`--model openai:URL#MODEL`: the remote engine against `leanthink serve` on loopback."""

from __future__ import annotations

import pytest

from conftest import API_KEY, MODEL

from leanthink.engine import load_engine
from leanthink.errors import LeanthinkError, UnsupportedVerb
from leanthink.methods import get_method
from leanthink.tasks import get_task

UNKNOWN = ("forward_tokens", "peak_tokens", "dep", "model_calls")


@pytest.fixture(scope="module")
def remote(live, monkeypatch_module):
    monkeypatch_module.setenv("LEANTHINK_REMOTE_API_KEY", API_KEY)
    return load_engine(f"openai:{live.url}#{MODEL}")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def problems():
    return get_task("arith").load(split="easy", limit=4, seed=0)


def test_the_remote_engine_takes_the_servers_prompt_style_and_context(remote):
    assert remote.prompt_style.name == "plain" and remote.max_context == 1024
    assert "logprobs" in remote.capabilities          # the server returned them when probed


def test_cot_remotely_is_cot_locally_and_unmeasurable_counters_are_unknown(remote, arith_engine, problems):
    task = get_task("arith")
    m = get_method("cot", max_new_tokens=64)
    here, there = m.solve(arith_engine, task, problems), m.solve(remote, task, problems)
    for a, b in zip(here, there):
        assert a.output == b.output
        assert b.usage.prompt_tokens == a.usage.prompt_tokens and b.usage.generated_tokens == a.usage.generated_tokens
        for name in UNKNOWN:
            assert getattr(b.usage, name) is None, name
        assert b.usage.wall_time_s > 0 and b.usage.latent_tokens == 0


@pytest.mark.parametrize("name,settings", [
    ("self-consistency", {"budget": 3}),
    ("best-of-n", {"budget": 3, "weights": "self-certainty"}),
    ("particle-filter", {"budget": 2, "weights": "self-certainty", "max_steps": 6}),
])
def test_search_methods_run_on_text_rows(remote, problems, name, settings):
    task = get_task("arith")
    results = get_method(name, **settings).solve(remote, task, problems[:2])
    for p, r in zip(problems, results):
        assert len(r.trace["answers"]) == settings["budget"]
        assert r.usage.generated_tokens >= settings["budget"] and r.usage.forward_tokens is None
        assert task.extract(r.output) is not None


def test_a_local_prm_follows_remote_rows(remote, problems):
    from leanthink.scorers import load_scorer

    task = get_task("arith")
    results = get_method("particle-filter", budget=2, max_steps=4).solve(remote, task, problems[:2],
                                                                         scorer=load_scorer("builtin:arith-prm"))
    for r in results:
        assert all(s is not None for s in r.trace["scores"])
        assert r.usage.scorer_tokens > 0 and r.usage.scorer_calls > 0 and r.usage.peak_tokens is None


def test_budget_forcing_remotely_stops_on_the_markers_text(remote, arith_engine, problems):
    task = get_task("arith")
    m = get_method("budget-forcing", budget=5)
    for r in m.solve(remote, task, problems[:2]):
        assert r.trace["reasoning_tokens"] <= 5 and r.trace["finish_reason"] == "budget"
        assert "\nAnswer" in r.output
    # the marker suppressed once: taken back (rewind) and the cue appended, as on the local engine; the
    # continuations may differ, since the server re-reads "...\nWait" as a prompt and tokenises it whole
    m = get_method("budget-forcing", extend=1)
    here, there = m.solve(arith_engine, task, problems[:2]), m.solve(remote, task, problems[:2])
    assert [r.trace["suppressed"] for r in there] == [r.trace["suppressed"] for r in here] == [1, 1]
    for a, b in zip(here, there):
        head = a.output.split("Wait")[0]
        assert b.output.startswith(head + "Wait") and b.output.count("Wait") == 1 and "\nAnswer" not in head


@pytest.mark.parametrize("method", ["lightthinker", "h2o", "coconut", "litereason", "particle-gibbs"])
def test_methods_that_need_the_cache_fail_at_configuration(live, method):
    m = get_method(method)
    with pytest.raises(UnsupportedVerb) as e:
        load_engine(f"openai:{live.url}#{MODEL}", requires=m.requires, method=method)   # nothing is called
    assert "\n" not in str(e.value) and "remote OpenAI-compatible" in str(e.value)


def test_bad_specs_fail_with_one_line(live, monkeypatch):
    monkeypatch.setenv("LEANTHINK_REMOTE_API_KEY", API_KEY)
    for spec, words in ((f"openai:{live.url}#other", "does not serve 'other'"),
                        ("openai:127.0.0.1:1/v1", "expected openai:URL#MODEL"),
                        ("openai:http://127.0.0.1:1/v1#m", "cannot list the models")):
        with pytest.raises(LeanthinkError, match=words):
            load_engine(spec)
    with pytest.raises(LeanthinkError, match="chat prompt style"):
        load_engine(f"openai:{live.url}", prompt_style="chat")
    with pytest.raises(LeanthinkError, match="--device"):
        load_engine(f"openai:{live.url}", device="cpu")
    monkeypatch.setenv("LEANTHINK_REMOTE_API_KEY", "wrong")
    with pytest.raises(LeanthinkError, match="401|API key"):
        load_engine(f"openai:{live.url}")


def test_eval_and_report_through_the_cli_show_unknown_as_na(live, tmp_path, monkeypatch, capsys):
    from cli_helpers import run_cli

    monkeypatch.setenv("LEANTHINK_REMOTE_API_KEY", API_KEY)
    out = tmp_path / "r.jsonl"
    code, stdout, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "3", "--method", "cot",
                                 "--model", f"openai:{live.url}#{MODEL}", "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    import json

    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 3 and all(x["usage"]["forward_tokens"] is None for x in lines)
    assert all(x["correct"] for x in lines)
    code, stdout, err = run_cli(["report", out, "--markdown", tmp_path / "t.md", "--png", tmp_path / "t.png"], capsys)
    assert code == 0, err
    row = (tmp_path / "t.md").read_text().splitlines()[2]
    assert row.count("n/a") == 3 and "100.0%" in row     # peak, Dep, forward unknown; accuracy measured
