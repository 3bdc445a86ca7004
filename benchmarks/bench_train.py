"""End-to-end training throughput: cached RAF-DB arrays -> augmenting DataLoader -> train_one_epoch.

Unlike bench_models.py (random tensors, model step only), this times what `ferkit train` does per batch:
memmap read, uint8 augmentation, collate, forward/backward, AdamW step. Results depend on the machine's load.

    .venv/bin/python benchmarks/bench_train.py --models fercnet_s mobilenet_v3_small --size 64 --batches 20
    .venv/bin/python benchmarks/bench_train.py --models fercnet_s --workers 0 --batch-augment   # data.batch_augment
"""

from __future__ import annotations

import argparse
import time

import torch


def bench(
    name: str,
    size: int,
    channels: int | None,
    batches: int,
    batch_size: int,
    workers: int,
    preset: str,
    batch_aug: bool,
) -> dict:
    from ferkit.config import StageConfig
    from ferkit.data import load_dataset
    from ferkit.data.cache import load_cached_arrays
    from ferkit.data.loaders import ArrayDataset, build_loader
    from ferkit.data.transforms import build_batch_transforms, build_transforms
    from ferkit.models import create_model, get_model_cfg
    from ferkit.training import build_optimizer, train_one_epoch

    chans = channels or get_model_cfg(name)["in_chans"]
    model = create_model(name, in_chans=chans).to(memory_format=torch.channels_last)
    arrays = load_cached_arrays(load_dataset("../shared/data/rafdb", "train"), size, chans)
    mean, std = model.default_cfg["mean"], model.default_cfg["std"]
    batch_tf = None
    if batch_aug:  # data.batch_augment: the loader only copies uint8 images, the step augments the batch
        tf, batch_tf = build_batch_transforms(size, chans, mean, std, preset=preset)
    else:
        tf = build_transforms(size, chans, mean, std, train=True, preset=preset)
    loader = build_loader(ArrayDataset(arrays, tf), batch_size, train=True, num_workers=workers)
    opt = build_optimizer(model, StageConfig(lr=1e-3, optimizer="adamw"))
    crit = torch.nn.CrossEntropyLoss()
    # One short warm-up pass, then a timed pass over `batches` batches.
    head = [b for _, b in zip(range(batches + 2), loader)]
    train_one_epoch(model, head[:2], crit, opt, progress=False, channels_last=True, batch_transform=batch_tf)
    start = time.perf_counter()
    it = iter(loader)
    timed = [next(it) for _ in range(batches)]
    load_s = time.perf_counter() - start
    stats = train_one_epoch(model, timed, crit, opt, progress=False, channels_last=True, batch_transform=batch_tf)
    total = load_s + stats["seconds"]
    n = stats["images"]
    return {
        "model": name,
        "size": size,
        "in_chans": chans,
        "load_img_s": n / load_s,
        "step_img_s": n / stats["seconds"],
        "end_to_end_img_s": n / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fercnet_s", "mobilenet_v3_small", "simple_cnn"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=None, help="default: each model's own")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-augment", action="store_true", help="augment whole batches in the step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| model | size | in_chans | loader img/s | train step img/s | end to end img/s |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        r = bench(
            name, args.size, args.channels, args.batches, args.batch_size, args.workers, args.preset, args.batch_augment
        )
        print(
            f"| {r['model']} | {r['size']} | {r['in_chans']} | {r['load_img_s']:.0f} | {r['step_img_s']:.0f} | "
            f"{r['end_to_end_img_s']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
