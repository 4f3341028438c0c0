"""Class probabilities of whole images seen through an evaluation view, from a restored model.

`Classifier.predict` cuts each image with its view (`artjax.eval.views`: full, quadrants,
random_quarter, hflip, pyramid) and scores the crops with `artjax.eval.scoring.score_view`,
the function training's evaluation step runs: per crop probabilities, combined per image by the
view's rule (mean; the pyramid's 25 : 4 : 1 level weights). A pyramid model (one with `levels`)
receives all crops of an image at once and combines them itself. Images share jitted calls of
about `batch_size` crops; the last call is padded to a power of two, so a stream of any length
compiles at most log2(batch_size) + 1 shapes. A view that draws randomness (random_quarter) draws
it from seed 0 for every image, so a prediction depends on nothing but the image (training's
evaluation seeds it by the image's position instead).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import jax
import numpy as np
from flax import nnx

from artjax.eval import calibration, metrics, views
from artjax.eval.scoring import embed_view, score_view
from artjax.models.pyramid import DEFAULT_LEVELS

Key = TypeVar("Key")
Item = TypeVar("Item")
Result = TypeVar("Result")
Transform = views.Transform


@dataclasses.dataclass
class Prediction:
    probs: np.ndarray  # (classes,) the image's combined probabilities (temperature-scaled, see Classifier)
    crop_probs: np.ndarray | None  # (crops, classes) per crop; None when the model combines crops itself
    logits: np.ndarray  # (classes,) the image's Scores.logits, before any temperature
    embedding: np.ndarray | None = None  # (width,) unit pooled features, with Classifier(embed=True)

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


def default_view(model: nnx.Module) -> str:
    """The view `predict` uses unless told: a pyramid model's pyramid, else the whole image."""
    return "pyramid" if hasattr(model, "levels") else "full"


def _padded_length(n: int, limit: int) -> int:
    return min(limit, 1 << max(n - 1, 0).bit_length())


class Classifier:
    """A restored model as a function from uint8 crops to class probabilities.

    prepare: uint8 NHWC (or N x crops x HWC) -> the model's input (normalisation).
    sigmoid: the model has one logit for a two-class problem (probabilities 1 - s, s).
    batch_size: crops per model call: batch_size // crops images of the view (at least one).
    temperature: the run's calibration (artjax/eval/calibration.py); 1 keeps the model's own
        probabilities, another T gives softmax(logits / T) (computed in float64 on the host).
    embed: also return each image's embedding (`scoring.embed_view`) from the same call.
    """

    def __init__(self, model: nnx.Module, *, prepare: Callable[[jax.Array], jax.Array], sigmoid: bool,
                 batch_size: int, temperature: float = 1.0, embed: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.batch_size, self.temperature = batch_size, float(temperature)
        self.levels: tuple[int, ...] | None = tuple(model.levels) if hasattr(model, "levels") else None
        graphdef, self._state = nnx.split(model)
        levels, model_combines = self.levels or DEFAULT_LEVELS, self.levels is not None

        def probabilities(state: Any, crops: jax.Array, view: str) -> tuple[jax.Array, ...]:
            model, inputs = nnx.merge(graphdef, state), prepare(crops)
            scores = score_view(model, inputs, view=views.get(view), levels=levels, model_combines=model_combines,
                                sigmoid=sigmoid)
            # The embedding's forward pass is the scores' own: XLA computes it once in this one program.
            embedding = embed_view(model, inputs, view=views.get(view), levels=levels,
                                   model_combines=model_combines) if embed else None
            return scores.probs, scores.crop_probs, metrics.class_logits(scores.logits), embedding

        self._probabilities = jax.jit(probabilities, static_argnums=2)

    def check_view(self, view: str) -> None:
        views.get(view)  # unknown names fail listing the known ones
        if self.levels is not None and view != "pyramid":
            raise ValueError(f"a pyramid model scores all {sum(n * n for n in self.levels)} pyramid crops of "
                             f"an image together; view {view!r} does not apply (use 'pyramid')")

    def _flush(self, pending: list[tuple[Key, np.ndarray]], view: str,
               limit: int) -> Iterator[tuple[Key, Prediction]]:
        batch = np.stack([crops for _, crops in pending])  # (images, crops, S, S, 3)
        padded = np.concatenate([batch, np.zeros((_padded_length(len(batch), limit) - len(batch), *batch.shape[1:]),
                                                 batch.dtype)])
        probs, crop_probs, logits, embeddings = jax.device_get(self._probabilities(self._state, padded, view))
        logits = np.asarray(logits[:len(pending)], np.float64)
        probs = np.asarray(probs, np.float64) if self.temperature == 1.0 else calibration.softmax(logits,
                                                                                                   self.temperature)
        for i, (key, _) in enumerate(pending):
            yield key, Prediction(probs[i], None if crop_probs is None else np.asarray(crop_probs[i], np.float64),
                                  logits[i], None if embeddings is None else np.asarray(embeddings[i], np.float32))

    def predict(self, images: Iterable[tuple[Key, np.ndarray]], *, view: str, transform: Transform,
                image_size: int) -> Iterator[tuple[Key, Prediction]]:
        """(key, decoded RGB image) pairs -> (key, Prediction), in order, batched across images.
        `transform` is the run's eval transform, `image_size` its data.image_size."""
        self.check_view(view)
        cut = views.ViewTransform(view, image_size=image_size, base=transform, levels=self.levels or DEFAULT_LEVELS)
        per_call = max(1, self.batch_size // cut.num_crops)  # images per model call
        pending: list[tuple[Key, np.ndarray]] = []
        for key, image in images:
            pending.append((key, cut.crops(image, np.random.default_rng(0))))
            if len(pending) == per_call:
                yield from self._flush(pending, view, per_call)
                pending = []
        if pending:
            yield from self._flush(pending, view, per_call)
