"""Knowledge distillation (``loss.distill_from``): the soft-target loss is Hinton et al.'s, the epoch blends it with
the data loss by ``distill_weight``, the teacher sees the student's batch and is never trained, and a teacher that
reads another input or other classes is refused with the field that differs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "default_v2_fercnet_s_finetune.yaml"


def test_distill_loss_is_t_squared_kl_of_softened_outputs():
    from ferkit.training.engine import distill_loss

    s, t = torch.randn(5, 7), torch.randn(5, 7)
    p, q = (t / 3).softmax(1), (s / 3).softmax(1)
    want = 9 * (p * (p.log() - q.log())).sum(1).mean()
    assert float(distill_loss(s, t, 3.0)) == pytest.approx(float(want), rel=1e-5)
    assert float(distill_loss(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)


def test_train_one_epoch_blends_the_data_and_teacher_losses():
    from ferkit.training import engine

    torch.manual_seed(0)
    student = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 4))
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 4)).eval()
    x, y = torch.randn(8, 1, 1, 3), torch.tensor([0, 1, 2, 3] * 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    teacher_before = [p.detach().clone() for p in teacher.parameters()]
    criterion = torch.nn.CrossEntropyLoss()
    with torch.no_grad():
        s_logits, t_logits = student(x), teacher(x)
        want = 0.7 * criterion(s_logits, y) + 0.3 * engine.distill_loss(s_logits, t_logits, 2.0)
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    stats = engine.train_one_epoch(student, loader, criterion, opt, teacher=teacher, distill=(0.3, 2.0), progress=False)
    assert stats["loss"] == pytest.approx(float(want), rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, teacher.parameters()))  # the teacher is not trained
    assert not torch.allclose(student(x), s_logits)  # the student is


def test_distillation_config_is_checked():
    from ferkit.config import load_config

    cfg = load_config(RECIPE, ["loss.distill_from=runs/teacher", "loss.distill_weight=0.6"])
    assert cfg.loss.distill_from == "runs/teacher" and math.isclose(cfg.loss.distill_weight, 0.6)
    for bad in ("loss.distill_weight=1.5", "loss.distill_temperature=0"):
        with pytest.raises(ValueError, match="distill"):
            load_config(RECIPE, [bad])


def test_a_teacher_reading_another_input_is_refused(tmp_path):
    from types import SimpleNamespace

    from ferkit.config import load_config
    from ferkit.models import create_model, save_checkpoint
    from ferkit.training.setup import load_teacher

    teacher = save_checkpoint(create_model("fercnet_s").eval(), tmp_path / "t48", metadata={"image_size": 48})
    cfg = load_config(RECIPE, [f"loss.distill_from={teacher}", "data.crop=resize"])
    classes = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

    def prep(size: int):  # what `prepare` resolved for the run
        return SimpleNamespace(
            arrays=SimpleNamespace(classes=classes, image_size=size, channels=1), mean=(0.5,), std=(0.5,)
        )

    with pytest.raises(ValueError, match="image_size"):
        load_teacher(cfg, prep(64), "cpu")
    loaded = load_teacher(cfg, prep(48), "cpu")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.randn(2, 1, 48, 48)
    assert F.softmax(loaded(x), 1).shape == (2, 7)
