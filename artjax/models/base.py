"""What every artjax backbone is: the `Backbone` base class and its `Preprocessing`.

Writing a new family (e.g. `artjax/models/densenet.py`)::

    class DenseNet(Backbone):
        def __init__(self, cfg, *, num_classes, rngs, dtype, head):
            self.stem = ...                  # top-level attribute names ARE the stage names,
            self.stage1 = ...                # so parameter paths start with them and one
            self.stage4 = ...                # freeze config works for every family
            self.stage_names = ('stem', 'stage1', ..., 'stage4', 'head')
            self.num_features = 1024         # width of the pooled features
            self.init_head(head, num_classes, default={'kind': 'linear'}, rngs=rngs, dtype=dtype)

        def forward_features(self, x):
            maps = {}
            x = maps['stem'] = self.stem(x)
            ...
            return global_avg_pool(x), maps  # maps: one entry per stage except 'head'

    @register('densenet121')
    def densenet121(*, num_classes, rngs, dtype, head, **options):
        return DenseNet(CONFIGS['densenet121'], num_classes=num_classes, rngs=rngs,
                        dtype=dtype, head=head, **options)

Its weight key map goes in `artjax/models/keymaps/densenet.py` (README, "Adding a backbone").

Conventions the rest of artjax relies on:
- Build layers with `artjax.models.layers` (`BatchNorm`, `conv`, `linear`, `max_pool`,
  `adaptive_avg_pool`): they reproduce torch's semantics, including the running-variance update
  in training mode that Flax's own nnx.BatchNorm does differently.
- Inputs are NHWC float32 images already normalised with `model.preprocessing`.
- `dtype` is the compute dtype (float32 or bfloat16); parameters are always float32
  (pass `dtype=dtype, param_dtype=jnp.float32`, the Flax default, to every layer).
- Every stage except 'head' appears in the maps of `forward_features`, keyed by its name; the
  last of them (`feature_stage`) feeds heads that need a spatial map (flatten, VGG classifier).
- BatchNorm and Dropout start in Flax's default (training) mode inside the constructor;
  `registry.create` switches the finished model to `eval()`. Call `model.train()` before training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import heads

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How images must be prepared for a model's weights (timm's "pretrained config").

    mean / std: per-channel RGB normalisation applied to images scaled to [0, 1].
    input_size: side of the square image the weights were trained at.
    interpolation: resize filter name ('bilinear' | 'bicubic' | 'nearest').
    crop_pct: evaluation centre-crop fraction (resize to input_size / crop_pct, then crop).
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    interpolation: str = "bilinear"
    crop_pct: float = 0.875

    def normalize(self, images: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        """uint8 images (any leading axes, RGB last) -> (images / 255 - mean) / std in `dtype`,
        as one multiply-add. Jittable: batches travel to the device as uint8 and are normalised there."""
        with jax.ensure_compile_time_eval():  # the constants in float32, on the host, as numpy would
            std = jnp.asarray(self.std, jnp.float32)
            scale = 1.0 / (255.0 * std)
            shift = -jnp.asarray(self.mean, jnp.float32) / std
        return (jnp.asarray(images).astype(jnp.float32) * scale + shift).astype(dtype)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocessing:
        return cls(mean=tuple(d["mean"]), std=tuple(d["std"]), input_size=int(d["input_size"]),
                   interpolation=str(d["interpolation"]), crop_pct=float(d["crop_pct"]))


IMAGENET = Preprocessing()


class Backbone(nnx.Module):
    """Base class of every model `artjax.models.create` returns.

    Attributes:
      stage_names: ordered top-level submodule names, e.g. ('stem', 'stage1', ..., 'head').
        A parameter's nnx path starts with one of them (freezing filters on path[0]).
      num_features: width of the pooled features `forward_features` returns.
      num_classes: output width of `__call__`.
      head_spec: the resolved head options the current head was built from (see heads.py).
      preprocessing: the `Preprocessing` the model's weights expect.

    Subclasses implement `forward_features(x) -> (pooled features [N, num_features],
    {stage name: NHWC feature map})` and call `init_head` at the end of `__init__`.
    """

    stage_names: tuple[str, ...]
    num_features: int
    num_classes: int
    preprocessing: Preprocessing = IMAGENET

    @property
    def feature_stage(self) -> str:
        """The last stage before the head; its map feeds spatial heads."""
        return [s for s in self.stage_names if s != "head"][-1]

    def __call__(self, x: jax.Array) -> jax.Array:
        pooled, maps = self.forward_features(x)
        return self.head(pooled, maps[self.feature_stage])

    def init_head(self, head: Mapping[str, Any] | None, num_classes: int, *,
                  default: Mapping[str, Any], rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        """Builds `self.head` from `head` options (None = the family's `default`).

        Call once the stages exist: heads that flatten a feature map size themselves by
        tracing `forward_features` abstractly (no compute) at the spec's input size.
        """
        # Static attributes must be hashable (they are part of the jit cache key): store the
        # option dicts as sorted item tuples.
        self._default_head = _frozen(default)
        spec = heads.resolve_spec(head, default=default)
        map_shape = None
        if heads.needs_feature_map(spec):
            size = spec.get("input_size") or self.preprocessing.input_size
            map_shape = self.feature_map_shape(size)
        self.head = heads.build(spec, num_features=self.num_features, num_classes=num_classes,
                                map_shape=map_shape, default=default, rngs=rngs, dtype=dtype)
        self._head_spec = _frozen(spec)
        self.num_classes = num_classes
        self._dtype = dtype

    @property
    def head_spec(self) -> dict[str, Any]:
        """The resolved head options the current head was built from (see heads.py)."""
        return dict(self._head_spec)

    def reset_head(self, num_classes: int, *, rngs: nnx.Rngs,
                   head: Mapping[str, Any] | None = None) -> None:
        """Replaces the head with a fresh one for `num_classes` (same kind unless `head` given).

        The new head starts in the same train/eval mode as the rest of the model.
        """
        training = self._is_training()
        self.init_head(head if head is not None else self.head_spec, num_classes,
                       default=dict(self._default_head), rngs=rngs, dtype=self._dtype)
        if training is not None:
            (self.head.train if training else self.head.eval)()

    def feature_map_shape(self, input_size: int) -> tuple[int, int, int]:
        """(H, W, C) of `feature_stage`'s map for a square input, computed without running."""
        graphdef, state = nnx.split(self)
        x = jax.ShapeDtypeStruct((1, input_size, input_size, 3), jnp.float32)
        stage = self.feature_stage
        out = jax.eval_shape(
            lambda s, x: nnx.merge(graphdef, s).forward_features(x)[1][stage], state, x)
        return tuple(out.shape[1:])

    def _is_training(self) -> bool | None:
        for _, m in nnx.iter_modules(self):
            if getattr(m, "use_running_average", None) is not None:
                return not m.use_running_average
            if getattr(m, "deterministic", None) is not None:
                return not m.deterministic
        return None


def _frozen(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(dict(options).items()))
