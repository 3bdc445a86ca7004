"""`ferkit evaluate --model CHECKPOINT --data PATH [--split test]`: a thin shim over evaluate_checkpoint."""

from __future__ import annotations

import argparse

from ferkit.cli._detector_args import add_detector_args, detector_kwargs


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a checkpoint on a dataset split (report JSON/MD/PNG)")
    parser.add_argument("--model", required=True, help="checkpoint folder (model.safetensors + model.json)")
    parser.add_argument("--data", required=True, help="dataset folder (or fer2013.csv)")
    parser.add_argument("--split", default="test", help="split to evaluate (default test)")
    parser.add_argument("--format", default="auto", help="dataset layout (default: detected)")
    parser.add_argument("--out", default=None, help="report folder (default outputs/evaluate/<checkpoint>-<split>/)")
    parser.add_argument("--label-mode", default="majority", choices=("majority", "soft"),
                        help="FER+ labels: majority vote (ties dropped) or soft (every image, most-voted class)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-latency", action="store_true", help="skip the CPU latency measurement")
    parser.add_argument("--detect-faces", action="store_true",
                        help="whole photos: detect, align and classify the largest face; no face counts as wrong")
    add_detector_args(parser)
    parser.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ferkit.training.checkpoint_eval import evaluate_checkpoint

    out = Path(args.out) if args.out else Path("outputs") / "evaluate" / f"{Path(args.model).resolve().name}-{args.split}"
    if args.detect_faces:
        from ferkit.inference.evaluate import evaluate_checkpoint_with_detection

        report = evaluate_checkpoint_with_detection(args.model, args.data, args.split, args.format, out,
                                                    device="cpu" if args.device == "auto" else args.device,
                                                    **detector_kwargs(args))
        print(report.to_markdown())
        for path in report.extra["missing"]:
            print(f"no face found: {path}")
        print(f"\nwrote {out / 'report.json'}, {out / 'report.md'}, {out / 'confusion.png'}")
        return 0
    report = evaluate_checkpoint(args.model, args.data, args.split, args.format, out, args.batch_size, args.device,
                                 latency=not args.no_latency, label_mode=args.label_mode)
    print(report.to_markdown())
    print(f"\nwrote {out / 'report.json'}, {out / 'report.md'}, {out / 'confusion.png'}")
    return 0
