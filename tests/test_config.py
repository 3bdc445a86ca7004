"""Config: defaults < YAML < key=value overrides, did-you-mean errors, type errors, recipes load, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferkit.config import TrainConfig, load_config, save_config

REPO = Path(__file__).resolve().parents[1]


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_defaults_yaml_then_overrides(tmp_path):
    path = _yaml(
        tmp_path,
        "data: {batch_size: 32, image_size: 64}\nstages:\n  - {epochs: 2, lr: 1e-3}\n"
        "  - {epochs: 3, lr: 1e-5, train: [all]}\n",
    )
    cfg = load_config(path, ["data.batch_size=16", "stages.1.lr=2e-5", "model.kwargs.drop_rate=0.1"])
    assert cfg.data.batch_size == 16  # override beats YAML
    assert cfg.data.image_size == 64  # YAML beats default
    assert cfg.data.workers == TrainConfig().data.workers  # default kept
    assert cfg.stages[0].lr == pytest.approx(1e-3) and cfg.stages[1].lr == pytest.approx(2e-5)
    assert cfg.stages[1].optimizer == "adam"  # stage defaults fill what YAML leaves out
    assert cfg.model.kwargs == {"drop_rate": 0.1}


def test_val_from_override_builds_the_nested_config():
    cfg = load_config(None, ["data.val_from={split: test, fractions: {val: 0.4, test: 0.6}, seed: 3}"])
    assert cfg.data.val_from.fractions == {"val": 0.4, "test": 0.6} and cfg.data.val_from.seed == 3


@pytest.mark.parametrize(
    "override, expected",
    [
        ("data.bach_size=3", "Did you mean 'batch_size'"),
        ("stages.0.optimiser=sgd", "Did you mean 'optimizer'"),
        ("erly_stop.patience=2", "Did you mean 'early_stop'"),
    ],
)
def test_unknown_key_suggests(override, expected):
    with pytest.raises(ValueError, match=expected):
        load_config(None, [override])


def test_unknown_yaml_key_suggests(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'label_smoothing'"):
        load_config(_yaml(tmp_path, "loss: {label_smothing: 0.1}\n"))


@pytest.mark.parametrize(
    "override, expected",
    [
        ("data.batch_size=many", "must be an integer"),
        ("stages.0.lr=fast", "must be a number"),
        ("amp=yes", "must be a string"),  # YAML reads yes as true: not one of the amp modes
        ("stages.0.scheduler=linear", "choose one of"),
        ("stages.0.train=[head, neck]", "choose one of"),
        ("stages.4.lr=1", "list index"),
        ("data.batch_size", "KEY=VALUE"),
    ],
)
def test_bad_values_fail_with_the_key(override, expected):
    with pytest.raises(ValueError, match=expected):
        load_config(None, [override])


def test_values_are_never_evaluated():
    cfg = load_config(None, ["name=__import__('os').getcwd()"])
    assert cfg.name == "__import__('os').getcwd()"


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(None, ["data.val_fraction=0.2", "stages.0.epochs=4", "loss.class_weights=balanced"])
    again = load_config(save_config(cfg, tmp_path / "config.yaml"))
    assert again == cfg


@pytest.mark.parametrize("recipe", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_loads_and_names_a_registered_model(recipe):
    from ferkit.models import list_models

    cfg = load_config(recipe)
    assert cfg.model.name in list_models()
    assert cfg.stages and all(s.epochs > 0 for s in cfg.stages)
