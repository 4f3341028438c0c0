"""The built-in synthetic painters: determinism, balance, and that colour alone is not enough."""

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from artjax.data.painters import ARTISTS, PaintersSource


def _images(source, n):
    return [source.read(i) for i in range(n)]


def test_same_seed_same_images_other_seed_other_images():
    a = PaintersSource(split="train", num_examples=6, seed=3)
    b = PaintersSource(split="train", num_examples=6, seed=3)
    c = PaintersSource(split="train", num_examples=6, seed=4)
    for i in range(6):
        np.testing.assert_array_equal(a.read(i)["image"], b.read(i)["image"])
        assert a.read(i)["image"].shape != c.read(i)["image"].shape or not np.array_equal(
            a.read(i)["image"], c.read(i)["image"])


def test_splits_differ_and_sizes_vary():
    train = PaintersSource(split="train", num_examples=12, min_size=40, max_size=90)
    val = PaintersSource(split="val", num_examples=12, min_size=40, max_size=90)
    assert not np.array_equal(train.read(0)["image"], val.read(0)["image"])
    shapes = {train.read(i)["image"].shape for i in range(12)}
    assert len(shapes) > 6  # varying size and aspect ratio
    for h, w, c in shapes:
        assert c == 3 and 40 <= min(h, w) <= 90 and max(h, w) / min(h, w) <= 1.61


def test_class_balance_and_labels_match_records():
    source = PaintersSource(split="train", num_examples=48, num_artists=8)
    counts = np.bincount(source.labels(), minlength=8)
    assert counts.tolist() == [6] * 8
    assert [source.read(i)["label"] for i in range(8)] == list(range(8))
    assert source.class_names == [a.name for a in ARTISTS]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_artists"):
        PaintersSource(split="train", num_examples=4, num_artists=1)
    with pytest.raises(ValueError, match="split"):
        PaintersSource(split="dev", num_examples=4)


def _mean_colour(image):
    return image.reshape(-1, 3).mean(0) / 255.0


def _orientation_histogram(image):
    grey = cv2.cvtColor(cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    magnitude = np.hypot(gx, gy)
    hist, _ = np.histogram(angle, bins=12, range=(0, np.pi), weights=magnitude)
    return np.concatenate([hist / (hist.sum() + 1e-6), [magnitude.mean() / 100]])


def test_mean_colour_alone_stays_far_below_texture_features():
    """Artists share palettes in pairs: colour can only find the pair, strokes find the artist."""
    train = _images(PaintersSource(split="train", num_examples=360), 360)
    val = _images(PaintersSource(split="val", num_examples=180), 180)
    y_train = [r["label"] for r in train]
    y_val = [r["label"] for r in val]

    def accuracy(feature):
        x_train = np.stack([feature(r["image"]) for r in train])
        x_val = np.stack([feature(r["image"]) for r in val])
        clf = LogisticRegression(max_iter=2000, C=10.0).fit(x_train, y_train)
        return clf.score(x_val, y_val)

    colour = accuracy(_mean_colour)
    texture = accuracy(lambda im: np.concatenate([_mean_colour(im), _orientation_histogram(im)]))
    assert colour < 0.6, colour  # about one half: the palette pair, then a coin toss
    assert texture > colour + 0.25, (colour, texture)
