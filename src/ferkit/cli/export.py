"""`ferkit export --model M --format onnx|torchscript [--int8]`: a thin shim over ferkit.export.export_model."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (fp32/int8) or TorchScript, checked vs torch"
    )
    parser.add_argument("--model", required=True, help="checkpoint folder (model.safetensors + model.json)")
    parser.add_argument("--format", default="onnx", choices=("onnx", "torchscript"), help="export format")
    parser.add_argument("--int8", action="store_true", help="static int8 quantisation (ONNX Runtime, QDQ)")
    parser.add_argument(
        "--out",
        default=None,
        help="output file (default: in the working directory, <checkpoint folder>.onnx, .int8.onnx or .torchscript.pt)",
    )
    parser.add_argument(
        "--calib-data",
        default=None,
        metavar="DATASET",
        help="dataset folder whose train faces calibrate --int8 and check the export "
        "(default: random images; give real faces for an accurate int8 model)",
    )
    parser.add_argument("--num-check", type=int, default=64, help="inputs compared against torch (default 64)")
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from ferkit.export import export_model

    result = export_model(
        args.model, args.format, args.out, int8=args.int8, calib_data=args.calib_data, num_check=args.num_check
    )
    print(
        f"wrote {result.path} ({result.format}; labels {', '.join(result.metadata['labels'])}; "
        f"input {result.metadata['in_chans']}x{result.metadata['image_size']}x{result.metadata['image_size']})"
    )
    print(
        f"check vs torch on {args.num_check} inputs: max abs diff {result.max_abs_diff:.3g}, "
        f"top-1 agreement {result.top1_agreement:.1%}"
    )
    return 0
