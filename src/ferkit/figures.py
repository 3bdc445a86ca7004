"""Matplotlib helpers shared by every layer that writes a PNG (inspect charts, reports, timelines).

Matplotlib is imported on first use with the headless Agg backend, so importing ferkit never needs a display.
"""

from __future__ import annotations

from pathlib import Path


def get_pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display on servers and CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (parent folders created), close it, return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    get_pyplot().close(fig)
    return path
