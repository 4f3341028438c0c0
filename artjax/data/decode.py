"""Decoding any image file to an upright RGB uint8 array.

Handles RGB, RGBA / LA / palette transparency (composited onto WHITE: scans and web images of
paintings sit on white pages, and a black fill would add hard artificial edges), grayscale,
1-bit, CMYK (Pillow's conversion, Adobe-inverted JPEGs included; embedded ICC profiles are not
applied), 16-bit grayscale (scaled 0..65535 -> 0..255 with rounding; Pillow already reduces
16-bit RGB(A) PNGs to 8 bits) and EXIF orientation. Every failure is a `DecodeError` whose
message starts with the file's name.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings

import numpy as np
from absl import logging
from PIL import Image, ImageOps

# We enforce our own `max_pixels` limit before decoding; Pillow's warning between its two
# thresholds would only repeat it.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

ImageInput = bytes | str | os.PathLike


class DecodeError(Exception):
    """An image that cannot be read: empty, truncated, not an image, unsupported or too large."""


class ImageTooLarge(DecodeError):
    """More pixels than the decompression-bomb limit allows."""


def _describe(data: ImageInput, name: str | None) -> str:
    if name is not None:
        return name
    return "<bytes>" if isinstance(data, bytes) else os.fspath(data)


def _open(data: ImageInput, label: str) -> Image.Image:
    if isinstance(data, bytes):
        if not data:
            raise DecodeError(f"{label}: empty file")
        return Image.open(io.BytesIO(data))
    path = os.fspath(data)
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise DecodeError(f"{label}: cannot read file ({error.strerror or error})") from error
    if size == 0:
        raise DecodeError(f"{label}: empty file")
    return Image.open(path)


def _to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grayscale: Pillow's convert('RGB') would clip instead of scaling.
        grey = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        grey = ((grey * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)  # read-only: wraps Pillow's buffer without a second copy


def decode_image(
    data: ImageInput,
    *,
    max_pixels: int,
    name: str | None = None,
    draft_size: int | None = None,
) -> np.ndarray:
    """Decodes encoded bytes or a file into an upright HxWx3 uint8 RGB array (possibly
    read-only: copy it before modifying it in place).

    `name` labels error messages (defaults to the path). `max_pixels` bounds width * height,
    checked from the header before any pixel is decoded. `draft_size`, when given, lets JPEGs
    decode at a reduced DCT scale (1/2, 1/4, 1/8) as long as the short side stays
    >= draft_size: several times faster for large paintings that are resized down anyway.
    """
    label = _describe(data, name)
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        # Pillow refuses images over twice its own limit before we see the header: raise it to
        # ours, which is the one checked below (process-wide, and only ever raised).
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with _open(data, label) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{label}: {width}x{height} = {width * height} pixels exceeds data.max_pixels={max_pixels}")
            if draft_size and img.format == "JPEG":
                scale = draft_size / min(width, height)
                if scale < 1:
                    img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))
            img.load()
            try:
                ImageOps.exif_transpose(img, in_place=True)
            except (OSError, ValueError, SyntaxError, KeyError, TypeError) as error:
                # A corrupt EXIF block should not cost the pixels: keep them as stored, and say so.
                logging.warning("%s: ignoring an unreadable EXIF orientation (%s)", label, error)
            return _to_rgb(img)
    except DecodeError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"{label}: {error}") from error
    except Image.UnidentifiedImageError as error:
        raise DecodeError(f"{label}: not a recognised image format") from error
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise DecodeError(f"{label}: unreadable image ({error})") from error

