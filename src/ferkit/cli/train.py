"""`ferkit train CONFIG.yaml [key=value ...] [--resume RUN|auto] [--out DIR] [--name NAME]`: a thin shim over
ferkit.training.fit. ``key=value`` overrides may come before or after the options."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model from a YAML recipe (configs/*.yaml)")
    parser.add_argument("config", help="YAML recipe, e.g. configs/rafdb_mobilenet_v3_small_cpu.yaml")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, before or after the options, e.g. stages.1.lr=1e-5 data.batch_size=64",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR|auto",
        help="continue a stopped run from its last completed epoch ('auto': the newest run in out_dir; "
        "default: a new run)",
    )
    parser.add_argument(
        "--out", default=None, help="parent folder of run folders (same as out_dir=...; default: the recipe's out_dir)"
    )
    parser.add_argument("--name", default=None, help="run folder name (same as name=...; default: the recipe's name)")
    parser.add_argument("--no-progress", action="store_true", help="no per-epoch progress bars")
    parser.add_argument(
        "--override-config",
        action="store_true",
        help="with --resume: continue with this command's config even where it differs from the run's config.yaml",
    )
    parser.set_defaults(func=_train, intermixed="overrides")


def _train(args: argparse.Namespace) -> int:
    from ferkit.config import load_config
    from ferkit.training import fit

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"out_dir={args.out}")
    if args.name:
        overrides.append(f"name={args.name}")
    cfg = load_config(args.config, overrides)
    result = fit(cfg, resume=args.resume, progress=not args.no_progress, override_config=args.override_config)
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    print(f"run: {result.run_dir}")
    if result.best_metric is not None:
        print(
            f"best {cfg.early_stop.metric}: {result.best_metric:.4f} (epoch {result.best_epoch})"
            f"{', stopped early' if result.stopped_early else ''}"
        )
    if result.test_report:
        rep = result.test_report
        print(
            f"test: accuracy {rep['accuracy']:.4f}, macro F1 {rep['macro']['f1']:.4f} (n={rep['n']}); "
            f"report in {result.run_dir / 'test_report'}"
        )
    print(f"checkpoint: {result.best_dir}  ({result.seconds:.0f} s)")
    return 0
