"""Separate heads for FER2013's labels and FER+'s votes on the same images (issue: default model v2, item 3)?

FER2013 Training and FER+ train are the same 28k faces with two sets of labels: FER2013's one label per face and
FER+'s ten votes. ferkit's default recipe trains one head on both (the FER+ vote distribution and the FER2013 label
as two samples of one face), so where they disagree the head is pulled two ways. Here one network (fercnet_s, 48 px
gray, canonical crop) is trained from scratch on both sources either with that one head (``--heads 1``) or with one
head per source (``--heads 2``: 14 outputs, the first 7 trained only on FER2013 labels, the last 7 only on FER+
votes), everything else equal: seed, batches, batch augmentation ``standard``, AdamW 3e-3 with one-cycle, label
smoothing 0.1 on the hard labels. Scored on validation splits only: FER2013 PublicTest with the FER2013 head, FER+
val (majority) with the FER+ head, each also with the other source's head, and both with the mean of the two
heads' probabilities (what one output for users would be).

    .venv/bin/python benchmarks/heads_probe.py --heads 1 --epochs 5
    .venv/bin/python benchmarks/heads_probe.py --heads 2 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATA = ROOT.parent / "shared" / "data"
SIZE, MEAN, STD = 48, (0.5,), (0.5,)


def arrays(name: str, split: str, label_mode: str):
    """One split's ``CachedArrays``: uint8 N x 48 x 48 x 1 canonical crops and their labels."""
    from ferkit.data import load_dataset
    from ferkit.data.cache import decode_arrays

    return decode_arrays(load_dataset(str(DATA / name), split, label_mode=label_mode), SIZE, 1, workers=2)


def train(heads: int, epochs: int, seed: int, limit: int | None = None, batch: int = 128, lr: float = 3e-3):
    """The network trained on FER2013 Training labels and FER+ train votes; also the classes its outputs name."""
    import torch
    import torch.nn.functional as F

    from ferkit.data.cache import concat_arrays
    from ferkit.data.transforms import BatchAugment
    from ferkit.models import create_model

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    fer, plus = arrays("fer2013", "usage_train", "majority"), arrays("ferplus", "train", "soft")
    data = concat_arrays([fer, plus])  # FER2013's labels become one-hot rows beside FER+'s vote distributions
    src = np.arange(len(data)) >= len(fer)  # False: a FER2013 label, True: FER+ votes
    keep = np.arange(len(data)) - np.where(src, len(fer), 0) < (limit or len(data))  # --limit: a smoke run
    x = torch.from_numpy(data.images[keep]).permute(0, 3, 1, 2).contiguous()
    t = torch.from_numpy(data.soft_labels[keep])
    src = torch.from_numpy(src[keep]).long()
    n = len(data.classes)
    t[src == 0] = t[src == 0] * 0.9 + 0.1 / n  # label smoothing on the hard labels
    model = create_model("fercnet_s", num_classes=n * heads).to(memory_format=torch.channels_last)
    aug = BatchAugment("standard", 1, MEAN, STD)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * (len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(len(x) // batch):
            idx = perm[i * batch : (i + 1) * batch]
            logits = model(aug(x[idx]).contiguous(memory_format=torch.channels_last))
            if heads == 2:  # each sample's own head: FER2013 labels -> outputs 0-6, FER+ votes -> 7-13
                logits = logits.view(-1, 2, n)[torch.arange(len(idx)), src[idx]]
            loss = -(t[idx] * F.log_softmax(logits, 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, {time.perf_counter() - start:.0f} s", flush=True)
    return model, data.classes, time.perf_counter() - start


def score(model, classes: tuple[str, ...], heads: int) -> dict:
    """Accuracy on FER2013 PublicTest and FER+ val (majority): with each source's own head, the other source's
    head and the heads' mean. Inputs are made by ``to_model_input``, as ``predict`` makes them."""
    import torch

    from ferkit.faces.crop import to_model_input

    model.eval()
    out = {}
    for name, split, mode, own in (("fer2013", "usage_val", "majority", 0), ("ferplus", "val", "majority", 1)):
        arr = arrays(name, split, mode)
        if tuple(arr.classes) != tuple(classes):
            raise ValueError(f"{name}/{split} has classes {arr.classes}, the model {classes}.")
        with torch.no_grad():
            p = torch.cat(
                [
                    model(torch.from_numpy(to_model_input(arr.images[i : i + 512], MEAN, STD)))
                    .view(-1, heads, len(classes))
                    .softmax(2)
                    for i in range(0, len(arr), 512)
                ]
            )
        y = torch.from_numpy(np.asarray(arr.labels))
        out[f"{name}_own_head"] = float((p[:, own if heads == 2 else 0].argmax(1) == y).float().mean())
        out[f"{name}_mean_of_heads"] = float((p.mean(1).argmax(1) == y).float().mean())
        if heads == 2:  # the other source's head: what one head alone would give users on these labels
            out[f"{name}_other_head"] = float((p[:, 1 - own].argmax(1) == y).float().mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", type=int, choices=(1, 2), required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N training faces of each source (a smoke run)")
    ap.add_argument("--json", default=None, help="write the scores here")
    args = ap.parse_args()
    model, classes, seconds = train(args.heads, args.epochs, args.seed, args.limit)
    result = {"heads": args.heads, "epochs": args.epochs, "seed": args.seed, "train_seconds": round(seconds)}
    result.update(score(model, classes, args.heads))
    print(json.dumps(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
