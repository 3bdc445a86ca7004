"""Is a geometry branch worth it? The face mesh's 468 landmarks (``ferkit.faces.facemesh``) of each training image,
normalised (the mesh's own view is turned upright and scaled by the face box; here centred and divided by their
RMS radius), fed to a small MLP; then fused late with the shipped model (log p_model + w log p_geometry).
Measured on validation data only: FER2013 PublicTest (w chosen on one half, scored on the other) and, for
transfer, an MLP trained on FER2013 Training alone scored on RAF-DB train (a dataset it never saw).

    .venv/bin/python benchmarks/geometry_probe.py   # ~4 min of landmarks (cached in outputs/geometry), ~1 min MLP

Landmarks come from the crop's own BlazeFace detection (the canonical crop's search: the crop padded by
``crop.CROP_PAD``), so dataset crops are read as ``predict`` reads a face.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ferkit.labels import EMOTIONS  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "outputs" / "geometry"
SETS = {"fer_train": ("fer2013", "usage_train"), "raf_train": ("rafdb", "train"), "fer_val": ("fer2013", "usage_val")}


def landmarks(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features N x 1404, labels as EMOTIONS indices, found N) of one set, cached."""
    from ferkit.data import load_dataset
    from ferkit.faces import crop
    from ferkit.faces.facemesh import face_mesh

    path = CACHE / f"{name}.npz"
    if not path.is_file():
        ds = load_dataset(str(DATA / SETS[name][0]), SETS[name][1])
        feats, found = np.zeros((len(ds), 1404), np.float32), np.zeros(len(ds), bool)
        for i in range(len(ds)):
            rgb = crop.to_rgb3(np.asarray(ds.read_image(i)))
            face = crop.find_crop_face(rgb)
            if face is None:
                continue
            (pts,), _ = face_mesh(rgb, [face])
            xy = pts[:, :2] - pts[:, :2].mean(0)
            scale = np.sqrt((xy**2).sum(1).mean())
            feats[i] = np.concatenate([(xy / scale).ravel(), (pts[:, 2] - pts[:, 2].mean()) / scale])
            found[i] = True
        labels = np.array([EMOTIONS.index(ds.classes[k]) for k in ds.labels])
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, feats=feats, labels=labels, found=found)
    z = np.load(path)
    return z["feats"], z["labels"], z["found"]


def train_mlp(x: np.ndarray, y: np.ndarray, epochs: int = 30, seed: int = 0):
    """A 1404-512-256-7 MLP (batch norm, dropout 0.3, label smoothing 0.1, AdamW one-cycle 2e-3, input noise 0.05);
    returns a function features -> log-probabilities."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    net = nn.Sequential(
        *(nn.Linear(1404, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.3)),
        *(nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3)),
        nn.Linear(256, len(EMOTIONS)),
    )
    xt, yt = torch.tensor((x - mu) / sd), torch.tensor(y)
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * (len(x) // 256 + 1))
    for _ in range(epochs):
        net.train()
        for b in torch.randperm(len(x)).split(256):
            loss = nn.functional.cross_entropy(net(xt[b] + 0.05 * torch.randn_like(xt[b])), yt[b], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()

    def predict(f: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.log_softmax(net(torch.tensor((f - mu) / sd)), 1).numpy()

    return predict


def model_log_probs() -> np.ndarray:
    """The shipped model's log-probabilities on FER2013 PublicTest, each image cut with its own crop."""
    from ferkit.data import load_dataset
    from ferkit.inference import EmotionRecognizer

    rec = EmotionRecognizer(detector="none")
    ds = load_dataset(str(DATA / "fer2013"), "usage_val")
    crops = [rec.crop(np.asarray(ds.read_image(i)), None) for i in range(len(ds))]
    return np.log(np.clip(rec.classify(crops), 1e-9, 1))


def main() -> None:
    (xa, ya, fa), (xb, yb, fb), (xv, yv, fv) = (landmarks(n) for n in SETS)
    print(
        f"faces with landmarks: FER2013 Training {fa.sum()}/{len(fa)}, RAF-DB train {fb.sum()}/{len(fb)}, "
        f"PublicTest {fv.sum()}/{len(fv)}"
    )
    geo = train_mlp(np.concatenate([xa[fa], xb[fb]]), np.concatenate([ya[fa], yb[fb]]))
    lg = geo(xv)
    lg[~fv] = np.log(1 / len(EMOTIONS))  # no landmarks: the geometry says nothing
    print(f"geometry alone, PublicTest: {(lg.argmax(1) == yv).mean():.4f}")
    lm = model_log_probs()
    halves = np.arange(0, len(yv), 2), np.arange(1, len(yv), 2)
    grid = np.round(np.arange(0, 1.01, 0.1), 2)

    def acc(w: float, idx: np.ndarray) -> float:
        return float(((lm[idx] + w * lg[idx]).argmax(1) == yv[idx]).mean())

    print(
        "fusion log p_model + w log p_geometry, all PublicTest: "
        + ", ".join(f"w {w}: {acc(w, np.arange(len(yv))):.4f}" for w in grid)
    )
    for pick, score in (halves, halves[::-1]):
        w = max(grid, key=lambda w: acc(w, pick))
        print(f"w chosen on one half: {w}; other half {acc(w, score):.4f} (model alone {acc(0, score):.4f})")
    cross = train_mlp(xa[fa], ya[fa])(xb)
    print(f"geometry trained on FER2013 Training alone -> RAF-DB train: {((cross.argmax(1) == yb) & fb).mean():.4f}")


if __name__ == "__main__":
    main()
