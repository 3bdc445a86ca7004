"""mixup on whole batches: the blend is exact, targets of both images are kept, the loss is the lam-blend of the two
losses, the run is reproducible from the seed, and the config rejects a negative alpha."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def test_mix_batch_blends_images_and_returns_both_targets():
    from ferkit.training.engine import mix_batch

    torch.manual_seed(0)
    images = torch.arange(4 * 3, dtype=torch.float32).reshape(4, 1, 1, 3)
    targets = torch.tensor([0, 1, 2, 3])
    mixed, a, b, lam = mix_batch(images, targets, 0.4)
    assert 0 <= lam <= 1 and torch.equal(a, targets) and sorted(b.tolist()) == [0, 1, 2, 3]
    perm = [int(t) for t in b]  # targets are the indices here, so b names each image's partner
    assert torch.allclose(mixed, lam * images + (1 - lam) * images[perm])
    torch.manual_seed(0)
    again = mix_batch(images, targets, 0.4)
    assert torch.equal(again[0], mixed) and again[3] == lam


def test_train_one_epoch_with_mixup_uses_the_blended_loss(monkeypatch):
    from ferkit.training import engine

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 4))
    data = torch.utils.data.TensorDataset(torch.randn(8, 1, 1, 3), torch.tensor([0, 1, 2, 3] * 2))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    seen = []
    real = engine.mix_batch

    def spy(images, targets, alpha):
        out = real(images, targets, alpha)
        seen.append(out)
        return out

    monkeypatch.setattr(engine, "mix_batch", spy)
    criterion = torch.nn.CrossEntropyLoss()
    before = [p.detach().clone() for p in model.parameters()]
    stats = engine.train_one_epoch(
        model, loader, criterion, torch.optim.SGD(model.parameters(), lr=0.0), mixup=0.3, progress=False
    )
    ((mixed, a, b, lam),) = seen
    with torch.no_grad():
        logits = torch.nn.Sequential(torch.nn.Flatten(), model[1])(mixed)
        expected = lam * criterion(logits, a) + (1 - lam) * criterion(logits, b)
    assert stats["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))  # lr 0: nothing moved


def test_negative_mixup_is_refused():
    from ferkit.config import load_config

    recipe = Path(__file__).resolve().parents[1] / "configs" / "default_v2_fercnet_s_finetune.yaml"
    with pytest.raises(ValueError, match="loss.mixup"):
        load_config(recipe, ["loss.mixup=-0.1"])
