"""CPU training and inference speed of every registered model at its default input size.

    .venv/bin/python benchmarks/bench_models.py                      # all models, batch 64
    .venv/bin/python benchmarks/bench_models.py --models fercnet_s --sizes 48 64 --batch-size 128

Train = SGD step (forward, cross-entropy, backward, update) in train mode; inference = eval forward under
no_grad. Random inputs, so data loading is not measured. Prints a Markdown table (and writes JSON with --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from ferkit.models import count_flops, count_parameters, create_model, get_model_cfg, list_models


def _time_steps(step, iters: int, warmup: int) -> float:
    """Median seconds per step: the median resists other jobs on the shared CPU better than the mean."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def bench_model(name: str, image_size: int, batch_size: int, iters: int, warmup: int, channels_last: bool) -> dict:
    torch.manual_seed(0)
    model = create_model(name)
    in_chans = model.default_cfg["in_chans"]
    params, flops = count_parameters(model), count_flops(model, image_size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(batch_size, in_chans, image_size, image_size).contiguous(memory_format=fmt)
    y = torch.randint(0, 7, (batch_size,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    model.train()
    train_s = _time_steps(train_step, iters, warmup)
    model.eval()
    with torch.no_grad():
        infer_s = _time_steps(lambda: model(x), iters, warmup)
    return {
        "model": name,
        "image_size": image_size,
        "in_chans": in_chans,
        "params_m": params / 1e6,
        "gflops": flops / 1e9,
        "batch_size": batch_size,
        "channels_last": channels_last,
        "train_img_s": batch_size / train_s,
        "infer_img_s": batch_size / infer_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="names or patterns (default: all)")
    parser.add_argument("--sizes", nargs="*", type=int, default=None, help="input sizes (default: each model's)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list_models() if not args.models else sorted({n for p in args.models for n in list_models(p)})
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, batch {args.batch_size}, {args.iters} timed iterations (median)",
        flush=True,
    )
    print("| model | size | in_chans | params (M) | GFLOPs/img | train img/s | infer img/s |")
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for name in names:
        for size in args.sizes or [get_model_cfg(name)["image_size"]]:
            row = bench_model(name, size, args.batch_size, args.iters, args.warmup, not args.no_channels_last)
            rows.append(row)
            print(
                f"| {name} | {size} | {row['in_chans']} | {row['params_m']:.2f} | {row['gflops']:.3f} | "
                f"{row['train_img_s']:.0f} | {row['infer_img_s']:.0f} |",
                flush=True,
            )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
