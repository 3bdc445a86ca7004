"""Build the shipped default model from its runs. v2.2 (shipped) is an output ensemble (``--ensemble``:
``ferkit.models.ensemble``) of two model soups, 0.4 v2.1 (48 px) + 0.6 a 64 px pair; each soup averages the weights
of fine-tunes of one starting point (WiSE-FT / model soups, Wortsman et al. 2022). The script refits the
calibration temperature on FER2013 PublicTest (a validation split), sets flip test-time augmentation (``--tta``),
and exports an int8 model.onnx beside it (calibrated on FER2013 Training faces).

    # v2.1 (48 px, flip TTA): two pairs of fine-tunes of the v1 default, souped
    ferkit train configs/default_v2_fercnet_s.yaml --out runs --name default_v2
    ferkit train configs/default_v2_fercnet_s_finetune.yaml --out runs --name default_v2_ft
    ferkit train configs/default_v2_fercnet_s.yaml seed=1 stages.0.epochs=4 --out runs --name default_v2_s1
    ferkit train configs/default_v2_fercnet_s_finetune.yaml seed=1 model.init_from=runs/default_v2_s1/best \
        --out runs --name default_v2_ft_s1
    .venv/bin/python benchmarks/make_default_model.py runs/default_v2/best runs/default_v2_ft/best \
        runs/default_v2_s1/best runs/default_v2_ft_s1/best --weights 0.15 0.35 0.15 0.35 --version 2.1 --out v21
    # the 64 px pair, from v2.1's weights, souped 0.7 / 0.3
    ferkit train configs/default_v2_fercnet_s.yaml seed=2 data.image_size=64 stages.0.epochs=5 \
        model.init_from=v21 --out runs --name default_v23_s1_64
    ferkit train configs/default_v2_fercnet_s_finetune.yaml seed=2 data.image_size=64 \
        model.init_from=runs/default_v23_s1_64/best --out runs --name default_v23_ft_64
    .venv/bin/python benchmarks/make_default_model.py runs/default_v23_s1_64/best runs/default_v23_ft_64/best \
        --weights 0.7 0.3 --tta none --out c64
    # v2.2: the two as one ensemble graph (the 48 px member reads the 64 px crop shrunk in the graph), no TTA
    .venv/bin/python benchmarks/make_default_model.py v21 c64 --ensemble --weights 0.4 0.6 --tta none \
        --out src/ferkit/assets/default

Every weight was chosen on the validation splits only (docs/training.md, "Default model v2"); two soup members can
also be mixed with ``--alpha`` (the weight of the second), as v2.0 was (``--alpha 0.8``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def soup(members: list[Path], weights: list[float], out: Path) -> dict:
    """``sum(w_i * member_i)`` for every float tensor (integer buffers from the last member); metadata from the
    last member. All members must be fine-tunes of one starting point (a model soup, Wortsman et al. 2022)."""
    states = [load_file(m / "model.safetensors") for m in members]
    if any(s.keys() != states[0].keys() for s in states):
        raise SystemExit(f"{members} hold different architectures; mix only runs of one model.")
    last = states[-1]
    mixed = {
        k: sum(w * s[k] for w, s in zip(weights, states)) if last[k].is_floating_point() else last[k] for k in last
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / "model.safetensors"))
    return json.loads((members[-1] / "model.json").read_text())


def ensemble(members: list[Path], weights: list[float], out: Path) -> dict:
    """The output ensemble of ``members`` (``ferkit.models.ensemble.from_checkpoints``) saved to ``out``; its
    metadata."""
    from ferkit.models import save_checkpoint
    from ferkit.models.ensemble import from_checkpoints

    model, meta = from_checkpoints(members, weights)
    save_checkpoint(model, out, metadata=meta)
    return json.loads((out / "model.json").read_text())


def member_weights(n: int, alpha: float, weights: list[float] | None) -> list[float]:
    """``--weights`` as given (summing to 1), else for two members ``(1 - alpha, alpha)``."""
    if weights is None:
        if n != 2:
            raise SystemExit(f"{n} members need --weights (one per member); --alpha mixes exactly two.")
        return [1 - alpha, alpha]
    if len(weights) != n or abs(sum(weights) - 1) > 1e-6:
        raise SystemExit(f"--weights needs {n} values summing to 1, got {weights}.")
    return weights


def fit_val_temperature(folder: Path) -> float:
    """Temperature fitted on FER2013 PublicTest logits of the model in ``folder`` (its own crop and TTA)."""
    from ferkit.data import load_dataset
    from ferkit.data.cache import decode_arrays
    from ferkit.data.loaders import build_eval_loader
    from ferkit.data.transforms import build_transforms
    from ferkit.evaluation import fit_temperature
    from ferkit.models import load_model
    from ferkit.training.engine import evaluate

    model, meta = load_model(folder)
    size, chans = int(meta["image_size"]), int(meta["in_chans"])
    ds = load_dataset(DATA / "fer2013", "usage_val")
    arrays = decode_arrays(ds, size, chans, True, crop="template")
    loader = build_eval_loader(arrays, build_transforms(size, chans, meta["mean"], meta["std"], train=False), 256)
    logits = evaluate(model, loader, torch.device("cpu"))[1].numpy()
    print(f"FER2013 PublicTest accuracy {float((logits.argmax(1) == arrays.labels).mean()):.4f}")
    return float(fit_temperature(logits, np.asarray(arrays.labels)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", type=Path, nargs="+", help="best/ folders of fine-tunes of one starting point")
    ap.add_argument("--alpha", type=float, default=0.8, help="two members: the weight of the second")
    ap.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per member, summing to 1")
    ap.add_argument(
        "--tta",
        choices=("none", "flip"),
        default="flip",
        help="flip TTA (the shipped v2 has it) halves ONNX throughput: 1,431 faces/s at batch 64 here",
    )
    ap.add_argument("--ensemble", action="store_true", help="average the members' probabilities, not their weights")
    ap.add_argument("--version", default="2.2", help="model.json version (2.1: the 48 px soup; 2.2: the ensemble)")
    ap.add_argument("--out", type=Path, default=Path("outputs/default_v2"))
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    weights = member_weights(len(args.members), args.alpha, args.weights)
    if args.ensemble:
        meta = ensemble(args.members, weights, args.out)
    else:
        meta = soup(args.members, weights, args.out)
        meta["soup"] = {
            "method": "weight average of fine-tunes of one starting point (WiSE-FT / model soup, Wortsman et al. 2022)",
            "members": [{"run": str(m), "weight": round(w, 4)} for m, w in zip(args.members, weights)],
            "selected_on": "FER2013 PublicTest and FER+ val (validation splits)",
        }
    meta.update(name="ferkit-default-v2", version=args.version, tta=args.tta)
    meta.pop("test_metrics", None)  # the members' test numbers do not describe the mix
    (args.out / "model.json").write_text(json.dumps(meta, indent=1))
    meta["temperature"] = round(fit_val_temperature(args.out), 4)
    (args.out / "model.json").write_text(json.dumps(meta, indent=1))
    print(f"temperature {meta['temperature']}")
    from ferkit.export import export_model

    # int8: 3,267 faces/s with TTA at batch 64 vs 1,485 in fp32 (docs/benchmarks.md), calibrated on FER2013
    # Training faces; validation accuracy moved -0.14 (PublicTest) and +0.12 (FER+ val) points.
    res = export_model(
        args.out, "onnx", args.out / "model.onnx", int8=True, calib_data=str(DATA / "fer2013"), num_check=1024
    )
    print(
        f"wrote {args.out} (model.safetensors, model.json, int8 model.onnx: top-1 agreement with torch "
        f"{res.top1_agreement:.1%})"
    )


if __name__ == "__main__":
    main()
