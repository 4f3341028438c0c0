"""EfficientNet B0-B7 and EfficientNetV2 S/M/L in torchvision's layout.

Stages (torchvision's `features[i]` -> artjax): features[0] = `stem` (3x3/2 conv, BN, SiLU);
features[1..n] = `stage1`..`stageN`, the block groups (N = 7 for B0-B7, V2-M and V2-L; 6 for
V2-S), each an nnx.List of blocks, so `stage2/0/dw/conv/kernel` is torch's
`features.2.0.block.1.0.weight`; features[N+1], the final 1x1 conv + BN + SiLU, = `final`;
classifier = `head` (Dropout + Linear, torchvision's dropout per variant).

Blocks: MBConv = [1x1 expand] -> depthwise kxk -> squeeze-excitation -> 1x1 project;
FusedMBConv (V2's early groups) = kxk `fused` conv [-> 1x1 project]. A block with stride 1 and
equal widths adds its input back, after stochastic depth (`DropPath`), whose rate grows
linearly with the block index up to the `stochastic_depth_prob` option (torchvision: 0.2).

BatchNorm as torchvision: eps 1e-5 / momentum 0.1 for B0-B4, eps 1e-3 / momentum 0.01 for B5-B7
(ported from TF), eps 1e-3 / momentum 0.1 for V2. `efficientnet_lite.py` builds EfficientNet-Lite
from this class with a Lite `Config` (no SE, ReLU6, TF "SAME" padding).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import cpu_conv, layers
from artjax.models.base import Backbone, Preprocessing
from artjax.models.registry import register

Activation = Callable[[jax.Array], jax.Array]
NormFactory = Callable[[int], layers.BatchNorm]


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """One block group: torchvision's (Fused)MBConvConfig after width/depth scaling."""

    fused: bool
    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    depth: int


@dataclasses.dataclass(frozen=True)
class Config:
    """A variant. The stem width is the first group's input width. `act`, `se` and `tf_same`
    (TF "SAME" padding) are the knobs that make EfficientNet-Lite (efficientnet_lite.py)."""

    stages: tuple[StageConfig, ...]
    final_channels: int
    dropout: float
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9  # Flax convention: torch momentum 0.1
    act: Activation = jax.nn.silu
    se: bool = True
    tf_same: bool = False


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a scaled width to a multiple of `divisor`, never more than 10 % below (TF rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class DropPath(nnx.Module):
    """Stochastic depth ("row" mode): zeroes whole samples with probability `rate` and rescales
    the rest by 1/(1-rate); identity in eval mode (`deterministic`, toggled by train()/eval())."""

    def __init__(self, rate: float, *, rngs: nnx.Rngs):
        self.rate = rate
        self.deterministic = False
        # Its own stream, forked from the model's dropout stream (as nnx.Dropout does).
        self.rngs = rngs["dropout"].fork()

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.deterministic or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.rngs(), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
        return jnp.where(mask, x / keep, 0).astype(x.dtype)


class ConvBNAct(nnx.Module):
    """conv (no bias) -> BatchNorm -> activation (torchvision's Conv2dNormActivation).

    `tf_same` pads as TensorFlow's "SAME" (asymmetric for stride 2, extra pixel at the bottom and
    right), which timm's `tf_*` ports need; otherwise symmetric (k-1)//2 like torchvision.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, groups: int = 1,
                 act: Activation | None, norm: NormFactory, rngs: nnx.Rngs, dtype: Any,
                 tf_same: bool = False):
        pad = (kernel - 1) // 2
        self.conv = nnx.Conv(cin, cout, (kernel, kernel), (stride, stride),
                             padding="SAME" if tf_same else ((pad, pad), (pad, pad)),
                             feature_group_count=groups, use_bias=False, dtype=dtype,
                             param_dtype=jnp.float32, kernel_init=layers.he_normal, rngs=rngs,
                             conv_general_dilated=cpu_conv.conv_general_dilated)
        self.bn = norm(cout)
        self.act = act

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.bn(self.conv(x))
        return x if self.act is None else self.act(x)


class SqueezeExcitation(nnx.Module):
    """Global average -> fc1 -> SiLU -> fc2 -> sigmoid, scaling the channels. torchvision uses
    1x1 convs for fc1/fc2; Linear layers on the pooled vector are the same function."""

    def __init__(self, channels: int, squeeze: int, *, rngs: nnx.Rngs, dtype: Any):
        # torchvision initialises these 1x1 convs like every conv: He fan_out, zero bias.
        self.fc1 = layers.linear(channels, squeeze, rngs=rngs, dtype=dtype,
                                 kernel_init=layers.he_normal)
        self.fc2 = layers.linear(squeeze, channels, rngs=rngs, dtype=dtype,
                                 kernel_init=layers.he_normal)

    def __call__(self, x: jax.Array) -> jax.Array:
        s = jax.nn.sigmoid(self.fc2(jax.nn.silu(self.fc1(x.mean(axis=(1, 2))))))
        return x * s[:, None, None, :]


class MBConv(nnx.Module):
    """Inverted residual: [1x1 expand] -> depthwise kxk -> [SE] -> 1x1 project, + input.

    With `se=False`, `act=relu6` and `tf_same=True` it is timm's EfficientNet-Lite block
    (InvertedResidual, or DepthwiseSeparableConv when expand_ratio == 1).
    """

    def __init__(self, cin: int, cout: int, expand_ratio: int, kernel: int, stride: int,
                 drop_rate: float, *, norm: NormFactory, rngs: nnx.Rngs, dtype: Any,
                 act: Activation = jax.nn.silu, se: bool = True, tf_same: bool = False):
        conv = functools.partial(ConvBNAct, norm=norm, rngs=rngs, dtype=dtype, tf_same=tf_same)
        mid = make_divisible(cin * expand_ratio)
        self.expand = conv(cin, mid, 1, act=act) if mid != cin else None
        self.dw = conv(mid, mid, kernel, stride, groups=mid, act=act)
        self.se = (SqueezeExcitation(mid, max(1, cin // 4), rngs=rngs, dtype=dtype)
                   if se else None)
        self.project = conv(mid, cout, 1, act=None)
        self.residual = stride == 1 and cin == cout
        self.drop_path = DropPath(drop_rate, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x if self.expand is None else self.expand(x)
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + self.drop_path(y) if self.residual else y


class FusedMBConv(nnx.Module):
    """EfficientNetV2's fused block: kxk `fused` conv (+SiLU) [-> 1x1 project], + input."""

    def __init__(self, cin: int, cout: int, expand_ratio: int, kernel: int, stride: int,
                 drop_rate: float, *, norm: NormFactory, rngs: nnx.Rngs, dtype: Any):
        conv = functools.partial(ConvBNAct, norm=norm, rngs=rngs, dtype=dtype)
        mid = make_divisible(cin * expand_ratio)
        self.fused = conv(cin, mid if mid != cin else cout, kernel, stride, act=jax.nn.silu)
        self.project = conv(mid, cout, 1, act=None) if mid != cin else None
        self.residual = stride == 1 and cin == cout
        self.drop_path = DropPath(drop_rate, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.fused(x)
        if self.project is not None:
            y = self.project(y)
        return x + self.drop_path(y) if self.residual else y


class EfficientNet(Backbone):
    """torchvision EfficientNet V1 / V2, or timm's EfficientNet-Lite for a Lite `Config`.

    Option `stochastic_depth_prob` (torchvision's name and default): the largest drop rate.
    """

    def __init__(self, cfg: Config, *, num_classes: int, rngs: nnx.Rngs,
                 dtype: Any = jnp.float32, head: Mapping[str, Any] | None = None,
                 stochastic_depth_prob: float = 0.2):
        norm = functools.partial(layers.BatchNorm, epsilon=cfg.bn_epsilon,
                                 momentum=cfg.bn_momentum, dtype=dtype)
        conv = functools.partial(ConvBNAct, act=cfg.act, norm=norm, rngs=rngs, dtype=dtype,
                                 tf_same=cfg.tf_same)
        self.stem = conv(3, cfg.stages[0].in_channels, 3, 2)
        stages = self._build_stages(cfg, norm, stochastic_depth_prob, rngs=rngs, dtype=dtype)
        self.final = conv(cfg.stages[-1].out_channels, cfg.final_channels, 1)
        self.stage_names = ("stem", *stages, "final", "head")
        self.num_features = cfg.final_channels
        self.init_head(head, num_classes, default={"kind": "linear", "dropout": cfg.dropout},
                       rngs=rngs, dtype=dtype)

    def _build_stages(self, cfg: Config, norm: NormFactory, max_drop: float, *,
                      rngs: nnx.Rngs, dtype: Any) -> tuple[str, ...]:
        """Sets `self.stage1..N` (nnx.Lists of blocks) and returns their names.

        A group's first block has the group's stride and input width; stochastic depth grows
        linearly with the global block index: max_drop * index / total (torchvision and timm).
        """
        total = sum(s.depth for s in cfg.stages)
        index = 0
        names = []
        for i, s in enumerate(cfg.stages):
            blocks = []
            for j in range(s.depth):
                cin, stride = (s.in_channels, s.stride) if j == 0 else (s.out_channels, 1)
                drop = max_drop * index / total
                if s.fused:
                    blocks.append(FusedMBConv(cin, s.out_channels, s.expand_ratio, s.kernel,
                                              stride, drop, norm=norm, rngs=rngs, dtype=dtype))
                else:
                    blocks.append(MBConv(cin, s.out_channels, s.expand_ratio, s.kernel, stride,
                                         drop, norm=norm, rngs=rngs, dtype=dtype, act=cfg.act,
                                         se=cfg.se, tf_same=cfg.tf_same))
                index += 1
            names.append(f"stage{i + 1}")
            setattr(self, names[-1], nnx.List(blocks))
        return tuple(names)

    def forward_features(self, x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        x = self.stem(x)
        maps = {"stem": x}
        for name in self.stage_names[1:-2]:
            for block in getattr(self, name):
                x = block(x)
            maps[name] = x
        x = maps["final"] = self.final(x)
        return layers.global_avg_pool(x), maps


# torchvision's B0 table (expand, kernel, stride, in, out, repeats), scaled per variant.
_V1_BASE = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
            (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
            (6, 3, 1, 192, 320, 1))


def _v1(width: float, depth: float, dropout: float, *, tf_bn: bool = False) -> Config:
    stages = tuple(StageConfig(False, e, k, s, make_divisible(cin * width),
                               make_divisible(cout * width), int(math.ceil(n * depth)))
                   for e, k, s, cin, cout, n in _V1_BASE)
    bn = {"bn_epsilon": 1e-3, "bn_momentum": 0.99} if tf_bn else {}
    return Config(stages, 4 * stages[-1].out_channels, dropout, **bn)


def _v2(table: Sequence[tuple[int, ...]], dropout: float) -> Config:
    # Rows: (fused, expand, kernel, stride, in, out, repeats); V2 tables are not scaled.
    stages = tuple(StageConfig(bool(f), *row) for f, *row in table)
    return Config(stages, 1280, dropout, bn_epsilon=1e-3)


CONFIGS: dict[str, Config] = {
    "efficientnet_b0": _v1(1.0, 1.0, 0.2),
    "efficientnet_b1": _v1(1.0, 1.1, 0.2),
    "efficientnet_b2": _v1(1.1, 1.2, 0.3),
    "efficientnet_b3": _v1(1.2, 1.4, 0.3),
    "efficientnet_b4": _v1(1.4, 1.8, 0.4),
    "efficientnet_b5": _v1(1.6, 2.2, 0.4, tf_bn=True),
    "efficientnet_b6": _v1(1.8, 2.6, 0.5, tf_bn=True),
    "efficientnet_b7": _v1(2.0, 3.1, 0.5, tf_bn=True),
    "efficientnet_v2_s": _v2(((1, 1, 3, 1, 24, 24, 2), (1, 4, 3, 2, 24, 48, 4),
                              (1, 4, 3, 2, 48, 64, 4), (0, 4, 3, 2, 64, 128, 6),
                              (0, 6, 3, 1, 128, 160, 9), (0, 6, 3, 2, 160, 256, 15)), 0.2),
    "efficientnet_v2_m": _v2(((1, 1, 3, 1, 24, 24, 3), (1, 4, 3, 2, 24, 48, 5),
                              (1, 4, 3, 2, 48, 80, 5), (0, 4, 3, 2, 80, 160, 7),
                              (0, 6, 3, 1, 160, 176, 14), (0, 6, 3, 2, 176, 304, 18),
                              (0, 6, 3, 1, 304, 512, 5)), 0.3),
    "efficientnet_v2_l": _v2(((1, 1, 3, 1, 32, 32, 4), (1, 4, 3, 2, 32, 64, 7),
                              (1, 4, 3, 2, 64, 96, 7), (0, 4, 3, 2, 96, 192, 10),
                              (0, 6, 3, 1, 192, 224, 19), (0, 6, 3, 2, 224, 384, 25),
                              (0, 6, 3, 1, 384, 640, 7)), 0.4),
}

# torchvision's evaluation transforms of each variant's DEFAULT weights (crop, resize, filter).
_PREPROCESSING = {
    "efficientnet_b0": (224, 256, "bicubic"),
    "efficientnet_b1": (240, 255, "bilinear"),
    "efficientnet_b2": (288, 288, "bicubic"),
    "efficientnet_b3": (300, 320, "bicubic"),
    "efficientnet_b4": (380, 384, "bicubic"),
    "efficientnet_b5": (456, 456, "bicubic"),
    "efficientnet_b6": (528, 528, "bicubic"),
    "efficientnet_b7": (600, 600, "bicubic"),
    "efficientnet_v2_s": (384, 384, "bilinear"),
    "efficientnet_v2_m": (480, 480, "bilinear"),
    "efficientnet_v2_l": (480, 480, "bicubic"),
}


def _preprocessing(name: str) -> Preprocessing:
    crop, resize, interpolation = _PREPROCESSING[name]
    # V2-L's weights were ported from TF and expect [-1, 1] inputs.
    stats = {"mean": (0.5,) * 3, "std": (0.5,) * 3} if name == "efficientnet_v2_l" else {}
    return Preprocessing(input_size=crop, interpolation=interpolation, crop_pct=crop / resize,
                         **stats)


def _factory(cfg: Config):
    def make(*, num_classes: int, rngs: nnx.Rngs, dtype: Any, head: Mapping[str, Any] | None,
             **options: Any) -> EfficientNet:
        return EfficientNet(cfg, num_classes=num_classes, rngs=rngs, dtype=dtype, head=head,
                            **options)

    return make


for _name, _cfg in CONFIGS.items():
    register(_name, preprocessing=_preprocessing(_name))(_factory(_cfg))
