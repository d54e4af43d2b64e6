"""Engines that hold text, not a KV cache: any OpenAI-compatible server (`openai:URL#MODEL`), and
the base that the vLLM engine (vllm.py) shares.

A row here is its prompt and the text it has so far. `extend` sends each asked row's whole text as a
new prompt (the way its_hub and the particle-filtering reference drive a server; a server with prefix
caching, such as vLLM, does not recompute the shared part) and appends what comes back. So the row
verbs that only move text work: `append` forced text, `rewind`, and `fork`/`select`/`drop`/`split`/
`copy`/`merge`, which copy text instead of KV caches. That covers the methods that only generate:
cot, direct, self-consistency, best-of-n (with a local PRM or the self-certainty weights, which need
the server's logprobs), beam, DVTS, particle filtering, budget forcing, early exit. Verbs that need
the cache itself (`evict`, `latent_steps`) or prompt logprobs (`score`) are not offered, so
LightThinker, H2O, Coconut, LiteReason and particle Gibbs fail at configuration time with one line.

Stop tokens (budget forcing's end marker) become stop strings of their text (`token_id` hands out
stand-in ids for that), so a remote stop also fires inside a longer token. Counters the client
cannot see are reported as unknown (None), never as zero: forward tokens, peak, Dep and model calls
depend on the server's batching and cache. Prompt tokens (the first call's prompt, once per request),
generated tokens (the server's completion_tokens), wall time and a local PRM's counters are measured.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ..errors import LeanthinkError, UnsupportedVerb
from ..prompting import PromptStyle
from .base import BASIC, Engine, RowViews
from .params import Completion, SamplingParams
from .sampling import stream_seed
from .usage import Request, Usage

TEXT_VERBS = BASIC | {"append", "rewind", "fork", "select", "drop", "split", "copy", "merge"}
#: counters a text engine cannot measure (the server's batching and cache decide them)
UNKNOWN = ("forward_tokens", "peak_tokens", "dep", "model_calls")
_MARKER_BASE = 1 << 40   # stand-in ids of stop tokens, far above any vocabulary


class TextRow:
    __slots__ = ("request", "prompt", "text", "seed", "splits", "calls", "finished", "chunk", "tokens")

    def __init__(self, request: Request, prompt: str, seed: int):
        self.request, self.prompt, self.seed = request, prompt, seed
        self.text = ""          # everything after the prompt: generated and forced text
        self.splits = self.calls = 0
        self.finished = False
        self.chunk = 0          # characters of the latest extend's text (what rewind may take back)
        self.tokens = 0         # tokens in context after the latest call, as the server counted them

    def clone(self, seed: int) -> "TextRow":
        r = TextRow(self.request, self.prompt, seed)
        r.text, r.finished, r.chunk, r.tokens = self.text, self.finished, self.chunk, self.tokens
        return r


class TextSequences(RowViews):
    """The opaque handle of a text engine; methods read `len()`, `request_key(i)`, `finished(i)`,
    `num_tokens(i)` and `next_position(i)`. Followers (a local PRM's rows) replay every row operation."""

    def __init__(self, engine, rows: list[TextRow]):
        self.engine, self.rows, self.followers = engine, rows, []
        self.requests: dict[int, Request] = {}
        for row in rows:
            self.requests.setdefault(id(row.request), row.request)

    def num_tokens(self, i: int) -> int:
        """Tokens in row i's context after its latest call, as the server counted them (text appended
        since is not counted until the next call)."""
        return self.rows[i].tokens

    def next_position(self, i: int) -> int:
        return self.rows[i].tokens

    def token_ids(self, i: int) -> list[int]:
        raise UnsupportedVerb("a text engine does not see token ids")

    def check_rows(self, rows, verb: str) -> list[int]:
        rows = list(range(len(self.rows))) if rows is None else list(rows)
        if any(isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < len(self.rows) for r in rows):
            raise LeanthinkError(f"{verb}: rows must be indices in [0, {len(self.rows)}), got {rows[:8]}")
        return rows

    def _copies(self, rows: list[int], all_fresh: bool) -> list[TextRow]:
        """Rows for `rows`; a row used k > 1 times (or every row, `all_fresh`) gives fresh seeds."""
        counts, seen, out = Counter(rows), Counter(), []
        for r in rows:
            row = self.rows[r]
            if all_fresh or counts[r] > 1:
                out.append(row.clone(stream_seed(row.seed, row.splits, seen[r])))
            else:
                out.append(row)
            seen[r] += 1
        for r in counts:
            if all_fresh or counts[r] > 1:
                self.rows[r].splits += 1
        return out

    def reindex(self, rows: list[int]) -> None:
        self.rows = self._copies(rows, all_fresh=False)
        for f in self.followers:
            f.reindex(rows)

    def take(self, rows: list[int], move: bool) -> "TextSequences":
        other = TextSequences(self.engine, [self.rows[r] for r in rows] if move else self._copies(rows, True))
        other.followers = [f.take(rows, move) for f in self.followers]
        if move:
            gone = set(rows)
            self.rows = [row for r, row in enumerate(self.rows) if r not in gone]
        return other

    def merge(self, other: "TextSequences") -> None:
        if other is self or other.engine is not self.engine:
            raise LeanthinkError("merge: the handles must be different handles of one engine")
        if len(self.followers) != len(other.followers):
            raise LeanthinkError("merge: one handle has a scorer attached and the other does not")
        self.rows += other.rows
        for row in other.rows:
            self.requests.setdefault(id(row.request), row.request)
        for f, g in zip(self.followers, other.followers):
            f.merge(g)
        other.rows, other.followers = [], []


@dataclass
class Generated:
    """What the backend returned for one row."""

    text: str                     # the new text, without a stop string
    finish: str                   # "eos", "stop" or "length"
    stop: str | None = None       # the stop string that ended it
    prompt_tokens: int = 0
    completion_tokens: int = 0    # EOS included
    logprobs: list[float] | None = None


class TextEngine(Engine):
    """Rows of text over a generation backend; subclasses implement `_generate`."""

    capabilities = TEXT_VERBS
    kind = "text"
    device_type, dtype_name, model_hash, tokenizer = "remote", "unknown", "", None

    def __init__(self, name: str, prompt_style: PromptStyle, max_context: int):
        self.name, self.prompt_style, self.max_context = name, prompt_style, max_context
        self.meta: dict = {}
        self._markers: dict[int, str] = {}

    def _generate(self, items: list[tuple[TextRow, SamplingParams]]) -> list[Generated]:
        raise NotImplementedError

    def token_id(self, text: str) -> int:
        """A stand-in id for a marker, usable only as a stop token (it stops on the marker's text)."""
        for i, t in self._markers.items():
            if t == text:
                return i
        i = _MARKER_BASE + len(self._markers)
        self._markers[i] = text
        return i

    def prefill(self, prompts: list[str], seeds: list[int] | None = None, keys: list | None = None,
                requests: list[Request] | None = None, attention: bool = False) -> TextSequences:
        n = len(prompts)
        if not n or any(not isinstance(p, str) or not p for p in prompts):
            raise LeanthinkError("prefill needs at least one prompt, and no empty ones")
        if attention:
            self._unsupported("track attention")
        seeds = [stream_seed(i) for i in range(n)] if seeds is None else list(seeds)
        keys = list(range(n)) if keys is None else list(keys)
        shared: dict = {}
        rows = [TextRow(requests[i] if requests is not None else shared.setdefault(keys[i], Request(keys[i])),
                        prompts[i], seeds[i]) for i in range(n)]
        return TextSequences(self, rows)

    def extend(self, seqs: TextSequences, params, rows: list[int] | None = None) -> list[Completion]:
        import time

        asked = seqs.check_rows(rows, "extend")
        plist = [params] * len(asked) if isinstance(params, SamplingParams) else list(params)
        if len(plist) != len(asked) or not all(isinstance(p, SamplingParams) for p in plist):
            raise LeanthinkError(f"extend: give one SamplingParams, or one per row asked ({len(asked)})")
        out, todo = {}, []
        for r, p in zip(asked, plist):
            if seqs.rows[r].finished:
                out[r] = Completion(text="", finish_reason="done")
            else:
                todo.append((r, self._text_params(p)))
        for r, _ in todo:
            seqs.rows[r].request.touch(time.perf_counter())
        results = self._generate([(seqs.rows[r], p) for r, p in todo]) if todo else []
        for (r, p), g in zip(todo, results):
            row, u = seqs.rows[r], seqs.rows[r].request.usage
            if row.calls == 0 and not row.text:
                u.prompt_tokens = max(u.prompt_tokens, g.prompt_tokens)   # once per request: forks share it
            u.generated_tokens += g.completion_tokens
            row.calls += 1
            text = g.text + (g.stop or "")
            row.text += text
            row.chunk = len(text)
            row.finished = g.finish == "eos"
            kept = g.completion_tokens - (g.finish == "eos")
            row.tokens = g.prompt_tokens + kept
            out[r] = Completion(text=text, token_ids=[-1] * kept, finish_reason=g.finish, stop=g.stop,
                                logprobs=list(g.logprobs or []))
            row.request.touch(time.perf_counter())
        return [out[r] for r in asked]

    def _text_params(self, p: SamplingParams) -> SamplingParams:
        """`p` with stop tokens turned into stop strings; controls that need token ids are refused."""
        if p.banned_token_ids or p.allowed_token_ids or p.logit_bias or p.logprobs or p.entropy:
            self._unsupported("ban, allow or bias token ids, or return top-k logprobs or entropies")
        stops = list(p.stop)
        for t in p.stop_token_ids:
            if t not in self._markers:
                self._unsupported(f"stop on token id {t} (only markers from token_id() become stop strings)")
            stops.append(self._markers[t])
        return replace(p, stop=tuple(dict.fromkeys(stops)), stop_token_ids=())

    def append(self, seqs: TextSequences, texts: list[str | None], defer: bool = False) -> None:
        if len(texts) != len(seqs):
            raise LeanthinkError(f"append got {len(texts)} texts for {len(seqs)} rows")
        for r, t in enumerate(texts):
            if t:
                if seqs.rows[r].finished:
                    raise LeanthinkError(f"row {r} has finished (EOS); it cannot take more text")
                seqs.rows[r].text += t
                seqs.rows[r].chunk = 0

    def rewind(self, seqs: TextSequences, row: int, chars: int) -> None:
        seqs.check_rows([row], "rewind")
        r = seqs.rows[row]
        if isinstance(chars, bool) or not isinstance(chars, int) or not 0 < chars <= r.chunk:
            raise LeanthinkError(f"rewind: row {row} can take back 1..{r.chunk} characters (its latest decoded "
                                 f"chunk), got {chars!r}")
        r.text, r.chunk = r.text[:-chars], r.chunk - chars

    def fork(self, seqs, n: int):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise LeanthinkError(f"fork needs an integer n >= 1, got {n!r}")
        seqs.reindex([r for r in range(len(seqs)) for _ in range(n)])
        return seqs

    def select(self, seqs, rows):
        seqs.reindex(seqs.check_rows(rows, "select"))
        return seqs

    def drop(self, seqs, rows):
        gone = set(seqs.check_rows(rows, "drop"))
        seqs.reindex([r for r in range(len(seqs)) if r not in gone])
        return seqs

    def split(self, seqs, rows):
        return seqs.take(seqs.check_rows(rows, "split"), move=True)

    def copy(self, seqs, rows=None):
        return seqs.take(seqs.check_rows(rows, "copy"), move=False)

    def merge(self, seqs, other):
        seqs.merge(other)
        return seqs

    def usage(self, seqs: TextSequences) -> list[Usage]:
        """Per request, with the counters this engine cannot measure set to None (unknown)."""
        return [replace(req.usage, **dict.fromkeys(UNKNOWN)) for req in seqs.requests.values()]


class RemoteEngine(TextEngine):
    """An OpenAI-compatible server's /v1/completions (`openai:URL#MODEL`; the key from
    LEANTHINK_REMOTE_API_KEY or OPENAI_API_KEY)."""

    kind = "remote OpenAI-compatible"
    capabilities = TEXT_VERBS | {"logprobs"}   # logprobs: if the server returns them (probed at load)

    def __init__(self, client, url: str, model: str, prompt_style: PromptStyle, max_context: int, name: str):
        super().__init__(name, prompt_style, max_context)
        self.client, self.url, self.model = client, url, model
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="leanthink-remote")

    @classmethod
    def load(cls, spec: str, device: str = "auto", dtype: str = "auto", prompt_style: str | None = None,
             max_context: int | None = None, **style_options) -> "RemoteEngine":
        url, _, model = spec.removeprefix("openai:").partition("#")
        if not url.startswith(("http://", "https://")):
            raise LeanthinkError(f"--model {spec}: expected openai:URL#MODEL, e.g. openai:http://127.0.0.1:8000/v1#NAME")
        if device != "auto" or dtype != "auto":
            raise LeanthinkError(f"--device and --dtype do not apply to a remote model ({spec}); the server decides")
        try:
            import openai
        except ImportError:
            raise LeanthinkError("a remote model needs the openai client: pip install 'leanthink[serve]'") from None
        key = os.environ.get("LEANTHINK_REMOTE_API_KEY") or os.environ.get("OPENAI_API_KEY") or "none"
        client = openai.OpenAI(base_url=url, api_key=key, timeout=600.0, max_retries=2)
        try:
            cards = {m.id: m for m in client.models.list().data}
        except openai.OpenAIError as e:
            raise LeanthinkError(f"--model {spec}: cannot list the models of {url}: {_first_line(e)}") from None
        if not model:
            if len(cards) != 1:
                raise LeanthinkError(f"--model {spec}: the server serves {sorted(cards)}; name one after '#'")
            model = next(iter(cards))
        if model not in cards:
            raise LeanthinkError(f"--model {spec}: the server at {url} does not serve {model!r} (it serves "
                                 f"{', '.join(sorted(cards)) or 'nothing'})")
        card = cards[model].model_extra or {}
        style = prompt_style or (card.get("leanthink") or {}).get("prompt_style") or "completion"
        if style == "chat":
            raise LeanthinkError(f"--model {spec}: the chat prompt style needs the model's chat template, which a "
                                 "remote engine does not have; give --prompt-style completion (or plain)")
        engine = cls(client, url, model, PromptStyle(style, **style_options),
                     max_context or int(card.get("max_model_len") or 1 << 20), name=spec)
        engine._probe()
        return engine

    def _probe(self) -> None:
        """One 1-token completion: does the server answer, and does it return logprobs?"""
        g = self._call(TextRow(Request("probe"), "Hello", 0), SamplingParams(max_new_tokens=1))
        if not g.logprobs:
            self.capabilities = TEXT_VERBS

    def _generate(self, items):
        return list(self._pool.map(lambda item: self._call(*item), items))

    def _call(self, row: TextRow, p: SamplingParams) -> Generated:
        import openai

        extra = {k: v for k, v in (("top_k", p.top_k), ("min_tokens", p.min_new_tokens), ("ignore_eos", p.ignore_eos))
                 if v}
        try:
            resp = self.client.completions.create(
                model=self.model, prompt=row.prompt + row.text, max_tokens=p.max_new_tokens, temperature=p.temperature,
                top_p=p.top_p, stop=list(p.stop) or None, logprobs=0,   # 0: the sampled tokens' only
                seed=stream_seed(row.seed, row.calls) if p.temperature > 0 else None, extra_body=extra or None)
        except openai.OpenAIError as e:
            raise LeanthinkError(f"the server at {self.url} failed a completion: {_first_line(e)}") from None
        choice = resp.choices[0]
        extra_fields = choice.model_extra or {}
        finish, stop = choice.finish_reason, None
        if finish == "stop":
            if "stop_reason" in extra_fields:           # leanthink serve and vLLM say which stop fired
                stop = extra_fields["stop_reason"] if isinstance(extra_fields["stop_reason"], str) else None
            elif len(p.stop) == 1:                      # other servers: with one stop string, assume it
                stop = p.stop[0]
            elif p.stop:
                raise LeanthinkError(f"the server at {self.url} does not say which of several stop strings ended a "
                                     "completion (no stop_reason); use one stop string or a server that reports it")
            finish = "stop" if stop is not None else "eos"
        elif finish != "length":
            finish = "eos"
        lp = choice.logprobs.token_logprobs if choice.logprobs is not None else None
        usage = resp.usage
        return Generated(text=choice.text, finish=finish, stop=stop,
                         prompt_tokens=usage.prompt_tokens if usage else 0,
                         completion_tokens=usage.completion_tokens if usage else 0,
                         logprobs=[x for x in lp if x is not None] if lp else None)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
