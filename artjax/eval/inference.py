"""Batched class probabilities for whole images seen through an evaluation view.

A view turns one decoded image into crops (see `make_view`):
  full       the whole image through the run's evaluation transform (one crop);
  quadrants  its four quarters; the probabilities are averaged and each crop also casts a vote;
  pyramid    the 1x1, 2x2 and 5x5 grids (30 crops). A plain backbone scores every crop, the
             probabilities are averaged per level and the levels combined with S1's weights
             (25:4:1 for levels 1, 2, 5; `models.pyramid.default_level_weights`). A pyramid
             model (one with `levels`) receives all crops of an image at once and combines
             them itself.
Crops of many images share one jitted call of `batch_size` crops; the last call is padded to a
power of two, so a stream of any length compiles at most log2(batch_size) + 1 shapes.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.data.multiview import MultiCrop
from artjax.models.pyramid import default_level_weights

VIEWS = ("full", "quadrants", "pyramid")
PYRAMID_LEVELS = (1, 2, 5)
Key = TypeVar("Key")
Item = TypeVar("Item")
Result = TypeVar("Result")
Transform = Callable[[np.ndarray, int], np.ndarray]


@dataclasses.dataclass
class Prediction:
    probs: np.ndarray  # (classes,) the image's combined probabilities
    crop_probs: np.ndarray | None  # (crops, classes) per crop; None when the model combines crops itself

    @property
    def votes(self) -> np.ndarray | None:
        """Per class, how many crops ranked it first (None without per-crop scores)."""
        if self.crop_probs is None:
            return None
        return np.bincount(self.crop_probs.argmax(axis=1), minlength=self.crop_probs.shape[1])

    def top_k(self, k: int) -> list[tuple[int, float]]:
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(int(i), float(self.probs[i])) for i in order]


def threaded_map(fn: Callable[[Item], Result], items: Iterable[Item], *, threads: int = 4) -> Iterator[Result]:
    """fn over items in `threads` threads (decoding releases the GIL), results in order. At most
    4 * threads calls are in flight, so a long stream never piles up decoded images."""
    in_flight: collections.deque[Future[Result]] = collections.deque()
    with ThreadPoolExecutor(threads) as pool:
        for item in items:
            in_flight.append(pool.submit(fn, item))
            if len(in_flight) >= 4 * threads:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def make_view(view: str, *, transform: Transform, image_size: int,
              levels: tuple[int, ...] = PYRAMID_LEVELS) -> Callable[[np.ndarray], np.ndarray]:
    """image -> (crops, s, s, 3) uint8 as evaluation sees it: `full` through the run's eval
    `transform`; `quadrants` / `pyramid` cut by `data.multiview.MultiCrop`, each crop resized to
    image_size, exactly as training's multi-crop evaluation and pyramid models cut them."""
    if view == "full":
        return lambda image: transform(image, 0)[None]  # eval transforms draw no randomness
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    multicrop = MultiCrop(view, image_size, levels=levels)
    return lambda image: multicrop(image, np.random.default_rng(0))


def combine_pyramid(crop_probs: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """S1's soft rule for a plain backbone: mean probabilities per level, weighted sum over levels."""
    weights = default_level_weights(levels)
    combined = np.zeros(crop_probs.shape[1])
    start = 0
    for weight, n in zip(weights, levels):
        combined += weight * crop_probs[start:start + n * n].mean(axis=0)
        start += n * n
    return combined


def _padded_length(n: int, limit: int) -> int:
    return min(limit, 1 << max(n - 1, 0).bit_length())


class Classifier:
    """A restored model as a function from uint8 crops to class probabilities.

    prepare: uint8 NHWC (or N x crops x HWC) -> the model's input (normalisation).
    sigmoid: the model has one logit for a two-class problem (probabilities 1 - s, s).
    batch_size: crops per model call (a pyramid model gets batch_size // crops images per call).
    """

    def __init__(self, model: nnx.Module, *, prepare: Callable[[jax.Array], jax.Array], sigmoid: bool,
                 batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.levels: tuple[int, ...] | None = tuple(model.levels) if hasattr(model, "levels") else None
        graphdef, self._state = nnx.split(model)
        pyramid_model = self.levels is not None

        def probabilities(state: Any, images: jax.Array) -> jax.Array:
            logits = nnx.merge(graphdef, state)(prepare(images)).astype(jnp.float32)
            if sigmoid and not pyramid_model:
                positive = jax.nn.sigmoid(logits)
                return jnp.concatenate([1.0 - positive, positive], axis=-1)
            return jax.nn.softmax(logits, axis=-1)  # a pyramid model's log P -> P

        self._probabilities = jax.jit(probabilities)

    @property
    def default_view(self) -> str:
        return "full" if self.levels is None else "pyramid"

    def check_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
        if self.levels is not None and view != "pyramid":
            raise ValueError(f"a pyramid model scores all {sum(n * n for n in self.levels)} pyramid crops of "
                             f"an image together; view {view!r} does not apply (use 'pyramid')")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities of a stack of inputs, in padded calls of at most `limit` inputs."""
        limit = self.batch_size if self.levels is None else max(1, self.batch_size // batch.shape[1])
        out = []
        for start in range(0, len(batch), limit):
            chunk = batch[start:start + limit]
            size = _padded_length(len(chunk), limit)
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            out.append(np.asarray(self._probabilities(self._state, padded))[:len(chunk)])
        return np.concatenate(out).astype(np.float64)

    def _flush(self, pending: list[tuple[Key, np.ndarray]], view: str) -> Iterator[tuple[Key, Prediction]]:
        crops = [c for _, c in pending]
        if self.levels is not None:
            for (key, _), probs in zip(pending, self._run(np.stack(crops))):
                yield key, Prediction(probs, None)
            return
        scores = self._run(np.concatenate(crops))
        start = 0
        for key, c in pending:
            crop_probs = scores[start:start + len(c)]
            start += len(c)
            if view == "pyramid":
                probs = combine_pyramid(crop_probs, PYRAMID_LEVELS)
            else:
                probs = crop_probs.mean(axis=0)
            yield key, Prediction(probs, crop_probs if len(c) > 1 else None)

    def predict(self, images: Iterable[tuple[Key, np.ndarray]], *, view: str, transform: Transform,
                image_size: int) -> Iterator[tuple[Key, Prediction]]:
        """(key, decoded RGB image) pairs -> (key, Prediction), in order, batched across images.
        `transform` is the run's eval transform, `image_size` its data.image_size."""
        self.check_view(view)
        cut = make_view(view, transform=transform, image_size=image_size, levels=self.levels or PYRAMID_LEVELS)
        pending: list[tuple[Key, np.ndarray]] = []
        queued = 0
        for key, image in images:
            crops = cut(image)
            pending.append((key, crops))
            queued += len(crops)
            if queued >= self.batch_size:
                yield from self._flush(pending, view)
                pending, queued = [], 0
        if pending:
            yield from self._flush(pending, view)
