"""Load on `leanthink serve`: the same mixed requests one at a time, 16 at a time and all at once.

Starts `leanthink serve` on a free loopback port (a subprocess), then sends N requests built from
arith problems in the task's own format, mixed methods: cot (greedy), cot streamed, direct, and
self-consistency@4 (self-certainty weights, a search method), each with a fixed seed so every phase
must return the same text. Phases, in this order, on one warm server:

  1. one at a time: each request waits for the previous one (the baseline);
  2. 16 concurrent: at most 16 requests in flight;
  (1 and 2 are run --repeats times, alternating ABBA, and summed: the machine's other load moves)
  3. all N at once.

Per phase: failures, outputs that differ from phase 1 (batching must not change a seeded output),
latency p50/p99, requests/s and completion tokens/s, the server's mean rows per decoding step
(from /health: how full the continuous batch was) and the server's CPU seconds (what the requests
cost it, whatever else the machine runs). Then malformed requests are sent at once; each
must be answered 4xx and the server must still be healthy. Bounded: --time-limit for the whole run,
--request-timeout per request.

    .venv/bin/python benchmarks/serve_load.py --requests 200 --out results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

MIX = ["cot", "cot", "cot", "cot", "direct", "direct", "cot-stream", "cot-stream", "self-consistency", "cot"]


def build_requests(n: int, max_tokens: int) -> list[dict]:
    from leanthink.tasks import get_task

    problems = get_task("arith").load(split="easy", limit=n, seed=123)
    out = []
    for i, p in enumerate(problems):
        kind = MIX[i % len(MIX)]
        body = {"model": "builtin:arith", "messages": [{"role": "user", "content": p.question}],
                "max_tokens": max_tokens, "seed": i}
        if kind == "direct":
            body["extra_body"] = {"reasoning": {"method": "direct"}}
            body["max_tokens"] = 8
        if kind == "self-consistency":
            body["extra_body"] = {"reasoning": {"method": "self-consistency", "budget": 4,
                                                "settings": {"weights": "self-certainty"}}}
        out.append({"kind": kind, "body": body, "gold": p.answer})
    return out


MALFORMED = [b"{", b"[]", b'{"model": "builtin:arith"}', b'{"model": "x", "messages": [{"role": "user", "content": "q"}]}',
             json.dumps({"model": "builtin:arith", "messages": [{"role": "user", "content": "q"}],
                         "reasoning": {"method": "nope"}}).encode(),
             json.dumps({"model": "builtin:arith", "messages": [{"role": "user", "content": "q"}],
                         "reasoning": {"method": "self-consistency", "budget": 0}}).encode(),
             json.dumps({"model": "builtin:arith", "messages": [{"role": "user", "content": "q"}],
                         "reasoning": {"method": "self-consistency", "budget": 100000}}).encode(),
             json.dumps({"model": "builtin:arith", "messages": [{"role": "user", "content": "q"}],
                         "max_tokens": 10 ** 9}).encode(),
             json.dumps({"model": "builtin:arith", "messages": [{"role": "user", "content": "q"}], "n": 3}).encode(),
             json.dumps({"model": "builtin:arith", "messages": "q"}).encode(),
             json.dumps({"model": "builtin:arith", "messages": [{"role": "user", "content": "x" * 2_000_000}]}).encode(),
             b"\xff\xfe\x00"]


async def one(client, req: dict, timeout: float) -> dict:
    body = dict(req["body"])
    t0 = time.perf_counter()
    try:
        if req["kind"] == "cot-stream":
            stream = await client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True},
                                                          timeout=timeout)
            text, tokens = "", 0
            async for c in stream:
                if c.choices and c.choices[0].delta.content:
                    text += c.choices[0].delta.content
                if c.usage is not None:
                    tokens = c.usage.completion_tokens
        else:
            r = await client.chat.completions.create(**body, timeout=timeout)
            text, tokens = r.choices[0].message.content, r.usage.completion_tokens
        return {"ok": True, "text": text, "tokens": tokens, "latency": time.perf_counter() - t0}
    except Exception as e:  # noqa: BLE001 - a failure is a measurement here
        return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:200]}", "latency": time.perf_counter() - t0}


async def phase(client, requests: list[dict], concurrency: int, timeout: float) -> tuple[list[dict], float]:
    gate = asyncio.Semaphore(concurrency)

    async def gated(req):
        async with gate:
            return await one(client, req, timeout)

    t0 = time.perf_counter()
    results = await asyncio.gather(*(gated(r) for r in requests))
    return list(results), time.perf_counter() - t0


def health(root: str) -> dict:
    with urllib.request.urlopen(root + "/health", timeout=30) as r:
        return json.loads(r.read())


def post_raw(root: str, data: bytes) -> int:
    req = urllib.request.Request(root + "/v1/chat/completions", data=data, method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return -1


def summarise(name: str, results: list[dict], seconds: float, base: list[dict] | None, before: dict, after: dict,
              requests: list[dict]) -> dict:
    ok = [r for r in results if r["ok"]]
    lat = sorted(r["latency"] for r in ok)
    steps = after["decode"]["steps"] - before["decode"]["steps"]
    rows = after["decode"]["mean_rows_per_step"] * after["decode"]["steps"] - \
        before["decode"]["mean_rows_per_step"] * before["decode"]["steps"]
    differ = sum(1 for r, b in zip(results, base or []) if r["ok"] and b["ok"] and r["text"] != b["text"])
    right = [r["ok"] and r["text"].rsplit("Answer:", 1)[-1].strip() == q["gold"] for r, q in zip(results, requests)]
    correct = sum(right)
    kinds: dict = {}
    for hit, q in zip(right, requests):
        kinds.setdefault(q["kind"], [0, 0])
        kinds[q["kind"]][0] += hit
        kinds[q["kind"]][1] += 1
    return {"phase": name, "requests": len(results), "failures": len(results) - len(ok),
            "errors": sorted({r["error"] for r in results if not r["ok"]})[:5], "differ_from_serial": differ,
            "correct": correct, "correct_by_kind": kinds, "seconds": round(seconds, 3), "requests_per_s": round(len(ok) / seconds, 3),
            "tokens_per_s": round(sum(r["tokens"] for r in ok) / seconds, 1),
            "p50_s": round(statistics.median(lat), 4) if lat else None,
            "p99_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 4) if lat else None,
            "mean_rows_per_step": round(rows / steps, 2) if steps else None}


def server_cpu(pid: int) -> float:
    """CPU seconds the server process has used (user + system, all threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main_async(args, root: str, pid: int) -> dict:
    import openai

    client = openai.AsyncOpenAI(base_url=root + "/v1", api_key="none", max_retries=0, timeout=args.request_timeout)
    requests = build_requests(args.requests, args.max_tokens)
    await phase(client, requests[:10], 10, args.request_timeout)   # warm-up (not measured)
    runs: dict = {}
    base = None
    # one at a time and 16 at a time alternate (ABBA...), so a change in the machine's other load hits both
    order = []
    for r in range(args.repeats):
        order += [1, 16] if r % 2 == 0 else [16, 1]
    order.append(args.requests)
    for conc in order:
        before, cpu0 = health(root), server_cpu(pid)
        results, seconds = await phase(client, requests, conc, args.request_timeout)
        cpu = server_cpu(pid) - cpu0
        base = base or results
        name = "one at a time" if conc == 1 else f"{conc} concurrent"
        s = summarise(name, results, seconds, base, before, health(root), requests)
        s["server_cpu_s"] = round(cpu, 2)
        print(json.dumps(s), flush=True)
        runs.setdefault(name, []).append(s)
    report = {"phases": [_combine(v) for v in runs.values()], "runs": runs}
    serial, c16, call = report["phases"]
    report["speedup_16"] = round(c16["requests_per_s"] / serial["requests_per_s"], 2)
    report["speedup_all"] = round(call["requests_per_s"] / serial["requests_per_s"], 2)
    report["cpu_per_request_ratio_16"] = round(serial["server_cpu_s"] / c16["server_cpu_s"], 2)
    loop = asyncio.get_running_loop()
    codes = await asyncio.gather(*(loop.run_in_executor(None, post_raw, root, m) for m in MALFORMED))
    report["malformed"] = {"sent": len(codes), "4xx": sum(400 <= c < 500 for c in codes), "codes": list(codes)}
    report["healthy_after"] = health(root)["status"] == "ok"
    await client.close()
    return report


def _combine(runs: list[dict]) -> dict:
    """Repeated runs of one phase as one: totals, and the worst latency percentiles."""
    seconds = sum(r["seconds"] for r in runs)
    ok = sum(r["requests"] - r["failures"] for r in runs)
    out = dict(runs[0], runs=len(runs), requests=sum(r["requests"] for r in runs),
               failures=sum(r["failures"] for r in runs), differ_from_serial=sum(r["differ_from_serial"] for r in runs),
               correct=sum(r["correct"] for r in runs), seconds=round(seconds, 3),
               requests_per_s=round(ok / seconds, 3),
               tokens_per_s=round(sum(r["tokens_per_s"] * r["seconds"] for r in runs) / seconds, 1),
               p50_s=max(r["p50_s"] or 0 for r in runs), p99_s=max(r["p99_s"] or 0 for r in runs),
               server_cpu_s=round(sum(r["server_cpu_s"] for r in runs), 2))
    return out


def markdown(report: dict) -> str:
    lines = ["| phase | requests | failures | differ from serial | correct | req/s | tok/s | p50 s | p99 s | rows/step "
             "| server CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in report["phases"]:
        lines.append(f"| {s['phase']} | {s['requests']} | {s['failures']} | {s['differ_from_serial']} | {s['correct']} | "
                     f"{s['requests_per_s']} | {s['tokens_per_s']} | {s['p50_s']} | {s['p99_s']} | "
                     f"{s['mean_rows_per_step']} | {s['server_cpu_s']} |")
    m = report["malformed"]
    lines += ["", f"throughput vs one at a time: 16 concurrent {report['speedup_16']}x, all at once "
              f"{report['speedup_all']}x; server CPU per request, one at a time / 16 concurrent: "
              f"{report['cpu_per_request_ratio_16']}x; malformed: {m['4xx']}/{m['sent']} answered 4xx "
              f"({sorted(set(m['codes']))}); healthy after: {report['healthy_after']}"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="builtin:arith")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--step-tokens", type=int, default=1)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--request-timeout", type=float, default=300.0)
    ap.add_argument("--repeats", type=int, default=2, help="Runs of the one-at-a-time and 16-concurrent phases, "
                    "alternating (ABBA) so that a change in the machine's other load hits both.")
    ap.add_argument("--time-limit", type=float, default=1200.0, help="Seconds for the whole run.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the report as JSON here.")
    args = ap.parse_args()
    if args.model != "builtin:arith":
        sys.exit("the requests are arith questions in builtin:arith's format; other models need other requests")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "leanthink.cli", "serve", "--model", args.model, "--port", str(port),
           "--threads", str(args.threads), "--step-tokens", str(args.step_tokens), "--max-batch", str(args.max_batch),
           "--request-timeout", str(args.request_timeout), "--max-queue", str(4 * args.requests)]
    env = {k: v for k, v in os.environ.items() if k != "LEANTHINK_API_KEY"}
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            try:
                health(root)
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"the server did not start: {server.stderr.read()}")
                time.sleep(0.1)
        report = asyncio.run(asyncio.wait_for(main_async(args, root, server.pid), args.time_limit))
    finally:
        server.terminate()
        server.wait(timeout=30)
    report["command"] = " ".join(sys.argv)
    report["settings"] = vars(args) | {"out": str(args.out) if args.out else None}
    print(markdown(report))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
