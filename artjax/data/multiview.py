"""Transforms that turn one image into a stack of crops (N, S, S, 3): the evaluation views
(quadrants, random quarter crops, horizontal-flip TTA) and the pyramid models' input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artjax.data import views
from artjax.data.pipeline import Transform

VIEWS = ("quadrants", "random_quarter", "hflip", "pyramid")
RANDOM_QUARTERS = 4


class MultiCrop:
    """`view` crops of an image, each `size` x `size`. For `hflip`, `base` (the run's eval
    transform) makes the image the model normally sees; `train` adds a random horizontal flip
    of the whole painting first (the pyramid's training augmentation)."""

    def __init__(self, view: str, size: int, *, levels: Sequence[int] = (1, 2, 5), base: Transform | None = None,
                 train: bool = False) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
        if view == "hflip" and base is None:
            raise ValueError("the hflip view needs the base eval transform")
        self.view, self.size, self.levels, self.base, self.train = view, size, tuple(levels), base, train

    def num_crops(self) -> int:
        return {"quadrants": 4, "random_quarter": RANDOM_QUARTERS, "hflip": 2,
                "pyramid": sum(n * n for n in self.levels)}[self.view]

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.train and rng.random() < 0.5:
            image = image[:, ::-1]
        if self.view == "pyramid":
            crops, _ = views.pyramid_crops(image, size=self.size, levels=self.levels)
        elif self.view == "quadrants":
            crops, _ = views.quadrants(image, size=self.size)
        elif self.view == "random_quarter":
            crops, _ = views.random_quarter_crops(image, RANDOM_QUARTERS, rng, size=self.size)
        else:
            seen = self.base(image, rng)
            crops = [seen, seen[:, ::-1]]
        return np.stack(crops)
