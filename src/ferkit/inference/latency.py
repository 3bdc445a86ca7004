"""CPU latency of a classifier backend on one face, measured so that two numbers mean the same thing: warm-up
passes first, then the median of many timed passes, with the thread count stated.

Numbers from different processes (machines, loads, thread counts) are not comparable; each measurement carries
``latency_session`` (host, process, start time) so ``ferkit compare`` shows latency side by side only when every
row was measured in the same session.
"""

from __future__ import annotations

import os
import socket
import time

import numpy as np

SESSION = f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"
RUNS, WARMUP = 50, 5


def _threads(backend) -> int:
    if backend.name == "onnx":
        return backend.session.get_session_options().intra_op_num_threads  # set by ferkit.onnxrt.cpu_session
    import torch

    return torch.get_num_threads()


def measure_backend_latency(backend, image_size: int, in_chans: int, runs: int = RUNS, warmup: int = WARMUP) -> dict:
    """Batch-1 latency of ``backend`` (a ``TorchBackend`` on CPU or an ``OnnxBackend``) on random input.

    Returns the ``latency_*`` entries of a report's ``extra``: median ms, runs, warm-up passes, threads, backend
    and session.
    """
    if backend.name == "torch" and str(backend.device) != "cpu":
        raise ValueError(f"CPU latency needs a CPU backend; this one runs on {backend.device}.")
    x = np.random.default_rng(0).standard_normal((1, in_chans, image_size, image_size)).astype(np.float32)
    for _ in range(warmup):
        backend(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend(x)
        times.append(time.perf_counter() - start)
    return {
        "latency_ms": float(np.median(times) * 1e3),
        "latency_runs": runs,
        "latency_warmup": warmup,
        "latency_threads": _threads(backend),
        "latency_backend": backend.name,
        "latency_session": SESSION,
    }
