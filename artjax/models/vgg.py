"""VGG 11/13/16/19, with (`_bn`) and without BatchNorm, in torchvision's layout.

Stages: stage1..stage5, one per max-pool block of torchvision's `features` (each an nnx.List of
conv [+ BN] + ReLU layers, the block's max-pool applied at its end); no stem. head = torchvision's
classifier by default (`{'kind': 'vgg_classifier'}`: adaptive average pool to 7x7, 4096-4096
FC with dropout); any other head kind works on the globally pooled 512 features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import layers
from artjax.models.base import Backbone
from artjax.models.registry import register

# Conv widths per block (each block ends with a 2x2 max-pool), as torchvision's cfgs A/B/D/E.
CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class ConvLayer(nnx.Module):
    """3x3 conv (padding 1) [-> BatchNorm] -> ReLU."""

    def __init__(self, cin: int, cout: int, batch_norm: bool, *, rngs: nnx.Rngs, dtype: Any):
        self.conv = layers.conv(cin, cout, 3, 1, 1, bias=True, rngs=rngs, dtype=dtype)
        self.bn = layers.BatchNorm(cout, dtype=dtype) if batch_norm else None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return jax.nn.relu(x)


class VGG(Backbone):
    def __init__(self, blocks: tuple[tuple[int, ...], ...], *, batch_norm: bool,
                 num_classes: int, rngs: nnx.Rngs, dtype: Any = jnp.float32,
                 head: Mapping[str, Any] | None = None):
        cin = 3
        names = []
        for i, widths in enumerate(blocks):
            convs = []
            for cout in widths:
                convs.append(ConvLayer(cin, cout, batch_norm, rngs=rngs, dtype=dtype))
                cin = cout
            names.append(f"stage{i + 1}")
            setattr(self, names[-1], nnx.List(convs))
        self.stage_names = (*names, "head")
        self.num_features = cin
        self.init_head(head, num_classes, default={"kind": "vgg_classifier"}, rngs=rngs,
                       dtype=dtype)

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        maps = {}
        for name in self.stage_names[:-1]:
            for layer in getattr(self, name):
                x = layer(x)
            x = maps[name] = layers.max_pool(x, 2, 2)
        return layers.global_avg_pool(x), maps


def _factory(blocks, batch_norm):
    def make(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
             **options: Any) -> VGG:
        return VGG(blocks, batch_norm=batch_norm, num_classes=num_classes, rngs=rngs,
                   dtype=dtype, head=head, **options)

    return make


for _name, _blocks in CONFIGS.items():
    register(_name)(_factory(_blocks, False))
    register(f"{_name}_bn")(_factory(_blocks, True))
