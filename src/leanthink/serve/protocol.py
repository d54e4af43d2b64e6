"""Request bodies into `JobSpec`s: every field checked, every refusal a 4xx naming the field.

The OpenAI fields map onto the method's settings (the same names `leanthink eval --set` takes):
`max_tokens` (or `max_completion_tokens`) -> max_new_tokens, `temperature`, `top_p`, and the extra
`reasoning` object picks the method and its budget:

    "reasoning": {"method": "particle-filter", "budget": 8, "settings": {"tau": 0.5}}

Fields the server cannot honour are refused, never ignored. `seed` makes a request reproducible (it
names the request's problem, from which every random stream is seeded); without it a request samples
from a fresh random seed.
"""

from __future__ import annotations

import dataclasses
import math
import random
import typing
from dataclasses import dataclass

from ..engine import SamplingParams
from ..errors import LeanthinkError
from ..methods import get_method, method_class, method_names
from ..methods.base import Method
from ..methods.settings import parse_value
from ..tasks.base import Problem
from .errors import APIError, bad
from .prompts import chat_problem, completion_problem, valid_text

#: served by the continuous batch; every other method runs as a batched solve() on the search worker
DECODING = ("cot", "direct")
NOT_SERVED = {"reference": "it answers with the dataset's gold solution, which a request does not have"}
_COMMON = {"model", "max_tokens", "temperature", "top_p", "seed", "stop", "stream", "stream_options", "n", "user",
           "reasoning", "presence_penalty", "frequency_penalty", "top_k", "min_tokens", "ignore_eos", "logprobs"}
FIELDS = {"chat": _COMMON | {"messages", "max_completion_tokens", "top_logprobs"},
          "completions": _COMMON | {"prompt", "echo", "best_of", "suffix"}}
#: fields that only decoding methods (cot, direct) take
DECODE_ONLY = ("stop", "top_k", "min_tokens", "ignore_eos", "logprobs", "top_logprobs")


@dataclass
class JobSpec:
    endpoint: str                 # "chat" or "completions"
    method_name: str
    method: Method
    settings: dict                # the method's effective settings (what the response reports)
    problem: Problem
    seed: int
    stream: bool = False
    include_usage: bool = False
    decode: bool = False          # served by the continuous batch
    prompt: str = ""              # decode: the rendered prompt
    prefix: str = ""              # decode, chat: text the prompt forced (plain direct's "Answer:")
    params: SamplingParams | None = None
    logprobs: int | None = None   # None: not asked; k: the sampled tokens' logprobs and the top k


@dataclass(frozen=True)
class Context:
    """What parsing needs from the server."""

    model_id: str
    engine: object
    max_tokens: int
    max_budget: int
    has_scorer: bool
    router: str | None = None


def parse_request(body: dict, endpoint: str, ctx: Context) -> JobSpec:
    unknown = sorted(set(body) - FIELDS[endpoint])
    if unknown:
        raise bad(f"unsupported field {unknown[0]!r} (this server takes: {', '.join(sorted(FIELDS[endpoint]))})",
                  param=unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model is required (a string; see /v1/models)", param="model")
    if model != ctx.model_id:
        raise APIError(404, f"model {model!r} is not served here; this server serves {ctx.model_id!r}", param="model",
                       code="model_not_found")
    _fixed(body, "n", 1), _fixed(body, "best_of", 1), _fixed(body, "echo", False), _fixed(body, "suffix", None)
    _fixed(body, "presence_penalty", 0), _fixed(body, "frequency_penalty", 0)
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise bad("user must be a string", param="user")
    stream = _flag(body, "stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise bad("stream_options is only allowed with stream: true", param="stream_options")
        if not isinstance(options, dict) or set(options) - {"include_usage"}:
            raise bad("stream_options must be {\"include_usage\": bool}", param="stream_options")
        include_usage = _flag(options, "include_usage", "stream_options.include_usage")
    seed = _int(body, "seed", 0, 2**63 - 1)
    reasoning = body.get("reasoning")
    if reasoning is None:
        reasoning = {}
    if not isinstance(reasoning, dict):
        raise bad("reasoning must be an object {method, budget, settings}", param="reasoning")
    extra = sorted(set(reasoning) - {"method", "budget", "settings"})
    if extra:
        raise bad(f"reasoning has no field {extra[0]!r} (it takes method, budget, settings)", param=f"reasoning.{extra[0]}")
    name = reasoning.get("method", "cot")
    method, settings, seed = _method(name, reasoning, body, seed, ctx)
    if seed is None:
        seed = random.getrandbits(63)
    problem_id = f"seed-{seed}"
    style = ctx.engine.prompt_style
    problem = (chat_problem(body.get("messages"), style.name, problem_id) if endpoint == "chat"
               else completion_problem(body.get("prompt"), problem_id))
    spec = JobSpec(endpoint, name, method, settings, problem, seed, stream=stream, include_usage=include_usage)
    if name not in DECODING:
        given = [k for k in DECODE_ONLY if body.get(k) not in (None, False)]
        if given:
            raise bad(f"{given[0]} applies only to the decoding methods ({', '.join(DECODING)}), not to {name!r}",
                      param=given[0])
        return spec
    spec.decode = True
    try:
        spec.prompt = style.render(problem, method.mode, ctx.engine.tokenizer)
    except LeanthinkError as e:
        raise bad(str(e), param="messages" if endpoint == "chat" else "prompt") from None
    spec.prefix = style.response_prefix(method.mode) if endpoint == "chat" else ""
    spec.logprobs = _logprobs(body, endpoint)
    if stream and spec.logprobs is not None:
        raise bad("logprobs are returned only without streaming", param="logprobs")
    stop = body.get("stop")
    stop = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise bad("stop must be a non-empty string or a list of at most 4 of them", param="stop")
    for s in stop:
        valid_text(s, "stop")
    try:
        spec.params = method.sampling(stop=stop, top_k=_int(body, "top_k", 0, 1 << 20) or 0,
                                      min_new_tokens=_int(body, "min_tokens", 0, ctx.max_tokens) or 0,
                                      ignore_eos=_flag(body, "ignore_eos"), logprobs=spec.logprobs or 0)
    except LeanthinkError as e:
        raise bad(str(e), param="min_tokens" if "min_new_tokens" in str(e) else None) from None
    return spec


def _method(name, reasoning: dict, body: dict, seed: int | None, ctx: Context):
    """(method, its effective settings, the request's seed) from `reasoning` and the OpenAI fields."""
    if not isinstance(name, str) or name not in method_names():
        raise bad(f"unknown method {name!r}; choose one of: {', '.join(m for m in method_names() if m not in NOT_SERVED)}",
                  param="reasoning.method", code="unknown_method")
    if name in NOT_SERVED:
        raise bad(f"method {name!r} cannot be served: {NOT_SERVED[name]}", param="reasoning.method")
    cls = method_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    raw = reasoning.get("settings") or {}
    if not isinstance(raw, dict):
        raise bad("reasoning.settings must be an object of setting names and values", param="reasoning.settings")
    settings = {}
    for key, value in raw.items():
        param = f"reasoning.settings.{key}"
        if key not in fields:
            raise bad(f"method {name!r} has no setting {key!r}; its settings: {', '.join(sorted(fields))}", param=param)
        if key == "batch_size":
            raise bad("batch_size is an execution setting: the server batches requests itself", param=param)
        settings[key] = _typed(cls, key, value, param)
    if "seed" in settings:
        if seed is not None and settings["seed"] != seed:
            raise bad("seed is given twice, differently (top level and reasoning.settings)", param="seed")
        seed = settings.pop("seed")
    for field, setting in (("max_tokens", "max_new_tokens"), ("max_completion_tokens", "max_new_tokens"),
                           ("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(field) is None:
            continue
        if setting not in fields:
            raise bad(f"{field} does not apply to method {name!r} (it has no {setting} setting)", param=field)
        if setting in settings:
            raise bad(f"{field} and reasoning.settings.{setting} (or max_tokens and max_completion_tokens) are both "
                      "given; give one", param=field)
        value = body[field]
        if setting == "max_new_tokens":
            value = _int(body, field, 1, None)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad(f"{field} must be a number, got {value!r}", param=field)
        settings[setting] = value
    if reasoning.get("budget") is not None:
        if "budget" not in fields:
            raise bad(f"method {name!r} has no budget (methods with one: self-consistency, best-of-n, beam, "
                      "particle-filter, ..., budget-forcing)", param="reasoning.budget")
        if "budget" in settings:
            raise bad("budget is given twice (reasoning.budget and reasoning.settings.budget)", param="reasoning.budget")
        settings["budget"] = reasoning["budget"]
    if name == "route":   # the router is the server's: a request must not make it read a file of its choice
        if "router" in settings:
            raise bad("the router is the server's (leanthink serve --router FILE); a request cannot name one",
                      param="reasoning.settings.router")
        if ctx.router is None:
            raise bad("this server has no router: start it with --router FILE (from `leanthink train-router`)",
                      param="reasoning.method")
        settings["router"] = ctx.router
    _limits(cls, name, fields, settings, ctx)
    if "seed" in fields:
        settings["seed"] = 0   # a request's randomness rides in its problem id (seed-N), so batches can share a method
    try:
        method = get_method(name, **settings)
    except LeanthinkError as e:
        raise bad(str(e), param="reasoning.settings") from None
    if method.needs_scorer() and not ctx.has_scorer:
        raise bad(f"method {name!r} weighs with a PRM and this server has none: start it with --prm, or set "
                  "reasoning.settings.weights to \"self-certainty\"", param="reasoning.settings.weights")
    shown = {k: v for k, v in method.settings().items() if k not in ("batch_size", "seed")}
    return method, shown, seed


def _limits(cls, name: str, fields: set, settings: dict, ctx: Context) -> None:
    from ..methods.scaling.base import Scaling

    if "budget" in settings:
        b = settings["budget"]
        high = ctx.max_budget if issubclass(cls, Scaling) else ctx.max_tokens
        if isinstance(b, bool) or not isinstance(b, int) or not (1 if issubclass(cls, Scaling) else 0) <= b <= high:
            raise bad(f"budget must be an integer in [{1 if issubclass(cls, Scaling) else 0}, {high}] (this server's "
                      f"limit) for method {name!r}, got {b!r}", param="reasoning.budget", code="budget_out_of_range")
    if "max_new_tokens" in fields:
        if "max_new_tokens" not in settings:
            default = next(f.default for f in dataclasses.fields(cls) if f.name == "max_new_tokens")
            settings["max_new_tokens"] = min(default, ctx.max_tokens)
        elif settings["max_new_tokens"] > ctx.max_tokens:
            raise bad(f"max_tokens {settings['max_new_tokens']} is over this server's limit of {ctx.max_tokens}",
                      param="max_tokens", code="max_tokens_out_of_range")


def _typed(cls, key: str, value, param: str):
    """A setting's value as its field's type; strings are read as `--set KEY=VALUE` reads them."""
    kind = typing.get_type_hints(cls).get(key, str)
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    base = args[0] if args else kind
    if value is None and args:
        return None
    try:
        if isinstance(value, str) and base is not str:
            return parse_value(cls, key, value)
    except LeanthinkError as e:
        raise bad(str(e).replace("--set ", "setting "), param=param) from None
    ok = {bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    if base in ok and not ok[base](value):
        raise bad(f"setting {key!r} must be a {base.__name__}, got {value!r}", param=param)
    return value


def _int(body: dict, name: str, low: int, high: int | None):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        where = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise bad(f"{name} must be an integer {where}, got {value!r}", param=name)
    return value


def _flag(body: dict, name: str, param: str | None = None) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(f"{name} must be true or false, got {value!r}", param=param or name)
    return value


def _fixed(body: dict, name: str, allowed) -> None:
    """Fields accepted only at the value that means "the default" (n=1, echo=false, ...)."""
    value = body.get(name)
    if value is not None and (value != allowed or isinstance(value, bool) != isinstance(allowed, bool)):
        raise bad(f"{name}={value!r} is not supported by this server (only {allowed!r})", param=name)


def _logprobs(body: dict, endpoint: str) -> int | None:
    if endpoint == "chat":
        want = _flag(body, "logprobs")
        top = _int(body, "top_logprobs", 0, 20)
        if top is not None and not want:
            raise bad("top_logprobs needs logprobs: true", param="top_logprobs")
        return (top or 0) if want else None
    return _int(body, "logprobs", 0, 20)
