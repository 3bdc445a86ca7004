"""`ferkit <verb>`: each verb parses its arguments, builds a config and calls one public function.

Each verb lives in its own module here with `add_parser(subparsers)`; the module's handler is set as
`func` on its parser. Nothing in the library imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Verb modules, in the order `ferkit --help` lists them. Each is imported only to build the parser;
# heavy imports (torch, cv2) happen inside the handlers.
VERB_MODULES: tuple[str, ...] = (
    "ferkit.cli.predict",
    "ferkit.cli.data",
    "ferkit.cli.train",
    "ferkit.cli.evaluate",
    "ferkit.cli.compare",
    "ferkit.cli.export",
    "ferkit.cli.serve",
    "ferkit.cli.explain",
)


def build_parser() -> argparse.ArgumentParser:
    from ferkit import __version__

    parser = argparse.ArgumentParser(prog="ferkit", description="Facial emotion recognition toolkit.")
    parser.add_argument("--version", action="version", version=f"ferkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        # Library errors already name the bad value and the fix; print them without a traceback.
        print(f"ferkit {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
