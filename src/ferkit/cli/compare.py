"""`ferkit compare RUN_OR_REPORT...`: a thin shim over ferkit.evaluation.compare_reports."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare evaluation reports side by side (Markdown table, JSON, bar charts)"
    )
    parser.add_argument("reports", nargs="+", metavar="RUN_OR_REPORT",
                        help="report.json files or run folders holding one")
    parser.add_argument("--out", default="outputs/compare", help="folder for the table and charts (default outputs/compare/)")
    parser.add_argument("--names", default=None, help="comma-separated row names, one per report (default: report names)")
    parser.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ferkit.evaluation import compare_reports, load_report

    reports = [load_report(p) for p in args.reports]
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
    else:
        # A report without a name is shown by the folder (or file stem) it came from.
        names = [r.name or _path_name(Path(p)) for r, p in zip(reports, args.reports)]
    table = compare_reports(reports, names=names)
    paths = table.save(args.out)
    print(table.to_markdown())
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _path_name(path: "Path") -> str:
    return path.resolve().name if path.is_dir() else path.resolve().parent.name
