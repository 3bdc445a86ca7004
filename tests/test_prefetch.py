"""The read-ahead thread keeps order, re-raises errors where they are consumed, and stops when closed early."""

from __future__ import annotations

import threading
import time

import pytest

from ferkit.inference.prefetch import prefetch


def test_prefetch_keeps_order_and_reraises():
    assert list(prefetch(range(50), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for x in prefetch(broken()):
            got.append(x)
    assert got == [1]


def test_prefetch_stops_its_thread_when_closed_early():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    gen = prefetch(endless(), depth=2)
    assert next(gen) == 0
    gen.close()
    time.sleep(0.5)
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n <= 5  # stopped, at most depth + a few ahead
    assert not any(t.name == "ferkit-prefetch" and t.is_alive() for t in threading.enumerate())
