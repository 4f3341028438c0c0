"""The jitted train and eval steps: pure functions of (state, batch).

`state` is `nnx.state((model, optimizer))`; each step merges it with a graph definition
(one per mode: the training graph has BatchNorm on batch statistics and dropout on, the eval
graph runs on running statistics), so the compiled functions hold no Python objects.
Images arrive as uint8 and are normalised here, on the device: a quarter of the transfer
and none of the host time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.eval import metrics
from artjax.train import losses, mixing

State = Any


def normalize(images: jax.Array, mean: tuple[float, ...], std: tuple[float, ...], dtype: Any) -> jax.Array:
    scale = 1.0 / (255.0 * np.asarray(std, np.float32))
    shift = -np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    return (images.astype(jnp.float32) * scale + shift).astype(dtype)


def binary_as_two_logits(logits: jax.Array) -> jax.Array:
    """One sigmoid logit z -> softmax logits [0, z]: softmax gives (1 - sigmoid(z), sigmoid(z)),
    so metrics and prediction treat a sigmoid model like any two-class model."""
    return jnp.concatenate([jnp.zeros_like(logits), logits], axis=-1)


def make_train_step(
    graphdef: nnx.GraphDef,
    *,
    trainable: Any,
    preprocessing: Any,
    dtype: Any,
    num_classes: int,
    loss_cfg: Any,
    mix_cfg: Any,
    class_weights: np.ndarray | None,
    level_loss_weight: float,
    seed: int,
    state_sharding: Any,
) -> Callable[[State, dict[str, jax.Array]], tuple[State, dict[str, jax.Array]]]:
    """(state, batch) -> (new state, {'loss'}); the input state's buffers are donated.

    CutMix/MixUp draw their randomness from (seed, optimiser step), so a resumed run mixes
    exactly as the uninterrupted one. `num_classes` counts data classes (2 for sigmoid models).
    """
    weights = None if class_weights is None else jnp.asarray(class_weights, jnp.float32)
    mixing_on = mix_cfg.prob > 0

    def ce(logits: jax.Array, targets: jax.Array) -> jax.Array:
        return losses.cross_entropy(logits, targets, weights=weights, label_smoothing=loss_cfg.label_smoothing)

    def loss_fn(model: nnx.Module, images: jax.Array, targets: jax.Array) -> jax.Array:
        if level_loss_weight:  # a pyramid: loss on the combined prediction plus per-level losses
            combined, per_level = model.forward_levels(images)
            return ce(combined, targets) + level_loss_weight * jnp.mean(jnp.stack([ce(z, targets) for z in per_level]))
        logits = model(images).astype(jnp.float32)
        if loss_cfg.kind == "sigmoid":
            return losses.sigmoid_binary_cross_entropy(logits, targets[:, 1])
        return ce(logits, targets)

    def step(state: State, batch: dict[str, jax.Array]) -> tuple[State, dict[str, jax.Array]]:
        model, optimizer = nnx.merge(graphdef, state)
        images = normalize(batch["image"], preprocessing.mean, preprocessing.std, dtype)
        targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
        if mixing_on:
            key = jax.random.fold_in(jax.random.key(seed), optimizer.step[...])
            images, targets, _ = mixing.mix_batch(key, images, targets, cutmix_alpha=mix_cfg.cutmix_alpha,
                                                  mixup_alpha=mix_cfg.mixup_alpha, prob=mix_cfg.prob,
                                                  switch_prob=mix_cfg.switch_prob)
        elif loss_cfg.kind == "softmax":
            targets = batch["label"]  # integer labels: PyTorch's class-weighted mean applies
        loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, trainable))(model, images, targets)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), {"loss": loss}

    return jax.jit(step, donate_argnums=0, out_shardings=(state_sharding, None))


def make_eval_step(
    graphdef: nnx.GraphDef,
    *,
    preprocessing: Any,
    dtype: Any,
    sigmoid: bool,
    crops: str,
) -> Callable[[State, dict[str, jax.Array], dict[str, Any]], dict[str, Any]]:
    """(state, batch with mask, counts) -> counts updated with the batch's unmasked examples.

    `crops` says what a (B, N, H, W, 3) batch means: 'none' (plain images, or crops a pyramid
    model consumes itself), 'average' (N views of one image, probabilities averaged: hflip TTA)
    or 'samples' (each crop is a sample, as S1's quarter-crop test set: counts['main'] over
    crops, counts['voted'] over paintings by their mean probabilities).
    """

    def step(state: State, batch: dict[str, jax.Array], counts: dict[str, Any]) -> dict[str, Any]:
        model, _ = nnx.merge(graphdef, state)
        images, labels, mask = batch["image"], batch["label"], batch["mask"]
        x = normalize(images, preprocessing.mean, preprocessing.std, dtype)
        if crops == "none":
            logits = model(x).astype(jnp.float32)
            logits = binary_as_two_logits(logits) if sigmoid else logits
            return {"main": metrics.update_counts(counts["main"], logits, labels, mask)}
        b, n = images.shape[:2]
        logits = model(x.reshape(b * n, *x.shape[2:])).astype(jnp.float32)
        logits = binary_as_two_logits(logits) if sigmoid else logits
        mean_probs = jax.nn.softmax(logits.reshape(b, n, -1), axis=-1).mean(axis=1)
        voted = jnp.log(mean_probs + 1e-12)
        if crops == "average":
            return {"main": metrics.update_counts(counts["main"], voted, labels, mask)}
        return {"main": metrics.update_counts(counts["main"], logits, jnp.repeat(labels, n), jnp.repeat(mask, n)),
                "voted": metrics.update_counts(counts["voted"], voted, labels, mask)}

    return jax.jit(step, donate_argnums=2)
