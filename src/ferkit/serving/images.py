"""Decode uploaded images safely: content type, byte size and pixel count are checked before decoding.

Decoding is ``ferkit.data.images.decode_image`` (the one image reader: header checks, 16-bit gray, MPO, EXIF);
this module only maps its ``ImageError`` reasons to HTTP statuses. Pillow's own decompression-bomb guard only
fires at 2x ``Image.MAX_IMAGE_PIXELS`` (178 MP) and is global; the server's ``max_pixels`` is checked first.
"""

from __future__ import annotations

import numpy as np

from ferkit.data.images import ImageError
from ferkit.data.images import decode_image as decode_file
from ferkit.serving.errors import ServingError

ALLOWED_TYPES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Pillow formats accepted after decoding: MPO is the multi-picture JPEG many phones write (its first frame is used).
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP")
# ImageError reason -> (HTTP status, error code).
_STATUS = {
    "not_an_image": (400, "not_an_image"),
    "unsupported_format": (415, "unsupported_media_type"),
    "too_many_pixels": (413, "too_many_pixels"),
    "too_small": (422, "image_too_small"),
    "corrupt_image": (400, "corrupt_image"),
}
# Browsers and curl sometimes send these for a JPEG/PNG; the decoded format is checked anyway.
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}


def check_content_type(content_type: str | None) -> str:
    """Normalise an upload's content type; 415 unless it is JPEG, PNG or WebP."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    ctype = _TYPE_ALIASES.get(ctype, ctype)
    if ctype not in ALLOWED_TYPES:
        raise ServingError(
            415,
            "unsupported_media_type",
            f"Upload content type {content_type!r} is not supported; send one of "
            f"{', '.join(ALLOWED_TYPES)} as the multipart 'file' field.",
        )
    return ctype


def check_size(num_bytes: int, max_bytes: int) -> None:
    """413 when an upload is larger than ``max_bytes``."""
    if num_bytes > max_bytes:
        raise ServingError(
            413,
            "upload_too_large",
            f"Upload is {num_bytes} bytes; the limit is {max_bytes} bytes "
            f"({max_bytes / 2**20:.1f} MiB). Send a smaller or more compressed image.",
        )
    if num_bytes == 0:
        raise ServingError(400, "empty_upload", "The uploaded file is empty; send a JPEG, PNG or WebP image.")


def decode_image(data: bytes, max_pixels: int, draft=None) -> tuple[np.ndarray, tuple[int, int]]:
    """Bytes of a JPEG/PNG/WebP -> (RGB ``HxWx3`` uint8 array, the file's (w, h)). ``draft``: how much smaller a
    JPEG may be decoded (``EmotionRecognizer.draft_factor``), as ``ferkit predict`` decodes files.

    ServingError 400 for non-images and truncated files, 413 when width x height exceeds ``max_pixels``, 415 for
    other formats, 422 for images under ``MIN_SIDE`` px (or too narrow) to hold a face.
    """
    try:
        return decode_file(data, max_pixels, ALLOWED_FORMATS, "The upload", draft=draft)
    except ImageError as err:
        status, code = _STATUS[err.reason]
        raise ServingError(status, code, str(err)) from err
