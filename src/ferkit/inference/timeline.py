"""Per-face emotion timeline of a video: one panel per track, class probabilities against time."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ferkit.inference.results import FrameResult, color_for


def collect_tracks(frames: list[FrameResult]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """track id -> (times N, probs N x C in label order of the first face seen)."""
    series: dict[int, list] = defaultdict(list)
    for fr in frames:
        t = fr.timestamp if fr.timestamp is not None else float(fr.frame_index)
        for face in fr.faces:
            if face.track_id is not None:
                series[face.track_id].append((t, list(face.probs.values())))
    return {k: (np.array([t for t, _ in v]), np.array([p for _, p in v])) for k, v in series.items()}


def save_timeline(
    frames: list[FrameResult], path: str | Path, labels: tuple[str, ...], min_frames: int = 3
) -> Path | None:
    """Write a PNG with one panel per track seen in at least ``min_frames`` frames; None when there is none."""
    from ferkit.figures import get_pyplot, save_figure

    plt = get_pyplot()

    tracks = {k: v for k, v in collect_tracks(frames).items() if len(v[0]) >= min_frames}
    if not tracks:
        return None
    fig, axes = plt.subplots(len(tracks), 1, figsize=(9, 2.2 * len(tracks)), sharex=True, squeeze=False)
    for ax, (tid, (times, probs)) in zip(axes[:, 0], sorted(tracks.items())):
        for j, label in enumerate(labels):
            ax.plot(times, probs[:, j], color=np.array(color_for(label)) / 255, label=label, lw=1.4)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{tid}")
    axes[0, 0].legend(ncol=len(labels), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.35))
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return save_figure(fig, path)
