"""`ferkit compare RUN_OR_REPORT...`: a thin shim over ferkit.evaluation.compare_reports."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare evaluation reports side by side (Markdown table, JSON, bar charts)"
    )
    parser.add_argument(
        "reports", nargs="+", metavar="RUN_OR_REPORT", help="report.json files or run folders holding one"
    )
    parser.add_argument(
        "--out", default="outputs/compare", help="folder for the table and charts (default outputs/compare/)"
    )
    parser.add_argument(
        "--names", default=None, help="comma-separated row names, one per report (default: report names)"
    )
    parser.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from ferkit.evaluation import compare_reports, load_report

    reports = [load_report(p) for p in args.reports]
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
    else:
        names = _default_names([r.name for r in reports], args.reports)
    table = compare_reports(reports, names=names)
    paths = table.save(args.out)
    print(table.to_markdown())
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _default_names(report_names: list, args: list[str]) -> list[str]:
    """Report names when set and distinct, else run folder names, else the arguments as typed."""
    from pathlib import Path

    folders = [_path_name(Path(a)) for a in args]
    for names in ([n or f for n, f in zip(report_names, folders)], folders):
        if len(set(names)) == len(names):
            return names
    return list(args)  # the same path twice: compare_reports reports the duplicate


def _path_name(path) -> str:
    """The run folder: the directory given, or the folder holding report.json (above test_report/)."""
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    return folder.parent.name if folder.name == "test_report" else folder.name
