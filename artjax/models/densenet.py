"""DenseNet-BC 121/161/169/201 in torchvision's layout.

Stages: `stem` = conv0 (7x7/2) + norm0 + ReLU + pool0 (3x3/2 max); `stage1`..`stage3` =
denseblock{i} followed by transition{i} (BN-ReLU-1x1 conv halving the width, 2x2 average pool);
`stage4` = denseblock4 followed by norm5 and the final ReLU (torchvision applies that ReLU in
`forward`), so its map is what the pool reads; `head` = Linear.
Dense layers keep torchvision's names (`stage2/block/denselayer3/conv1/kernel` is torch's
`features.denseblock2.denselayer3.conv1.weight`). BatchNorm eps 1e-5, momentum 0.1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import layers
from artjax.models.base import Backbone
from artjax.models.registry import register

# torchvision initialises convs with kaiming_normal_ in its default fan_in mode.
_HE_FAN_IN = nnx.initializers.variance_scaling(2.0, "fan_in", "normal")


@dataclasses.dataclass(frozen=True)
class Config:
    """torchvision's DenseNet constructor arguments."""

    growth_rate: int
    block_config: tuple[int, ...]
    num_init_features: int
    bn_size: int = 4


CONFIGS = {
    "densenet121": Config(32, (6, 12, 24, 16), 64),
    "densenet161": Config(48, (6, 12, 36, 24), 96),
    "densenet169": Config(32, (6, 12, 32, 32), 64),
    "densenet201": Config(32, (6, 12, 48, 32), 64),
}


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, *,
          rngs: nnx.Rngs, dtype: Any) -> nnx.Conv:
    return layers.conv(cin, cout, kernel, stride, padding, rngs=rngs, dtype=dtype,
                       kernel_init=_HE_FAN_IN)


class DenseLayer(nnx.Module):
    """BN-ReLU-1x1 conv (bn_size * growth) -> BN-ReLU-3x3 conv (growth): the new features."""

    def __init__(self, cin: int, growth: int, bn_size: int, *, rngs: nnx.Rngs, dtype: Any):
        width = bn_size * growth
        self.norm1 = layers.BatchNorm(cin, dtype=dtype)
        self.conv1 = _conv(cin, width, 1, rngs=rngs, dtype=dtype)
        self.norm2 = layers.BatchNorm(width, dtype=dtype)
        self.conv2 = _conv(width, growth, 3, 1, 1, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.conv1(jax.nn.relu(self.norm1(x)))
        return self.conv2(jax.nn.relu(self.norm2(y)))


class DenseBlock(nnx.Module):
    """`denselayer1..n`; each sees the concatenation of the block input and all earlier layers'
    outputs, and the block returns the concatenation of everything."""

    def __init__(self, depth: int, cin: int, growth: int, bn_size: int, *, rngs: nnx.Rngs,
                 dtype: Any):
        self.depth = depth
        for i in range(depth):
            setattr(self, f"denselayer{i + 1}",
                    DenseLayer(cin + i * growth, growth, bn_size, rngs=rngs, dtype=dtype))

    def __call__(self, x: jax.Array) -> jax.Array:
        for i in range(self.depth):
            x = jnp.concatenate([x, getattr(self, f"denselayer{i + 1}")(x)], axis=-1)
        return x


class Transition(nnx.Module):
    """BN -> ReLU -> 1x1 conv -> 2x2/2 average pool."""

    def __init__(self, cin: int, cout: int, *, rngs: nnx.Rngs, dtype: Any):
        self.norm = layers.BatchNorm(cin, dtype=dtype)
        self.conv = _conv(cin, cout, 1, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv(jax.nn.relu(self.norm(x)))
        return nnx.avg_pool(x, (2, 2), strides=(2, 2))


class Stem(nnx.Module):
    """conv0 7x7/2 -> norm0 -> ReLU -> pool0 3x3/2 max-pool (padding 1)."""

    def __init__(self, width: int, *, rngs: nnx.Rngs, dtype: Any):
        self.conv0 = _conv(3, width, 7, 2, 3, rngs=rngs, dtype=dtype)
        self.norm0 = layers.BatchNorm(width, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return layers.max_pool(jax.nn.relu(self.norm0(self.conv0(x))), 3, 2, 1)


class DenseStage(nnx.Module):
    """A dense block, then its transition (stages 1-3) or norm5 + ReLU (the last stage)."""

    def __init__(self, depth: int, cin: int, cfg: Config, *, last: bool, rngs: nnx.Rngs,
                 dtype: Any):
        self.block = DenseBlock(depth, cin, cfg.growth_rate, cfg.bn_size, rngs=rngs, dtype=dtype)
        width = cin + depth * cfg.growth_rate
        self.last = last
        if last:
            self.norm5 = layers.BatchNorm(width, dtype=dtype)
            self.out_features = width
        else:
            self.transition = Transition(width, width // 2, rngs=rngs, dtype=dtype)
            self.out_features = width // 2

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.block(x)
        if self.last:
            return jax.nn.relu(self.norm5(x))
        return self.transition(x)


class DenseNet(Backbone):
    def __init__(self, cfg: Config, *, num_classes: int, rngs: nnx.Rngs,
                 dtype: Any = jnp.float32, head: Mapping[str, Any] | None = None):
        self.stem = Stem(cfg.num_init_features, rngs=rngs, dtype=dtype)
        width = cfg.num_init_features
        names = []
        for i, depth in enumerate(cfg.block_config):
            stage = DenseStage(depth, width, cfg, last=i == len(cfg.block_config) - 1, rngs=rngs,
                               dtype=dtype)
            width = stage.out_features
            names.append(f"stage{i + 1}")
            setattr(self, names[-1], stage)
        self.stage_names = ("stem", *names, "head")
        self.num_features = width
        self.init_head(head, num_classes, default={"kind": "linear"}, rngs=rngs, dtype=dtype)

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        x = self.stem(x)
        maps = {"stem": x}
        for name in self.stage_names[1:-1]:
            x = maps[name] = getattr(self, name)(x)
        return layers.global_avg_pool(x), maps


def _factory(cfg: Config):
    def make(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
             **options: Any) -> DenseNet:
        return DenseNet(cfg, num_classes=num_classes, rngs=rngs, dtype=dtype, head=head, **options)

    return make


for _name, _cfg in CONFIGS.items():
    register(_name)(_factory(_cfg))
