"""Result objects -> JSON-ready dicts for the REST API (no logic beyond formatting)."""

from __future__ import annotations

import base64
import io

import numpy as np


def face_to_json(face, top_k: int) -> dict:
    """One ``FaceResult`` as ``{box, label, score, probs, top, landmarks, track_id}``."""
    return {
        "box": [int(v) for v in face.box],
        "label": face.label,
        "score": float(face.score),
        "probs": {k: float(v) for k, v in face.probs.items()},
        "top": [{"label": label, "prob": float(p)} for label, p in face.top(top_k)],
        "landmarks": face.landmarks,
        "track_id": face.track_id,
    }


def png_data_url(image: np.ndarray) -> str:
    """An ``HxW`` float [0, 1] or ``HxWx3`` uint8 array as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def explanation_to_json(item: dict, method: str) -> dict:
    """One per-face explanation dict from ``EmotionRecognizer.explain`` with its arrays as PNG data URLs."""
    heatmap = np.asarray(item["heatmap"], dtype=np.float32)
    return {
        "box": [int(v) for v in item["box"]],
        "label": item.get("label"),
        "method": item.get("method", method),
        "heatmap_size": [int(heatmap.shape[1]), int(heatmap.shape[0])],
        "heatmap_png": png_data_url(heatmap),
        "overlay_png": png_data_url(item["overlay"]),
    }
