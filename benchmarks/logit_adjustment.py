"""Logit adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment") of the default model, on the
validation splits only: predict argmax(log p - tau * log prior), with the prior the class shares of the data the
model was fine-tuned on (FER2013 Training + RAF-DB train). Prints accuracy, balanced accuracy (mean per-class recall)
and the recalls per tau for FER2013 PublicTest and FER+ val (majority). Measures a lever (docs/training.md); ferkit
does not apply it.

    .venv/bin/python benchmarks/logit_adjustment.py [--model src/ferkit/assets/default/model.onnx]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VAL = [("fer2013", "usage_val", "FER2013 PublicTest"), ("ferplus", "val", "FER+ val (majority)")]
PRIOR = [("fer2013", "train"), ("rafdb", "train")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="src/ferkit/assets/default/model.onnx")
    ap.add_argument("--taus", default="0,0.1,0.2,0.3,0.5,0.75,1")
    args = ap.parse_args()

    from ferkit.inference.backends import load_classifier
    from ferkit.inference.evaluate import load_split, score_crops
    from ferkit.labels import map_classes

    clf, meta, _ = load_classifier(args.model, "auto", "cpu")
    labels = list(meta["labels"])
    counts = np.zeros(len(labels))
    for name, split in PRIOR:
        per_class = load_split(DATA / name, split, "auto", labels).class_counts()
        idx = map_classes(list(per_class), labels)
        counts[idx[idx >= 0]] += np.array(list(per_class.values()))[idx >= 0]
    prior = counts / counts.sum()
    print("prior", dict(zip(labels, prior.round(3))))
    for name, split, title in VAL:
        y, logits = score_crops(clf, meta, load_split(DATA / name, split, "auto", labels))
        head = f"tau | accuracy | balanced accuracy | recall per class ({', '.join(labels)})"
        print(f"\n{title} ({len(y)} faces): {head}")
        for tau in (float(t) for t in args.taus.split(",")):
            pred = (logits - tau * np.log(prior)).argmax(1)  # log-softmax of the ensemble, or logits: same argmax
            recalls = [float((pred[y == k] == k).mean()) for k in range(len(labels))]
            print(
                f"{tau:g} | {(pred == y).mean():.2%} | {np.mean(recalls):.2%} | "
                + " / ".join(f"{r * 100:.1f}" for r in recalls)
            )


if __name__ == "__main__":
    main()
