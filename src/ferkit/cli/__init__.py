"""`ferkit <verb>`: each verb parses its arguments, builds a config and calls one public function.

Each verb lives in its own module here with `add_parser(subparsers)`; the module's handler is set as
`func` on its parser. Nothing in the library imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

from ferkit.extras import MissingExtraError, install_hint, require

# Verb modules, in the order `ferkit --help` lists them. Each is imported only to build the parser;
# heavy imports (torch, cv2) happen inside the handlers.
VERB_MODULES: tuple[str, ...] = (
    "ferkit.cli.predict",
    "ferkit.cli.batch",
    "ferkit.cli.data",
    "ferkit.cli.train",
    "ferkit.cli.evaluate",
    "ferkit.cli.compare",
    "ferkit.cli.export",
    "ferkit.cli.serve",
    "ferkit.cli.explain",
)

# What each verb imports beyond the base install (ferkit.extras maps each to its `pip install 'ferkit[<extra>]'`),
# checked before the verb runs so a long evaluation does not fail at its last step.
VERB_NEEDS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "torchvision", "sklearn", "scipy", "matplotlib", "yaml"),
    "evaluate": ("sklearn", "matplotlib"),
    "compare": ("matplotlib",),
    "export": ("torch",),
    "explain": ("torch",),
    "data": ("sklearn", "matplotlib"),
    "batch": ("ray", "pyarrow"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append each option's default to its help, unless the help already says it or there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False or action.default == []:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows defaults; sub-commands inherit it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        # argparse only expands the help it has: give a bare option one, so its default still shows.
        if action.help is None and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"
        return action


def build_parser() -> argparse.ArgumentParser:
    from ferkit import __version__

    parser = Parser(prog="ferkit", description="Facial emotion recognition toolkit.")
    parser.add_argument("--version", action="version", version=f"ferkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    for name in VERB_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args``, except that a verb's list positional named by ``intermixed`` also takes the words
    after its options ("ferkit train C --out X k=v"): argparse stops filling positionals at the first option, and
    parse_intermixed_args refuses subparsers."""
    args, extra = parser.parse_known_args(argv)
    tail = getattr(args, "intermixed", None)
    if extra and (tail is None or any(word.startswith("-") for word in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        setattr(args, tail, list(getattr(args, tail)) + extra)
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        require(f"ferkit {args.verb}", *VERB_NEEDS.get(args.verb, ()))
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, OSError, MissingExtraError) as exc:
        # Library errors already name the bad value and the fix; print them without a traceback.
        print(f"ferkit {args.verb}: error: {cli_message(str(exc), args)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        hint = install_hint(exc.name or "")
        if hint is None:
            raise
        print(
            f"ferkit {args.verb}: error: this command needs {exc.name}, which is not installed; install it with "
            f"`{hint}`.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cli_message(text: str, args: argparse.Namespace) -> str:
    """A library message in CLI terms: ``backend='torch'`` -> ``--backend torch`` for each option of this verb."""
    for dest in vars(args):
        flag = "--" + dest.replace("_", "-")
        # Not after a dot: "data.batch_size=64" is a config key, not --batch-size.
        pattern = rf"(?<![\w.]){re.escape(dest)}=(?:'([^']*)'|\"([^\"]*)\"|([^\s,;)]+))"
        text = re.sub(pattern, lambda m, flag=flag: f"{flag} {next(g for g in m.groups() if g is not None)}", text)
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
