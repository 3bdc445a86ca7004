"""`ferkit predict SOURCE`: emotions per face in an image, folder, glob, video or webcam (thin shim over
EmotionRecognizer.iter_predict and the writers in ferkit.inference.outputs).

``--json -`` / ``--csv -`` write the results to stdout; the console table and notes then go to stderr.
Exit codes: 0 all inputs read, 3 some inputs unreadable (the rest were processed and written), 2 an error."""

from __future__ import annotations

import argparse
import sys

from ferkit.cli._detector_args import add_detector_args, detector_kwargs


def add_parser(subparsers) -> None:
    from ferkit.inference.backends import BACKENDS

    p = subparsers.add_parser("predict", help="recognise emotions in an image, folder, glob, video or webcam index")
    p.add_argument(
        "source", help="image, folder (recursive), glob ('photos/**/*.jpg'), video file, or webcam index (0)"
    )
    p.add_argument(
        "--model",
        default=None,
        help="checkpoint folder, model.safetensors, .onnx or TorchScript .pt (default: the packaged model)",
    )
    add_detector_args(p)
    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="classifier backend (default auto: ONNX Runtime on CPU when installed)",
    )
    p.add_argument("--device", default="cpu", help="torch device for --backend torch (cpu, cuda)")
    p.add_argument("--top-k", type=int, default=1, help="also list the next k-1 classes per face")
    p.add_argument("--json", default=None, metavar="PATH", help="write all results as JSON ('-': to stdout)")
    p.add_argument(
        "--csv", default=None, metavar="PATH", help="write one row per frame and face, with timestamps ('-': to stdout)"
    )
    p.add_argument(
        "--save",
        default=None,
        metavar="DIR",
        help="save annotated images / videos (box, label, confidence bar) and, for videos, timeline PNGs",
    )
    p.add_argument(
        "--smoothing",
        default="auto",
        help="video: 'auto' (EMA, on), 'none', or an EMA weight in (0, 1] (smaller = smoother)",
    )
    p.add_argument(
        "--detect-every",
        type=int,
        default=1,
        metavar="N",
        help="video: run the detector every N frames and reuse the boxes in between (default 1)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="faces per classifier batch")
    p.add_argument(
        "--limit", type=int, default=None, help="stop each video/webcam after this many frames (default: all)"
    )
    p.add_argument("--max-rows", type=int, default=40, help="rows of the console table (all rows go to --csv/--json)")
    p.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    import functools

    from ferkit.inference import EmotionRecognizer
    from ferkit.inference.outputs import (
        AnnotatedWriter,
        collect_results,
        count_source_frames,
        format_summary,
        format_table,
        report_streams,
        write_csv,
        write_json,
    )
    from ferkit.paths import check_writable

    if args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}.")
    if args.json == "-" and args.csv == "-":
        raise ValueError("--json - and --csv - both ask for stdout; send one of them to a file.")
    # With results on stdout, everything else goes to stderr so stdout stays valid JSON / CSV.
    say = functools.partial(print, file=sys.stderr if "-" in (args.json, args.csv) else sys.stdout)
    for path in (args.json, args.csv):  # fail before the model loads, not after the last frame
        if path and path != "-":
            check_writable(path)
    if args.save:
        check_writable(args.save, folder=True)
    rec = EmotionRecognizer(
        model=args.model,
        **detector_kwargs(args),
        backend=args.backend,
        device=args.device,
        smoothing=args.smoothing,
        batch_size=args.batch_size,
        detect_every=args.detect_every,
    )
    writer = AnnotatedWriter(args.save) if args.save else None
    results = rec.iter_predict(args.source, limit=args.limit, keep_images=writer is not None)
    frames = collect_results(results, writer, total=count_source_frames(args.source))
    say(format_table(frames, args.top_k, args.max_rows))
    for line in report_streams(frames, rec.labels, args.save):
        say(line)
    for line in format_summary(frames, rec.model_info):
        say(line)
    if args.json:
        path = write_json(frames, args.json, {"model": rec.model_info})
        if args.json != "-":
            say(f"wrote {path}")
    if args.csv:
        path = write_csv(frames, args.csv, args.top_k)
        if args.csv != "-":
            say(f"wrote {path}")
    if writer and writer.written:
        say(f"wrote {len(writer.written)} annotated file(s) to {args.save}")
    bad = [f for f in frames if f.error]
    if bad:
        print(
            f"ferkit predict: {len(bad)} of {len(frames)} input(s) could not be read (listed above); exit code 3",
            file=sys.stderr,
        )
        return 3
    return 0
