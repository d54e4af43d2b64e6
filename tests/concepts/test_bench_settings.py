"""The settings benchmark: configs, overrides, resumable results, statistics and the report."""

import json
from dataclasses import asdict

import numpy as np
import pytest

from leanthink.concepts.bench_report import mean_ci, separated, summarise
from leanthink.concepts.bench_settings import (SETTINGS, SettingsBenchConfig, parse_overrides, run_key,
                                               run_settings_benchmark)
from leanthink.concepts.io import read_jsonl
from leanthink.errors import DataError, LeanthinkError

MICRO = "steps=2,dim=16,depth=1,n_train=12"


def test_parse_overrides_types_values_by_field():
    assert parse_overrides("dim=32, expl_lambda=0.5,streams=global") == (
        ("dim", 32), ("expl_lambda", 0.5), ("streams", "global"))
    assert parse_overrides("") == ()
    for text, needle in (("dim", "field=value"), ("dim=abc", "dim='abc' must be an integer"),
                         ("lr=x", "must be a number"), ("seed=3", "'seed' cannot be set"),
                         ("dim=8,dim=16", "given twice")):
        with pytest.raises(LeanthinkError, match=needle):
            parse_overrides(text)


def test_config_refuses_bad_values_before_any_run():
    with pytest.raises(LeanthinkError, match="settings='cifar'"):
        SettingsBenchConfig(settings=("cifar",))
    with pytest.raises(LeanthinkError, match="models='cct'"):
        SettingsBenchConfig(models=("cct",))
    with pytest.raises(LeanthinkError, match="seeds repeats 1"):
        SettingsBenchConfig(seeds=(1, 1))
    with pytest.raises(LeanthinkError, match="split"):
        SettingsBenchConfig(split="train")
    with pytest.raises(LeanthinkError, match="streams='none'"):  # an override is checked by its config
        SettingsBenchConfig(overrides=parse_overrides("streams=none"))
    with pytest.raises(LeanthinkError, match="n_train"):  # digits val leaves 997 training images
        SettingsBenchConfig(split="val", overrides=parse_overrides("n_train=1100"))


def test_configs_follow_the_setting_and_keep_plain_free_of_concept_settings():
    cfg = SettingsBenchConfig(overrides=parse_overrides("expl_lambda=8,dim=32,concept_fraction=0.5"))
    data, model, train = cfg.configs("scenes_partial", "cct-isa", 3)
    assert (data.dataset, data.concept_fraction, data.seed, model.kind, model.slots, model.dim) == (
        "scenes", 0.5, 3, "cct", "isa", 32)
    assert (train.steps, train.expl_lambda, train.seed) == (SETTINGS["scenes_partial"].steps, 8.0, 3)
    # plain trains on the setting's own data, but concept-only overrides are not claimed for it
    data, model, train = cfg.configs("scenes_partial", "plain", 3)
    assert data.concept_fraction == 0.2 and train.expl_lambda == 2.0 and model.dim == 32
    # the key holds the setting's definition: a changed setting or override is a new run
    assert run_key("scenes", "ct", 0, "test", ()) != run_key("scenes", "ct", 0, "test", (("dim", 32),))
    assert run_key("scenes", "ct", 0, "test", ()) != run_key("scenes", "ct", 0, "val", ())


@pytest.mark.slow
def test_micro_benchmark_writes_summary_and_resumes(tmp_path):
    cfg = SettingsBenchConfig(settings=("scenes", "superclass"), models=("cct-sa", "ct", "plain"), seeds=(0, 1),
                              overrides=parse_overrides(MICRO))
    summary = run_settings_benchmark(cfg, tmp_path, progress=False)
    lines = read_jsonl(tmp_path / "results.jsonl")
    assert len(lines) == 12 and len({r["bench_key"] for r in lines}) == 12
    groups = summary["groups"]
    assert set(groups) == {f"{s} {{depth=1, dim=16, n_train=12, steps=2}}" for s in ("scenes", "superclass")}
    for body in groups.values():
        assert set(body["models"]) == {"cct-sa", "ct", "plain"} and body["models"]["ct"]["runs"] == 2
        assert body["models"]["plain"]["expl_acc_global"] is None
        assert set(body["vs_ct"]) == {"cct-sa"}
    assert groups[next(g for g in groups if g.startswith("superclass"))]["models"]["ct"]["consist_aug_spatial"] is None
    for g in ("scenes", "superclass"):
        assert (tmp_path / f"{g}__depth_1__dim_16__n_train_12__steps_2.png").read_bytes()[:4] == b"\x89PNG"
    assert "CCT − CT, paired by seed" in (tmp_path / "summary.md").read_text()
    run_settings_benchmark(cfg, tmp_path, progress=False)  # all done: nothing is appended
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 12
    more = SettingsBenchConfig(settings=("superclass",), models=("ct",), seeds=(0, 2),
                               overrides=parse_overrides(MICRO))
    run_settings_benchmark(more, tmp_path, progress=False)  # only seed 2 is new
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 13


def test_mean_ci_uses_the_t_interval():
    ci = mean_ci([0.80, 0.82, 0.78, 0.81, 0.79])
    sd = np.std([0.80, 0.82, 0.78, 0.81, 0.79], ddof=1)
    assert ci["mean"] == pytest.approx(0.80) and ci["n"] == 5
    assert ci["ci"] == pytest.approx(2.7764 * sd / np.sqrt(5), rel=1e-4)  # t(0.975, 4) = 2.776
    assert mean_ci([0.5]) == {"mean": 0.5, "ci": 0.0, "n": 1} and mean_ci([None]) is None
    assert separated({"mean": 0.8, "ci": 0.02}, {"mean": 0.7, "ci": 0.05})
    assert not separated({"mean": 0.8, "ci": 0.06}, {"mean": 0.7, "ci": 0.05})
    assert not separated({"mean": 0.7, "ci": 0.0}, {"mean": 0.8, "ci": 0.0})


def _record(setting, label, seed, acc, **extra):
    rec = {"bench_key": f"{setting}|{label}|{seed}|{extra}", "setting": setting, "model_label": label, "seed": seed,
           "split": "test", "overrides": [], "accuracy": acc, "train_seconds": 1.0,
           "expl_acc_global": 0.9, "expl_acc_spatial": None, "consist_class": 0.5, "consist_aug_global": 0.5,
           "consist_aug_spatial": None}
    rec.update(extra)
    return rec


def test_summary_pairs_cct_and_ct_by_seed(tmp_path):
    # CT's seeds vary a lot, CCT is always 1 point above: the paired difference is exactly +1 ± 0,
    # while the two unpaired intervals overlap
    ct = [0.60, 0.70, 0.80]
    recs = [_record("scenes", "ct", s, a) for s, a in enumerate(ct)]
    recs += [_record("scenes", "cct-sa", s, a + 0.01) for s, a in enumerate(ct)]
    recs += [_record("scenes", "cct-sa", 9, 0.99)]  # no CT run with seed 9: left out of the pairing
    recs += [_record("scenes", "ct", 0, 0.1, split="val")]  # another group
    old = json.dumps({"setting": {**asdict(SETTINGS["scenes"]), "steps": 5}})  # made under another definition
    recs += [_record("scenes", "ct", 0, 0.2, bench_key=old)]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    summary = summarise(tmp_path)
    assert set(summary["groups"]) == {"scenes", "scenes [val]", "scenes (as defined then: steps=5)"}
    diff = summary["groups"]["scenes"]["vs_ct"]["cct-sa"]["accuracy"]
    assert diff["mean"] == pytest.approx(0.01) and diff["ci"] == pytest.approx(0.0, abs=1e-12) and diff["n"] == 3
    rows = summary["groups"]["scenes"]["models"]
    assert rows["cct-sa"]["runs"] == 4 and not separated(rows["cct-sa"]["accuracy"], rows["ct"]["accuracy"])
    assert (tmp_path / "scenes.png").exists() and (tmp_path / "scenes__val.png").exists()


def test_a_foreign_results_line_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps(_record("scenes", "ct", 0, 0.5)) + "\n{\"accuracy\": 1}\n")
    with pytest.raises(DataError, match="results.jsonl:2.*bench_key"):
        run_settings_benchmark(SettingsBenchConfig(), tmp_path, progress=False)
