"""Process reward models in the Qwen2.5-Math-PRM format, scored incrementally on their own KV cache.

The format: a decoder (any Hugging Face base model, weights under `model.`) with a two-class head
`score` = Linear(H, H), ReLU, Linear(H, 2) applied to the final hidden state; the solution's steps are
joined by a separator token (`<extra_0>`) and each step's score is P(class 1) at the separator that
ends it. The input is the chat template with a system prompt, the question as the user turn and the
steps as the assistant turn (plain "question\\nReasoning:\\n" text for a PRM without a template).

Incremental scoring: the PRM keeps one cache row per policy row (following forks and resampling),
and each `score` call runs only the new step's tokens and its separator, not the whole prefix again.
Aggregations (how step scores become the solution's score, as in the particle-filtering paper):
`last`, `min`, `prod` over the per-step scores, or `model`: the whole prefix read as one step (the
separator is fed only to read the score and is then taken back out of the cache).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import LeanthinkError
from .base import EngineFollower, Scorer

AGGREGATIONS = ("last", "min", "prod", "model")
QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class PRMFormat:
    """How a solution is written for the PRM (stored under "prm" in the checkpoint's leanthink.json)."""

    step_separator: str = "<extra_0>"
    """Token that ends each step; its score is read there."""
    system: str | None = QWEN_PRM_SYSTEM
    """System prompt of the chat template (None: no system turn)."""
    chat: bool = True
    """Wrap question and steps in the tokenizer's chat template; else plain "question\\nReasoning:\\n"."""
    strip_steps: bool = True
    """Strip whitespace (the policy's step delimiter) around each step, as the PRM was trained."""


def reward_head(hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))


class ProcessRewardModel(Scorer):
    name = "prm"

    def __init__(self, engine, head: nn.Module, fmt: PRMFormat = PRMFormat(), aggregation: str = "model",
                 name: str = "prm"):
        if aggregation not in AGGREGATIONS:
            raise LeanthinkError(f"PRM aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
        self.engine, self.head, self.format, self.aggregation, self.name = engine, head.eval(), fmt, aggregation, name
        ids = engine.encode(fmt.step_separator)
        if len(ids) != 1:
            raise LeanthinkError(f"PRM {name!r}: step separator {fmt.step_separator!r} is {len(ids)} tokens, not one")
        self.separator = ids[0]

    @classmethod
    def load(cls, spec: str, aggregation: str = "model", device: str = "auto", dtype: str = "auto"
             ) -> "ProcessRewardModel":
        """Load a PRM directory (Qwen2.5-Math-PRM format; safetensors only)."""
        from ..engine.hf import HFEngine
        from ..engine.loading import DTYPES, quiet_transformers, resolve_device, resolve_dtype
        from ..models.registry import model_hash, read_meta, resolve_model
        from ..prompting import PromptStyle
        from transformers import AutoModel, AutoTokenizer

        directory = resolve_model(spec)
        device = resolve_device(device)
        torch_dtype = DTYPES[resolve_dtype(dtype, device)]
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(directory)
                base, info = AutoModel.from_pretrained(directory, dtype=torch_dtype, output_loading_info=True)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
            raise LeanthinkError(f"cannot load PRM from {directory}: {(str(e).splitlines() or [''])[0]}") from None
        if info.get("missing_keys") or info.get("mismatched_keys"):
            bad = sorted(info.get("missing_keys") or info.get("mismatched_keys"))
            raise LeanthinkError(f"PRM {directory}: {len(bad)} decoder tensor(s) missing or misshaped, e.g. {bad[0]}")
        head = reward_head(base.config.hidden_size)
        head.load_state_dict(_head_weights(directory), strict=True)
        meta = read_meta(directory).get("prm", {})
        fmt = PRMFormat(**{k: v for k, v in meta.items() if k in PRMFormat.__dataclass_fields__})
        engine = HFEngine(base.to(device), tokenizer, PromptStyle("plain"), name=spec,
                          model_hash=model_hash(directory), scorer=True)
        return cls(engine, head.to(device=device, dtype=torch_dtype), fmt, aggregation, name=spec)

    def identity(self) -> str:
        return f"{self.name}#{self.engine.model_hash}"

    # ---------------------------------------------------------------- scoring
    def prefix(self, question: str) -> str:
        """The PRM's input before the first step."""
        if not self.format.chat:
            return f"{question}\nReasoning:\n"
        tok = self.engine.tokenizer
        if not getattr(tok, "chat_template", None):
            raise LeanthinkError(f"PRM {self.name!r} has no chat template; set \"chat\": false in its leanthink.json")
        marker = "\x00STEPS\x00"
        messages = ([{"role": "system", "content": self.format.system}] if self.format.system else []) + [
            {"role": "user", "content": question}, {"role": "assistant", "content": marker}]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        return text[:text.index(marker)]

    def attach(self, seqs, problems, task=None, aggregation: str | None = None) -> None:
        agg = aggregation or self.aggregation
        if agg not in AGGREGATIONS:
            raise LeanthinkError(f"PRM aggregation must be one of {', '.join(AGGREGATIONS)}, got {agg!r}")
        if len(problems) != len(seqs):
            raise LeanthinkError(f"attach got {len(problems)} problems for {len(seqs)} rows")
        requests = [row.request for row in seqs.rows]   # one Usage per problem, for policy and PRM
        own = self.engine.prefill([self.prefix(p.question) for p in problems], requests=requests)
        seqs.followers.append(EngineFollower(self, self.engine, own, [{"scores": [], "agg": agg} for _ in problems]))

    @torch.no_grad()
    def score(self, seqs, steps: list[str | None]) -> list[float | None]:
        state = self._check(seqs, steps)
        todo = {r: self.engine.encode(self._step_text(state.data[r], s)) for r, s in enumerate(steps)
                if s is not None}
        if not todo:
            return [None] * len(steps)
        sep = [self.separator]
        whole = {r for r in todo if state.data[r]["agg"] == "model"}
        # `model` reads the prefix as one step, at a separator that is taken back out; the others keep it
        states = self.engine._probe(state.seqs, {r: sep for r in whole},
                                    keep={r: x + ([] if r in whole else sep) for r, x in todo.items()})
        out: list[float | None] = [None] * len(steps)
        for r in todo:
            hidden = states[r][0][-1]
            p = float(torch.softmax(self.head(hidden[None].to(self.head[0].weight.dtype)).float(), -1)[0, 1])
            history = state.data[r]["scores"]
            history.append(p)
            out[r] = aggregate(history, state.data[r]["agg"])
        return out


    @torch.no_grad()
    def score_texts(self, questions: list[str], solutions: list[str]) -> tuple[list[float], int]:
        """Scores of whole solutions read as one step each, from scratch in one batched pass (no cache
        kept): for callers that hand over text, not rows. Returns (scores, tokens run)."""
        texts = [self.prefix(q) + s.rstrip() + self.format.step_separator for q, s in zip(questions, solutions)]
        seqs = self.engine.prefill(texts)
        hidden = seqs.last_hidden.to(self.head[0].weight.dtype)
        scores = torch.softmax(self.head(hidden).float(), -1)[:, 1].tolist()
        return scores, sum(u.scorer_tokens for u in self.engine.usage(seqs))

    def _step_text(self, row: dict, step: str) -> str:
        """What the PRM reads for a new step. Separated steps are stripped (the separator replaces the
        policy's delimiter); for `model` the solution stays one text, so whitespace after a step is
        held back and fed before the next one (the separator that reads the score follows the step's
        last word, as in training)."""
        if not self.format.strip_steps:
            return step
        if row["agg"] != "model":
            return step.strip()
        body = step.rstrip()
        text, row["ws"] = row.get("ws", "") + body, step[len(body):]
        return text


def aggregate(scores: list[float], how: str) -> float:
    if how in ("last", "model"):
        return scores[-1]
    if how == "min":
        return min(scores)
    return math.prod(scores)


def _head_weights(directory: Path) -> dict:
    """The `score.*` tensors of a PRM checkpoint (single or sharded safetensors)."""
    from safetensors import safe_open

    index = directory / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    out = {}
    for name in files:
        with safe_open(directory / name, framework="pt") as f:
            for key in f.keys():
                if key.startswith("score."):
                    out[key.removeprefix("score.")] = f.get_tensor(key).float()
    if set(out) != {"0.weight", "0.bias", "2.weight", "2.bias"}:
        raise LeanthinkError(f"PRM {directory}: expected the head tensors score.0.weight, score.0.bias, "
                             f"score.2.weight, score.2.bias; found {sorted('score.' + k for k in out) or 'none'}")
    return out


def save_prm(base, head: nn.Module, tokenizer, out: Path, fmt: PRMFormat = PRMFormat(), meta: dict | None = None,
             dtype=torch.bfloat16) -> Path:
    """Write a PRM directory in the Qwen2.5-Math-PRM layout (decoder under `model.`, head under `score.`),
    weights in `dtype` (bfloat16, as the built-ins ship)."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cast = lambda v: v.detach().to(dtype).contiguous() if v.is_floating_point() else v.detach().contiguous()  # noqa: E731
    tensors = {f"model.{k}": cast(v) for k, v in base.state_dict().items()}
    tensors.update({f"score.{k}": cast(v) for k, v in head.state_dict().items()})
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    config = base.config.to_dict()
    config["architectures"] = [f"{type(base).__name__.removesuffix('Model')}ForProcessRewardModel"]
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str))
    tokenizer.save_pretrained(out)
    (out / "leanthink.json").write_text(json.dumps({**(meta or {}), "prm": fmt.__dict__}, indent=2))
    return out
