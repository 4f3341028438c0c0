"""Optimisers with PyTorch semantics, built from optax pieces.

`make_optimizer` returns one `optax.GradientTransformation`:

    [MultiSteps k] ( inject_hyperparams(learning_rate=schedule, lr_scale=1.0) (
        clip_by_global_norm -> [L2: + weight_decay * p] -> sgd / adam / rmsprop direction
        -> [adamw: + weight_decay * p] -> * -(learning_rate * lr_scale) -> head params * multiplier ) )

Config keys (the `optimizer` section of config/defaults.py, whose defaults are PyTorch's):
  name: one of NAMES
  momentum: sgd and rmsprop (torch.optim.SGD / RMSprop `momentum`); nesterov: sgd
  weight_decay: sgd/adam/rmsprop add it to the gradient (torch `weight_decay`, L2);
      adamw decays the weights directly (decoupled, torch.optim.AdamW)
  b1, b2, eps: adam/adamw (torch betas, eps added outside the sqrt)
  rmsprop_decay: torch RMSprop `alpha` (Keras `rho` is 0.9 and its eps 1e-7; set both
      to reproduce Keras). eps is added outside the sqrt, as in torch.
  grad_clip_norm (0 = off): clip the global gradient norm (torch clip_grad_norm_)
  head_lr_multiplier: lr factor for parameters under the top-level `head` module
  accumulate_steps: average the gradients of k micro-batches per update (optax.MultiSteps)
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

NAMES = ("sgd", "adam", "adamw", "rmsprop")  # optimizer.name
HEAD = "head"


def _path_names(path: tuple[Any, ...]) -> tuple[str, ...]:
    """Key names of a jax key path (dict keys, attribute names, sequence indices) as strings."""
    names = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                names.append(str(getattr(entry, attr)))
                break
    return tuple(names)


def scale_by_path(factor: float, selected: Callable[[tuple[str, ...]], bool]) -> optax.GradientTransformation:
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


def make_optimizer(opt_cfg: Any, schedule: optax.Schedule) -> optax.GradientTransformation:
    """The optimiser for the `optimizer` config section (see the module docstring for keys).

    `head_lr_multiplier` applies to the parameters of the `head` stage (freeze.stage_of).
    """
    name = opt_cfg.name
    if name not in NAMES:
        raise ValueError(f"optimizer.name must be one of {NAMES}, got {name!r}")
    momentum = float(opt_cfg.momentum)
    nesterov = bool(opt_cfg.nesterov)
    weight_decay = float(opt_cfg.weight_decay)
    eps = float(opt_cfg.eps)
    clip = float(opt_cfg.grad_clip_norm)
    head_multiplier = float(opt_cfg.head_lr_multiplier)
    accumulate = int(opt_cfg.accumulate_steps)
    if nesterov and (name != "sgd" or momentum <= 0):
        raise ValueError("optimizer.nesterov needs optimizer.name='sgd' and optimizer.momentum > 0 (as torch SGD)")
    if accumulate < 1:
        raise ValueError(f"optimizer.accumulate_steps must be >= 1, got {accumulate}")
    if min(momentum, weight_decay, clip, eps) < 0 or head_multiplier < 0:
        raise ValueError("optimizer momentum, weight_decay, eps, grad_clip_norm and head_lr_multiplier must be >= 0")

    if name == "sgd":
        direction = optax.trace(decay=momentum, nesterov=nesterov) if momentum else optax.identity()
    elif name in ("adam", "adamw"):
        direction = optax.scale_by_adam(b1=float(opt_cfg.b1), b2=float(opt_cfg.b2), eps=eps)
    else:
        direction = optax.chain(
            optax.scale_by_rms(decay=float(opt_cfg.rmsprop_decay), eps=eps, eps_in_sqrt=False),
            optax.trace(decay=momentum) if momentum else optax.identity())
    decoupled = name == "adamw"

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
            parts.append(scale_by_path(head_multiplier, _is_head))  # a torch param group with lr x m
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
