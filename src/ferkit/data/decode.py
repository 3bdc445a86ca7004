"""Batch decoding over a process pool: probe (size, mode, pixel MD5) and decode + resize + convert channels.

Unreadable images never raise here: they come back as errors and the callers list them in ``skipped``.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator

import numpy as np

from ferkit.data.dataset import FERDataset, decode_image

# Below this many images a pool costs more to start than it saves.
_POOL_MIN = 256


def default_workers() -> int:
    return max(1, min(int(os.environ.get("FERKIT_WORKERS", "2")), os.cpu_count() or 1))


CROPS = ("template", "resize")


def to_array(img: np.ndarray, image_size: int, channels: int, crop: str = "template") -> np.ndarray:
    """A dataset face crop as model-sized uint8 ``image_size x image_size x channels`` (1: gray, 3: RGB).

    ``crop="template"``: the canonical crop (``ferkit.faces.crop.crop_face``: landmarks found in the crop, warped
    onto the template; the whole crop resized when no face is found). ``crop="resize"``: the crop resized as it is
    (PIL bilinear, antialiased), as checkpoints trained before the template were.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}.")
    if crop == "template":
        from ferkit.faces.crop import CropSpec, crop_face

        return crop_face(img, CropSpec(image_size, channels))
    if crop != "resize":
        raise ValueError(f"Unknown crop {crop!r}; choose one of {list(CROPS)} (config: data.crop).")
    pil = Image.fromarray(img)
    pil = pil.convert("L" if channels == 1 else "RGB")
    if pil.size != (image_size, image_size):
        pil = pil.resize((image_size, image_size), Image.BILINEAR)
    out = np.asarray(pil, dtype=np.uint8)
    return out[:, :, None] if channels == 1 else out


def probe_array(img: np.ndarray, mode: str | None = None) -> dict:
    """Size, mode and MD5 of the decoded pixels (so re-encoded copies of the same pixels still match)."""
    h, w = img.shape[:2]
    mode = mode or ("L" if img.ndim == 2 else "RGB")
    return {"size": f"{w}x{h}", "mode": mode, "md5": hashlib.md5(np.ascontiguousarray(img).tobytes()).hexdigest()}


def _probe_file(path: str) -> tuple[dict | None, str]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
        return probe_array(decode_image(path), mode), ""
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unreadable", listed, never a crash
        return None, f"unreadable image: {type(exc).__name__}: {exc}"


def _resize_file(args: tuple[str, int, int, str]) -> tuple[np.ndarray | None, str]:
    path, image_size, channels, crop = args
    try:
        return to_array(decode_image(path), image_size, channels, crop), ""
    except Exception as exc:  # noqa: BLE001 - see _probe_file
        return None, f"unreadable image: {type(exc).__name__}: {exc}"


def _imap(fn: Callable, items: list, workers: int, desc: str) -> Iterator:
    from tqdm import tqdm

    if workers <= 1 or len(items) < _POOL_MIN:
        yield from tqdm(map(fn, items), total=len(items), desc=desc, leave=False, disable=len(items) < 2000)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        yield from tqdm(pool.imap(fn, items, chunksize=64), total=len(items), desc=desc, leave=False)


def probe_dataset(ds: FERDataset, workers: int | None = None) -> list[dict | None]:
    """One ``{"size", "mode", "md5"}`` per image (None where unreadable, which is added to ``ds.skipped``)."""
    if ds.in_memory:
        return [probe_array(ds.read_image(i)) for i in range(len(ds))]
    results = []
    for sid, (info, err) in zip(
        ds.source_ids, _imap(_probe_file, ds.source_ids, workers or default_workers(), f"hashing {ds.split}")
    ):
        if info is None:
            ds.add_skipped(sid, err)
        results.append(info)
    return results


def decode_dataset(
    ds: FERDataset, image_size: int, channels: int, workers: int | None = None, crop: str = "template"
) -> tuple[np.ndarray, np.ndarray]:
    """All images as uint8 ``N x S x S x C`` (``to_array``) plus the indices kept (unreadable ones go to
    ``ds.skipped``)."""
    out = np.zeros((len(ds), image_size, image_size, channels), np.uint8)
    keep = np.ones(len(ds), bool)
    if ds.in_memory:
        for i in range(len(ds)):
            out[i] = to_array(ds.read_image(i), image_size, channels, crop)
    else:
        jobs = [(sid, image_size, channels, crop) for sid in ds.source_ids]
        for i, (arr, err) in enumerate(_imap(_resize_file, jobs, workers or default_workers(), f"decoding {ds.split}")):
            if arr is None:
                ds.add_skipped(ds.source_ids[i], err)
                keep[i] = False
            else:
                out[i] = arr
    kept = np.flatnonzero(keep)
    return (out if keep.all() else out[kept]), kept
