"""EfficientNet-Lite 0-4 as timm's `tf_efficientnet_lite0..4` (registered `efficientnet_lite0..4`).

Lite = EfficientNet without squeeze-excitation, with ReLU6, and with the stem and final conv fixed
at 32 / 1280 channels whatever the width multiplier. timm's `tf_` ports keep TensorFlow's
numerics: "SAME" padding (asymmetric and input-size dependent for stride 2) and BatchNorm eps
1e-3 (momentum 0.1 as torch's default). Their weights expect images normalised with
mean = std = 0.5, which the registered preprocessing says.

Built by `efficientnet.EfficientNet` with a Lite config, so the stages are the same: conv_stem +
bn1 = `stem`; blocks[i] = `stage{i+1}` (7 groups); conv_head + bn2 = `final`; classifier =
`head` (Dropout + Linear). Regularisation defaults are timm's: no head dropout, no stochastic
depth. timm's training recipe uses head dropout 0.2 (Lite0-1) / 0.3 (Lite2-4), i.e.
`head={'kind': 'linear', 'dropout': 0.2}`, and option `drop_path_rate=0.2` (timm's name), the
stochastic-depth rate reached by the last block (growing linearly with the block index).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
from flax import nnx

from artjax.models.base import Preprocessing
from artjax.models.efficientnet import Config, EfficientNet, StageConfig, make_divisible
from artjax.models.registry import register

# timm's arch_def for Lite: (expand, kernel, stride, out channels, repeats) per group.
_BASE = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
         (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM_CHANNELS = 32
FINAL_CHANNELS = 1280

# name: (width multiplier, depth multiplier, input size, crop_pct, interpolation), timm's.
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.875, "bicubic"),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.882, "bicubic"),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.890, "bicubic"),
    "efficientnet_lite3": (1.2, 1.4, 300, 0.904, "bilinear"),
    "efficientnet_lite4": (1.4, 1.8, 380, 0.920, "bilinear"),
}


def lite_config(width: float, depth: float) -> Config:
    """The Lite variant's config; like timm, the first and last groups keep their depth."""
    stages, cin = [], STEM_CHANNELS
    for i, (e, k, s, cout, n) in enumerate(_BASE):
        cout = make_divisible(cout * width)
        repeats = n if i in (0, len(_BASE) - 1) else int(math.ceil(n * depth))
        stages.append(StageConfig(False, e, k, s, cin, cout, repeats))
        cin = cout
    return Config(tuple(stages), FINAL_CHANNELS, dropout=0.0, bn_epsilon=1e-3, act=jax.nn.relu6,
                  se=False, tf_same=True)


CONFIGS = {name: lite_config(w, d) for name, (w, d, *_) in VARIANTS.items()}


def _factory(cfg: Config):
    def make(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
             drop_path_rate: float = 0.0) -> EfficientNet:
        return EfficientNet(cfg, num_classes=num_classes, rngs=rngs, dtype=dtype, head=head,
                            stochastic_depth_prob=drop_path_rate)

    return make


for _name, (_, _, _size, _crop, _interp) in VARIANTS.items():
    register(_name, preprocessing=Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, input_size=_size,
                                                interpolation=_interp, crop_pct=_crop)
             )(_factory(CONFIGS[_name]))
