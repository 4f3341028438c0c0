"""The evaluation views: how one decoded image is seen by evaluation, prediction and the report.

Each `View` says everything about itself: how it cuts an image into crops (the geometry of
`artjax.data.views`), how many crops it makes, how the crops' probabilities combine into the
image's, and whether every crop is also a scored sample. Training's evaluation
(`artjax.eval.scoring.EvalPlan`), the restored `Classifier`, `predict --view`, the report and
config validation (`eval.view`) all read this registry: a new view is one entry in `VIEWS`.

  full            the whole image through the run's evaluation transform (one crop);
  quadrants       the four quarters; each quarter is also a sample (S1's quarter-crop test
                  set): metrics over crops, plus voted_* metrics over paintings;
  random_quarter  four crops of half the height and width at random positions, as quadrants;
  hflip           the evaluation transform's image and its mirror image, averaged (TTA);
  pyramid         the 1x1, 2x2 and 5x5 grids (30 crops): per level the probabilities are
                  averaged and the levels weighed 25 : 4 : 1 (S1's soft rule,
                  `models.pyramid.combine_levels`). A pyramid model receives all crops at once
                  and combines them itself.
Crops other than the evaluation transform's are resized (bilinear) to data.image_size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import numpy as np

from artjax.data import views as geometry
from artjax.models.pyramid import DEFAULT_LEVELS, combine_levels, default_level_weights

Transform = Callable[[np.ndarray, "np.random.Generator | int"], np.ndarray]
RANDOM_QUARTERS = 4


@dataclasses.dataclass(frozen=True)
class Cut:
    """What a view's cut may use: the run's evaluation transform, the crop side, pyramid levels."""

    base: Transform | None
    size: int
    levels: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class View:
    name: str
    cut: Callable[[np.ndarray, np.random.Generator, Cut], list[np.ndarray]]  # image -> crops
    num_crops: Callable[[tuple[int, ...]], int]  # of the pyramid levels
    # (B, crops, classes) probabilities, levels -> (B, classes): the image's probabilities
    combine: Callable[[jax.Array, tuple[int, ...]], jax.Array]
    per_crop: bool = False  # every crop is also a scored sample (with voted_* metrics per image)
    needs_base: bool = False  # the cut goes through the run's evaluation transform


def _full(image: np.ndarray, rng: np.random.Generator, cut: Cut) -> list[np.ndarray]:
    return [cut.base(image, rng)]


def _hflip(image: np.ndarray, rng: np.random.Generator, cut: Cut) -> list[np.ndarray]:
    seen = cut.base(image, rng)
    return [seen, seen[:, ::-1]]


def _quadrants(image: np.ndarray, rng: np.random.Generator, cut: Cut) -> list[np.ndarray]:
    return geometry.quadrants(image, size=cut.size)[0]


def _random_quarter(image: np.ndarray, rng: np.random.Generator, cut: Cut) -> list[np.ndarray]:
    return geometry.random_quarter_crops(image, RANDOM_QUARTERS, rng, size=cut.size)[0]


def _pyramid(image: np.ndarray, rng: np.random.Generator, cut: Cut) -> list[np.ndarray]:
    return geometry.pyramid_crops(image, size=cut.size, levels=cut.levels)[0]


def _mean(probs: jax.Array, levels: tuple[int, ...]) -> jax.Array:
    return probs.mean(axis=1)


def _soft_pyramid(probs: jax.Array, levels: tuple[int, ...]) -> jax.Array:
    return combine_levels(probs, levels, default_level_weights(levels))


def _fixed(n: int) -> Callable[[tuple[int, ...]], int]:
    return lambda levels: n


VIEWS: dict[str, View] = {view.name: view for view in (
    View("full", _full, _fixed(1), _mean, needs_base=True),
    View("quadrants", _quadrants, _fixed(4), _mean, per_crop=True),
    View("random_quarter", _random_quarter, _fixed(RANDOM_QUARTERS), _mean, per_crop=True),
    View("hflip", _hflip, _fixed(2), _mean, needs_base=True),
    View("pyramid", _pyramid, lambda levels: sum(n * n for n in levels), _soft_pyramid),
)}
NAMES = tuple(VIEWS)


def get(name: str) -> View:
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; expected one of {', '.join(NAMES)}")
    return VIEWS[name]


class ViewTransform:
    """A view as a per-image transform for the input pipeline (picklable, for grain workers).

    Called with (image, rng) it returns the model's input for the image: (S, S, 3) for a view
    of one crop (the batch is then plain images), else (crops, S, S, 3). `flip` first mirrors
    the whole image with probability 1/2 (the pyramid's training augmentation).
    """

    def __init__(self, view: str, *, image_size: int, base: Transform | None = None,
                 levels: Sequence[int] = DEFAULT_LEVELS, flip: bool = False) -> None:
        self.name = get(view).name  # the name, not the entry: the entry holds lambdas, which do not pickle
        if self.view.needs_base and base is None:
            raise ValueError(f"the {view} view needs the run's evaluation transform (base)")
        self.cut = Cut(base, image_size, tuple(int(n) for n in levels))
        self.flip = flip

    @property
    def view(self) -> View:
        return VIEWS[self.name]

    @property
    def num_crops(self) -> int:
        return self.view.num_crops(self.cut.levels)

    def crops(self, image: np.ndarray, rng: np.random.Generator | int) -> np.ndarray:
        """(crops, S, S, 3) uint8, always with the crop axis."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        if self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
        return np.stack(self.view.cut(image, rng, self.cut))

    def __call__(self, image: np.ndarray, rng: np.random.Generator | int) -> np.ndarray:
        crops = self.crops(image, rng)
        return crops[0] if len(crops) == 1 else crops


def pyramid_train_transform(image_size: int, levels: Sequence[int]) -> ViewTransform:
    """A pyramid model's training input: a random horizontal flip of the whole painting, then
    its pyramid crops."""
    return ViewTransform("pyramid", image_size=image_size, levels=levels, flip=True)
