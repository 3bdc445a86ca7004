"""Training config: defaults < YAML < key=value overrides, did-you-mean for unknown keys, clear type errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferkit.config import TrainConfig, load_config, save_config

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


RECIPE = """
data: {path: some/data, batch_size: 32}
model: {name: fercnet_s}
stages:
  - {name: head, epochs: 2, lr: 1.0e-3, train: [head]}
  - {name: all, epochs: 3, lr: 1e-4}
"""


def test_precedence_defaults_yaml_overrides(tmp_path):
    cfg = load_config(_write(tmp_path, RECIPE), ["stages.1.lr=1e-5", "data.batch_size=8", "seed=3"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.data.path == "some/data"  # YAML over default
    assert cfg.data.batch_size == 8  # override over YAML
    assert cfg.data.image_size is None  # default kept
    assert cfg.stages[0].lr == pytest.approx(1e-3)
    assert cfg.stages[1].lr == pytest.approx(1e-5) and isinstance(cfg.stages[1].lr, float)
    assert cfg.stages[1].train == ["all"]  # stage default
    assert cfg.seed == 3


def test_yaml_unknown_key_did_you_mean(tmp_path):
    with pytest.raises(ValueError, match=r"data\.bach_size.*Did you mean 'batch_size'"):
        load_config(_write(tmp_path, "data: {bach_size: 3}\n"))


def test_override_unknown_key_did_you_mean(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'patience'"):
        load_config(None, ["early_stop.patiense=3"])
    with pytest.raises(ValueError, match="list index"):
        load_config(_write(tmp_path, RECIPE), ["stages.5.lr=0.1"])


@pytest.mark.parametrize("override, words", [
    ("data.batch_size=many", "must be an integer"),
    ("stages.0.lr=fast", "must be a number"),
    ("amp=true", "must be a string"),
    ("stages.0.optimizer=rmsprop", "choose one of"),
    ("stages.0.train=[head, tail]", "choose one of"),
    ("data.channels=2", "must be 1"),
    ("loss.label_smoothing=1.5", r"\[0, 1\)"),
    ("nonsense", "KEY=VALUE"),
])
def test_bad_values_fail_clearly(override, words):
    with pytest.raises(ValueError, match=words):
        load_config(None, [override])


def test_values_are_parsed_safely_not_evaluated():
    cfg = load_config(None, ["name=__import__('os').getcwd()", "data.val_from={split: test, fractions: {val: 1.0}}"])
    assert cfg.name == "__import__('os').getcwd()"  # a plain string, never evaluated
    assert cfg.data.val_from.split == "test" and cfg.data.val_from.fractions == {"val": 1.0}


def test_extra_train_sources():
    cfg = load_config(None, ["data.extra_train=[{path: a, label_mode: soft}, {path: b, split: test}]"])
    assert [(s.path, s.split, s.label_mode) for s in cfg.data.extra_train] == [
        ("a", "train", "soft"), ("b", "test", "majority")]
    with pytest.raises(ValueError, match="Did you mean 'path'"):
        load_config(None, ["data.extra_train=[{pth: a}]"])
    with pytest.raises(ValueError, match="choose one of"):
        load_config(None, ["data.extra_train=[{path: a, label_mode: vote}]"])


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(_write(tmp_path, RECIPE), ["stages.1.lr=1e-5"])
    again = load_config(save_config(cfg, tmp_path / "run" / "config.yaml"))
    assert again == cfg


@pytest.mark.parametrize("recipe", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_load(recipe):
    from ferkit.models import list_models

    cfg = load_config(recipe)
    assert cfg.model.name in list_models()
