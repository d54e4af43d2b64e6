"""`vllm:PATH`. vLLM needs a CUDA GPU, so it is not installed here: the adapter is run against a
stand-in `vllm` module whose LLM decodes with the in-process engine and answers in vLLM's output
shapes (stop strings kept in the text, `stop_reason`, EOS in token_ids, logprob dicts)."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest

from leanthink.engine import SamplingParams, engine_class, load_engine
from leanthink.errors import LeanthinkError
from leanthink.methods import get_method
from leanthink.tasks import get_task


def fake_vllm(engine) -> ModuleType:
    made = []

    class FakeSamplingParams:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class FakeLLM:
        def __init__(self, model, **kw):
            self.model, self.kwargs = model, kw
            self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=1024))
            made.append(self)

        def get_tokenizer(self):
            return engine.tokenizer

        def generate(self, prompts, params, use_tqdm=True):
            outs = []
            for prompt, sp in zip(prompts, params):
                assert sp.include_stop_str_in_output and sp.temperature == 0
                seqs = engine.prefill([prompt])
                c = engine.extend(seqs, SamplingParams(max_new_tokens=sp.max_tokens, stop=tuple(sp.stop or ()),
                                                       stop_token_ids=tuple(sp.stop_token_ids or ())))[0]
                eos = [min(engine.eos_ids)] if c.finish_reason == "eos" else []
                ids = list(c.token_ids) + eos
                reason = None
                if c.finish_reason == "stop":
                    reason = c.stop if c.stop in (sp.stop or ()) else ids[-1]
                out = SimpleNamespace(text=c.text, token_ids=ids, stop_reason=reason,
                                      finish_reason="length" if c.finish_reason == "length" else "stop",
                                      logprobs=[{t: SimpleNamespace(logprob=lp)} for t, lp in zip(ids, c.logprobs)])
                outs.append(SimpleNamespace(outputs=[out], prompt_token_ids=engine.encode(prompt)))
            return outs

    module = ModuleType("vllm")
    module.LLM, module.SamplingParams, module.made = FakeLLM, FakeSamplingParams, made
    return module


@pytest.fixture
def vllm_engine(arith_engine, monkeypatch):
    module = fake_vllm(arith_engine)
    monkeypatch.setitem(sys.modules, "vllm", module)
    engine = load_engine("vllm:builtin:arith")
    assert module.made[0].kwargs["enable_prefix_caching"] is True
    return engine


def test_without_vllm_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)      # import vllm raises ImportError
    assert engine_class("vllm:builtin:arith").kind == "vLLM"   # known without loading
    with pytest.raises(LeanthinkError, match=r"vLLM is not installed.*leanthink\[vllm\].*openai:URL#MODEL"):
        load_engine("vllm:builtin:arith")


def test_cot_on_vllm_is_cot_in_process(vllm_engine, arith_engine):
    task = get_task("arith")
    problems = task.load(split="easy", limit=3, seed=0)
    m = get_method("cot", max_new_tokens=64)
    for a, b in zip(m.solve(arith_engine, task, problems), m.solve(vllm_engine, task, problems)):
        assert a.output == b.output
        assert (b.usage.prompt_tokens, b.usage.generated_tokens) == (a.usage.prompt_tokens, a.usage.generated_tokens)
        assert b.usage.forward_tokens is None and b.usage.dep is None


def test_stop_strings_stop_tokens_and_logprobs(vllm_engine):
    seqs = vllm_engine.prefill(["n=4. s=n+2. m=s*6. t=m+8. What is t?\nReasoning:\n"])
    c = vllm_engine.extend(seqs, SamplingParams(max_new_tokens=64, stop=("\n",)))[0]
    assert (c.text, c.finish_reason, c.stop) == ("s=4+2=6\n", "stop", "\n") and len(c.logprobs) == len(c.token_ids)
    answer = vllm_engine.token_id("Answer")            # a real token id: vLLM has the tokenizer
    c = vllm_engine.extend(seqs, SamplingParams(max_new_tokens=64, stop_token_ids=(answer,)))[0]
    assert c.text.endswith("\nAnswer") and c.stop == "Answer" and c.finish_reason == "stop"
    c = vllm_engine.extend(seqs, SamplingParams(max_new_tokens=64))[0]
    assert c.text == ": 44" and c.finish_reason == "eos" and seqs.finished(0)


def test_budget_forcing_on_vllm(vllm_engine):
    task = get_task("arith")
    problems = task.load(split="easy", limit=2, seed=0)
    for r in get_method("budget-forcing", budget=5).solve(vllm_engine, task, problems):
        assert r.trace["reasoning_tokens"] <= 5 and "\nAnswer" in r.output
