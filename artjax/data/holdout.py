"""data.holdout_classes: classes kept out of training and of validation's closed set; their
validation images become the "unknown artist" set on which open-set rejection is measured.

`data.holdout_classes` is a tuple of class names (not a count: names say exactly which artists
are unknown, whatever order a source lists its classes in). The kept classes keep their order
and are renumbered 0..K-1; the held-out classes' training images are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class HoldoutError(ValueError):
    """data.holdout_classes cannot be applied to the data (a bad config: exit status 2)."""


class ClassSubset:
    """The records of `source` whose class is in `classes` (names), relabelled to their index
    there. `source` and `indices` are those of a Subset, so its files resolve the same way."""

    def __init__(self, source: Any, classes: Sequence[str]) -> None:
        position = {name: i for i, name in enumerate(source.class_names)}
        self.source = source
        self.class_names = list(classes)
        self.options = getattr(source, "options", None)
        self.selection = None  # a data.top_classes record counts the classes before the holdout
        self._map = np.full(len(source.class_names), -1, np.int64)
        for i, name in enumerate(self.class_names):
            self._map[position[name]] = i
        labels = self._map[np.asarray(source.labels(), np.int64)]
        self.indices = np.flatnonzero(labels >= 0).astype(np.int64)
        self._labels = labels[self.indices].astype(np.int32)

    def __len__(self) -> int:
        return len(self.indices)

    def labels(self) -> np.ndarray:
        return self._labels

    def read(self, index: int) -> dict[str, Any]:
        record = dict(self.source.read(int(self.indices[index])))
        record["label"] = int(self._labels[index])
        return record


def split_classes(class_names: Sequence[str], holdout: Sequence[str]) -> tuple[list[str], list[str]]:
    """(known, held out) class names; HoldoutError for a name the data lacks or too few left."""
    holdout = list(holdout)
    missing = [name for name in holdout if name not in class_names]
    if missing:
        raise HoldoutError(f"config key 'data.holdout_classes': {', '.join(map(repr, missing))} not among the "
                           f"data's classes ({', '.join(class_names)})")
    known = [name for name in class_names if name not in holdout]
    if len(known) < 2:
        raise HoldoutError(f"config key 'data.holdout_classes': holding out {len(holdout)} of "
                           f"{len(class_names)} classes leaves {len(known)}; classification needs at least 2")
    return known, [name for name in class_names if name in holdout]
