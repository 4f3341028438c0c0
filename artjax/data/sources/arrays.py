"""In-memory image arrays (CIFAR-like), given directly or as an .npz file.

An .npz holds `x_train`, `y_train` and optionally `x_test`, `y_test` (used as the validation
set) and `class_names`. Images are N x H x W (x C) uint8, C in 1, 3, 4. From an .npz only the
labels are read up front; each process loads the images it needs on first use, so the source
pickles to grain workers as a path, not as pixels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from artjax.data.sources.base import DecodeOptions, DecodingSource, check_index


def _labels_of(y: np.ndarray, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras' CIFAR labels are (N, 1)
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError(f"{where}: labels must be non-negative integers of shape (N,), got {y.dtype} {y.shape}")
    return y.astype(np.int32)


def _class_names(names: Any, labels: np.ndarray, where: str) -> list[str]:
    if names is None:
        return [str(i) for i in range(int(labels.max(initial=-1)) + 1)]
    names = [str(n) for n in np.asarray(names).tolist()]
    if labels.size and labels.max() >= len(names):
        raise ValueError(f"{where}: label {labels.max()} but only {len(names)} class names")
    return names


class ArraySource(DecodingSource):
    """Images `images[i]` with labels `labels[i]`."""

    def __init__(self, images: np.ndarray | None, labels: np.ndarray, class_names: list[str] | None = None, *,
                 name: str = "arrays", options: DecodeOptions = DecodeOptions()) -> None:
        self._labels = _labels_of(labels, name)
        if images is not None and len(images) != len(self._labels):
            raise ValueError(f"{name}: {len(images)} images but {len(self._labels)} labels")
        self._images = images
        self.name = name
        self.class_names = _class_names(class_names, self._labels, name)
        self.options = options

    def __len__(self) -> int:
        return len(self._labels)

    def labels(self) -> np.ndarray:
        return self._labels

    def images(self) -> np.ndarray:
        return self._images

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self))
        return {"image": self.images()[index], "label": int(self._labels[index]), "id": f"{self.name}/{index}"}


class NpzArraySource(ArraySource):
    """`x_<part>` / `y_<part>` of an .npz file; the images load lazily in each process."""

    def __init__(self, path: str, part: str, class_names: list[str] | None, options: DecodeOptions) -> None:
        with np.load(path) as npz:
            labels = npz[f"y_{part}"]
        super().__init__(None, labels, class_names, name=f"{os.path.basename(path)}/{part}", options=options)
        self.path, self.part = path, part

    def images(self) -> np.ndarray:
        if self._images is None:
            with np.load(self.path) as npz:
                images = npz[f"x_{self.part}"]
            if len(images) != len(self._labels):
                raise ValueError(f"{self.path}: {len(images)} x_{self.part} images but {len(self._labels)} labels")
            self._images = images
        return self._images

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_images": None}


def npz_parts(path: str) -> tuple[set[str], Any]:
    """The member names of an .npz (validated to have x_train, y_train) and its class names."""
    if not path:
        raise ValueError("data.arrays is empty: set it to an .npz with x_train, y_train (x_test, y_test)")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data.arrays: file {path!r} does not exist")
    with np.load(path) as npz:
        members = set(npz.files)
        names = npz["class_names"] if "class_names" in members else None
    missing = {"x_train", "y_train"} - members
    if missing:
        raise ValueError(f"data.arrays: {path!r} lacks {sorted(missing)} (has {sorted(members)})")
    return members, names


def arrays_from_mapping(arrays: Mapping[str, Any], part: str, options: DecodeOptions) -> ArraySource:
    missing = {f"x_{part}", f"y_{part}"} - set(arrays)
    if missing:
        raise ValueError(f"arrays: missing {sorted(missing)} (have {sorted(arrays)})")
    return ArraySource(np.asarray(arrays[f"x_{part}"]), arrays[f"y_{part}"], arrays.get("class_names"),
                       name=f"arrays/{part}", options=options)
