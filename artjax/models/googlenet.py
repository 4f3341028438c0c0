"""GoogLeNet (Inception v1) in torchvision's layout, including its quirks.

Stages: `stem` = conv1, maxpool1, conv2, conv3, maxpool2; `stage1` = inception3a, 3b, maxpool3;
`stage2` = inception4a..4e, maxpool4 (and the auxiliary heads, see below); `stage3` =
inception5a, 5b; `head` = Dropout(0.2) + Linear(1024 -> classes). Every conv is torchvision's
BasicConv2d: conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU. As in torchvision, the "5x5" branch
uses a 3x3 conv (pytorch/vision#906) and the max-pools use ceil mode.

Options:
- `transform_input` (default False, torchvision's class default): re-normalise inputs from
  ImageNet statistics to mean = std = 0.5 before conv1. torchvision's ImageNet GoogLeNet weights
  were trained that way and `torchvision.models.googlenet(weights=...)` turns it on, so pass
  `transform_input=True` with weights converted from that file.
- `aux_logits` (default False): torchvision's two auxiliary classifiers, after inception4a and
  4d, held in `stage2` as `aux1` / `aux2` (so freezing stage2 freezes them). `__call__` never
  uses them; training code calls `forward_aux`. torchvision's ImageNet file carries untrained
  aux weights; the converter drops them.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class InceptionAux(nnx.Module):
    """Adaptive average pool to 4x4 -> 1x1 conv 128 -> flatten (C,H,W) -> FC 1024 -> ReLU ->
    Dropout(0.7) -> FC classes."""

    def __init__(self, cin: int, num_classes: int, *, rngs: nnx.Rngs, dtype: Any):
        self.conv = BasicConv(cin, 128, 1, rngs=rngs, dtype=dtype)
        self.fc1 = layers.linear(2048, 1024, rngs=rngs, dtype=dtype, kernel_init=_NORMAL)
        self.fc2 = layers.linear(1024, num_classes, rngs=rngs, dtype=dtype, kernel_init=_NORMAL)
        self.dropout = nnx.Dropout(0.7, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.flatten_nchw(self.conv(layers.adaptive_avg_pool(x, 4)))
        return self.fc2(self.dropout(jax.nn.relu(self.fc1(x))))


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
    """Inception blocks (attributes named as torchvision's), then an optional ceil-mode max-pool.
    `aux` maps a block name to the name of the auxiliary head reading its output."""

    def __init__(self, names: tuple[str, ...], pool: int | None, *, num_classes: int,
                 rngs: nnx.Rngs, dtype: Any, aux: Mapping[str, str] | None = None):
        self.names = names
        self.pool = pool
        self.aux_after = tuple((aux or {}).items())  # a tuple: static attributes must hash
        for name in names:
            setattr(self, name, Inception(*INCEPTION[name], rngs=rngs, dtype=dtype))
        for block, aux_name in self.aux_after:
            setattr(self, aux_name, InceptionAux(_out_width(block), num_classes, rngs=rngs,
                                                 dtype=dtype))

    def __call__(self, x: jax.Array, with_aux: bool = False) -> tuple[jax.Array, list[jax.Array]]:
        aux, aux_after = [], dict(self.aux_after)
        for name in self.names:
            x = getattr(self, name)(x)
            if with_aux and name in aux_after:
                aux.append(getattr(self, aux_after[name])(x))
        if self.pool:
            x = layers.max_pool(x, self.pool, 2, ceil_mode=True)
        return x, aux


def _out_width(block: str) -> int:
    _, c1, _, c3, _, c5, pool = INCEPTION[block]
    return c1 + c3 + c5 + pool


class GoogLeNet(Backbone):
    def __init__(self, *, num_classes: int, rngs: nnx.Rngs, dtype: Any = jnp.float32,
                 head: Mapping[str, Any] | None = None, transform_input: bool = False,
                 aux_logits: bool = False):
        kw = {"num_classes": num_classes, "rngs": rngs, "dtype": dtype}
        self.transform_input = transform_input
        self.stem = Stem(rngs=rngs, dtype=dtype)
        self.stage1 = InceptionStage(("inception3a", "inception3b"), 3, **kw)
        self.stage2 = InceptionStage(
            ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"), 2,
            aux={"inception4a": "aux1", "inception4d": "aux2"} if aux_logits else None, **kw)
        self.stage3 = InceptionStage(("inception5a", "inception5b"), None, **kw)
        self.stage_names = ("stem", "stage1", "stage2", "stage3", "head")
        self.num_features = 1024
        self.init_head(head, num_classes, default={"kind": "linear", "dropout": 0.2}, rngs=rngs,
                       dtype=dtype)

    def _run(self, x: jax.Array, with_aux: bool
             ) -> tuple[jax.Array, dict[str, jax.Array], list[jax.Array]]:
        if self.transform_input:
            x = x * jnp.asarray(_TO_HALF_SCALE, x.dtype) + jnp.asarray(_TO_HALF_SHIFT, x.dtype)
        x = self.stem(x)
        maps, aux = {"stem": x}, []
        for name in self.stage_names[1:-1]:
            x, stage_aux = getattr(self, name)(x, with_aux)
            maps[name] = x
            aux += stage_aux
        return layers.global_avg_pool(x), maps, aux

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        pooled, maps, _ = self._run(x, with_aux=False)
        return pooled, maps

    def forward_aux(self, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """(logits, (aux1 logits, aux2 logits)); the tuple is empty without `aux_logits`.

        torchvision's recipe trains on loss(logits) + 0.3 * (loss(aux1) + loss(aux2)).
        """
        pooled, maps, aux = self._run(x, with_aux=True)
        return self.head(pooled, maps[self.feature_stage]), tuple(aux)

    def reset_head(self, num_classes: int, *, rngs: nnx.Rngs,
                   head: Mapping[str, Any] | None = None) -> None:
        """Replaces the head, and the last layer of the auxiliary heads, for `num_classes`."""
        super().reset_head(num_classes, rngs=rngs, head=head)
        for _, aux_name in self.stage2.aux_after:
            getattr(self.stage2, aux_name).fc2 = layers.linear(
                1024, num_classes, rngs=rngs, dtype=self._dtype, kernel_init=_NORMAL)


@register("googlenet")
def googlenet(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
              **options: Any) -> GoogLeNet:
    return GoogLeNet(num_classes=num_classes, rngs=rngs, dtype=dtype, head=head, **options)
