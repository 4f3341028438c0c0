"""Wrappers that put structure around a backbone, built from `config.model.resizer` /
`config.model.pyramid` (see resizer.py and pyramid.py for the methods themselves).

A wrapper keeps its backbone under the attribute `backbone`, so the backbone's parameter paths
(and its converted weights) stay the same below that prefix, and its stage names still select
it for freezing; the wrapper's own parts are stages of their own ('resizer', 'level_logits').
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from artjax.models.base import Backbone
from artjax.models.resizer import Resizer


class WithResizer(nnx.Module):
    """image -> Resizer -> backbone; trained end to end."""

    def __init__(self, resizer: Resizer, backbone: Backbone) -> None:
        self.resizer = resizer
        self.backbone = backbone
        self.stage_names = ("resizer", *backbone.stage_names)
        self.preprocessing = backbone.preprocessing

    @property
    def head(self) -> nnx.Module:
        return self.backbone.head

    @property
    def feature_stage(self) -> str:
        return self.backbone.feature_stage

    @property
    def num_classes(self) -> int:
        return self.backbone.num_classes

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        return self.backbone.forward_features(self.resizer(x))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.backbone(self.resizer(x))


def with_resizer(backbone: Backbone, options: dict[str, Any], *, seed: int, dtype: Any) -> WithResizer:
    """`options`: target_size, filters, blocks, cbam, interpolation (Resizer's arguments).
    The Resizer starts fresh (seed + 1) even when the backbone loads converted weights."""
    return WithResizer(Resizer(rngs=nnx.Rngs(seed + 1), dtype=dtype, **options), backbone)
