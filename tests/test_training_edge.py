"""Edge cases of the training loop that must fail loudly instead of training nothing."""

from __future__ import annotations

import pytest
import torch


def test_epoch_without_a_batch_fails_clearly():
    from ferkit.training import train_one_epoch

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 7))
    data = torch.utils.data.TensorDataset(torch.randn(3, 4), torch.randint(0, 7, (3,)))
    loader = torch.utils.data.DataLoader(data, batch_size=8, drop_last=True)  # 3 images < one batch
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="batch_size=8"):
        train_one_epoch(model, loader, torch.nn.CrossEntropyLoss(), opt, progress=False)
