"""Coconut training (Hao et al. 2024, arXiv 2412.06769; ../shared/research.md §3): the multi-stage
curriculum in which stage k replaces the first k reasoning steps by k·c continuous thoughts.

An example of stage k (of N stages): the prompt, `<bot>`, k·c latent positions, `<eot>`, the steps
after the first k (none from stage N on: every step is then latent), the answer line and EOS. Every
example of a stage has the same k·c latents, also when its trace has fewer than k steps (the
reference's "pad latents to max"), so inference runs a fixed number of them. Loss is on what follows
`<eot>`; the markers and latents are never labels. A step is one line of the trace (the prompt
style's step delimiter); for ProsQA's `both` trace that is one "Who is a ..." lookup or one "So ..."
conclusion.

A latent position's input embedding is the final hidden state (after the final norm) at the position
before it, so a batch runs as 2 + k·c passes over one KV cache: the prefix up to `<bot>`, one pass per
latent, then the rest; gradients flow through the whole latent rollout. Prefixes are left-padded so
`<bot>` and the latents share columns across the batch. Written by hand: no library trains continuous
thoughts (the reference re-runs the whole prefix for every latent, without a cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch

from ..errors import LeanthinkError
from .lightthinker import IGNORE, add_tokens

MARKERS = ("<bot>", "<latent>", "<eot>")


@dataclass
class CoconutExample:
    prefix: list[int]
    """Prompt ids, then `<bot>`."""
    latents: int
    suffix: list[int]
    """`<eot>`, the language steps left, the answer, EOS."""
    labels: list[int]
    """One per suffix position: the token where loss applies, else IGNORE."""
    latent_labels: list[int] | None = None
    """One per latent: with latent supervision, the last latent of replaced step s (position s·c + c - 1)
    is labelled with the first token of that step's last word; the others IGNORE."""

    @property
    def ids(self) -> list[int]:   # what batching sorts by length
        return self.prefix + self.suffix


def split_steps(target: str, delimiter: str) -> tuple[list[str], str]:
    """(steps, final line) of a CoT target: the lines before the last, each keeping its delimiter."""
    body, _, final = target.rpartition(delimiter)
    if not body:
        return [], final
    parts = body.split(delimiter)
    return [p + delimiter for p in parts if p.strip()], final


@dataclass
class Recipe:
    """How `leanthink train --recipe coconut` turns a problem into an example; `stage` (1-based) is set
    by the trainer at the start of each `--split` stage."""

    bot: int
    eot: int
    per_step: int
    stages: int
    stage: int = 1
    supervise: float = 0.0
    """Weight of the latent-supervision loss (ours, not the paper's; 0 = Coconut as published): the
    continuous thought that ends a replaced step must predict, through the LM head, the key token of the
    step it replaces (its last word: the concept a ProsQA lookup finds, an arith step's result)."""
    name = "coconut"

    @property
    def latents(self) -> int:
        return min(self.stage, self.stages) * self.per_step

    def example(self, task, problem, mode: str, tokenizer, style) -> CoconutExample:
        """`mode` is not used: a Coconut example is always reasoning (latent, then language)."""
        def enc(text):
            return tokenizer(text, add_special_tokens=False)["input_ids"]

        steps, final = split_steps(style.completion(task, problem, "cot"), style.step_delimiter)
        kept = steps[self.stage:] if self.stage < self.stages else []
        rest = enc("".join(kept) + final) + [tokenizer.eos_token_id]
        latent_labels = [IGNORE] * self.latents
        if self.supervise:
            for s, step in enumerate(steps[:min(self.stage, self.stages)] if self.stage < self.stages else steps):
                if (s + 1) * self.per_step <= self.latents:
                    latent_labels[(s + 1) * self.per_step - 1] = key_token(step, tokenizer)
        return CoconutExample(prefix=enc(style.render(problem, "cot")) + [self.bot], latents=self.latents,
                              suffix=[self.eot] + rest, labels=[IGNORE] + rest, latent_labels=latent_labels)

    @staticmethod
    def collate(examples: list[CoconutExample], pad_id: int) -> dict[str, torch.Tensor]:
        if len({e.latents for e in examples}) != 1:
            raise LeanthinkError("a Coconut batch needs the same number of latents in every example")
        n, p, s = len(examples), max(len(e.prefix) for e in examples), max(len(e.suffix) for e in examples)
        out = {"prefix": torch.full((n, p), pad_id), "prefix_mask": torch.zeros((n, p), dtype=torch.long),
               "suffix": torch.full((n, s), pad_id), "suffix_mask": torch.zeros((n, s), dtype=torch.long),
               "labels": torch.full((n, s), IGNORE), "latents": torch.tensor(examples[0].latents)}
        if examples[0].latent_labels is not None:
            out["latent_labels"] = torch.tensor([e.latent_labels for e in examples]).reshape(n, examples[0].latents)
        for i, e in enumerate(examples):
            out["prefix"][i, p - len(e.prefix):] = torch.tensor(e.prefix)   # left-padded: <bot> in one column
            out["prefix_mask"][i, p - len(e.prefix):] = 1
            out["suffix"][i, :len(e.suffix)] = torch.tensor(e.suffix)
            out["suffix_mask"][i, :len(e.suffix)] = 1
            out["labels"][i, :len(e.labels)] = torch.tensor(e.labels)
        return out

    def forward(self, model):
        """The trainer's forward: `f(**batch).loss` (not compiled: the number of passes varies)."""
        def f(**batch):
            return SimpleNamespace(loss=coconut_loss(model, **batch, supervise=self.supervise))
        return f

    def meta(self) -> dict:
        return {"latents_per_step": self.per_step, "stages": self.stages, "latents": self.latents,
                "latent_supervision": self.supervise}


def key_token(step: str, tokenizer) -> int:
    """The first token of a step's last word (letters or digits), or IGNORE if it has none."""
    import re

    words = list(re.finditer(r"[A-Za-z0-9]+", step))
    if not words:
        return IGNORE
    start = words[-1].start()
    enc = tokenizer(step, add_special_tokens=False, return_offsets_mapping=True)
    for tok, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]):
        if a <= start < b:
            return tok
    return IGNORE


def rollout(model, prefix, prefix_mask, latents, suffix, suffix_mask, fed: list | None = None) -> torch.Tensor:
    """Final hidden states of the suffix positions after the prefix and `latents` continuous thoughts;
    `fed`, when a list, receives the embedding fed at each latent position (for tests)."""
    from transformers import DynamicCache

    decoder = model.get_decoder()
    cache = DynamicCache(config=model.config)
    mask = prefix_mask
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    h = decoder(input_ids=prefix, attention_mask=mask, position_ids=pos, cache=cache,
                use_cache=True).last_hidden_state[:, -1:]
    nxt = mask.sum(1, keepdim=True)
    ones = torch.ones_like(nxt)
    for _ in range(int(latents)):
        if fed is not None:
            fed.append(h[:, 0])
        mask = torch.cat([mask, ones], dim=1)
        h = decoder(inputs_embeds=h, attention_mask=mask, position_ids=nxt, cache=cache,
                    use_cache=True).last_hidden_state
        nxt = nxt + 1
    mask = torch.cat([mask, suffix_mask], dim=1)
    pos = nxt + torch.arange(suffix.shape[1])[None]
    return decoder(input_ids=suffix, attention_mask=mask, position_ids=pos, cache=cache,
                   use_cache=True).last_hidden_state


def coconut_loss(model, prefix, prefix_mask, latents, suffix, suffix_mask, labels, latent_labels=None,
                 supervise: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of the suffix tokens after `<eot>` (the model's own shift-by-one); with
    `supervise`, plus that weight times the cross-entropy of the labelled continuous thoughts."""
    fed: list = []
    h = rollout(model, prefix, prefix_mask, latents, suffix, suffix_mask, fed=fed)
    logits = model.lm_head(h[:, :-1]).float()
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                             ignore_index=IGNORE)
    if supervise and latent_labels is not None and fed and bool((latent_labels != IGNORE).any()):
        thought_logits = model.lm_head(torch.stack(fed, 1)).float()
        loss = loss + supervise * torch.nn.functional.cross_entropy(
            thought_logits.reshape(-1, thought_logits.shape[-1]), latent_labels.reshape(-1), ignore_index=IGNORE)
    return loss


def coconut_recipe(cfg, model, tokenizer) -> Recipe:
    add_tokens(model, tokenizer, list(MARKERS))
    bot, eot = tokenizer.convert_tokens_to_ids(["<bot>", "<eot>"])
    return Recipe(bot=bot, eot=eot, per_step=cfg.latents_per_step, stages=len(cfg.stages()),
                  supervise=cfg.latent_supervision)
