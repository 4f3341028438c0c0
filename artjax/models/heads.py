"""Classification heads, chosen by an options dict (or ConfigDict) such as `config.model.head`.

Every head is called as `head(pooled, feature_map) -> logits`, where `pooled` is the
backbone's pooled features [N, num_features] and `feature_map` the NHWC map of its last stage.
Keys a kind does not use are ignored (configs carry all of them); `None` values mean "the
kind's default". Kinds:

- `{'kind': 'linear', 'dropout': 0.0}`: Dropout(p) -> Linear(num_features -> classes).
  torchvision ResNet's `fc`; EfficientNet's classifier with its dropout.
- `{'kind': 'mlp', 'layers': 1|2|3, 'dropout': 0.0}`: FC layers whose widths halve,
  num_features -> num_features/2 -> num_features/4 -> classes (ResNet50: 2048 -> 1024 -> 512),
  ReLU then Dropout(p) between them (S0).
- `{'kind': 'logits', 'dropout': 0.0, 'imagenet_classes': 1000}`: the family's default head
  for 1000 ImageNet classes (kept, so pretrained logits survive), then Dropout(p) ->
  Linear(1000 -> classes) (S1).
- `{'kind': 'dense', 'units': 256, 'dropout': 0.0, 'flatten': True, 'input_size': S}`:
  flatten the last feature map (H, W, C order, as Keras) -> Linear(units) -> ReLU ->
  Dropout(p) -> Linear(classes) (S3). The flatten width depends on the input size S
  (`create` fills in the model's); `flatten: False` uses the pooled features instead.
- `{'kind': 'vgg_classifier', 'dropout': 0.5}`: torchvision VGG's classifier: adaptive average
  pool to 7x7 -> flatten (C, H, W) -> Linear(C*49 -> 4096) -> ReLU -> Dropout ->
  Linear(4096 -> 4096) -> ReLU -> Dropout -> Linear(4096 -> classes) (S2).
- `{'kind': 'alexnet_classifier', 'dropout': 0.5}`: torchvision AlexNet's classifier:
  adaptive average pool to 6x6 -> flatten (C, H, W) -> Dropout -> Linear(C*36 -> 4096) ->
  ReLU -> Dropout -> Linear(4096 -> 4096) -> ReLU -> Linear(4096 -> classes).

With converted weights (`create(..., weights=DIR)`, artjax.weights.store.build_loaded) and a new
class count, a head keeps every stored layer the class count leaves unchanged, as torchvision
practice does: VGG's and AlexNet's classifiers load fc1 and fc2 and start fc3 fresh; a 'logits'
head receives the stored classifier as `imagenet`; a 'linear' head is all new; 'mlp' and 'dense'
heads load only from weights holding a head of their own kind. `reinit_head=True`
(`model.reinit_head`) starts the whole head fresh.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models import layers

# Per kind: its options and their defaults.
KINDS: dict[str, dict[str, Any]] = {
    "linear": {"dropout": 0.0},
    "mlp": {"layers": 1, "dropout": 0.0},
    "logits": {"dropout": 0.0, "imagenet_classes": 1000},
    "dense": {"units": 256, "dropout": 0.0, "flatten": True, "input_size": None},
    "vgg_classifier": {"dropout": 0.5},
    "alexnet_classifier": {"dropout": 0.5},
}
_ALL_KEYS = {"kind"} | {k for opts in KINDS.values() for k in opts}


def resolve_spec(head: Mapping[str, Any] | None, *, default: Mapping[str, Any]) -> dict[str, Any]:
    """Validated head options with the kind's defaults filled in (`None` -> `default`)."""
    spec = dict(default if head is None else head)
    kind = spec.get("kind") or "linear"
    if kind not in KINDS:
        raise ValueError(f"unknown head kind {kind!r}; expected one of {sorted(KINDS)}")
    unknown = set(spec) - _ALL_KEYS
    if unknown:
        raise ValueError(f"unknown head option(s) {sorted(unknown)} for head kind {kind!r}; "
                         f"known options: {sorted(_ALL_KEYS)}")
    resolved = {"kind": kind}
    for key, value in KINDS[kind].items():
        resolved[key] = value if spec.get(key) is None else spec[key]
    if kind == "mlp" and resolved["layers"] not in (1, 2, 3):
        raise ValueError(f"head.layers must be 1, 2 or 3 for an mlp head, got {resolved['layers']}")
    if not 0.0 <= resolved["dropout"] < 1.0:
        raise ValueError(f"head.dropout must be in [0, 1), got {resolved['dropout']}")
    return resolved


def needs_feature_map(spec: Mapping[str, Any]) -> bool:
    """Whether building this head needs the last feature map's shape."""
    return spec["kind"] == "dense" and spec["flatten"]


def build(spec: Mapping[str, Any], *, num_features: int, num_classes: int,
          map_shape: tuple[int, int, int] | None, default: Mapping[str, Any], rngs: nnx.Rngs,
          dtype: Any = jnp.float32) -> nnx.Module:
    """The head module for a `resolve_spec` result.

    num_features: pooled feature width; map_shape: (H, W, C) of the last feature map (only for
    flattening heads); default: the family's default spec (the base of a 'logits' head).
    """
    kind = spec["kind"]
    if kind == "linear":
        return LinearHead(num_features, num_classes, spec["dropout"], rngs=rngs, dtype=dtype)
    if kind == "mlp":
        return MLPHead(num_features, num_classes, spec["layers"], spec["dropout"], rngs=rngs,
                       dtype=dtype)
    if kind == "logits":
        base_spec = resolve_spec(default, default=default)
        if base_spec["kind"] == "logits":
            raise ValueError("a model's default head cannot itself be of kind 'logits'")
        base = build(base_spec, num_features=num_features, num_classes=spec["imagenet_classes"],
                     map_shape=map_shape, default=default, rngs=rngs, dtype=dtype)
        return LogitsHead(base, spec["imagenet_classes"], num_classes, spec["dropout"],
                          rngs=rngs, dtype=dtype)
    if kind == "dense":
        in_features = math.prod(map_shape) if spec["flatten"] else num_features
        return DenseHead(in_features, spec["units"], num_classes, spec["dropout"],
                         flatten=spec["flatten"], rngs=rngs, dtype=dtype)
    if kind == "vgg_classifier":
        return ClassifierHead(num_features, num_classes, spec["dropout"], pool_size=7,
                              dropout_first=False, rngs=rngs, dtype=dtype)
    return ClassifierHead(num_features, num_classes, spec["dropout"], pool_size=6,
                          dropout_first=True, rngs=rngs, dtype=dtype)


class LinearHead(nnx.Module):
    """Dropout -> Linear on the pooled features."""

    def __init__(self, in_features: int, num_classes: int, dropout: float, *, rngs: nnx.Rngs,
                 dtype: Any):
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.fc = layers.linear(in_features, num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, pooled: jax.Array, feature_map: jax.Array) -> jax.Array:
        return self.fc(self.dropout(pooled))


class MLPHead(nnx.Module):
    """`depth` Linear layers, widths halving, ReLU + Dropout between them."""

    def __init__(self, in_features: int, num_classes: int, depth: int, dropout: float, *,
                 rngs: nnx.Rngs, dtype: Any):
        widths = [in_features // 2**i for i in range(depth)] + [num_classes]
        self.layers = nnx.List([layers.linear(a, b, rngs=rngs, dtype=dtype)
                                for a, b in zip(widths[:-1], widths[1:])])
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, pooled: jax.Array, feature_map: jax.Array) -> jax.Array:
        x = pooled
        for layer in self.layers[:-1]:
            x = self.dropout(jax.nn.relu(layer(x)))
        return self.layers[-1](x)


class LogitsHead(nnx.Module):
    """The 1000-way ImageNet head kept as `imagenet`, then Dropout -> Linear to the classes."""

    def __init__(self, imagenet: nnx.Module, imagenet_classes: int, num_classes: int,
                 dropout: float, *, rngs: nnx.Rngs, dtype: Any):
        self.imagenet = imagenet
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.fc = layers.linear(imagenet_classes, num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, pooled: jax.Array, feature_map: jax.Array) -> jax.Array:
        return self.fc(self.dropout(self.imagenet(pooled, feature_map)))


class DenseHead(nnx.Module):
    """(Flatten the feature map | pooled) -> Linear(units) -> ReLU -> Dropout -> Linear."""

    def __init__(self, in_features: int, units: int, num_classes: int, dropout: float, *,
                 flatten: bool, rngs: nnx.Rngs, dtype: Any):
        self.flatten = flatten
        self.hidden = layers.linear(in_features, units, rngs=rngs, dtype=dtype)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.fc = layers.linear(units, num_classes, rngs=rngs, dtype=dtype)

    def __call__(self, pooled: jax.Array, feature_map: jax.Array) -> jax.Array:
        x = feature_map.reshape(feature_map.shape[0], -1) if self.flatten else pooled
        return self.fc(self.dropout(jax.nn.relu(self.hidden(x))))


class ClassifierHead(nnx.Module):
    """torchvision's VGG / AlexNet classifier: adaptive pool, flatten (C,H,W), 3 FC layers."""

    def __init__(self, channels: int, num_classes: int, dropout: float, *, pool_size: int,
                 dropout_first: bool, rngs: nnx.Rngs, dtype: Any):
        normal = nnx.initializers.normal(0.01)  # torchvision VGG's init; harmless for AlexNet
        self.pool_size = pool_size
        self.dropout_first = dropout_first
        self.fc1 = layers.linear(channels * pool_size**2, 4096, rngs=rngs, dtype=dtype,
                                 kernel_init=normal)
        self.fc2 = layers.linear(4096, 4096, rngs=rngs, dtype=dtype, kernel_init=normal)
        self.fc3 = layers.linear(4096, num_classes, rngs=rngs, dtype=dtype, kernel_init=normal)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, pooled: jax.Array, feature_map: jax.Array) -> jax.Array:
        x = layers.flatten_nchw(layers.adaptive_avg_pool(feature_map, self.pool_size))
        if self.dropout_first:  # AlexNet: Dropout before each of the first two FC layers
            x = jax.nn.relu(self.fc1(self.dropout(x)))
            x = jax.nn.relu(self.fc2(self.dropout(x)))
        else:  # VGG: Dropout after each of the first two FC layers' ReLU
            x = self.dropout(jax.nn.relu(self.fc1(x)))
            x = self.dropout(jax.nn.relu(self.fc2(x)))
        return self.fc3(x)
