"""Settings benchmark: CCT (SA, ISA, BO-QSA) against the Concept Transformer and plain, over CPU-sized
analogues of the paper's settings, several seeds each.

Every run appends one JSON line to results.jsonl as soon as it finishes, keyed by (setting, model,
seed, split, overrides); a rerun skips the keys already there, so an interrupted benchmark resumes.
summary.json, summary.md and one PNG per setting are rebuilt from the whole file (bench_report.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from leanthink import checks
from leanthink.concepts.bench import _bar
from leanthink.concepts.config import SPLITS, DataConfig, ModelConfig, TrainConfig, check_choice
from leanthink.concepts.io import append_jsonl, iter_jsonl
from leanthink.errors import DataError, LeanthinkError


@dataclass(frozen=True)
class Setting:
    """One data setting: what is trained on and for how long."""

    name: str
    dataset: str
    task: str
    n_train: int
    steps: int
    n_test: int = 500
    concept_fraction: float = 1.0
    about: str = ""

    def data_config(self, seed: int, split: str, **over) -> DataConfig:
        kw = dict(dataset=self.dataset, task=self.task, n_train=self.n_train, n_test=self.n_test,
                  concept_fraction=self.concept_fraction, seed=seed, split=split)
        return DataConfig(**{**kw, **over})


SETTINGS = {s.name: s for s in (
    Setting("scenes", "scenes", "species", 600, 800,
            about="CUB-like: 2-4 objects, 9 attributes + background as global and per-patch concepts; "
                  "the class (4) is a bound colour+kind pair"),
    Setting("superclass", "digits", "mod3", 300, 600,
            about="CIFAR-100-like: 3 super-classes over 10 fine classes (digits), the fine class is the concept"),
    Setting("scenes_partial", "scenes", "species", 600, 800, concept_fraction=0.2,
            about="scenes with concept labels on 20% of the training images"),
)}
MODELS = ("cct-sa", "cct-isa", "cct-boqsa", "ct", "plain")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)

# fields `--set` may change, and the config they belong to
_OVERRIDABLE = {**{f: ModelConfig for f in ("dim", "depth", "heads", "mlp_ratio", "dropout", "slot_iters",
                                            "streams")},
                **{f: TrainConfig for f in ("steps", "batch_size", "lr", "weight_decay", "expl_lambda",
                                            "sparse_lambda")},
                **{f: DataConfig for f in ("n_train", "concept_fraction")}}


def model_config(label: str, **over) -> ModelConfig:
    kind, _, slots = label.partition("-")
    return ModelConfig(kind=kind, slots=slots or "sa", **over)


def parse_overrides(text: str, flag: str = "--set") -> tuple[tuple[str, object], ...]:
    """`dim=32,expl_lambda=0.5` -> (("dim", 32), ("expl_lambda", 0.5)), typed by the config field."""
    if not text.strip():
        return ()
    out = {}
    for item in text.split(","):
        name, eq, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not eq or not name or not raw:
            raise LeanthinkError(f"{flag} item {item!r} must look like field=value, e.g. expl_lambda=0.5")
        if name not in _OVERRIDABLE:
            raise LeanthinkError(f"{flag}: {name!r} cannot be set; choose from {', '.join(sorted(_OVERRIDABLE))}")
        if name in out:
            raise LeanthinkError(f"{flag}: {name!r} is given twice")
        kind = {f.name: f.type for f in fields(_OVERRIDABLE[name])}[name]
        try:
            out[name] = {"int": int, "float": float}.get(kind, str)(raw)
        except ValueError:
            raise LeanthinkError(f"{flag}: {name}={raw!r} must be {'an integer' if kind == 'int' else 'a number'}") \
                from None
    return tuple(sorted(out.items()))


@dataclass(frozen=True)
class SettingsBenchConfig:
    """What the settings benchmark runs."""

    settings: tuple[str, ...] = tuple(SETTINGS)
    """Setting names (see SETTINGS)."""
    models: tuple[str, ...] = MODELS
    """Model labels: cct-sa, cct-isa, cct-boqsa, ct, plain."""
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    """Seeds; a seed fixes the training data, the initial weights and the batch order (the same for
    every model, so models can be compared seed by seed)."""
    split: str = "test"
    """Held-out split scored: test, or val (for tuning and diagnosis)."""
    overrides: tuple[tuple[str, object], ...] = ()
    """Field values applied to every run (diagnosis: e.g. expl_lambda, dim, streams)."""

    def __post_init__(self):
        for name, allowed in (("settings", tuple(SETTINGS)), ("models", MODELS)):
            values = getattr(self, name)
            for v in values:
                check_choice(name, v, allowed)
        for name in ("settings", "models", "seeds"):
            values = getattr(self, name)
            if not values:
                raise LeanthinkError(f"{name} must name at least one value")
            repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
            if repeated:
                raise LeanthinkError(f"{name} repeats {', '.join(map(str, repeated))}; give each value once")
        for s in self.seeds:
            checks.seed("seeds", s)
        check_choice("split", self.split, SPLITS)
        for setting in self.settings:  # build every config now: a bad value fails before any run
            for label in self.models:
                self.configs(setting, label, self.seeds[0])

    def configs(self, setting: str, label: str, seed: int) -> tuple[DataConfig, ModelConfig, TrainConfig]:
        s = SETTINGS[setting]
        over = {cls: {k: v for k, v in self.overrides if _OVERRIDABLE[k] is cls}
                for cls in (DataConfig, ModelConfig, TrainConfig)}
        train_kw = {"steps": s.steps, "seed": seed, **over[TrainConfig]}
        data_kw = dict(over[DataConfig])
        if label == "plain":  # plain reads no concepts: its record must not claim concept-only overrides
            # (it still trains on the setting's own data, concept_fraction included, like every model)
            data_kw.pop("concept_fraction", None)
            train_kw.pop("expl_lambda", None), train_kw.pop("sparse_lambda", None)
        return (s.data_config(seed, self.split, **data_kw), model_config(label, **over[ModelConfig]),
                TrainConfig(**train_kw))


def run_key(setting: str, label: str, seed: int, split: str, overrides) -> str:
    """What identifies a run in results.jsonl: the setting's whole definition, so a changed setting
    reruns instead of being mistaken for a finished one."""
    return json.dumps({"setting": asdict(SETTINGS[setting]), "model": label, "seed": seed, "split": split,
                       "set": [list(o) for o in overrides]}, sort_keys=True)


RESULT_FILES = ("results.jsonl", "summary.json", "summary.md")
_RECORD_FIELDS = {"bench_key": str, "setting": str, "model_label": str, "seed": int, "split": str,
                  "accuracy": (int, float), "train_seconds": (int, float)}


def check_results_dir(results_dir: Path, flag: str = "results_dir") -> list[dict]:
    """Before any run: the folder can be written and every line of results.jsonl is a settings-bench
    record (a bad line is an error naming file:line). Returns the records."""
    results_dir = checks.output_dir(flag, results_dir)
    for name in RESULT_FILES:
        checks.output_file(flag, results_dir / name)
    path = results_dir / "results.jsonl"
    records = []
    for line, rec in iter_jsonl(path):
        for key, kind in _RECORD_FIELDS.items():
            if key not in rec:
                raise DataError(path, f"missing field {key!r}; not a line written by `concepts bench --settings`",
                                line)
            if isinstance(rec[key], bool) or not isinstance(rec[key], kind):
                raise DataError(path, f"field {key!r} has the wrong type ({type(rec[key]).__name__})", line)
        records.append(rec)
    return records


def run_settings_benchmark(cfg: SettingsBenchConfig, results_dir: Path, progress: bool = True) -> dict:
    import torch

    from leanthink.concepts.bench_report import summarise
    from leanthink.concepts.train import run_record, train

    results_dir = Path(results_dir)
    done = {r["bench_key"] for r in check_results_dir(results_dir)}
    # seeds outermost: after k seeds every (setting, model) has k runs, so a stopped benchmark is balanced
    plan = [(seed, s, m) for seed in cfg.seeds for s in cfg.settings for m in cfg.models]
    bar = _bar(progress)
    with bar:
        task = bar.add_task("runs", total=len(plan))
        for seed, setting, label in plan:
            key = run_key(setting, label, seed, cfg.split, cfg.overrides)
            bar.update(task, description=f"{setting} {label} seed={seed}")
            if key not in done:  # re-read: another process on other seeds may share the folder
                done |= {r["bench_key"] for r in check_results_dir(results_dir)}
            if key not in done:
                torch.set_num_threads(1)  # one core per run, as the time targets assume
                data_cfg, model_cfg, train_cfg = cfg.configs(setting, label, seed)
                result = train(data_cfg, model_cfg, train_cfg, progress=False)
                rec = run_record(data_cfg, result.model_cfg, train_cfg, result.metrics)
                rec.update(bench_key=key, setting=setting, model_label=label, seed=seed, split=cfg.split,
                           overrides=[list(o) for o in cfg.overrides])
                append_jsonl(results_dir / "results.jsonl", rec)
                done.add(key)
            bar.advance(task)
    return summarise(results_dir)
