"""AlexNet: torchvision's layout (`alexnet`) and the BatchNorm variant S4 trained (`alexnet_bn`).

Stages: stage1..stage5, one per conv layer (conv [+ BN] + ReLU, followed by a 3x3/2 max-pool in
stages 1, 2 and 5); no stem. head = torchvision's classifier by default
(`{'kind': 'alexnet_classifier'}`: adaptive average pool to 6x6, Dropout-FC4096-ReLU-Dropout-
FC4096-ReLU-FC); other head kinds work on the globally pooled features.

- `alexnet`: torchvision (widths 64-192-384-256-256, first conv 11x11/4 padding 2), 224 px.
  Option `batch_norm=True` adds BatchNorm after every conv (no torchvision weights exist for it).
- `alexnet_bn`: the original paper's widths 96-256-384-384-256 (first conv 11x11/4, no padding)
  with BatchNorm after every conv, at 227 px, where the last map is exactly 6x6 (S4; 58.3 M
  parameters for 3 classes). Its torch counterpart is the same Sequential layout as torchvision's
  AlexNet with a BatchNorm2d after each Conv2d.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import layers
from artjax.models.base import Backbone, Preprocessing
from artjax.models.registry import register


@dataclasses.dataclass(frozen=True)
class Config:
    widths: tuple[int, ...]
    first_padding: int
    batch_norm: bool


CONFIGS = {
    "alexnet": Config((64, 192, 384, 256, 256), first_padding=2, batch_norm=False),
    "alexnet_bn": Config((96, 256, 384, 384, 256), first_padding=0, batch_norm=True),
}
KERNELS = (11, 5, 3, 3, 3)
STRIDES = (4, 1, 1, 1, 1)
POOLED = (True, True, False, False, True)  # a 3x3/2 max-pool ends stages 1, 2 and 5


class ConvLayer(nnx.Module):
    """conv [-> BatchNorm] -> ReLU [-> 3x3/2 max-pool]."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, *,
                 batch_norm: bool, pool: bool, rngs: nnx.Rngs, dtype: Any):
        self.conv = layers.conv(cin, cout, kernel, stride, padding, bias=True, rngs=rngs,
                                dtype=dtype)
        self.bn = layers.BatchNorm(cout, dtype=dtype) if batch_norm else None
        self.pool = pool

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        x = jax.nn.relu(x)
        return layers.max_pool(x, 3, 2) if self.pool else x


class AlexNet(Backbone):
    def __init__(self, cfg: Config, *, num_classes: int, rngs: nnx.Rngs,
                 dtype: Any = jnp.float32, head: Mapping[str, Any] | None = None):
        cin = 3
        names = []
        for i, cout in enumerate(cfg.widths):
            padding = cfg.first_padding if i == 0 else KERNELS[i] // 2
            names.append(f"stage{i + 1}")
            setattr(self, names[-1], ConvLayer(cin, cout, KERNELS[i], STRIDES[i], padding,
                                               batch_norm=cfg.batch_norm, pool=POOLED[i],
                                               rngs=rngs, dtype=dtype))
            cin = cout
        self.stage_names = (*names, "head")
        self.num_features = cin
        self.init_head(head, num_classes, default={"kind": "alexnet_classifier"}, rngs=rngs,
                       dtype=dtype)

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        maps = {}
        for name in self.stage_names[:-1]:
            x = maps[name] = getattr(self, name)(x)
        return layers.global_avg_pool(x), maps


@register("alexnet")
def alexnet(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
            batch_norm: bool = False) -> AlexNet:
    cfg = dataclasses.replace(CONFIGS["alexnet"], batch_norm=batch_norm)
    return AlexNet(cfg, num_classes=num_classes, rngs=rngs, dtype=dtype, head=head)


@register("alexnet_bn", preprocessing=Preprocessing(input_size=227))
def alexnet_bn(*, num_classes: int, rngs: nnx.Rngs, dtype: Any,
               head: Mapping[str, Any] | None) -> AlexNet:
    return AlexNet(CONFIGS["alexnet_bn"], num_classes=num_classes, rngs=rngs, dtype=dtype,
                   head=head)
