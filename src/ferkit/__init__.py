"""ferkit: facial emotion recognition, offline, from raw dataset to served model.

Only the public API lives here; heavy modules (torch, OpenCV) load on first use so `import ferkit` is fast.
"""

from __future__ import annotations

from ferkit.labels import EMOTIONS

__version__ = "0.1.0"

__all__ = ["EMOTIONS", "__version__"]
