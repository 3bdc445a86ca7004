"""`ferkit data inspect|split`: thin shims over ferkit.data.inspect and ferkit.data.split."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="inspect datasets and make split files")
    verbs = parser.add_subparsers(dest="data_verb", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    from ferkit.data.formats import FORMATS

    formats = ("auto", *FORMATS)
    ins = verbs.add_parser("inspect", help="layout, splits, class counts, sizes, duplicates, unreadable files")
    ins.add_argument("path", help="dataset folder (or fer2013.csv)")
    ins.add_argument("--format", default="auto", choices=formats)
    ins.add_argument("--json", action="store_true", help="print the full report as JSON")
    ins.add_argument("--out", default=None, help="folder for the chart and JSON (default outputs/inspect/<name>/)")
    ins.add_argument("--workers", type=int, default=None, help="decoder processes (default 2)")
    ins.set_defaults(func=_inspect)

    spl = verbs.add_parser("split", help="stratified seeded split of one split into named parts -> JSON file")
    spl.add_argument("path")
    spl.add_argument("--format", default="auto", choices=formats)
    spl.add_argument("--split", default="test", help="the split to divide (default test)")
    spl.add_argument("--into", default="val:0.5,test:0.5", help="NAME:FRACTION,... summing to 1")
    spl.add_argument("--seed", type=int, default=0)
    spl.add_argument("--dedupe", action="store_true", help="keep one copy of exact duplicates first")
    spl.add_argument(
        "--out", required=True, help="split file to write (JSON: image paths per part, relative to the dataset root)"
    )
    spl.set_defaults(func=_split)


def _inspect(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ferkit.data.inspect import format_report, inspect_dataset, plot_class_distribution

    report = inspect_dataset(args.path, args.format, workers=args.workers)
    out = Path(args.out) if args.out else Path("outputs") / "inspect" / report["name"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "inspect.json").write_text(json.dumps(report, indent=1))
    chart = plot_class_distribution(report, out / "class_distribution.png")
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
        print(f"\nwrote {chart} and {out / 'inspect.json'}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from ferkit.data import dedupe, load_dataset, save_split_file, split_dataset
    from ferkit.data.split import parse_fractions

    fractions = parse_fractions(args.into)
    ds = load_dataset(args.path, args.split, args.format)
    n_before = len(ds)
    if args.dedupe:
        ds = dedupe(ds)
    parts = split_dataset(ds, fractions, seed=args.seed)
    path = save_split_file(
        parts,
        args.out,
        source=str(args.path),
        format=ds.format,
        split=args.split,
        seed=args.seed,
        fractions=fractions,
        deduped=args.dedupe,
        images=n_before,
    )
    for name, part in parts.items():
        counts = " ".join(f"{c}={n}" for c, n in part.class_counts().items())
        print(f"{name}: {len(part)}  ({counts})")
    print(f"wrote {path}")
    return 0
