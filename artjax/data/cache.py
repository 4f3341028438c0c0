"""A cache of images decoded once and stored at a bounded size, for collections of big paintings.

Decoding a 2000+ px JPEG costs tens of milliseconds per epoch, yet the model sees a 224-448 px
version of it. With `data.cache_dir` set, each image file is decoded once (EXIF applied, RGB),
shrunk so its short side is at most `data.cache_short_side`, and stored as a high-quality JPEG
(quality 95, no chroma subsampling: several times smaller and faster to read than PNG, with no
visible loss at that quality). Later epochs and later runs read the small copy.

Entries are keyed by the file's absolute path, size and modification time (plus the cache
parameters), so an edited or replaced file is decoded again; entries are written to a temporary
file and renamed into place, so concurrent workers and runs never see half a file. Unreadable
files are not cached: they raise DecodeError naming the original, as without the cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import cv2
import numpy as np
from absl import logging
from PIL import Image

from artjax.data.decode import DecodeError, decode_image

_FORMAT = "v1-jpeg95-444"  # part of every key: a change of storage format invalidates old entries


def entry_path(cache_dir: str, path: str, short_side: int, max_pixels: int) -> str | None:
    """Where `path`'s cached copy lives, or None when the file cannot even be stat'ed."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{short_side}\0{max_pixels}\0{_FORMAT}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(cache_dir, digest[:2], digest + ".jpg")


def shrink(image: np.ndarray, short_side: int) -> np.ndarray:
    """`image` scaled down (area interpolation) so that its short side is <= short_side."""
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _store(image: np.ndarray, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(image).save(f, format="JPEG", quality=95, subsampling=0)
        os.replace(temporary, target)  # atomic: readers see the old state or the whole file
    except BaseException:
        os.unlink(temporary)
        raise


def cached_decode(path: str, *, cache_dir: str, short_side: int, max_pixels: int) -> np.ndarray:
    """The upright RGB image of the file `path` with its short side <= short_side, from the cache
    when it holds it, else decoded from `path` and stored. Raises DecodeError naming `path`."""
    target = entry_path(cache_dir, path, short_side, max_pixels)
    if target is not None and os.path.exists(target):
        try:
            return decode_image(target, max_pixels=max_pixels)
        except DecodeError:  # a damaged entry (e.g. a full disk): decode the original again
            logging.warning("image cache: re-decoding %s (unreadable cache entry %s)", path, target)
    # The JPEG draft keeps the short side >= short_side, so shrinking afterwards loses nothing.
    image = shrink(decode_image(path, max_pixels=max_pixels, draft_size=short_side), short_side)
    if target is not None:
        try:
            _store(image, target)
        except OSError as error:  # a cache that cannot be written must not stop training
            logging.log_first_n(logging.WARNING, "image cache: cannot write %s (%s)", 3, target, error)
    return image
