"""Read ahead: decode the next frames in a background thread, and detect faces in them on worker threads, while the
current ones are classified.

Image decoding (Pillow, OpenCV) and ONNX Runtime release the GIL, so on two cores the decode of frame i+2, the
detection of frame i+1 and the classification of frame i overlap. Not used for webcams, where reading ahead would
only queue stale frames.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

_DONE = object()


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Yield ``items`` in order, produced by a daemon thread up to ``depth`` ahead; its exceptions re-raise here.
    Closing the generator early (break) stops the thread at its next item."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            q.put((_DONE, exc))

    thread = threading.Thread(target=work, name="ferkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()


def map_ahead(items: Iterable, fn: Callable, workers: int, depth: int = 2) -> Iterator[tuple]:
    """Yield ``(item, fn(item))`` in the order of ``items``: items are read ahead by ``prefetch`` and ``fn`` runs on
    ``workers`` threads, at most ``workers + depth`` items in flight (frames can be 36 MB each). ``workers`` 0, or a
    single item (one photo, one REST upload: no thread pool worth starting): ``fn`` runs here, only the reading is
    ahead. ``fn``'s exceptions re-raise here, at their item."""
    source = prefetch(items, depth)
    try:
        if workers <= 0:
            yield from ((item, fn(item)) for item in source)
            return
        first = next(source, _DONE)
        if first is _DONE:
            return
        try:
            second = next(source, _DONE)
        except BaseException:
            yield first, fn(first)  # the first item still comes out before the source's error
            raise
        if second is _DONE:
            yield first, fn(first)
            return
        yield from _map_on_pool(itertools.chain((first, second), source), fn, workers)
    finally:
        source.close()


def _map_on_pool(items: Iterator, fn: Callable, workers: int) -> Iterator[tuple]:
    window: deque = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="ferkit-detect") as pool:
        try:
            for item in items:
                window.append((item, pool.submit(fn, item)))
                if len(window) > workers:
                    oldest, future = window.popleft()
                    yield oldest, future.result()
            while window:
                oldest, future = window.popleft()
                yield oldest, future.result()
        finally:  # closed early: drop the queued work, let the running calls finish
            for _, future in window:
                future.cancel()
