"""Evaluation views: crop geometry against boxes computed by hand on a 10 (high) x 7 (wide) image."""

import numpy as np
import pytest

from artjax.data.views import grid_edges, pyramid_boxes, pyramid_crops, quadrants, random_quarter_crops


def _coords(height=10, width=7):
    """Pixel (y, x) holds (y, x, 0): each crop reveals where it came from."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([yy, xx, np.zeros_like(yy)], axis=-1).astype(np.uint8)


def _check_crops_match_boxes(image, crops, boxes):
    for crop, (y0, y1, x0, x1) in zip(crops, boxes[:, -4:]):
        np.testing.assert_array_equal(crop, image[y0:y1, x0:x1])


def test_grid_edges_floor_rule():
    assert grid_edges(7, 2).tolist() == [[0, 3], [3, 7]]
    assert grid_edges(10, 5).tolist() == [[0, 2], [2, 4], [4, 6], [6, 8], [8, 10]]
    assert grid_edges(7, 5).tolist() == [[0, 1], [1, 2], [2, 4], [4, 5], [5, 7]]
    assert grid_edges(3, 5).tolist() == [[0, 1], [0, 1], [1, 2], [1, 2], [2, 3]]  # short side: 1 px cells


def test_quadrants_of_10x7():
    image = _coords()
    crops, boxes = quadrants(image, size=None)
    assert boxes.tolist() == [[0, 5, 0, 3], [0, 5, 3, 7], [5, 10, 0, 3], [5, 10, 3, 7]]  # TL TR BL BR
    _check_crops_match_boxes(image, crops, boxes)


def test_pyramid_of_10x7():
    image = _coords()
    crops, boxes = pyramid_crops(image, size=None)
    assert len(crops) == 30 and boxes.shape == (30, 7)
    assert boxes[0].tolist() == [1, 0, 0, 0, 10, 0, 7]
    assert boxes[1:5].tolist() == [
        [2, 0, 0, 0, 5, 0, 3], [2, 0, 1, 0, 5, 3, 7], [2, 1, 0, 5, 10, 0, 3], [2, 1, 1, 5, 10, 3, 7]]
    rows = [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    cols = [(0, 1), (1, 2), (2, 4), (4, 5), (5, 7)]
    expected = [[5, r, c, *rows[r], *cols[c]] for r in range(5) for c in range(5)]
    assert boxes[5:].tolist() == expected
    _check_crops_match_boxes(image, crops, boxes)
    for n in (1, 2, 5):  # each level tiles the image exactly once
        cover = np.zeros((10, 7), int)
        for y0, y1, x0, x1 in boxes[boxes[:, 0] == n, 3:]:
            cover[y0:y1, x0:x1] += 1
        assert (cover == 1).all()


def test_pyramid_custom_levels_and_bad_level():
    assert pyramid_boxes((10, 7), levels=(3,))[:, 3:].tolist()[:3] == [[0, 3, 0, 2], [0, 3, 2, 4], [0, 3, 4, 7]]
    with pytest.raises(ValueError, match="levels"):
        pyramid_boxes((10, 7), levels=(0,))


def test_pyramid_resizes_every_crop_even_on_a_1x1_image():
    crops, boxes = pyramid_crops(np.full((1, 1, 3), 9, np.uint8), size=8)
    assert len(crops) == 30 and all(c.shape == (8, 8, 3) and (c == 9).all() for c in crops)
    assert (boxes[:, 3:] == [0, 1, 0, 1]).all()


def test_random_quarter_crops_are_seeded_quarters():
    image = _coords()
    crops, boxes = random_quarter_crops(image, 6, seed=3, size=None)
    assert boxes.shape == (6, 4)
    assert ((boxes[:, 1] - boxes[:, 0]) == 5).all() and ((boxes[:, 3] - boxes[:, 2]) == 3).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] <= 10).all() and (boxes[:, 3] <= 7).all()
    _check_crops_match_boxes(image, crops, boxes)
    _, again = random_quarter_crops(image, 6, seed=3, size=None)
    _, other = random_quarter_crops(image, 6, seed=4, size=None)
    assert np.array_equal(boxes, again) and not np.array_equal(boxes, other)
    resized, _ = random_quarter_crops(image, 2, np.random.default_rng(0), size=6)
    assert [c.shape for c in resized] == [(6, 6, 3), (6, 6, 3)]

