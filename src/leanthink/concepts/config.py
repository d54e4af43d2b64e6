"""Settings of the concept models: data, model and training, as frozen dataclasses.

Defaults follow the paper's MNIST odd/even recipe where it has one (2 transformer layers, 2 heads,
MLP ratio 1, Adam lr 1e-3, batch 32, λ_expl = 2); sizes are shrunk so one run takes seconds on a
CPU core. Every field is checked in `__post_init__`, and a bad value raises `LeanthinkError`
naming the field and the allowed range, so the CLI can print it as one line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from leanthink import checks
from leanthink.errors import LeanthinkError

MODEL_KINDS = ("cct", "ct", "plain")
SLOT_VARIANTS = ("sa", "isa", "boqsa")
STREAMS = ("both", "global", "spatial")
DATASETS = ("digits", "shapes", "scenes")
TASKS = {
    "digits": ("parity", "mod3", "lt5"),
    "shapes": ("red_square", "circle_and_triangle"),
    "scenes": ("species",),
}
SPLITS = ("test", "val")
#: sklearn's digits has 1797 images; this many are held out as the fixed test split.
DIGITS_TEST_SIZE = 500
DIGITS_TOTAL = 1797
#: with split="val" this many images of the digits training pool are held out for validation.
DIGITS_VAL_SIZE = 300


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise LeanthinkError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")


# Ranges go through leanthink.checks: they also refuse NaN/inf, bools and strings (a hand-edited
# config.json), which plain comparisons would let through or turn into a TypeError.
_int, _float = checks.integer, checks.number


def from_dict(cls, data):
    """Rebuild a config from its JSON form, naming any unknown key (a checkpoint from another version)."""
    if not isinstance(data, dict):
        raise LeanthinkError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise LeanthinkError(f"{cls.__name__} has no field(s) {sorted(unknown)}; known fields: {sorted(known)}")
    return cls(**data)


def to_dict(cfg) -> dict:
    return asdict(cfg)


@dataclass(frozen=True)
class DataConfig:
    """Which data set and labelling rule, and how much of it."""

    dataset: str = "digits"
    """`digits` (sklearn's 8×8 digits, concept = the digit), `shapes` (synthetic canvases) or `scenes`
    (CUB-like: 2-4 objects with 9 attributes, the class a bound colour+kind pair)."""
    task: str = "parity"
    """Label rule. digits: parity (odd/even), mod3 (digit mod 3, a 3-way super-class), lt5 (digit < 5);
    shapes: red_square (is there a red square?), circle_and_triangle (both a circle and a triangle?);
    scenes: species (which of 4 signature objects is in the image)."""
    n_train: int = 1000
    """Training examples. digits: at most 1297 (the rest is the fixed test split)."""
    n_test: int = 500
    """Test examples. digits: fixed at 500 held-out images (the value must be 500); shapes: generated."""
    concept_fraction: float = 1.0
    """Share of training examples that carry concept labels; the rest train only the sparsity term."""
    seed: int = 0
    """Chooses the training subset (digits) or generates the training canvases (shapes). The test split
    never depends on it, so every run is scored on the same images."""
    canvas: int = 24
    """shapes only: canvas side in pixels (a multiple of `patch`)."""
    patch: int = 0
    """Patch side in pixels; 0 picks the data set's own: 2 for digits (16 patches of the 8×8 image),
    4 for shapes and scenes (36 patches of the 24×24 canvas)."""
    split: str = "test"
    """Held-out split that is scored: `test`, or `val` for tuning (digits: 300 images of the training
    pool, which training then never draws from; shapes/scenes: canvases from their own fixed seed)."""

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("task", self.task, TASKS[self.dataset])
        check_choice("split", self.split, SPLITS)
        _float("concept_fraction", self.concept_fraction, 0.0, 1.0)
        max_train = 100_000
        if self.dataset == "digits":
            max_train = DIGITS_TOTAL - DIGITS_TEST_SIZE - (DIGITS_VAL_SIZE if self.split == "val" else 0)
        _int("n_train", self.n_train, 1, max_train)
        _int("n_test", self.n_test)
        checks.seed("seed", self.seed)
        _int("canvas", self.canvas)
        _int("patch", self.patch, 0)
        if self.patch == 0:  # frozen, so the resolved default is written once, here
            object.__setattr__(self, "patch", 2 if self.dataset == "digits" else 4)
        if self.dataset == "digits":
            if self.n_test != DIGITS_TEST_SIZE:
                raise LeanthinkError(f"n_test={self.n_test} is not allowed for digits; the held-out split is fixed "
                                     f"at {DIGITS_TEST_SIZE}")
            if 8 % self.patch:
                raise LeanthinkError(f"patch={self.patch} must divide the 8-pixel digits image (1, 2, 4 or 8)")
        else:
            _int("n_test", self.n_test, 1, 100_000)
            _int("canvas", self.canvas, 12, 64)
            if self.canvas % self.patch:
                raise LeanthinkError(f"patch={self.patch} must be >= 1 and divide canvas={self.canvas}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. Sizes of the data (image, channels, classes, concepts) are filled in by `train`."""

    kind: str = "cct"
    """`cct` (slot-attention concept workspace), `ct` (Concept Transformer: learned concept embeddings)
    or `plain` (backbone + linear head, no concepts)."""
    slots: str = "sa"
    """cct only: how slots are written. sa (random init, GRU update), isa (learned init, iterations
    detached, one gradient step), boqsa (learned queries, straight-through last step)."""
    slot_iters: int = 3
    """Slot-attention iterations (Locatello et al. use 3; ISA/BO-QSA need >= 2 to differ from SA)."""
    dim: int = 64
    """Token width (the paper's MNIST model uses 128; 64 is enough for 8×8 images and twice as fast)."""
    depth: int = 2
    """Transformer layers in the backbone (paper's MNIST model: 2)."""
    heads: int = 2
    """Heads in backbone and concept cross-attention (paper's MNIST model: 2)."""
    mlp_ratio: float = 1.0
    """Hidden width of the backbone MLP relative to `dim` (paper's MNIST model: 1)."""
    dropout: float = 0.1
    """Dropout on attention weights and residual branches (paper: 0.1)."""
    image_size: int = 8
    """Image side in pixels (set from the data)."""
    channels: int = 1
    """Image channels (set from the data)."""
    patch: int = 2
    """Patch side in pixels (set from the data)."""
    n_classes: int = 2
    """Output classes (set from the data)."""
    n_concepts: int = 10
    """Concept slots C, one per named concept (set from the data)."""
    streams: str = "both"
    """Which cross-attention streams make the logits: both (paper), global (CLS only) or spatial
    (patches only). An ablation switch; the attention of a dropped stream is still computed and
    supervised, so explanations exist either way."""

    def __post_init__(self):
        check_choice("kind", self.kind, MODEL_KINDS)
        check_choice("streams", self.streams, STREAMS)
        check_choice("slots", self.slots, SLOT_VARIANTS)
        _int("slot_iters", self.slot_iters, 1, 20)
        _int("dim", self.dim, 4, 1024)
        _int("depth", self.depth, 0, 24)
        _int("heads", self.heads, 1, 64)
        if self.dim % self.heads:
            raise LeanthinkError(f"dim={self.dim} must be divisible by heads={self.heads}")
        _float("mlp_ratio", self.mlp_ratio, 0.0, 16.0, low_open=True)
        _float("dropout", self.dropout, 0.0, 0.9)
        _int("image_size", self.image_size, 1, 4096)
        _int("channels", self.channels, 1, 64)
        _int("n_classes", self.n_classes, 2, 10_000)
        _int("n_concepts", self.n_concepts, 1, 10_000)
        _int("patch", self.patch, 1)
        if self.image_size % self.patch:
            raise LeanthinkError(f"patch={self.patch} must be >= 1 and divide image_size={self.image_size}")

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch) ** 2


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loss weights."""

    steps: int = 1500
    """Optimizer steps. Fixed in steps, not epochs, so a 50-example run gets as many updates as a
    1000-example run and the sample-efficiency curve measures data, not compute."""
    batch_size: int = 32
    """Examples per step (paper: 32); a training set smaller than this is used whole."""
    lr: float = 1e-3
    """Peak Adam learning rate (paper: 1e-3), reached after `warmup` and decayed by a cosine."""
    warmup: float = 0.1
    """Share of `steps` spent warming the learning rate up linearly (the paper warms up 20 of 150 epochs)."""
    weight_decay: float = 1e-3
    """AdamW weight decay (small: the models are tiny)."""
    expl_lambda: float = 2.0
    """λ_expl: weight of C·MSE(attention, ground-truth concept distribution) (paper's MNIST script: 2)."""
    sparse_lambda: float = 0.0
    """λ_sparse: weight of the entropy of the concept attention. The paper tunes it per data set and
    its MNIST script leaves it out, so 0 here; unlabelled examples only feel this term."""
    seed: int = 0
    """Initial weights, dropout and batch order."""
    eval_every: int = 0
    """Evaluate on the test split every this many steps (0: only at the end)."""

    def __post_init__(self):
        _int("steps", self.steps, 1, 10_000_000)
        _int("batch_size", self.batch_size, 1, 65_536)
        _float("lr", self.lr, 0.0, 1.0, low_open=True)
        _float("warmup", self.warmup, 0.0, 1.0)
        _float("weight_decay", self.weight_decay, 0.0, 10.0)
        _float("expl_lambda", self.expl_lambda, 0.0, 1000.0)
        _float("sparse_lambda", self.sparse_lambda, 0.0, 1000.0)
        checks.seed("seed", self.seed)
        _int("eval_every", self.eval_every, 0, 10_000_000)
