"""`leanthink serve` as a command: its settings are checked before the model loads; it serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from cli_helpers import run_cli
from conftest import ANSWER, QUESTION


@pytest.mark.parametrize("args,words", [
    (["--model", "openai:http://127.0.0.1:1/v1#m"], "runs the model in process"),
    (["--prm", "oracle"], "--prm oracle reads gold answers"),
    (["--port", "70000"], "--port must be in [0, 65535]"),
    (["--step-tokens", "0"], "--step-tokens must be in [1, 1024]"),
    (["--request-timeout", "0"], "--request-timeout must be in (0, 86400]"),
])
def test_bad_settings_are_one_line_before_loading(capsys, args, words):
    code, out, err = run_cli(["serve", *args], capsys)
    assert code == 2 and err.startswith("error: ") and words in err and err.count("\n") == 1


@pytest.mark.slow
def test_the_command_serves_until_sigterm(tmp_path):
    import openai

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LEANTHINK_API_KEY": "k"}
    proc = subprocess.Popen([sys.executable, "-m", "leanthink.cli", "serve", "--port", str(port), "--threads", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=30)
        for _ in range(600):          # wait for the model to load (bounded; not a timing assertion)
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        r = client.chat.completions.create(model="builtin:arith", messages=[{"role": "user", "content": QUESTION}])
        assert r.choices[0].message.content.endswith(f"Answer: {ANSWER}")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 143), err
    assert f"serving builtin:arith on http://127.0.0.1:{port}" in err and "Traceback" not in err
