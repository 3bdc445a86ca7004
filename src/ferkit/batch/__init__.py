"""``ferkit batch``: emotions for a whole archive of photos and videos on Ray Data, written as Parquet (one row per
face per frame, plus a per-source summary), resumable through per-source manifests. Needs ``pip install
'ferkit[batch]'`` (Ray Data, pyarrow); schema and cluster set-up in docs/batch.md."""

from __future__ import annotations

from ferkit.batch.pipeline import BatchReport, run_batch

__all__ = ["BatchReport", "run_batch"]
