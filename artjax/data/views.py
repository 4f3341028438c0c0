"""Crop geometry of the evaluation views (artjax.eval.views): crops and the boxes they came from.

Boxes are in the input image's pixel coordinates, half-open: (y0, y1, x0, x1) selects
image[y0:y1, x0:x1]. Grids split a side of length L into n cells with edges floor(k * L / n),
k = 0..n, so cells tile the image exactly and differ in length by at most one pixel (the longer
cells fall where the remainder accumulates, e.g. 7 px in 2 -> [0, 3), [3, 7); 7 px in 5 ->
edges 0, 1, 2, 4, 5, 7). A side shorter than n cannot hold n cells: there every cell is
one pixel wide, starting at min(floor(k * L / n), L - 1), so neighbouring cells may repeat.
Crops are resized (bilinear, as Albumentations' Resize that the training presets use) to
`size` x `size` when `size` is given; the aspect ratio is not kept, as in the seeds.
"""

from __future__ import annotations

import cv2
import numpy as np


def _resize(crop: np.ndarray, size: int | None) -> np.ndarray:
    if size is None:
        return np.ascontiguousarray(crop)
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_LINEAR)


def grid_edges(length: int, parts: int) -> np.ndarray:
    """(parts, 2) array of [start, stop) cells tiling 0..length (see the module docstring)."""
    k = np.arange(parts + 1)
    edges = (k * length) // parts
    starts = np.minimum(edges[:-1], length - 1)
    stops = np.maximum(edges[1:], starts + 1)
    return np.stack([starts, stops], axis=1)


def _crops(image: np.ndarray, boxes: np.ndarray, size: int | None) -> list[np.ndarray]:
    return [_resize(image[y0:y1, x0:x1], size) for y0, y1, x0, x1 in boxes[:, -4:]]


def quadrants(image: np.ndarray, *, size: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """The four quarters of the image: top-left, top-right, bottom-left, bottom-right."""
    boxes = pyramid_boxes(image.shape[:2], levels=(2,))[:, 3:]
    return _crops(image, boxes, size), boxes


def random_quarter_crops(
    image: np.ndarray, n: int, seed: int | np.random.Generator, *, size: int | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """`n` crops of half the height x half the width (1/4 of the area, as the S1 test set was
    built) at uniformly random positions drawn from `seed`."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    crop_h, crop_w = max(1, height // 2), max(1, width // 2)
    y0 = rng.integers(0, height - crop_h + 1, size=n)
    x0 = rng.integers(0, width - crop_w + 1, size=n)
    boxes = np.stack([y0, y0 + crop_h, x0, x0 + crop_w], axis=1).astype(np.int64)
    return _crops(image, boxes, size), boxes


def pyramid_boxes(shape: tuple[int, int], levels: tuple[int, ...] = (1, 2, 5)) -> np.ndarray:
    """(sum n^2, 7) boxes (n, row, col, y0, y1, x0, x1): per level n an n x n grid, row-major."""
    height, width = shape
    rows = []
    for n in levels:
        if n < 1:
            raise ValueError(f"pyramid levels must be >= 1, got {levels}")
        for r, (y0, y1) in enumerate(grid_edges(height, n)):
            for c, (x0, x1) in enumerate(grid_edges(width, n)):
                rows.append((n, r, c, y0, y1, x0, x1))
    return np.array(rows, np.int64).reshape(-1, 7)


def pyramid_crops(
    image: np.ndarray, *, size: int | None, levels: tuple[int, ...] = (1, 2, 5)
) -> tuple[list[np.ndarray], np.ndarray]:
    """The multi-scale pyramid: whole image, 2 x 2 grid, 5 x 5 grid (1 + 4 + 25 = 30 crops by
    default), in level order and row-major within a level; boxes as in `pyramid_boxes`."""
    boxes = pyramid_boxes(image.shape[:2], levels)
    return _crops(image, boxes, size), boxes

