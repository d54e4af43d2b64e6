"""LightThinker training data (Zhang et al. 2025, ../shared/research.md §2): sequences, labels and the
attention mask under which one teacher-forced pass trains thought compression.

A sequence is the prompt, then for every thought S_i: S_i, the splitter `<w>`, the |C| cache tokens
`<c0>..`, the output token `[o]`; then the final answer and EOS. Loss is on the thoughts, `<w>` and the
answer (the model learns what to think and when to compress), never on C or `[o]`.

The mask is causal except that no position from `[o]_i` on sees S_i or `<w>_i`: C_i still reads the
thought it compresses, while `[o]_i` and everything after it read the thought only through C_i. This is
what inference with eviction computes, so one masked pass trains exactly the model that inference runs.
Written by hand because no library builds this mask (transformers takes it as a 4D tensor).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import LeanthinkError

IGNORE = -100


@dataclass(frozen=True)
class Markers:
    """Token ids of the LightThinker markers."""

    splitter: int
    cache: tuple[int, ...]
    output: int

    @classmethod
    def from_tokenizer(cls, tokenizer, cache_tokens: int) -> "Markers":
        names = ["<w>", "[o]"] + [f"<c{i}>" for i in range(cache_tokens)]
        ids = tokenizer.convert_tokens_to_ids(names)
        missing = [n for n, i in zip(names, ids) if i is None or i == tokenizer.unk_token_id]
        if missing:
            raise LeanthinkError(f"the tokenizer has no {', '.join(missing)} token(s); add them first "
                                 "(add_marker_tokens) or use fewer --cache-tokens")
        return cls(splitter=ids[0], output=ids[1], cache=tuple(ids[2:]))


@dataclass(frozen=True)
class Thought:
    """Positions of one compressed thought in a sequence."""

    start: int
    """First token of S_i."""
    splitter: int
    """Position of `<w>_i` (S_i is start..splitter-1)."""
    output: int
    """Position of `[o]_i` (C_i is splitter+1..output-1)."""


@dataclass
class Example:
    ids: list[int]
    labels: list[int]
    thoughts: list[Thought]
    prompt_len: int


def segment_thoughts(reasoning: str, delimiter: str = "\n") -> list[str]:
    """Thought-level segmentation: the reasoning cut after every delimiter, each piece keeping its
    delimiter (the model writes the delimiter, then `<w>`). Empty pieces are dropped."""
    if not delimiter:
        raise LeanthinkError("thought segmentation needs a non-empty step delimiter")
    parts = reasoning.split(delimiter)
    pieces = [p + delimiter for p in parts[:-1]] + [parts[-1]]
    return [p for p in pieces if p.strip()]


def segment_tokens(ids: list[int], every: int) -> list[list[int]]:
    """Token-level segmentation: a thought every `every` tokens (the last one may be shorter)."""
    if every < 1:
        raise LeanthinkError(f"token-level segmentation needs every >= 1, got {every}")
    return [ids[i:i + every] for i in range(0, len(ids), every)]


def build_example(prompt: list[int], thoughts: list[list[int]], final: list[int], markers: Markers) -> Example:
    """The training sequence and labels (labels are the input ids where loss applies, else IGNORE;
    the model shifts them itself)."""
    ids, labels, spans = list(prompt), [IGNORE] * len(prompt), []
    for s in thoughts:
        if not s:
            continue
        start = len(ids)
        ids += s + [markers.splitter]
        labels += s + [markers.splitter]
        ids += list(markers.cache)
        labels += [IGNORE] * len(markers.cache)
        spans.append(Thought(start=start, splitter=start + len(s), output=len(ids)))
        ids.append(markers.output)
        labels.append(IGNORE)
    ids += final
    labels += final
    return Example(ids, labels, spans, len(prompt))


def visibility(length: int, thoughts: list[Thought]) -> torch.Tensor:
    """(length, length) bool: may position q attend to position k. Causal, minus S_i and `<w>_i` for
    every position from `[o]_i` on."""
    allowed = torch.ones((length, length), dtype=torch.bool).tril()
    for t in thoughts:
        allowed[t.output:, t.start:t.splitter + 1] = False
    return allowed


def batch_masks(examples: list[Example], width: int) -> torch.Tensor:
    """The 4D boolean mask (batch, 1, width, width) of right-padded examples, True where attention is
    allowed (transformers passes a 4D mask to the attention as it is). A padded query row sees its own
    position only, so no row of the softmax is empty."""
    out = torch.zeros((len(examples), 1, width, width), dtype=torch.bool)
    eye = torch.eye(width, dtype=torch.bool)
    for b, ex in enumerate(examples):
        n = len(ex.ids)
        out[b, 0, :n, :n] = visibility(n, ex.thoughts)
        out[b, 0] |= eye
    return out


def add_marker_tokens(model, tokenizer, cache_tokens: int) -> int:
    """Give a tokenizer (and the model's embeddings) the markers it lacks; new rows start at the mean
    of the existing embeddings, so a new marker begins as an average token rather than noise. Returns
    how many were added (the built-in tokenizer reserves them all: 0)."""
    return add_tokens(model, tokenizer, ["<w>", "[o]"] + [f"<c{i}>" for i in range(cache_tokens)])


def add_tokens(model, tokenizer, names: list[str]) -> int:
    """Add the special tokens in `names` that the tokenizer lacks, embeddings at the mean (see above)."""
    vocab = tokenizer.get_vocab()
    missing = [n for n in names if n not in vocab]
    if not missing:
        return 0
    tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_additional_special_tokens=False)
    old = model.get_input_embeddings().weight.shape[0]
    from ..engine.loading import quiet_transformers

    with quiet_transformers():
        model.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():
        for emb in {id(e): e for e in (model.get_input_embeddings(), model.get_output_embeddings()) if e is not None}.values():
            emb.weight[old:] = emb.weight[:old].mean(0)
    return len(missing)


@dataclass(frozen=True)
class Recipe:
    """How `leanthink train --recipe lightthinker` turns a problem into a training example."""

    markers: Markers
    segment_every: int = 0
    name = "lightthinker"

    def example(self, task, problem, mode: str, tokenizer, style) -> Example:
        """Prompt, then the trace's thoughts (its lines, or every k tokens), each followed by `<w>`, C
        and `[o]`; the final answer line and EOS end it uncompressed. Direct examples have no thoughts.
        (A task's `loss_spans` are not used: the loss covers every thought.)"""
        def enc(text):
            return tokenizer(text, add_special_tokens=False)["input_ids"]

        prompt = enc(style.render(problem, mode))
        target = style.completion(task, problem, mode)
        body, _, last = target.rpartition(style.step_delimiter) if mode == "cot" else ("", "", target)
        if body:
            body += style.step_delimiter
        final = enc(last) + [tokenizer.eos_token_id]
        if self.segment_every:
            thoughts = segment_tokens(enc(body), self.segment_every) if body else []
        else:
            thoughts = [enc(t) for t in segment_thoughts(body, style.step_delimiter)] if body else []
        return build_example(prompt, thoughts, final, self.markers)

    @staticmethod
    def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
        width = max(len(e.ids) for e in examples)
        ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, :len(e.ids)] = torch.tensor(e.ids)
            labels[i, :len(e.labels)] = torch.tensor(e.labels)
        return {"input_ids": ids, "labels": labels, "attention_mask": batch_masks(examples, width)}

    def meta(self) -> dict:
        return {"cache_tokens": len(self.markers.cache), "segment_every": self.segment_every}


def recipe_for(cfg, model, tokenizer) -> Recipe | None:
    """The LightThinker recipe of a `leanthink train` run (None for plain SFT); adds the markers a
    tokenizer lacks."""
    if cfg.recipe != "lightthinker":
        return None
    add_marker_tokens(model, tokenizer, cfg.cache_tokens)
    return Recipe(Markers.from_tokenizer(tokenizer, cfg.cache_tokens), cfg.segment_every)
