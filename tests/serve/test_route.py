"""`route` through `leanthink serve`: the server's own router (--router), never one a request names."""

from __future__ import annotations

import pytest

from conftest import ANSWER, QUESTION, chat, start


@pytest.fixture(scope="module")
def router_file(arith_engine, tmp_path_factory):
    from leanthink.bench.harness import RunInfo, run
    from leanthink.methods import get_method
    from leanthink.tasks import get_task
    from leanthink.train.router import train_router

    tmp = tmp_path_factory.mktemp("serve-router")
    task = get_task("arith")
    problems = task.load("mixed", limit=16, seed=1)
    for name in ("direct", "cot"):
        method = get_method(name)
        run(method, arith_engine, task, problems, RunInfo.create("arith", "mixed", None, 1, method, name,
                                                                 "builtin:arith", arith_engine),
            tmp / "train.jsonl", progress=False)
    train_router([tmp / "train.jsonl"], "builtin:arith", tmp / "router.json", folds=2)
    return tmp / "router.json"


def test_route_answers_with_the_servers_router(arith_engine, router_file):
    server = start(arith_engine, router=str(router_file))
    try:
        body = {"method": "route", "settings": {"target_accuracy": 0.99}}
        r = server.client().chat.completions.create(**chat(QUESTION), extra_body={"reasoning": body})
        rep = r.model_extra["reasoning"]
        assert rep["trace"]["route"] in ("probe", "cot", "direct")
        if rep["trace"]["route"] == "cot":
            assert f"Answer: {ANSWER}" in r.choices[0].message.content
        status, err, _ = server.post("/v1/chat/completions", chat(QUESTION, reasoning={
            "method": "route", "settings": {"router": "/etc/passwd", "target_accuracy": 0.5}}))
        assert status == 400 and "cannot name one" in err["error"]["message"]
    finally:
        server.close()


def test_route_without_a_router_is_a_400(live):
    status, err, _ = live.post("/v1/chat/completions", chat(QUESTION, reasoning={
        "method": "route", "settings": {"target_accuracy": 0.5}}))
    assert status == 400 and "--router" in err["error"]["message"]
