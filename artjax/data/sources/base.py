"""What every data source provides, and the decoding behaviour they share.

A source is a random-access list of records. `source[i]` is the light record that travels to
worker processes (a path, encoded bytes, or an array view, plus label and id); `read(i)` decodes
it into an upright RGB uint8 image or raises DecodeError naming the file (the pipeline reports
and skips such records, or stops when `data.strict`). `labels()` returns every label without decoding anything
(class weights and stratified splits need them up front).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Protocol

import numpy as np

from artjax.data.cache import cached_decode
from artjax.data.decode import DecodeError, decode_image
from artjax.data.split import stratified_split

PILLOW_PIXEL_LIMIT = 178_956_970  # Pillow's hard decompression-bomb limit (2 x MAX_IMAGE_PIXELS)


class Source(Protocol):
    class_names: list[str]

    def __len__(self) -> int: ...

    def labels(self) -> np.ndarray: ...

    def __getitem__(self, index: int) -> dict[str, Any]: ...

    def read(self, index: int) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """How records become pixels: `data.max_pixels`, `data.decode_short_side`, `data.cache_dir`,
    `data.cache_short_side`."""

    max_pixels: int = PILLOW_PIXEL_LIMIT
    draft_size: int | None = None  # JPEG DCT-domain downscale bound (see decode_image)
    cache_dir: str = ""  # image files are decoded once into this cache ('' = no cache; see cache.py)
    cache_short_side: int = 512

    @classmethod
    def from_config(cls, data: Any) -> DecodeOptions:
        return cls(
            max_pixels=int(data.max_pixels),
            draft_size=int(data.decode_short_side) or None,
            cache_dir=str(data.cache_dir),
            cache_short_side=int(data.cache_short_side),
        )


def as_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """An in-memory HxW, HxWx1, HxWx3 or HxWx4 uint8 array as HxWx3 (alpha dropped: arrays
    sources are datasets like CIFAR whose alpha, if any, carries no meaning). The result may be
    a read-only view of the dataset's array, so that no consumer can alter the data set."""
    if image.dtype != np.uint8:
        raise DecodeError(f"{name}: expected a uint8 image array, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise DecodeError(f"{name}: expected an HxW(xC) image with C in 1, 3, 4; got shape {image.shape}")
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else np.ascontiguousarray(image[..., :3])
    rgb = rgb.view()
    rgb.flags.writeable = False
    return rgb


class DecodingSource(abc.ABC):
    """A source whose `read` decodes the records of the subclass's `__getitem__`."""

    class_names: list[str]
    options: DecodeOptions
    selection: Any = None  # the wikiart ClassSelection when data.top_classes dropped classes, else None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def labels(self) -> np.ndarray: ...

    @abc.abstractmethod
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    def read(self, index: int) -> dict[str, Any]:
        """The decoded record; raises DecodeError (message naming the file) if unreadable."""
        record = self[index]
        image = record["image"]
        options = self.options
        if isinstance(image, np.ndarray):
            pixels = as_rgb(image, record["id"])
        elif options.cache_dir and not isinstance(image, bytes):  # files only: bytes have no stable key
            pixels = cached_decode(image, cache_dir=options.cache_dir, short_side=options.cache_short_side,
                                   max_pixels=options.max_pixels)
        else:
            name = record["id"] if isinstance(image, bytes) else None
            pixels = decode_image(image, max_pixels=options.max_pixels, name=name, draft_size=options.draft_size)
        return {"image": pixels, "label": record["label"], "id": record["id"]}


class Subset(DecodingSource):
    """The records of `source` at `indices`, in that order (a train or validation split)."""

    def __init__(self, source: DecodingSource, indices: np.ndarray) -> None:
        self.source = source
        self.indices = np.asarray(indices, np.int64)
        self.class_names = source.class_names
        self.options = source.options
        self.selection = source.selection
        self._labels = source.labels()[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def labels(self) -> np.ndarray:
        return self._labels

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.source[int(self.indices[index])]


def holdout(source: DecodingSource, data: Any, split: str) -> Subset:
    """The `split` side of a seeded stratified split (data.val_fraction, data.split_seed) of a
    source that ships no validation set."""
    train_idx, val_idx = stratified_split(source.labels(), float(data.val_fraction),
                                          int(data.split_seed))
    return Subset(source, train_idx if split == "train" else val_idx)


def check_index(index: int, length: int) -> int:
    index = int(index)
    if not 0 <= index < length:
        raise IndexError(f"record {index} out of range for a source of {length}")
    return index
