"""The OpenAI-compatible API through the official `openai` client, against a live server on loopback."""

from __future__ import annotations

import openai
import pytest

from conftest import ANSWER, MODEL, QUESTION, chat

SC = {"method": "self-consistency", "budget": 4, "settings": {"weights": "self-certainty"}}


def test_models_lists_the_served_model_with_its_prompt_style(live):
    models = live.client().models.list().data
    assert [m.id for m in models] == [MODEL]
    card = models[0].model_extra
    assert card["max_model_len"] == 1024 and card["leanthink"]["prompt_style"] == "plain"
    assert "particle-filter" in card["leanthink"]["methods"] and "reference" not in card["leanthink"]["methods"]


def test_chat_cot_answers_and_reports_the_engine_counters(live):
    r = live.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}],
                                              max_tokens=64)
    text = r.choices[0].message.content
    assert text.endswith(f"Answer: {ANSWER}") and text.startswith("s=4+2=6\n")
    assert r.choices[0].finish_reason == "stop" and r.object == "chat.completion"
    u = r.usage
    extra = u.model_extra["leanthink"]
    assert u.completion_tokens == extra["generated_tokens"] and u.total_tokens == u.prompt_tokens + u.completion_tokens
    L_P, L_O = u.prompt_tokens, u.completion_tokens
    assert extra["forward_tokens"] == L_P + L_O - 1 and extra["peak_tokens"] == L_P + L_O - 1
    assert extra["dep"] == L_P * L_O + L_O * (L_O - 1) // 2 and extra["model_calls"] == L_O
    assert extra["latent_tokens"] == 0 and extra["scorer_tokens"] == 0 and extra["wall_time_s"] > 0
    assert r.model_extra["reasoning"]["method"] == "cot"


def test_direct_keeps_the_forced_answer_prefix_in_chat(live):
    r = live.client().chat.completions.create(**chat(max_tokens=8), extra_body={"reasoning": {"method": "direct"}})
    assert r.choices[0].message.content.startswith("Answer:")
    assert r.usage.completion_tokens <= 8


def test_max_tokens_cuts_with_length(live):
    r = live.client().chat.completions.create(**chat(max_tokens=5))
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 5


def test_completions_take_the_prompt_verbatim_and_leave_the_stop_out(live):
    r = live.client().completions.create(model=MODEL, prompt=QUESTION + "\nReasoning:\n", max_tokens=64, stop=["\n"])
    c = r.choices[0]
    assert c.text == "s=4+2=6" and c.finish_reason == "stop" and c.model_extra["stop_reason"] == "\n"
    assert r.object == "text_completion"


def test_streaming_sends_tokens_as_produced_and_adds_up_to_the_whole(live):
    client = live.client()
    whole = client.chat.completions.create(**chat(max_tokens=64)).choices[0].message.content
    chunks = list(client.chat.completions.create(**chat(max_tokens=64), stream=True,
                                                 stream_options={"include_usage": True}))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == whole and len(texts) >= 10            # many chunks, not one at the end
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_streamed_completion_with_a_stop_leaves_it_out(live):
    stream = live.client().completions.create(model=MODEL, prompt=QUESTION + "\nReasoning:\n", max_tokens=64,
                                              stop=["\nt="], stream=True)
    assert "".join(c.choices[0].text for c in stream) == "s=4+2=6\nm=6*6=36"


def test_a_seed_makes_sampling_reproducible(live):
    client = live.client()
    texts = [client.chat.completions.create(**chat(temperature=1.5, seed=s)).choices[0].message.content
             for s in (7, 7, 8, 9, 10)]
    assert texts[0] == texts[1]
    assert len(set(texts[1:])) > 1     # other seeds sample other texts (at temperature 1.5 on this model)


def test_logprobs_in_both_shapes(live):
    client = live.client()
    r = client.completions.create(model=MODEL, prompt=QUESTION + "\nReasoning:\n", max_tokens=64, logprobs=2)
    lp = r.choices[0].logprobs
    assert len(lp.token_logprobs) == r.usage.completion_tokens     # EOS included
    assert all(x <= 0 for x in lp.token_logprobs) and len(lp.top_logprobs[0]) == 2
    assert "".join(lp.tokens) == r.choices[0].text
    c = client.chat.completions.create(**chat(max_tokens=64), logprobs=True, top_logprobs=1)
    assert len(c.choices[0].logprobs.content) == c.usage.completion_tokens


def test_search_method_returns_its_answer_trace_and_full_cost(live):
    r = live.client().chat.completions.create(**chat(), seed=3, extra_body={"reasoning": SC})
    rep = r.model_extra["reasoning"]
    assert rep["method"] == "self-consistency" and rep["settings"]["budget"] == 4
    assert len(rep["trace"]["answers"]) == 4 and rep["answer"] == ANSWER
    assert f"Answer: {ANSWER}" in r.choices[0].message.content
    # completion_tokens is every token of the 4 samples, more than the one returned
    assert r.usage.completion_tokens > 2 * r.usage.model_extra["leanthink"]["forward_tokens"] / 4


def test_search_method_streams_its_answer_as_one_chunk(live):
    chunks = list(live.client().chat.completions.create(**chat(), stream=True, extra_body={"reasoning": SC}))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) == 1 and texts[0].endswith(f"Answer: {ANSWER}")


def test_settings_as_strings_read_like_the_cli(live):
    body = {"method": "particle-filter", "budget": 2, "settings": {"weights": "self-certainty", "tau": "0.5",
                                                                     "max_steps": "3"}}
    r = live.client().chat.completions.create(**chat(), extra_body={"reasoning": body})
    s = r.model_extra["reasoning"]["settings"]
    assert s["tau"] == 0.5 and s["max_steps"] == 3 and s["budget"] == 2


def test_budget_forcing_takes_its_budget_in_tokens(live):
    r = live.client().chat.completions.create(**chat(), extra_body={"reasoning": {"method": "budget-forcing",
                                                                                   "budget": 6}})
    rep = r.model_extra["reasoning"]
    assert rep["trace"]["reasoning_tokens"] <= 6 and rep["trace"]["finish_reason"] == "budget"


def test_wrong_or_missing_key_is_401(live):
    with pytest.raises(openai.AuthenticationError) as e:
        live.client(key="wrong").chat.completions.create(**chat())
    assert e.value.body["code"] == "invalid_api_key"
    status, body, headers = live.post("/v1/chat/completions", chat(), key=None)
    assert status == 401 and body["error"]["type"] == "authentication_error"
    assert live.get("/v1/models", key=None)[0] == 401
    assert live.get("/health", key=None)[0] == 200      # health stays open for probes


def test_methods_the_model_was_not_trained_for_are_4xx(live):
    status, body, _ = live.post("/v1/chat/completions", chat(reasoning={"method": "coconut"}))
    assert status == 400 and "Coconut" in body["error"]["message"]


def test_a_method_needing_a_prm_on_a_server_without_one_is_400(live):
    status, body, _ = live.post("/v1/chat/completions", chat(reasoning={"method": "particle-filter"}))
    assert status == 400 and body["error"]["param"] == "reasoning.settings.weights"


def test_a_client_that_leaves_a_stream_frees_its_row(live):
    import time

    before = live.get("/health")[1]["decode"]["row_steps"]
    stream = live.client().chat.completions.create(**chat(max_tokens=900), stream=True,
                                                   extra_body={"ignore_eos": True})
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    for _ in range(1000):        # wait for the scheduler to notice (bounded; not a timing assertion)
        health = live.get("/health")[1]
        if health["decode"]["decoding"] == 0 and health["inflight"] == 0:
            break
        time.sleep(0.01)
    assert health["decode"]["decoding"] == 0 and health["inflight"] == 0
    assert health["decode"]["row_steps"] - before < 900     # it left long before its 900 tokens
