"""The model registry: one name -> one factory, as timm does.

A family file registers each variant with `@register(name, preprocessing=...)` on a factory::

    @register('resnet50')
    def resnet50(*, num_classes: int, rngs: nnx.Rngs, dtype, head, **options) -> Backbone:
        return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, rngs=rngs,
                      dtype=dtype, head=head, **options)

Factory contract: keyword-only `num_classes`, `rngs` (an `nnx.Rngs` whose default stream seeds
parameters and dropout), `dtype` (compute dtype), `head` (None or a head options dict, see
heads.py) and the family's own `**options`; it returns a `Backbone`. Unknown options must raise
TypeError/ValueError naming them (a plain `**options` pass-through into a constructor does that).
`create` sets `model.preprocessing` from the registration after the factory returns, so
factories need not.

The family of a registered name (used to find its weight key map, artjax/models/keymaps/
<family>.py) defaults to the factory's module name: `artjax.models.resnet` -> 'resnet'.
`artjax/models/__init__.py` imports every module of the package, which is what fills the
registry: a new family file registers its models just by existing.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
from flax import nnx

from artjax.models.base import IMAGENET, Backbone, Preprocessing
from artjax.weights.store import build_loaded

Factory = Callable[..., Backbone]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name, factory, default preprocessing and weight family."""

    name: str
    factory: Factory
    preprocessing: Preprocessing
    family: str


_MODELS: dict[str, ModelSpec] = {}


def register(name: str, *, preprocessing: Preprocessing = IMAGENET,
             family: str | None = None) -> Callable[[Factory], Factory]:
    """Decorator registering `factory` under `name` (must be new)."""

    def decorate(factory: Factory) -> Factory:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered "
                             f"(by {_MODELS[name].factory.__module__})")
        _MODELS[name] = ModelSpec(name, factory, preprocessing,
                                  family or factory.__module__.rsplit(".", 1)[-1])
        return factory

    return decorate


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_MODELS)


def get_spec(name: str) -> ModelSpec:
    """The registration of `name`; ValueError listing close matches if unknown."""
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (artjax.models.list_models() lists all)"
                         ) from None


def create(name: str, *, num_classes: int = 1000, weights: str | None = None,
           head: Mapping[str, Any] | None = None, dtype: Any = jnp.float32, seed: int = 0,
           reinit_head: bool = False, **options: Any) -> Backbone:
    """Builds model `name`, optionally loading an artjax weight directory.

    Args:
      name: a registered name (`list_models()`).
      num_classes: output width. With `weights` and a class count different from the stored
        one, the head layers that do not depend on it are loaded (VGG's and AlexNet's 4096-wide
        layers, a 'logits' head's ImageNet classifier) and the class layer starts fresh; the log
        names the new layers (`artjax.weights.store.build_loaded`).
      weights: a directory written by `python -m artjax.weights convert` (or
        `artjax.weights.save`). Its preprocessing replaces the registered one.
      head: head options (dict or ConfigDict), see `artjax.models.heads`; None = the family's
        default head (torchvision's classifier layout).
      dtype: compute dtype, jnp.float32 / jnp.bfloat16 or their names; parameters stay float32.
      seed: seeds parameter initialisation and dropout.
      reinit_head: with `weights`, start the whole head fresh instead (`model.reinit_head`).
      **options: family options (e.g. `width`, `depths` for resnet_mini).

    Returns:
      The model in eval mode (BatchNorm uses running statistics, dropout off); call
      `model.train()` before training.
    """
    spec = get_spec(name)
    if hasattr(head, "to_dict"):
        head = head.to_dict()
    head = _with_input_size(head, spec.preprocessing)

    def build() -> Backbone:
        model = spec.factory(num_classes=num_classes, rngs=nnx.Rngs(seed),
                             dtype=jnp.dtype(dtype), head=head, **options)
        model.preprocessing = spec.preprocessing
        return model

    if weights:
        model, meta = build_loaded(build, weights, arch=name, reinit_head=reinit_head)
        model.preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    else:
        model = build()
    model.eval()
    return model


def _with_input_size(head: Mapping[str, Any] | None,
                     preprocessing: Preprocessing) -> dict[str, Any] | None:
    # Heads that flatten a feature map are sized for one input size; default to the model's.
    if head is None:
        return None
    head = dict(head)
    if not head.get("input_size"):
        head["input_size"] = preprocessing.input_size
    return head
