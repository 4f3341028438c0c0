"""stratified_split: a deterministic, per-class partition."""

import numpy as np
import pytest

from artjax.data.split import stratified_split


def _labels():
    # 50 of class 0, 10 of class 1, 2 of class 2, 1 of class 3, shuffled.
    labels = np.repeat([0, 1, 2, 3], [50, 10, 2, 1])
    return np.random.default_rng(0).permutation(labels)


def test_partition_with_per_class_counts():
    labels = _labels()
    train, val = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    assert np.bincount(labels[val], minlength=4).tolist() == [10, 2, 1, 0]
    assert np.bincount(labels[train], minlength=4).tolist() == [40, 8, 1, 1]


def test_deterministic_in_seed():
    labels = _labels()
    a = stratified_split(labels, 0.3, seed=5)
    b = stratified_split(labels.copy(), 0.3, seed=5)
    c = stratified_split(labels, 0.3, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_tiny_fraction_still_puts_one_of_each_class_in_validation():
    labels = np.repeat([0, 1], [30, 3])
    _, val = stratified_split(labels, 0.01, seed=0)
    assert sorted(labels[val].tolist()) == [0, 1]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_rejects_fraction_outside_open_interval(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(np.zeros(10, np.int32), fraction, seed=0)


def test_rejects_non_vector_labels():
    with pytest.raises(ValueError, match="1-D"):
        stratified_split(np.zeros((2, 3), np.int32), 0.5, seed=0)
