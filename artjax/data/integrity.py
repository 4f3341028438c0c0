"""Checks of a run's two splits before any training: duplicates, label conflicts, classes.

A manifest that lists one file twice can put it on both sides of a hold-out split, and the
validation score then measures memory. Paths are compared as normalised absolute paths (no
filesystem access: a million-row manifest checks in about a second); `python -m artjax.data`
also compares decoded contents (scan.py). Sources without paths (TFDS, arrays, painters) are
checked for their classes only.
"""

from __future__ import annotations

import collections
import hashlib
import os
from typing import Any

import numpy as np
from absl import logging

from artjax.data.sources import FileSource, Source, Subset
from artjax.data.holdout import ClassSubset

SHOWN = 5  # examples named in a message


class DataIntegrityError(ValueError):
    """The splits cannot train a trustworthy model as given."""


def resolved_paths(source: Source, *, resolve: bool = True) -> list[str] | None:
    """Every record's file as a normalised absolute path (or as the source lists it, relative
    to its root, with `resolve=False`); None for sources without files."""
    if isinstance(source, FileSource):
        if not resolve:
            return list(source.paths)
        return [os.path.normpath(os.path.join(os.path.abspath(source.root), p)) for p in source.paths]
    if isinstance(source, (Subset, ClassSubset)):
        parent = resolved_paths(source.source, resolve=resolve)
        return None if parent is None else [parent[i] for i in source.indices]
    return None


def fingerprint(source: Source) -> dict[str, Any]:
    """What identifies a split's records and labels, in order (the run identity compares it).
    Paths count relative to the data root, so a collection moved elsewhere still resumes."""
    digest = hashlib.sha256(np.ascontiguousarray(source.labels(), np.int64).tobytes())
    for path in resolved_paths(source, resolve=False) or ():
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    return {"examples": len(source), "sha256": digest.hexdigest()[:16]}


def _named(items: list[str]) -> str:
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def check_splits(train: Source, val: Source, *, allow_overlap: bool) -> None:
    """Raises DataIntegrityError for one class, a file with two labels, or a file in both splits
    (unless `allow_overlap`); logs a warning for repeated files within a split and for training
    classes the validation split lacks."""
    if len(train.class_names) < 2:
        raise DataIntegrityError(f"the training data has {len(train.class_names)} class "
                                 f"({_named(list(train.class_names))}): classification needs at least 2")
    missing = sorted(set(range(len(train.class_names))) - set(np.unique(val.labels()).tolist()))
    if missing:
        logging.warning("the validation split has no example of %d training class(es): %s; their recall "
                        "and F1 count as 0", len(missing), _named([train.class_names[i] for i in missing]))
    train_paths, val_paths = resolved_paths(train), resolved_paths(val)
    labels: dict[str, set[int]] = collections.defaultdict(set)
    for paths, source in ((train_paths, train), (val_paths, val)):
        if paths is None:
            continue
        for path, label in zip(paths, source.labels().tolist()):
            labels[path].add(label)
    conflicting = sorted(p for p, found in labels.items() if len(found) > 1)
    if conflicting:
        raise DataIntegrityError(f"{len(conflicting)} file(s) listed with different labels: " + _named(
            [f"{p} ({' / '.join(train.class_names[i] for i in sorted(labels[p]))})" for p in conflicting]))
    for split, paths in (("train", train_paths), ("val", val_paths)):
        repeated = sorted(p for p, n in collections.Counter(paths or ()).items() if n > 1)
        if repeated:
            logging.warning("%d file(s) listed more than once in the %s split: %s", len(repeated), split,
                            _named(repeated))
    if train_paths is not None and val_paths is not None and not allow_overlap:
        shared = sorted(set(train_paths) & set(val_paths))
        if shared:
            raise DataIntegrityError(
                f"{len(shared)} file(s) are in both the training and the validation split, which would inflate "
                f"the validation score: {_named(shared)}; remove the duplicate rows, or set "
                "data.allow_overlap=True to keep them")


def check_test_set(test: Source, seen: tuple[Source, ...], *, allow_overlap: bool) -> None:
    """Raises DataIntegrityError for a test file that the run trained or validated on (unless
    `allow_overlap`): its score would measure memory. Logs a warning for the run's classes the
    test set lacks."""
    missing = sorted(set(range(len(test.class_names))) - set(np.unique(test.labels()).tolist()))
    if missing:
        logging.warning("the test set has no example of %d of the run's classes: %s; their recall and F1 "
                        "count as 0", len(missing), _named([test.class_names[i] for i in missing]))
    test_paths = resolved_paths(test)
    if test_paths is None or allow_overlap:
        return
    shared = sorted(set(test_paths) & {p for source in seen for p in resolved_paths(source) or ()})
    if shared:
        raise DataIntegrityError(f"{len(shared)} test file(s) are also in the run's training or validation data, "
                                 f"which would inflate the test score: {_named(shared)}; remove them from the test "
                                 "set, or set data.allow_overlap=True to keep them")
