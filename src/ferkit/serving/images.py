"""Decode uploaded images safely: content type, byte size and pixel count are checked before decoding.

Pillow's own decompression-bomb guard only fires at 2x ``Image.MAX_IMAGE_PIXELS`` (178 MP) and is global;
we check the header's width x height against the server's own limit before any pixel is decoded.
"""

from __future__ import annotations

import io

import numpy as np

from ferkit.serving.errors import ServingError

ALLOWED_TYPES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Browsers and curl sometimes send these for a JPEG/PNG; the decoded format is checked anyway.
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}


def check_content_type(content_type: str | None) -> str:
    """Normalise an upload's content type; 415 unless it is JPEG, PNG or WebP."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    ctype = _TYPE_ALIASES.get(ctype, ctype)
    if ctype not in ALLOWED_TYPES:
        raise ServingError(415, "unsupported_media_type",
                           f"Upload content type {content_type!r} is not supported; send one of "
                           f"{', '.join(ALLOWED_TYPES)} as the multipart 'file' field.")
    return ctype


def check_size(num_bytes: int, max_bytes: int) -> None:
    """413 when an upload is larger than ``max_bytes``."""
    if num_bytes > max_bytes:
        raise ServingError(413, "upload_too_large",
                           f"Upload is {num_bytes} bytes; the limit is {max_bytes} bytes "
                           f"({max_bytes / 2**20:.1f} MiB). Send a smaller or more compressed image.")
    if num_bytes == 0:
        raise ServingError(400, "empty_upload", "The uploaded file is empty; send a JPEG, PNG or WebP image.")


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes of a JPEG/PNG/WebP -> RGB ``HxWx3`` uint8 array.

    Raises ServingError 400 for non-images and truncated files, 413 when width x height exceeds ``max_pixels``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except (UnidentifiedImageError, OSError) as err:
        raise ServingError(400, "not_an_image",
                           f"The upload is not a readable image ({err.__class__.__name__}); "
                           "send a JPEG, PNG or WebP file.") from err
    if img.format not in ALLOWED_TYPES.values():
        raise ServingError(415, "unsupported_media_type",
                           f"The upload is a {img.format} image; send JPEG, PNG or WebP.")
    width, height = img.size
    if width * height > max_pixels:
        raise ServingError(413, "too_many_pixels",
                           f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels} "
                           "pixels. Downscale it before uploading.")
    try:
        img.load()  # raises OSError on truncated data (LOAD_TRUNCATED_IMAGES stays False)
        img = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ServingError(400, "corrupt_image",
                           f"The {img.format} image could not be decoded ({err}); the file is truncated or "
                           "damaged. Re-export it and upload again.") from err
    return np.asarray(img)
