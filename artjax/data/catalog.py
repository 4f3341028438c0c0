"""Opening the train and validation sources a data config names (the built-in synthetic
painters included)."""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from artjax.data import holdout, integrity, sources
from artjax.data.decode import DecodeError
from artjax.data.painters import PaintersSource
from artjax.data.sources import Source, make_source, register_source

# Exceptions of Source.read that mean "this image is unreadable", not "artjax has a bug".
READ_ERRORS: tuple[type[Exception], ...] = (DecodeError,)


def _painters(data: ml_collections.ConfigDict, split: str) -> PaintersSource:
    p = data.painters
    return PaintersSource(split=split, num_examples=p.num_train if split == "train" else p.num_val,
                          num_artists=p.num_artists, seed=p.seed, min_size=p.min_size, max_size=p.max_size)


register_source("painters", _painters)


def source_names() -> tuple[str, ...]:
    """Every `data.source` name, the painters included (the config's choices)."""
    return sources.source_names()


def open_sources(data: ml_collections.ConfigDict) -> tuple[Source, Source]:
    """(train, validation) sources for `data.source`; both share the training side's classes and
    pass the checks of data/integrity.py."""
    train, val = make_source(data, "train"), make_source(data, "val")
    if data.holdout_classes:
        known, _ = holdout.split_classes(train.class_names, data.holdout_classes)
        train, val = holdout.ClassSubset(train, known), holdout.ClassSubset(val, known)
    integrity.check_splits(train, val, allow_overlap=data.allow_overlap)
    return train, val


def open_unknown(data: ml_collections.ConfigDict) -> Source | None:
    """The validation images of `data.holdout_classes` (labels index the held-out classes), or
    None without holdout classes."""
    if not data.holdout_classes:
        return None
    val = make_source(data, "val")
    _, held = holdout.split_classes(val.class_names, data.holdout_classes)
    return holdout.ClassSubset(val, held)


def class_selection(train: Source, val: Source) -> dict[str, Any] | None:
    """The record of the classes a `data.top_classes` filter kept (works, train and val counts per
    class), or None when the source kept every class."""
    selection = getattr(train, "selection", None)  # only the file-based DecodingSources carry one
    if selection is None:
        return None
    num_classes = len(train.class_names)
    return selection.record(np.bincount(train.labels(), minlength=num_classes),
                            np.bincount(val.labels(), minlength=num_classes))
