"""Loader throughput (images/s, decode + augment) on RAF-DB train: cold (JPEG decoded every epoch, no cache)
vs cached (decoded arrays, memory-mapped), at 64 px gray and 100 px RGB with the ``standard`` preset.

    .venv/bin/python benchmarks/bench_loader.py [--data ../shared/data/rafdb] [--images 4096] [--workers 2]

Prints a Markdown table; the cache is built in a temporary folder so its one-off build time is measured too.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch

from ferkit.data import load_dataset
from ferkit.data.cache import load_cached_arrays
from ferkit.data.loaders import ArrayDataset, ImageFileDataset, build_loader
from ferkit.data.transforms import build_transforms


def images_per_s(dataset, batch_size: int, workers: int) -> float:
    loader = build_loader(dataset, batch_size, train=True, num_workers=workers, drop_last=False)
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    n, t0 = 0, time.perf_counter()
    for x, _ in it:
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/rafdb")
    ap.add_argument("--images", type=int, default=4096, help="images per measurement (a fixed subset)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--preset", default="standard")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the loader workers are the parallelism; 1 thread each avoids oversubscription
    ds = load_dataset(args.data, "train")
    ds = ds.subset(range(min(args.images, len(ds))))
    print(
        f"RAF-DB train subset: {len(ds)} images, batch {args.batch_size}, {args.workers} loader workers, "
        f"preset {args.preset}; {platform.processor() or platform.machine()}, torch {torch.__version__}"
    )
    print("| size | channels | cold: JPEG each epoch (img/s) | cache build, one-off (s) | cached arrays (img/s) |")
    print("|---|---|---|---|---|")
    for size, ch in ((64, 1), (100, 3)):
        mean, std = [0.5] * ch, [0.5] * ch
        tf = build_transforms(size, ch, mean, std, train=True, preset=args.preset)
        cold = images_per_s(ImageFileDataset(ds, size, ch, tf), args.batch_size, args.workers)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            arrays = load_cached_arrays(ds, size, ch, cache_dir=tmp, workers=args.workers)
            build = time.perf_counter() - t0
            cached = images_per_s(ArrayDataset(arrays, tf), args.batch_size, args.workers)
        print(f"| {size} | {ch} | {cold:.0f} | {build:.2f} | {cached:.0f} |")


if __name__ == "__main__":
    main()
