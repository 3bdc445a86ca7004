"""``inspect_dataset``: layout, splits, class distribution, image sizes/modes, exact duplicates (within and across
splits: leakage) and unreadable files of a dataset, as a JSON-able dict; plus a text table and a bar chart."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from ferkit.data.decode import probe_dataset
from ferkit.data.fer2013 import USAGE_PREFIXES
from ferkit.data.formats import get_layout, load_dataset
from ferkit.data.split import duplicate_groups

log = logging.getLogger(__name__)


def _across(groups) -> list[list[list[str]]]:
    """Groups of ``[split, source_id]`` with one MD5 that span more than one split."""
    return [g for g in groups if len({s for s, _ in g}) > 1]


def _usage_of(source_id: str) -> str:
    name = Path(source_id).name
    return next((s for s, pre in USAGE_PREFIXES.items() if name.startswith(pre)), "unknown")


def inspect_dataset(path: str | Path, format: str = "auto", workers: int | None = None) -> dict:
    """Summary dict of the dataset at ``path``: ``format``, ``splits`` (per split: ``count``, ``class_counts``,
    ``sizes``, ``modes``, ``unreadable``, ``duplicates_within``), ``duplicates_across`` (groups of
    ``[split, source_id]``) and, for FER+, the label-rule drops and soft-label counts."""
    root, layout = get_layout(path, format)
    fmt = layout.name
    splits = layout.list_splits(root)
    partition = layout.partition(splits)  # FER2013's usage_* splits re-slice the same files as train/test
    report: dict = {"path": str(path), "format": fmt, "splits": {}, "partition_splits": partition}
    md5_owner: dict[str, list[list[str]]] = {}
    for split in splits:
        ds = load_dataset(path, split, fmt)
        report["name"] = ds.name
        report["classes"] = list(ds.classes)
        entry = {"count": len(ds), "class_counts": ds.class_counts()}
        if "soft" in layout.label_modes:  # FER+: votes per image
            entry["label_rule"] = "majority (plurality; ties, unknown, not-a-face, contempt dropped)"
            entry["dropped"] = ds.dropped
            # Hash every image with a kept-class vote (not only the majority-labelled ones): leakage matters
            # for soft-label training too.
            ds = load_dataset(path, split, fmt, include_contempt=True, label_mode="soft")
            entry["images_with_votes"] = len(ds)
        if split in partition:
            infos = probe_dataset(ds, workers)
            ok = [i for i in infos if i is not None]
            entry["sizes"] = dict(Counter(i["size"] for i in ok).most_common())
            entry["modes"] = dict(Counter(i["mode"] for i in ok).most_common())
            md5s = [None if i is None else i["md5"] for i in infos]
            entry["duplicates_within"] = [[ds.source_ids[j] for j in g] for g in duplicate_groups(md5s)]
            for sid, h in zip(ds.source_ids, md5s):
                if h is not None:
                    md5_owner.setdefault(h, []).append([split, sid])
        else:
            entry["note"] = "same files as the folder splits, regrouped by file-name Usage prefix"
        entry["unreadable"] = [list(s) for s in ds.skipped]
        report["splits"][split] = entry
    report["duplicates_across"] = _across(md5_owner.values())
    if fmt == "fer2013_folders":
        # Leakage between the Usage splits (Training / PublicTest / PrivateTest) of the standard protocol.
        by_usage = [[[_usage_of(sid), sid] for _, sid in owners] for owners in md5_owner.values()]
        report["duplicates_across_usage"] = _across(by_usage)
    report["totals"] = {
        "images": sum(report["splits"][s]["count"] for s in partition),
        "unreadable": sum(len(report["splits"][s]["unreadable"]) for s in splits),
        "duplicate_groups_within": sum(len(report["splits"][s].get("duplicates_within", [])) for s in partition),
        "duplicate_groups_across": len(report["duplicates_across"]),
    }
    if "duplicates_across_usage" in report:
        report["totals"]["duplicate_groups_across_usage"] = len(report["duplicates_across_usage"])
    return report


def format_report(report: dict, max_list: int = 5) -> str:
    """Readable text summary of an ``inspect_dataset`` report (the lists are cut to ``max_list`` items)."""
    classes = report["classes"]
    splits = report["splits"]
    lines = [f"dataset  {report['path']}", f"format   {report['format']}", f"splits   {', '.join(splits)}", ""]
    width = max(9, *(len(s) for s in splits)) + 2
    lines.append("class".ljust(10) + "".join(s.rjust(width) for s in splits))
    for c in classes:
        lines.append(c.ljust(10) + "".join(str(splits[s]["class_counts"][c]).rjust(width) for s in splits))
    lines.append("total".ljust(10) + "".join(str(splits[s]["count"]).rjust(width) for s in splits))
    lines.append("")
    for s, e in splits.items():
        if "sizes" in e:
            sizes = ", ".join(f"{k} x{v}" for k, v in e["sizes"].items())
            modes = ", ".join(f"{k} x{v}" for k, v in e["modes"].items())
            lines.append(
                f"{s}: sizes {sizes}; modes {modes}; exact duplicate groups within: "
                f"{len(e['duplicates_within'])}; unreadable: {len(e['unreadable'])}"
            )
        if "dropped" in e:
            rows = e["count"] + sum(e["dropped"].values())
            lines.append(f"{s}: FER+ majority vote kept {e['count']} of {rows} label.csv rows; dropped {e['dropped']}")
        if "note" in e:
            lines.append(f"{s}: {e['note']}")
        for sid, why in e["unreadable"][:max_list]:
            lines.append(f"  unreadable {sid}: {why}")
    for key, title in (("duplicates_across", "splits"), ("duplicates_across_usage", "Usage splits")):
        if key in report:
            groups = report[key]
            lines.append(
                f"exact duplicates across {title} (leakage): {len(groups)} groups, {sum(len(g) for g in groups)} images"
            )
            lines += _group_lines(groups, max_list, lambda x: f"{x[0]}:{Path(x[1]).name}")
    for s, e in splits.items():
        groups = e.get("duplicates_within", [])
        if groups:
            lines.append(f"exact duplicates within {s}: {len(groups)} groups, {sum(len(g) for g in groups)} images")
            lines += _group_lines(groups, max_list, lambda x: Path(x).name)
    return "\n".join(lines)


def _group_lines(groups: list, max_list: int, show) -> list[str]:
    out = []
    for g in groups[:max_list]:
        names = [show(x) for x in g]
        out.append("  " + " == ".join(names[:6]) + (f" (+{len(names) - 6} more)" if len(names) > 6 else ""))
    if len(groups) > max_list:
        out.append(f"  ... {len(groups) - max_list} more groups (full lists: --json or inspect.json)")
    return out


def plot_class_distribution(report: dict, out_path: str | Path) -> Path:
    """Grouped bar chart of class counts per split, saved as PNG."""
    from ferkit.figures import get_pyplot, save_figure

    plt = get_pyplot()
    import numpy as np

    classes, splits = report["classes"], list(report["splits"])
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(splits))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(classes)), 4))
    for k, s in enumerate(splits):
        counts = [report["splits"][s]["class_counts"][c] for c in classes]
        ax.bar(x + (k - (len(splits) - 1) / 2) * width, counts, width, label=f"{s} ({sum(counts)})")
    ax.set_xticks(x, classes)
    ax.set_ylabel("images")
    ax.set_title(f"{report.get('name', '')} ({report['format']}): class distribution")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, out_path)
