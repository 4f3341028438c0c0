"""An exponential moving average of a model's weights, kept beside the optimiser.

`ModelEMA` is a node of the optimiser (`optimizer.ema`), so `nnx.state((model, optimizer))`, the
state that the train step carries, checkpoints save and resumes restore, holds it with no other
change: a killed and resumed run averages exactly as an uninterrupted one.

What is averaged: the trainable parameters and every BatchNorm running statistic (as timm's
ModelEmaV2 averages buffers). The running statistics are themselves averages of activations of
the raw weights; averaging them with the weights keeps them matched in time to the averaged
model rather than to the newest one. Frozen parameters do not move, so they are not copied.

The update is ema <- ema - (1 - d) (ema - x): algebraically d ema + (1 - d) x, and exactly `ema`
when x == ema (a frozen BatchNorm statistic stays bit for bit).
flax's `nnx.EMA` does the same for a fixed decay; it is not used because its decay is a Python
constant (no warm-up) and its `d ema + (1 - d) x` drifts by rounding where nothing changes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

WEIGHTS = ("auto", "raw", "ema")  # checkpoint.weights
PREFIX = "ema_"  # the EMA weights' metrics: ema_accuracy, ema_loss, ...


class EmaValue(nnx.Variable):
    """An averaged weight: a type of its own, so that no Param or BatchStat filter selects it."""


def tracked(trainable: Any) -> Any:
    """The NNX filter of what the EMA averages: trainable parameters and BatchNorm statistics."""
    return nnx.Any(trainable, nnx.BatchStat)


class ModelEMA(nnx.Module):
    def __init__(self, model: nnx.Module, *, decay: float, warmup: bool, trainable: Any) -> None:
        self.decay, self.warmup, self.filter = decay, warmup, tracked(trainable)
        self.values = nnx.data(jax.tree.map(lambda v: EmaValue(jnp.copy(v.get_value())),
                                            nnx.state(model, self.filter), is_leaf=_is_variable))

    def decay_at(self, updates: jax.Array) -> jax.Array:
        """The decay of the update after `updates` earlier ones: with warm-up, TensorFlow's
        ExponentialMovingAverage rule min(d, (1 + n) / (10 + n)), so early weights fade fast."""
        d = jnp.float32(self.decay)
        if not self.warmup:
            return d
        n = updates.astype(jnp.float32)
        return jnp.minimum(d, (1 + n) / (10 + n))

    def update(self, model: nnx.Module, updates: jax.Array) -> None:
        """Moves the average towards `model`'s weights; `updates`: how many came before."""
        keep = 1 - self.decay_at(updates)

        def move(ema: nnx.Variable, variable: nnx.Variable) -> None:
            x, old = variable.get_value(), ema.get_value()
            ema.set_value((old - keep * (old - x)).astype(x.dtype))

        jax.tree.map(move, self.values, nnx.state(model, self.filter), is_leaf=_is_variable)

    def copy_to(self, model: nnx.Module) -> None:
        """Puts the averaged weights into `model` (for evaluation or prediction)."""
        jax.tree.map(lambda ema, variable: variable.set_value(ema.get_value()), self.values,
                     nnx.state(model, self.filter), is_leaf=_is_variable)


def _is_variable(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def weights_for(best_metric: str, weights: str) -> str:
    """'ema' or 'raw': the weights a restored model uses, given checkpoint.best_metric and
    checkpoint.weights ('auto': the EMA weights when the best checkpoint is chosen by an ema_ metric)."""
    if weights != "auto":
        return weights
    return "ema" if best_metric.startswith(PREFIX) else "raw"
