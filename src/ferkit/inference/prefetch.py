"""Read ahead: decode the next frames in a background thread while the current ones are detected and classified.

Image decoding (Pillow, OpenCV) releases the GIL, so on two cores the decode of frame i+1 overlaps the detection of
frame i. Not used for webcams, where reading ahead would only queue stale frames.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

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
