"""Build the shipped default model (v2) from the two runs of its recipe: interpolate their weights (WiSE-FT,
Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"), refit the
calibration temperature on FER2013 PublicTest (a validation split), switch on flip test-time augmentation
(``--tta none`` to leave it off: it halves classifier throughput), and export model.onnx beside it.

    ferkit train configs/default_v2_fercnet_s.yaml --out runs --name default_v2
    ferkit train configs/default_v2_fercnet_s_finetune.yaml --out runs --name default_v2_ft
    .venv/bin/python benchmarks/make_default_model.py runs/default_v2/best runs/default_v2_ft/best \
        --alpha 0.8 --out src/ferkit/assets/default

``--alpha`` is the weight of the second (fine-tuned) run; 0.8 was chosen on the validation splits only
(docs/training.md, "Default model v2").
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def interpolate(a: Path, b: Path, alpha: float, out: Path) -> dict:
    """``(1 - alpha) * a + alpha * b`` for every float tensor (integer buffers from ``b``); metadata from ``b``."""
    sa, sb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    if sa.keys() != sb.keys():
        raise SystemExit(f"{a} and {b} hold different architectures; interpolate only runs of one model.")
    mixed = {k: (sa[k] * (1 - alpha) + sb[k] * alpha) if sa[k].is_floating_point() else sb[k] for k in sa}
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / "model.safetensors"))
    return json.loads((b / "model.json").read_text())


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
    ds = load_dataset(Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013", "usage_val")
    arrays = decode_arrays(ds, size, chans, True, crop="template")
    loader = build_eval_loader(arrays, build_transforms(size, chans, meta["mean"], meta["std"], train=False), 256)
    logits = evaluate(model, loader, torch.device("cpu"))[1].numpy()
    print(f"FER2013 PublicTest accuracy {float((logits.argmax(1) == arrays.labels).mean()):.4f}")
    return float(fit_temperature(logits, np.asarray(arrays.labels)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--alpha", type=float, default=0.8)
    ap.add_argument(
        "--tta",
        choices=("none", "flip"),
        default="flip",
        help="flip TTA (the shipped v2 has it) halves ONNX throughput: 1,431 faces/s at batch 64 here",
    )
    ap.add_argument("--out", type=Path, default=Path("outputs/default_v2"))
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    meta = interpolate(args.first, args.second, args.alpha, args.out)
    meta.update(
        name="ferkit-default-v2",
        version="2.0",
        tta=args.tta,
        soup={
            "method": "weight interpolation of two fine-tunes of one run (WiSE-FT, Wortsman et al. 2022)",
            "members": [
                {"run": str(args.first), "weight": round(1 - args.alpha, 4)},
                {"run": str(args.second), "weight": args.alpha},
            ],
            "selected_on": "FER2013 PublicTest and FER+ val (validation splits)",
        },
    )
    meta.pop("test_metrics", None)  # the members' test numbers do not describe the mix
    (args.out / "model.json").write_text(json.dumps(meta, indent=1))
    meta["temperature"] = round(fit_val_temperature(args.out), 4)
    (args.out / "model.json").write_text(json.dumps(meta, indent=1))
    print(f"temperature {meta['temperature']}")
    from ferkit.export import export_model

    res = export_model(args.out, "onnx", args.out / "model.onnx", calib_data=None, num_check=64)
    print(f"wrote {args.out} (model.safetensors, model.json, model.onnx: max abs diff {res.max_abs_diff:.2e})")


if __name__ == "__main__":
    main()
