"""Seeded stratified train/validation split for sources that ship no validation set."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): sorted int64 index arrays that partition range(len(labels)).

    Each class contributes round(val_fraction * count) examples to validation, but at least one
    and at most count - 1 when it has two or more, so that every class with two examples is in
    both splits; a class with a single example stays in training. The result depends only on
    (labels, val_fraction, seed).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"stratified_split: labels must be 1-D, got shape {labels.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"stratified_split: val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    by_class = np.argsort(labels, kind="stable")  # one pass, not one scan per class
    _, starts, counts = np.unique(labels[by_class], return_index=True, return_counts=True)
    in_val = np.zeros(len(labels), bool)
    for start, count in zip(starts, counts):
        n_val = min(max(round(val_fraction * count), 1), count - 1)
        in_val[rng.permutation(by_class[start:start + count])[:n_val]] = True
    return np.flatnonzero(~in_val).astype(np.int64), np.flatnonzero(in_val).astype(np.int64)
