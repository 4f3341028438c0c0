"""The jitted train step: a pure function of (state, batch). (The evaluation step is
artjax.eval.scoring.EvalPlan.make_step.)

`state` is `nnx.state((model, optimizer))`; the step merges it with the training graph
definition (BatchNorm on batch statistics, dropout on), so the compiled function holds no Python
objects.
Images arrive as uint8 and are normalised here, on the device: a quarter of the transfer
and none of the host time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from artjax.eval import metrics
from artjax.train import losses, mixing

State = Any


def make_train_step(
    graphdef: nnx.GraphDef,
    config: ml_collections.ConfigDict,
    *,
    trainable: Any,
    preprocessing: Any,
    num_classes: int,
    class_weights: np.ndarray | None,
    state_sharding: Any,
) -> Callable[[State, dict[str, jax.Array]], tuple[State, dict[str, jax.Array]]]:
    """(state, batch) -> (new state, {'loss', 'accuracy'}); the input state's buffers are donated.

    'accuracy' is the share of the batch whose predicted class is its label, predicted on the
    batch as trained (augmented, and mixed when CutMix/MixUp applies, scored against the
    unmixed label), as Keras' and the seeds' PyTorch loops report training accuracy.

    With train.ema_decay the step also moves `optimizer.ema` (artjax/train/ema.py) towards the
    updated weights, on the device.

    The step reads config.loss, config.mix, config.train.ema_*, config.model.dtype, config.model.pyramid.level_loss_weight
    and config.seed. CutMix/MixUp draw their randomness from (seed, optimiser step), so a resumed
    run mixes exactly as the uninterrupted one. `num_classes` counts data classes (2 for sigmoid models).
    """
    loss_cfg, mix_cfg, seed = config.loss, config.mix, config.seed
    level_loss_weight = config.model.pyramid.level_loss_weight
    dtype = jnp.dtype(config.model.dtype)
    weights = None if class_weights is None else jnp.asarray(class_weights, jnp.float32)
    mixing_on = mix_cfg.prob > 0
    ema_on = bool(config.train.ema_decay)

    def ce(logits: jax.Array, targets: jax.Array) -> jax.Array:
        return losses.cross_entropy(logits, targets, weights=weights, label_smoothing=loss_cfg.label_smoothing)

    def loss_fn(model: nnx.Module, images: jax.Array, targets: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(loss, predicted class per image)."""
        if level_loss_weight:  # a pyramid: loss on the combined prediction plus per-level losses
            combined, per_level = model.forward_levels(images)
            loss = ce(combined, targets) + level_loss_weight * jnp.mean(jnp.stack([ce(z, targets) for z in per_level]))
            return loss, jnp.argmax(combined, axis=-1)
        logits = model(images).astype(jnp.float32)
        predicted = jnp.argmax(metrics.class_logits(logits), axis=-1)
        if loss_cfg.kind == "sigmoid":
            return losses.sigmoid_binary_cross_entropy(logits, targets[:, 1]), predicted
        return ce(logits, targets), predicted

    def step(state: State, batch: dict[str, jax.Array]) -> tuple[State, dict[str, jax.Array]]:
        model, optimizer = nnx.merge(graphdef, state)
        images = preprocessing.normalize(batch["image"], dtype)
        targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
        if mixing_on:
            key = jax.random.fold_in(jax.random.key(seed), optimizer.step[...])
            images, targets, _ = mixing.mix_batch(key, images, targets, cutmix_alpha=mix_cfg.cutmix_alpha,
                                                  mixup_alpha=mix_cfg.mixup_alpha, prob=mix_cfg.prob,
                                                  switch_prob=mix_cfg.switch_prob)
        elif loss_cfg.kind == "softmax":
            targets = batch["label"]  # integer labels: PyTorch's class-weighted mean applies
        grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, trainable), has_aux=True)
        (loss, predicted), grads = grad_fn(model, images, targets)
        updates_before = optimizer.step[...]
        optimizer.update(model, grads)
        if ema_on:
            optimizer.ema.update(model, updates_before)
        accuracy = jnp.mean((predicted == batch["label"]).astype(jnp.float32))
        return nnx.state((model, optimizer)), {"loss": loss, "accuracy": accuracy}

    return jax.jit(step, donate_argnums=0, out_shardings=(state_sharding, None))

