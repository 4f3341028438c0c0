"""Multi-scale pyramid weighted pooling (after Jangtjik, Yeh & Hua, ACM MM 2016; S1).

A painting is seen at several scales: level n cuts it into an n x n grid (default levels 1, 2, 5:
the whole painting, 4 quarters, 25 tiles = 30 crops; the crops come from the pyramid view of
artjax.eval.views). One shared backbone scores every crop of a batch in one batched call (or in
chunks of `chunk_size` crops, to bound activation memory: ResNet50 training at 224 px holds
roughly 100 MB of activations per crop, so 30 crops per painting cost ~3 GB per painting).

Per level l, the crops' softmax probabilities are averaged: p_l = mean_i softmax(z_{l,i}).
The levels are then combined with weights w_l (sum 1), by `combine_levels`:
- `soft`: P = sum_l w_l p_l with fixed weights; the default w = (25, 4, 1) / 30 for levels
  (1, 2, 5) reproduces S1's "25 * level1 + 4 * level2 + 1 * level3" (in general: the crop
  counts in reverse order, so coarse views weigh more).
- `hard`: every crop votes for its argmax class; P = sum_l w_l * (votes of level l / crops of
  level l). Votes carry no gradient: train hard pyramids with `level_loss_weight` > 0.
- `adaptive`: as soft, with w = softmax(a) learned end to end (a starts at log of the soft
  default weights).
The model returns log P, so the ordinary cross-entropy on its output is the loss on the
combined prediction; `forward_levels` also gives per-level log-probabilities for per-level
losses.

Two readings of the source (experiments/artist50_pyramid.py):
- S1's team code (the default): levels (1, 2, 5), one backbone shared by every crop.
- Jangtjik et al.'s paper: levels (1, 2, 4) (1 + 4 + 16 = 21 crops, "21x more features") and a
  CNN per level: `per_level_backbone=True` gives every level its own copy of the backbone, each
  starting from the same weights (parameters x number of levels). The first level's backbone
  stays `backbone` (Grad-CAM and freezing see it as before); level n x n's is `backbone_{n}x{n}`,
  and `train.freeze` stage names apply in every copy (artjax.train.freeze.stage_of).
The team code's `Softmax(dim=0)` normalises over the crops, not the classes, so its level-2 and
level-3 terms (a mean over crops of distributions over crops) are the constant 1/4 and 1/25 for
every class; artjax takes the softmax over the classes, which is what the combination means.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.models.base import Backbone

RULES = ("soft", "hard", "adaptive")
DEFAULT_LEVELS = (1, 2, 5)
_EPS = 1e-7


def default_level_weights(levels: Sequence[int]) -> np.ndarray:
    counts = np.array([n * n for n in levels], np.float64)[::-1]
    return counts / counts.sum()


def backbone_name(levels: Sequence[int], index: int) -> str:
    """The attribute holding level `index`'s backbone with per-level backbones: the first
    level's is `backbone`, the others `backbone_{n}x{n}`."""
    return "backbone" if index == 0 else f"backbone_{levels[index]}x{levels[index]}"


def level_means(values: jax.Array, levels: Sequence[int]) -> list[jax.Array]:
    """Per level, the mean over its crops of (B, crops, classes) `values`: a (B, classes) each."""
    means, start = [], 0
    for n in levels:
        means.append(values[:, start:start + n * n].mean(axis=1))
        start += n * n
    return means


def combine_levels(values: jax.Array, levels: Sequence[int], weights: jax.Array | Sequence[float]) -> jax.Array:
    """S1's rule on (B, crops, classes) `values`: sum_l w_l * (mean of level l's crops).

    The soft and adaptive rules apply it to crop probabilities, the hard rule to one-hot votes;
    the pyramid evaluation view applies it, with `default_level_weights`, to a plain backbone."""
    weights = jnp.asarray(weights, jnp.float32)
    means = level_means(values, levels)
    combined = jnp.zeros_like(means[0])
    for i, mean in enumerate(means):
        combined = combined + weights[i] * mean
    return combined


class Pyramid(nnx.Module):
    """Wraps a backbone; call it on crops shaped (B, sum(n^2 for n in levels), H, W, 3), as the
    pyramid view (artjax.eval.views, geometry in artjax.data.views.pyramid_crops) cuts them."""

    def __init__(self, backbone: Backbone, *, levels: Sequence[int] = DEFAULT_LEVELS, rule: str = "soft",
                 weights: Sequence[float] | None = None, chunk_size: int = 0,
                 per_level_backbone: bool = False) -> None:
        if rule not in RULES:
            raise ValueError(f"pyramid rule {rule!r} is not one of {', '.join(RULES)}")
        if weights is not None and len(weights) != len(levels):
            raise ValueError(f"pyramid weights {tuple(weights)} do not match levels {tuple(levels)}")
        w = np.asarray(weights if weights is not None else default_level_weights(levels), np.float64)
        if np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"pyramid weights must be non-negative with a positive sum, got {tuple(w)}")
        self.levels = tuple(int(n) for n in levels)
        if per_level_backbone and len(set(self.levels)) != len(self.levels):
            raise ValueError(f"per-level backbones need distinct pyramid levels, got {self.levels}")
        self.per_level_backbone = per_level_backbone
        self.backbone = backbone
        for index in range(1, len(self.levels) if per_level_backbone else 1):
            # nnx.clone: new variables holding the same values (each level starts from the same weights).
            setattr(self, backbone_name(self.levels, index), nnx.clone(backbone))
        self.rule = rule
        self.chunk_size = chunk_size
        self.fixed_weights = tuple(float(x) for x in w / w.sum())
        self.level_logits = nnx.Param(jnp.log(jnp.asarray(self.fixed_weights, jnp.float32) + _EPS)) \
            if rule == "adaptive" else None
        # The backbone's stages keep their names (freezing sees through `backbone`); the learned
        # level weights are a stage of their own.
        self.stage_names = (*backbone.stage_names, *(("level_logits",) if rule == "adaptive" else ()))
        self.preprocessing = backbone.preprocessing

    @property
    def num_crops(self) -> int:
        return sum(n * n for n in self.levels)

    def level_weights(self) -> jax.Array:
        if self.rule == "adaptive":
            return jax.nn.softmax(self.level_logits[...])
        return jnp.asarray(self.fixed_weights, jnp.float32)

    def _run(self, apply: Callable[[jax.Array], jax.Array], crops: jax.Array) -> jax.Array:
        """(B, n, H, W, 3) crops through `apply` (a backbone's call) -> (B, n, width), in one call or in chunks."""
        b, n = crops.shape[:2]
        flat = crops.reshape(b * n, *crops.shape[2:])
        if self.chunk_size and self.chunk_size < b * n:
            out = jnp.concatenate([apply(flat[i:i + self.chunk_size]) for i in range(0, b * n, self.chunk_size)])
        else:
            out = apply(flat)
        return out.reshape(b, n, -1).astype(jnp.float32)

    def _per_crop(self, crops: jax.Array, apply: Callable[[Backbone, jax.Array], jax.Array]) -> jax.Array:
        """`apply(backbone, crops)` of every crop, (B, num_crops, width): all crops through the
        shared backbone, or each level's crops through its own."""
        n = crops.shape[1]
        if n != self.num_crops:
            raise ValueError(f"pyramid levels {self.levels} need {self.num_crops} crops per image, got {n}")
        if not self.per_level_backbone:
            return self._run(functools.partial(apply, self.backbone), crops)
        parts, start = [], 0
        for index, k in enumerate(self.levels):
            backbone = getattr(self, backbone_name(self.levels, index))
            parts.append(self._run(functools.partial(apply, backbone), crops[:, start:start + k * k]))
            start += k * k
        return jnp.concatenate(parts, axis=1)

    def crop_logits(self, crops: jax.Array) -> jax.Array:
        """Backbone logits of every crop, (B, num_crops, classes)."""
        return self._per_crop(crops, lambda backbone, x: backbone(x))

    def crop_features(self, crops: jax.Array) -> jax.Array:
        """Pooled backbone features of every crop, (B, num_crops, num_features)."""
        return self._per_crop(crops, lambda backbone, x: backbone.forward_features(x)[0])

    def forward_levels(self, crops: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        """(log of the combined probabilities (B, classes), per-level log mean probabilities)."""
        logits = self.crop_logits(crops)
        probs = jax.nn.softmax(logits, axis=-1)
        scored = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1]) if self.rule == "hard" else probs
        combined = combine_levels(scored, self.levels, self.level_weights())
        per_level = [jnp.log(mean + _EPS) for mean in level_means(probs, self.levels)]
        return jnp.log(combined + _EPS), per_level

    def __call__(self, crops: jax.Array) -> jax.Array:
        return self.forward_levels(crops)[0]
