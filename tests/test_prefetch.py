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


def _endless(produced: list):
    """0, 1, 2, ... forever, noting each item it hands out."""
    i = 0
    while True:
        produced.append(i)
        yield i
        i += 1


def test_prefetch_stops_its_thread_when_closed_early():
    produced = []
    gen = prefetch(_endless(produced), depth=2)
    assert next(gen) == 0
    gen.close()
    time.sleep(0.5)
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n <= 5  # stopped, at most depth + a few ahead
    assert not any(t.name == "ferkit-prefetch" and t.is_alive() for t in threading.enumerate())


def test_map_ahead_keeps_order_runs_on_workers_and_reraises_at_its_item():
    from ferkit.inference.prefetch import map_ahead

    names = set()

    def slow_square(x):
        names.add(threading.current_thread().name)
        time.sleep(0.002 * (x % 3))  # later items often finish first
        return x * x

    assert list(map_ahead(range(40), slow_square, workers=3)) == [(x, x * x) for x in range(40)]
    assert names and all(n.startswith("ferkit-detect") for n in names)
    assert list(map_ahead(range(5), slow_square, workers=0)) == [(x, x * x) for x in range(5)]

    def fails_on_7(x):
        if x == 7:
            raise ValueError("bad frame 7")
        return x

    got = []
    with pytest.raises(ValueError, match="bad frame 7"):
        for item, _ in map_ahead(range(20), fails_on_7, workers=2):
            got.append(item)
    assert got == list(range(7))


def test_map_ahead_closed_early_stops_reading():
    from ferkit.inference.prefetch import map_ahead

    produced = []
    gen = map_ahead(_endless(produced), lambda x: x, workers=2)
    assert next(gen) == (0, 0)
    gen.close()
    time.sleep(0.5)
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n <= 10
    assert not any(
        t.name.startswith(("ferkit-prefetch", "ferkit-detect")) and t.is_alive() for t in threading.enumerate()
    )


def test_map_ahead_runs_a_single_item_here_and_keeps_items_before_a_source_error():
    from ferkit.inference.prefetch import map_ahead

    where = []

    def note(x):
        where.append(threading.current_thread().name)
        return -x

    assert list(map_ahead([7], note, workers=3)) == [(7, -7)]  # one photo: no pool started
    assert where == [threading.current_thread().name]
    assert list(map_ahead([], note, workers=3)) == []

    def one_then_broken():
        yield 1
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for pair in map_ahead(one_then_broken(), note, workers=2):
            got.append(pair)
    assert got == [(1, -1)]
