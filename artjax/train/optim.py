"""Optimisers with PyTorch semantics, built from optax pieces.

`make_optimizer` returns one `optax.GradientTransformation`:

    [MultiSteps k] ( inject_hyperparams(learning_rate=schedule, lr_scale=1.0) (
        clip_by_global_norm -> [L2: + weight_decay * p] -> sgd / adam / rmsprop direction
        -> [adamw: + weight_decay * p] -> * -(learning_rate * lr_scale) -> head params * multiplier ) )

Config keys (defaults are PyTorch's):
  name: sgd | adam | adamw | rmsprop
  momentum [0.0]: sgd and rmsprop (torch.optim.SGD / RMSprop `momentum`); nesterov [False]: sgd
  weight_decay [0.0]: sgd/adam/rmsprop add it to the gradient (torch `weight_decay`, L2);
      adamw decays the weights directly (decoupled, torch.optim.AdamW)
  b1 [0.9], b2 [0.999], eps [1e-8]: adam/adamw (torch betas, eps added outside the sqrt)
  rmsprop_decay [0.99]: torch RMSprop `alpha` (Keras `rho` is 0.9 and its eps 1e-7; set both
      to reproduce Keras). eps is added outside the sqrt, as in torch.
  grad_clip_norm [0 = off]: clip the global gradient norm (torch clip_grad_norm_)
  head_lr_multiplier [1.0]: lr factor for parameters under the top-level `head` module
  accumulate_steps [1]: average the gradients of k micro-batches per update (optax.MultiSteps)
`learning_rate` is read by the caller into the schedule and is not used here.

The learning rate is observable and adjustable from the optimiser state: `get_lr(state)` reads
the lr of the last update and `set_lr_scale(state, s)` sets the factor the plateau schedule
applies (both accept any pytree holding the optax state, e.g. `nnx.state((model, optimizer))`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from artjax.train.freeze import stage_of

NAMES = ("sgd", "adam", "adamw", "rmsprop")
HEAD = "head"

PathPredicate = Callable[[tuple[str, ...]], bool]


def _get(cfg: Any, key: str, default: Any) -> Any:
    value = cfg.get(key, default)
    return default if value is None else value


def _path_names(path: tuple[Any, ...]) -> tuple[str, ...]:
    """Key names of a jax key path (dict keys, attribute names, sequence indices) as strings."""
    names = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                names.append(str(getattr(entry, attr)))
                break
    return tuple(names)


def scale_by_path(factor: float, selected: PathPredicate) -> optax.GradientTransformation:
    """Multiplies the updates whose key path satisfies `selected` by `factor`.

    Works on the key path rather than on an optax label tree because nnx.Optimizer initialises
    with Variables but updates with plain arrays: the two trees differ, their paths do not.
    """

    def update(updates, state, params=None):
        del params
        scaled = jax.tree_util.tree_map_with_path(
            lambda path, u: u * factor if selected(_path_names(path)) else u, updates)
        return scaled, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _is_head(path: tuple[str, ...]) -> bool:
    return bool(path) and stage_of(path) == HEAD


def make_optimizer(opt_cfg: Any, schedule: optax.Schedule, *,
                   param_labels: PathPredicate | None = None) -> optax.GradientTransformation:
    """The optimiser for the `optimizer` config section (see the module docstring for keys).

    `param_labels` selects the parameters that get `head_lr_multiplier`: a predicate on the
    parameter's path (a tuple of names); default: the path starts with 'head'.
    """
    name = opt_cfg.get("name", None)
    if name not in NAMES:
        raise ValueError(f"optimizer.name must be one of {NAMES}, got {name!r}")
    momentum = float(_get(opt_cfg, "momentum", 0.0))
    nesterov = bool(_get(opt_cfg, "nesterov", False))
    weight_decay = float(_get(opt_cfg, "weight_decay", 0.0))
    eps = float(_get(opt_cfg, "eps", 1e-8))
    clip = float(_get(opt_cfg, "grad_clip_norm", 0.0))
    head_multiplier = float(_get(opt_cfg, "head_lr_multiplier", 1.0))
    accumulate = int(_get(opt_cfg, "accumulate_steps", 1))
    if nesterov and (name != "sgd" or momentum <= 0):
        raise ValueError("optimizer.nesterov needs optimizer.name='sgd' and optimizer.momentum > 0 (as torch SGD)")
    if accumulate < 1:
        raise ValueError(f"optimizer.accumulate_steps must be >= 1, got {accumulate}")
    if min(momentum, weight_decay, clip, eps) < 0 or head_multiplier < 0:
        raise ValueError("optimizer momentum, weight_decay, eps, grad_clip_norm and head_lr_multiplier must be >= 0")

    if name == "sgd":
        direction = optax.trace(decay=momentum, nesterov=nesterov) if momentum else optax.identity()
    elif name in ("adam", "adamw"):
        direction = optax.scale_by_adam(b1=float(_get(opt_cfg, "b1", 0.9)), b2=float(_get(opt_cfg, "b2", 0.999)),
                                        eps=eps)
    else:
        direction = optax.chain(
            optax.scale_by_rms(decay=float(_get(opt_cfg, "rmsprop_decay", 0.99)), eps=eps, eps_in_sqrt=False),
            optax.trace(decay=momentum) if momentum else optax.identity())
    decoupled = name == "adamw"
    selected = param_labels or _is_head

    def build(learning_rate: jax.Array, lr_scale: jax.Array) -> optax.GradientTransformation:
        parts = []
        if clip:
            parts.append(optax.clip_by_global_norm(clip))
        if weight_decay and not decoupled:
            parts.append(optax.add_decayed_weights(weight_decay))  # torch: grad += wd * param
        parts.append(direction)
        if weight_decay and decoupled:
            parts.append(optax.add_decayed_weights(weight_decay))  # torch AdamW: param *= 1 - lr * wd
        parts.append(optax.scale_by_learning_rate(learning_rate * lr_scale))
        if head_multiplier != 1.0:
            parts.append(scale_by_path(head_multiplier, selected))  # a torch param group with lr x m
        return optax.chain(*parts)

    tx = optax.inject_hyperparams(build)(learning_rate=schedule, lr_scale=1.0)
    if accumulate > 1:
        # MultiSteps outside: the schedule and the lr scale count optimiser updates, not micro-batches.
        tx = optax.MultiSteps(tx, every_k_schedule=accumulate).gradient_transformation()
    return tx


def _hyperparam_paths(tree: Any, name: str) -> list[tuple[Any, jax.Array]]:
    found = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = _path_names(path)
        for i in range(len(names) - 1):
            if names[i] == "hyperparams" and names[i + 1] == name:
                found.append((path, leaf))
    if not found:
        raise ValueError(f"no injected hyperparameter {name!r} in this state: build it with optim.make_optimizer")
    return found


def get_lr(tree: Any) -> float:
    """The lr of the last update (before the head multiplier); at init, the lr of step 0."""
    (_, lr), = _hyperparam_paths(tree, "learning_rate")
    (_, scale), = _hyperparam_paths(tree, "lr_scale")
    return float(np.asarray(jax.device_get(lr)) * np.asarray(jax.device_get(scale)))


def set_lr_scale(tree: Any, scale: float) -> Any:
    """A copy of `tree` whose optimiser applies `scale` x the scheduled lr from the next update.

    Keeps each leaf's dtype and sharding, so a jitted step with donated buffers accepts it.
    """
    targets = {jax.tree_util.keystr(path) for path, _ in _hyperparam_paths(tree, "lr_scale")}

    def replace(path: Any, leaf: Any) -> Any:
        if jax.tree_util.keystr(path) not in targets:
            return leaf
        value = np.asarray(scale, dtype=leaf.dtype)
        if not isinstance(leaf, jax.Array):
            return jnp.asarray(value)
        # make_array_from_callback also works for shardings that span several processes.
        return jax.make_array_from_callback(value.shape, leaf.sharding, lambda index: value[index])

    return jax.tree_util.tree_map_with_path(replace, tree)
