"""Malformed bodies, unknown methods, bad budgets and limits: 4xx in OpenAI's error shape, and the
server keeps serving."""

from __future__ import annotations

import pytest

from conftest import ANSWER, MODEL, chat, start

BAD = [
    # (body, status, param)
    (chat(model="nope"), 404, "model"),
    ({"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
    ({"model": MODEL}, 400, "messages"),
    ({"model": MODEL, "messages": []}, 400, "messages"),
    ({"model": MODEL, "messages": ["hi"]}, 400, "messages[0]"),
    ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "messages[0].content"),
    ({"model": MODEL, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "x"}]},
     400, "messages"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "   "}]}, 400, "messages[0].content"),
    (chat(reasoning={"method": "nope"}), 400, "reasoning.method"),
    (chat(reasoning={"method": "reference"}), 400, "reasoning.method"),
    (chat(reasoning="cot"), 400, "reasoning"),
    (chat(reasoning={"method": "cot", "effort": "high"}), 400, "reasoning.effort"),
    (chat(reasoning={"method": "cot", "budget": 4}), 400, "reasoning.budget"),
    (chat(reasoning={"method": "self-consistency", "budget": 0}), 400, "reasoning.budget"),
    (chat(reasoning={"method": "self-consistency", "budget": 9}), 400, "reasoning.budget"),       # over the limit
    (chat(reasoning={"method": "self-consistency", "budget": "4"}), 400, "reasoning.budget"),
    (chat(reasoning={"method": "self-consistency", "budget": 2.5}), 400, "reasoning.budget"),
    (chat(reasoning={"method": "self-consistency", "settings": {"budget": 99}}), 400, "reasoning.budget"),
    (chat(reasoning={"method": "cot", "settings": {"tau": 1}}), 400, "reasoning.settings.tau"),
    (chat(reasoning={"method": "cot", "settings": {"batch_size": 4}}), 400, "reasoning.settings.batch_size"),
    (chat(reasoning={"method": "cot", "settings": {"temperature": "hot"}}), 400, "reasoning.settings.temperature"),
    (chat(reasoning={"method": "cot", "settings": {"max_new_tokens": True}}), 400, "reasoning.settings.max_new_tokens"),
    (chat(reasoning={"method": "particle-filter", "settings": {"weights": "vibes"}}), 400, "reasoning.settings"),
    (chat(max_tokens=5000), 400, "max_tokens"),
    (chat(max_tokens=0), 400, "max_tokens"),
    (chat(max_tokens="10"), 400, "max_tokens"),
    (chat(max_tokens=10, max_completion_tokens=10), 400, "max_completion_tokens"),
    (chat(temperature=-1), 400, None),
    (chat(temperature="warm"), 400, "temperature"),
    (chat(top_p=0), 400, None),
    (chat(n=2), 400, "n"),
    (chat(presence_penalty=0.5), 400, "presence_penalty"),
    (chat(tools=[]), 400, "tools"),
    (chat(stream="yes"), 400, "stream"),
    (chat(stream_options={"include_usage": True}), 400, "stream_options"),
    (chat(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    (chat(stop=[""]), 400, "stop"),
    (chat(seed=-1), 400, "seed"),
    (chat(top_logprobs=2), 400, "top_logprobs"),
    (chat(logprobs=True, stream=True), 400, "logprobs"),
    (chat(stop="\n", reasoning={"method": "self-consistency", "settings": {"weights": "self-certainty"}}), 400, "stop"),
    (chat("n=1. " * 300 + "What is n?", max_tokens=8), 400, "max_tokens"),       # past the model's context
    (chat("a\ud800b"), 400, "messages[0].content"),                               # JSON's lone surrogate
    (chat(stop="\udfff"), 400, "stop"),
]


@pytest.mark.parametrize("body,status,param", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_chat_requests_are_4xx_in_openai_shape(live, body, status, param):
    got, reply, headers = live.post("/v1/chat/completions", body)
    assert got == status, reply
    error = reply["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    if param is not None:
        assert error["param"] == param, error
    assert headers.get("x-should-retry") == "false"


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"", b'{"model": NaN}', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000],
                         ids=["torn", "list", "empty", "nan", "binary", "deep"])
def test_bodies_that_are_not_json_objects_are_400(live, raw):
    status, reply, _ = live.post("/v1/completions", None, raw=raw[:60_000])
    assert status == 400 and reply["error"]["type"] == "invalid_request_error"


def test_bad_completions_requests(live):
    for body, param in (({"model": MODEL, "prompt": ["a", "b"]}, "prompt"), ({"model": MODEL, "prompt": ""}, "prompt"),
                        ({"model": MODEL, "prompt": "x", "echo": True}, "echo"),
                        ({"model": MODEL, "prompt": "x", "logprobs": 50}, "logprobs"),
                        ({"model": MODEL, "prompt": "x", "messages": []}, "messages")):
        status, reply, _ = live.post("/v1/completions", body)
        assert status == 400 and reply["error"]["param"] == param, reply


def test_a_body_over_the_limit_is_413_before_it_is_read(live):
    status, reply, _ = live.post("/v1/chat/completions", chat("x" * 70_000))
    assert status == 413 and "--max-body-bytes" in reply["error"]["message"]


def test_unknown_routes_and_verbs_keep_the_shape(live):
    status, reply, _ = live.get("/v1/nothing")
    assert status == 404 and reply["error"]["type"] == "not_found_error"
    status, reply, _ = live.post("/v1/models", {})
    assert status == 405 and "error" in reply


def test_after_every_refusal_the_server_still_answers(live):
    for body, _, _ in BAD[:10]:
        live.post("/v1/chat/completions", body)
    r = live.client().chat.completions.create(**chat(max_tokens=64))
    assert r.choices[0].message.content.endswith(f"Answer: {ANSWER}")
    assert live.get("/health")[1]["inflight"] == 0


def test_an_unexpected_failure_is_500_and_the_next_request_is_served(live, arith_engine, monkeypatch, capsys):
    real = arith_engine.extend
    monkeypatch.setattr(arith_engine, "extend", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    status, reply, _ = live.post("/v1/chat/completions", chat())
    assert status == 500 and reply["error"]["type"] == "server_error" and "boom" in reply["error"]["message"]
    status, reply, _ = live.post("/v1/chat/completions", chat(reasoning={"method": "self-consistency",
                                                                         "settings": {"weights": "self-certainty"}}))
    assert status == 500 and "boom" in reply["error"]["message"]
    monkeypatch.setattr(arith_engine, "extend", real)
    assert live.post("/v1/chat/completions", chat())[0] == 200
    capsys.readouterr()


def test_the_time_limit_is_408_and_stops_the_work(arith_engine):
    server = start(arith_engine, request_timeout_s=0.05)
    try:
        # 900 forced tokens take far longer than 0.05 s on any hardware (a step is over 0.1 ms)
        status, reply, headers = server.post("/v1/chat/completions", chat(max_tokens=900, ignore_eos=True))
        assert status == 408 and reply["error"]["type"] == "timeout_error" and headers.get("x-should-retry") == "false"
        status, reply, _ = server.post("/v1/chat/completions", chat(reasoning={
            "method": "self-consistency", "budget": 8, "settings": {"weights": "self-certainty", "max_new_tokens": 900}}))
        assert status == 408
        health = server.get("/health")[1]
        assert health["decode"]["decoding"] == 0 and health["inflight"] == 0
    finally:
        server.close()


def test_a_full_server_says_429(arith_engine):
    server = start(arith_engine, max_queue=1)
    try:
        import threading

        slow = threading.Thread(target=server.post, args=("/v1/chat/completions", chat(max_tokens=150, ignore_eos=True)))
        slow.start()
        import time

        for _ in range(500):       # wait until the first request is in (not a timing assertion)
            if server.get("/health")[1]["inflight"] == 1:
                break
            time.sleep(0.01)
        status, reply, headers = server.post("/v1/chat/completions", chat())
        assert status == 429 and reply["error"]["type"] == "rate_limit_error" and headers.get("retry-after") == "1"
        slow.join()
    finally:
        server.close()
