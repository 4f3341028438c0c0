"""ResNet 18/34/50/101/152 in torchvision's layout (v1.5: the bottleneck strides on its 3x3 conv).

Stages: stem = conv1 + bn1 + ReLU + max-pool (output stride 4), stage1..stage4 = layer1..layer4
(each an nnx.List of blocks, so `stage2/0/conv1/kernel` is torch's `layer2.0.conv1.weight`),
head = fc. `resnet_mini` is a small BasicBlock ResNet for the quickstart and tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import layers
from artjax.models.base import Backbone
from artjax.models.registry import register


class ConvBN(nnx.Module):
    """conv -> BatchNorm, no activation (torch's `downsample` Sequential)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int, *,
                 rngs: nnx.Rngs, dtype: Any):
        self.conv = layers.conv(cin, cout, k, stride, padding, rngs=rngs, dtype=dtype)
        self.bn = layers.BatchNorm(cout, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.bn(self.conv(x))


class BasicBlock(nnx.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, *, rngs: nnx.Rngs, dtype: Any):
        cout = width * self.expansion
        self.conv1 = layers.conv(cin, width, 3, stride, 1, rngs=rngs, dtype=dtype)
        self.bn1 = layers.BatchNorm(width, dtype=dtype)
        self.conv2 = layers.conv(width, cout, 3, 1, 1, rngs=rngs, dtype=dtype)
        self.bn2 = layers.BatchNorm(cout, dtype=dtype)
        self.downsample = (ConvBN(cin, cout, 1, stride, 0, rngs=rngs, dtype=dtype)
                           if stride != 1 or cin != cout else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.nn.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return jax.nn.relu(y + shortcut)


class Bottleneck(nnx.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, *, rngs: nnx.Rngs, dtype: Any):
        cout = width * self.expansion
        self.conv1 = layers.conv(cin, width, 1, rngs=rngs, dtype=dtype)
        self.bn1 = layers.BatchNorm(width, dtype=dtype)
        self.conv2 = layers.conv(width, width, 3, stride, 1, rngs=rngs, dtype=dtype)
        self.bn2 = layers.BatchNorm(width, dtype=dtype)
        self.conv3 = layers.conv(width, cout, 1, rngs=rngs, dtype=dtype)
        self.bn3 = layers.BatchNorm(cout, dtype=dtype)
        self.downsample = (ConvBN(cin, cout, 1, stride, 0, rngs=rngs, dtype=dtype)
                           if stride != 1 or cin != cout else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.nn.relu(self.bn1(self.conv1(x)))
        y = jax.nn.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return jax.nn.relu(y + shortcut)


class Stem(nnx.Module):
    """7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool."""

    def __init__(self, width: int, *, rngs: nnx.Rngs, dtype: Any):
        self.conv = layers.conv(3, width, 7, 2, 3, rngs=rngs, dtype=dtype)
        self.bn = layers.BatchNorm(width, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return layers.max_pool(jax.nn.relu(self.bn(self.conv(x))), 3, 2, 1)


class ResNet(Backbone):
    """torchvision ResNet; `width` is the stem width, stage widths are width * (1, 2, 4, 8)."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], depths: Sequence[int], *,
                 num_classes: int, rngs: nnx.Rngs, dtype: Any = jnp.float32,
                 head: Mapping[str, Any] | None = None, width: int = 64):
        self.stem = Stem(width, rngs=rngs, dtype=dtype)
        cin = width
        names = []
        for i, depth in enumerate(depths):
            stage_width = width * 2**i
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block(cin, stage_width, stride, rngs=rngs, dtype=dtype))
                cin = stage_width * block.expansion
            names.append(f"stage{i + 1}")
            setattr(self, names[-1], nnx.List(blocks))
        self.stage_names = ("stem", *names, "head")
        self.num_features = cin
        self.init_head(head, num_classes, default={"kind": "linear"}, rngs=rngs, dtype=dtype)

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        maps = {"stem": self.stem(x)}
        x = maps["stem"]
        for name in self.stage_names[1:-1]:
            for blk in getattr(self, name):
                x = blk(x)
            maps[name] = x
        return layers.global_avg_pool(x), maps


def _factory(block, depths):
    def make(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
             **options: Any) -> ResNet:
        return ResNet(block, depths, num_classes=num_classes, rngs=rngs, dtype=dtype, head=head,
                      **options)

    return make


for _name, _block, _depths in [("resnet18", BasicBlock, (2, 2, 2, 2)),
                               ("resnet34", BasicBlock, (3, 4, 6, 3)),
                               ("resnet50", Bottleneck, (3, 4, 6, 3)),
                               ("resnet101", Bottleneck, (3, 4, 23, 3)),
                               ("resnet152", Bottleneck, (3, 8, 36, 3))]:
    register(_name)(_factory(_block, _depths))


@register("resnet_mini")
def resnet_mini(*, num_classes: int, rngs: nnx.Rngs, dtype: Any,
                head: Mapping[str, Any] | None, width: int = 16,
                depths: Sequence[int] = (1, 1, 1, 1)) -> ResNet:
    """A small BasicBlock ResNet (widths 16/32/64/128 by default) for CPU quickstarts and tests."""
    return ResNet(BasicBlock, tuple(depths), num_classes=num_classes, rngs=rngs, dtype=dtype,
                  head=head, width=width)
