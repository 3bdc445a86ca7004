"""`ferkit batch INPUTS... --out DIR`: emotions for a whole archive of photos and videos on Ray Data, written as
Parquet (thin shim over ferkit.batch.run_batch; schema and cluster set-up in docs/batch.md).

Exit codes: 0 every source is complete in --out, 3 some sources could not be read (listed; their manifests say
why), 2 an error stopped the run."""

from __future__ import annotations

import argparse
import sys

from ferkit.cli._detector_args import add_detector_args, detector_kwargs


def add_parser(subparsers) -> None:
    from ferkit.inference.backends import BACKENDS

    p = subparsers.add_parser(
        "batch", help="emotions for many images and videos on Ray (local or a cluster), written as Parquet"
    )
    p.add_argument(
        "inputs",
        nargs="+",
        help="image/video files, folders (recursive), globs ('clips/**/*.mp4'), list files (.txt/.lst, one per line)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (faces/, summary/, manifest/)")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join ('auto' = the one `ray start` runs here, or ray://HOST:10001); "
        "default: start a local Ray on this machine",
    )
    p.add_argument(
        "--num-workers", type=int, default=None, metavar="N", help="local Ray's CPUs (default: this machine's cores)"
    )
    p.add_argument(
        "--every-nth-frame",
        type=int,
        default=1,
        metavar="K",
        help="video: process frames whose index is a multiple of K (1 = all, as `ferkit predict`)",
    )
    p.add_argument(
        "--chunk-frames",
        type=int,
        default=300,
        metavar="N",
        help="cut videos into ranges of N frames run on different workers (0: one task per video); results do not "
        "depend on it",
    )
    p.add_argument(
        "--model",
        default=None,
        help="checkpoint folder, model.safetensors or .onnx (default: the packaged model); every node must see it",
    )
    add_detector_args(p)
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="classifier backend on CPU")
    p.add_argument("--smoothing", default="auto", help="video: 'auto' (EMA, on), 'none', or an EMA weight in (0, 1]")
    p.add_argument("--batch-size", type=int, default=64, help="faces per classifier batch")
    p.add_argument(
        "--summary-seconds", type=float, default=1.0, metavar="S", help="time window of the summary table's rows"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_batch)


def _batch(args: argparse.Namespace) -> int:
    from ferkit.batch import run_batch

    report = run_batch(
        args.inputs,
        args.out,
        model=args.model,
        **detector_kwargs(args),
        backend=args.backend,
        smoothing=args.smoothing,
        batch_size=args.batch_size,
        every_nth_frame=args.every_nth_frame,
        chunk_frames=args.chunk_frames or None,
        summary_seconds=args.summary_seconds,
        address=args.address,
        num_workers=args.num_workers,
        progress=not args.no_progress,
    )
    fps = report.frames / report.seconds if report.seconds else 0.0
    print(
        f"{report.sources} source(s): {report.completed} processed, {report.skipped} already complete, "
        f"{len(report.failed)} failed; {report.frames} frame(s), {report.faces} face(s) in {report.seconds:.1f} s "
        f"({fps:.1f} frames/s); results in {args.out}"
    )
    for path, reason in report.failed.items():
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    if report.failed:
        print(
            f"ferkit batch: {len(report.failed)} of {report.sources} source(s) could not be read (listed above, and in "
            f"{args.out}/manifest); exit code 3",
            file=sys.stderr,
        )
        return 3
    return 0
