"""`ferkit serve`: the REST API and web page over EmotionRecognizer (thin shim over ferkit.serving.serve)."""

from __future__ import annotations

import argparse

from ferkit.cli._detector_args import add_detector_args, detector_kwargs


def add_parser(subparsers) -> None:
    from ferkit.inference.backends import BACKENDS

    parser = subparsers.add_parser("serve", help="serve the REST API (/v1/predict) and the web page on localhost")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, local only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="M",
        help="checkpoint folder, model.safetensors or model.onnx; repeat to serve several "
        "(the first is the default; none = the packaged default model)",
    )
    add_detector_args(parser)
    parser.add_argument("--backend", default="auto", choices=BACKENDS)
    parser.add_argument("--workers", type=int, default=1, help="inference threads (default 1)")
    parser.add_argument(
        "--max-pending",
        type=int,
        default=32,
        help="requests queued or running before the server answers 503 (default 32)",
    )
    parser.add_argument("--max-upload-mb", type=float, default=10.0, help="largest upload in MiB (default 10)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=40_000_000,
        help="largest image width x height (default 40 000 000); refuses decompression bombs",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds an upload may stall between body chunks before a 408 (default 15)",
    )
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from ferkit.serving import ServerConfig, serve

    config = ServerConfig(
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=args.max_pixels,
        workers=args.workers,
        max_pending=args.max_pending,
        read_timeout=args.read_timeout,
    )
    serve(
        args.model or [None],
        host=args.host,
        port=args.port,
        detector_options=detector_kwargs(args),
        backend=args.backend,
        config=config,
    )
    return 0
