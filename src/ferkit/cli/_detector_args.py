"""The face-detector flags every verb that detects shares; names, choices and help come from the registry."""

from __future__ import annotations

import argparse


def add_detector_args(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    from ferkit.faces.blazeface import THRESHOLD
    from ferkit.faces.detectors import detector_choices, detector_help

    parser.add_argument(
        "--detector",
        default=default,
        choices=detector_choices(),
        help=f"face detector (default {default}). {detector_help()}",
    )
    parser.add_argument(
        "--det-threshold",
        type=float,
        default=None,
        metavar="P",
        help=f"detection score threshold in (0, 1) (default: the detector's own, blazeface {THRESHOLD})",
    )
    parser.add_argument(
        "--min-face",
        type=int,
        default=None,
        metavar="PX",
        help="smallest face side searched for, in px (default blazeface: a tenth of the photo's long side, "
        "32-100 px; larger is faster)",
    )
    parser.add_argument(
        "--det-size",
        type=int,
        default=None,
        metavar="PX",
        help="shrink each frame to this long side before detection (default: full size for "
        "blazeface and mtcnn, 320 for centerface/haar)",
    )


def detector_kwargs(args: argparse.Namespace) -> dict:
    """The EmotionRecognizer keyword arguments of the flags above."""
    return {
        "detector": args.detector,
        "det_threshold": args.det_threshold,
        "min_face": args.min_face,
        "det_size": args.det_size,
    }
