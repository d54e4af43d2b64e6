"""The built-in reasoners' tokenizer: byte-level BPE trained offline with `tokenizers`.

Byte-level so any text round-trips exactly (extraction reads the decoded output); digits are split
one per token so arithmetic is learnable digit by digit. Special tokens for later methods
(LightThinker's splitter, gist and output tokens; Coconut's latent markers; LiteReason's implicit
thought markers) are reserved now, so adding a method never resizes a shipped checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable

EOS = "<|endoftext|>"
PAD = "<|pad|>"
#: reserved for the methods that later issues build (kept stable: checkpoints depend on the ids)
RESERVED = (
    ["<w>", "[o]"] + [f"<c{i}>" for i in range(16)]            # LightThinker
    + ["<bot>", "<latent>", "<eot>"]                            # Coconut
    + ["<implicit_thought>", "</implicit_thought>"]             # LiteReason
    + [f"<|reserved_{i}|>" for i in range(8)]
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """Train the BPE and wrap it as a `PreTrainedTokenizerFast` (save with `save_pretrained`)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS, PAD] + RESERVED,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD,
        additional_special_tokens=RESERVED, clean_up_tokenization_spaces=False,
    )


#: what `save_pretrained` writes for this tokenizer (special_tokens_map.json only on older transformers)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def check_tokenizer_dir(flag: str, out) -> Path:
    """Before the (slow) training: `out` is a folder, or nothing yet, whose tokenizer files can be written."""
    from .. import checks

    out = checks.output_dir(flag, out)
    for name in TOKENIZER_FILES:
        checks.output_file(flag, out / name)
    return out


def save_tokenizer(tok, out) -> Path:
    """`save_pretrained` into a temp folder beside `out`, then move each file in: a failure part-way
    never leaves a tokenizer.json from one build next to a tokenizer_config.json from another."""
    import os
    import shutil
    import tempfile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".tokenizer."))
    try:
        tok.save_pretrained(tmp)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def builtin_corpus(seed: int = 0) -> list[str]:
    """Text the built-in tokenizer is trained on: generated task text plus plain English."""
    from ..tasks.arithmetic import SPLITS, ArithTask

    texts: list[str] = []
    arith = ArithTask(SPLITS["train"])
    for p in arith.load("train", limit=3000, seed=seed):
        texts.append(p.question + "\n" + arith.cot_target(p))
    texts += _prosqa_like(random.Random(seed), 3000)
    texts += _ENGLISH
    return texts


_ENGLISH = [
    "Question: Answer the question. Reasoning: think step by step. The final answer is",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "Every person is a student. Tom is a person. Is Tom a student or a teacher? Tom is a student.",
    "She sells the remainder at the market for $2 per egg. How much does she make every day?",
]


_NAMES = ["Tom", "Alex", "Davis", "Sally", "Max", "Jack", "Sam", "Rex", "Fae", "Polly", "Wren", "Stella",
          "Bob", "Amy", "Lily", "Ben", "Eva", "Leo", "Mia", "Zoe"]


def _prosqa_like(rng: random.Random, n: int) -> list[str]:
    """ProsQA-style sentences over made-up "-pus" words (the generator's vocabulary may differ; byte-level
    BPE encodes any word, these only teach it the common pieces)."""
    onsets = ["b", "br", "d", "f", "g", "gr", "j", "l", "r", "s", "sh", "sc", "scr", "st", "t", "w", "y",
              "z", "v", "k", "n", "h", "p", "bl", "gl", "sl", "sn", "tr", "dr", "kr"]
    words = [o + v + c + "pus" for o in onsets for v in "aeiou" for c in ("m", "r", "")]
    out = []
    for _ in range(n):
        sent = [f"Every {rng.choice(words)} is a {rng.choice(words)}." for _ in range(rng.randint(3, 12))]
        name = rng.choice(_NAMES)
        sent.insert(rng.randrange(len(sent)), f"{name} is a {rng.choice(words)}.")
        a, b = rng.choice(words), rng.choice(words)
        out.append(" ".join(sent) + f" Is {name} a {a} or {b}?\nReasoning:\n{name} is a {a}.\n"
                   f"{name}: {a}, {b}.\nAnswer: {name} is a {a}.")
    return out
