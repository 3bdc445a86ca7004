"""The one image-file reader: ``ferkit predict``, the REST API, ``ferkit batch`` and the dataset readers
(``FERDataset.read_image``: training, ``evaluate``, ``--detect-faces``) all decode files here, so a photo is turned
the same way everywhere: EXIF orientation applied (phone photos), 16-bit gray scaled to 8 bit, the first frame of
multi-frame files, header checks before any pixel is decoded, and errors that name the file and the fix.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ferkit.faces.crop import to_rgb3

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
# The detectors shrink a frame to a few hundred px long side first; thinner or longer strips round to 0 px there.
MIN_SIDE = 8
MAX_ASPECT = 50
IMAGE_ERRORS = ("not_an_image", "unsupported_format", "too_many_pixels", "too_small", "corrupt_image")
DRAFT_FACTORS = (8, 4, 2)  # the reductions libjpeg decodes at directly (DCT scaling), largest first


class ImageError(ValueError):
    """An image file or array that cannot be used. ``reason`` (one of ``IMAGE_ERRORS``) lets callers such as the
    REST API map it to their own codes; the message names the file, the bad value and the fix."""

    def __init__(self, reason: str, message: str):
        assert reason in IMAGE_ERRORS, reason
        super().__init__(message)
        self.reason = reason


def pil_to_array(img, keep_gray: bool = False) -> np.ndarray:
    """A PIL image of any mode as uint8: RGB HxWx3, or with ``keep_gray`` gray modes as HxW. Integer gray modes
    (``I;16`` 16-bit PNG/TIFF, ``I``) are scaled from 0-65535 to 0-255: Pillow's ``convert`` clips them, turning a
    16-bit photo white."""
    if img.mode.startswith("I"):
        gray = np.clip(np.asarray(img, dtype=np.float32) / 257.0, 0, 255).round().astype(np.uint8)  # HxW
        return gray if keep_gray else to_rgb3(gray)
    if keep_gray and img.mode in ("L", "LA", "1", "F"):
        return np.asarray(img.convert("L"))
    return np.asarray(img.convert("RGB"))


def check_image_size(width: int, height: int, name: str, max_pixels: int | None = None) -> None:
    """ImageError unless each side is >= MIN_SIDE px, the aspect ratio is <= MAX_ASPECT and (when given)
    width x height <= ``max_pixels``."""
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(
            "too_small",
            f"{name}: image too small ({width}x{height}); ferkit needs at least "
            f"{MIN_SIDE} px per side and an aspect ratio up to {MAX_ASPECT}:1.",
        )
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(
            "too_many_pixels",
            f"{name}: image is {width}x{height} = {width * height} pixels, over the "
            f"limit of {max_pixels}; downscale it.",
        )


def read_image(
    source: str | os.PathLike | bytes,
    max_pixels: int | None = None,
    formats: tuple[str, ...] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Decode an image file (path or bytes) to RGB uint8 HxWx3: EXIF orientation applied, 16-bit gray scaled to
    8 bit, the first frame of multi-frame files (MPO from phones, GIF).

    Size, pixel count and (when given) Pillow ``formats`` are checked from the header before any pixel is decoded;
    Pillow's own decompression-bomb limit applies too. Raises ``ImageError`` (a ValueError) whose ``reason`` says why.
    """
    return decode_image(source, max_pixels, formats, name)[0]


def decode_image(
    source: str | os.PathLike | bytes,
    max_pixels: int | None = None,
    formats: tuple[str, ...] | None = None,
    name: str | None = None,
    draft=None,
    keep_gray: bool = False,
    check_size: bool = True,
) -> tuple[np.ndarray, tuple[int, int]]:
    """``read_image`` that may decode a JPEG smaller, plus the file's (w, h) after EXIF orientation.
    ``keep_gray``: gray files stay gray HxW (the dataset reader's choice: less memory, and gray models read gray);
    ``check_size``: refuse images under ``MIN_SIDE``, past ``MAX_ASPECT`` or over ``max_pixels`` (off for dataset
    files, which may be small crops).

    ``draft``: ``(w, h) -> factor``, asked with the file's size before any pixel is decoded; a JPEG is then decoded
    at 1/2, 1/4 or 1/8 of its size (``DRAFT_FACTORS``; libjpeg's DCT scaling: a 12 MP photo decodes in 17 ms at
    1/2 instead of 128 ms, and its pixels are close to a full decode shrunk). Other formats and other factors decode
    in full.
    """
    from PIL import Image, ImageOps

    name = name or ("the image" if isinstance(source, (bytes, bytearray)) else str(source))
    hint = f"supported: {', '.join(IMAGE_EXTS)}"
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)  # header only
    except Image.DecompressionBombError as err:
        raise ImageError("too_many_pixels", f"{name}: {err} Downscale it.") from err
    except Exception as err:  # noqa: BLE001 - damaged headers raise all kinds (OSError, struct.error, ...)
        raise ImageError(
            "not_an_image", f"{name} is not a readable image ({type(err).__name__}: {err}); {hint}."
        ) from err
    with img:
        if formats is not None and img.format not in formats:
            raise ImageError("unsupported_format", f"{name} is a {img.format} image; send one of {', '.join(formats)}.")
        if check_size:
            check_image_size(img.width, img.height, name, max_pixels)
        try:
            size = _oriented_size(img)
            factor = draft(*size) if draft is not None and img.format in ("JPEG", "MPO") else 1
            if factor in DRAFT_FACTORS:
                img.draft(img.mode, (img.width // factor, img.height // factor))
            img.load()  # OSError on truncated data (LOAD_TRUNCATED_IMAGES stays False)
            return pil_to_array(ImageOps.exif_transpose(img), keep_gray), size
        except Exception as err:  # noqa: BLE001 - as above: a damaged body can fail anywhere in the decoder
            raise ImageError(
                "corrupt_image",
                f"{name} ({img.format}) could not be decoded ({type(err).__name__}: "
                f"{err}); the file is truncated or damaged, re-export it.",
            ) from err


def _oriented_size(img) -> tuple[int, int]:
    """(w, h) of the image as ``ImageOps.exif_transpose`` turns it: EXIF orientations 5-8 swap the sides."""
    orientation = img.getexif().get(0x0112, 1)
    return (img.height, img.width) if orientation in (5, 6, 7, 8) else (img.width, img.height)
