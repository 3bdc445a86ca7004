"""Bounded inference: a few worker threads and a cap on requests waiting for them.

A burst of requests queues (slowing down) up to ``max_pending``; beyond that the server answers 503 with
Retry-After instead of holding ever more uploads in memory. Model calls never run on the event loop, so
/healthz and the page stay responsive while the workers are busy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ferkit.serving.errors import ServingError


class InferencePool:
    """Run blocking calls on ``workers`` threads with at most ``max_pending`` admitted (running + waiting).

    Use from one asyncio event loop only (the counter is not locked; the loop is single-threaded).
    """

    def __init__(self, workers: int = 1, max_pending: int = 32):
        if workers < 1 or max_pending < workers:
            raise ValueError(
                f"workers={workers}, max_pending={max_pending}: need workers >= 1 and max_pending >= workers."
            )
        self.workers = workers
        self.max_pending = max_pending
        self.pending = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="ferkit-infer")

    async def run(self, fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
        """Run ``fn(*args)`` on a worker; returns ``(result, seconds waited in the queue)``."""
        if self.pending >= self.max_pending:
            raise ServingError(
                503,
                "overloaded",
                f"{self.pending} requests are already queued (limit {self.max_pending}); retry in a second.",
            )
        self.pending += 1
        queued_at = time.perf_counter()
        started: list[float] = []

        def job():
            started.append(time.perf_counter())
            return fn(*args)

        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, job)
        finally:
            self.pending -= 1
        return result, (started[0] - queued_at) if started else 0.0

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
