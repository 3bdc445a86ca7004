"""mixup and CutMix on whole batches: the blend (or pasted box) is exact, targets of both images are kept, the loss
is the lam-blend of the two losses, the run is reproducible from the seed, and the config rejects a negative alpha."""

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


def test_cutmix_pastes_one_box_of_the_partner_and_lam_is_the_share_left():
    from ferkit.training.engine import mix_batch

    torch.manual_seed(1)
    images = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1).expand(4, 2, 16, 20).clone()
    targets = torch.tensor([0, 1, 2, 3])
    for _ in range(20):
        mixed, a, b, lam = mix_batch(images, targets, 1.0, cut=True)
        assert torch.equal(a, targets)
        for i, partner in enumerate(b.tolist()):
            own = mixed[i] == images[i]
            pasted = mixed[i] == images[partner]
            assert bool((own | pasted).all())  # every pixel is the image's own or its partner's
            if partner != i:
                share = float(own[0].float().mean())  # the image's own pixels left
                assert share == pytest.approx(lam)
                ys, xs = torch.nonzero(~own[0], as_tuple=True)
                if len(ys):  # the partner's pixels form one box, the same in every channel
                    box = ~own[0][ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
                    assert bool(box.all()) and torch.equal(own[0], own[1])


def _record_mixes(monkeypatch) -> list:
    """``engine.mix_batch`` patched to record each call as (cut, alpha, its output)."""
    from ferkit.training import engine

    calls = []
    real = engine.mix_batch

    def spy(images, targets, alpha, cut=False):
        out = real(images, targets, alpha, cut=cut)
        calls.append((cut, alpha, out))
        return out

    monkeypatch.setattr(engine, "mix_batch", spy)
    return calls


def test_train_one_epoch_with_mixup_uses_the_blended_loss(monkeypatch):
    from ferkit.training import engine

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 4))
    data = torch.utils.data.TensorDataset(torch.randn(8, 1, 1, 3), torch.tensor([0, 1, 2, 3] * 2))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    calls = _record_mixes(monkeypatch)
    criterion = torch.nn.CrossEntropyLoss()
    before = [p.detach().clone() for p in model.parameters()]
    stats = engine.train_one_epoch(
        model, loader, criterion, torch.optim.SGD(model.parameters(), lr=0.0), mixup=0.3, progress=False
    )
    ((cut, _, (mixed, a, b, lam)),) = calls
    assert not cut
    with torch.no_grad():
        logits = torch.nn.Sequential(torch.nn.Flatten(), model[1])(mixed)
        expected = lam * criterion(logits, a) + (1 - lam) * criterion(logits, b)
    assert stats["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))  # lr 0: nothing moved


def test_train_one_epoch_with_both_switches_per_batch(monkeypatch):
    from ferkit.training import engine

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
    data = torch.utils.data.TensorDataset(torch.randn(64, 1, 3, 4), torch.tensor([0, 1, 2, 3] * 16))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    calls = _record_mixes(monkeypatch)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    engine.train_one_epoch(model, loader, torch.nn.CrossEntropyLoss(), opt, mixup=0.3, cutmix=1.0, progress=False)
    kinds = [(cut, alpha) for cut, alpha, _ in calls]
    assert len(kinds) == 16 and {(True, 1.0), (False, 0.3)} == set(kinds)  # both kinds, each with its own alpha
    calls.clear()
    engine.train_one_epoch(model, loader, torch.nn.CrossEntropyLoss(), opt, cutmix=1.0, progress=False)
    assert [(cut, alpha) for cut, alpha, _ in calls] == [(True, 1.0)] * 16


@pytest.mark.parametrize("key", ["loss.mixup", "loss.cutmix"])
def test_negative_mix_alpha_is_refused(key):
    from ferkit.config import load_config

    recipe = Path(__file__).resolve().parents[1] / "configs" / "default_v2_fercnet_s_finetune.yaml"
    with pytest.raises(ValueError, match=key):
        load_config(recipe, [f"{key}=-0.1"])
