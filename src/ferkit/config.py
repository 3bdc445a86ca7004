"""Typed training config: dataclass defaults < YAML recipe < ``key=value`` overrides (dotted keys).

``load_config("configs/rafdb_resnet50_cbam_light.yaml", ["stages.1.lr=1e-5", "data.batch_size=64"])`` returns a
``TrainConfig``. Override values are parsed with ``yaml.safe_load`` (never ``eval``); unknown keys fail with
"did you mean ...", wrong types fail naming the key, the value and the expected type.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferkit.config_parse import from_dict, parse_override, set_dotted

PARAM_GROUPS: tuple[str, ...] = ("head", "attention", "stem", "backbone", "all")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
SCHEDULERS: tuple[str, ...] = ("none", "cosine", "step", "plateau", "onecycle")
METRICS: tuple[str, ...] = ("val_acc", "val_macro_f1", "val_loss")
AMP_MODES: tuple[str, ...] = ("auto", "off", "bf16", "fp16")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


@dataclass
class SplitFromConfig:
    """Make named parts (e.g. ``val`` and ``test``) by a stratified seeded split of one split (``split``)."""

    split: str = "test"
    fractions: dict[str, float] = field(default_factory=lambda: {"val": 0.5, "test": 0.5})
    seed: int = 0


@dataclass
class SourceConfig:
    """An extra training source (``data.extra_train``): read at the run's image size/channels, appended to train."""

    path: str = ""
    split: str = "train"
    format: str = "auto"
    label_mode: str = "majority"  # FER+: majority or soft; hard labels become one-hot when any source is soft


@dataclass
class DataConfig:
    path: str = "../shared/data/rafdb"
    format: str = "auto"
    train_split: str = "train"
    val_split: str | None = None  # a split of its own; else val_from, else val_fraction of train
    test_split: str | None = "test"
    val_from: SplitFromConfig | None = None
    split_file: str | None = None  # `ferkit data split` file: its train/val/test parts replace those splits
    val_fraction: float = 0.0
    image_size: int | None = None  # None: the model's default
    channels: int | None = None  # None: the model's default (1 gray, 3 RGB)
    crop: str = "template"  # template: canonical landmark crop (ferkit.faces.crop); resize: the file as it is
    label_mode: str = "majority"  # FER+: majority or soft
    include_contempt: bool = False
    augment: str = "standard"  # ferkit.data.transforms.PRESETS
    batch_augment: bool = False  # augment whole batches as tensor ops in the training step (none/light/standard)
    balanced: bool = False  # class-balanced sampling of the train split
    batch_size: int = 64
    eval_batch_size: int | None = None  # None: 2 x batch_size
    workers: int = 0  # DataLoader workers; 0-2 on a small CPU
    cache: bool = True  # decoded-array cache (~/.cache/ferkit/arrays or $FERKIT_CACHE)
    cache_dir: str | None = None
    max_per_class: int | None = None  # keep the first N images of each class of train (quick runs); val/test whole
    extra_train: list[SourceConfig] = field(default_factory=list)  # mixed-dataset training


@dataclass
class ModelConfig:
    name: str = "resnet18_cbam"
    pretrained: bool = False
    weights: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # a ferkit checkpoint folder to start from (fine-tuning a trained model)


@dataclass
class StageConfig:
    """One training stage: which parameter groups train, for how long, with which optimiser and schedule."""

    name: str = "all"
    epochs: int = 10
    lr: float = 1e-3
    train: list[str] = field(default_factory=lambda: ["all"])
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    scheduler: str = "none"
    warmup_epochs: float = 0.0  # linear warm-up (cosine, step, none)
    step_size: int = 10  # step scheduler: epochs between decays
    gamma: float = 0.1  # step/plateau decay factor
    plateau_patience: int = 3
    min_lr: float = 0.0  # cosine floor
    early_stop: bool = True  # whether early stopping may end this stage


@dataclass
class LossConfig:
    class_weights: str | list[float] = "none"  # none, balanced, or one weight per class
    label_smoothing: float = 0.0
    soft_targets: bool = True  # use the data's soft labels (FER+ label_mode=soft) when it has them
    mixup: float = 0.0  # mixup (Zhang et al. 2018) Beta(a, a) on whole batches; 0 = off, 0.2-0.4 usual
    cutmix: float = 0.0  # CutMix (Yun et al. 2019) Beta(a, a) box area; 0 = off, 1.0 usual; with mixup: one per batch
    # Knowledge distillation (Hinton et al. 2015): a trained teacher checkpoint (e.g. an ensemble) whose softened
    # outputs the student also matches; the loss is (1 - w) * the data loss + w * T^2 * KL(teacher_T || student_T).
    distill_from: str | None = None
    distill_weight: float = 0.5
    distill_temperature: float = 2.0


@dataclass
class EarlyStopConfig:
    metric: str = "val_acc"  # also chooses the best checkpoint
    patience: int | None = None  # None: never stop early
    min_delta: float = 0.0


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    loss: LossConfig = field(default_factory=LossConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 (or fp16 + GradScaler) on CUDA, off on CPU
    channels_last: bool = True
    deterministic: bool = False
    threads: int | None = None  # torch CPU threads; None leaves torch's default
    grad_clip: float | None = None
    out_dir: str = "runs"
    name: str | None = None  # run folder name; None: <model>_<dataset>_<timestamp>

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "device": DEVICES,
    "amp": AMP_MODES,
    "early_stop.metric": METRICS,
    "data.label_mode": ("majority", "soft"),
    "data.crop": ("template", "resize"),
}
_STAGE_CHOICES: dict[str, tuple[str, ...]] = {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS}


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{key}={value!r} is not valid; choose one of {list(choices)}.")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Value checks beyond types (choices, ranges); returns ``cfg``."""
    flat = {
        "device": cfg.device,
        "amp": cfg.amp,
        "early_stop.metric": cfg.early_stop.metric,
        "data.label_mode": cfg.data.label_mode,
        "data.crop": cfg.data.crop,
    }
    for key, choices in _CHOICES.items():
        _check_choice(key, flat[key], choices)
    if not cfg.stages:
        raise ValueError("stages is empty; give at least one stage, e.g. stages: [{epochs: 10, lr: 1e-3}].")
    for i, st in enumerate(cfg.stages):
        for key, choices in _STAGE_CHOICES.items():
            _check_choice(f"stages.{i}.{key}", getattr(st, key), choices)
        for g in st.train:
            _check_choice(f"stages.{i}.train", g, PARAM_GROUPS)
        if st.epochs < 0 or st.lr < 0:
            raise ValueError(f"stages.{i}: epochs ({st.epochs}) and lr ({st.lr}) must be >= 0.")
    cw = cfg.loss.class_weights
    if isinstance(cw, str):
        _check_choice("loss.class_weights", cw, ("none", "balanced"))
    if not 0 <= cfg.loss.label_smoothing < 1:
        raise ValueError(f"loss.label_smoothing={cfg.loss.label_smoothing} must be in [0, 1).")
    if not 0 <= cfg.loss.distill_weight <= 1 or cfg.loss.distill_temperature <= 0:
        raise ValueError(
            f"loss.distill_weight={cfg.loss.distill_weight} must be in [0, 1] and loss.distill_temperature="
            f"{cfg.loss.distill_temperature} > 0."
        )
    for name in ("mixup", "cutmix"):
        if getattr(cfg.loss, name) < 0:
            raise ValueError(
                f"loss.{name}={getattr(cfg.loss, name)} must be >= 0 (the Beta(a, a) parameter; 0 turns {name} off)."
            )
    if cfg.data.channels not in (None, 1, 3):
        raise ValueError(f"data.channels={cfg.data.channels} must be 1 (gray) or 3 (RGB).")
    if cfg.data.split_file is not None and (not cfg.data.split_file or cfg.data.val_from is not None):
        raise ValueError("data.split_file must be a path, and cannot be combined with data.val_from; keep one.")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ValueError(f"data.val_fraction={cfg.data.val_fraction} must be in [0, 1).")
    for i, src in enumerate(cfg.data.extra_train):
        _check_choice(f"data.extra_train.{i}.label_mode", src.label_mode, ("majority", "soft"))
        if not src.path:
            raise ValueError(f"data.extra_train.{i}.path is empty; give the dataset folder of the extra source.")
    if cfg.data.batch_size < 1:
        raise ValueError(f"data.batch_size={cfg.data.batch_size} must be >= 1.")
    return cfg


def _new_node(part: str) -> dict:
    """An override into an unset optional section starts from that section's defaults."""
    return dataclasses.asdict(SplitFromConfig()) if part == "val_from" else {}


def config_from_dict(data: dict | None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults < ``data`` < ``overrides``; validated."""
    cfg = from_dict(TrainConfig, data or {})
    if overrides:
        tree = cfg.to_dict()
        for text in overrides:
            key, value = parse_override(text)
            set_dotted(tree, key, value, new_node=_new_node)
        cfg = from_dict(TrainConfig, tree)
    return validate(cfg)


def load_config(yaml_path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML recipe (None: defaults only) and apply ``key=value`` overrides."""
    import yaml

    data: dict = {}
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise FileNotFoundError(f"Config file {str(path)!r} does not exist; see configs/ for recipes.")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a YAML mapping of config keys, got {type(data).__name__}.")
    return config_from_dict(data, overrides)


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (loadable again with ``load_config``)."""
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    return path
