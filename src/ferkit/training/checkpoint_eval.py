"""Former home of ``evaluate_checkpoint``; the one evaluator is now ``ferkit.inference.evaluate_checkpoint``.

Kept so old imports work. Its import of ``ferkit.inference`` happens at call time: nothing in ``training`` uses
this module, so the layering (``training`` never depends on ``inference``) holds for the library itself.
"""

from __future__ import annotations


def evaluate_checkpoint(*args, **kwargs):
    """Alias of ``ferkit.inference.evaluate.evaluate_checkpoint`` (same arguments)."""
    from ferkit.inference.evaluate import evaluate_checkpoint as evaluate

    return evaluate(*args, **kwargs)
