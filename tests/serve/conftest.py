"""A live `leanthink serve` on loopback (uvicorn in a thread, a free port) over builtin:arith."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("openai")

API_KEY = "test-key"
MODEL = "builtin:arith"
#: arith questions in the task's own format, with their answers (the model answers them greedily)
QUESTION = "n=4. s=n+2. m=s*6. t=m+8. What is t?"
ANSWER = "44"


class Live:
    """A server running in this process; `url` is its /v1 base."""

    def __init__(self, app):
        import uvicorn

        self.app = app
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = self.root + "/v1"

    def close(self):
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, key: str | None = API_KEY, **kw):
        import openai

        return openai.OpenAI(base_url=self.url, api_key=key or "none", max_retries=0, timeout=60, **kw)

    def post(self, path: str, body, key: str | None = API_KEY, raw: bytes | None = None, headers=None):
        """(status, parsed JSON or text, headers) of a raw POST (for bodies a client library would refuse)."""
        data = raw if raw is not None else json.dumps(body).encode()
        h = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
        return _send(urllib.request.Request(self.root + path, data=data, headers=h, method="POST"))

    def get(self, path: str, key: str | None = API_KEY):
        h = {"authorization": f"Bearer {key}"} if key else {}
        return _send(urllib.request.Request(self.root + path, headers=h))


def _send(req):
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text, headers = r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        status, text, headers = e.code, e.read().decode(), dict(e.headers)
    try:
        return status, json.loads(text), headers
    except ValueError:
        return status, text, headers


@pytest.fixture(scope="session")
def arith_engine():
    import torch

    from leanthink.engine import load_engine

    torch.set_num_threads(1)
    return load_engine(MODEL)


def start(engine, **config) -> Live:
    from leanthink.serve import ServeConfig, create_app

    settings = {"model": MODEL, "api_key": API_KEY, "max_tokens": 1000, "max_budget": 8, "max_body_bytes": 64 * 1024,
                **config}
    return Live(create_app(ServeConfig(**settings), engine=engine))


@pytest.fixture(scope="module")
def live(arith_engine):
    server = start(arith_engine)
    yield server
    server.close()


def chat(question: str = QUESTION, **body) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": question}], **body}
