"""GoogLeNet (Inception v1) in torchvision's layout, including its quirks.

Stages: `stem` = conv1, maxpool1, conv2, conv3, maxpool2; `stage1` = inception3a, 3b, maxpool3;
`stage2` = inception4a..4e, maxpool4; `stage3` = inception5a, 5b; `head` = Dropout(0.2) +
Linear(1024 -> classes). Every conv is torchvision's BasicConv2d: conv (no bias) -> BatchNorm
(eps 1e-3) -> ReLU. As in torchvision, the "5x5" branch uses a 3x3 conv (pytorch/vision#906)
and the max-pools use ceil mode.

Options:
- `transform_input` (default False, torchvision's class default): re-normalise inputs from
  ImageNet statistics to mean = std = 0.5 before conv1. torchvision's ImageNet GoogLeNet weights
  were trained that way and `torchvision.models.googlenet(weights=...)` turns it on, so pass
  `transform_input=True` with weights converted from that file.

No auxiliary classifiers (torchvision's `aux_logits`): S4, the recipe this family serves, does
not state that it trained them (its 5,972,467 parameters for 3 classes are near torchvision's
5.60 M without them, far from 9.94 M with them), and the converter drops torchvision's `aux1` /
`aux2` weights, which its ImageNet file carries untrained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.models import layers
from artjax.models.base import IMAGENET_MEAN, IMAGENET_STD, Backbone
from artjax.models.registry import register

# (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj) per inception block, torchvision's.
INCEPTION = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}
# torchvision's init: conv and linear weights ~ N(0, 0.01) truncated at +-2 (200 std: no effect).
_NORMAL = nnx.initializers.normal(0.01)
# transform_input: x * std / 0.5 + (mean - 0.5) / 0.5 turns ImageNet-normalised images into
# mean = std = 0.5 normalised ones.
_TO_HALF_SCALE = np.array(IMAGENET_STD, np.float32) / 0.5
_TO_HALF_SHIFT = (np.array(IMAGENET_MEAN, np.float32) - 0.5) / 0.5


class BasicConv(nnx.Module):
    """conv (no bias) -> BatchNorm(eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, *,
                 rngs: nnx.Rngs, dtype: Any):
        self.conv = layers.conv(cin, cout, kernel, stride, padding, rngs=rngs, dtype=dtype,
                                kernel_init=_NORMAL)
        self.bn = layers.BatchNorm(cout, epsilon=1e-3, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(self.bn(self.conv(x)))


class Inception(nnx.Module):
    """Four branches concatenated: 1x1 | 1x1-3x3 | 1x1-3x3 | 3x3/1 max-pool-1x1."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int, *,
                 rngs: nnx.Rngs, dtype: Any):
        kw = {"rngs": rngs, "dtype": dtype}
        self.branch1 = BasicConv(cin, c1, 1, **kw)
        self.branch2 = nnx.List([BasicConv(cin, c3r, 1, **kw), BasicConv(c3r, c3, 3, 1, 1, **kw)])
        self.branch3 = nnx.List([BasicConv(cin, c5r, 1, **kw), BasicConv(c5r, c5, 3, 1, 1, **kw)])
        self.branch4 = BasicConv(cin, pool, 1, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        b2 = self.branch2[1](self.branch2[0](x))
        b3 = self.branch3[1](self.branch3[0](x))
        b4 = self.branch4(layers.max_pool(x, 3, 1, 1, ceil_mode=True))
        return jnp.concatenate([self.branch1(x), b2, b3, b4], axis=-1)


class Stem(nnx.Module):
    """conv1 7x7/2 -> 3x3/2 max-pool -> conv2 1x1 -> conv3 3x3 -> 3x3/2 max-pool (ceil mode)."""

    def __init__(self, *, rngs: nnx.Rngs, dtype: Any):
        self.conv1 = BasicConv(3, 64, 7, 2, 3, rngs=rngs, dtype=dtype)
        self.conv2 = BasicConv(64, 64, 1, rngs=rngs, dtype=dtype)
        self.conv3 = BasicConv(64, 192, 3, 1, 1, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.max_pool(self.conv1(x), 3, 2, ceil_mode=True)
        return layers.max_pool(self.conv3(self.conv2(x)), 3, 2, ceil_mode=True)


class InceptionStage(nnx.Module):
    """Inception blocks (attributes named as torchvision's), then an optional ceil-mode max-pool."""

    def __init__(self, names: Sequence[str], pool: int | None, *, rngs: nnx.Rngs, dtype: Any):
        self.names = tuple(names)  # a tuple: static attributes must hash
        self.pool = pool
        for name in self.names:
            setattr(self, name, Inception(*INCEPTION[name], rngs=rngs, dtype=dtype))

    def __call__(self, x: jax.Array) -> jax.Array:
        for name in self.names:
            x = getattr(self, name)(x)
        if self.pool:
            x = layers.max_pool(x, self.pool, 2, ceil_mode=True)
        return x


class GoogLeNet(Backbone):
    def __init__(self, *, num_classes: int, rngs: nnx.Rngs, dtype: Any = jnp.float32,
                 head: Mapping[str, Any] | None = None, transform_input: bool = False):
        kw = {"rngs": rngs, "dtype": dtype}
        self.transform_input = transform_input
        self.stem = Stem(**kw)
        self.stage1 = InceptionStage(("inception3a", "inception3b"), 3, **kw)
        self.stage2 = InceptionStage(
            ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"), 2, **kw)
        self.stage3 = InceptionStage(("inception5a", "inception5b"), None, **kw)
        self.stage_names = ("stem", "stage1", "stage2", "stage3", "head")
        self.num_features = 1024
        self.init_head(head, num_classes, default={"kind": "linear", "dropout": 0.2}, rngs=rngs,
                       dtype=dtype)

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        if self.transform_input:
            x = x * jnp.asarray(_TO_HALF_SCALE, x.dtype) + jnp.asarray(_TO_HALF_SHIFT, x.dtype)
        x = self.stem(x)
        maps = {"stem": x}
        for name in self.stage_names[1:-1]:
            x = maps[name] = getattr(self, name)(x)
        return layers.global_avg_pool(x), maps


@register("googlenet")
def googlenet(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
              **options: Any) -> GoogLeNet:
    return GoogLeNet(num_classes=num_classes, rngs=rngs, dtype=dtype, head=head, **options)
