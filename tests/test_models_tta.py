"""Flip test-time augmentation: a checkpoint's ``tta: flip`` makes the eval-mode model average the logits of each
face and its mirror, in torch, in checkpoint evaluation and in the ONNX graph the default backend runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferkit.models import create_model, load_model, save_checkpoint


def test_flip_tta_averages_mirror_logits(tmp_path):
    torch.manual_seed(0)
    net = create_model("fercnet_s", num_classes=7).eval()
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        plain, mirror = net(x), net(x.flip(-1))
    folder = save_checkpoint(net, tmp_path / "tta", {"tta": "flip"})
    loaded, meta = load_model(folder)
    assert meta["tta"] == "flip" and loaded.tta == "flip"
    with torch.no_grad():
        both = loaded(x)
    torch.testing.assert_close(both, (plain + mirror) / 2, atol=1e-5, rtol=1e-5)
    loaded.train()  # training never averages: the loss sees one view
    assert loaded(x).shape == (4, 7)


def test_flip_tta_reaches_the_onnx_backend(tmp_path):
    from ferkit.inference.backends import load_classifier

    torch.manual_seed(1)
    net = create_model("fercnet_s", num_classes=7).eval()
    folder = save_checkpoint(net, tmp_path / "tta", {"tta": "flip"})
    backend, _, _ = load_classifier(folder, backend="onnx")
    x = np.random.default_rng(0).standard_normal((3, 1, 48, 48)).astype(np.float32)
    with torch.no_grad():
        want = torch.softmax((net(torch.from_numpy(x)) + net(torch.from_numpy(x).flip(-1))) / 2, 1).numpy()
    np.testing.assert_allclose(backend(x), want, atol=1e-5)


def test_unknown_tta_is_refused(tmp_path):
    folder = save_checkpoint(create_model("fercnet_s", num_classes=7), tmp_path / "bad", {"tta": "rotate"})
    with pytest.raises(ValueError, match="tta"):
        load_model(folder)
