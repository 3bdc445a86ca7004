"""`model.init_from`: fine-tuning starts from a trained ferkit checkpoint's weights, and refuses another arch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ferkit.config import load_config
from ferkit.models import create_model, save_checkpoint
from ferkit.training.setup import _init_from_checkpoint


def test_init_from_copies_weights_and_checks_arch(tmp_path):
    torch.manual_seed(0)
    trained = create_model("fercnet_s").eval()
    save_checkpoint(trained, tmp_path / "ckpt", {})
    torch.manual_seed(1)
    fresh = create_model("fercnet_s").eval()
    x = torch.randn(2, 1, 48, 48)
    assert not torch.allclose(fresh(x), trained(x))
    _init_from_checkpoint(fresh, str(tmp_path / "ckpt"), "fercnet_s")
    assert torch.equal(fresh(x), trained(x))
    with pytest.raises(ValueError, match="holds a 'fercnet_s' model"):
        _init_from_checkpoint(create_model("simple_cnn"), str(tmp_path / "ckpt"), "simple_cnn")


def test_finetune_recipe_loads_with_override():
    cfg = load_config(
        Path(__file__).resolve().parents[1] / "configs" / "default_fercnet_s_finetune.yaml",
        ["model.init_from=/some/run/best"],
    )
    assert cfg.model.init_from == "/some/run/best" and cfg.data.train_split == "usage_train"
    assert cfg.data.val_split == "usage_val"  # selection on PublicTest, never the PrivateTest split
