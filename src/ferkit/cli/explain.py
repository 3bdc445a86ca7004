"""`ferkit explain IMAGE --save DIR`: where the model looked, per face (thin shim over EmotionRecognizer.explain)."""

from __future__ import annotations

import argparse

from ferkit.cli._detector_args import add_detector_args, detector_kwargs


def add_parser(subparsers) -> None:
    from ferkit.inference.explain import METHODS, methods_help

    parser = subparsers.add_parser("explain", help="attention maps per face: CBAM spatial attention or Grad-CAM")
    parser.add_argument("image", help="photo to explain")
    parser.add_argument(
        "--save",
        required=True,
        metavar="DIR",
        help="folder for face<i>_overlay.png, face<i>_heatmap.png and explain.json",
    )
    parser.add_argument(
        "--model", default=None, help="checkpoint folder or model.safetensors (default: packaged model)"
    )
    parser.add_argument("--method", default="auto", choices=METHODS, help=methods_help())
    add_detector_args(parser)
    parser.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from ferkit.inference import EmotionRecognizer

    rec = EmotionRecognizer(model=args.model, **detector_kwargs(args), backend="torch")
    faces = rec.explain(args.image, method=args.method)
    out = Path(args.save)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for i, face in enumerate(faces, 1):
        Image.fromarray(face.heatmap_u8()).save(out / f"face{i}_heatmap.png")
        Image.fromarray(np.asarray(face.overlay, dtype=np.uint8)).save(out / f"face{i}_overlay.png")
        entry = {"face": i, **face.to_dict()}
        summary.append(entry)
        print(f"face {i}: {entry['label']} box={entry['box']} -> {out / f'face{i}_overlay.png'}")
    (out / "explain.json").write_text(json.dumps({"image": str(args.image), "faces": summary}, indent=1) + "\n")
    if not faces:
        print(f"no face found in {args.image}")
        return 1
    print(f"wrote {len(faces)} face(s) to {out}")
    return 0
