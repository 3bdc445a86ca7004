"""`ferkit evaluate [--model M] --data PATH [--split S]`: a thin shim over ferkit.inference.evaluate_checkpoint."""

from __future__ import annotations

import argparse

from ferkit.cli._detector_args import add_detector_args, detector_kwargs


def add_parser(subparsers) -> None:
    from ferkit.data.formats import FORMATS
    from ferkit.inference.backends import BACKENDS

    parser = subparsers.add_parser("evaluate", help="evaluate a model on a dataset split (report JSON/MD/PNG)")
    parser.add_argument(
        "--model",
        default="default",
        help="checkpoint folder, model.safetensors, exported .onnx/.pt, or 'default' (the packaged model; default)",
    )
    parser.add_argument("--data", required=True, help="dataset folder (or fer2013.csv)")
    parser.add_argument(
        "--split", default=None, help="split to evaluate (default: test when the dataset has one, else its only split)"
    )
    parser.add_argument(
        "--split-file",
        default=None,
        help="a `ferkit data split` file: evaluate its part named by --split (default test)",
    )
    parser.add_argument(
        "--format", default="auto", choices=("auto", *FORMATS), help="dataset layout (default: detected)"
    )
    parser.add_argument("--out", default=None, help="report folder (default outputs/evaluate/<model>-<split>/)")
    parser.add_argument(
        "--label-mode",
        default="majority",
        choices=("majority", "soft"),
        help="FER+ labels: majority vote (ties dropped) or soft (every image, most-voted class)",
    )
    parser.add_argument("--batch-size", type=int, default=128, help="classifier batch size (default 128)")
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="torch device (default auto; .onnx models run on CPU)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto: checkpoints on torch, .onnx on ONNX Runtime (default auto)",
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="also measure CPU latency at batch 1 (5 warm-up passes, median of 50, threads stated)",
    )
    parser.add_argument("--no-latency", action="store_true", help=argparse.SUPPRESS)  # the default; old scripts pass it
    parser.add_argument("--no-cache", action="store_true", help="decode in memory instead of the on-disk array cache")
    parser.add_argument(
        "--detect-faces",
        action="store_true",
        help="whole photos: detect, align and classify the most confident face; no face counts as wrong",
    )
    add_detector_args(parser)
    parser.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ferkit.inference.evaluate import evaluate_checkpoint

    if args.latency and args.no_latency:
        raise ValueError("--latency and --no-latency contradict each other; pass one.")
    report = evaluate_checkpoint(
        args.model,
        args.data,
        args.split,
        args.format,
        batch_size=args.batch_size,
        device=args.device,
        cache=not args.no_cache,
        latency=args.latency,
        label_mode=args.label_mode,
        backend=args.backend,
        detect_faces=args.detect_faces,
        split_file=args.split_file,
        **detector_kwargs(args),
    )
    name = "default" if args.model == "default" else Path(args.model).resolve().name
    out = Path(args.out) if args.out else Path("outputs") / "evaluate" / f"{name}-{report.extra['split']}"
    paths = report.save(out)
    print(report.to_markdown())
    for path in report.extra.get("missing", []):
        print(f"no face found: {path}")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0
