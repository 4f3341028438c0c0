"""Scoring images through an evaluation view on the device, and training's evaluation step.

`score_view` is the one path from a batch of crops to class probabilities: the model scores
every crop (or, a pyramid model, all crops of an image at once), the probabilities become the
image's through the view's rule (`artjax.eval.views`). The training loop's evaluation
(`EvalPlan.make_step`) and the restored `Classifier` (eval/inference.py) both run it, so
validation metrics, the report and `predict` see the same numbers.

The metrics of an image count its `Scores.logits`: the model's own output when it has one crop
(or is a pyramid model, whose output is log P), else log of the combined probabilities. A view
whose crops are also samples (quadrants, random_quarter) counts every crop's logits in `main`
and the images in `voted` (voted_accuracy, voted_macro_f1), as S1's quarter-crop test set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.eval import metrics, views
from artjax.models.pyramid import combine_levels

State = Any
_EPS = 1e-12  # log of a combined probability of 0


class Scores(NamedTuple):
    logits: jax.Array  # (B, classes) each image's, as its metrics count them (see the module doc)
    probs: jax.Array  # (B, classes) each image's probabilities
    crop_logits: jax.Array | None  # (B, crops, classes) when the view has several crops scored one by one
    crop_probs: jax.Array | None


def score_view(model: Any, inputs: jax.Array, *, view: views.View, levels: tuple[int, ...], model_combines: bool,
               sigmoid: bool) -> Scores:
    """Normalised inputs (B, H, W, 3) or (B, crops, H, W, 3) -> the images' `Scores`.

    model_combines: the model (a Pyramid) takes all crops of an image and returns log P.
    sigmoid: the model has one logit for a two-class problem (checked against its output).
    """
    if model_combines:
        log_p = model(inputs).astype(jnp.float32)
        return Scores(log_p, metrics.probabilities(log_p), None, None)
    if inputs.ndim == 4:
        inputs = inputs[:, None]
    b, n = inputs.shape[:2]
    out = model(inputs.reshape(b * n, *inputs.shape[2:])).astype(jnp.float32)
    if sigmoid != (out.shape[-1] == 1):
        raise ValueError(f"the model has {out.shape[-1]} output(s), which does not match sigmoid={sigmoid}")
    logits, crop_probs = metrics.class_logits(out).reshape(b, n, -1), metrics.probabilities(out).reshape(b, n, -1)
    if n == 1:
        return Scores(logits[:, 0], crop_probs[:, 0], None, None)
    probs = view.combine(crop_probs, levels)
    return Scores(jnp.log(probs + _EPS), probs, logits, crop_probs)


def embed_view(model: Any, inputs: jax.Array, *, view: views.View, levels: tuple[int, ...],
               model_combines: bool) -> jax.Array:
    """Normalised inputs, as `score_view` takes them -> each image's embedding (B, width): the
    pooled features (what the head sees) of its crops, combined by the view's rule (the
    pyramid's level weights for a pyramid model), L2-normalised so cosine is a dot product."""
    if inputs.ndim == 4:
        inputs = inputs[:, None]
    if model_combines:
        pooled = model.crop_features(inputs)
        combined = combine_levels(pooled, levels, model.level_weights())
    else:
        b, n = inputs.shape[:2]
        pooled = model.forward_features(inputs.reshape(b * n, *inputs.shape[2:]))[0].astype(jnp.float32)
        combined = view.combine(pooled.reshape(b, n, -1), levels)
    return combined / jnp.maximum(jnp.linalg.norm(combined, axis=-1, keepdims=True), _EPS)


class EvalPlan:
    """How the training loop evaluates: the view's per-image transform, the metric counts, the
    jitted step over (B, ...) batches with a `mask`, and the summary.

    model_combines: the model is a Pyramid (it consumes all crops itself; view must be 'pyramid').
    levels: the pyramid levels (of the model, or of the pyramid view on a plain backbone).
    """

    def __init__(self, *, view: str, levels: Sequence[int], model_combines: bool, base_transform: views.Transform,
                 image_size: int, sigmoid: bool, num_classes: int) -> None:
        self.view = views.get(view)
        if model_combines and view != "pyramid":
            raise ValueError(f"a pyramid model scores its pyramid crops together; view {view!r} does not apply")
        if sigmoid and num_classes != 2:
            raise ValueError(f"a sigmoid model has two classes, not {num_classes}")
        self.levels = tuple(int(n) for n in levels)
        self.model_combines, self.sigmoid, self.num_classes = model_combines, sigmoid, num_classes
        self.transform = views.ViewTransform(view, image_size=image_size, base=base_transform, levels=self.levels)
        self.num_crops = self.transform.num_crops
        self.per_crop = self.view.per_crop and not model_combines

    def init_counts(self) -> dict[str, Any]:
        parts = ("main", "voted") if self.per_crop else ("main",)
        return {part: metrics.init_counts(self.num_classes) for part in parts}

    def make_step(self, graphdef: nnx.GraphDef, *, preprocessing: Any, dtype: Any,
                  ema: bool = False) -> Callable[[State, dict[str, jax.Array], dict[str, Any]], dict[str, Any]]:
        """(state, batch {image, label, mask}, counts) -> counts with the batch's unmasked images
        added; the counts are donated. `state` is nnx.state((model, optimizer)) of `graphdef`.
        ema: score the optimiser's moving average of the weights (`optimizer.ema`) instead."""

        def step(state: State, batch: dict[str, jax.Array], counts: dict[str, Any]) -> dict[str, Any]:
            model, optimizer = nnx.merge(graphdef, state)
            if ema:
                optimizer.ema.copy_to(model)
            labels, mask = batch["label"], batch["mask"]
            scores = score_view(model, preprocessing.normalize(batch["image"], dtype), view=self.view,
                                levels=self.levels, model_combines=self.model_combines, sigmoid=self.sigmoid)
            if not self.per_crop:
                return {"main": metrics.update_counts(counts["main"], scores.logits, labels, mask)}
            n = scores.crop_logits.shape[1]
            crops = scores.crop_logits.reshape(-1, scores.crop_logits.shape[-1])
            return {"main": metrics.update_counts(counts["main"], crops, jnp.repeat(labels, n), jnp.repeat(mask, n)),
                    "voted": metrics.update_counts(counts["voted"], scores.logits, labels, mask)}

        return jax.jit(step, donate_argnums=2)

    def summarize(self, counts: dict[str, Any], class_names: Sequence[str] | None) -> dict[str, Any]:
        """`metrics.summarize` of the counts, plus voted_accuracy / voted_macro_f1 per image for
        a view whose crops are samples."""
        result = metrics.summarize(counts["main"], class_names=class_names)
        if "voted" in counts:
            voted = metrics.summarize(counts["voted"], class_names=class_names)
            result.update(voted_accuracy=voted["accuracy"], voted_macro_f1=voted["macro_f1"])
        return result

